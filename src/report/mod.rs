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
