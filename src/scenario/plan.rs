//! The validated, immutable description of a run: what the engine executes and the reports
//! describe. A `Plan` cannot hold an invalid value; nothing downstream re-checks it.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;

use super::units::StatusSet;

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario's name (the file stem if the file gives none).
    pub name: String,
    /// Where the scenario came from (`None` for an ad-hoc `--url` run).
    pub source: Option<PathBuf>,
    /// Where requests go.
    pub target: Target,
    /// How much load and when to stop.
    pub load: Load,
    /// The flows, each with at least one step.
    pub flows: Vec<Flow>,
}

impl Plan {
    /// Every step of every flow, in order; `Step::id` indexes this sequence.
    pub fn steps(&self) -> impl Iterator<Item = (&Flow, &Step)> {
        self.flows
            .iter()
            .flat_map(|f| f.steps.iter().map(move |s| (f, s)))
    }

    /// The number of steps over all flows.
    pub fn step_count(&self) -> usize {
        self.flows.iter().map(|f| f.steps.len()).sum()
    }

    /// The longest timeout of any step: the histograms must cover it.
    pub fn longest_timeout(&self) -> Duration {
        self.steps()
            .map(|(_, s)| s.timeout)
            .max()
            .unwrap_or(Duration::from_secs(30))
    }
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The embedded demo service, started in-process on an ephemeral loopback port.
    Demo,
    /// A base URL such as `http://127.0.0.1:8000` (no trailing slash).
    Url(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Demo => f.write_str("demo"),
            Target::Url(u) => f.write_str(u),
        }
    }
}

/// The load model, its size, and the stop conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Closed (virtual users) or open (arrival rate).
    pub model: Model,
    /// Stop starting work after this long.
    pub duration: Option<Duration>,
    /// Stop after this many flow iterations (closed) or arrivals (open), over all users.
    pub iterations: Option<u64>,
    /// How long in-flight requests may finish after the stop before they are interrupted.
    pub graceful_stop: Duration,
}

/// How work is started.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// `vus` virtual users, each running flows back to back.
    Closed {
        /// Number of virtual users.
        vus: u64,
    },
    /// Arrivals at a fixed rate, independent of how fast the target answers.
    Open {
        /// Arrivals per second.
        rate: f64,
        /// Arrivals beyond this many concurrent iterations are dropped (and counted).
        max_in_flight: u64,
    },
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Model::Closed { vus } => write!(f, "closed, {vus} VUs"),
            Model::Open {
                rate,
                max_in_flight,
            } => write!(f, "open, {rate}/s (max {max_in_flight} in flight)"),
        }
    }
}

/// A named sequence of steps that a user runs as one iteration.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The flow's name.
    pub name: String,
    /// Relative frequency among flows (at least 1).
    pub weight: u64,
    /// The steps, at least one.
    pub steps: Vec<Step>,
}

/// One request and what its response must look like.
#[derive(Debug, Clone)]
pub struct Step {
    /// Index over all steps of the plan (metrics are kept per id).
    pub id: usize,
    /// The step's name (`METHOD url` if the file gives none).
    pub name: String,
    /// The HTTP method.
    pub method: Method,
    /// A path joined to the target, or a full URL; query parameters already appended.
    pub url: StepUrl,
    /// Request headers (defaults merged in).
    pub headers: HeaderMap,
    /// The request body, if any.
    pub body: Option<Bytes>,
    /// Time allowed for the whole exchange, including the body.
    pub timeout: Duration,
    /// Statuses that count as success.
    pub expect_status: StatusSet,
}

/// A step's address, before the target is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepUrl {
    /// Starts with `/`: appended to the target's base URL.
    Path(String),
    /// A complete `http(s)://` URL.
    Absolute(String),
}

impl StepUrl {
    /// The full URL for a given base (the target's URL without trailing slash).
    pub fn resolve(&self, base: &str) -> String {
        match self {
            StepUrl::Path(p) => format!("{base}{p}"),
            StepUrl::Absolute(u) => u.clone(),
        }
    }

    /// As written in the plan, for default step names.
    pub fn as_str(&self) -> &str {
        match self {
            StepUrl::Path(p) | StepUrl::Absolute(p) => p,
        }
    }
}
