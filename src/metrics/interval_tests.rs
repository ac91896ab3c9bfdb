//! `interval`'s unit tests (a file of their own: with them the module passes the size
//! limit).

use super::*;

#[test]
fn timeouts_count_in_latency_other_failures_do_not() {
    let mut i = StepInterval::new(60_000_000);
    let fail = |class| Outcome::Failed {
        class,
        message: String::new(),
        status: None,
        bytes: 0,
        connection: Default::default(),
    };
    i.record(
        Duration::from_secs(5),
        Duration::from_secs(5),
        fail(ErrorClass::Timeout),
    );
    i.record(
        Duration::from_micros(50),
        Duration::from_micros(50),
        fail(ErrorClass::ConnectRefused),
    );
    assert_eq!(i.latency.len(), 1);
    assert!(i.latency.to_histogram().min() >= 4_990_000);
    assert_eq!(i.completed(), 2);
}

#[test]
fn unexpected_status_is_a_response_and_an_error() {
    let mut i = StepInterval::new(1_000_000);
    let bad = Outcome::Response {
        status: 500,
        bytes: 0,
        unexpected: Some("200"),
        failure: None,
        failed_checks: 0,
        server: ServerTime::Unknown,
        phases: Default::default(),
    };
    i.record(Duration::from_millis(1), Duration::from_millis(1), bad);
    assert_eq!(i.completed(), 1);
    assert_eq!(i.errors[ErrorClass::StatusNotExpected.index()], 1);
    assert_eq!(
        i.samples[ErrorClass::StatusNotExpected.index()].as_deref(),
        Some("expected 200, got 500")
    );
}

/// The service histogram exists only once a service time differs from its latency, and
/// every way of adding intervals gives exactly the histogram of all service times.
#[test]
fn service_times_stay_exact_whether_kept_apart_or_not() {
    let us = Duration::from_micros;
    // (latency, service) pairs: a closed-model interval (equal) and an open one.
    let closed: Vec<(u64, u64)> = (1..=300).map(|v| (v * 7, v * 7)).collect();
    let open: Vec<(u64, u64)> = (1..=300).map(|v| (v * 11 + 900, v * 11)).collect();
    let fill = |pairs: &[(u64, u64)]| {
        let mut i = StepInterval::new(60_000_000);
        for &(l, s) in pairs {
            i.record(us(l), us(s), Outcome::ok());
        }
        i
    };
    let (a, b) = (fill(&closed), fill(&open));
    assert!(a.service.is_none(), "equal times keep one histogram");
    assert!(b.service.is_some());
    let mut want = crate::metrics::histograms::latency_histogram();
    for &(_, s) in closed.iter().chain(&open) {
        want.record(s).expect("records");
    }
    for (first, second) in [(&a, &b), (&b, &a)] {
        let mut sum = StepInterval::new(60_000_000);
        sum.add(first);
        sum.add(second);
        assert_eq!(sum.service().len(), 600);
        for q in [0.0, 0.25, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(
                sum.service().view(|h| h.value_at_quantile(q)),
                want.value_at_quantile(q),
                "q {q}"
            );
        }
        assert_eq!(sum.latency.len(), 600);
    }
    let mut drained = fill(&open);
    let mut into = fill(&closed);
    into.drain_from(&mut drained);
    assert!(drained.service.is_none() && drained.latency.is_empty());
    assert_eq!(
        into.service().view(|h| h.value_at_quantile(0.5)),
        want.value_at_quantile(0.5)
    );
}

#[test]
fn values_past_the_highest_are_recorded_as_the_highest() {
    let mut i = StepInterval::new(1_000_000);
    i.record(
        Duration::from_secs(30),
        Duration::from_secs(30),
        Outcome::ok(),
    );
    assert_eq!(i.latency.len(), 1);
    let max = i.latency.to_histogram().max();
    assert!((1_000_000..1_001_000).contains(&max));
}

#[test]
fn a_redirect_past_the_limit_keeps_its_latency() {
    let mut i = StepInterval::new(1_000_000);
    let exhausted = Outcome::Failed {
        class: ErrorClass::TooManyRedirects,
        message: String::new(),
        status: Some(302),
        bytes: 0,
        connection: Default::default(),
    };
    i.record(
        Duration::from_millis(3),
        Duration::from_millis(3),
        exhausted,
    );
    assert_eq!(i.latency.len(), 1);
    assert_eq!((i.completed(), i.errors.iter().sum::<u64>()), (1, 1));
}

/// Server time and overhead are recorded from the service time, apart from the latency;
/// a value that cannot be right is counted, not recorded.
#[test]
fn server_time_splits_the_service_time_and_bad_values_are_counted() {
    let mut i = StepInterval::new(60_000_000);
    let said = |server| Outcome::Response {
        status: 200,
        bytes: 0,
        unexpected: None,
        failure: None,
        failed_checks: 0,
        server,
        phases: Default::default(),
    };
    let ms = Duration::from_millis;
    // Open model: 9 ms of latency, 5 of them from the send; the server took 3.
    i.record(ms(9), ms(5), said(ServerTime::Took(3_000)));
    i.record(ms(4), ms(4), said(ServerTime::Invalid));
    // More than the client measured: a clock that cannot be right.
    i.record(ms(4), ms(4), said(ServerTime::Took(4_001)));
    i.record(ms(4), ms(4), said(ServerTime::Unknown));
    let server = i.server_time().expect("one server time").to_histogram();
    let overhead = i.overhead().expect("one overhead").to_histogram();
    assert_eq!((server.len(), overhead.len()), (1, 1));
    assert!(server.equivalent(server.value_at_quantile(0.5), 3_000));
    assert!(overhead.equivalent(overhead.value_at_quantile(0.5), 2_000));
    assert_eq!(i.server_time_invalid, 2);
    assert_eq!(i.latency.len(), 4);
    let mut sum = StepInterval::new(60_000_000);
    sum.add(&i);
    assert_eq!(sum.server_time_invalid, 2);
    assert_eq!(sum.server_time().map(Tally::len), Some(1));
    i.clear();
    assert_eq!(i.server_time_invalid, 0);
    assert_eq!(i.server_time().map(Tally::len), Some(0));
}

/// The corrected view is what `HdrHistogram`'s `record_correct` makes of the same latencies
/// and expected intervals (and the plain latency where none is known yet).
#[test]
fn the_corrected_view_is_hdr_record_correct_of_the_latencies() {
    let mut interval = StepInterval::new(60_000_000);
    let mut truth = crate::metrics::histograms::latency_histogram();
    let cases = [
        (1, Some(2)),
        (10, Some(2)),
        (1_000, Some(3)),
        (5, None),
        (7, Some(7)),
    ];
    for (ms, expected) in cases {
        let latency = Duration::from_millis(ms);
        interval.record(latency, latency, Outcome::ok());
        interval.record_corrected(latency, expected.map(Duration::from_millis));
        let us = ms * 1000;
        match expected {
            Some(e) => truth.record_correct(us, e * 1000).expect("records"),
            None => truth.record(us).expect("records"),
        }
    }
    let raw = interval.latency.view(Percentiles::of);
    assert_eq!(raw.count, 5);
    let corrected = interval.corrected(&raw);
    assert_eq!(corrected, Percentiles::of(&truth));
    assert_eq!(corrected.count, truth.len());
    assert!(corrected.count > 300, "{corrected:?}");
    // The open model records none: no corrected view.
    let open = StepInterval::new(60_000_000);
    assert_eq!(open.corrected(&raw), Percentiles::default());
}
