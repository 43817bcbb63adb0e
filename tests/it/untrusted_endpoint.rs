//! The operator decides where the key goes: a workspace (on an untrusted pull request, the
//! attacker's) can never choose the destination of `x-api-key`. A workspace URL is used only when
//! the operator's `GTFORM_ENDPOINT` or `--endpoint` names the same server; a saved plan is
//! applied only at the operator's endpoint; loopback never goes through a proxy. Every server
//! here is a recorder on loopback that counts its connections and keeps what it received.

use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::support::{API_KEY, BatchSpec, Rig, Run, gtform_command, ids, workspace_yaml};

/// A loopback listener that accepts every connection, keeps the first bytes of each and answers
/// nothing: a server (or a proxy) that would capture the key.
struct Recorder {
    url: String,
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    async fn start() -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (count, keep) = (Arc::clone(&connections), Arc::clone(&received));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let keep = Arc::clone(&keep);
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 16 * 1024];
                    if let Ok(Ok(read)) =
                        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await
                    {
                        keep.lock().unwrap().extend_from_slice(&buffer[..read]);
                    }
                    // Dropped without an answer: the client sees the connection close.
                });
            }
        });
        Recorder {
            url,
            connections,
            received,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }
}

/// `gtform ARGS` in `dir` with the key and exactly `env` (no inherited endpoint or proxy).
fn gtform(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = gtform_command(dir);
    command.args(args).env("GTFORM_API_KEY", API_KEY);
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output: Output = command.output().expect("gtform runs");
    Run(output)
}

