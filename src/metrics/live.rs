//! Live load changes as plain values: the current level, how a key press steps it, and the
//! log of changes that charts mark and reports list. Pure: no clock, no engine; depends on
//! nothing in the crate.

use std::time::Duration;

/// How much load is asked for right now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    /// Closed model: this many virtual users.
    Vus(u64),
    /// Open model: arrivals per second.
    Rate(f64),
}

/// The smallest open-model rate a live change goes down to (arrivals per second).
pub const MIN_LIVE_RATE: f64 = 0.1;

impl Level {
    /// One step up or down: 10 % of the current level, at least one VU (closed) or
    /// 0.1/s (open); never below one VU or `MIN_LIVE_RATE`.
    pub fn stepped(self, up: bool) -> Level {
        match self {
            Level::Vus(v) => {
                let step = (v / 10).max(1);
                Level::Vus(if up {
                    v.saturating_add(step)
                } else {
                    v.saturating_sub(step).max(1)
                })
            }
            Level::Rate(r) => {
                let step = (r * 0.1).max(MIN_LIVE_RATE);
                let next = if up { r + step } else { r - step };
                // Round to 0.1/s so repeated steps give readable figures.
                Level::Rate(((next * 10.0).round() / 10.0).max(MIN_LIVE_RATE))
            }
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Level::Vus(v) => write!(f, "{v} VUs"),
            Level::Rate(r) => write!(f, "{r}/s"),
        }
    }
}

/// What changed during a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// The load level was changed live.
    Level {
        /// Before.
        from: Level,
        /// After.
        to: Level,
    },
    /// Sending was paused.
    Pause,
    /// Sending resumed.
    Resume,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Level { from, to } => write!(f, "{from} → {to}"),
            Change::Pause => f.write_str("paused"),
            Change::Resume => f.write_str("resumed"),
        }
    }
}

/// One live change and when it happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadEvent {
    /// Time since the run started.
    pub at: Duration,
    /// What changed.
    pub change: Change,
}

impl std::fmt::Display for LoadEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1}s {}", self.at.as_secs_f64(), self.change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vus_step_by_ten_percent_and_at_least_one() {
        assert_eq!(Level::Vus(50).stepped(true), Level::Vus(55));
        assert_eq!(Level::Vus(50).stepped(false), Level::Vus(45));
        assert_eq!(Level::Vus(3).stepped(true), Level::Vus(4));
        assert_eq!(Level::Vus(1).stepped(false), Level::Vus(1));
        assert_eq!(Level::Vus(2).stepped(false), Level::Vus(1));
    }

    #[test]
    fn rates_step_by_ten_percent_with_a_floor() {
        assert_eq!(Level::Rate(100.0).stepped(true), Level::Rate(110.0));
        assert_eq!(Level::Rate(100.0).stepped(false), Level::Rate(90.0));
        assert_eq!(Level::Rate(0.1).stepped(false), Level::Rate(MIN_LIVE_RATE));
        assert_eq!(Level::Rate(0.5).stepped(true), Level::Rate(0.6));
    }
}
