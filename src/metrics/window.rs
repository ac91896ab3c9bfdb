//! A window of ticks (`Window`): the figures of a stretch of the run on their own, not the
//! run's totals, read as a `Snapshot` so that any threshold judges them as it judges a run.
//! The capacity search judges each hold on one.
//!
//! Depends on `aggregate` (the ticks' intervals, and how a step's figures are summarised),
//! `interval` and `snapshot`. Invariant: a window's figures are exactly those of the ticks
//! added since it was cleared (percentiles from the sum of their histograms).

use std::time::Duration;

use super::aggregate::{Aggregator, NEVER, step_stats};
use super::interval::StepInterval;
use super::snapshot::{IntervalStats, Snapshot, per_second};
use crate::redact::Redactor;

/// The figures of the ticks added since the window was cleared.
pub struct Window {
    names: Vec<(String, String)>,
    steps: Vec<StepInterval>,
    total: StepInterval,
    /// How long the ticks added cover.
    length: Duration,
    /// The run's dropped arrivals when the window was cleared, and at its last tick.
    dropped: (u64, u64),
}

impl Window {
    /// An empty window over the steps named `names` (flow, step), its histograms reaching
    /// `high_us`.
    pub fn new(names: Vec<(String, String)>, high_us: u64) -> Self {
        Self {
            steps: names.iter().map(|_| StepInterval::new(high_us)).collect(),
            names,
            total: StepInterval::new(high_us),
            length: Duration::ZERO,
            dropped: (0, 0),
        }
    }

    /// Empties the window; `dropped`: the run's dropped arrivals so far.
    pub fn clear(&mut self, dropped: u64) {
        for s in &mut self.steps {
            s.clear();
        }
        self.total.clear();
        self.length = Duration::ZERO;
        self.dropped = (dropped, dropped);
    }

    /// Adds the tick `agg` just took (its length `length`, the run's dropped arrivals then
    /// `dropped`).
    pub fn add(&mut self, agg: &Aggregator, length: Duration, dropped: u64) {
        let (steps, total) = agg.last_intervals();
        for (into, tick) in self.steps.iter_mut().zip(steps) {
            into.add(tick);
        }
        self.total.add(total);
        self.length += length;
        self.dropped.1 = dropped;
    }

    /// How long the ticks added cover.
    pub fn length(&self) -> Duration {
        self.length
    }

    /// The window as a snapshot: each step's figures and the total over the window, rates
    /// per second of it, its dropped arrivals.
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot::empty(&self.names);
        let none = Redactor::default();
        let interval = || IntervalStats {
            length: self.length,
            ..IntervalStats::default()
        };
        let stats = |names: (String, String), s: &StepInterval| {
            step_stats(names, (s, &NEVER), interval(), self.length, &none)
        };
        snap.steps = (self.names.iter().cloned())
            .zip(&self.steps)
            .map(|(names, s)| stats(names, s))
            .collect();
        snap.total = stats((String::new(), "total".to_string()), &self.total);
        snap.elapsed = self.length;
        snap.dropped = self.dropped.1.saturating_sub(self.dropped.0);
        snap.total.rps = per_second(snap.total.requests, self.length);
        snap
    }
}
