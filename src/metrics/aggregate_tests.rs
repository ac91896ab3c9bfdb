//! The aggregator's tests: exact percentiles from known samples, ticks and totals.

use super::*;
use crate::metrics::{Outcome, ServerTime};

fn ok(rec: &Recorder, step: usize, ms: u64) {
    rec.start();
    let outcome = Outcome::Response {
        status: 200,
        bytes: 10,
        unexpected: None,
        failure: None,
        failed_checks: 0,
        server: ServerTime::Unknown,
        phases: Default::default(),
    };
    rec.record(
        step,
        Duration::from_millis(ms),
        Duration::from_millis(ms),
        outcome,
    );
}

#[test]
fn known_samples_give_exact_percentiles() {
    let rec = Recorder::new(2, Duration::from_secs(60));
    let t0 = Instant::now();
    let names = vec![("f".into(), "a".into()), ("f".into(), "b".into())];
    let mut agg = Aggregator::new(rec.clone(), names, t0);
    for ms in 1..=100 {
        ok(&rec, 0, ms);
    }
    ok(&rec, 1, 500);
    rec.start();
    rec.record(
        1,
        Duration::ZERO,
        Duration::ZERO,
        Outcome::Failed {
            class: ErrorClass::Timeout,
            message: "slow".into(),
            status: None,
            bytes: 0,
            connection: Default::default(),
        },
    );
    let snap = agg.tick(
        t0 + Duration::from_secs(2),
        Duration::from_secs(2),
        Phase::Running,
    );
    let a = &snap.steps[0];
    assert_eq!(a.requests, 100);
    assert_eq!(a.rps, 50.0);
    // 3 significant figures: each value is within 0.1 % of the true one.
    let close =
        |got: u64, want_ms: u64| (got as f64 - want_ms as f64 * 1000.0).abs() <= want_ms as f64;
    assert!(close(a.latency.p50, 50), "{}", a.latency.p50);
    assert!(close(a.latency.p99, 99), "{}", a.latency.p99);
    assert!(close(a.latency.max, 100));
    assert!(close(a.latency.min, 1));
    assert_eq!(snap.total.requests, 102);
    assert_eq!(snap.total.errors, 1);
    assert_eq!(snap.steps[1].errors_by_class[0].sample, "slow");
    assert_eq!(snap.in_flight, 0);
    // The distribution holds every sample once: 1..=100 ms, one of 500 ms, and the
    // timeout (recorded at the 0 s it waited here, so 1 µs).
    let counts: Vec<u64> = snap.distribution.iter().map(|b| b.count).collect();
    assert_eq!(counts, vec![2, 1, 3, 5, 10, 30, 50, 0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(snap.seq, 1);
    // A second tick with nothing new keeps the totals and empties the interval.
    let snap2 = agg.tick(
        t0 + Duration::from_secs(3),
        Duration::from_secs(3),
        Phase::Finished,
    );
    assert_eq!(snap2.total.requests, 102);
    assert_eq!(snap2.total.interval.requests, 0);
    assert_eq!(snap.total.interval.requests, 102);
}
