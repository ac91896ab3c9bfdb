//! Validation: one pass from the raw mirror to a `Plan`, collecting every problem it can find.
//!
//! Command-line overrides are applied here, before the checks, so that `--vus 10` on a file
//! that says `rate: 100/s` yields a valid closed-model plan rather than a conflict.

use crate::redact::Redactor;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::data::{self, DataMode, DataSet};
use super::diag::Problems;
use super::plan::{Flow, Load, Model, Plan, Stage, Step, Target};
use super::raw::{AnyValue, RawData, RawFlow, RawLoad, RawScenario, RawStage, RawStep};
use super::step::{Defaults, Known, build_step};
use super::template::{EnvLookup, is_name, substitute_env};
use super::threshold::Threshold;
use super::units::{parse_duration, parse_rate};

/// Default time allowed for one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time in-flight requests get to finish once the run stops.
pub const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(5);
/// Default cap on concurrent iterations in the open model.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 1000;

/// The most virtual users (or open-model iterations in flight) one process runs. Each holds
/// a connection, so a file descriptor and some memory: a million is already more than one
/// machine's kernel gives a process by default, and a typo such as `vus: 10000000000`
/// should be refused, not allocated until memory runs out.
pub const MAX_USERS: u64 = 1_000_000;

/// The fix offered when a level passes `MAX_USERS`.
const MAX_USERS_HINT: &str = "more than stampede's limit of 1,000,000 (each holds a connection \
                              and a file descriptor); use fewer, or run on several machines";

/// Reports `value` when it passes `MAX_USERS`.
fn check_users(value: &Spanned<u64>, field: &str, problems: &mut Problems) {
    if value.value > MAX_USERS {
        problems.on(value, field, format!("{} is {MAX_USERS_HINT}", value.value));
    }
}
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
    /// `--set NAME=VALUE`: variables that beat the file's `variables:`.
    pub set: Vec<(String, String)>,
    /// `--secret NAME`: headers or variables whose values never appear in outputs.
    pub secrets: Vec<String>,
}

/// Inputs shared by every check of one file.
pub struct Context<'a> {
    /// Environment variables for `{{ env.NAME }}`.
    pub env: EnvLookup<'a>,
    /// Command-line values that beat the file.
    pub overrides: &'a Overrides,
    /// The name to use when the file has none (its stem).
    pub fallback_name: String,
    /// The scenario text, to point inside templates.
    pub text: &'a str,
    /// Where relative data file paths start (the scenario file's directory).
    pub base_dir: PathBuf,
}

impl Context<'_> {
    /// The 1-based line and column of character `offset` of `value`, a string written at or
    /// after `loc`: found by searching the source from there (quotes and nesting make the
    /// value's own start an unreliable anchor). Falls back to `loc` when it is not found
    /// verbatim (escape sequences, folded scalars).
    pub fn position(&self, loc: Location, value: &str, offset: usize) -> (u64, u64) {
        let fallback = (loc.line(), loc.column());
        let Some(first) = usize::try_from(loc.line())
            .ok()
            .and_then(|l| l.checked_sub(1))
        else {
            return fallback;
        };
        if value.is_empty() || value.contains('\n') {
            return fallback;
        }
        for (i, row) in self.text.lines().enumerate().skip(first).take(200) {
            let skip = if i == first {
                usize::try_from(loc.column()).map_or(0, |c| c.saturating_sub(1))
            } else {
                0
            };
            let Some((start, _)) = row.char_indices().nth(skip) else {
                continue;
            };
            if let Some(byte) = row[start..].find(value) {
                let col = row[..start + byte].chars().count() + offset + 1;
                return ((i + 1) as u64, col as u64);
            }
        }
        fallback
    }
}

