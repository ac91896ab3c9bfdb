//! The capacity search (`load.find_capacity`) as it runs: `Driver` takes every tick, adds
//! the ticks after each hold's warm-up to a `Window`, judges the hold when it has lasted
//! `hold` (the generator's figures first, then the `until` limits on the window's own
//! figures), hands the verdict to the `Search` (`search`, the arithmetic) and sets the next
//! hold's rate, or stops the run with the answer. After a hold that broke, arrivals all but
//! stop until what it queued has drained (`cooling`), so the next hold starts clean. Its
//! progress goes to `Control`, whence the displays and the reports read it.
//!
//! Depends on `Control` (the level, the stop, the report), `metrics` (the tick, the window,
//! the report's types) and `scenario` (the specification, its thresholds). Invariant: a hold
//! is judged only on requests that ended inside its judged part; a paused run starts its hold
//! again; a run stopped by other means keeps the holds judged so far and has no outcome.

mod search;

use std::time::Duration;

pub use search::{Outcome, Search, Stage, Verdict};

use super::Control;
use crate::metrics::ticker::Listener;
use crate::metrics::{
    Aggregator, CapacityHold, CapacityReport, HoldVerdict, Level, MIN_LIVE_RATE, Recorder,
    Snapshot, Window,
};
use crate::scenario::{Capacity, Op, Threshold};

/// Send lag beyond which the generator, not the service, is the limit (µs, p99).
const MOST_SEND_LAG_US: u64 = 1_000;

/// Runs a capacity search through the run's ticks.
pub struct Driver {
    spec: Capacity,
    search: Search,
    control: Control,
    recorder: Recorder,
    window: Window,
    /// When the hold running now began (from the start of the run).
    began: Duration,
    /// After a hold that broke: since when the service has been left to drain (arrivals
    /// all but stopped), before the next hold begins.
    cooling: Option<Duration>,
    /// The rate of the last hold the generator could not keep up with (run again once).
    late_at: Option<f64>,
    /// Iterations ended and arrivals dropped over the run by the last tick.
    last: (u64, u64),
    /// Iterations ended over the run before the judged part began (once it has).
    judged_from: Option<u64>,
    holds: Vec<CapacityHold>,
}

impl Driver {
    /// A search by `spec` steering `control`; `names` are the plan's (flow, step) names and
    /// `high_us` its histograms' ceiling.
    pub fn new(
        spec: Capacity,
        control: Control,
        recorder: Recorder,
        names: Vec<(String, String)>,
        high_us: u64,
    ) -> Self {
        let driver = Self {
            search: Search::new(spec.clone()),
            spec,
            control,
            recorder,
            window: Window::new(names, high_us),
            began: Duration::ZERO,
            cooling: None,
            late_at: None,
            last: (0, 0),
            judged_from: None,
            holds: Vec::new(),
        };
        driver.publish();
        driver
    }

    /// The hold just ended: judges it, records it, and moves to the next one (or stops the
    /// run with the answer).
    fn judge(&mut self, at: Duration, rate: f64) {
        let window = self.window.snapshot();
        let verdict = verdict(&window, &self.spec.until);
        let total = &window.total;
        let length = self.window.length().as_secs_f64();
        let ended = self.last.0 - self.judged_from.unwrap_or(self.last.0);
        let (word, why) = match &verdict {
            Verdict::Held => (HoldVerdict::Held, None),
            Verdict::Broke(why) => (HoldVerdict::Broke, Some(why.clone())),
            Verdict::Generator(why) => (HoldVerdict::Generator, Some(why.clone())),
        };
        self.holds.push(CapacityHold {
            stage: stage_word(self.search.stage()),
            rate,
            achieved_rate: if length > 0.0 {
                ended as f64 / length
            } else {
                0.0
            },
            requests: total.requests,
            p50_us: total.latency.p50,
            p99_us: total.latency.p99,
            error_rate: total.error_rate(),
            verdict: word,
            why,
            at: self.began,
            length: at.saturating_sub(self.began),
        });
        if matches!(verdict, Verdict::Generator(_)) && self.late_at != Some(rate) {
            // Late once is a hiccup of a busy machine as often as a limit: the hold runs
            // again at the same rate, and only a second late hold ends the search.
            self.late_at = Some(rate);
            self.publish();
            self.start_hold(at);
            return;
        }
        self.late_at = None;
        self.search.judge(verdict);
        self.publish();
        match (self.search.rate(), self.holds.last().map(|h| h.verdict)) {
            (Some(_), Some(HoldVerdict::Broke)) => {
                // What the broken hold queued would spoil the next one: let it drain.
                self.control.set_level(Level::Rate(MIN_LIVE_RATE));
                self.cooling = Some(at);
            }
            (Some(next), _) => {
                self.control.set_level(Level::Rate(next));
                self.start_hold(at);
            }
            (None, _) => self.control.finish(),
        }
    }

    /// A hold begins at `at` (its window is cleared when its judged part begins).
    fn start_hold(&mut self, at: Duration) {
        self.began = at;
        self.judged_from = None;
    }

    /// Hands the search's progress to the control.
    fn publish(&self) {
        let outcome = self.search.outcome().map(|o| match o {
            Outcome::Found => "found",
            Outcome::StartBroke => "start broke",
            Outcome::Generator(_) => "generator limit",
            Outcome::Unstable => "unstable",
        });
        let limit = match self.search.outcome() {
            Some(Outcome::Generator(why)) => Some(why.clone()),
            _ => self.search.broke().map(|(_, why)| why.clone()),
        };
        self.control.report_capacity(CapacityReport {
            stage: stage_word(self.search.stage()),
            rate: self.search.rate().unwrap_or_default(),
            began: self.began,
            holds: self.holds.clone(),
            max_held_rate: self.search.held(),
            broke_at_rate: self.search.broke().map(|(rate, _)| *rate),
            limit,
            outcome,
        });
    }
}

