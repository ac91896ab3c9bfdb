//! The aggregator's totals as a `RunState` (what a shard's result carries), and the other
//! way: the final snapshot of a run known only by its state (a merge of shards), made by the
//! same summaries as every tick's (`step_stats`, `check_stats`, `TagRows`).

use std::sync::Arc;
use std::time::Duration;

use super::{Aggregator, NEVER, TagRows, check_stats, encode, step_stats};
use crate::metrics::history::{self, Columns, History, Series};
use crate::metrics::interval::{IntervalState, StepInterval, class_named};
use crate::metrics::outcome::ErrorClass;
use crate::metrics::run_state::{
    PointsState, RunState, SampleState, SeriesState, StepState, samples_of, secs, stalls_of,
};
use crate::metrics::snapshot::{
    FlowStats, IntervalStats, LiveState, Percentiles, Phase, Snapshot, StepStats,
};
use crate::metrics::{Samples, histograms::latency_histogram};
use crate::redact::Redactor;

type LastSeen = [Duration; ErrorClass::ALL.len()];

impl Aggregator {
    /// Keeps each point's latency histogram in the series, so that the run's state
    /// (`run_state`) can be merged with other shards' point by point.
    pub fn keeping_state(mut self) -> Self {
        self.series.keep_histograms();
        self.keep_state = true;
        self
    }

    /// The run's exact state so far (see `run_state`), `active` its time that counts for
    /// rates.
    pub fn run_state(&self, active: Duration) -> RunState {
        let redactor = &self.redactor;
        let none = Samples::default();
        let steps = (self.steps.iter().enumerate())
            .map(|(i, t)| {
                let (flow, name) = self.names.get(i).cloned().unwrap_or_default();
                let shown: &Samples = t.as_deref().map_or(&none, |t| &t.shown.0);
                StepState {
                    flow,
                    name,
                    tag_key: self.recorder.tag_key(i).map(str::to_string),
                    checks: self.checks.get(i).cloned().unwrap_or_default(),
                    sums: t.as_deref().map(|t| t.sums.state(redactor)),
                    last_seen: t.as_deref().map(|t| seen(&t.last_seen)).unwrap_or_default(),
                    failures: shown.failures.iter().map(SampleState::of).collect(),
                    slowest: shown.slowest.iter().map(SampleState::of).collect(),
                }
            })
            .collect();
        RunState {
            high_us: self.recorder.high_us(),
            active_s: active.as_secs_f64(),
            steps,
            total: self.total.sums.state(redactor),
            total_last_seen: seen(&self.total.last_seen),
            flows: (self.flow_names.iter().zip(&self.flows))
                .map(|(n, h)| (n.clone(), history::encode(h)))
                .collect(),
            series: series_state(self.series.series()),
            dropped: self.recorder.dropped(),
            stalls: (self.stalls.found().0.iter())
                .map(|s| (s.at.as_secs_f64(), s.length.as_secs_f64(), s.in_flight))
                .collect(),
        }
    }
}

/// The classes seen, with when.
fn seen(last: &LastSeen) -> Vec<(String, f64)> {
    (ErrorClass::ALL.iter())
        .filter(|c| !last[c.index()].is_zero())
        .map(|c| (c.as_str().to_string(), last[c.index()].as_secs_f64()))
        .collect()
}

fn last_seen_of(seen: &[(String, f64)]) -> LastSeen {
    let mut last = NEVER;
    for (class, at) in seen {
        if let Some(c) = class_named(class) {
            last[c.index()] = secs(*at);
        }
    }
    last
}

fn series_state(s: &Series) -> SeriesState {
    let points = |c: &Columns| {
        let c = c.aligned();
        PointsState {
            requests: c.requests,
            errors: c.errors,
            latency: c.hdr,
        }
    };
    SeriesState {
        at_s: s.at.iter().map(Duration::as_secs_f64).collect(),
        length_s: s.length.iter().map(Duration::as_secs_f64).collect(),
        in_flight: s.in_flight.clone(),
        level: s.level.clone(),
        dropped: s.dropped.clone(),
        total: points(&s.total),
        steps: s.steps.iter().map(points).collect(),
    }
}

