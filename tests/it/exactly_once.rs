//! Exactly-once, measured by an independent oracle: the emulator's store (every batch and job as
//! stored, not through the paged API gtform reads) and its request log (every create request,
//! named by reference_id or batch name, and what became of it). gtform's own reader and its own
//! report are not trusted here.
//!
//! What gtform promises, per reference_id and per batch name:
//!
//! * nothing missing, nothing twice: the store holds each desired job once, in its batch, and
//!   each batch name once;
//! * no create without a reason: every create request but the last for a name ended in a
//!   failure or an unknown outcome, and the last one's outcome was known (created, or "already
//!   there"): after a known success, no create is sent again.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use gtform::emulator::{EmulatorOptions, ErrorRates, Faults, LogEntry, Outcome, RouteClass, Stats};

use crate::support::{BatchSpec, PROJECT_ID, Rig, ids};

fn five_batches(jobs_per_batch: usize) -> Vec<BatchSpec> {
    (0..5)
        .map(|n| {
            BatchSpec::new(
                &format!("batch-{n}"),
                ids(&format!("b{n}"), 0..jobs_per_batch),
            )
        })
        .collect()
}

/// (batch name, reference_id) of every desired job, sorted.
fn desired(batches: &[BatchSpec]) -> Vec<(String, String)> {
    let mut jobs: Vec<(String, String)> = batches
        .iter()
        .flat_map(|batch| {
            batch
                .reference_ids
                .iter()
                .map(|reference_id| (batch.name.clone(), reference_id.clone()))
        })
        .collect();
    jobs.sort();
    jobs
}

/// A rig whose request log keeps every request of the test.
async fn logging_rig() -> Rig {
    Rig::start_with(EmulatorOptions {
        log_capacity: 200_000,
        ..EmulatorOptions::default()
    })
    .await
}

/// What the store holds for the test project: (batch name, reference_id) of every job, sorted,
/// and how many batches carry each name.
fn stored(rig: &Rig) -> (Vec<(String, String)>, BTreeMap<String, usize>) {
    let dump = rig.server.dump(false).expect("the store can be read");
    let project = dump
        .project(&PROJECT_ID.parse().unwrap())
        .expect("the test project");
    let mut placements: Vec<(String, String)> = project
        .placements()
        .into_iter()
        .map(|(batch, reference_id)| (batch.to_owned(), reference_id.to_owned()))
        .collect();
    placements.sort();
    let batches = project
        .batches_per_name()
        .into_iter()
        .map(|(name, count)| (name.to_owned(), count))
        .collect();
    (placements, batches)
}

/// The store holds exactly the desired jobs, each once and in its batch, and each of their
/// batches once (besides the Default batch).
#[track_caller]
fn assert_store_holds_exactly(rig: &Rig, batches: &[BatchSpec]) {
    let (placements, batch_names) = stored(rig);
    assert_eq!(
        placements,
        desired(batches),
        "the store holds exactly the desired jobs: none missing, none twice, none elsewhere"
    );
    let mut expected: BTreeMap<String, usize> = batches
        .iter()
        .map(|batch| (batch.name.clone(), 1))
        .collect();
    expected.insert("Default".into(), 1);
    assert_eq!(batch_names, expected, "every batch name exists once");
}

/// The create requests of one name (a reference_id or a batch name), in the order they ended.
type Attempts<'a> = BTreeMap<&'a str, Vec<&'a LogEntry>>;

fn creates<'a>(stats: &'a Stats, class: RouteClass) -> Attempts<'a> {
    assert_eq!(stats.log_evicted, 0, "the log kept every request");
    let mut attempts: Attempts<'a> = BTreeMap::new();
    for entry in stats.log.iter().filter(|entry| entry.endpoint == class) {
        let name = match class {
            RouteClass::CreateJob => entry.details.reference_id.as_deref(),
            _ => entry.details.batch_name.as_deref(),
        }
        .expect("every create is named in the log");
        attempts.entry(name).or_default().push(entry);
    }
    attempts
}

/// Whether the client learnt the outcome of this create: stored and answered, or answered
/// "already there".
fn outcome_known(entry: &LogEntry, exists_code: &str) -> bool {
    entry.outcome == Outcome::Answered
        && (entry.status == Some(200) || entry.code.as_deref() == Some(exists_code))
}

/// Every create of a name but the last ended in a failure or an unknown outcome, and the last
/// one's outcome was known: no create was sent without a reason, none after a known success.
/// Returns the number of create requests.
#[track_caller]
fn assert_every_create_justified(attempts: &Attempts<'_>, exists_code: &str) -> usize {
    let mut requests = 0;
    for (name, entries) in attempts {
        requests += entries.len();
        let (last, earlier) = entries.split_last().expect("at least one request");
        assert!(
            outcome_known(last, exists_code),
            "`{name}`: the last create's outcome was known: {entries:#?}"
        );
        for entry in earlier {
            assert!(
                !outcome_known(entry, exists_code),
                "`{name}` was sent again after a known outcome: {entries:#?}"
            );
        }
    }
    requests
}