impl Listener for Driver {
    fn tick(&mut self, agg: &Aggregator, snap: &Snapshot) {
        let Some(rate) = self.search.rate() else {
            return;
        };
        if self.control.is_stopping() {
            return;
        }
        let at = snap.elapsed;
        let before = self.last;
        self.last = (self.recorder.iterations_done(), snap.dropped);
        if snap.live.paused {
            // A pause spoils the hold: it begins again when the run goes on.
            self.start_hold(at);
            return;
        }
        if let Some(since) = self.cooling {
            // Drained (or given up on after three holds' time): the next hold begins.
            if snap.in_flight > 1 && at.saturating_sub(since) < self.spec.hold * 3 {
                return;
            }
            self.cooling = None;
            self.control.set_level(Level::Rate(rate));
            self.start_hold(at);
            return;
        }
        let length = snap.total.interval.length;
        if at.saturating_sub(length) >= self.began + self.spec.warm_up() {
            if self.judged_from.is_none() {
                // The judged part begins with this tick: the run's ended iterations and
                // dropped arrivals before it are the window's zero.
                self.judged_from = Some(before.0);
                self.window.clear(before.1);
            }
            self.window.add(agg, length, snap.dropped);
        }
        if at >= self.began + self.spec.hold {
            if self.judged_from.is_none() {
                // No tick began after the warm-up (the tick was starved): nothing of this
                // hold was measured, so it runs again rather than be judged on nothing.
                self.start_hold(at);
                return;
            }
            self.judge(at, rate);
        }
    }
}

/// How a hold went, judged on `window` (its own figures): the generator's send lag first (a
/// late arrival's latency includes its lateness, so the limits would judge the generator),
/// then the limits, then dropped arrivals (`max_in_flight` reached while the limits held:
/// the generator's cap, not the service, stopped arrivals).
pub fn verdict(window: &Snapshot, until: &[Threshold]) -> Verdict {
    let total = &window.total;
    if total.send_lag.count > 0 && total.send_lag.p99 > MOST_SEND_LAG_US {
        return Verdict::Generator(format!(
            "send lag p99 {} > 1ms: stampede could not start arrivals on time",
            crate::format::format_latency(total.send_lag.p99)
        ));
    }
    if total.requests == 0 {
        return Verdict::Broke("no request ended in the hold".to_string());
    }
    for t in until {
        let observed = t.observe(window);
        if !t.passes(observed) {
            return Verdict::Broke(broken(t, observed));
        }
    }
    if window.dropped > 0 {
        return Verdict::Generator(format!(
            "{} arrivals dropped at max_in_flight while the limits held; raise max_in_flight",
            window.dropped
        ));
    }
    Verdict::Held
}

/// A broken limit in words: `p99 212ms > 200ms`.
fn broken(t: &Threshold, observed: Option<f64>) -> String {
    let Some(at) = t.text.find(['<', '>']) else {
        return format!("{} ({})", t.text, t.show(observed));
    };
    let left = t.text[..at].trim();
    let right = t.text[at..].trim_start_matches(['<', '>', '=']).trim();
    let against = match t.op {
        Op::Lt => ">=",
        Op::Le => ">",
        Op::Gt => "<=",
        Op::Ge => "<",
    };
    format!("{left} {} {against} {right}", t.show(observed))
}

fn stage_word(stage: Stage) -> &'static str {
    match stage {
        Stage::Raising => "raising",
        Stage::Bisecting => "bisecting",
        Stage::Confirming => "confirming",
        Stage::Done => "done",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(text: &str) -> Threshold {
        Threshold::parse(text, &[]).expect("a threshold")
    }

    #[test]
    fn a_hold_is_judged_on_the_generator_first_then_the_limits_then_drops() {
        let until = [threshold("p99 < 200ms"), threshold("error_rate < 1%")];
        let mut snap = Snapshot::empty(&[]);
        snap.total.requests = 1000;
        snap.total.latency.count = 1000;
        snap.total.latency.p99 = 150_000;
        assert_eq!(verdict(&snap, &until), Verdict::Held);
        snap.total.latency.p99 = 212_000;
        assert_eq!(
            verdict(&snap, &until),
            Verdict::Broke("p99 212.00ms >= 200ms".into())
        );
        snap.total.latency.p99 = 150_000;
        snap.total.errors = 20;
        assert_eq!(
            verdict(&snap, &until),
            Verdict::Broke("error_rate 2.00% >= 1%".into())
        );
        snap.total.errors = 0;
        snap.dropped = 3;
        assert!(
            matches!(verdict(&snap, &until), Verdict::Generator(w) if w.contains("3 arrivals dropped"))
        );
        snap.total.send_lag.count = 10;
        snap.total.send_lag.p99 = 3_000;
        snap.total.latency.p99 = 900_000;
        assert!(matches!(verdict(&snap, &until), Verdict::Generator(w) if w.contains("send lag")));
        let mut empty = Snapshot::empty(&[]);
        empty.total.requests = 0;
        assert!(matches!(verdict(&empty, &until), Verdict::Broke(_)));
    }
}
