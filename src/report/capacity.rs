//! A capacity search in the reports: its verdict (the run's, in place of thresholds), its
//! table of holds for the summary and the HTML report, and its JSON document.
//!
//! Depends on `metrics` (the search's report) and the report's `Verdict`. Invariant: rates
//! are arrivals per second everywhere; a search the run stopped before its answer fails.

use std::fmt::Write as _;

use serde::Serialize;

use super::Verdict;
use crate::format::format_latency;
use crate::metrics::{CapacityReport, HoldVerdict};

/// The search's verdict: passed when it found a capacity.
pub fn verdict(report: Option<&CapacityReport>) -> Verdict {
    let Some(r) = report else {
        return Verdict {
            threshold: "find_capacity".into(),
            value: None,
            observed: "no hold was judged".into(),
            passed: false,
        };
    };
    Verdict {
        threshold: "find_capacity".into(),
        value: r.max_held_rate,
        observed: answer(r),
        passed: r.found(),
    }
}

/// The answer in one line: `held 1,050/s; broke at 1,100/s (p99 212ms >= 200ms)`.
pub fn answer(r: &CapacityReport) -> String {
    let held = r.max_held_rate.map(rate);
    let broke = r.broke_at_rate.map(rate);
    let limit = r.limit.clone().unwrap_or_default();
    match (r.outcome, held.clone(), broke) {
        (Some("found"), Some(h), Some(b)) => format!("held {h}; broke at {b} ({limit})"),
        (Some("found"), Some(h), None) => format!("held {h}, the most asked for (max)"),
        (Some("start broke"), _, Some(b)) => format!("even the start, {b}, broke ({limit})"),
        (Some("generator limit"), h, _) => format!(
            "the generator was the limit ({limit}); the service held {}",
            h.unwrap_or_else(|| "no rate tried".into())
        ),
        (Some("unstable"), _, _) => {
            "no stable answer: the rate found broke on confirmation three times".into()
        }
        _ => format!(
            "stopped before an answer ({} so far)",
            held.map_or("no rate held".into(), |h| format!("held {h}"))
        ),
    }
}

/// Arrivals per second as the reports write them.
fn rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{}/s", crate::format::thousands(r.round() as u64))
    } else {
        format!("{r:.1}/s")
    }
}

/// The summary's lines: the answer, then one row per hold.
pub fn lines(out: &mut String, report: &CapacityReport) {
    let _ = writeln!(out, "capacity  {}", answer(report));
    let _ = writeln!(
        out,
        "  {:<11} {:>10} {:>10} {:>10} {:>10} {:>8}  verdict",
        "stage", "rate", "achieved", "p50", "p99", "errors"
    );
    for h in &report.holds {
        let why = h.why.as_deref().map_or(String::new(), |w| format!(": {w}"));
        let _ = writeln!(
            out,
            "  {:<11} {:>10} {:>10} {:>10} {:>10} {:>7.2}%  {}{why}",
            h.stage,
            rate(h.rate),
            rate(h.achieved_rate),
            format_latency(h.p50_us),
            format_latency(h.p99_us),
            h.error_rate * 100.0,
            h.verdict.word(),
        );
    }
}

/// The JSON's `capacity`.
#[derive(Serialize)]
pub struct CapacityDoc {
    max_held_rate: Option<f64>,
    broke_at_rate: Option<f64>,
    limit: Option<String>,
    outcome: Option<&'static str>,
    holds: Vec<HoldDoc>,
}

#[derive(Serialize)]
struct HoldDoc {
    stage: &'static str,
    rate: f64,
    achieved_rate: f64,
    requests: u64,
    p50: f64,
    p99: f64,
    error_rate: f64,
    verdict: &'static str,
    why: Option<String>,
    at_s: f64,
    duration_s: f64,
}

impl CapacityDoc {
    /// The search as the JSON reports it (latencies in ms, like every latency there).
    pub fn of(r: &CapacityReport) -> Self {
        Self {
            max_held_rate: r.max_held_rate,
            broke_at_rate: r.broke_at_rate,
            limit: r.limit.clone(),
            outcome: r.outcome,
            holds: (r.holds.iter())
                .map(|h| HoldDoc {
                    stage: h.stage,
                    rate: h.rate,
                    achieved_rate: h.achieved_rate,
                    requests: h.requests,
                    p50: h.p50_us as f64 / 1000.0,
                    p99: h.p99_us as f64 / 1000.0,
                    error_rate: h.error_rate,
                    verdict: match h.verdict {
                        HoldVerdict::Held => "held",
                        HoldVerdict::Broke => "broke",
                        HoldVerdict::Generator => "generator",
                    },
                    why: h.why.clone(),
                    at_s: h.at.as_secs_f64(),
                    duration_s: h.length.as_secs_f64(),
                })
                .collect(),
        }
    }
}
