//! The budget of one evaluation (one template string, one row): minijinja's fuel, and a cap
//! on the bytes it gives, as rendered text or as the text of an expression's value. Going over
//! either is a problem of that row, marked `over_budget`.

use super::TemplateProblem;
use crate::config::node::Span;

/// Instructions one evaluation of a template string may run (minijinja's fuel): far more than a
/// job template needs, far less than a second of CPU.
pub(crate) const TEMPLATE_FUEL: u64 = 1_000_000;
/// Most bytes one evaluation may give (a rendered string, or the text of an expression's value).
pub(crate) const MAX_TEMPLATE_OUTPUT_BYTES: usize = 4 << 20;

pub(super) fn over_budget(span: Span, message: String) -> TemplateProblem {
    let mut problem = TemplateProblem::new(span, message)
        .with_hint("a job template may run about a million instructions and give at most 4 MiB");
    problem.over_budget = true;
    problem
}

pub(super) fn output_too_big(span: Span) -> TemplateProblem {
    over_budget(
        span,
        format!(
            "the template gave more than {} bytes",
            MAX_TEMPLATE_OUTPUT_BYTES
        ),
    )
}

/// A writer that refuses to grow past [`MAX_TEMPLATE_OUTPUT_BYTES`].
pub(super) struct BoundedOutput(pub(super) Vec<u8>);

impl std::io::Write for BoundedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_TEMPLATE_OUTPUT_BYTES {
            return Err(std::io::Error::other("template output over the limit"));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Takes `bytes` (and one for the value itself) from the output budget.
pub(super) fn spend(
    remaining: &mut usize,
    bytes: usize,
    span: Span,
) -> Result<(), TemplateProblem> {
    *remaining = remaining
        .checked_sub(bytes.saturating_add(1))
        .ok_or_else(|| output_too_big(span))?;
    Ok(())
}
