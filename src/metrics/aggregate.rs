//! The tick: merge every shard's interval, fold it into the run's totals, summarise both into
//! a `Snapshot`. Owned by one task; the only code that reads shards.
//!
//! Depends on the rest of `metrics` and on `redact` (error samples are redacted here, once
//! per tick; failure samples once per tick that brings new ones). Invariant: a tick
//! allocates no histograms once every step has recorded (the last tick's intervals are kept
//! and reused).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::histograms::{Tally, latency_histogram};
use super::history::{self, EncodedHistograms, History, SeriesBuilder, TickState};
use super::interval::{StepInterval, Tagged};
use super::outcome::ErrorClass;
use super::phases;
use super::recorder::Recorder;
use super::samples::Samples;
use super::shard::{Slots, slot};
use super::snapshot::{
    BUCKET_BOUNDS, Bucket, CheckStat, ErrorStat, FlowStats, IntervalStats, LiveState, Percentiles,
    Phase, PhaseStats, RetryStats, Snapshot, StepStats, Tag, per_second,
};
use super::stalls::{Stall, Stalls};
use crate::redact::Redactor;

mod state;
pub use state::snapshot_of;

/// A check as the aggregator reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckName {
    /// The check's name.
    pub name: String,
    /// Whether it reads the body (so it skips bodies cut at `max_body`).
    pub reads_body: bool,
    /// A soft check: counted, never an error (reports say so beside its name).
    pub soft: bool,
}

/// Cumulative state of one step (or of the whole run).
#[derive(Clone)]
struct Totals {
    sums: StepInterval,
    last_seen: [Duration; ErrorClass::ALL.len()],
    /// Its samples as the last snapshot showed them, and the store's version they show:
    /// made anew only when the store kept a new one, not redacted again every tick.
    shown: (Arc<Samples>, u64),
}

/// Turns recorded samples into snapshots, one per tick.
pub struct Aggregator {
    recorder: Recorder,
    names: Vec<(String, String)>,
    checks: Vec<Vec<CheckName>>,
    redactor: Redactor,
    started: Instant,
    last_tick: Instant,
    /// Each step's totals, made when the step first records (`None` until then).
    steps: Vec<Option<Box<Totals>>>,
    total: Totals,
    // The last tick's intervals, kept until the next tick (the series and the HDR log read
    // them) and reused, so a tick allocates no histograms once every step has recorded.
    tick_steps: Slots,
    tick_total: StepInterval,
    /// What a step that has recorded nothing reads as.
    empty: Totals,
    seq: u64,
    /// Flow names, and each flow's iteration durations over the run.
    flow_names: Vec<String>,
    flows: Vec<Histogram<u64>>,
    series: SeriesBuilder,
    /// Closed model: stalls found so far, and the list snapshots share (made anew only when
    /// one is found).
    stalls: Stalls,
    stalls_shown: Arc<Vec<Stall>>,
    /// The run keeps its exact state (`keeping_state`: a shard's), and the last tick's time
    /// that counts for rates.
    keep_state: bool,
    active: Duration,
}

impl Aggregator {
    /// An aggregator for a run that starts at `started`; `names` are (flow, step) per step id.
    pub fn new(recorder: Recorder, names: Vec<(String, String)>, started: Instant) -> Self {
        let high = recorder.high_us();
        let totals = || Totals {
            sums: StepInterval::new(high),
            last_seen: [Duration::ZERO; ErrorClass::ALL.len()],
            shown: (Arc::default(), 0),
        };
        let n = recorder.steps();
        let recorder_epoch = recorder.epoch();
        Self {
            recorder,
            names,
            checks: Vec::new(),
            redactor: Redactor::default(),
            started,
            last_tick: started,
            steps: (0..n).map(|_| None).collect(),
            total: totals(),
            tick_steps: (0..n).map(|_| None).collect(),
            tick_total: StepInterval::new(high),
            empty: totals(),
            seq: 0,
            flow_names: Vec::new(),
            flows: Vec::new(),
            series: SeriesBuilder::new(n),
            stalls: Stalls::new(started, recorder_epoch),
            stalls_shown: Arc::default(),
            keep_state: false,
            active: Duration::ZERO,
        }
    }

    /// Names the flows whose iterations the recorder times (`Recorder::with_flows`).
    pub fn with_flows(mut self, names: Vec<String>) -> Self {
        self.flows = names.iter().map(|_| latency_histogram()).collect();
        self.flow_names = names;
        self
    }

