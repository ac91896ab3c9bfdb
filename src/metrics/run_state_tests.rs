//! `RunState::merge`: every figure added, associatively; the series aligned by instant.

use super::*;
use crate::metrics::{Percentiles, snapshot_of};

/// A step's state with `latencies` (ms), all answered 200, and its tag values' own.
fn interval(latencies: &[u64], tags: &[(&str, &[u64])]) -> IntervalState {
    let histogram = |ms: &[u64]| {
        let mut h = latency_histogram();
        for v in ms {
            let _ = h.record(v * 1000);
        }
        encode(&h)
    };
    IntervalState {
        latency: histogram(latencies),
        statuses: vec![(200, latencies.len() as u64)],
        tags: (tags.iter())
            .map(|(value, ms)| (value.to_string(), interval(ms, &[])))
            .collect(),
        ..IntervalState::default()
    }
}

/// A run of one tagged step whose points each hold `points[i]` (ms).
fn run(points: &[&[u64]], tags: &[(&str, &[u64])]) -> RunState {
    let all: Vec<u64> = points.iter().flat_map(|p| p.iter().copied()).collect();
    let column = PointsState {
        requests: points.iter().map(|p| p.len() as u64).collect(),
        errors: vec![0; points.len()],
        latency: points.iter().map(|p| interval(p, &[]).latency).collect(),
    };
    RunState {
        high_us: 60_000_000,
        active_s: 0.25 * points.len() as f64,
        steps: vec![StepState {
            flow: "f".into(),
            name: "s".into(),
            tag_key: Some("cache".into()),
            sums: Some(interval(&all, tags)),
            ..StepState::default()
        }],
        total: interval(&all, &[]),
        series: SeriesState {
            at_s: (1..=points.len()).map(|i| 0.25 * i as f64).collect(),
            length_s: vec![0.25; points.len()],
            in_flight: vec![1; points.len()],
            level: vec![Some(2.0); points.len()],
            dropped: vec![0; points.len()],
            total: column.clone(),
            steps: vec![column],
        },
        ..RunState::default()
    }
}

#[test]
fn merging_adds_every_figure_and_is_associative() {
    let a = run(&[&[1, 2], &[3]], &[("hit", &[1, 2]), ("miss", &[3])]);
    let b = run(
        &[&[10], &[20, 30]],
        &[("miss", &[10, 20]), ("other", &[30])],
    );
    let c = run(&[&[5, 5], &[7]], &[("hit", &[5, 5, 7])]);
    let zero = Duration::ZERO;
    let all = RunState::merge(&[(&a, zero), (&b, zero), (&c, zero)], true).expect("merge");
    let ab = RunState::merge(&[(&a, zero), (&b, zero)], true).expect("merge");
    let then = RunState::merge(&[(&ab, zero), (&c, zero)], true).expect("merge");
    let (one, two) = (
        snapshot_of(&all).expect("snap"),
        snapshot_of(&then).expect("snap"),
    );
    assert_eq!(one.steps, two.steps);
    assert_eq!(one.total, two.total);
    let step = &one.steps[0];
    assert_eq!(step.requests, 9);
    let truth = |ms: &[u64]| {
        let mut h = latency_histogram();
        for v in ms {
            let _ = h.record(v * 1000);
        }
        h
    };
    let every = [1, 2, 3, 10, 20, 30, 5, 5, 7];
    assert_eq!(step.latency, Percentiles::of(&truth(&every)));
    // Tag values are matched by name, whichever shard met them first; other is last.
    let rows: Vec<(&str, u64)> = (step.tags.iter())
        .map(|t| (t.tag.as_ref().map_or("", |t| t.value.as_str()), t.requests))
        .collect();
    assert_eq!(rows, [("hit", 5), ("miss", 3), ("other", 1)]);
    // Points at the same instants add point by point; closed-model levels add up.
    assert_eq!(all.series.total.requests, [5, 4]);
    assert_eq!(all.series.level, [Some(6.0), Some(6.0)]);
    let series = &one.history.as_ref().expect("history").series;
    let first = truth(&[1, 2, 10, 5, 5]);
    assert_eq!(series.total.p50[0], Some(first.value_at_quantile(0.5)));
    assert_eq!(series.total.max[1], Some(truth(&[3, 20, 30, 7]).max()));
}

#[test]
fn a_later_shards_points_go_where_their_middle_falls_on_the_merged_clock() {
    let early = run(&[&[1], &[1], &[1], &[1]], &[]);
    let late = run(&[&[9], &[9]], &[]);
    // 300 ms later: its points cover 0.30..0.55 and 0.55..0.80 of the merged clock, whose
    // middles fall in the grid's second (0.25..0.5] and third (0.5..0.75] points.
    let parts = [
        (&early, Duration::ZERO),
        (&late, Duration::from_millis(300)),
    ];
    let merged = RunState::merge(&parts, false).expect("merge");
    assert_eq!(merged.series.total.requests, [1, 2, 2, 1]);
    // An open model's level is the rate every shard follows: the largest, not a sum.
    assert_eq!(merged.series.level, [Some(2.0); 4]);
    // 900 ms later, past the longest series: the grid goes on at its width for it.
    let parts = [
        (&early, Duration::ZERO),
        (&late, Duration::from_millis(900)),
    ];
    let merged = RunState::merge(&parts, true).expect("merge");
    assert_eq!(merged.series.at_s, [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]);
    assert_eq!(merged.series.total.requests, [1, 1, 1, 1, 1, 1]);
    // Each part's level counts from its first point to its last, not beyond: here they
    // never overlap, and then (600 ms later) they do, in the last two points.
    assert_eq!(merged.series.level, [Some(2.0); 6]);
    let parts = [
        (&early, Duration::ZERO),
        (&late, Duration::from_millis(600)),
    ];
    let merged = RunState::merge(&parts, true).expect("merge");
    assert_eq!(merged.series.level, [2.0, 2.0, 4.0, 4.0].map(Some));
    let other = run(&[&[1]], &[]);
    let mut renamed = other.clone();
    renamed.steps[0].name = "t".into();
    let refused = RunState::merge(
        &[(&other, Duration::ZERO), (&renamed, Duration::ZERO)],
        true,
    );
    assert!(refused.is_err());
}