/// Builds a plan from a parsed file, or returns every problem found.
pub fn build(raw: RawScenario, cx: &Context<'_>, problems: &mut Problems) -> Option<Plan> {
    let secrets = build_secrets(raw.secrets.as_deref(), cx, problems);
    let name = raw
        .name
        .map(|n| n.value)
        .unwrap_or_else(|| cx.fallback_name.clone());
    let target = build_target(raw.target.as_ref(), cx, problems);
    let load = build_load(raw.load.as_ref(), cx.overrides, problems);
    let variables = build_variables(raw.variables.as_ref(), cx, problems);
    let data = build_data(raw.data.as_ref(), cx, problems);
    let mut known = Known {
        vars: variables.iter().map(|(k, _)| k.clone()).collect(),
        data: &data,
    };
    let defaults = Defaults::build(raw.defaults.as_ref(), &known, cx, problems);
    // Setup comes first: what it extracts is defined for every flow.
    let setup = raw.setup.as_ref().and_then(|s| {
        let name = s
            .value
            .name
            .as_ref()
            .map_or("setup".to_string(), |n| n.value.clone());
        build_flow(
            &s.value,
            s.referenced,
            "setup",
            name,
            &mut 0,
            &defaults,
            &mut known,
            cx,
            problems,
        )
    });
    let flows = build_flows(raw.flows.as_ref(), &defaults, &known, cx, problems);
    // The load's steps are numbered from 0 (metrics index them); setup's come after.
    let setup = setup.map(|mut f| {
        let count: usize = flows.iter().map(|f| f.steps.len()).sum();
        for (i, s) in f.steps.iter_mut().enumerate() {
            s.id = count + i;
        }
        f
    });
    if let Some(p) = raw.setup.as_ref().and_then(|s| s.value.weight.as_ref()) {
        problems.on(p, "setup.weight", "setup runs once; it has no weight");
    }
    let step_names: Vec<(String, String)> = flows
        .iter()
        .flat_map(|f| f.steps.iter().map(|s| (f.name.clone(), s.name.clone())))
        .collect();
    let thresholds = build_thresholds(raw.thresholds.as_deref(), &step_names, problems);
    if !problems.is_empty() {
        return None;
    }
    let redactor = Redactor::new(
        &secrets,
        variables
            .iter()
            .filter(|(k, _)| secrets.contains(k))
            .map(|(_, v)| v.clone()),
    );
    let plan = Plan {
        name,
        source: None,
        target: target?,
        load: load?,
        flows,
        setup,
        variables,
        data,
        cookies: raw.cookies.is_some_and(|c| c.value),
        preflight: raw.preflight.is_none_or(|p| p.value),
        redactor: Redactor::default(),
        thresholds,
    };
    Some(plan.hiding(redactor))
}