fn one_batch() -> [BatchSpec; 1] {
    [BatchSpec::new("week-48", ids("cam", 0..2))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_endpoint_without_the_operators_word_is_a_located_error_and_nothing_is_sent() {
    let attacker = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gtform.yaml"),
        workspace_yaml(&attacker.url, &one_batch()),
    )
    .unwrap();
    let out = dir.path().join("out");
    for args in [
        vec!["plan"],
        vec!["apply", "--auto-approve"],
        vec!["status"],
        vec!["results", "--out", out.to_str().unwrap()],
    ] {
        let run = gtform(dir.path(), &args, &[]).expect_code(1);
        let stderr = run.stderr();
        assert!(
            stderr.contains("gtform.yaml:2:11"),
            "{args:?}: located at the `endpoint:` value\n{stderr}"
        );
        assert!(stderr.contains(&attacker.url), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("export GTFORM_ENDPOINT={}", attacker.url))
                && stderr.contains("--endpoint"),
            "{args:?}: the hint says how to allow it\n{stderr}"
        );
        assert!(!stderr.contains(API_KEY) && !run.stdout().contains(API_KEY));
    }
    assert_eq!(
        attacker.connections(),
        0,
        "the workspace's server was contacted"
    );
    assert!(!attacker.received().contains(API_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_matching_endpoint_lets_the_workspace_endpoint_be_used() {
    let rig = Rig::start().await;
    let path = rig.workspace(&one_batch());
    let url = rig.url();
    // Written another way: upper-case scheme, a trailing slash; the same server.
    let same = format!("HTTP://{}/", url.trim_start_matches("http://"));
    let by_variable = gtform(
        rig.dir.path(),
        &["plan", "--detailed-exitcode"],
        &[("GTFORM_ENDPOINT", &same)],
    )
    .expect_code(2);
    assert!(by_variable.stdout().contains(&format!("Endpoint: {url}")));
    let by_flag = gtform(
        rig.dir.path(),
        &[
            "apply",
            "--auto-approve",
            "--endpoint",
            &url,
            path.to_str().unwrap(),
        ],
        &[],
    )
    .expect_code(0);
    assert!(by_flag.stdout().contains("2 jobs"), "{}", by_flag.stdout());
    assert_eq!(rig.remote_jobs().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_endpoint_that_differs_from_the_workspaces_is_an_error_naming_both() {
    let rig = Rig::start().await;
    let attacker = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gtform.yaml"),
        workspace_yaml(&attacker.url, &one_batch()),
    )
    .unwrap();
    rig.server.reset_stats();
    for operator in [
        vec![("GTFORM_ENDPOINT", rig.url())],
        vec![("GTFORM_ENDPOINT", "embedded".to_owned())],
    ] {
        let env: Vec<(&str, &str)> = operator.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let run = gtform(dir.path(), &["plan"], &env).expect_code(1);
        let stderr = run.stderr();
        assert!(stderr.contains("gtform.yaml:2:11"), "{stderr}");
        assert!(stderr.contains(&attacker.url), "{stderr}");
        assert!(
            stderr.contains(&format!("the operator's endpoint is `{}`", operator[0].1)),
            "{stderr}"
        );
    }
    let flagged = gtform(dir.path(), &["plan", "--endpoint", &rig.url()], &[]).expect_code(1);
    assert!(flagged.stderr().contains("gtform.yaml:2:11"));
    assert_eq!(attacker.connections(), 0);
    assert_eq!(rig.server.stats().total_requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_in_the_workspace_works_without_the_operators_word() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gtform.yaml"),
        workspace_yaml("embedded", &one_batch()),
    )
    .unwrap();
    let run = gtform(dir.path(), &["apply", "--auto-approve"], &[]).expect_code(0);
    assert!(run.stdout().contains("2 jobs"), "{}", run.stdout());
    gtform(dir.path(), &["plan", "--detailed-exitcode"], &[]).expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_at_any_endpoint_but_the_operators() {
    let rig = Rig::start().await;
    let attacker = Recorder::start().await;
    rig.workspace(&one_batch());
    let url = rig.url();
    gtform(
        rig.dir.path(),
        &["plan", "--out", "week48.plan"],
        &[("GTFORM_ENDPOINT", &url)],
    )
    .expect_code(0);
    rig.server.reset_stats();
    for env in [vec![("GTFORM_ENDPOINT", attacker.url.as_str())], vec![]] {
        let run = gtform(rig.dir.path(), &["apply", "week48.plan"], &env).expect_code(1);
        let stderr = run.stderr();
        let operator = env.first().map_or("https://api.playment.io", |(_, v)| *v);
        assert!(
            stderr.contains(&format!("was made against `{url}`"))
                && stderr.contains(&format!("this run's endpoint is `{operator}`")),
            "names both endpoints\n{stderr}"
        );
    }
    let flagged = gtform(
        rig.dir.path(),
        &["apply", "week48.plan", "--endpoint", &attacker.url],
        &[],
    )
    .expect_code(1);
    assert!(flagged.stderr().contains("was made against"));
    assert_eq!(attacker.connections(), 0);
    assert_eq!(
        rig.server.stats().total_requests,
        0,
        "refused before any request"
    );
    gtform(
        rig.dir.path(),
        &["apply", "week48.plan"],
        &[("GTFORM_ENDPOINT", &url)],
    )
    .expect_code(0);
    assert_eq!(
        rig.remote_jobs().await.len(),
        2,
        "the operator's endpoint applies it"
    );
}

/// Every proxy variable, upper and lower case, pointing at `proxy`.
fn all_proxies(proxy: &str) -> Vec<(&'static str, String)> {
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .map(|name| (name, proxy.to_owned()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_endpoints_and_the_embedded_emulator_never_go_through_a_proxy() {
    let proxy = Recorder::start().await;
    let proxies = all_proxies(&proxy.url);
    let env = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        proxies
            .iter()
            .cloned()
            .chain(extra.iter().cloned())
            .collect()
    };
    let run = |dir: &std::path::Path, args: &[&str], env: &[(&str, String)]| {
        let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
        gtform(dir, args, &env)
    };

    let embedded = tempfile::tempdir().unwrap();
    std::fs::write(
        embedded.path().join("gtform.yaml"),
        workspace_yaml("embedded", &one_batch()),
    )
    .unwrap();
    run(embedded.path(), &["apply", "--auto-approve"], &env(&[])).expect_code(0);
    // Results come from the emulator's storage, on loopback too.
    let results = run(
        embedded.path(),
        &["results", "--out", "out"],
        &env(&[("GTFORM_EMBEDDED_COMPLETE_AFTER", "0s".to_owned())]),
    )
    .expect_code(0);
    assert!(
        embedded.path().join("out/index.jsonl").exists(),
        "{}",
        results.stderr()
    );

    let rig = Rig::start().await;
    rig.workspace(&one_batch());
    let at_rig = env(&[("GTFORM_ENDPOINT", rig.url())]);
    run(rig.dir.path(), &["apply", "--auto-approve"], &at_rig).expect_code(0);
    run(rig.dir.path(), &["status"], &at_rig).expect_code(0);
    assert_eq!(rig.remote_jobs().await.len(), 2);
    assert_eq!(
        proxy.connections(),
        0,
        "loopback went through the proxy: {}",
        proxy.received()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_error_names_the_host_where_the_endpoint_came_from_and_the_proxy() {
    let proxy = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gtform.yaml"),
        workspace_yaml("embedded", &one_batch()),
    )
    .unwrap();
    // A remote endpoint goes through the proxy, the only address ever connected to (loopback):
    // the proxy takes the CONNECT and hangs up.
    let remote = "https://gt.example.test";
    let run = gtform(
        dir.path(),
        &["plan"],
        &[("GTFORM_ENDPOINT", remote), ("HTTPS_PROXY", &proxy.url)],
    )
    .expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!(
            "cannot reach `gt.example.test` through the proxy `{}`",
            proxy.url
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the endpoint `{remote}` comes from GTFORM_ENDPOINT"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("NO_PROXY"), "{stderr}");
    assert!(
        proxy.connections() > 0,
        "the recorder sees proxied connections"
    );
    assert!(proxy.received().contains("CONNECT gt.example.test:443"));
    assert!(
        !proxy.received().contains(API_KEY),
        "the key stays inside TLS"
    );

    // A loopback endpoint that is down: named, from the flag, no proxy.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let run = gtform(
        dir.path(),
        &["plan", "--endpoint", &down],
        &[("HTTPS_PROXY", &proxy.url), ("HTTP_PROXY", &proxy.url)],
    )
    .expect_code(1);
    let stderr = run.stderr();
    assert!(stderr.contains("cannot reach `127.0.0.1` for"), "{stderr}");
    assert!(
        stderr.contains(&format!("the endpoint `{down}` comes from --endpoint")),
        "{stderr}"
    );
    assert!(!stderr.contains("NO_PROXY"), "{stderr}");
}
