//! Thresholds: pass/fail criteria on a run's figures, as `[SCOPE:] METRIC OP VALUE`
//! (`p99 < 200ms`, `checkout/pay: error_rate < 1%`, `rps >= 500`). Written under
//! `thresholds:` in a scenario or with `--threshold`; the run's verdict and exit code come
//! from them (`report`'s verdicts).
//!
//! Parsing checks everything that can be checked before any load: the metric exists, the
//! value's unit fits it (a latency takes a duration, a rate a percentage), the step named
//! exists. Depends on `metrics` (the snapshot a threshold reads), `format` (a latency in
//! words) and `units`.

use std::time::Duration;

use super::units::{parse_duration, parse_rate};
use crate::metrics::{Percentiles, Snapshot, StepStats, Tag};

/// A latency statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Min,
    Mean,
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
}

impl Stat {
    fn of(self, p: &Percentiles) -> f64 {
        match self {
            Stat::Min => p.min as f64,
            Stat::Mean => p.mean,
            Stat::P50 => p.p50 as f64,
            Stat::P90 => p.p90 as f64,
            Stat::P95 => p.p95 as f64,
            Stat::P99 => p.p99 as f64,
            Stat::P999 => p.p999 as f64,
            Stat::Max => p.max as f64,
        }
    }
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Latency from the planned start (µs).
    Latency(Stat),
    /// Errors over completed requests (a fraction).
    ErrorRate,
    /// Requests per second.
    Rps,
    /// The open model's dropped arrivals over planned ones (a fraction; whole run only).
    DroppedRate,
    /// The open model's send lag, 99th percentile (µs).
    SendLagP99,
    /// Check evaluations that passed (a fraction).
    Checks,
    /// The time the server said it spent (µs): `server_time_p99`, any statistic.
    ServerTime(Stat),
    /// Service time − server time (µs): `overhead_p99`, any statistic.
    Overhead(Stat),
    /// Requests that were retries (`retry:`) over all requests (a fraction).
    RetryRate,
}

/// How a value's unit is written, by metric.
enum Unit {
    Duration,
    Fraction,
    Rate,
}

impl Metric {
    const NAMES: &'static str = "p50, p90, p95, p99, p99.9, min, mean, max, error_rate, rps, dropped_rate, \
         send_lag_p99, checks, retry_rate, server_time_p99 or overhead_p99 (server_time_ and overhead_ \
         take any latency statistic)";

    fn parse(name: &str) -> Option<Self> {
        if let Some(stat) = name.strip_prefix("server_time_") {
            return Self::stat(stat).map(Metric::ServerTime);
        }
        if let Some(stat) = name.strip_prefix("overhead_") {
            return Self::stat(stat).map(Metric::Overhead);
        }
        Some(match name {
            "min" => Metric::Latency(Stat::Min),
            "mean" | "avg" => Metric::Latency(Stat::Mean),
            "p50" | "median" => Metric::Latency(Stat::P50),
            "p90" => Metric::Latency(Stat::P90),
            "p95" => Metric::Latency(Stat::P95),
            "p99" => Metric::Latency(Stat::P99),
            "p99.9" | "p999" => Metric::Latency(Stat::P999),
            "max" => Metric::Latency(Stat::Max),
            "error_rate" => Metric::ErrorRate,
            "rps" => Metric::Rps,
            "dropped_rate" => Metric::DroppedRate,
            "send_lag_p99" => Metric::SendLagP99,
            "checks" => Metric::Checks,
            "retry_rate" => Metric::RetryRate,
            _ => return None,
        })
    }

    /// A latency statistic by its name (`p99`).
    fn stat(name: &str) -> Option<Stat> {
        match Self::parse(name)? {
            Metric::Latency(stat) => Some(stat),
            _ => None,
        }
    }

    fn unit(self) -> Unit {
        match self {
            Metric::Latency(_)
            | Metric::SendLagP99
            | Metric::ServerTime(_)
            | Metric::Overhead(_) => Unit::Duration,
            Metric::ErrorRate | Metric::DroppedRate | Metric::Checks | Metric::RetryRate => {
                Unit::Fraction
            }
            Metric::Rps => Unit::Rate,
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
        }
    }
}