    /// The last tick's intervals: each step's (in plan order; an empty one for a step that
    /// has recorded nothing), then the whole run's.
    pub fn last_intervals(&self) -> (Vec<&StepInterval>, &StepInterval) {
        let steps = self
            .tick_steps
            .iter()
            .map(|t| t.as_deref().unwrap_or(&self.empty.sums))
            .collect();
        (steps, &self.tick_total)
    }

    /// Adds the last tick to the time series, with the run's state at its end (which the
    /// snapshot's owner completes: the level lives in the control). `last`: the run ended.
    pub fn extend_series(&mut self, state: TickState, last: bool) {
        let ticks = self.tick_steps.iter().map(|t| t.as_deref());
        self.series.add(ticks, state, last);
    }

    /// The time series and every step's whole-run histograms (then the total's).
    pub fn history(&self) -> History {
        let encoded = |t: &Totals| encode(&t.sums);
        History {
            series: self.series.series().clone(),
            histograms: self
                .steps
                .iter()
                .map(|t| encoded(t.as_deref().unwrap_or(&self.empty)))
                .collect(),
            total_histograms: encoded(&self.total),
            high_us: self.recorder.high_us(),
            state: self.keep_state.then(|| self.run_state(self.active)),
        }
    }

    /// Hides secrets in the error samples of every snapshot (once per tick, not per error).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Names the checks of each step (by step id), so snapshots report them.
    pub fn with_checks(mut self, checks: Vec<Vec<CheckName>>) -> Self {
        self.checks = checks;
        self
    }

    /// Merges everything recorded since the last tick and returns the run as of `now`.
    /// `active` is the run time that counts for rates (elapsed, less any pause).
    pub fn tick(&mut self, now: Instant, active: Duration, phase: Phase) -> Snapshot {
        let elapsed = now.saturating_duration_since(self.started);
        let length = now.saturating_duration_since(self.last_tick);
        self.last_tick = now;
        self.active = active;
        let started = self.drain_shards();
        let steps = self.fold_steps(elapsed, length, active);
        let interval = interval_stats(&self.tick_total, length);
        absorb(&mut self.total, &self.tick_total, elapsed);
        let total = step_stats(
            (String::new(), "total".into()),
            (&self.total.sums, &self.total.last_seen),
            interval,
            active,
            &self.redactor,
        );
        let finished = total.requests + total.interrupted;
        let in_flight = started.saturating_sub(finished);
        let median = (total.interval.requests > 0).then_some(total.interval.latency.p50);
        if (self.stalls).tick(&self.recorder.shards(), now, median, in_flight) {
            self.stalls_shown = Arc::new(self.stalls.found().0.to_vec());
        }
        self.seq += 1;
        Snapshot {
            seq: self.seq,
            elapsed,
            live: LiveState::default(),
            distribution: total.distribution.clone(),
            phase,
            in_flight,
            dropped: self.recorder.dropped(),
            stalls: Arc::clone(&self.stalls_shown),
            total,
            steps,
            flows: self.flow_stats(),
            history: None,
        }
    }

    /// Takes every shard's interval into this tick's (emptied first) and its iteration
    /// durations into the flows'; returns the requests started so far over all threads.
    fn drain_shards(&mut self) -> u64 {
        for tick in self.tick_steps.iter_mut().flatten() {
            tick.clear();
        }
        self.tick_total.clear();
        let high = self.recorder.high_us();
        let mut started = 0;
        for shard in self.recorder.shards() {
            let mut intervals = shard.lock();
            for (i, from) in intervals.iter_mut().enumerate() {
                if let Some(from) = from
                    && let Some(into) = slot(&mut self.tick_steps, i, high)
                {
                    // Phases are read over the whole run only: from the thread straight
                    // into the step's totals and the run's, not through the tick.
                    let totals = self.steps[i].get_or_insert_with(|| Box::new(self.empty.clone()));
                    from.pass_phases(&mut totals.sums, &mut self.total.sums);
                    into.drain_from(from);
                }
            }
            drop(intervals);
            let mut flows = shard.lock_flows();
            for (into, from) in self.flows.iter_mut().zip(flows.iter_mut()) {
                if let Some(from) = from {
                    // Auto-resizing on both sides: adding cannot fail.
                    let _ = into.add(&*from);
                    from.reset();
                }
            }
            drop(flows);
            // Read after draining: whatever was drained had started, so the gauge never
            // counts a request as finished before it counts it as started.
            started += shard.started();
        }
        started
    }

