//! `plan --since` against a hostile pull request (issue 21, part 2): Git reads the operator's
//! checkout and nothing else, runs no program the repository or the environment names, and the
//! old tree passes the workspace's boundary before a byte of it is written. Each test drives the
//! real binary on a real repository made in a temporary directory; the workspace (`ws/`) is
//! applied at one commit, then cam-0001's image is edited, so that an honest `--since HEAD`
//! reports exactly that conflict.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::since::{applied, commit, git};
use crate::support::{API_KEY, Rig, Run, operator_command};

/// The edit an honest `--since HEAD` reports.
const EDITED_LINE: &str = "+    \"image_url\": \"https://example.com/cam-0001-v2.jpg\"";

/// Edits cam-0001's image in the live workspace (not committed).
fn edit_payload(rig: &Rig, yaml: &str) -> String {
    let edited = yaml.replace(
        "https://example.com/cam-0001.jpg",
        "https://example.com/cam-0001-v2.jpg",
    );
    assert_ne!(edited, yaml);
    rig.write("ws/gtform.yaml", &edited);
    edited
}

/// `gtform ARGS` with the test key, run in `dir`, with `env` added.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = operator_command(dir);
    command.args(args).env("GTFORM_API_KEY", API_KEY);
    for (name, value) in env {
        command.env(name, value);
    }
    Run(command.output().expect("gtform runs"))
}

/// Asserts the run found the edit of cam-0001, as an honest repository shows it.
#[track_caller]
fn assert_edit_found(run: &Run) {
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains(EDITED_LINE),
        "{}\n{}",
        run.stdout(),
        run.stderr()
    );
}

/// Asserts the run was refused with `message` on stderr, never answering "No changes".
#[track_caller]
fn assert_refused(run: &Run, message: &str) {
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.stderr().contains(message),
        "expected {message:?}\n--- stderr\n{}",
        run.stderr()
    );
    assert!(!run.stdout().contains("No changes"), "{}", run.stdout());
}

/// The entries of `dir`, for "nothing was written here".
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    entries
}

