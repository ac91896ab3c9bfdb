//! Reports of a finished (or interrupted) run: the text summary and the JSON document.
//!
//! Both read a final `Snapshot` plus the `RunInfo` that describes the run; neither computes a
//! statistic of its own. Depends on `metrics` and `scenario`.

mod json;
mod text;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use json::{SCHEMA_VERSION, to_json};
pub use text::summary;

use crate::metrics::Snapshot;
use crate::scenario::Load;

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The stop condition was reached (duration or iterations).
    Completed,
    /// A signal (Ctrl-C, SIGTERM) stopped it early.
    Interrupted,
}

impl Ending {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Completed => "completed",
            Ending::Interrupted => "interrupted",
        }
    }
}

/// What a report says about the run besides its figures.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file, if any.
    pub source: Option<PathBuf>,
    /// The base URL requests went to.
    pub target: String,
    /// Whether the target was the embedded demo service.
    pub demo: bool,
    /// The load as planned.
    pub load: Load,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// Time from start to the end of the last request.
    pub duration: Duration,
    /// How it ended.
    pub ending: Ending,
}

/// Warnings about the run's health that its figures alone would hide: a target that never
/// answered (its requests are interrupted, not errors, so the error rate reads 0 %), one
/// that failed every request, an open model that dropped much of its schedule.
pub fn health(info: &RunInfo, snap: &Snapshot) -> Vec<String> {
    let t = &snap.total;
    let mut warnings = Vec::new();
    if t.requests == 0 && t.interrupted > 0 {
        warnings.push(format!(
            "every request was interrupted: the target never answered within the run and its \
             graceful stop ({}); check the target, or give it longer (graceful_stop, timeout)",
            humantime::format_duration(info.load.graceful_stop)
        ));
    } else if t.interrupted > 0 && t.interrupted_rate() >= 0.1 {
        warnings.push(format!(
            "{:.1}% of the requests sent were interrupted before the target answered",
            t.interrupted_rate() * 100.0
        ));
    }
    if t.requests > 0 && t.errors == t.requests {
        warnings.push("every request failed; see the errors below".to_string());
    }
    let planned = t.requests + t.interrupted + snap.dropped;
    if snap.dropped > 0 && planned > 0 && snap.dropped * 10 >= planned {
        warnings.push(format!(
            "{:.1}% of the planned arrivals were dropped (max_in_flight reached): the target \
             could not keep up with the rate, and the figures describe only what was sent",
            snap.dropped as f64 * 100.0 / planned as f64
        ));
    }
    warnings
}
