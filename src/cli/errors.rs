//! How library errors read on the command line: the library says what failed; here that gets
//! the CLI's own advice, naming its flags and environment variables, which the library never
//! does.

use crate::plan::saved::PlanFileError;

use super::CliError;

/// A saved plan that cannot be read or written.
pub(crate) fn plan_file_error(error: &PlanFileError) -> CliError {
    let cli_error = CliError::new(error.to_string());
    match error {
        PlanFileError::Invalid { .. } => {
            cli_error.hint("save a plan with `gtform plan --out FILE`")
        }
        PlanFileError::NotAPlanFile { .. } => {
            cli_error.hint("choose another file for --out, e.g. `gtform.plan`")
        }
        PlanFileError::Read { .. } | PlanFileError::Encode(_) | PlanFileError::Write { .. } => {
            cli_error
        }
    }
}
