//! Validation: one pass from the raw mirror to a `Plan`, collecting every problem it can find.
//!
//! Command-line overrides are applied here, before the checks, so that `--vus 10` on a file
//! that says `rate: 100/s` yields a valid closed-model plan rather than a conflict.

use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::diag::Problems;
use super::plan::{Flow, Load, Model, Plan, Step, Target};
use super::raw::{RawFlow, RawLoad, RawScenario, RawStep};
use super::step::{Defaults, build_step};
use super::template::{EnvLookup, substitute_env};
use super::units::{parse_duration, parse_rate};

/// Default time allowed for one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time in-flight requests get to finish once the run stops.
pub const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(5);
/// Default cap on concurrent iterations in the open model.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 1000;
/// Largest flow weight (weights are summed, so they must not overflow).
const MAX_WEIGHT: u64 = 1_000_000;

/// Values from the command line that replace the file's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--vus`: switches to the closed model.
    pub vus: Option<u64>,
    /// `--rate` in arrivals per second: switches to the open model.
    pub rate: Option<f64>,
    /// `--max-in-flight` for the open model.
    pub max_in_flight: Option<u64>,
    /// `--duration`.
    pub duration: Option<Duration>,
    /// `--iterations`.
    pub iterations: Option<u64>,
    /// `--target`.
    pub target: Option<Target>,
}

/// Inputs shared by every check of one file.
pub struct Context<'a> {
    /// Environment variables for `{{ env.NAME }}`.
    pub env: EnvLookup<'a>,
    /// Command-line values that beat the file.
    pub overrides: &'a Overrides,
    /// The name to use when the file has none (its stem).
    pub fallback_name: String,
}

/// Builds a plan from a parsed file, or returns every problem found.
pub fn build(raw: RawScenario, cx: &Context<'_>, problems: &mut Problems) -> Option<Plan> {
    let name = raw
        .name
        .map(|n| n.value)
        .unwrap_or_else(|| cx.fallback_name.clone());
    let target = build_target(raw.target.as_ref(), cx, problems);
    let load = build_load(raw.load.as_ref(), cx.overrides, problems);
    let defaults = Defaults::build(raw.defaults.as_ref(), cx, problems);
    let flows = build_flows(raw.flows.as_ref(), &defaults, cx, problems);
    if !problems.is_empty() {
        return None;
    }
    Some(Plan {
        name,
        source: None,
        target: target?,
        load: load?,
        flows,
    })
}

fn build_target(
    raw: Option<&Spanned<String>>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Option<Target> {
    if let Some(target) = &cx.overrides.target {
        return Some(target.clone());
    }
    let Some(raw) = raw else {
        problems.at(
            Location::UNKNOWN,
            "target",
            "missing; write a base URL such as http://127.0.0.1:8000, or demo",
        );
        return None;
    };
    let text = match substitute_env(&raw.value, cx.env) {
        Ok(t) => t,
        Err(e) => {
            problems.on(raw, "target", e);
            return None;
        }
    };
    match parse_target(&text) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.on(raw, "target", e);
            None
        }
    }
}

/// Parses `demo` or an `http(s)://host[:port][/base]` URL.
pub fn parse_target(text: &str) -> Result<Target, String> {
    let text = text.trim();
    if text == "demo" {
        return Ok(Target::Demo);
    }
    let url = reqwest::Url::parse(text).map_err(|e| {
        format!("\"{text}\" is not a URL ({e}); write e.g. http://127.0.0.1:8000, or demo")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "\"{text}\" must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "\"{text}\": a target has no query or fragment; put them on the steps"
        ));
    }
    Ok(Target::Url(text.trim_end_matches('/').to_string()))
}

fn build_load(
    raw: Option<&Spanned<RawLoad>>,
    ov: &Overrides,
    problems: &mut Problems,
) -> Option<Load> {
    let empty = RawLoad::default();
    let (l, loc) = match raw {
        Some(s) => (&s.value, s.referenced),
        None => (&empty, Location::UNKNOWN),
    };
    let duration = match (ov.duration, &l.duration) {
        (Some(d), _) => Some(d),
        (None, Some(d)) => positive_duration(d, "load.duration", problems),
        (None, None) => None,
    };
    let iterations = ov.iterations.or(l.iterations.as_ref().map(|i| i.value));
    if let Some(i) = l
        .iterations
        .as_ref()
        .filter(|i| i.value == 0 && ov.iterations.is_none())
    {
        problems.on(i, "load.iterations", "must be at least 1");
    }
    // An invalid duration is reported on its own; "no stop condition" would only add noise.
    if l.duration.is_none() && ov.duration.is_none() && iterations.is_none() {
        problems.at(
            loc,
            "load",
            "no stop condition; set duration (e.g. 30s) and/or iterations (e.g. 1000)",
        );
    }
    let graceful_stop = match &l.graceful_stop {
        Some(g) => parse_duration(&g.value)
            .map_err(|e| problems.on(g, "load.graceful_stop", e))
            .ok(),
        None => Some(DEFAULT_GRACEFUL_STOP),
    };
    let model = build_model(l, ov, problems);
    Some(Load {
        model: model?,
        duration,
        iterations,
        graceful_stop: graceful_stop?,
    })
}