/// `thresholds:` and `--threshold`. An entry is a string (`"p99 < 200ms"`, `"checkout/pay:
/// error_rate < 1%"`), a step's own list (`checkout/pay: [ "p99 < 1s" ]`, which is how YAML
/// reads `checkout/pay: p99 < 1s`), or `{ threshold: ..., abort_on_fail: true, delay: 10s }`.
fn build_thresholds(
    raw: Option<&[AnyValue]>,
    steps: &[(String, String)],
    problems: &mut Problems,
) -> Vec<Threshold> {
    use serde_json::Value;
    let mut out = Vec::new();
    for (i, entry) in raw.into_iter().flatten().enumerate() {
        let field = format!("thresholds[{i}]");
        // (text, abort_on_fail, delay) of each threshold the entry writes.
        let mut found: Vec<(String, bool, Duration)> = Vec::new();
        let mut one = |text: &str, abort: bool, delay: Duration| {
            found.push((text.to_string(), abort, delay));
        };
        match &entry.value {
            Value::String(text) => one(text, false, Duration::ZERO),
            Value::Object(map) if map.contains_key("threshold") => {
                let text = map.get("threshold").and_then(Value::as_str);
                let abort = map.get("abort_on_fail").map(Value::as_bool);
                let delay = map.get("delay").map(|d| d.as_str().map(parse_duration));
                let unknown = map
                    .keys()
                    .find(|k| !["threshold", "abort_on_fail", "delay"].contains(&k.as_str()));
                match (text, abort, delay, unknown) {
                    (_, _, _, Some(k)) => problems.on(
                        entry,
                        &field,
                        format!("unknown field \"{k}\"; a threshold takes threshold, abort_on_fail, delay"),
                    ),
                    (None, _, _, _) => problems.on(
                        entry,
                        &field,
                        "threshold must be a string, e.g. threshold: \"p99 < 200ms\"",
                    ),
                    (_, Some(None), _, _) => {
                        problems.on(entry, &field, "abort_on_fail must be true or false")
                    }
                    (_, _, Some(None | Some(Err(_))), _) => problems.on(
                        entry,
                        &field,
                        "delay must be a duration, e.g. delay: 10s",
                    ),
                    (Some(text), abort, delay, None) => one(
                        text,
                        abort.flatten().unwrap_or(false),
                        delay.flatten().and_then(Result::ok).unwrap_or_default(),
                    ),
                }
            }
            Value::Object(map) if map.len() == 1 => {
                for (scope, exprs) in map {
                    let list = match exprs {
                        Value::String(s) => vec![s.as_str()],
                        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    if list.is_empty() {
                        problems.on(
                            entry,
                            &field,
                            format!("write the thresholds of \"{scope}\" as text, e.g. {scope}: p99 < 200ms"),
                        );
                    }
                    for expr in list {
                        one(&format!("{scope}: {expr}"), false, Duration::ZERO);
                    }
                }
            }
            _ => problems.on(
                entry,
                &field,
                "a threshold is text such as \"p99 < 200ms\" or \"checkout/pay: error_rate < 1%\"",
            ),
        }
        for (text, abort, delay) in found {
            match Threshold::parse(&text, steps) {
                Ok(mut t) => {
                    t.abort_on_fail = abort;
                    t.delay = delay;
                    out.push(t);
                }
                Err(why) => problems.on(entry, &field, why),
            }
        }
    }
    out
}

/// `secrets:` and `--secret`: header or variable names.
fn build_secrets(
    raw: Option<&[Spanned<String>]>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Vec<String> {
    let mut names = cx.overrides.secrets.clone();
    for (i, s) in raw.into_iter().flatten().enumerate() {
        let name = s.value.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            problems.on(
                s,
                &format!("secrets[{i}]"),
                format!(
                    "\"{name}\" is not a header or variable name; write e.g. api_token or x-api-key"
                ),
            );
            continue;
        }
        names.push(name.to_string());
    }
    names
}

/// `variables:` (scalars) with `--set` values on top.
fn build_variables(
    raw: Option<&BTreeMap<String, AnyValue>>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Vec<(String, String)> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for (name, v) in raw.into_iter().flatten() {
        let field = format!("variables.{name}");
        if !is_name(name) {
            problems.on(
                v,
                &field,
                format!("\"{name}\" is not a variable name (letters, digits and _)"),
            );
            continue;
        }
        if v.value.is_object() || v.value.is_array() {
            problems.on(v, &field, "a variable is a string, number or boolean");
            continue;
        }
        match substitute_env(&scalar_text(&v.value), cx.env) {
            Ok(text) => {
                vars.insert(name.clone(), text);
            }
            Err(e) => problems.on(v, &field, e),
        }
    }
    for (name, value) in &cx.overrides.set {
        vars.insert(name.clone(), value.clone());
    }
    vars.into_iter().collect()
}

/// A data set's `mode` and `on_exhausted`.
fn data_mode(d: &RawData, field: &str, problems: &mut Problems) -> Option<DataMode> {
    let wrap = match &d.on_exhausted {
        None => Some(false),
        Some(e) => match e.value.trim() {
            "stop" => Some(false),
            "wrap" => Some(true),
            other => {
                let message = format!("\"{other}\" is not a choice; write stop or wrap");
                problems.on(e, &format!("{field}.on_exhausted"), message);
                None
            }
        },
    };
    let Some(m) = &d.mode else {
        return wrap.map(|_| DataMode::Sequential);
    };
    match m.value.trim() {
        "sequential" => wrap.map(|_| DataMode::Sequential),
        "random" => Some(DataMode::Random),
        "unique" => wrap.map(|wrap| DataMode::Unique { wrap }),
        other => {
            let message = format!("\"{other}\" is not a mode; write sequential, random or unique");
            problems.on(m, &format!("{field}.mode"), message);
            None
        }
    }
}

/// `data:` files, read now so that a missing file or column fails validation.
fn build_data(
    raw: Option<&BTreeMap<String, Spanned<RawData>>>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Vec<DataSet> {
    let mut sets = Vec::new();
    for (name, d) in raw.into_iter().flatten() {
        let field = format!("data.{name}");
        if !is_name(name) {
            problems.on(
                d,
                &field,
                format!("\"{name}\" is not a data set name (letters, digits and _)"),
            );
            continue;
        }
        let mode = data_mode(&d.value, &field, problems);
        if let (Some(e), Some(m)) = (&d.value.on_exhausted, mode)
            && !matches!(m, DataMode::Unique { .. })
        {
            problems.on(e, &format!("{field}.on_exhausted"), "on_exhausted applies to mode: unique only (sequential wraps, random never runs out)");
        }
        let Some(file) = &d.value.file else {
            problems.on(
                d,
                &format!("{field}.file"),
                "missing; write e.g. file: users.csv (relative to the scenario)",
            );
            continue;
        };
        let path = match substitute_env(&file.value, cx.env) {
            Ok(p) => cx.base_dir.join(p),
            Err(e) => {
                problems.on(file, &format!("{field}.file"), e);
                continue;
            }
        };
        match data::read(&path) {
            Ok((columns, rows)) => {
                if let Some(mode) = mode {
                    sets.push(DataSet {
                        name: name.clone(),
                        file: path,
                        columns,
                        rows,
                        mode,
                    });
                }
            }
            Err(e) => problems.on(file, &format!("{field}.file"), e),
        }
    }
    sets
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
    // A model chosen on the command line replaces the file's, stages included.
    let stages = if ov.vus.is_some() || ov.rate.is_some() {
        Some(Vec::new())
    } else {
        build_stages(l, problems)
    };
    let staged: Duration = stages.iter().flatten().map(|s| s.duration).sum();
    if let (Some(d), Some(s)) = (&l.duration, &l.stages)
        && !s.value.is_empty()
        && ov.duration.is_none()
    {
        problems.on(d, "load.duration", "stages set the run's length; remove duration (or pass --duration to cut or extend the last stage)");
    }
    let duration = match (ov.duration, &l.duration) {
        (Some(d), _) => Some(d),
        (None, _) if !staged.is_zero() => Some(staged),
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
    if l.duration.is_none() && ov.duration.is_none() && iterations.is_none() && l.stages.is_none() {
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
    let stages = stages?;
    let model = build_model(l, ov, stages.is_empty(), problems);
    Some(Load {
        model: model?,
        duration,
        iterations,
        graceful_stop: graceful_stop?,
        stages,
    })
}

/// `load.stages`: every stage names a duration and one level, all in the same unit.
fn build_stages(l: &RawLoad, problems: &mut Problems) -> Option<Vec<Stage>> {
    let Some(raw) = &l.stages else {
        return Some(Vec::new());
    };
    if raw.value.is_empty() {
        problems.on(
            raw,
            "load.stages",
            "no stages; add e.g. - { duration: 10s, vus: 20 }",
        );
        return None;
    }
    let before = problems.len();
    let mut stages = Vec::new();
    let mut unit: Option<(bool, &str)> = None;
    for (i, st) in raw.value.iter().enumerate() {
        let field = format!("load.stages[{i}]");
        let RawStage {
            duration,
            vus,
            rate,
        } = &st.value;
        let d = match duration {
            Some(d) => positive_duration(d, &format!("{field}.duration"), problems),
            None => {
                problems.on(
                    st,
                    &format!("{field}.duration"),
                    "missing; write e.g. duration: 30s",
                );
                None
            }
        };
        let (closed, target) = match (vus, rate) {
            (Some(v), None) => {
                check_users(v, &format!("{field}.vus"), problems);
                (true, Some(v.value as f64))
            }
            (None, Some(r)) => {
                let text = scalar_text(&r.value);
                // A stage may ramp down to zero arrivals per second.
                let rate = if text.trim().trim_end_matches("/s").trim() == "0" {
                    Ok(0.0)
                } else {
                    parse_rate(&text)
                };
                (
                    false,
                    rate.map_err(|e| problems.on(r, &format!("{field}.rate"), e))
                        .ok(),
                )
            }
            _ => {
                problems.on(
                    st,
                    &field,
                    "a stage sets exactly one level: vus (closed model) or rate (open model)",
                );
                continue;
            }
        };
        let word = if closed { "vus" } else { "rate" };
        match unit {
            Some((c, first)) if c != closed => {
                problems.on(st, &field, format!("this stage sets {word} but an earlier one sets {first}; all stages ramp the same model"));
            }
            _ => unit = Some((closed, word)),
        }
        if let (Some(duration), Some(target)) = (d, target) {
            stages.push(Stage { duration, target });
        }
    }
    match unit {
        Some((true, _)) if l.rate.is_some() => {
            if let Some(r) = &l.rate {
                problems.on(
                    r,
                    "load.rate",
                    "the stages ramp vus; start them with vus (or remove rate to start from 0)",
                );
            }
        }
        Some((false, _)) if l.vus.is_some() => {
            if let Some(v) = &l.vus {
                problems.on(
                    v,
                    "load.vus",
                    "the stages ramp a rate; start them with rate (or remove vus to start from 0)",
                );
            }
        }
        _ => {}
    }
    (problems.len() == before).then_some(stages)
}

fn build_model(
    l: &RawLoad,
    ov: &Overrides,
    constant: bool,
    problems: &mut Problems,
) -> Option<Model> {
    if ov.max_in_flight.is_none()
        && let Some(m) = &l.max_in_flight
    {
        check_users(m, "load.max_in_flight", problems);
    }
    if ov.vus.is_none()
        && ov.rate.is_none()
        && let Some(v) = &l.vus
    {
        check_users(v, "load.vus", problems);
    }
    // A command-line choice of model replaces the file's model entirely.
    let (vus, rate) = match (ov.vus, ov.rate) {
        (Some(v), _) => (Some(v), None),
        (None, Some(r)) => (None, Some(r)),
        (None, None) => {
            let vus = l.vus.as_ref().map(|v| v.value);
            if let Some(v) = l.vus.as_ref().filter(|v| v.value == 0 && constant) {
                problems.on(v, "load.vus", "must be at least 1");
            }
            if !constant {
                // Stages ramp from the given level, or from zero.
                let closed = l
                    .stages
                    .iter()
                    .flat_map(|s| s.value.first())
                    .any(|s| s.value.vus.is_some());
                return Some(if closed {
                    Model::Closed {
                        vus: vus.unwrap_or(0),
                    }
                } else {
                    let rate = l.rate.as_ref().and_then(|r| {
                        parse_rate(&scalar_text(&r.value))
                            .map_err(|e| problems.on(r, "load.rate", e))
                            .ok()
                    });
                    Model::Open {
                        rate: rate.unwrap_or(0.0),
                        max_in_flight: ov
                            .max_in_flight
                            .or(l.max_in_flight.as_ref().map(|m| m.value))
                            .unwrap_or(DEFAULT_MAX_IN_FLIGHT),
                    }
                });
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
    known: &Known<'_>,
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
        let mut known = Known {
            vars: known.vars.clone(),
            data: known.data,
        };
        if let Some(f) = build_flow(
            &flow.value,
            flow.referenced,
            &path,
            name,
            &mut next_id,
            defaults,
            &mut known,
            cx,
            problems,
        ) {
            flows.push(f);
        }
    }
    flows
}

/// One flow (or the setup flow): weight, pace and steps.
#[allow(clippy::too_many_arguments)]
fn build_flow(
    flow: &RawFlow,
    loc: Location,
    path: &str,
    name: String,
    next_id: &mut usize,
    defaults: &Defaults,
    known: &mut Known<'_>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Option<Flow> {
    let weight = flow.weight.as_ref().map_or(1, |w| w.value);
    if let Some(w) = flow
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
    let pace = flow
        .pace
        .as_ref()
        .and_then(|p| positive_duration(p, &format!("{path}.pace"), problems));
    let Some(steps) = flow.steps.as_ref().filter(|s| !s.value.is_empty()) else {
        problems.at(
            loc,
            &format!("{path}.steps"),
            "the flow has no steps; add e.g. steps: [{ get: / }]",
        );
        return None;
    };
    let steps = build_steps(&steps.value, path, next_id, defaults, known, cx, problems);
    Some(Flow {
        name,
        weight,
        pace,
        steps,
    })
}

fn build_steps(
    raw: &[Spanned<RawStep>],
    path: &str,
    next_id: &mut usize,
    defaults: &Defaults,
    known: &mut Known<'_>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Vec<Step> {
    let mut built: Vec<Step> = Vec::new();
    for (j, step) in raw.iter().enumerate() {
        let step_path = format!("{path}.steps[{j}]");
        let Some(s) = build_step(step, *next_id, &step_path, defaults, known, cx, problems) else {
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