    /// Folds each step's tick into its totals and the run-wide tick; returns each step's
    /// figures.
    fn fold_steps(
        &mut self,
        elapsed: Duration,
        length: Duration,
        active: Duration,
    ) -> Vec<StepStats> {
        let mut steps = Vec::with_capacity(self.steps.len());
        for (i, tick) in self.tick_steps.iter().enumerate() {
            let tick = tick.as_deref();
            let interval = interval_stats(tick.unwrap_or(&self.empty.sums), length);
            let totals = match (tick, &mut self.steps[i]) {
                (Some(tick), totals) => {
                    // Fold the step's tick into the run-wide tick before it is drained
                    // into totals.
                    self.tick_total.add_figures(tick);
                    let totals = totals.get_or_insert_with(|| Box::new(self.empty.clone()));
                    absorb(totals, tick, elapsed);
                    if let Some(all) = &totals.sums.exchanges
                        && all.version() != totals.shown.1
                    {
                        let shown = all.shown(&self.redactor, self.started);
                        totals.shown = (Arc::new(shown), all.version());
                    }
                    &**totals
                }
                (None, totals) => totals.as_deref().unwrap_or(&self.empty),
            };
            let names = self.names.get(i).cloned().unwrap_or_default();
            let sums = (&totals.sums, &totals.last_seen);
            let mut stats = step_stats(names, sums, interval, active, &self.redactor);
            stats.samples = Arc::clone(&totals.shown.0);
            let checks = self.checks.get(i).map_or(&[][..], Vec::as_slice);
            stats.checks = check_stats(checks, &totals.sums);
            if let (Some(key), Some(tagged)) = (self.recorder.tag_key(i), totals.sums.tagged()) {
                let tick = tick.and_then(StepInterval::tagged);
                let rows = TagRows {
                    key,
                    checks,
                    length,
                    active,
                };
                stats.tags = rows.of(&stats, tagged, tick, &self.redactor);
            }
            steps.push(stats);
        }
        steps
    }

    /// Each flow's iterations and their durations over the run.
    fn flow_stats(&self) -> Vec<FlowStats> {
        self.flow_names
            .iter()
            .zip(&self.flows)
            .map(|(name, h)| FlowStats {
                name: name.clone(),
                iterations: h.len(),
                duration: Percentiles::of(h),
            })
            .collect()
    }
}

/// A step's (or the run's) whole-run histograms, encoded, its tag values' too.
fn encode(s: &StepInterval) -> EncodedHistograms {
    EncodedHistograms {
        latency: s.latency.encode_with(history::encode),
        service: s.service().encode_with(history::encode),
        server_time: s.server_time().map(|t| t.encode_with(history::encode)),
        overhead: s.overhead().map(|t| t.encode_with(history::encode)),
        exchange: s.exchange().map(|t| t.encode_with(history::encode)),
        tags: s
            .tagged()
            .map(|t| t.each().map(|(_, sub)| encode(sub)).collect())
            .unwrap_or_default(),
    }
}

/// What a tagged step's rows per value share.
struct TagRows<'a> {
    key: &'a str,
    checks: &'a [CheckName],
    length: Duration,
    active: Duration,
}

impl TagRows<'_> {
    /// A row per value of `step`'s tag (`tagged` over the run, `tick` the last tick's), in
    /// the values' order, `other` last.
    fn of(
        &self,
        step: &StepStats,
        tagged: &Tagged,
        tick: Option<&Tagged>,
        redactor: &Redactor,
    ) -> Vec<StepStats> {
        let empty = StepInterval::new(2);
        tagged
            .each()
            .map(|(i, sums)| {
                let last = tick.and_then(|t| t.intervals.get(i)?.as_deref());
                let interval = interval_stats(last.unwrap_or(&empty), self.length);
                let names = (step.flow.clone(), step.name.clone());
                let mut row = step_stats(names, (sums, &NEVER), interval, self.active, redactor);
                row.checks = check_stats(self.checks, sums);
                row.tag = Some(Tag {
                    key: self.key.to_string(),
                    value: tagged.name(i).to_string(),
                });
                row
            })
            .collect()
    }
}

/// The checks of a step over the run. Checks judge complete responses only; those on the
/// body skip a body that was cut at max_body.
fn check_stats(names: &[CheckName], sums: &StepInterval) -> Vec<CheckStat> {
    let responses: u64 =
        sums.statuses.iter().map(|(_, n)| n).sum::<u64>() - sums.failed_after_status - sums.hops;
    let cut = sums.errors[ErrorClass::BodyTooLarge.index()];
    names
        .iter()
        .enumerate()
        .map(|(c, check)| CheckStat {
            name: check.name.clone(),
            evaluated: responses - if check.reads_body { cut } else { 0 },
            failed: sums.checks.get(c).copied().unwrap_or(0),
            soft: check.soft,
        })
        .collect()
}

