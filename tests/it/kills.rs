//! Kills and interrupts that land while a create is provably in flight: the emulator holds the
//! Nth create (N from a seeded generator) before or after handling it, the test waits until it
//! is held, then kills gtform with SIGKILL (or interrupts it). What the store holds then is
//! bounded from both sides, and a rerun converges with no create sent twice.

use std::io::BufRead as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use gtform::emulator::{EmulatorOptions, Faults, RouteClass, Stall, StallPoint, WaitFor};
use rand::{Rng, SeedableRng};

use crate::support::{API_KEY, BatchSpec, PROJECT_ID, Rig, ids};

const SEED: u64 = 14;
const HELD_FOR: Duration = Duration::from_secs(60);

fn spawn_apply(rig: &Rig, parallelism: usize) -> Child {
    rig.command()
        .args([
            "apply",
            "--auto-approve",
            "--parallelism",
            &parallelism.to_string(),
        ])
        .env("GTFORM_API_KEY", API_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stall(class: RouteClass, nth: u64, count: u64, at: StallPoint) -> Faults {
    Faults {
        stall: Some(Stall {
            class,
            nth,
            count,
            at,
            timeout: HELD_FOR,
        }),
        ..Faults::default()
    }
}

/// Waits until a request of `class` is held; fails with gtform's stderr if none is.
async fn wait_until_held(rig: &Rig, class: RouteClass, child: &mut Child) {
    let outcome = rig
        .server
        .wait_for(
            WaitFor {
                class,
                received: None,
                stalled: Some(1),
            },
            Duration::from_secs(30),
        )
        .await;
    if !outcome.reached {
        let _ = child.kill();
        let _ = child.wait();
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        panic!("no {class:?} was held: {outcome:?}\n{stderr}");
    }
}

/// Lets every held request go on and waits until none is in flight.
async fn release_and_settle(rig: &Rig) {
    rig.faults(Faults::default());
    for _ in 0..500 {
        let stats = rig.server.stats();
        if stats.in_flight == 0 && stats.stalled == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("requests stayed in flight: {:?}", rig.server.stats());
}

/// Jobs in the store, and batches besides the Default batch.
fn stored(rig: &Rig) -> (usize, usize) {
    let dump = rig.server.dump(false).unwrap();
    let project = dump.project(&PROJECT_ID.parse().unwrap()).unwrap();
    (
        project.jobs.len(),
        project
            .batches
            .iter()
            .filter(|batch| !batch.is_default)
            .count(),
    )
}

/// Rounds of: hold the Nth create of the round (N seeded), kill gtform with SIGKILL while it
/// is held, check what the store holds. With `p` workers at most `p` creates are in flight, and
/// creates N..N+p−1 are held, so every worker is stuck once they all arrived:
///
/// * held before handling: of creates 1..N−1 at least N−p had ended when N arrived, and none
///   of the held ones is stored, so N−p ≤ new jobs ≤ N−1 at the kill;
/// * held after handling: N itself is stored too, so N−p+1 ≤ new jobs ≤ N+p−1;
/// * after the held requests are let go (the server may finish or drop them): new jobs ≤ N+p−1.
///
/// Then a rerun creates exactly the missing jobs, each with one request, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_the_nth_create_is_in_flight_leaves_bounded_work_and_a_rerun_converges() {
    let db_dir = tempfile::tempdir().unwrap();
    let rig = Rig::start_with(EmulatorOptions {
        db: Some(db_dir.path().join("emulator.sqlite")),
        log_capacity: 100_000,
        ..EmulatorOptions::default()
    })
    .await;
    let batches: Vec<BatchSpec> = (0..4)
        .map(|n| BatchSpec::new(&format!("batch-{n}"), ids(&format!("b{n}"), 0..50)))
        .collect();
    rig.workspace(&batches);
    let total = 200;

    // First, killed while the batch creates are held after handling: a batch is stored, its
    // answer never arrives; the next run finds it and creates no batch of that name.
    rig.faults(stall(
        RouteClass::CreateBatch,
        1,
        4,
        StallPoint::AfterHandling,
    ));
    let mut child = spawn_apply(&rig, 4);
    wait_until_held(&rig, RouteClass::CreateBatch, &mut child).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let (jobs, batches_stored) = stored(&rig);
    assert_eq!(jobs, 0, "no job is created before its batch");
    assert!(
        (1..=4).contains(&batches_stored),
        "{batches_stored} batches"
    );
    release_and_settle(&rig).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let rounds = [
        (1, StallPoint::BeforeHandling),
        (4, StallPoint::BeforeHandling),
        (1, StallPoint::AfterHandling),
        (4, StallPoint::AfterHandling),
    ];
    for (round, (workers, at)) in rounds.into_iter().enumerate() {
        let (before, _) = stored(&rig);
        let remaining = total - before;
        assert!(remaining > workers, "round {round}: work is left to kill");
        let nth = rng.random_range(1..=(remaining / 3).max(1).min(remaining - workers + 1));
        let context = format!(
            "round {round} (seed {SEED}): {workers} workers, create {nth} of {remaining} held {at:?}"
        );
        rig.faults(stall(RouteClass::CreateJob, nth as u64, workers as u64, at));
        let mut child = spawn_apply(&rig, workers);
        wait_until_held(&rig, RouteClass::CreateJob, &mut child).await;
        child.kill().unwrap(); // SIGKILL: no cleanup, no answer read
        child.wait().unwrap();
        let (at_kill, _) = stored(&rig);
        let new = at_kill - before;
        let (lowest, highest) = match at {
            StallPoint::BeforeHandling => (nth.saturating_sub(workers), nth - 1),
            StallPoint::AfterHandling => ((nth + 1).saturating_sub(workers), nth + workers - 1),
        };
        assert!(
            (lowest..=highest).contains(&new),
            "{context}: {new} new jobs at the kill, expected {lowest}..={highest}"
        );
        release_and_settle(&rig).await;
        let (settled, _) = stored(&rig);
        assert!(
            (new..=nth + workers - 1).contains(&(settled - before)),
            "{context}: {} new jobs once the held requests ended",
            settled - before
        );
    }

    let (before, _) = stored(&rig);
    rig.server.reset_stats();
    rig.run(&["apply", "--auto-approve"]).expect_code(0);
    let stats = rig.server.stats();
    assert_eq!(stats.log_evicted, 0);
    let by_reference = stats.create_requests_by_reference();
    assert_eq!(
        by_reference.len(),
        total - before,
        "the rerun creates exactly the missing jobs"
    );
    assert!(
        by_reference.values().all(|requests| *requests == 1),
        "each with one request: {by_reference:?}"
    );
    assert_eq!(
        stats.requests(RouteClass::CreateBatch),
        0,
        "every batch already exists"
    );
    let dump = rig.server.dump(false).unwrap();
    let project = dump.project(&PROJECT_ID.parse().unwrap()).unwrap();
    assert_eq!(project.jobs.len(), total);
    assert!(
        project
            .jobs_per_reference()
            .values()
            .all(|count| *count == 1),
        "no job twice"
    );
    assert!(
        project.batches_per_name().values().all(|count| *count == 1),
        "no batch twice"
    );
    let mut placements: Vec<(String, String)> = project
        .placements()
        .into_iter()
        .map(|(batch, job)| (batch.to_owned(), job.to_owned()))
        .collect();
    placements.sort();
    let mut desired: Vec<(String, String)> = batches
        .iter()
        .flat_map(|batch| {
            batch
                .reference_ids
                .iter()
                .map(|job| (batch.name.clone(), job.clone()))
        })
        .collect();
    desired.sort();
    assert_eq!(placements, desired);
    rig.run(&["plan", "--detailed-exitcode"]).expect_code(0);
}

/// Sends SIGINT to `child`.
fn interrupt(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The first Ctrl-C waits for the requests in flight; the second exits at once, although the
/// batch create in flight is held by the server for a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_interrupt_exits_at_once() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..50))]);
    rig.faults(stall(
        RouteClass::CreateBatch,
        1,
        1,
        StallPoint::BeforeHandling,
    ));
    let mut child = spawn_apply(&rig, 2);
    wait_until_held(&rig, RouteClass::CreateBatch, &mut child).await;
    interrupt(&child);
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("Interrupted") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "gtform ended before saying it was interrupted: {seen}"
        );
        seen.push_str(&line);
    }
    let second = Instant::now();
    interrupt(&child);
    let status = child.wait().unwrap();
    let waited = second.elapsed();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(1), "{seen}{rest}");
    assert!(rest.contains("Stopped at once"), "{seen}{rest}");
    assert!(
        waited < HELD_FOR / 4,
        "the second Ctrl-C did not wait for the held request ({waited:?})"
    );
    assert_eq!(
        stored(&rig).1,
        0,
        "the batch create had not been handled when gtform exited"
    );
    release_and_settle(&rig).await;
}
