//! A run's exact state (`RunState`): every step's whole-run intervals (`IntervalState`),
//! its samples, the flows' iteration durations, the series with each point's latency
//! histogram, the drops and stalls. A shard writes it in its result (`--shard`), and
//! `stampede merge` adds the shards' states (`RunState::merge`) into the state of one run
//! that did all their work, whose snapshot (`aggregate`'s `snapshot_of`) the reports read as
//! any run's. Adding is the aggregator's own (`StepInterval::add`, histograms added whole),
//! so a merged figure is what one process would have measured.
//!
//! The series are aligned by wall-clock instant, not by index: each part comes with its
//! offset from the earliest start, and a point goes to the merged point whose stretch holds
//! its middle. Depends on `interval` (the states), `history` (the encoding), `samples` and
//! `outcome`.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::aggregate::CheckName;
use super::histograms::{decode, encode, latency_histogram};
use super::interval::{IntervalState, StepInterval, class_named};
use super::samples::{BodyPreview, KEPT, Sample, Samples};
use super::stalls::Stall;
use crate::redact::Redactor;

/// A run's exact state, as a shard's result carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The histograms' highest value, µs.
    pub high_us: u64,
    /// The run time that counts for rates (pauses left out), seconds.
    pub active_s: f64,
    /// Each step, in plan order.
    pub steps: Vec<StepState>,
    /// The whole run's figures.
    pub total: IntervalState,
    /// When each error class was last seen in the whole run, seconds from its start.
    pub total_last_seen: Vec<(String, f64)>,
    /// Each flow's iteration durations: (flow, histogram).
    pub flows: Vec<(String, String)>,
    /// The run over time.
    pub series: SeriesState,
    /// Open model: arrivals dropped.
    pub dropped: u64,
    /// Closed model: stalls, (start s, length s, in flight).
    pub stalls: Vec<(f64, f64, u64)>,
}

/// One step's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    pub flow: String,
    pub name: String,
    /// Its `tag_by` key, if tagged.
    pub tag_key: Option<String>,
    /// Its checks, in order.
    pub checks: Vec<CheckName>,
    /// Its figures; `None` when it never recorded.
    pub sums: Option<IntervalState>,
    /// When each error class was last seen, seconds from the run's start.
    pub last_seen: Vec<(String, f64)>,
    /// Its failure samples, then its slowest exchanges (redacted).
    pub failures: Vec<SampleState>,
    pub slowest: Vec<SampleState>,
}

/// The series: a point per tick (or more on long runs), each with its latency histogram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    /// Each point's end from the run's start, and its length, seconds.
    pub at_s: Vec<f64>,
    pub length_s: Vec<f64>,
    pub in_flight: Vec<u64>,
    pub level: Vec<Option<f64>>,
    pub dropped: Vec<u64>,
    pub total: PointsState,
    pub steps: Vec<PointsState>,
}

/// One column set of the series: per point, requests, errors and the latency histogram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PointsState {
    pub requests: Vec<u64>,
    pub errors: Vec<u64>,
    pub latency: Vec<String>,
}

/// A sample as a result carries it (already redacted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleState {
    pub class: Option<String>,
    pub status: Option<u16>,
    pub message: String,
    pub method: String,
    pub url: Option<String>,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Option<Vec<(String, String)>>,
    /// (text, hex, bytes, cut).
    pub body: Option<(String, bool, u64, bool)>,
    pub server_time_us: Option<u64>,
    pub latency_us: u64,
    pub at_us: u64,
    pub phases_us: Vec<(String, u64)>,
}

/// The phase names a sample may list (its phases are named by `&'static str`).
const PHASE_NAMES: [&str; 6] = ["dns", "connect", "tls", "write", "ttfb", "download"];

