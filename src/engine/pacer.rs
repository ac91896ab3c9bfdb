//! The open model's arithmetic: when each arrival is due, through rate changes, pauses and
//! stages. `Pacer` never sleeps and never reads the clock: it is told the time, so its
//! schedule is tested exactly. The loop that sleeps until each instant and starts the
//! arrivals is `arrivals::pace`. Depends on `ramp` only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Ramp;

/// The open model's schedule: arrival `n` is planned at `base + (n - base_n) / rate`, or,
/// with stages, where the ramp puts it (from `base`, shifted by pauses). A level change or a
/// resume starts a new segment, so earlier arrivals keep their instants.
#[derive(Debug, Clone)]
struct Schedule {
    base: Instant,
    base_n: u64,
    rate: f64,
    ramp: Option<Arc<Ramp>>,
}

impl Schedule {
    fn planned(&self, n: u64) -> Option<Instant> {
        let secs = match &self.ramp {
            Some(ramp) => ramp.time_of(n)?,
            None => n.checked_sub(self.base_n)? as f64 / self.rate,
        };
        Some(self.base + Duration::try_from_secs_f64(secs).ok()?)
    }
}

/// Plans arrival after arrival: `next` says when the next one is due, `advance` takes it.
#[derive(Debug, Clone)]
pub struct Pacer {
    schedule: Schedule,
    /// Arrivals planned at or after this instant are not planned at all (the run's end).
    deadline: Option<Instant>,
    /// Arrivals taken so far; the number of the next one.
    n: u64,
}

impl Pacer {
    /// A schedule from `started` at `rate` per second, or along `ramp` (stages) when there
    /// is one, ending at `deadline`.
    pub fn new(
        started: Instant,
        rate: f64,
        ramp: Option<Arc<Ramp>>,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            schedule: Schedule {
                base: started,
                base_n: 0,
                rate,
                ramp,
            },
            deadline,
            n: 0,
        }
    }

    /// When the next arrival is due, or `None` when the schedule has ended (the duration is
    /// over, or the stages are).
    pub fn next(&self) -> Option<Instant> {
        let planned = self.schedule.planned(self.n)?;
        match self.deadline {
            Some(end) if planned >= end => None,
            _ => Some(planned),
        }
    }

    /// Takes the next arrival (started, or counted as dropped).
    pub fn advance(&mut self) {
        self.n += 1;
    }

    /// How many arrivals have been taken: the number of the next one.
    pub fn planned(&self) -> u64 {
        self.n
    }

    /// The level moved to `rate` at `now`. Stages move the level too (for the dashboard)
    /// and the ramp already plans by them, so only a change by the user (`manual`)
    /// re-plans; it leaves the stages for good.
    pub fn change_rate(&mut self, rate: f64, manual: bool, now: Instant) {
        if self.schedule.ramp.is_some() && !manual {
            return;
        }
        self.schedule = replan(&self.schedule, self.n, rate, now);
    }

    /// The run was paused from `paused_at` to `now`, and resumes at `rate`. Nothing was
    /// planned meanwhile: stages resume where they were (every later arrival moves by the
    /// pause); a fixed rate starts a new segment now.
    pub fn resume(&mut self, paused_at: Instant, now: Instant, rate: f64) {
        let schedule = &mut self.schedule;
        if schedule.ramp.is_some() {
            schedule.base += now.saturating_duration_since(paused_at);
        } else {
            *schedule = Schedule {
                base: now,
                base_n: self.n,
                rate,
                ramp: None,
            };
        }
    }
}