/// One threshold, ready to judge a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As written, tidied: `checkout / pay: p99 < 200ms`.
    pub text: String,
    /// The step it reads (an index into `Plan::steps`), or the whole run.
    pub step: Option<usize>,
    /// One value of the step's tag it reads (`get user[from_cache=false]: p99 < 50ms`).
    pub tag: Option<Tag>,
    /// What it measures.
    pub metric: Metric,
    /// How the measure compares with the limit.
    pub op: Op,
    /// The limit, in the metric's own unit (µs, a fraction, per second).
    pub limit: f64,
    /// Stop the run as soon as it fails (checked on every tick after `delay`).
    pub abort_on_fail: bool,
    /// How long into the run before `abort_on_fail` may act (early figures are noisy).
    pub delay: Duration,
}

impl Threshold {
    /// Parses `[SCOPE:] METRIC OP VALUE`; `steps` are `(flow, step)` names in plan order.
    /// `Err` says what is wrong and how to write it.
    pub fn parse(text: &str, steps: &[(String, String)]) -> Result<Self, String> {
        let at = text.find(['<', '>']).ok_or_else(|| {
            format!(
                "\"{text}\" has no comparison; write e.g. \"p99 < 200ms\" or \
                 \"checkout/pay: error_rate < 1%\""
            )
        })?;
        let (left, right) = text.split_at(at);
        let (op, value) = match right
            .strip_prefix("<=")
            .or_else(|| right.strip_prefix(">="))
        {
            Some(v) if right.starts_with('<') => (Op::Le, v),
            Some(v) => (Op::Ge, v),
            None if right.starts_with('<') => (Op::Lt, &right[1..]),
            None => (Op::Gt, &right[1..]),
        };
        let (scope, metric_name) = match left.rsplit_once(':') {
            Some((scope, metric)) => (Some(scope.trim()), metric.trim()),
            None => (None, left.trim()),
        };
        let metric = Metric::parse(metric_name).ok_or_else(|| {
            format!(
                "\"{metric_name}\" is not a threshold metric; use {}",
                Metric::NAMES
            )
        })?;
        let (step, tag) = scope_of(scope, steps)?;
        if step.is_some() && metric == Metric::DroppedRate {
            return Err(
                "dropped_rate is a figure of the whole run; write it without a step".into(),
            );
        }
        let value = value.trim();
        let limit = parse_limit(metric, value)?;
        let tag_label = tag
            .as_ref()
            .map_or(String::new(), |t| format!("[{}={}]", t.key, t.value));
        let scope_label = step.map(|i| format!("{} / {}{tag_label}: ", steps[i].0, steps[i].1));
        let op_text = match op {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        };
        Ok(Self {
            text: format!(
                "{}{metric_name} {op_text} {value}",
                scope_label.unwrap_or_default()
            ),
            step,
            tag,
            metric,
            op,
            limit,
            abort_on_fail: false,
            delay: Duration::ZERO,
        })
    }

    /// The figure this threshold reads from `snap`, in its unit; `None` when there is none
    /// yet (no response, no check evaluated): a threshold without data fails.
    pub fn observe(&self, snap: &Snapshot) -> Option<f64> {
        let stats: &StepStats = match self.step {
            Some(i) => snap.steps.get(i)?,
            None => &snap.total,
        };
        // A tag value that no response has said yet has no figures.
        let stats = match &self.tag {
            Some(tag) => stats.tags.iter().find(|t| t.tag.as_ref() == Some(tag))?,
            None => stats,
        };
        match self.metric {
            Metric::Latency(stat) => (stats.latency.count > 0).then(|| stat.of(&stats.latency)),
            Metric::SendLagP99 => (stats.send_lag.count > 0).then_some(stats.send_lag.p99 as f64),
            Metric::ServerTime(stat) => {
                (stats.server_time.count > 0).then(|| stat.of(&stats.server_time))
            }
            Metric::Overhead(stat) => (stats.overhead.count > 0).then(|| stat.of(&stats.overhead)),
            Metric::ErrorRate => (stats.requests > 0).then(|| stats.error_rate()),
            // A step without `retry:` retries nothing: its rate is 0.
            Metric::RetryRate => (stats.requests > 0)
                .then(|| stats.retries.map_or(0.0, |r| r.retry_rate(stats.requests))),
            Metric::Rps => Some(stats.rps),
            Metric::DroppedRate => {
                let planned = stats.requests + stats.interrupted + snap.dropped;
                (planned > 0).then(|| snap.dropped as f64 / planned as f64)
            }
            Metric::Checks => {
                let checks: Vec<_> = match self.step {
                    Some(_) => stats.checks.iter().collect(),
                    None => snap.steps.iter().flat_map(|s| &s.checks).collect(),
                };
                let evaluated: u64 = checks.iter().map(|c| c.evaluated).sum();
                let failed: u64 = checks.iter().map(|c| c.failed).sum();
                (evaluated > 0).then(|| (evaluated - failed) as f64 / evaluated as f64)
            }
        }
    }

