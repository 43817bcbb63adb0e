//! Progress on stderr, for every command that shows it (`plan`'s reads, `apply`, `status --wait`,
//! `results`): whether a redrawn bar fits the terminal, the bar itself, and how often a plain line
//! is written when it does not. One builder, so that every bar follows the same rules: it never
//! wraps (a wrapped line is redrawn over the lines above it), it is drawn only where it can be
//! redrawn, and its rate reads as every other rate does ([`crate::text::rate`]).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::cli::Ui;
use crate::text::rate;

/// Time between plain progress lines when stderr shows no bar (CI logs, pipes).
pub(crate) const LINE_INTERVAL: Duration = Duration::from_secs(2);

/// The narrowest terminal a bar is drawn on; narrower (or of unknown width, such as a
/// pseudo-terminal that reports 0 columns) gets plain lines, which never wrap into a redraw.
pub(crate) const MIN_BAR_COLUMNS: u16 = 60;

/// Whether stderr shows a bar: a terminal that can redraw a line (not `TERM=dumb`), of a known
/// width of at least [`MIN_BAR_COLUMNS`], and no `-v` request logs sharing it (plain lines do not
/// fight a redrawn bar).
pub(crate) fn bar_fits(ui: &Ui, verbose: bool) -> bool {
    let wide_enough = ui
        .stderr_columns
        .is_some_and(|columns| columns >= MIN_BAR_COLUMNS);
    ui.stderr_is_tty && !ui.dumb_terminal && wide_enough && !verbose
}

/// A bar on stderr of `length` (grown later with `inc_length`, or set), drawn from `template`:
/// indicatif's keys, `{wide_bar}` for the bar (it takes what the rest of the line leaves), and
/// `{rate}` for the jobs per second.
pub(crate) fn bar(length: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&rate(state.per_sec(), "jobs"));
            },
        )
        .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cli::output::Format;

    pub(crate) fn ui(stderr_columns: Option<u16>, dumb_terminal: bool) -> Ui {
        Ui {
            color: false,
            stdout_color: false,
            stdout_is_tty: true,
            stderr_is_tty: true,
            stdin_is_tty: true,
            stderr_columns,
            dumb_terminal,
            diagnostic_format: Format::Text,
            diagnostic_title: "gtform",
            recorded: None,
        }
    }

    #[test]
    fn a_bar_only_on_a_terminal_that_can_redraw_it_in_full() {
        assert!(bar_fits(&ui(Some(120), false), false));
        assert!(bar_fits(&ui(Some(MIN_BAR_COLUMNS), false), false));
        for columns in [None, Some(0), Some(20), Some(MIN_BAR_COLUMNS - 1)] {
            assert!(!bar_fits(&ui(columns, false), false), "{columns:?}");
        }
        assert!(!bar_fits(&ui(Some(120), true), false), "TERM=dumb");
        assert!(
            !bar_fits(&ui(Some(120), false), true),
            "-v logs share stderr"
        );
        let mut piped = ui(Some(120), false);
        piped.stderr_is_tty = false;
        assert!(!bar_fits(&piped, false));
    }
}
