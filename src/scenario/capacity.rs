//! `load.find_capacity`: the capacity search's specification (`Capacity`): where it starts,
//! how it raises the rate, how long each hold lasts, its ceiling, its precision and the
//! limits (`until`, thresholds judged on each hold's own figures).
//!
//! Depends on `threshold` only. Invariant: `0 < start <= max`, a step that raises the rate,
//! a hold long enough for its warm-up and a judged part, `0 < precision < 1`.

use std::time::Duration;

use super::Threshold;

/// The default factor between holds while raising.
pub const DEFAULT_STEP: RateStep = RateStep::Times(1.5);

/// The default length of a hold.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(10);

/// The shortest hold: a warm-up and at least a judged second.
pub const SHORTEST_HOLD: Duration = Duration::from_secs(2);

/// The default ceiling of the search (arrivals per second).
pub const DEFAULT_MAX: f64 = 100_000.0;

/// The default precision: the search ends when the rate that held and the one that broke
/// are within 5 % of each other.
pub const DEFAULT_PRECISION: f64 = 0.05;

/// How the rate rises from one hold to the next while raising.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateStep {
    /// Times a factor (`1.5x`).
    Times(f64),
    /// Plus arrivals per second (`+100/s`).
    Plus(f64),
}

/// A capacity search (open model).
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    /// The first hold's rate (arrivals per second).
    pub start: f64,
    /// How the rate rises while raising.
    pub step: RateStep,
    /// Each hold's length, its warm-up included.
    pub hold: Duration,
    /// The highest rate tried.
    pub max: f64,
    /// Bisection ends when (broke − held) / held is at most this.
    pub precision: f64,
    /// The limits a hold must keep, judged on its own figures.
    pub until: Vec<Threshold>,
}

impl Capacity {
    /// The start of each hold that is not judged: a fifth of it, at most 5 s (requests sent
    /// at the previous rate are still ending, connections are still being made).
    pub fn warm_up(&self) -> Duration {
        (self.hold / 5).min(Duration::from_secs(5))
    }
}

/// `1.5x` or `+100/s` (a bare `+100` is per second).
pub fn parse_step(text: &str) -> Result<RateStep, String> {
    let t = text.trim();
    let fail =
        || format!("\"{text}\" is not a step; write a factor (1.5x) or an increase (+100/s)");
    if let Some(f) = t.strip_suffix('x').or_else(|| t.strip_suffix('×')) {
        let f: f64 = f.trim().parse().map_err(|_| fail())?;
        if !(f > 1.0 && f <= 100.0) {
            return Err(format!(
                "\"{text}\": a factor raises the rate: more than 1x, at most 100x"
            ));
        }
        return Ok(RateStep::Times(f));
    }
    let Some(plus) = t.strip_prefix('+') else {
        return Err(fail());
    };
    let d = super::parse_rate(plus).map_err(|_| fail())?;
    Ok(RateStep::Plus(d))
}

/// `5%` (or `0.05`): a fraction above 0 and below 1.
pub fn parse_precision(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let fail = || format!("\"{text}\" is not a precision; write a percentage, e.g. 5%");
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map_err(|_| fail())? / 100.0,
        None => t.parse::<f64>().map_err(|_| fail())?,
    };
    if !(v > 0.0 && v < 1.0) {
        return Err(format!(
            "\"{text}\": the precision is above 0% and below 100%, e.g. 5%"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_precisions_parse_or_say_what_to_write() {
        assert_eq!(parse_step("1.5x"), Ok(RateStep::Times(1.5)));
        assert_eq!(parse_step("+100/s"), Ok(RateStep::Plus(100.0)));
        assert_eq!(parse_step("+60/m"), Ok(RateStep::Plus(1.0)));
        assert!(parse_step("1x").is_err());
        assert!(parse_step("100/s").expect_err("no sign").contains("+100/s"));
        assert_eq!(parse_precision("5%"), Ok(0.05));
        assert_eq!(parse_precision("0.1"), Ok(0.1));
        assert!(parse_precision("0%").is_err());
        assert!(parse_precision("150%").is_err());
    }
}