/// The series a report draws, from a state's: each point's percentiles from its histogram.
fn series_of(s: &SeriesState) -> Result<Series, String> {
    let columns = |p: &PointsState| -> Result<Columns, String> {
        let mut c = Columns::default();
        for j in 0..p.requests.len() {
            let h = match p.latency.get(j).filter(|t| !t.is_empty()) {
                Some(text) => {
                    history::decode(text).ok_or("a point of the series is not an HdrHistogram")?
                }
                None => latency_histogram(),
            };
            c.push_figures(p.requests[j], p.errors.get(j).copied().unwrap_or(0), &h);
        }
        Ok(c)
    };
    let times = |v: &[f64]| v.iter().map(|s| secs(*s)).collect();
    Ok(Series {
        at: times(&s.at_s),
        length: times(&s.length_s),
        in_flight: s.in_flight.clone(),
        level: s.level.clone(),
        dropped: s.dropped.clone(),
        total: columns(&s.total)?,
        steps: s.steps.iter().map(columns).collect::<Result<_, _>>()?,
    })
}

/// A step's figures from its state (and its interval, whose histograms the report keeps).
fn step_of(
    step: &StepState,
    high: u64,
    active: Duration,
    redactor: &Redactor,
) -> Result<(StepStats, StepInterval), String> {
    let mut sums = match &step.sums {
        Some(s) => StepInterval::from_state(s, high, &mut Vec::new())
            .map_err(|e| format!("step \"{}\": {e}", step.name))?,
        None => StepInterval::new(high),
    };
    sums.other_tag_last();
    let last_seen = last_seen_of(&step.last_seen);
    let names = (step.flow.clone(), step.name.clone());
    let sums_seen = (&sums, &last_seen);
    let mut stats = step_stats(names, sums_seen, IntervalStats::default(), active, redactor);
    stats.samples = Arc::new(samples_of(step, Duration::ZERO));
    stats.checks = check_stats(&step.checks, &sums);
    if let (Some(key), Some(tagged)) = (&step.tag_key, sums.tagged()) {
        let rows = TagRows {
            key,
            checks: &step.checks,
            length: Duration::ZERO,
            active,
        };
        stats.tags = rows.of(&stats, tagged, None, redactor);
    }
    Ok((stats, sums))
}

/// The final snapshot of the run whose state is `state` (a merge of shards), summarised as
/// every tick summarises a run's totals. `Err` names a figure that cannot be read.
pub fn snapshot_of(state: &RunState) -> Result<Snapshot, String> {
    let high = state.high_us.max(2);
    let active = secs(state.active_s);
    let redactor = Redactor::default(); // a state's messages and samples are redacted
    let mut steps = Vec::with_capacity(state.steps.len());
    let mut histograms = Vec::with_capacity(state.steps.len());
    for step in &state.steps {
        let (stats, sums) = step_of(step, high, active, &redactor)?;
        histograms.push(encode(&sums));
        steps.push(stats);
    }
    let read =
        |s: &IntervalState, names: &mut Vec<Arc<str>>| StepInterval::from_state(s, high, names);
    let total_sums = read(&state.total, &mut Vec::new()).map_err(|e| format!("total: {e}"))?;
    let total_seen = last_seen_of(&state.total_last_seen);
    let names = (String::new(), "total".to_string());
    let total = step_stats(
        names,
        (&total_sums, &total_seen),
        IntervalStats::default(),
        active,
        &redactor,
    );
    let flows = (state.flows.iter())
        .map(|(name, text)| {
            let h = history::decode(text)
                .ok_or_else(|| format!("flow \"{name}\": not an HdrHistogram"))?;
            Ok(FlowStats {
                name: name.clone(),
                iterations: h.len(),
                duration: Percentiles::of(&h),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let history = History {
        series: series_of(&state.series)?,
        histograms,
        total_histograms: encode(&total_sums),
        high_us: high,
        state: Some(state.clone()),
    };
    let elapsed = state.series.at_s.last().map_or(active, |s| secs(*s));
    Ok(Snapshot {
        seq: 1,
        elapsed,
        live: LiveState::default(),
        distribution: total.distribution.clone(),
        phase: Phase::Finished,
        in_flight: 0,
        dropped: state.dropped,
        stalls: Arc::new(stalls_of(state)),
        total,
        steps,
        flows,
        history: Some(Arc::new(history)),
    })
}