/// `git ARGS` in `dir` with `input` on stdin; its stdout, trimmed.
#[track_caller]
fn git_output(dir: &Path, args: &[&str], input: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A script that records its being run as a file named `name` in `markers`.
fn marker_script(scripts: &Path, markers: &Path, name: &str) -> PathBuf {
    let path = scripts.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\ntouch '{}/{name}'\ncat\n", markers.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_inside_the_workspace_is_refused_never_read() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    edit_payload(&rig, &yaml);
    // The pull request's own repository, whose HEAD holds the edited workspace: read, it would
    // hide the edit ("No changes").
    let ws = rig.dir.path().join("ws");
    git(&ws, &["init", "-q", "-b", "main"]);
    git(&ws, &["config", "user.name", "Mallory"]);
    git(&ws, &["config", "user.email", "mallory@example.com"]);
    git(&ws, &["config", "commit.gpgsign", "false"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "the edit, as history"]);

    let from_top = rig.run(&["plan", "ws", "--since", "HEAD"]);
    assert_refused(
        &from_top,
        "is a Git repository of its own (a `.git` directory)",
    );
    assert!(
        from_top.stderr().contains("/ws` is a Git repository"),
        "{}",
        from_top.stderr()
    );
    // From inside the workspace, the repository found first is the workspace's: refused too.
    let from_inside = run_in(&ws, &["plan", ".", "--since", "HEAD"], &[]);
    assert_refused(&from_inside, "is a Git repository of its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_shaped_like_a_bare_repository_in_the_workspace_are_refused() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    edit_payload(&rig, &yaml);
    // `HEAD`, `config`, `objects/` and `refs/` are ordinary file names a pull request can
    // commit; Git's discovery takes such a directory for a bare repository.
    let ws = rig.dir.path().join("ws");
    git(rig.dir.path(), &["init", "-q", "--bare", "ws"]);
    assert!(ws.join("HEAD").is_file() && ws.join("objects").is_dir());

    let from_top = rig.run(&["plan", "ws", "--since", "HEAD"]);
    assert_refused(
        &from_top,
        "is a Git repository of its own (`HEAD`, `objects/`, `refs/`)",
    );
    let from_inside = run_in(&ws, &["plan", ".", "--since", "HEAD"], &[]);
    assert_refused(&from_inside, "has the layout of a bare Git repository");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_program_the_repository_names_is_run() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    // Attributes that name a filter and a textconv for every file of the old tree.
    rig.write("ws/.gitattributes", "* filter=evil diff=evil\n");
    commit(&rig, "attributes");
    edit_payload(&rig, &yaml);

    let scripts = tempfile::tempdir().unwrap();
    let markers = tempfile::tempdir().unwrap();
    let hooks = scripts.path().join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    for hook in [
        "pre-commit",
        "post-checkout",
        "post-index-change",
        "reference-transaction",
        "pre-auto-gc",
        "fsmonitor-watchman",
    ] {
        marker_script(&hooks, markers.path(), hook);
    }
    let script = |name: &str| {
        marker_script(scripts.path(), markers.path(), name)
            .display()
            .to_string()
    };
    let top = rig.dir.path();
    // Set last: the test's own `git` would run them.
    for (key, value) in [
        ("core.fsmonitor", script("fsmonitor")),
        ("core.hooksPath", hooks.display().to_string()),
        ("core.pager", script("pager")),
        ("pager.ls-tree", script("pager-ls-tree")),
        ("pager.cat-file", script("pager-cat-file")),
        ("diff.external", script("external-diff")),
        ("diff.evil.textconv", script("textconv")),
        ("filter.evil.smudge", script("smudge")),
        ("filter.evil.clean", script("clean")),
        ("filter.evil.process", script("process")),
        ("core.sshCommand", script("ssh")),
        ("core.askPass", script("askpass")),
        ("credential.helper", format!("!{}", script("credential"))),
        ("gc.auto", "1".to_owned()),
    ] {
        git(top, &["config", key, &value]);
    }

    let run = rig.run(&["plan", "ws", "--since", "HEAD"]);
    assert_edit_found(&run);
    assert_eq!(
        entries(markers.path()),
        Vec::<PathBuf>::new(),
        "programs the repository names ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_variables_of_the_environment_redirect_nothing() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    let edited = edit_payload(&rig, &yaml);
    // A decoy repository whose HEAD holds the edited workspace: read, it would hide the edit.
    let decoy = tempfile::tempdir().unwrap();
    let dir = decoy.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "Mallory"]);
    git(dir, &["config", "user.email", "mallory@example.com"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
    std::fs::create_dir(dir.join("ws")).unwrap();
    std::fs::write(dir.join("ws/gtform.yaml"), &edited).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "decoy"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let trace = elsewhere.path().join("trace");
    let decoy_git = dir.join(".git").display().to_string();
    let decoy_objects = dir.join(".git/objects").display().to_string();
    let trace_path = trace.display().to_string();

    let run = rig.run_with_env(
        &["plan", "ws", "--since", "HEAD"],
        &[
            ("GTFORM_API_KEY", API_KEY),
            ("GIT_DIR", &decoy_git),
            ("GIT_WORK_TREE", &dir.display().to_string()),
            ("GIT_ALTERNATE_OBJECT_DIRECTORIES", &decoy_objects),
            ("GIT_TRACE", &trace_path),
            ("GIT_TRACE2_EVENT", &trace_path),
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "core.fsmonitor"),
            ("GIT_CONFIG_VALUE_0", "false"),
        ],
    );
    assert_edit_found(&run);
    assert!(
        !trace.exists(),
        "a trace was written outside the temporary directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symbolic_link_in_the_old_tree_is_refused_and_nothing_is_written_through_it() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    let top = rig.dir.path();
    // A tree no `git add` makes: `ws/link`, a link to a directory of the pull request's choosing,
    // and `ws/link/pwned.yaml` (an entry name with a slash), which a checkout that writes the
    // link would write through it.
    let target = tempfile::tempdir().unwrap();
    let blob = |content: &[u8]| git_output(top, &["hash-object", "-w", "--stdin"], content);
    let yaml_blob = blob(yaml.as_bytes());
    let link_blob = blob(target.path().display().to_string().as_bytes());
    let pwned_blob = blob(b"pwned: true\n");
    let tree = |entries: &[(&str, &str, &str)]| {
        let mut bytes = Vec::new();
        for (mode, name, object) in entries {
            bytes.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            bytes.extend_from_slice(&hex_bytes(object));
        }
        git_output(
            top,
            &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"],
            &bytes,
        )
    };
    let ws_tree = tree(&[
        ("100644", "gtform.yaml", &yaml_blob),
        ("120000", "link", &link_blob),
        ("100644", "link/pwned.yaml", &pwned_blob),
    ]);
    let root_tree = tree(&[("40000", "ws", &ws_tree)]);
    let hostile = git_output(top, &["commit-tree", &root_tree, "-m", "hostile"], b"");
    git(top, &["update-ref", "refs/heads/hostile", &hostile]);

    let run = rig.run(&["plan", "ws", "--since", "hostile"]);
    assert_refused(&run, "`hostile:ws/link` is a symbolic link");
    assert_eq!(
        entries(target.path()),
        Vec::<PathBuf>::new(),
        "a file was written through the link"
    );
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect()
}

/// `gtform ARGS` in `dir` with `TMPDIR` at `tmp`, unable to write any file over 8 KiB: writing
/// a bigger one kills it or its `git` (SIGXFSZ) or fails, where a check refuses it first.
/// (`ulimit -f` counts 512-byte blocks.)
fn run_without_big_writes(dir: &Path, tmp: &Path, args: &[&str]) -> Run {
    let gtform = operator_command(dir);
    let output = Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg("ulimit -f 16 && exec \"$0\" \"$@\"")
        .arg(gtform.get_program())
        .args(args)
        .envs(
            gtform
                .get_envs()
                .filter_map(|(name, value)| Some((name, value?))),
        )
        .env("GTFORM_API_KEY", API_KEY)
        .env("NO_COLOR", "1")
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run(output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_blob_is_refused_before_a_byte_of_it_is_written() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    let big = "x".repeat(64 << 10);
    // A YAML file at the revision only (the live workspace would refuse it itself).
    rig.write("ws/big.yaml", &format!("# {big}\n"));
    commit(&rig, "a big YAML file");
    std::fs::remove_file(rig.dir.path().join("ws/big.yaml")).unwrap();
    let watched = tempfile::tempdir().unwrap();
    let run = run_without_big_writes(
        rig.dir.path(),
        watched.path(),
        &["plan", "ws", "--since", "HEAD", "--max-yaml-size", "4KiB"],
    );
    assert_refused(
        &run,
        "`HEAD:ws/big.yaml` is 64 KiB, over the limit of 4 KiB (refused before reading it)",
    );
    assert!(run.stderr().contains("--max-yaml-size"), "{}", run.stderr());
    assert_eq!(entries(watched.path()), Vec::<PathBuf>::new());

    // Any other file is not written either; the workspace does not read it, so the plan goes
    // on and still sees the edit.
    std::fs::write(rig.dir.path().join("ws/big.csv"), &big).unwrap();
    commit(&rig, "a big file, no big YAML");
    edit_payload(&rig, &yaml);
    let run = run_without_big_writes(
        rig.dir.path(),
        watched.path(),
        &[
            "plan",
            "ws",
            "--since",
            "HEAD",
            "--max-manifest-size",
            "4KiB",
        ],
    );
    assert_edit_found(&run);
    assert_eq!(entries(watched.path()), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_manifest_the_old_workspace_reads_is_named_not_skipped() {
    let rig = Rig::start().await;
    crate::since::repository(&rig);
    let yaml = format!(
        "version: 1\nendpoint: {}\nprojects:\n  street:\n    id: {}\n    workflows:\n      review: {}\n    defaults:\n      workflow: review\n    batches:\n      week-50:\n        jobs_from:\n          - csv: rows.csv\n            reference_id: \"{{{{ row.id }}}}\"\n            image: \"{{{{ row.url }}}}\"\n",
        rig.url(),
        crate::support::PROJECT_ID,
        crate::support::WORKFLOW_ID
    );
    rig.write("ws/gtform.yaml", &yaml);
    let mut rows = String::from("id,url\n");
    for n in 0..2000 {
        rows.push_str(&format!("row-{n:05},https://example.com/{n:05}.jpg\n"));
    }
    assert!(rows.len() > 64 << 10);
    rig.write("ws/rows.csv", &rows);
    commit(&rig, "a big manifest");
    rig.write(
        "ws/rows.csv",
        "id,url\nrow-00000,https://example.com/00000.jpg\n",
    );
    let watched = tempfile::tempdir().unwrap();
    let run = run_without_big_writes(
        rig.dir.path(),
        watched.path(),
        &[
            "plan",
            "ws",
            "--since",
            "HEAD",
            "--max-manifest-size",
            "4KiB",
        ],
    );
    assert_refused(&run, "the workspace as it was at `HEAD` does not load");
    assert!(
        run.stderr()
            .contains("`HEAD:ws/rows.csv` is 78.1 KiB, over the limit of 4 KiB"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr()
            .contains("the directory of `HEAD:ws/gtform.yaml`")
            && !run.stderr().contains("gtform-since-"),
        "the temporary copy is named:\n{}",
        run.stderr()
    );
    assert_eq!(entries(watched.path()), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submodule_in_the_old_tree_is_refused() {
    let rig = Rig::start().await;
    applied(&rig).await;
    let top = rig.dir.path();
    let head = git_output(top, &["rev-parse", "HEAD"], b"");
    git(
        top,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{head},ws/vendor"),
        ],
    );
    git(top, &["commit", "-q", "-m", "a submodule"]);

    let run = rig.run(&["plan", "ws", "--since", "HEAD"]);
    assert_refused(&run, "`HEAD:ws/vendor` is a submodule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_that_borrows_objects_is_refused() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    edit_payload(&rig, &yaml);
    let other = tempfile::tempdir().unwrap();
    git(other.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(
        rig.dir.path().join(".git/objects/info/alternates"),
        format!("{}\n", other.path().join(".git/objects").display()),
    )
    .unwrap();

    let run = rig.run(&["plan", "ws", "--since", "HEAD"]);
    assert_refused(&run, "borrows objects from other repositories");
    assert!(
        run.stderr().contains("objects/info/alternates"),
        "{}",
        run.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_missing_from_a_partial_clone_is_refused_without_fetching() {
    let rig = Rig::start().await;
    applied(&rig).await;
    let top = rig.dir.path();
    rig.write("ws/rows.csv", "reference_id\ncam-0009\n");
    commit(&rig, "rows");
    let blob = git_output(top, &["rev-parse", "HEAD:ws/rows.csv"], b"");
    std::fs::remove_file(top.join(format!(".git/objects/{}/{}", &blob[..2], &blob[2..]))).unwrap();
    // A promisor remote whose upload-pack is a program of the repository's choosing: a lazy
    // fetch of the missing blob would run it.
    let markers = tempfile::tempdir().unwrap();
    let upload_pack = format!(
        "touch '{}/upload-pack'; git-upload-pack",
        markers.path().display()
    );
    for (key, value) in [
        ("core.repositoryformatversion", "1"),
        ("extensions.partialClone", "origin"),
        ("remote.origin.url", &top.display().to_string()),
        ("remote.origin.promisor", "true"),
        ("remote.origin.uploadpack", &upload_pack),
    ] {
        git(top, &["config", key, value]);
    }

    let run = rig.run(&["plan", "ws", "--since", "HEAD"]);
    assert_refused(
        &run,
        "`HEAD:ws/rows.csv` is not in the repository's object store",
    );
    assert_eq!(
        entries(markers.path()),
        Vec::<PathBuf>::new(),
        "a fetch ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_repository_is_the_working_directorys() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    edit_payload(&rig, &yaml);
    // The operator confirms the endpoint its workspace names.
    let url = rig.url();
    let operator = [("GTFORM_ENDPOINT", url.as_str())];
    // From a subdirectory of the checkout.
    let sub = rig.dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    assert_edit_found(&run_in(
        &sub,
        &["plan", "../ws", "--since", "HEAD"],
        &operator,
    ));
    // From outside any checkout, the workspace's own repository is not looked for.
    let elsewhere = tempfile::tempdir().unwrap();
    let ws = rig.dir.path().join("ws").display().to_string();
    let run = run_in(
        elsewhere.path(),
        &["plan", &ws, "--since", "HEAD"],
        &operator,
    );
    assert_refused(&run, "is not inside a Git repository");
    assert!(
        run.stderr().contains("--since-repo DIR"),
        "{}",
        run.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_repo_names_the_operators_repository() {
    let rig = Rig::start().await;
    let yaml = applied(&rig).await;
    edit_payload(&rig, &yaml);
    // The operator confirms the endpoint its workspace names.
    let url = rig.url();
    let operator = [("GTFORM_ENDPOINT", url.as_str())];
    let elsewhere = tempfile::tempdir().unwrap();
    let ws = rig.dir.path().join("ws").display().to_string();
    let top = rig.dir.path().display().to_string();
    assert_edit_found(&run_in(
        elsewhere.path(),
        &["plan", &ws, "--since", "HEAD", "--since-repo", &top],
        &operator,
    ));
    // Any directory of the checkout names it.
    let sub = rig.dir.path().join("ws").display().to_string();
    assert_edit_found(&run_in(
        elsewhere.path(),
        &["plan", &ws, "--since", "HEAD", "--since-repo", &sub],
        &operator,
    ));
    // A repository that does not hold the workspace is not the workspace's history.
    let other = tempfile::tempdir().unwrap();
    git(other.path(), &["init", "-q", "-b", "main"]);
    let other_top = other.path().display().to_string();
    let run = run_in(
        elsewhere.path(),
        &["plan", &ws, "--since", "HEAD", "--since-repo", &other_top],
        &operator,
    );
    assert_refused(&run, "is not in the repository at");
    // Without --since it means nothing.
    let run = run_in(elsewhere.path(), &["plan", &ws, "--since-repo", &top], &[]).expect_code(1);
    assert!(
        run.stderr()
            .contains("required arguments were not provided"),
        "{}",
        run.stderr()
    );
}
