//! What `plan`, `apply` and `show` print alike: a plan, as text or as the JSON document, and
//! the conflicts that stop a plan; and `--format`, the output format of the commands that take
//! one.

use clap::ValueEnum;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::client::EndpointLabel;
use crate::plan::render::{self, Pointers, RenderOptions};
use crate::plan::{Plan, json, markdown};
use crate::text::counted;

use super::{CliError, Ui};

/// `--format`: how a command prints. Not every command takes every format: each lists its own
/// (see `format_parser`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people (the default)
    #[default]
    Text,
    /// For programs: the plan document, the event stream; problems as JSON Lines
    Json,
    /// For a pull-request comment or a GitHub job summary
    Markdown,
    /// For GitHub Actions: problems as workflow commands, shown on the lines of a pull request
    Github,
}

/// The value parser of a `--format` that accepts only `formats`: `--help`, completions and the
/// error for any other value name exactly those.
pub(crate) fn format_parser(formats: &'static [Format]) -> impl TypedValueParser<Value = Format> {
    let names = formats
        .iter()
        .filter_map(ValueEnum::to_possible_value)
        .collect::<Vec<_>>();
    PossibleValuesParser::new(names).map(|name| {
        <Format as ValueEnum>::from_str(&name, false).expect("the parser accepts only formats")
    })
}

/// Where a shown plan points its reader: this program's own command lines.
pub(crate) const PLAN_POINTERS: Pointers = Pointers {
    compare_with_revision: "`gtform plan --since REV`",
    whole_plan: "`gtform show PLANFILE` or `--format json`",
    list_everything: "--verbose",
};

/// Prints `plan` for a human on stdout.
pub(crate) fn plan_text(ui: &mut Ui, plan: &Plan, endpoint: &EndpointLabel, verbose: bool) {
    let text = render::human(
        plan,
        endpoint,
        RenderOptions {
            verbose,
            color: ui.stdout_color,
            pointers: PLAN_POINTERS,
        },
    );
    ui.out(&text);
}

/// Prints `plan` as the versioned JSON document on stdout.
pub(crate) fn plan_json(
    ui: &mut Ui,
    plan: &Plan,
    endpoint: &EndpointLabel,
    state_fingerprint: &str,
) {
    ui.out_json(&json::document(plan, endpoint, state_fingerprint));
}

/// Prints `plan` as Markdown on stdout, short enough for a pull-request comment.
pub(crate) fn plan_markdown(ui: &mut Ui, plan: &Plan, endpoint: &EndpointLabel) {
    ui.out(&markdown::markdown(plan, endpoint, PLAN_POINTERS));
}

/// Prints every drift as a warning at its description (`--format github`: an annotation on
/// that line of the pull request).
pub(crate) fn drift_warnings(plan: &Plan, ui: &mut Ui) {
    let drift = plan.drift_diagnostics();
    if !drift.is_empty() {
        ui.diagnostics(&drift);
    }
}

/// Prints every conflict, located in the workspace, and fails when there is one.
pub(crate) fn fail_on_conflicts(plan: &Plan, ui: &mut Ui) -> Result<(), CliError> {
    let conflicts = plan.conflict_diagnostics();
    if conflicts.is_empty() {
        return Ok(());
    }
    ui.diagnostics(&conflicts);
    Err(CliError::new(format!(
        "the plan has {}: the workspace cannot be reached as written",
        counted(plan.summary().conflicts, "conflict", "conflicts")
    ))
    .hint("nothing on the server can be changed or deleted through the API; change the workspace to match it"))
}