/// Seconds from a file as a duration: zero for a negative or not-a-number value, at most
/// about 31,700 years (a crafted file must not make `Duration` panic).
pub fn secs(v: f64) -> Duration {
    Duration::try_from_secs_f64(v.clamp(0.0, 1e12)).unwrap_or_default()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl SampleState {
    /// `s` as a result carries it.
    pub fn of(s: &Sample) -> Self {
        Self {
            class: s.class.map(|c| c.as_str().to_string()),
            status: s.status,
            message: s.message.clone(),
            method: s.method.clone(),
            url: s.url.clone(),
            request_headers: s.request_headers.clone(),
            response_headers: s.response_headers.clone(),
            body: (s.body.as_ref()).map(|b| (b.text.clone(), b.hex, b.bytes, b.cut)),
            server_time_us: s.server_time.map(micros),
            latency_us: micros(s.latency),
            at_us: micros(s.at),
            phases_us: (s.phases.iter())
                .map(|(name, d)| (name.to_string(), micros(*d)))
                .collect(),
        }
    }

    /// The sample, `offset` later.
    pub fn sample(&self, offset: Duration) -> Sample {
        Sample {
            class: self.class.as_deref().and_then(class_named),
            status: self.status,
            message: self.message.clone(),
            method: self.method.clone(),
            url: self.url.clone(),
            request_headers: self.request_headers.clone(),
            response_headers: self.response_headers.clone(),
            body: (self.body.as_ref()).map(|(text, hex, bytes, cut)| BodyPreview {
                text: text.clone(),
                hex: *hex,
                bytes: *bytes,
                cut: *cut,
            }),
            server_time: self.server_time_us.map(Duration::from_micros),
            latency: Duration::from_micros(self.latency_us),
            at: Duration::from_micros(self.at_us) + offset,
            phases: (self.phases_us.iter())
                .filter_map(|(name, us)| {
                    let name = PHASE_NAMES.into_iter().find(|n| n == name)?;
                    Some((name, Duration::from_micros(*us)))
                })
                .collect(),
        }
    }
}

/// A step's samples from its state, `offset` later.
pub fn samples_of(step: &StepState, offset: Duration) -> Samples {
    Samples {
        failures: step.failures.iter().map(|s| s.sample(offset)).collect(),
        slowest: step.slowest.iter().map(|s| s.sample(offset)).collect(),
    }
}

/// One part of a merge: a shard's state, and how long after the earliest start it began.
pub type Part<'a> = (&'a RunState, Duration);

