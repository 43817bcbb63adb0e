//! Ctrl-C for the long commands (`apply`, `results`): each press takes the next, firmer step (stop
//! starting work, then drop what is under way), and the press after the last step exits at once.
//! One watcher, so that every command says what each press does and what is left to do.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cli::{Ui, exit};

/// What one Ctrl-C does: say `message`, then cancel `token`.
pub(crate) struct Step {
    pub message: &'static str,
    pub token: CancellationToken,
}

/// Watches for Ctrl-C in the background: the n-th press takes `steps[n]`; the press after the
/// last step prints `last_words` and exits with the error code. `say` prints a step's message
/// (above a progress bar, when there is one).
pub(crate) fn watch(
    steps: Vec<Step>,
    last_words: &'static str,
    say: impl Fn(&str) + Send + Sync + 'static,
) {
    let say = Arc::new(say);
    tokio::spawn(async move {
        for step in steps {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            say(step.message);
            step.token.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            Ui::log_line(last_words);
            std::process::exit(i32::from(exit::ERROR));
        }
    });
}
