//! Validation: one pass from the raw mirror to a `Plan`, collecting every problem it can find.
//!
//! One `Validator` carries what every check needs (the environment, the command-line
//! overrides, the text for positions, the data directory, the body-file bytes read so far)
//! and collects the problems; each part of the scenario has its own file: `load` (model,
//! stages), `data` (data files), `thresholds`, `http` (HTTP version, proxies), `tls`,
//! `flows` (flows, defaults, steps), and for a step: `request` (method, URL, query, headers,
//! `defaults:`), `body` (which body, its content type) with `body_file` and `multipart`,
//! `expect` (expectations and extraction), all compiling their templates through `names`
//! (a template and the names known at a point of a flow).
//!
//! The parts depend on this module, on the scenario's own types (`raw`, `plan`, `template`,
//! `units`, `checks`, `data`, `threshold`) and on one another only downwards: flows →
//! request, body, expect → names; body → request (form fields), body_file, multipart;
//! multipart → body_file. Outside `scenario`: `files` (body and TLS files) and `redact`.
//!
//! Command-line overrides are applied here, before the checks, so that `--vus 10` on a file
//! that says `rate: 100/s` yields a valid closed-model plan rather than a conflict.

mod body;
mod body_file;
mod capacity;
mod data;
mod expect;
mod flows;
mod http;
mod insight;
mod load;
mod multipart;
mod names;
mod request;
mod retry;
mod sources;
mod thresholds;
mod tls;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::diag::Problems;
use super::plan::{Flow, Plan, Target};
use super::raw::{AnyValue, RawScenario};
use super::template::{EnvLookup, is_name, substitute_env};
use super::units::parse_duration;
use crate::redact::Redactor;
use data::build_data;
use flows::{build_flow, build_flows};
use http::build_http;
pub(crate) use http::parse_proxy;
use load::build_load;
use names::Known;
use request::Defaults;
use sources::Providers;
use thresholds::build_thresholds;
use tls::build_tls;

/// What every check of one file reads, and the problems they find.
pub struct Validator<'a> {
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
    /// Every problem found so far.
    pub problems: Problems,
    /// The id the next step gets (steps are numbered across flows; metrics index them).
    pub(super) next_step_id: usize,
    /// Body-file bytes read so far, over every step (see `body_file::read_file`).
    pub(super) body_bytes: u64,
}

impl<'a> Validator<'a> {
    /// A validator for one file's text.
    pub fn new(
        env: EnvLookup<'a>,
        overrides: &'a Overrides,
        fallback_name: String,
        text: &'a str,
        base_dir: PathBuf,
    ) -> Self {
        Self {
            env,
            overrides,
            fallback_name,
            text,
            base_dir,
            problems: Problems::default(),
            next_step_id: 0,
            body_bytes: 0,
        }
    }

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
fn check_users(value: &Spanned<u64>, field: &str, vd: &mut Validator<'_>) {
    if value.value > MAX_USERS {
        vd.problems
            .on(value, field, format!("{} is {MAX_USERS_HINT}", value.value));
    }
}

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
    /// `--insecure`: accept any server certificate.
    pub insecure: bool,
    /// `--cacert`: authorities to trust besides the system's.
    pub cacert: Option<PathBuf>,
    /// `--cert` and `--key`: a client certificate for mutual TLS.
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (`--key`).
    pub key: Option<PathBuf>,
    /// `--http2`.
    pub http2: bool,
    /// `--streams-per-connection` (HTTP/2).
    pub streams_per_connection: Option<u32>,
    /// `--proxy URL`.
    pub proxy: Option<String>,
    /// `--proxy-from-env`: the standard proxy variables.
    pub proxy_from_env: bool,
    /// `--follow-redirects N`: every step's, replacing the file's.
    pub follow_redirects: Option<u32>,
}

