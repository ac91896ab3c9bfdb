//! Reports of a finished (or interrupted) run, and what the run hands to the user at its
//! end: the text summary (`text`); one exporter per file format behind `export::Exporter` —
//! JSON (`json`), JUnit (`junit`), HTML (`html`), and the CSV time series (`csv`) and HDR
//! interval log (`hdrlog`) that stream tick by tick; the thresholds' `Verdict`s and the
//! health warnings; the comparison with a saved result (`compare`, `baseline`, `saved`);
//! which outputs a run opens (`outputs`); and the exit code its ending maps to (`exit`).
//! Writing files in place is `staged`'s. The live Prometheus endpoint is not here but in
//! `prom`: it serves snapshots while the run goes on.
//!
//! Everything reads a final `Snapshot` plus the `RunInfo` that describes the run; nothing
//! here computes a statistic of its own. Depends on `metrics` (with the `Connections` value
//! a transport counted), `scenario` (thresholds, the plan a `RunInfo` is made of), `files`,
//! `out` and `format`; never on the engine, nor on the wiring (`run`, `session`) that calls
//! it.

pub mod baseline;
mod capacity;
pub mod compare;
pub mod csv;
pub mod exit;
pub mod export;
pub mod hdrlog;
pub mod html;
mod info;
mod json;
mod junit;
pub mod merge;
pub mod outputs;
mod samples;
pub mod saved;
pub mod shards;
pub mod staged;
mod text;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use baseline::{SavedRun, read_result};
pub use info::insecure_applies;
pub use json::{SCHEMA_VERSION, to_json};
pub use junit::to_junit;
pub use outputs::{OutputPaths, Outputs};
pub use samples::sample_lines;
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
    /// Each threshold and how the run did against it, in the order written.
    pub verdicts: Vec<Verdict>,
    /// `--baseline`: this run compared with a saved one.
    pub baseline: Option<Baseline>,
    /// TLS certificates were not verified (`--insecure`, `tls.insecure`).
    pub insecure: bool,
    /// The HTTP version and the connections made, as the transport counted them.
    pub connections: Option<crate::metrics::Connections>,
    /// The proxy requests went through, as named in the summary (no credentials).
    pub proxy: Option<String>,
    /// `--phases`: the summary shows each step's phases and connections.
    pub phases: bool,
    /// A split plan: the shards this result holds (a shard's own run, or a merge).
    pub shards: Option<shards::Shards>,
}

/// The comparison with a saved run, for the summary.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The saved result's path, as given.
    pub name: String,
    /// Step by step.
    pub comparison: compare::Comparison,
}

/// One threshold judged on the final figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The threshold as written (tidied): `checkout / pay: p99 < 200ms`.
    pub threshold: String,
    /// The figure it read as reports give it (ms, a fraction, per second); `None`: no data.
    pub value: Option<f64>,
    /// The figure as the summary shows it (`212.4ms`, `0.52%`, `no data`).
    pub observed: String,
    /// Whether it held (a threshold without data fails).
    pub passed: bool,
}

/// Judges every threshold of `thresholds` on `snap`.
pub fn verdicts(thresholds: &[crate::scenario::Threshold], snap: &Snapshot) -> Vec<Verdict> {
    thresholds
        .iter()
        .map(|t| {
            let value = t.observe(snap);
            Verdict {
                threshold: t.text.clone(),
                value: value.map(|v| t.reported(v)),
                observed: t.show(value),
                passed: t.passes(value),
            }
        })
        .collect()
}

/// A health warning: a few words for the dashboard's header, a sentence for the summary
/// and the JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub short: String,
    pub long: String,
}

/// Warnings about the run's health that its figures alone would hide: a target that never
/// answered (its requests are interrupted, not errors, so the error rate reads 0 %), one
/// that failed every request, a run that sent nothing, an open model that dropped more
/// than 1 % of its schedule or started its arrivals late (send lag p99 over 1 ms).
pub fn health(info: &RunInfo, snap: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = warnings(snap, info.load.graceful_stop)
        .into_iter()
        .map(|w| w.long)
        .collect();
    if info.insecure {
        out.push(
            "TLS certificates were not verified (--insecure): the figures are real, but nothing \
             proved the target is the server it claims to be"
                .to_string(),
        );
    }
    out
}

/// The health warnings of `snap`, as of its tick (the dashboard reads them live; those that
/// can only be told at the end, like "nothing was sent", wait for the final snapshot).
pub fn warnings(snap: &Snapshot, graceful_stop: std::time::Duration) -> Vec<Warning> {
    let t = &snap.total;
    let finished = snap.phase == crate::metrics::Phase::Finished;
    let mut out = Vec::new();
    let mut warn = |short: String, long: String| out.push(Warning { short, long });
    if finished && t.requests == 0 && t.interrupted > 0 {
        warn(
            "no response: the target never answered".into(),
            format!(
                "every request was interrupted: the target never answered within the run and \
                 its graceful stop ({}); check the target, or give it longer (graceful_stop, \
                 timeout)",
                humantime::format_duration(graceful_stop)
            ),
        );
    } else if t.interrupted > 0 && t.interrupted_rate() >= 0.1 {
        let pct = t.interrupted_rate() * 100.0;
        warn(
            format!("{pct:.0}% interrupted"),
            format!("{pct:.1}% of the requests sent were interrupted before the target answered"),
        );
    }
    if t.requests > 0 && t.errors == t.requests {
        warn(
            "every request failed".into(),
            "every request failed; see the errors below".into(),
        );
    }
    if finished && t.requests == 0 && t.interrupted == 0 {
        warn(
            "nothing was sent".into(),
            "no request was sent: nothing was measured (check the load's duration, \
             iterations and the setup flow)"
                .into(),
        );
    }
    let planned = t.requests + t.interrupted + snap.dropped;
    if snap.dropped > 0 && planned > 0 && snap.dropped * 100 > planned {
        let pct = snap.dropped as f64 * 100.0 / planned as f64;
        warn(
            format!("{pct:.1}% of arrivals dropped"),
            format!(
                "{pct:.1}% of the planned arrivals were dropped (max_in_flight reached): the \
                 target could not keep up with the rate, and the figures describe only what \
                 was sent"
            ),
        );
    }
    if t.send_lag.count > 0 && t.send_lag.p99 > 1_000 {
        let lag = crate::format::format_latency(t.send_lag.p99);
        warn(
            format!("send lag p99 {lag}: the generator is late"),
            format!(
                "the generator started 1% of its arrivals {lag} or more late (send lag p99): \
                 this machine is too busy to keep the schedule, and latencies include the wait"
            ),
        );
    }
    if let Some(longest) = snap.stalls.iter().max_by_key(|s| s.length) {
        let n = snap.stalls.len();
        let took = crate::format::format_latency(longest.length.as_micros() as u64);
        warn(
            format!("{n} stall(s), up to {took}"),
            format!(
                "{n} stall(s): requests were in flight and none ended, the longest {took} (at \
                 {:.1}s, {} in flight); a closed model's users wait through a stall instead of \
                 sending, so its percentiles hide it: see the corrected view \
                 (latency_corrected_ms) and the stalls list",
                longest.at.as_secs_f64(),
                longest.in_flight
            ),
        );
    }
    out
}