    /// Whether `observed` meets the threshold (no data never does).
    pub fn passes(&self, observed: Option<f64>) -> bool {
        observed.is_some_and(|v| self.op.holds(v, self.limit))
    }

    /// `observed` as reports give it: milliseconds for durations (like every latency in the
    /// JSON), the fraction for rates, per second for rps.
    pub fn reported(&self, observed: f64) -> f64 {
        match self.metric.unit() {
            Unit::Duration => observed / 1000.0,
            Unit::Fraction | Unit::Rate => observed,
        }
    }

    /// `observed` written in the threshold's own unit, for the summary.
    pub fn show(&self, observed: Option<f64>) -> String {
        let Some(v) = observed else {
            return "no data".to_string();
        };
        match self.metric.unit() {
            Unit::Duration => crate::format::format_latency(v.round() as u64),
            Unit::Fraction => format!("{:.2}%", v * 100.0),
            Unit::Rate => format!("{v:.1}/s"),
        }
    }
}

/// The step `scope` names: `flow/step` (spaces around `/` allowed) or a step name that is
/// unique in the plan.
/// The step a scope names (`None`: the whole run) and the value of its tag, if it names one.
fn scope_of(
    scope: Option<&str>,
    steps: &[(String, String)],
) -> Result<(Option<usize>, Option<Tag>), String> {
    let (scope, tag) = match scope.map(split_tag) {
        Some(split) => split?,
        None => ("", None),
    };
    match scope {
        "" if tag.is_some() => Err("a tag value belongs to a step; write e.g. \
                                    \"get user[from_cache=false]: p99 < 50ms\""
            .into()),
        "" => Ok((None, None)),
        scope => Ok((Some(find_step(scope, steps)?), tag)),
    }
}

/// `get user[from_cache=false]` → (`get user`, the tag); a scope without `[...]` has none.
fn split_tag(scope: &str) -> Result<(&str, Option<Tag>), String> {
    let Some(inner) = scope.strip_suffix(']') else {
        return Ok((scope, None));
    };
    let (step, tag) = inner
        .rsplit_once('[')
        .ok_or_else(|| format!("\"{scope}\" has a ] without its [; write STEP[KEY=VALUE]"))?;
    let (key, value) = tag
        .split_once('=')
        .ok_or_else(|| format!("\"[{tag}]\" names no value; write STEP[KEY=VALUE]"))?;
    let tag = Tag {
        key: key.trim().to_string(),
        value: value.trim().to_string(),
    };
    Ok((step.trim(), Some(tag)))
}

impl Threshold {
    /// Whether its tag, if it has one, is the tag of its step; `keys` are each step's tag
    /// key in plan order (`None`: the step has no `tag_by`).
    pub fn tag_fits(&self, keys: &[Option<&str>]) -> Result<(), String> {
        let (Some(tag), Some(step)) = (&self.tag, self.step) else {
            return Ok(());
        };
        match keys.get(step).copied().flatten() {
            Some(key) if key == tag.key => Ok(()),
            Some(key) => Err(format!(
                "the step's tag is \"{key}\", not \"{}\"; write [{key}=VALUE]",
                tag.key
            )),
            None => Err(format!(
                "the step has no tag_by; give it one, e.g. tag_by: {{ json: body.{} }}",
                tag.key
            )),
        }
    }
}

fn find_step(scope: &str, steps: &[(String, String)]) -> Result<usize, String> {
    let known = || {
        let names: Vec<String> = steps.iter().map(|(f, s)| format!("{f}/{s}")).collect();
        names.join(", ")
    };
    if let Some((flow, step)) = scope.split_once('/') {
        let (flow, step) = (flow.trim(), step.trim());
        return steps
            .iter()
            .position(|(f, s)| f == flow && s == step)
            .ok_or_else(|| format!("no step \"{flow}/{step}\"; the steps are {}", known()));
    }
    let mut found = steps.iter().enumerate().filter(|(_, (_, s))| s == scope);
    match (found.next(), found.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some(_), Some(_)) => Err(format!(
            "several flows have a step \"{scope}\"; write FLOW/{scope}"
        )),
        (None, _) => Err(format!("no step \"{scope}\"; the steps are {}", known())),
    }
}

