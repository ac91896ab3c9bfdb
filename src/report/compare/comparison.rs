//! What a comparison says: a `Row` per step and figure (`Metric`) with both values and
//! its `Verdict`, gathered in a `Comparison` with the steps found on one side only.
//!
//! Depends on `format` only (a value as tables show it). The lowest file of `compare`:
//! the reading, judging and table files all use these types.

use crate::format::format_latency;

/// What a change means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Changed for the better, beyond the tolerance and chance.
    Improved,
    /// Changed for the worse, beyond the tolerance and chance.
    Regressed,
    /// Within the tolerance, or what chance explains.
    WithinNoise,
}

impl Verdict {
    /// The word in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::WithinNoise => "within noise",
        }
    }
}

/// A compared figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Requests per second.
    Rps,
    /// The median latency.
    P50,
    /// The 99th percentile latency.
    P99,
    /// The share of requests that failed.
    ErrorRate,
}

impl Metric {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// Its name in the compare table.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Metric::Rps => "rps",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error rate",
        }
    }

    /// A value of it as tables show it.
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::Rps => format!("{v:.1}/s"),
            Metric::P50 | Metric::P99 => format_latency((v * 1000.0).round() as u64),
            Metric::ErrorRate => format!("{:.2}%", v * 100.0),
        }
    }
}

/// One figure of one step in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `flow / step`, or `total`.
    pub step: String,
    /// The figure compared.
    pub metric: Metric,
    /// Rps per second, latencies in ms, error rate a fraction; `None`: no data.
    pub base: Option<f64>,
    /// The new result's value, in the same unit.
    pub new: Option<f64>,
    /// What the change means.
    pub verdict: Verdict,
    /// Why, when it is not obvious from the figures (`no data`, `CI overlaps`).
    pub note: &'static str,
}

impl Row {
    /// The relative change, new against base.
    pub fn change(&self) -> Option<f64> {
        match (self.base, self.new) {
            (Some(b), Some(n)) if b != 0.0 => Some((n - b) / b),
            _ => None,
        }
    }

    /// `+4.2%`, or `—` when there is no base to compare to.
    pub fn change_text(&self) -> String {
        match (self.change(), self.base, self.new) {
            (Some(c), _, _) => format!("{:+.1}%", c * 100.0),
            (None, Some(b), Some(n)) if b == n => "+0.0%".to_string(),
            (None, Some(_), Some(_)) => "new".to_string(),
            _ => "—".to_string(),
        }
    }
}

/// Every row, and the steps found on one side only.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Each figure of each step found in both, the total first.
    pub rows: Vec<Row>,
    /// Steps of the base that the new result does not have.
    pub only_in_base: Vec<String>,
    /// Steps of the new result that the base does not have.
    pub only_in_new: Vec<String>,
    /// The relative change below which nothing counts.
    pub tolerance: f64,
    /// Why the two results may not compare (another scenario, other steps).
    pub warnings: Vec<String>,
}

impl Comparison {
    /// Whether any figure regressed.
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.verdict == Verdict::Regressed)
    }

    /// The row of `step`'s `metric`.
    pub fn row(&self, step: &str, metric: Metric) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.step == step && r.metric == metric)
    }
}