impl RunState {
    /// The state of one run that did the work of all `parts`: every figure added, the
    /// series aligned by wall-clock instant. `levels_add`: the load's level is a count the
    /// shards split (VUs), so the merged level is their sum; otherwise (a rate every shard
    /// follows whole) it is the largest. `Err`: the parts are not of one plan.
    pub fn merge(parts: &[Part<'_>], levels_add: bool) -> Result<RunState, String> {
        let Some(&(first, _)) = parts.first() else {
            return Err("nothing to merge".into());
        };
        for (state, _) in parts {
            let same = state.steps.len() == first.steps.len()
                && (state.steps.iter().zip(&first.steps))
                    .all(|(a, b)| a.flow == b.flow && a.name == b.name);
            if !same {
                return Err("the results have different steps".into());
            }
        }
        let high_us = parts.iter().map(|(s, _)| s.high_us).max().unwrap_or(2);
        let steps = (0..first.steps.len())
            .map(|i| merge_step(parts, i, high_us))
            .collect::<Result<Vec<_>, _>>()?;
        let totals: Vec<_> = parts.iter().map(|(s, _)| Some(&s.total)).collect();
        let (total, _) = add_states(&totals, high_us)?;
        let mut stalls: Vec<(f64, f64, u64)> = (parts.iter())
            .flat_map(|(s, off)| {
                (s.stalls.iter()).map(|&(at, len, n)| (at + off.as_secs_f64(), len, n))
            })
            .collect();
        stalls.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(RunState {
            high_us,
            // From the earliest start to the latest end: rates are over the whole span.
            active_s: (parts.iter())
                .map(|(s, off)| off.as_secs_f64() + s.active_s)
                .fold(0.0, f64::max),
            steps,
            total: total.unwrap_or_default(),
            total_last_seen: last_seen(parts.iter().map(|(s, off)| (&s.total_last_seen, *off))),
            flows: merge_flows(parts)?,
            series: merge_series(parts, levels_add)?,
            dropped: parts.iter().map(|(s, _)| s.dropped).sum(),
            stalls,
        })
    }
}

/// Step `i` of every part, added.
fn merge_step(parts: &[Part<'_>], i: usize, high_us: u64) -> Result<StepState, String> {
    let steps: Vec<&StepState> = parts.iter().map(|(s, _)| &s.steps[i]).collect();
    let sums: Vec<_> = steps.iter().map(|s| s.sums.as_ref()).collect();
    let (sums, _) =
        add_states(&sums, high_us).map_err(|e| format!("step \"{}\": {e}", steps[0].name))?;
    let mut failures: Vec<SampleState> = Vec::new();
    let mut slowest: Vec<SampleState> = Vec::new();
    for (step, (_, off)) in steps.iter().zip(parts) {
        let shift = |s: &SampleState| {
            let mut s = s.clone();
            s.at_us = s.at_us.saturating_add(micros(*off));
            s
        };
        failures.extend(step.failures.iter().map(shift));
        slowest.extend(step.slowest.iter().map(shift));
    }
    Ok(StepState {
        flow: steps[0].flow.clone(),
        name: steps[0].name.clone(),
        tag_key: steps.iter().find_map(|s| s.tag_key.clone()),
        checks: steps[0].checks.clone(),
        sums,
        last_seen: last_seen(
            steps
                .iter()
                .zip(parts)
                .map(|(s, (_, off))| (&s.last_seen, *off)),
        ),
        failures: latest_failures(failures),
        slowest: {
            slowest.sort_by_key(|s| std::cmp::Reverse(s.latency_us));
            slowest.truncate(KEPT);
            slowest
        },
    })
}

/// The latest `KEPT` failures of each group (class, and status for an unexpected one),
/// groups in the order of their first member, the latest first in each.
fn latest_failures(mut all: Vec<SampleState>) -> Vec<SampleState> {
    all.sort_by_key(|s| std::cmp::Reverse(s.at_us));
    type Group = (Option<String>, Option<u16>);
    let mut groups: Vec<(Group, Vec<SampleState>)> = Vec::new();
    for s in all {
        let key = (s.class.clone(), s.status);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, kept)) if kept.len() < KEPT => kept.push(s),
            Some(_) => {}
            None => groups.push((key, vec![s])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups.into_iter().flat_map(|(_, kept)| kept).collect()
}

/// Intervals added (`None` for parts that never recorded), and the tag values' names.
fn add_states(
    states: &[Option<&IntervalState>],
    high_us: u64,
) -> Result<(Option<IntervalState>, Vec<Arc<str>>), String> {
    let mut names = Vec::new();
    let mut sum: Option<StepInterval> = None;
    for state in states.iter().flatten() {
        let interval = StepInterval::from_state(state, high_us, &mut names)?;
        match &mut sum {
            Some(s) => s.add(&interval),
            None => sum = Some(interval),
        }
    }
    // The messages were redacted when the shards wrote them.
    Ok((sum.map(|s| s.state(&Redactor::default())), names))
}

/// When each class was last seen over the parts, on the merged clock.
fn last_seen<'a>(
    parts: impl Iterator<Item = (&'a Vec<(String, f64)>, Duration)>,
) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for (seen, off) in parts {
        for (class, at) in seen {
            let at = at + off.as_secs_f64();
            match out.iter_mut().find(|(c, _)| c == class) {
                Some((_, t)) => *t = t.max(at),
                None => out.push((class.clone(), at)),
            }
        }
    }
    out
}

fn histogram(text: &str, what: &str) -> Result<Histogram<u64>, String> {
    if text.is_empty() {
        return Ok(latency_histogram());
    }
    decode(text).ok_or_else(|| format!("{what}: not an HdrHistogram (V2, deflated, base64)"))
}

/// Each flow's durations, added by flow name.
fn merge_flows(parts: &[Part<'_>]) -> Result<Vec<(String, String)>, String> {
    let mut flows: Vec<(String, Histogram<u64>)> = Vec::new();
    for (state, _) in parts {
        for (name, text) in &state.flows {
            let h = histogram(text, &format!("flow \"{name}\""))?;
            match flows.iter_mut().find(|(n, _)| n == name) {
                Some((_, sum)) => {
                    let _ = sum.add(&h);
                }
                None => flows.push((name.clone(), h)),
            }
        }
    }
    Ok(flows.into_iter().map(|(n, h)| (n, encode(&h))).collect())
}

/// The merged series' points: those of the part with the most points (on the merged
/// clock), extended at its point width before and after it as far as another part's points
/// reach (a shard that started earlier or ended later). Returns each point's end and
/// length.
fn grid(parts: &[Part<'_>]) -> (Vec<f64>, Vec<f64>) {
    let Some(&(reference, off)) = parts
        .iter()
        .max_by_key(|(s, off)| (s.series.at_s.len(), std::cmp::Reverse(*off)))
    else {
        return (Vec::new(), Vec::new());
    };
    let s = &reference.series;
    let mut ends: Vec<f64> = s.at_s.iter().map(|at| at + off.as_secs_f64()).collect();
    let mut lengths = s.length_s.clone();
    lengths.resize(ends.len(), 0.0);
    let (Some(&first), Some(&width)) = (ends.first(), lengths.first()) else {
        return (ends, lengths);
    };
    let middles = parts.iter().flat_map(|(p, off)| {
        let s = &p.series;
        (0..s.at_s.len()).map(move |j| middle(s, j, *off))
    });
    let (low, high) = middles.fold((first, first), |(lo, hi), m| (lo.min(m), hi.max(m)));
    if width > 0.0 {
        // At most as many points again as the reference has, whatever a file claims.
        let most = ends.len();
        let before = (((first - width - low) / width).ceil().max(0.0) as usize).min(most);
        let mut head: Vec<f64> = (1..=before)
            .rev()
            .map(|k| first - k as f64 * width)
            .collect();
        let last = ends.last().copied().unwrap_or(first);
        let after = (((high - last) / width).ceil().max(0.0) as usize).min(most);
        head.append(&mut ends);
        head.extend((1..=after).map(|k| last + k as f64 * width));
        let mut all_lengths = vec![width; before];
        all_lengths.append(&mut lengths);
        all_lengths.resize(head.len(), width);
        return (head, all_lengths);
    }
    (ends, lengths)
}

/// The middle of point `j` of a part's series, on the merged clock.
fn middle(s: &SeriesState, j: usize, off: Duration) -> f64 {
    s.at_s[j] + off.as_secs_f64() - s.length_s.get(j).copied().unwrap_or(0.0) / 2.0
}

/// Every part's series added on one grid (`grid`): a point goes to the grid point whose
/// stretch holds its middle. A part's gauges (in flight, level) hold from one of its points
/// to its next, so a stretch where its tick did not land still counts it, until it ends.
fn merge_series(parts: &[Part<'_>], levels_add: bool) -> Result<SeriesState, String> {
    let (ends, lengths) = grid(parts);
    let n = ends.len();
    let steps = parts.first().map_or(0, |(s, _)| s.series.steps.len());
    let mut out = SeriesState {
        at_s: ends.clone(),
        length_s: lengths,
        in_flight: vec![0; n],
        level: vec![None; n],
        dropped: vec![0; n],
        total: PointsState::default(),
        steps: vec![PointsState::default(); steps],
    };
    if n == 0 {
        return Ok(out);
    }
    let mut total = Points::new(n);
    let mut columns: Vec<Points> = (0..steps).map(|_| Points::new(n)).collect();
    for (state, off) in parts {
        let s = &state.series;
        // The part's gauges at its last point in each grid point.
        let mut gauges: Vec<Option<(u64, Option<f64>)>> = vec![None; n];
        for j in 0..s.at_s.len() {
            let k = ends
                .partition_point(|&end| end < middle(s, j, *off))
                .min(n - 1);
            out.dropped[k] += s.dropped.get(j).copied().unwrap_or(0);
            gauges[k] = Some((
                s.in_flight.get(j).copied().unwrap_or(0),
                s.level.get(j).copied().flatten(),
            ));
            total.add(k, &s.total, j)?;
            for (col, theirs) in columns.iter_mut().zip(&s.steps) {
                col.add(k, theirs, j)?;
            }
        }
        // Carried forward between two of its points, not past its last.
        let last = gauges.iter().rposition(Option::is_some).unwrap_or(0);
        let mut held = None;
        for (k, g) in gauges.iter().enumerate().take(last + 1) {
            held = g.or(held);
            let Some((in_flight, level)) = held else {
                continue;
            };
            out.in_flight[k] += in_flight;
            out.level[k] = match (out.level[k], level) {
                (Some(a), Some(b)) if levels_add => Some(a + b),
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    out.total = total.state();
    out.steps = columns.into_iter().map(Points::state).collect();
    Ok(out)
}

/// A column set being merged: per grid point, counts and a histogram.
struct Points {
    requests: Vec<u64>,
    errors: Vec<u64>,
    latency: Vec<Option<Histogram<u64>>>,
}

impl Points {
    fn new(n: usize) -> Self {
        Self {
            requests: vec![0; n],
            errors: vec![0; n],
            latency: vec![None; n],
        }
    }

    /// Adds point `j` of `from` into grid point `k`.
    fn add(&mut self, k: usize, from: &PointsState, j: usize) -> Result<(), String> {
        self.requests[k] += from.requests.get(j).copied().unwrap_or(0);
        self.errors[k] += from.errors.get(j).copied().unwrap_or(0);
        if let Some(text) = from.latency.get(j).filter(|t| !t.is_empty()) {
            let h = histogram(text, "a point of the series")?;
            match &mut self.latency[k] {
                Some(sum) => {
                    let _ = sum.add(&h);
                }
                slot => *slot = Some(h),
            }
        }
        Ok(())
    }

    fn state(self) -> PointsState {
        PointsState {
            requests: self.requests,
            errors: self.errors,
            latency: (self.latency.iter())
                .map(|h| h.as_ref().map_or_else(String::new, encode))
                .collect(),
        }
    }
}

/// Stalls as the snapshot lists them.
pub fn stalls_of(state: &RunState) -> Vec<Stall> {
    (state.stalls.iter())
        .map(|&(at, len, in_flight)| Stall {
            at: secs(at),
            length: secs(len),
            in_flight,
        })
        .collect()
}

#[cfg(test)]
#[path = "run_state_tests.rs"]
mod tests;
