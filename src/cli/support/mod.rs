//! The CLI kit: what the commands share, none of it a command. Connection flags and the
//! pipeline's messages (`connection`), library errors in the CLI's words (`errors`), the AWS
//! environment (`aws`), load limits (`load_args`), `plan --check-attachments` (`preflight`),
//! the pull-request comment's header and file (`comment`), apply's last words (`apply_summary`); and the parts every long command is built from: the one
//! duration parser (`duration`), the one `--parallelism` parser (`parallelism`), the one Ctrl-C
//! watcher (`interrupts`), the value parser of a fixed set of names (`choices`), the one progress-bar builder and its narrow-terminal rule
//! (`progress_bar`), and the one rule for cutting long lists, in the library (`text::listed`).
//!
//! Commands import these by their path (`super::support::duration`): nothing here is
//! re-exported, so that where a helper lives is where it is named.

pub(super) mod apply_summary;
pub(super) mod aws;
#[cfg(feature = "emulator")]
pub(super) mod choices;
pub(super) mod comment;
pub(super) mod connection;
pub(super) mod duration;
pub(super) mod errors;
pub(super) mod interrupts;
pub(super) mod load_args;
pub(super) mod parallelism;
pub(super) mod preflight;
pub(super) mod progress_bar;
