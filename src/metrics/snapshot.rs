//! The immutable picture of a run at one tick: what displays and reports read.
//!
//! Everything here is already computed (percentiles included), so a reader never touches a
//! histogram or the clock. Depends on `history`, `live`, `outcome`, `phases` and `samples` (types
//! only).

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::history::History;
use super::live::{Level, LoadEvent};
use super::outcome::ErrorClass;
use super::phases::ConnectionCounts;
use super::retries::RetryCounts;
use super::samples::Samples;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Load is being sent.
    Running,
    /// No new work starts; in-flight requests may finish (graceful stop).
    Stopping,
    /// Everything has ended; this is the final snapshot.
    Finished,
}

/// A latency distribution summarised, all in µs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
}

impl Percentiles {
    /// Summarises a histogram (all zeros when it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// The phases of a step's exchanges, each summarised over the requests that saw it: DNS,
/// connect and TLS once per new connection, the rest per response (see `metrics::Phases`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseStats {
    /// A new connection's name resolution (not for an IP address).
    pub dns: Percentiles,
    /// A new connection's TCP connect.
    pub connect: Percentiles,
    /// A new connection's TLS handshake.
    pub tls: Percentiles,
    /// Writing the request (HTTP/1.1 only: where the transport sees the write).
    pub write: Percentiles,
    /// From the request written (or handed over) to the response's first byte.
    pub ttfb: Percentiles,
    /// From the first byte to the end of the body.
    pub download: Percentiles,
}

impl PhaseStats {
    /// Each phase with its name as reports give it, in the order of an exchange.
    pub fn named(&self) -> [(&'static str, &Percentiles); 6] {
        [
            ("dns", &self.dns),
            ("connect", &self.connect),
            ("tls", &self.tls),
            ("write", &self.write),
            ("ttfb", &self.ttfb),
            ("download", &self.download),
        ]
    }

    /// Whether any phase was seen.
    pub fn any(&self) -> bool {
        self.named().iter().any(|(_, p)| p.count > 0)
    }
}

/// Count and latest message of one error class.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorStat {
    /// The class.
    pub class: ErrorClass,
    /// How many requests ended in it.
    pub count: u64,
    /// The most recent message seen.
    pub sample: String,
    /// Run time at which it was last seen.
    pub last_seen: Duration,
}

/// The last tick's figures of one step (or of the whole run).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntervalStats {
    /// How long the interval lasted.
    pub length: Duration,
    /// Requests completed in it.
    pub requests: u64,
    /// Of those, how many were errors.
    pub errors: u64,
    /// Latency of its responses.
    pub latency: Percentiles,
    /// The server's own time of the responses that said it.
    pub server_time: Percentiles,
}

impl IntervalStats {
    /// Requests per second over the interval.
    pub fn rps(&self) -> f64 {
        per_second(self.requests, self.length)
    }

    /// Errors per second over the interval.
    pub fn eps(&self) -> f64 {
        per_second(self.errors, self.length)
    }

