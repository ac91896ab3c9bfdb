//! The capacity search's arithmetic, apart from time and measurement: which rate the next
//! hold runs at, given the verdicts of the holds so far. Raising (start, then each rate
//! times the factor or plus the step, up to `max`) until a hold breaks; bisecting between
//! the highest rate that held and the lowest that broke until they are within `precision`;
//! confirming the rate found with one more hold. A confirmation that breaks makes that rate
//! the broken one and the search bisects below it (at most `MAX_CONFIRMATIONS` times).
//!
//! Depends on `scenario` (the specification) only. Invariant: every rate it asks for lies
//! in `start..=max`; it ends after a bounded number of holds.

use crate::scenario::{Capacity, RateStep};

/// How many confirmation holds may break before the search gives up on a stable answer.
pub const MAX_CONFIRMATIONS: u32 = 3;

/// Where the search is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Raising the rate hold by hold until one breaks.
    Raising,
    /// Halving the gap between the highest rate that held and the lowest that broke.
    Bisecting,
    /// One more hold at the rate found.
    Confirming,
    /// Over (see `Search::outcome`).
    Done,
}

/// How one hold went.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every limit held.
    Held,
    /// A limit broke; the text says which (`p99 212ms > 200ms`).
    Broke(String),
    /// The generator could not keep up (send lag, dropped arrivals): the service's figures
    /// at this rate say nothing, and the search stops.
    Generator(String),
}

/// How the search ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A rate held (and was confirmed), and the next one up broke (`broke` is `None` when
    /// every rate held up to `max`).
    Found,
    /// Even the start rate broke.
    StartBroke,
    /// The generator was the limit; `held` is what is known to hold, if anything.
    Generator(String),
    /// Confirmations kept breaking: the service's capacity moves under load.
    Unstable,
}

/// The search's state.
#[derive(Debug, Clone)]
pub struct Search {
    spec: Capacity,
    stage: Stage,
    /// The rate of the hold running now (or next).
    rate: f64,
    /// The highest rate that held (and was not later broken on confirmation).
    held: Option<f64>,
    /// The lowest rate that broke, and why.
    broke: Option<(f64, String)>,
    /// Every rate that held, to fall back on when a confirmation breaks.
    helds: Vec<f64>,
    confirmations_broken: u32,
    outcome: Option<Outcome>,
}

impl Search {
    /// A search starting at `spec.start`.
    pub fn new(spec: Capacity) -> Self {
        Self {
            rate: spec.start,
            spec,
            stage: Stage::Raising,
            held: None,
            broke: None,
            helds: Vec::new(),
            confirmations_broken: 0,
            outcome: None,
        }
    }

    /// The rate of the hold to run now; `None` once the search is over.
    pub fn rate(&self) -> Option<f64> {
        (self.stage != Stage::Done).then_some(self.rate)
    }

    /// Where the search is.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The highest rate that held.
    pub fn held(&self) -> Option<f64> {
        self.held
    }

    /// The lowest rate that broke, and the limit it broke.
    pub fn broke(&self) -> Option<&(f64, String)> {
        self.broke.as_ref()
    }

    /// How it ended (`None` while it runs).
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The hold at `rate()` ended as `verdict`: moves to the next hold (or ends).
    pub fn judge(&mut self, verdict: Verdict) {
        let rate = self.rate;
        match verdict {
            Verdict::Generator(why) => return self.end(Outcome::Generator(why)),
            Verdict::Held => {
                self.helds.push(rate);
                self.held = Some(self.held.map_or(rate, |h| h.max(rate)));
            }
            Verdict::Broke(why) => {
                if self.broke.as_ref().is_none_or(|(b, _)| rate <= *b) {
                    self.broke = Some((rate, why));
                }
                if self.stage == Stage::Confirming {
                    // The rate found did not hold again: it is broken, and the answer lies
                    // below it.
                    self.confirmations_broken += 1;
                    self.helds.retain(|h| *h < rate);
                    self.held = self.helds.iter().copied().reduce(f64::max);
                    if self.confirmations_broken >= MAX_CONFIRMATIONS {
                        return self.end(Outcome::Unstable);
                    }
                }
            }
        }
        self.next();
    }

    /// Chooses the next hold from what is known.
    fn next(&mut self) {
        let broke = self.broke.as_ref().map(|(b, _)| *b);
        match (self.stage, self.held, broke) {
            (Stage::Confirming, Some(_), None) => self.end(Outcome::Found),
            (Stage::Confirming, Some(h), Some(_)) if h == self.rate => self.end(Outcome::Found),
            // Nothing holds: the start broke, or every rate that held broke on confirmation.
            (_, None, Some(_)) if self.confirmations_broken > 0 => self.end(Outcome::Unstable),
            (_, None, Some(_)) => self.end(Outcome::StartBroke),
            // Bisecting needs a broken rate: without one, the search raises (never reached).
            (_, Some(h), None) => {
                if h >= self.spec.max {
                    // Every rate up to the most asked for held: confirm the top.
                    self.confirm(h);
                } else {
                    self.rate = self.raised(h).min(self.spec.max);
                }
            }
            (_, Some(h), Some(b)) => {
                if (b - h) / h <= self.spec.precision {
                    self.confirm(h);
                } else {
                    self.stage = Stage::Bisecting;
                    self.rate = (h + b) / 2.0;
                }
            }
            (_, None, None) => self.rate = self.spec.start,
        }
    }

    fn confirm(&mut self, rate: f64) {
        self.stage = Stage::Confirming;
        self.rate = rate;
    }

