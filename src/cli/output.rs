//! What `plan`, `apply` and `show` print alike: a plan, as text or as the JSON document, and
//! the conflicts that stop a plan.

use crate::client::EndpointLabel;
use crate::diagnostic;
use crate::plan::render::{self, RenderOptions};
use crate::plan::{Plan, json};
use crate::text::counted;

use super::{CliError, Ui};

/// Prints `plan` for a human on stdout.
pub(crate) fn plan_text(ui: &mut Ui, plan: &Plan, endpoint: &EndpointLabel, verbose: bool) {
    let text = render::human(
        plan,
        endpoint,
        RenderOptions {
            verbose,
            color: ui.stdout_color,
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
    ui.out(&json::document(plan, endpoint, state_fingerprint));
}

/// Prints every conflict, located in the workspace, and fails when there is one.
pub(crate) fn fail_on_conflicts(plan: &Plan, ui: &mut Ui) -> Result<(), CliError> {
    let conflicts = plan.conflict_diagnostics();
    if conflicts.is_empty() {
        return Ok(());
    }
    ui.err(&diagnostic::render(&conflicts, ui.color));
    Err(CliError::new(format!(
        "the plan has {}: the workspace cannot be reached as written",
        counted(conflicts.len() as u64, "conflict", "conflicts")
    ))
    .hint("nothing on the server can be changed or deleted through the API; change the workspace to match it"))
}