    /// Errors as a fraction of the interval's requests (0 without requests).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// Cumulative figures of one step, or of the whole run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepStats {
    /// The flow the step belongs to (empty for the whole-run total).
    pub flow: String,
    /// The step's name (`total` for the whole run).
    pub name: String,
    /// Requests completed: a response or an error (interrupted ones excluded).
    pub requests: u64,
    /// Requests that ended in an error class (unexpected statuses included).
    pub errors: u64,
    /// Requests cut off by the hard stop.
    pub interrupted: u64,
    /// Requests per second over the run's active time.
    pub rps: f64,
    /// Body bytes received.
    pub bytes: u64,
    /// Latency from the planned start to the end of the body, responses only.
    pub latency: Percentiles,
    /// Service time from the actual send, responses only.
    pub service: Percentiles,
    /// Closed model: the latency as a corrected view has it (each user's latency also
    /// recorded with `HdrHistogram`'s `record_correct`, the user's recent median time per
    /// iteration the expected interval), µs. Never mixed with the raw figures.
    pub corrected: Percentiles,
    /// Open model: actual send − planned start of each iteration's first request.
    pub send_lag: Percentiles,
    /// The time the server says it spent (`X-Process-Time`, `Server-Timing`), for the
    /// responses that said it.
    pub server_time: Percentiles,
    /// Service time minus server time, for the same responses: the time spent outside the
    /// server's own timer (network, queueing, parsing, the framework around it).
    pub overhead: Percentiles,
    /// Responses whose server time could not be right (not a number, negative, or more
    /// than the service time): counted, not recorded.
    pub server_time_invalid: u64,
    /// The phases of its exchanges, where the transport saw them.
    pub phases: PhaseStats,
    /// Its requests' connections: new, reused, and remade after the server closed one (all
    /// zero when the transport does not say).
    pub connections: ConnectionCounts,
    /// A step with `retry:` (and the total, when one has): how its exchanges' attempts came
    /// out; `None` until one ended.
    pub retries: Option<RetryStats>,
    /// Responses per status code, ascending.
    pub statuses: Vec<(u16, u64)>,
    /// Errors per class, most frequent first.
    pub errors_by_class: Vec<ErrorStat>,
    /// The step's checks, in the order written (empty for the total).
    pub checks: Vec<CheckStat>,
    /// Its latencies on the `BUCKET_BOUNDS` ladder (as `Snapshot::distribution`).
    pub distribution: Vec<Bucket>,
    /// The last tick alone.
    pub interval: IntervalStats,
    /// For a tag value's row: the tag and the value (`from_cache`, `true`).
    pub tag: Option<Tag>,
    /// For a tagged step: its figures per tag value (each a row of its own, in the order
    /// the values were first seen, `other` last).
    pub tags: Vec<StepStats>,
    /// A step's failure samples and slowest exchanges over the run, redacted (empty for the
    /// total and a tag value's row). Shared: a snapshot's copy costs a count.
    pub samples: Arc<Samples>,
}

/// A step's retries over the run, as a snapshot shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RetryStats {
    /// The counts.
    pub counts: RetryCounts,
    /// Attempts per exchange that succeeded (1.0 when none needed a retry; 0 with none).
    pub attempts_per_success: f64,
    /// The whole exchange: first attempt's start to last attempt's end, in µs.
    pub exchange: Percentiles,
}

impl RetryStats {
    /// The summary of `counts` with the exchanges' times `exchange`.
    pub(super) fn of(counts: RetryCounts, exchange: Percentiles) -> Self {
        let attempts_per_success = if counts.successes == 0 {
            0.0
        } else {
            counts.success_attempts as f64 / counts.successes as f64
        };
        Self {
            counts,
            attempts_per_success,
            exchange,
        }
    }

    /// Requests that were retries, per request of the step (`requests`).
    pub fn retry_rate(&self, requests: u64) -> f64 {
        if requests == 0 {
            0.0
        } else {
            self.counts.retries as f64 / requests as f64
        }
    }
}

/// A tag value's row: which tag, which value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tag {
    /// The tag's name (`from_cache`, `x-cache`, `status`).
    pub key: String,
    /// The value, `(none)` when the response did not say, `other` past `max_values`.
    pub value: String,
}

impl StepStats {
    /// `flow / step`, or just the name for the whole-run total; a tag value's row adds
    /// `[key=value]`.
    pub fn label(&self) -> String {
        let mut label = if self.flow.is_empty() {
            self.name.clone()
        } else {
            format!("{} / {}", self.flow, self.name)
        };
        if let Some(tag) = &self.tag {
            label.push_str(&format!(" [{}={}]", tag.key, tag.value));
        }
        label
    }

    /// Fraction of completed requests that were errors (0 when nothing completed).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    /// Fraction of the requests sent that the hard stop cut off (0 when none was sent). A
    /// target that never answers shows here, not in `error_rate`: its requests never end.
    pub fn interrupted_rate(&self) -> f64 {
        let sent = self.requests + self.interrupted;
        if sent == 0 {
            0.0
        } else {
            self.interrupted as f64 / sent as f64
        }
    }
}