/// The schedule at a new rate from arrival `next` on: one new gap after the last arrival of
/// the segment, but never in the past (a faster rate must not backdate arrivals, whose
/// latency would then count time before the change). A segment with no arrival yet keeps its
/// start, unless that start is still to come: a slow rate's first gap (10 s at 0.1/s) must
/// not hold back the faster rate that replaces it, which starts now.
fn replan(schedule: &Schedule, next: u64, rate: f64, now: Instant) -> Schedule {
    let last = next
        .checked_sub(1)
        .filter(|&p| p >= schedule.base_n)
        .and_then(|p| schedule.planned(p));
    let Some(last) = last else {
        let base = if schedule.ramp.is_some() {
            now
        } else {
            schedule.base.min(now)
        };
        return Schedule {
            base,
            base_n: next,
            rate,
            ramp: None,
        };
    };
    let gap = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::MAX);
    let base = last.checked_add(gap).unwrap_or(now).max(now);
    Schedule {
        base,
        base_n: next,
        rate,
        ramp: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Stage;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Takes arrivals until the schedule ends or `limit`, returning their instants.
    fn take_all(pacer: &mut Pacer, limit: usize) -> Vec<Instant> {
        let mut out = Vec::new();
        while let Some(at) = pacer.next() {
            if out.len() == limit {
                break;
            }
            out.push(at);
            pacer.advance();
        }
        out
    }

    #[test]
    fn a_second_at_20000_per_second_plans_exactly_20000_evenly_spaced_arrivals() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 20_000.0, None, Some(t0 + Duration::from_secs(1)));
        let all = take_all(&mut pacer, 1_000_000);
        assert_eq!(all.len(), 20_000);
        assert_eq!(all[0], t0);
        for (i, at) in all.iter().enumerate() {
            // Each within a nanosecond of i × 50 µs (float rounding), never drifting.
            let ideal = t0 + Duration::from_micros(50 * i as u64);
            let off = at.max(&ideal).duration_since(*at.min(&ideal));
            assert!(off <= Duration::from_nanos(1), "arrival {i} off by {off:?}");
        }
    }

    #[test]
    fn a_rate_that_does_not_divide_the_duration_plans_the_ceiling() {
        let t0 = Instant::now();
        // 2.5 s at 3/s: arrivals at 0, 1/3, ..., 7/3 s: ceil(7.5) = 8.
        let mut pacer = Pacer::new(t0, 3.0, None, Some(t0 + ms(2_500)));
        assert_eq!(take_all(&mut pacer, 100).len(), 8);
    }

    #[test]
    fn a_faster_rate_never_backdates_arrivals() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 0.1, None, None);
        pacer.advance(); // arrival 0 went at t0
        // The change comes 9 s later, before arrival 1 (due at 10 s).
        let now = t0 + Duration::from_secs(9);
        pacer.change_rate(1.0, true, now);
        assert_eq!(pacer.next(), Some(now));
        pacer.advance();
        assert_eq!(pacer.next(), Some(now + Duration::from_secs(1)));
    }

    #[test]
    fn a_slower_rate_keeps_one_new_gap_after_the_last_arrival() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 10.0, None, None);
        take_all(&mut pacer, 5); // 0, 100, ..., 400 ms
        pacer.change_rate(1.0, true, t0 + ms(410));
        assert_eq!(pacer.next(), Some(t0 + ms(1_400)));
    }

    #[test]
    fn a_change_before_the_first_arrival_keeps_the_start() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 1.0, None, None);
        pacer.change_rate(2.0, true, t0);
        assert_eq!(pacer.next(), Some(t0));
        pacer.advance();
        assert_eq!(pacer.next(), Some(t0 + ms(500)));
    }

    #[test]
    fn a_fast_rate_after_a_slow_one_that_sent_nothing_starts_now() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 100.0, None, None);
        take_all(&mut pacer, 3); // 0, 10, 20 ms
        // Down to 0.1/s: its first arrival would be 10 s after the last one.
        pacer.change_rate(0.1, true, t0 + ms(25));
        assert_eq!(pacer.next(), Some(t0 + ms(10_020)));
        // Back up 2 s later, before that arrival: the new rate starts then, not at 10 s.
        let now = t0 + ms(2_000);
        pacer.change_rate(100.0, true, now);
        assert_eq!(pacer.next(), Some(now));
        pacer.advance();
        assert_eq!(pacer.next(), Some(now + ms(10)));
    }

    #[test]
    fn resuming_a_fixed_rate_starts_a_new_segment_at_the_resume() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 10.0, None, None);
        take_all(&mut pacer, 3); // 0, 100, 200 ms
        pacer.resume(t0 + ms(250), t0 + ms(5_000), 20.0);
        assert_eq!(pacer.next(), Some(t0 + ms(5_000)));
        pacer.advance();
        assert_eq!(pacer.next(), Some(t0 + ms(5_050)));
        assert_eq!(pacer.planned(), 4);
    }

    fn stages() -> Arc<Ramp> {
        // From 0/s up to 10/s over 2 s, then 10/s for 1 s: 10 + 10 = 20 arrivals.
        let stage = |secs, target| Stage {
            duration: Duration::from_secs(secs),
            target,
        };
        Arc::new(Ramp::new(0.0, &[stage(2, 10.0), stage(1, 10.0)]))
    }

    #[test]
    fn stages_plan_along_the_ramp_and_end_with_it() {
        let t0 = Instant::now();
        let end = Some(t0 + Duration::from_secs(3));
        let mut pacer = Pacer::new(t0, 0.0, Some(stages()), end);
        let all = take_all(&mut pacer, 1000);
        assert_eq!(all.len(), 20);
        // Rising rate: the gaps shrink through the first stage, then stay at 100 ms.
        let gap = |i: usize| all[i + 1] - all[i];
        assert!(gap(1) > gap(8), "{:?} {:?}", gap(1), gap(8));
        let steady = gap(15).as_secs_f64();
        assert!((steady - 0.1).abs() < 1e-6, "{steady}");
        assert!(all[19] < t0 + Duration::from_secs(3));
    }

    #[test]
    fn stages_ignore_their_own_level_moves_and_shift_by_a_pause() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 0.0, Some(stages()), None);
        let planned: Vec<_> = {
            let mut copy = pacer.clone();
            take_all(&mut copy, 1000)
        };
        take_all(&mut pacer, 10);
        // The stage follower moves the level: not the user's change, nothing re-planned.
        pacer.change_rate(7.0, false, t0 + ms(2_000));
        assert_eq!(pacer.next(), Some(planned[10]));
        // A pause of 3 s moves every later arrival by 3 s.
        pacer.resume(t0 + ms(2_000), t0 + ms(5_000), 7.0);
        assert_eq!(pacer.next(), Some(planned[10] + Duration::from_secs(3)));
        // The user's own change leaves the stages: a fixed 50/s from then on.
        pacer.change_rate(50.0, true, t0 + ms(5_000));
        pacer.advance();
        let after = pacer.next().expect("planned");
        pacer.advance();
        assert_eq!(pacer.next(), Some(after + ms(20)));
    }

    /// Split over N shards, a schedule (a constant rate, or stages) is shared out exactly:
    /// each shard's arrivals are those numbered ≡ its index, as many as its share of the
    /// whole, and together, in time order, they are the whole schedule, instant for instant.
    #[test]
    fn shards_take_the_arrivals_of_their_residue_and_together_make_the_schedule() {
        use crate::scenario::Shard;
        let t0 = Instant::now();
        let end = Some(t0 + Duration::from_secs(3));
        for ramp in [None, Some(stages())] {
            let whole = take_all(&mut Pacer::new(t0, 7.0, ramp.clone(), end), 10_000);
            for count in 1..=8 {
                let mut union = Vec::new();
                for index in 0..count {
                    let shard = Shard { index, count };
                    let mut pacer = Pacer::new(t0, 7.0, ramp.clone(), end);
                    let mut mine = Vec::new();
                    while let Some(at) = pacer.next() {
                        if shard.owns(pacer.planned()) {
                            mine.push(at);
                        }
                        pacer.advance();
                    }
                    assert_eq!(mine.len() as u64, shard.share(whole.len() as u64));
                    union.extend(mine);
                }
                union.sort();
                assert_eq!(union, whole, "N={count}");
            }
        }
    }
}
