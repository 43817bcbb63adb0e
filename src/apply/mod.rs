//! Executing a plan: batches first, then jobs, concurrently, exactly once.
//!
//! Identity is by natural keys (batch name, reference_id) and the server enforces them, which is
//! what makes every create safe to retry and to run twice at once:
//!
//! * A create whose outcome is unknown (timeout, reset, dropped connection, transient error) is
//!   simply sent again.
//! * `FS_0001` (reference_id taken) means the job exists, created by an earlier attempt of ours
//!   or by another run: it is adopted. `BATCH_CREATION` likewise adopts the batch, whose id is
//!   read back from project details.
//! * Adopted jobs are confirmed at the end by reading the batches again (the API has no lookup by
//!   reference_id): a job that turns out to sit in another batch is reported as a failure.
//!
//! Failures do not stop other work; they are collected in the `ApplyReport`, and running apply
//! again finishes what is left. A failure that dooms every other create (the key is refused, or
//! may not write to the project) stops apply early. Cancelling stops new requests and lets those
//! in flight finish. Nothing here prints: progress goes to an `ApplyObserver`.
//!
//! * `executor`: the run itself (`run`), one `Applier` context shared by every create.
//! * `events`: `ApplyEvent` and `ApplyObserver`, the progress contract.
//! * `report`: `ApplyReport` and `ApplyFailure`, what apply did.
//!
//! Every create goes through `crate::limiter`'s one request loop (`LimitedRequests`), with the
//! guards that keep it exactly-once: the stop token, the adoption codes it settles, its retries
//! announced as events.

mod events;
mod executor;
mod report;

use crate::client::RetryPolicy;

pub use events::{ApplyEvent, ApplyObserver};
pub use executor::run;
pub use report::{ApplyCompletion, ApplyFailure, ApplyNotStarted, ApplyReport};

/// Default `--parallelism`. GT Studio documents no rate limit for v1 and one job per request, so
/// throughput is parallelism ÷ latency: 16 in flight gives about 100–300 jobs/s at the 50–150 ms a
/// request to a remote API takes, while staying far from the load of a denial of service. The
/// adaptive limiter lowers it on its own when the server struggles.
pub const DEFAULT_PARALLELISM: usize = 16;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Creates in flight at most.
    pub parallelism: usize,
    /// Retries of creates with an unknown or transient outcome.
    pub create_retry: RetryPolicy,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: DEFAULT_PARALLELISM,
            create_retry: RetryPolicy::for_creates(),
        }
    }
}
