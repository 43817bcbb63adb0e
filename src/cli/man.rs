//! `gtform man`: the man pages, from the command definitions (clap_mangen) and the sections clap
//! does not know: EXIT STATUS, ENVIRONMENT and EXAMPLES. `gtform(1)` on stdout, or one page per
//! command written to a directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_mangen::Man;

use super::{Cli, CliError, Ui, exit};
use crate::escape::escape;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Read it with `gtform man | man -l -`, or install the pages:
  gtform man --out-dir ~/.local/share/man/man1"
)]
pub struct ManArgs {
    /// Write gtform.1 and a page per command (gtform-plan.1, …) into DIR instead
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub out_dir: Option<PathBuf>,
}

pub(super) fn run(args: ManArgs, ui: &mut Ui) -> Result<ExitCode, CliError> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    match &args.out_dir {
        None => {
            let page = render(&root, "gtform")
                .map_err(|error| CliError::new(format!("cannot render the man page: {error}")))?;
            ui.out(&String::from_utf8_lossy(&page));
        }
        Some(dir) => {
            let shown = escape(&dir.display().to_string()).into_owned();
            std::fs::create_dir_all(dir)
                .and_then(|()| write_pages(&root, "gtform", dir))
                .map_err(|error| {
                    CliError::new(format!("cannot write the man pages to `{shown}`: {error}"))
                })?;
            ui.status(&format!(
                "Wrote gtform.1 and a page per command (gtform-plan.1, …) to `{shown}`."
            ));
        }
    }
    Ok(exit::code(exit::SUCCESS))
}

/// `name.1` for `command`, then a page for each of its visible subcommands (`name-sub.1`).
fn write_pages(command: &clap::Command, name: &str, dir: &std::path::Path) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    std::fs::write(dir.join(format!("{name}.1")), render(command, name)?)
}

/// The page of `command` (`name`: `gtform` or `gtform-plan`): clap_mangen's sections, then EXIT
/// STATUS, ENVIRONMENT and EXAMPLES, then the version.
fn render(command: &clap::Command, name: &str) -> std::io::Result<Vec<u8>> {
    let man = Man::new(command.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if command.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if command.has_subcommands() {
        man.render_subcommands_section(&mut page)?;
    }
    if command.get_after_help().is_some() || command.get_after_long_help().is_some() {
        man.render_extra_section(&mut page)?;
    }
    let subcommand = name.strip_prefix("gtform-").unwrap_or("");
    section(&mut page, "EXIT STATUS", &exit_status(subcommand));
    section(&mut page, "ENVIRONMENT", ENVIRONMENT);
    let examples = examples(subcommand);
    if !examples.is_empty() {
        section(&mut page, "EXAMPLES", &examples);
    }
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// A `.SH` section of `(tag, paragraph)` entries: a tagged paragraph each, or a plain one when the
/// tag is empty. The texts are this file's own, written roff-safe (no line starts with `.` or `'`,
/// no backslash).
fn section(page: &mut Vec<u8>, title: &str, entries: &[(&str, &str)]) {
    let mut text = format!(".SH \"{title}\"\n");
    for (tag, body) in entries {
        if tag.is_empty() {
            text.push_str(&format!(".PP\n{body}\n"));
        } else {
            text.push_str(&format!(".TP\n\\fB{tag}\\fR\n{body}\n"));
        }
    }
    page.extend_from_slice(text.as_bytes());
}

/// What each exit code means, for `subcommand` (`""` for `gtform` itself).
fn exit_status(subcommand: &str) -> Vec<(&'static str, &'static str)> {
    let mut codes = vec![
        ("0", "Success: the command did what it was asked."),
        (
            "1",
            "An error: a workspace problem (located, file:line:col), a usage error, a refused or failed request, a conflict in the plan, a failed create, a timed-out wait, or an interrupted run. What was done is said on standard error; running the command again finishes it.",
        ),
    ];
    if matches!(subcommand, "" | "plan") {
        codes.push((
            "2",
            "plan --detailed-exitcode only: the plan succeeded and has changes to apply (0 then means nothing to do).",
        ));
    }
    codes
}

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "GTFORM_API_KEY",
        "The GT Studio API key (or --api-key-file). Never printed.",
    ),
    (
        "GTFORM_ENDPOINT",
        "The API to use: a URL, or embedded for the local emulator. A workspace's own endpoint is used only when this names the same one.",
    ),
    (
        "GTFORM_EMBEDDED_COMPLETE_AFTER",
        "With the embedded emulator: label each job this long after its creation (e.g. 30s), for trying status and results.",
    ),
    (
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE",
        "How s3:// objects are listed (jobs_from list:) and checked (plan --check-attachments), as the AWS CLI reads them. GTFORM_AWS_IMDS=1 allows the EC2 instance profile.",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY",
        "Proxies for the API (never for loopback), as curl reads them.",
    ),
    (
        "NO_COLOR",
        "Non-empty: no colour (as --color never), unless --color always.",
    ),
    (
        "CLICOLOR_FORCE, FORCE_COLOR",
        "Non-empty (FORCE_COLOR other than 0 or false): colour also into pipes and files, e.g. CI logs; NO_COLOR still wins. FORCE_COLOR=0 or CLICOLOR=0: no colour.",
    ),
    (
        "TERM",
        "dumb: no colour and no redrawn progress bar (a line every few seconds instead).",
    ),
    (
        "GITHUB_WORKSPACE",
        "With --format github: annotation paths are relative to it.",
    ),
];