/// The limit in the metric's unit, from how the user wrote it.
fn parse_limit(metric: Metric, value: &str) -> Result<f64, String> {
    let what = |kind: &str, example: &str| {
        format!("\"{value}\" is not {kind}; this metric takes e.g. {example}")
    };
    match metric.unit() {
        Unit::Duration => parse_duration(value)
            .map(|d| d.as_secs_f64() * 1e6)
            .map_err(|_| what("a duration", "200ms or 1.5s")),
        Unit::Fraction => {
            let fraction = match value.strip_suffix('%') {
                Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
                None => value.parse::<f64>(),
            };
            match fraction {
                Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
                _ => Err(what("a percentage", "1% or 0.01")),
            }
        }
        Unit::Rate => {
            // Zero is a fine limit (`rps > 0`: something was sent), which a load's rate is not.
            let per_second = value.strip_suffix("/s").unwrap_or(value).trim();
            match per_second.parse::<f64>() {
                Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
                _ => parse_rate(value).map_err(|_| what("a rate", "500 or 500/s")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps() -> Vec<(String, String)> {
        [
            ("browse", "home"),
            ("checkout", "cart"),
            ("checkout", "pay"),
        ]
        .iter()
        .map(|(f, s)| (f.to_string(), s.to_string()))
        .collect()
    }

    #[test]
    fn thresholds_parse_with_and_without_a_step() {
        let t = Threshold::parse("p99 < 200ms", &steps()).expect("valid");
        assert_eq!(
            (t.step, t.metric, t.op),
            (None, Metric::Latency(Stat::P99), Op::Lt)
        );
        assert_eq!(t.limit, 200_000.0);
        assert_eq!(t.text, "p99 < 200ms");
        let t = Threshold::parse("checkout/pay:error_rate<1%", &steps()).expect("valid");
        assert_eq!(
            (t.step, t.metric, t.limit),
            (Some(2), Metric::ErrorRate, 0.01)
        );
        assert_eq!(t.text, "checkout / pay: error_rate < 1%");
        let t = Threshold::parse("home: rps >= 500/s", &steps()).expect("valid");
        assert_eq!((t.step, t.op, t.limit), (Some(0), Op::Ge, 500.0));
        let t = Threshold::parse("checks > 0.99", &steps()).expect("valid");
        assert_eq!(t.limit, 0.99);
        let t = Threshold::parse("pay: server_time_p99 < 50ms", &steps()).expect("valid");
        assert_eq!(
            (t.metric, t.limit),
            (Metric::ServerTime(Stat::P99), 50_000.0)
        );
        let t = Threshold::parse("overhead_p50 <= 2ms", &steps()).expect("valid");
        assert_eq!(t.metric, Metric::Overhead(Stat::P50));
    }

    #[test]
    fn a_bad_threshold_says_what_to_write() {
        let err = |text: &str| Threshold::parse(text, &steps()).expect_err(text);
        assert!(err("p99 200ms").contains("no comparison"));
        assert!(err("p98 < 1s").contains("not a threshold metric"));
        assert!(err("server_time_rps < 1s").contains("not a threshold metric"));
        assert!(err("overhead_p99 < 1%").contains("takes e.g. 200ms"));
        assert!(err("p99 < 1%").contains("takes e.g. 200ms"));
        assert!(err("error_rate < 5ms").contains("takes e.g. 1%"));
        assert!(err("error_rate < 150%").contains("takes e.g. 1%"));
        assert!(err("shop/pay: p99 < 1s").contains("no step \"shop/pay\""));
        assert!(err("nowhere: p99 < 1s").contains("checkout/pay"));
        assert!(err("pay: dropped_rate < 1%").contains("whole run"));
    }

    #[test]
    fn a_step_name_used_by_two_flows_needs_its_flow() {
        let mut two = steps();
        two.push(("browse".into(), "pay".into()));
        let err = Threshold::parse("pay: p99 < 1s", &two).expect_err("ambiguous");
        assert!(err.contains("write FLOW/pay"), "{err}");
        assert!(Threshold::parse("browse / pay: p99 < 1s", &two).is_ok());
    }

    #[test]
    fn comparisons_hold_as_written_and_no_data_fails() {
        let t = Threshold::parse("p99 <= 200ms", &steps()).expect("valid");
        assert!(t.passes(Some(200_000.0)));
        assert!(!t.passes(Some(200_001.0)));
        assert!(!t.passes(None));
        let t = Threshold::parse("rps > 100", &steps()).expect("valid");
        assert!(!t.passes(Some(100.0)));
        assert!(t.passes(Some(100.5)));
    }
}
