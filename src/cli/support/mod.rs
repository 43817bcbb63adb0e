//! Helpers the command modules share, none of them a command: connection flags and the
//! pipeline's messages (`connection`), library errors in the CLI's words (`errors`), the AWS
//! environment (`aws`), durations the user types (`duration`), load limits (`load_args`), `plan --check-attachments` (`preflight`),
//! the pull-request comment's header and file (`comment`) and apply's last words (`apply_summary`).

pub(super) mod apply_summary;
pub(super) mod aws;
pub(super) mod comment;
pub(super) mod connection;
pub(super) mod duration;
pub(super) mod errors;
pub(super) mod load_args;
pub(super) mod preflight;