/// Builds a plan from a parsed file, or returns every problem found.
pub fn build(raw: RawScenario, vd: &mut Validator<'_>) -> Option<Plan> {
    let http = build_http(&raw, vd);
    let secrets = build_secrets(raw.secrets.as_deref(), vd);
    let name = (raw.name.as_ref())
        .map(|n| n.value.clone())
        .unwrap_or_else(|| vd.fallback_name.clone());
    let target = build_target(raw.target.as_ref(), vd);
    let load = build_load(raw.load.as_ref(), vd);
    let variables = build_variables(raw.variables.as_ref(), vd);
    let data = build_data(raw.data.as_ref(), vd);
    let variable_names: BTreeSet<String> = variables.iter().map(|(k, _)| k.clone()).collect();
    let providers = Providers::of(&raw);
    let defaults = Defaults::build(
        raw.defaults.as_ref(),
        &Known {
            vars: (variable_names.iter().chain(providers.names()).cloned()).collect(),
            data: &data,
            defaults: true,
        },
        &variable_names,
        vd,
    );
    let mut known = Known {
        vars: variable_names,
        data: &data,
        defaults: false,
    };
    let (setup, flows) = build_setup_and_flows(&raw, (&defaults, &providers), &mut known, vd);
    let step_names: Vec<(String, String)> = flows
        .iter()
        .flat_map(|f| f.all_steps().map(|s| (f.name.clone(), s.name.clone())))
        .collect();
    let tag_keys: Vec<Option<&str>> = flows
        .iter()
        .flat_map(|f| {
            f.all_steps()
                .map(|s| s.tag_by.as_ref().map(|t| t.key.as_str()))
        })
        .collect();
    let thresholds = build_thresholds(raw.thresholds.as_deref(), (&step_names, &tag_keys), vd);
    let load = load.map(|(mut load, until)| {
        let search = (raw.load.as_ref()).and_then(|l| l.value.find_capacity.as_ref());
        if let (Some(c), Some(raw_search)) = (&mut load.capacity, search) {
            c.until = capacity::limits(&until, &step_names, raw_search, vd);
            if let Some(t) = raw.thresholds.as_deref().and_then(|t| t.first()) {
                let message = "a capacity search judges each hold by find_capacity.until; \
                               thresholds over the whole run would judge the holds that broke \
                               too: move these limits into until";
                vd.problems.on(t, "thresholds", message);
            }
        }
        load
    });
    let tls = build_tls(raw.tls.as_ref(), vd);
    if !vd.problems.is_empty() {
        return None;
    }
    let redactor = redactor(&secrets, &variables, flows.iter().chain(&setup));
    let plan = Plan {
        name,
        source: None,
        target: target?,
        load: load?,
        flows,
        setup_once: setup_once(&raw),
        setup,
        variables,
        data,
        cookies: raw.cookies.is_some_and(|c| c.value),
        preflight: raw.preflight.is_none_or(|p| p.value),
        redactor: Redactor::default(),
        thresholds,
        header_sources: sources::describe(&defaults.late, &providers),
        tls,
        http,
        shard: None,
    };
    Some(plan.hiding(redactor))
}

/// What the plan hides: the secrets' names; the values of the variables they name, and of
/// the credential headers the `flows` send (a server may echo one in a body that a failure
/// sample shows).
fn redactor<'a>(
    secrets: &[String],
    variables: &[(String, String)],
    flows: impl Iterator<Item = &'a Flow>,
) -> Redactor {
    let hidden = Redactor::new(secrets, Vec::new());
    let sent: Vec<String> = flows
        .flat_map(Flow::all_steps)
        .flat_map(|s| &s.headers)
        .filter(|(name, _)| hidden.hides_header(name.as_str()))
        .filter_map(|(_, value)| value.to_str().ok())
        .flat_map(crate::redact::credential_parts)
        .collect();
    let named = variables.iter().filter(|(k, _)| secrets.contains(k));
    Redactor::new(secrets, named.map(|(_, v)| v.clone()).chain(sent))
}

/// `setup: { once: true }`.
fn setup_once(raw: &RawScenario) -> bool {
    let once = raw.setup.as_ref().and_then(|s| s.value.once.as_ref());
    once.is_some_and(|o| o.value)
}