fn build_model(l: &RawLoad, ov: &Overrides, problems: &mut Problems) -> Option<Model> {
    // A command-line choice of model replaces the file's model entirely.
    let (vus, rate) = match (ov.vus, ov.rate) {
        (Some(v), _) => (Some(v), None),
        (None, Some(r)) => (None, Some(r)),
        (None, None) => {
            let vus = l.vus.as_ref().map(|v| v.value);
            if let Some(v) = l.vus.as_ref().filter(|v| v.value == 0) {
                problems.on(v, "load.vus", "must be at least 1");
            }
            let rate = l.rate.as_ref().and_then(|r| {
                let text = scalar_text(&r.value);
                parse_rate(&text)
                    .map_err(|e| problems.on(r, "load.rate", e))
                    .ok()
            });
            if let (Some(v), Some(_)) = (&l.vus, &l.rate) {
                problems.on(
                    v,
                    "load",
                    "vus and rate are both set; choose vus (closed model: users run flows back \
                     to back) or rate (open model: arrivals per second)",
                );
                return None;
            }
            (vus, rate)
        }
    };
    let max_in_flight = ov
        .max_in_flight
        .or(l.max_in_flight.as_ref().map(|m| m.value))
        .unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    if let Some(m) = l.max_in_flight.as_ref().filter(|m| m.value == 0) {
        problems.on(m, "load.max_in_flight", "0 must be at least 1");
    }
    match (vus, rate) {
        (_, Some(rate)) => Some(Model::Open {
            rate,
            max_in_flight,
        }),
        (Some(vus), None) => Some(Model::Closed { vus }),
        (None, None) if l.rate.is_some() => None,
        (None, None) => Some(Model::Closed { vus: 1 }),
    }
}

fn build_flows(
    raw: Option<&Spanned<Vec<Spanned<RawFlow>>>>,
    defaults: &Defaults,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Vec<Flow> {
    let Some(raw) = raw.filter(|f| !f.value.is_empty()) else {
        let loc = raw.map_or(Location::UNKNOWN, |r| r.referenced);
        problems.at(
            loc,
            "flows",
            "no flows; add at least one, e.g. flows: [{ name: main, steps: [{ get: / }] }]",
        );
        return Vec::new();
    };
    let mut flows: Vec<Flow> = Vec::new();
    let mut next_id = 0;
    for (i, flow) in raw.value.iter().enumerate() {
        let path = format!("flows[{i}]");
        let name = flow
            .value
            .name
            .as_ref()
            .map_or_else(|| format!("flow{}", i + 1), |n| n.value.clone());
        if let Some(n) = &flow.value.name
            && flows.iter().any(|f| f.name == n.value)
        {
            problems.on(
                n,
                &format!("{path}.name"),
                format!("\"{}\" names two flows; names must be unique", n.value),
            );
        }
        let weight = flow.value.weight.as_ref().map_or(1, |w| w.value);
        if let Some(w) = flow
            .value
            .weight
            .as_ref()
            .filter(|w| !(1..=MAX_WEIGHT).contains(&w.value))
        {
            let message = format!(
                "{} must be from 1 to {MAX_WEIGHT} (remove the flow to disable it)",
                w.value
            );
            problems.on(w, &format!("{path}.weight"), message);
        }
        let steps = match flow.value.steps.as_ref().filter(|s| !s.value.is_empty()) {
            Some(steps) => steps,
            None => {
                problems.on(
                    flow,
                    &format!("{path}.steps"),
                    "the flow has no steps; add e.g. steps: [{ get: / }]",
                );
                continue;
            }
        };
        let built = build_steps(&steps.value, &path, &mut next_id, defaults, cx, problems);
        flows.push(Flow {
            name,
            weight,
            steps: built,
        });
    }
    flows
}

fn build_steps(
    raw: &[Spanned<RawStep>],
    path: &str,
    next_id: &mut usize,
    defaults: &Defaults,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Vec<Step> {
    let mut built: Vec<Step> = Vec::new();
    for (j, step) in raw.iter().enumerate() {
        let step_path = format!("{path}.steps[{j}]");
        let Some(s) = build_step(step, *next_id, &step_path, defaults, cx, problems) else {
            continue;
        };
        if step.value.name.is_some() && built.iter().any(|b| b.name == s.name) {
            let message = format!(
                "\"{}\" names two steps of this flow; names must be unique",
                s.name
            );
            problems.on(step, &format!("{step_path}.name"), message);
        }
        *next_id += 1;
        built.push(s);
    }
    built
}

pub(super) fn positive_duration(
    d: &Spanned<String>,
    field: &str,
    problems: &mut Problems,
) -> Option<Duration> {
    match parse_duration(&d.value) {
        Ok(v) if v.is_zero() => {
            problems.on(
                d,
                field,
                format!("\"{}\" must be longer than zero", d.value),
            );
            None
        }
        Ok(v) => Some(v),
        Err(e) => {
            problems.on(d, field, e);
            None
        }
    }
}

/// A YAML scalar as text (`500` and `"500/s"` alike); other shapes render as JSON.
pub fn scalar_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
