//! What a capacity search reports (`CapacityReport`): its stage while it runs, each hold's
//! figures and verdict, and its answer. Data only: the search itself is the engine's.
//!
//! Depends on nothing else in `metrics`.

use std::time::Duration;

/// How a hold went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldVerdict {
    /// Every limit held.
    Held,
    /// A limit broke.
    Broke,
    /// The generator could not keep up: the hold says nothing of the service.
    Generator,
}

impl HoldVerdict {
    /// The word reports use.
    pub fn word(self) -> &'static str {
        match self {
            HoldVerdict::Held => "held",
            HoldVerdict::Broke => "broke",
            HoldVerdict::Generator => "generator limit",
        }
    }
}

/// One hold: its rate and what its judged part measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityHold {
    /// The stage it ran in (`raising`, `bisecting`, `confirming`).
    pub stage: &'static str,
    /// The rate asked for (arrivals per second).
    pub rate: f64,
    /// Iterations that ended per second over its judged part.
    pub achieved_rate: f64,
    /// Requests in its judged part.
    pub requests: u64,
    /// Latency percentiles of its judged part (µs).
    pub p50_us: u64,
    /// 99th percentile (µs).
    pub p99_us: u64,
    /// Errors over requests in its judged part.
    pub error_rate: f64,
    /// The verdict.
    pub verdict: HoldVerdict,
    /// The limit that broke (`p99 212ms > 200ms`), or why the generator was the limit.
    pub why: Option<String>,
    /// When it began, from the start of the run.
    pub at: Duration,
    /// How long it ran (its warm-up included).
    pub length: Duration,
}

/// A capacity search: where it is, its holds, its answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapacityReport {
    /// `raising`, `bisecting`, `confirming` or `done`.
    pub stage: &'static str,
    /// The rate of the hold running now (while it runs).
    pub rate: f64,
    /// When the hold running now began, from the start of the run (while it runs).
    pub began: Duration,
    /// Every hold judged so far, in order.
    pub holds: Vec<CapacityHold>,
    /// The highest rate that held.
    pub max_held_rate: Option<f64>,
    /// The lowest rate that broke.
    pub broke_at_rate: Option<f64>,
    /// The limit that broke at `broke_at_rate`, or why the search stopped.
    pub limit: Option<String>,
    /// How it ended: `found`, `start broke`, `generator limit`, `unstable` (`None` while it
    /// runs, or when the run stopped first).
    pub outcome: Option<&'static str>,
}

impl CapacityReport {
    /// Whether the search found a capacity (the run's verdict).
    pub fn found(&self) -> bool {
        self.outcome == Some("found")
    }
}