/// `setup:` and `flows:`. Setup comes first: what it extracts is defined for every flow.
/// The load's steps are numbered from 0 (metrics index them); setup's come after.
fn build_setup_and_flows(
    raw: &RawScenario,
    defaults: (&Defaults, &Providers),
    known: &mut Known<'_>,
    vd: &mut Validator<'_>,
) -> (Option<Flow>, Vec<Flow>) {
    let setup = raw.setup.as_ref().and_then(|s| {
        let name = s
            .value
            .name
            .as_ref()
            .map_or("setup".to_string(), |n| n.value.clone());
        // Numbered from 0 here, and after the load's steps below.
        vd.next_step_id = 0;
        build_flow(s, "setup", name, defaults, known, vd)
    });
    vd.next_step_id = 0;
    let flows = build_flows(raw.flows.as_ref(), defaults, known, vd);
    let setup = setup.map(|mut f| {
        let count: usize = flows.iter().map(|f| f.init.len() + f.steps.len()).sum();
        for (i, s) in f.steps.iter_mut().enumerate() {
            s.id = count + i;
        }
        f
    });
    if let Some(p) = raw.setup.as_ref().and_then(|s| s.value.weight.as_ref()) {
        vd.problems
            .on(p, "setup.weight", "setup runs once; it has no weight");
    }
    if let Some(p) = raw.setup.as_ref().and_then(|s| s.value.init.as_ref()) {
        let message = "setup runs once, before the load; put its steps under setup.steps";
        vd.problems.on(p, "setup.init", message);
    }
    (setup, flows)
}

/// `secrets:` and `--secret`: header or variable names.
fn build_secrets(raw: Option<&[Spanned<String>]>, vd: &mut Validator<'_>) -> Vec<String> {
    let mut names = vd.overrides.secrets.clone();
    for (i, s) in raw.into_iter().flatten().enumerate() {
        let name = s.value.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            vd.problems.on(
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
    vd: &mut Validator<'_>,
) -> Vec<(String, String)> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for (name, v) in raw.into_iter().flatten() {
        let field = format!("variables.{name}");
        if !is_name(name) {
            vd.problems.on(
                v,
                &field,
                format!("\"{name}\" is not a variable name (letters, digits and _)"),
            );
            continue;
        }
        if v.value.is_object() || v.value.is_array() {
            vd.problems
                .on(v, &field, "a variable is a string, number or boolean");
            continue;
        }
        match substitute_env(&scalar_text(&v.value), vd.env) {
            Ok(text) => {
                vars.insert(name.clone(), text);
            }
            Err(e) => vd.problems.on(v, &field, e),
        }
    }
    for (name, value) in &vd.overrides.set {
        vars.insert(name.clone(), value.clone());
    }
    vars.into_iter().collect()
}

fn build_target(raw: Option<&Spanned<String>>, vd: &mut Validator<'_>) -> Option<Target> {
    if let Some(target) = &vd.overrides.target {
        return Some(target.clone());
    }
    let Some(raw) = raw else {
        vd.problems.at(
            Location::UNKNOWN,
            "target",
            "missing; write a base URL such as http://127.0.0.1:8000, or demo",
        );
        return None;
    };
    let text = match substitute_env(&raw.value, vd.env) {
        Ok(t) => t,
        Err(e) => {
            vd.problems.on(raw, "target", e);
            return None;
        }
    };
    match parse_target(&text) {
        Ok(t) => Some(t),
        Err(e) => {
            vd.problems.on(raw, "target", e);
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

/// A duration longer than zero, or the problem recorded at `field`.
pub fn positive_duration(
    d: &Spanned<String>,
    field: &str,
    vd: &mut Validator<'_>,
) -> Option<Duration> {
    match parse_duration(&d.value) {
        Ok(v) if v.is_zero() => {
            vd.problems.on(
                d,
                field,
                format!("\"{}\" must be longer than zero", d.value),
            );
            None
        }
        Ok(v) => Some(v),
        Err(e) => {
            vd.problems.on(d, field, e);
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

/// `Err` naming the first key of `map` that is not one of `keys`, as every object field
/// written as a map says it: `unknown field "x"; WHAT takes a, b`.
pub(super) fn only_keys(
    map: &serde_json::Map<String, serde_json::Value>,
    what: &str,
    keys: &[&str],
) -> Result<(), String> {
    match map.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "unknown field \"{key}\"; {what} takes {}",
            keys.join(", ")
        )),
        None => Ok(()),
    }
}