/// Example command lines for `subcommand` (`""` for `gtform` itself).
fn examples(subcommand: &str) -> Vec<(&'static str, &'static str)> {
    match subcommand {
        "" => vec![
            (
                "gtform validate",
                "Check the workspace in the current directory; no network.",
            ),
            ("gtform plan", "Show what apply would create."),
            (
                "gtform apply",
                "Show the plan, ask, and create what is missing.",
            ),
            (
                "gtform status --wait --timeout 2h",
                "Wait until every batch is labelled.",
            ),
            (
                "gtform results --out results/",
                "Download the result files.",
            ),
        ],
        "validate" => vec![
            (
                "gtform validate workspace/",
                "Check every YAML file under workspace/.",
            ),
            (
                "gtform validate --format github",
                "Problems as GitHub annotations on a pull request.",
            ),
        ],
        "plan" => vec![
            ("gtform plan --target street/week-48", "Plan one batch."),
            (
                "gtform plan --out gtform.plan",
                "Save the plan, to apply exactly that later.",
            ),
            (
                "gtform plan --format markdown --since origin/main",
                "A pull-request comment: what the change creates, and the payloads it changes.",
            ),
            (
                "gtform plan --check-attachments --sample 200",
                "Check that GT Studio can read 200 sampled attachments first.",
            ),
        ],
        "apply" => vec![
            ("gtform apply", "Plan, show, ask, create."),
            (
                "gtform apply gtform.plan",
                "Apply a saved plan, refused if the server changed since.",
            ),
            (
                "gtform apply --auto-approve --max-create 5000 --format json",
                "In CI: no question, at most 5,000 jobs, one JSON event per line.",
            ),
        ],
        "show" => vec![("gtform show gtform.plan", "Render a saved plan.")],
        "status" => vec![
            ("gtform status", "Labelling progress of every batch."),
            (
                "gtform status --wait --timeout 45m --interval 30s",
                "Poll until labelled; exit 1 after 45 minutes.",
            ),
        ],
        "results" => vec![
            (
                "gtform results --out results/",
                "Download what is labelled; run again to resume.",
            ),
            (
                "gtform results --out results/ --masks --target street",
                "With the masks, for one project.",
            ),
        ],
        "schema" => vec![(
            "gtform schema --write .",
            "Write the JSON Schema for editors.",
        )],
        "emulator" => vec![
            (
                "gtform emulator --port 8765",
                "A local GT Studio with the demo seed.",
            ),
            (
                "gtform emulator --complete-after 30s --db state.sqlite",
                "Jobs labelled 30 s after creation, kept across restarts.",
            ),
        ],
        "policy" | "policy-s3" => vec![
            (
                "gtform policy s3",
                "The bucket policy that lets GT Studio read the workspace's objects.",
            ),
            (
                "gtform policy s3 --format terraform",
                "The same as Terraform.",
            ),
            (
                "gtform policy s3 check --policy-file policy.json",
                "Does an existing bucket policy grant what the jobs need?",
            ),
        ],
        "policy-s3-check" => vec![(
            "gtform policy s3 check --policy-file policy.json",
            "Check a bucket policy against the workspace's objects.",
        )],
        "completions" => vec![(
            "gtform completions bash > ~/.local/share/bash-completion/completions/gtform",
            "Install bash completions.",
        )],
        "man" => vec![(
            "gtform man --out-dir ~/.local/share/man/man1",
            "Install the man pages.",
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_texts_are_roff_safe() {
        let mut texts: Vec<&str> = ENVIRONMENT.iter().flat_map(|(a, b)| [*a, *b]).collect();
        for subcommand in ["", "plan", "apply", "status", "results", "policy", "man"] {
            for (a, b) in examples(subcommand)
                .into_iter()
                .chain(exit_status(subcommand))
            {
                texts.extend([a, b]);
            }
        }
        for text in texts {
            assert!(!text.contains('\\'), "{text}");
            assert!(!text.starts_with(['.', '\'']), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
    }
}
