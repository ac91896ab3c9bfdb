//! Stages as a function of time: the level at any instant, and, for the open model, the
//! exact instant of every arrival.
//!
//! The level moves linearly within a stage, so the number of arrivals planned by time t is
//! the integral of the rate, Λ(t), a piecewise quadratic. Arrival n is planned where
//! Λ(t) = n, solved per stage in closed form: no rounding accumulates, and a ramp from 0 to
//! 200/s over 5 s plans exactly 500 arrivals.

use crate::scenario::Stage;

/// Piecewise-linear level over time; after the last stage the last level holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    /// Start, in seconds from the run's start.
    t0: f64,
    /// Length in seconds (infinite for the final hold).
    len: f64,
    /// Level at the start and at the end.
    from: f64,
    to: f64,
    /// Arrivals planned before the segment (Λ(t0)).
    n0: f64,
}

impl Segment {
    fn level(&self, tau: f64) -> f64 {
        if self.len.is_infinite() || self.len <= 0.0 {
            return self.to;
        }
        self.from + (self.to - self.from) * (tau / self.len).clamp(0.0, 1.0)
    }

    /// Λ over the whole segment.
    fn count(&self) -> f64 {
        if self.len.is_infinite() {
            if self.to > 0.0 { f64::INFINITY } else { 0.0 }
        } else {
            (self.from + self.to) / 2.0 * self.len
        }
    }
}

impl Ramp {
    /// The ramp from `start` through `stages`.
    pub fn new(start: f64, stages: &[Stage]) -> Self {
        let mut segments = Vec::with_capacity(stages.len() + 1);
        let (mut t0, mut n0, mut from) = (0.0, 0.0, start);
        for st in stages {
            let seg = Segment {
                t0,
                len: st.duration.as_secs_f64(),
                from,
                to: st.target,
                n0,
            };
            n0 += seg.count();
            t0 += seg.len;
            from = st.target;
            segments.push(seg);
        }
        segments.push(Segment {
            t0,
            len: f64::INFINITY,
            from,
            to: from,
            n0,
        });
        Self { segments }
    }

    /// The level `t` seconds into the run.
    pub fn level_at(&self, t: f64) -> f64 {
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.t0 <= t)
            .unwrap_or(&self.segments[0]);
        seg.level(t - seg.t0)
    }

    /// When arrival `n` (from 0) is planned, in seconds from the start; `None` if never
    /// (the rate stays at zero).
    pub fn time_of(&self, n: u64) -> Option<f64> {
        let n = n as f64;
        let seg = self
            .segments
            .iter()
            .find(|s| n < s.n0 + s.count() && s.count() > 0.0)?;
        let k = n - seg.n0;
        let tau = if k <= 0.0 {
            0.0
        } else if seg.len.is_infinite() || seg.from == seg.to {
            k / seg.from
        } else {
            // k = from·τ + (to − from)·τ² / (2·len), the root in [0, len]; written so that
            // it stays exact when `from` is 0 and stable when the slope is tiny.
            let a = (seg.to - seg.from) / (2.0 * seg.len);
            let b = seg.from;
            2.0 * k / (b + (b * b + 4.0 * a * k).max(0.0).sqrt())
        };
        Some(seg.t0 + tau)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn stage(secs: f64, target: f64) -> Stage {
        Stage {
            duration: Duration::from_secs_f64(secs),
            target,
        }
    }

    fn planned_before(r: &Ramp, t: f64) -> u64 {
        (0..)
            .take_while(|&n| r.time_of(n).is_some_and(|x| x < t))
            .count() as u64
    }

    #[test]
    fn a_ramp_from_zero_plans_its_integral() {
        let r = Ramp::new(0.0, &[stage(5.0, 200.0)]);
        assert_eq!(planned_before(&r, 5.0), 500);
        assert_eq!(r.level_at(2.5), 100.0);
        assert_eq!(r.level_at(60.0), 200.0);
        // Arrival times rise and follow t = sqrt(n / 20).
        let t = r.time_of(125).expect("planned");
        assert!((t - 2.5).abs() < 1e-9, "{t}");
    }

    #[test]
    fn stages_hold_ramp_down_and_pause_at_zero() {
        let r = Ramp::new(10.0, &[stage(2.0, 10.0), stage(2.0, 0.0), stage(1.0, 0.0)]);
        assert_eq!(planned_before(&r, 2.0), 20);
        assert_eq!(planned_before(&r, 4.0), 30);
        assert_eq!(r.time_of(30), None, "the rate ends at zero");
        assert_eq!(r.level_at(3.0), 5.0);
        let back = Ramp::new(0.0, &[stage(1.0, 0.0), stage(1.0, 100.0)]);
        let first = back.time_of(0).expect("planned");
        assert!((first - 1.0).abs() < 1e-9, "{first}");
        assert_eq!(planned_before(&back, 2.0), 50);
        // After the last stage its level holds.
        assert_eq!(planned_before(&back, 3.0), 150);
    }
}