fn chaos(commit_then_drop: f64, seed: u64) -> Faults {
    Faults {
        error_rates: ErrorRates {
            fs_0000: 0.04,
            fs_0008: 0.03,
            api_error: 0.03,
            http_500: 0.04,
            http_502: 0.03,
            http_503: 0.03,
        },
        commit_then_drop,
        reset: 0.05,
        rng_seed: Some(seed),
        ..Faults::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_apply_stores_each_job_and_batch_once_and_sends_no_create_without_a_reason() {
    let rig = logging_rig().await;
    let batches = five_batches(300);
    rig.workspace(&batches);
    rig.faults(chaos(0.05, 14));
    rig.run(&["apply", "--auto-approve", "--parallelism", "32"])
        .expect_code(0);
    rig.faults(Faults::default());

    assert_store_holds_exactly(&rig, &batches);
    let stats = rig.server.stats();
    let jobs = creates(&stats, RouteClass::CreateJob);
    assert_eq!(jobs.len(), 1_500, "a create was sent for every job");
    let job_requests = assert_every_create_justified(&jobs, "FS_0001");
    let batch_requests =
        assert_every_create_justified(&creates(&stats, RouteClass::CreateBatch), "BATCH_CREATION");
    let job_stats = &stats.endpoints[&RouteClass::CreateJob];
    assert!(
        job_stats.dropped > 0 && job_stats.reset > 0 && job_stats.by_code.contains_key("FS_0001"),
        "the faults happened, and dropped creates were recognised on retry: {job_stats:?}"
    );
    assert_eq!(
        job_requests as u64,
        stats.requests(RouteClass::CreateJob),
        "every create request is named in the log"
    );
    assert!(batch_requests >= 5);

    rig.server.reset_stats();
    rig.run(&["plan", "--detailed-exitcode"]).expect_code(0);
    assert_eq!(
        rig.server.stats().requests(RouteClass::CreateJob),
        0,
        "a plan creates nothing"
    );
}

/// Against a server without uniqueness rules (`allow_duplicates`), no duplicate can be
/// prevented in general, and this test says why and asserts the bound that holds instead.
///
/// A create whose connection drops after the server committed it has an unknown outcome:
/// gtform cannot tell it from one that never arrived, so it must send it again, or the job could
/// be missing. A real GT Studio answers that retry `FS_0001` and gtform adopts the job; a server
/// without the rule stores a second copy. So each such unknown outcome can cost one duplicate,
/// and no client can do better without a lookup by reference_id, which the API lacks. What
/// gtform does guarantee, and this test measures from the store and the log:
///
/// * the copies of a job (or batch) are at most 1 + the creates of it the server committed and
///   dropped; a name with no dropped create is stored exactly once;
/// * nothing is sent after a known success: the last create of each name is the only one the
///   client saw succeed;
/// * nothing is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_uniqueness_rules_duplicates_are_bounded_by_the_unknown_outcomes() {
    let rig = logging_rig().await;
    let batches = five_batches(200);
    rig.workspace(&batches);
    rig.faults(Faults {
        allow_duplicates: true,
        ..chaos(0.05, 15)
    });
    rig.run(&["apply", "--auto-approve", "--parallelism", "16"])
        .expect_code(0);
    rig.faults(Faults {
        allow_duplicates: true,
        ..Faults::default()
    });
    let stats = rig.server.stats();
    let dump = rig.server.dump(false).unwrap();
    let project = dump.project(&PROJECT_ID.parse().unwrap()).unwrap();
    let copies = project.jobs_per_reference();
    let batch_copies = project.batches_per_name();
    let mut dropped_total = 0;
    let mut duplicates_total = 0;
    for (class, copies, exists_code) in [
        (RouteClass::CreateJob, &copies, "FS_0001"),
        (RouteClass::CreateBatch, &batch_copies, "BATCH_CREATION"),
    ] {
        let attempts = creates(&stats, class);
        assert_every_create_justified(&attempts, exists_code);
        for (name, entries) in &attempts {
            let dropped = entries
                .iter()
                .filter(|entry| entry.outcome == Outcome::Dropped)
                .count();
            let stored = entries
                .iter()
                .filter(|entry| entry.details.created_id.is_some())
                .count();
            let held = copies.get(name).copied().unwrap_or(0);
            assert_eq!(held, stored, "`{name}`: the store and the log agree");
            assert!(
                (1..=1 + dropped).contains(&held),
                "`{name}`: {held} copies, {dropped} dropped creates: {entries:#?}"
            );
            dropped_total += dropped;
            duplicates_total += held - 1;
        }
    }
    assert!(dropped_total > 0, "creates were dropped after commit");
    assert!(duplicates_total <= dropped_total);
    let (placements, _) = stored(&rig);
    let mut distinct = placements.clone();
    distinct.dedup();
    assert_eq!(distinct, desired(&batches), "nothing is missing");
}

/// The same server without uniqueness rules, with every fault but the dropped commit: every
/// failure is a clean one (answered, or reset before handling), so any duplicate would be
/// gtform's own doing. There is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_uniqueness_rules_clean_failures_cause_no_duplicate() {
    let rig = logging_rig().await;
    let batches = five_batches(200);
    rig.workspace(&batches);
    rig.faults(Faults {
        allow_duplicates: true,
        ..chaos(0.0, 16)
    });
    rig.run(&["apply", "--auto-approve", "--parallelism", "16"])
        .expect_code(0);
    let stats = rig.server.stats();
    assert!(
        stats.endpoints[&RouteClass::CreateJob].reset > 0,
        "failures happened"
    );
    assert_store_holds_exactly(&rig, &batches);
    assert_every_create_justified(&creates(&stats, RouteClass::CreateJob), "FS_0001");
    assert_every_create_justified(&creates(&stats, RouteClass::CreateBatch), "BATCH_CREATION");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_applies_store_each_job_once_and_send_each_create_at_most_once_each() {
    let rig = logging_rig().await;
    let batches = five_batches(100);
    rig.workspace(&batches);
    rig.faults(Faults {
        latency: Duration::from_millis(1),
        latency_jitter: Duration::from_millis(3),
        ..Faults::default()
    });
    let spawn = || {
        rig.command()
            .args(["apply", "--auto-approve", "--parallelism", "8"])
            .env("GTFORM_API_KEY", crate::support::API_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    for output in [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ] {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_store_holds_exactly(&rig, &batches);
    let stats = rig.server.stats();
    for (class, exists_code) in [
        (RouteClass::CreateJob, "FS_0001"),
        (RouteClass::CreateBatch, "BATCH_CREATION"),
    ] {
        for (name, entries) in creates(&stats, class) {
            // No faults: each run sends each create at most once, and exactly one is stored.
            assert!(entries.len() <= 2, "`{name}`: {entries:#?}");
            assert!(
                entries
                    .iter()
                    .all(|entry| outcome_known(entry, exists_code)),
                "`{name}`: {entries:#?}"
            );
            assert_eq!(
                entries
                    .iter()
                    .filter(|entry| entry.details.created_id.is_some())
                    .count(),
                1,
                "`{name}` was stored by exactly one of the runs: {entries:#?}"
            );
        }
    }
}

/// A create that keeps failing transiently is sent exactly as many times as the retry policy
/// allows, then reported as given up: a client that retried forever (or counted its attempts
/// wrong) would send it more often, or hang here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_keeps_failing_is_sent_exactly_max_attempts_times() {
    use gtform::client::{ApiKey, RetryPolicy};
    use gtform::ops::{self, ConnectOptions, LoadRequest};

    let rig = logging_rig().await;
    // The batch exists, so the plan holds job creates only.
    rig.fill_batch("week-48", ids("old", 0..1));
    let batches = [BatchSpec::new("week-48", ids("cam", 0..2))];
    let path = rig.workspace(&batches);
    let url = rig.url();
    let loaded = ops::load(&LoadRequest {
        operator_endpoint: Some(&url),
        ..LoadRequest::new(&path)
    })
    .expect("the workspace loads");
    let planned = ops::plan(
        loaded,
        &ConnectOptions::with_api_key(ApiKey::new(crate::support::API_KEY)),
        &ops::Silent,
    )
    .await
    .expect("planned");
    assert_eq!(planned.plan.summary().jobs_to_create, 2);

    rig.server.reset_stats();
    rig.faults(Faults {
        error_rates: ErrorRates {
            http_503: 1.0,
            ..ErrorRates::default()
        },
        ..Faults::default()
    });
    let options = gtform::apply::ApplyOptions {
        parallelism: 1,
        create_retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    };
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        ops::apply(
            &planned.connection,
            &planned.plan,
            &options,
            &gtform::ops::Silent,
            &tokio_util::sync::CancellationToken::new(),
        ),
    )
    .await
    .expect("apply gives up instead of retrying forever");
    rig.faults(Faults::default());

    assert_eq!(report.jobs_created, 0);
    assert_eq!(report.failures.len(), 2, "{report:?}");
    for failure in &report.failures {
        assert!(
            failure.error.contains("gave up after 4 attempts"),
            "{failure:?}"
        );
    }
    let stats = rig.server.stats();
    let attempts = creates(&stats, RouteClass::CreateJob);
    let sent: BTreeMap<&str, usize> = attempts
        .iter()
        .map(|(name, entries)| (*name, entries.len()))
        .collect();
    assert_eq!(sent, BTreeMap::from([("cam-0000", 4), ("cam-0001", 4)]));
}