fn absorb(totals: &mut Totals, tick: &StepInterval, elapsed: Duration) {
    for class in ErrorClass::ALL {
        if tick.errors[class.index()] > 0 {
            totals.last_seen[class.index()] = elapsed;
        }
    }
    totals.sums.add(tick);
}

/// Sorts every recorded bin into the 1-2-5 ladder (each bin counted once, by its value).
fn distribution(h: &hdrhistogram::Histogram<u64>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = BUCKET_BOUNDS
        .iter()
        .chain(std::iter::once(&u64::MAX))
        .map(|&upper_us| Bucket { upper_us, count: 0 })
        .collect();
    if h.is_empty() {
        return out;
    }
    for bin in h.iter_recorded() {
        // The bin's lowest value: a sample exactly on a bound stays in the lower bucket.
        let value = h.lowest_equivalent(bin.value_iterated_to());
        let i = BUCKET_BOUNDS.partition_point(|&upper| upper < value);
        out[i].count += bin.count_at_value();
    }
    out
}

/// The percentiles of a tally, read exactly as from a histogram of its values.
fn summary(t: &Tally) -> Percentiles {
    t.view(Percentiles::of)
}

fn interval_stats(tick: &StepInterval, length: Duration) -> IntervalStats {
    IntervalStats {
        length,
        requests: tick.completed(),
        errors: tick.errors.iter().sum(),
        latency: summary(&tick.latency),
        server_time: tick.server_time().map(summary).unwrap_or_default(),
    }
}

/// The phases of a step's exchanges, each summarised (zeros for one never seen).
fn phase_stats(s: &StepInterval) -> PhaseStats {
    let [dns, connect, tls, write, ttfb, download] =
        phases::FIGURES.map(|f| s.figure(f).map(summary).unwrap_or_default());
    PhaseStats {
        dns,
        connect,
        tls,
        write,
        ttfb,
        download,
    }
}

/// When each error class was last seen: never, for a tag value's row (the step's row says).
pub(super) const NEVER: [Duration; ErrorClass::ALL.len()] = [Duration::ZERO; ErrorClass::ALL.len()];

/// The figures of a step (or the run, or a tag value): `s` summed over the run, `last_seen`
/// each error class, `interval` the last tick's.
pub(super) fn step_stats(
    (flow, name): (String, String),
    (s, last_seen): (&StepInterval, &[Duration; ErrorClass::ALL.len()]),
    interval: IntervalStats,
    active: Duration,
    redactor: &Redactor,
) -> StepStats {
    let requests = s.completed();
    let mut statuses = s.statuses.clone();
    statuses.sort_unstable();
    let mut errors_by_class: Vec<ErrorStat> = ErrorClass::ALL
        .iter()
        .filter(|c| s.errors[c.index()] > 0)
        .map(|&class| ErrorStat {
            class,
            count: s.errors[class.index()],
            sample: s.samples[class.index()]
                .as_deref()
                .map_or_else(String::new, |m| redactor.owned(m)),
            last_seen: last_seen[class.index()],
        })
        .collect();
    errors_by_class.sort_by_key(|e| std::cmp::Reverse(e.count));
    // One read of the latencies for both (a few values fill a histogram each time).
    let (latency, distribution) = s.latency.view(|h| (Percentiles::of(h), distribution(h)));
    StepStats {
        flow,
        name,
        requests,
        errors: s.errors.iter().sum(),
        interrupted: s.interrupted,
        rps: per_second(requests, active),
        bytes: s.bytes,
        latency,
        service: summary(s.service()),
        corrected: s.corrected(&latency),
        send_lag: s.send_lag().map(summary).unwrap_or_default(),
        server_time: s.server_time().map(summary).unwrap_or_default(),
        overhead: s.overhead().map(summary).unwrap_or_default(),
        server_time_invalid: s.server_time_invalid,
        phases: phase_stats(s),
        connections: s.connections,
        retries: (s.retries.exchanges > 0).then(|| {
            let exchange = s.exchange().map(summary).unwrap_or_default();
            RetryStats::of(s.retries, exchange)
        }),
        statuses,
        errors_by_class,
        checks: Vec::new(),
        distribution,
        interval,
        tag: None,
        tags: Vec::new(),
        samples: Arc::default(),
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
