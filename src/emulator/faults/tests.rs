//! Tests of `faults`.

use super::*;

#[test]
fn faults_json_reads_names_and_durations() {
    let faults: Faults = serde_json::from_str(
        r#"{"latency":"20ms","latency_jitter":5,"error_rates":{"FS_0000":0.5,"http_503":0.25},"reset":0.1}"#,
    )
    .unwrap();
    assert_eq!(faults.latency, Duration::from_millis(20));
    assert_eq!(faults.latency_jitter, Duration::from_millis(5));
    assert_eq!(faults.error_rates.fs_0000, 0.5);
    assert_eq!(faults.error_rates.http_503, 0.25);
    faults.check().unwrap();
    let back: Faults = serde_json::from_str(&serde_json::to_string(&faults).unwrap()).unwrap();
    assert_eq!(back, faults);
}

#[test]
fn faults_check_refuses_bad_probabilities() {
    let mut faults = Faults::default();
    faults.error_rates.fs_0000 = 0.7;
    faults.error_rates.api_error = 0.7;
    assert!(faults.check().is_err());
    let faults = Faults {
        reset: 1.5,
        ..Faults::default()
    };
    assert!(faults.check().is_err());
    let faults = Faults {
        rate_limit_per_second: Some(0.0),
        ..Faults::default()
    };
    assert!(faults.check().is_err());
}

#[test]
fn engine_draws_are_reproducible_with_a_seed() {
    let faults = Faults {
        error_rates: ErrorRates {
            fs_0000: 0.5,
            ..ErrorRates::default()
        },
        rng_seed: Some(42),
        ..Faults::default()
    };
    let draws =
        |engine: FaultEngine| -> Vec<Admission> { (0..50).map(|_| engine.admit(1)).collect() };
    let first = draws(FaultEngine::new(faults.clone()));
    assert_eq!(first, draws(FaultEngine::new(faults)));
    let errors = first
        .iter()
        .filter(|admission| matches!(admission, Admission::Proceed { error: Some(_), .. }))
        .count();
    assert!(
        (10..=40).contains(&errors),
        "{errors} errors in 50 draws at 0.5"
    );
}

#[test]
fn overload_grows_latency_with_load_and_errors_beyond_capacity() {
    let overload = Overload {
        capacity: 10,
        error_slope: 0.5,
        max_error_rate: 0.4,
        ..Overload::default()
    };
    assert_eq!(overload.at(1), (1.0, 0.0));
    assert_eq!(overload.at(10), (1.0, 0.0));
    let (factor, error) = overload.at(15);
    assert!((factor - 1.5).abs() < 1e-9 && (error - 0.25).abs() < 1e-9);
    assert_eq!(overload.at(100), (10.0, 0.4));
}

#[test]
fn bucket_state_reports_limit_remaining_and_reset() {
    let mut bucket = TokenBucket::new(4.0, None);
    let start = Instant::now();
    bucket.take(start).unwrap();
    let state = bucket.state();
    assert_eq!((state.limit, state.remaining, state.reset_secs), (4, 3, 1));
    for _ in 0..3 {
        bucket.take(start).unwrap();
    }
    assert!(bucket.take(start).is_err());
    assert_eq!(bucket.state().remaining, 0);
}

#[test]
fn bucket_refuses_beyond_burst_then_refills() {
    let mut bucket = TokenBucket::new(10.0, Some(2));
    let start = Instant::now();
    assert!(bucket.take(start).is_ok());
    assert!(bucket.take(start).is_ok());
    let wait = bucket.take(start).unwrap_err();
    assert!(wait <= Duration::from_millis(100));
    assert!(bucket.take(start + Duration::from_millis(100)).is_ok());
}