    fn raised(&self, rate: f64) -> f64 {
        match self.spec.step {
            RateStep::Times(f) => rate * f,
            RateStep::Plus(d) => rate + d,
        }
    }

    fn end(&mut self, outcome: Outcome) {
        self.stage = Stage::Done;
        self.outcome = Some(outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spec(step: RateStep, max: f64) -> Capacity {
        Capacity {
            start: 100.0,
            step,
            hold: Duration::from_secs(10),
            max,
            precision: 0.05,
            until: Vec::new(),
        }
    }

    /// Runs a search against a service that holds every rate up to `capacity`, returning
    /// the rates it held in order and the search.
    fn against(spec: Capacity, capacity: f64) -> (Vec<f64>, Search) {
        let mut search = Search::new(spec);
        let mut rates = Vec::new();
        while let Some(rate) = search.rate() {
            rates.push(rate);
            assert!(rates.len() < 100, "the search ends: {rates:?}");
            let verdict = if rate <= capacity {
                Verdict::Held
            } else {
                Verdict::Broke(format!("p99 at {rate}"))
            };
            search.judge(verdict);
        }
        (rates, search)
    }

    #[test]
    fn it_raises_by_the_factor_then_bisects_to_the_precision_then_confirms() {
        let (rates, search) = against(spec(RateStep::Times(2.0), 20_000.0), 1_000.0);
        // Raising: 100, 200, 400, 800, 1600 (broke); bisecting between 800 and 1600.
        assert_eq!(&rates[..5], &[100.0, 200.0, 400.0, 800.0, 1600.0]);
        assert_eq!(rates[5], 1200.0);
        let held = search.held().expect("a rate held");
        let (broke, why) = search.broke().expect("a rate broke");
        assert!(held <= 1_000.0 && *broke > 1_000.0, "{held} {broke}");
        assert!((broke - held) / held <= 0.05, "{held} {broke}");
        assert_eq!(why, &format!("p99 at {broke}"));
        // The last hold confirmed the rate found.
        assert_eq!(rates.last(), Some(&held));
        assert_eq!(search.outcome(), Some(&Outcome::Found));
        assert!(rates.iter().all(|r| (100.0..=20_000.0).contains(r)));
    }

    #[test]
    fn an_additive_step_and_the_top_rate_that_holds() {
        let (rates, search) = against(spec(RateStep::Plus(100.0), 350.0), 10_000.0);
        // 100, 200, 300, then max (350), then the confirmation of 350.
        assert_eq!(rates, [100.0, 200.0, 300.0, 350.0, 350.0]);
        assert_eq!(search.held(), Some(350.0));
        assert_eq!(search.broke(), None);
        assert_eq!(search.outcome(), Some(&Outcome::Found));
    }

    #[test]
    fn a_broken_start_and_a_generator_limit_end_the_search() {
        let (rates, search) = against(spec(RateStep::Times(1.5), 20_000.0), 50.0);
        assert_eq!(rates, [100.0]);
        assert_eq!(search.outcome(), Some(&Outcome::StartBroke));
        let mut search = Search::new(spec(RateStep::Times(1.5), 20_000.0));
        search.judge(Verdict::Held);
        search.judge(Verdict::Generator("send lag p99 3ms > 1ms".into()));
        assert_eq!(search.rate(), None);
        assert_eq!(search.held(), Some(100.0));
        assert_eq!(
            search.outcome(),
            Some(&Outcome::Generator("send lag p99 3ms > 1ms".into()))
        );
    }

    #[test]
    fn a_confirmation_that_breaks_moves_the_answer_below_it() {
        let mut search = Search::new(spec(RateStep::Times(2.0), 20_000.0));
        // 100 held, 200 broke: the gap is wide, so bisect at 150 (held), 175 (held), ...
        let script = [
            Verdict::Held,              // 100
            Verdict::Broke("x".into()), // 200
            Verdict::Held,              // 150
            Verdict::Held,              // 175
            Verdict::Held,              // 187.5
            Verdict::Held,              // 193.75: within 5% of 200, confirm
            Verdict::Broke("y".into()), // the confirmation of 193.75 breaks
        ];
        for v in script {
            search.judge(v);
        }
        // The highest rate still held is 187.5 and 193.75 broke: within 5%, confirm 187.5.
        assert_eq!(search.stage(), Stage::Confirming);
        assert_eq!(search.rate(), Some(187.5));
        assert_eq!(search.broke().map(|(b, _)| *b), Some(193.75));
        search.judge(Verdict::Held);
        assert_eq!(search.outcome(), Some(&Outcome::Found));
        assert_eq!(search.held(), Some(187.5));
    }

    #[test]
    fn a_search_whose_every_held_rate_breaks_again_is_unstable_not_a_broken_start() {
        let mut search = Search::new(spec(RateStep::Times(2.0), 150.0));
        search.judge(Verdict::Held); // 100
        search.judge(Verdict::Held); // 150 (max)
        assert_eq!(search.stage(), Stage::Confirming);
        search.judge(Verdict::Broke("x".into())); // 150 again: broke
        // 100 held and 150 broke: bisect down (125, 112.5, ...) as each breaks, until 100
        // is confirmed again.
        assert_eq!(search.rate(), Some(125.0));
        while search.stage() == Stage::Bisecting {
            search.judge(Verdict::Broke("y".into()));
        }
        assert_eq!(search.stage(), Stage::Confirming);
        assert_eq!(search.rate(), Some(100.0));
        search.judge(Verdict::Broke("w".into())); // 100 broke on confirmation too
        assert_eq!(search.outcome(), Some(&Outcome::Unstable));
    }
}