/// One check of a step over the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckStat {
    /// The check's name.
    pub name: String,
    /// Responses it was evaluated on (every response of the step).
    pub evaluated: u64,
    /// Responses that failed it.
    pub failed: u64,
    /// A soft check (`soft: true`): its failures are counted here, never as errors.
    pub soft: bool,
}

/// What the run is asked to do right now, and what was changed live.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    /// The current load level (`None` before the engine reports one).
    pub level: Option<Level>,
    /// The run's planned length, if it has one.
    pub planned: Option<Duration>,
    /// Whether sending is paused.
    pub paused: bool,
    /// Total time paused so far (excluded from rates).
    pub paused_for: Duration,
    /// Live changes so far, in order.
    pub events: Vec<LoadEvent>,
    /// Why the run stopped early, when it was neither its length nor the user (e.g. a data
    /// file's unique rows ran out).
    pub stop_reason: Option<String>,
    /// Why the user's last live change was refused, while it is recent (the dashboard's
    /// footer shows it).
    pub notice: Option<String>,
    /// A capacity search's progress and, once it ended, its answer.
    pub capacity: Option<super::CapacityReport>,
}

/// One bar of the latency distribution: responses with latency up to `upper_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Upper bound of the bucket in µs (inclusive); the last bucket is open-ended.
    pub upper_us: u64,
    /// Responses in the bucket.
    pub count: u64,
}

/// Upper bounds of the distribution's buckets (µs): a 1-2-5 ladder from 1 ms to 10 s.
pub const BUCKET_BOUNDS: [u64; 13] = [
    1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000,
    5_000_000, 10_000_000,
];

/// The whole run at one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Tick number, counting from 1 (0 for the empty snapshot before the first tick).
    pub seq: u64,
    /// Time since the run started.
    pub elapsed: Duration,
    /// Load level, pause state and live changes (filled in by whoever owns the control).
    pub live: LiveState,
    /// Latency distribution of all responses so far, one entry per `BUCKET_BOUNDS` and a
    /// final open-ended one.
    pub distribution: Vec<Bucket>,
    /// Running, stopping or finished.
    pub phase: Phase,
    /// Requests sent and not yet ended.
    pub in_flight: u64,
    /// Open model: planned arrivals that did not start (`max_in_flight` reached, or due as
    /// the run stopped).
    pub dropped: u64,
    /// Closed model: stretches in which requests were in flight and none ended (see
    /// `metrics::stalls`), oldest first.
    pub stalls: Arc<Vec<super::Stall>>,
    /// All steps together.
    pub total: StepStats,
    /// One entry per step, in plan order.
    pub steps: Vec<StepStats>,
    /// Each flow's completed iterations, in plan order.
    pub flows: Vec<FlowStats>,
    /// The final snapshot only: the time series and the encoded histograms.
    pub history: Option<Arc<History>>,
}

/// One flow's iterations over the run: those that ran every step, failed or not (a stop,
/// or an `abort_iteration` before the last step, cuts an iteration short, and it is not
/// counted here).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowStats {
    /// The flow's name.
    pub name: String,
    /// Completed iterations.
    pub iterations: u64,
    /// From each iteration's planned start to the end of its last step (think times between
    /// steps included, the one after the last step not), µs.
    pub duration: Percentiles,
}

impl Snapshot {
    /// The snapshot of a run that has not started.
    pub fn empty(names: &[(String, String)]) -> Self {
        let stats = |flow: &str, name: &str| StepStats {
            flow: flow.to_string(),
            name: name.to_string(),
            ..StepStats::default()
        };
        Self {
            seq: 0,
            elapsed: Duration::ZERO,
            live: LiveState::default(),
            distribution: Vec::new(),
            phase: Phase::Running,
            in_flight: 0,
            dropped: 0,
            stalls: Arc::default(),
            total: stats("", "total"),
            steps: names.iter().map(|(f, s)| stats(f, s)).collect(),
            flows: Vec::new(),
            history: None,
        }
    }
}

/// `count / length` in events per second (0 for an empty length).
pub fn per_second(count: u64, length: Duration) -> f64 {
    let secs = length.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}
