//! Scenario files: reading (YAML, and JSON as its subset), validation into a `Plan`, and
//! errors that name the file, line, column, field and fix; the one-step scenario of a URL
//! run (`ad_hoc`); templates (`template`), checks (`checks`) and thresholds (`threshold`),
//! which the engine and the reports evaluate.
//!
//! Flow: text → `reader` (into `raw`, the serde mirror with spans; parser errors retold by
//! `parse_error`, with `layout`) → `validate` (every check, all problems collected, in
//! `diag`) → `Plan` (immutable).
//!
//! Depends on `files` (reading the scenario, data, body and TLS files within their size
//! caps), `redact` (the plan's redactor; which names are credentials), `metrics` (the
//! snapshot a threshold reads) and `format` (a threshold's latency in words); on nothing
//! that runs load (`engine`, `session`, `report`, `tui`). Invariant: a `Plan` that comes out
//! is valid; nothing downstream re-checks it.

mod ad_hoc;
mod capacity;
mod checks;
mod data;
mod diag;
mod insight;
mod layout;
mod parse_error;
mod plan;
mod print;
mod raw;
mod reader;
mod retry;
mod shard;
mod split;
mod template;
mod threshold;
mod units;
mod validate;

use std::path::Path;

pub use capacity::{Capacity, RateStep};
pub use checks::{Check, CheckKind, Expect, Extraction, Response, Source};
pub use data::{DataMode, DataSet};
pub use diag::{Problem, ScenarioError};
pub use insight::{DEFAULT_MAX_VALUES, ServerClock, TagBy, TimeUnit};
pub use plan::{
    Body, Flow, Http, Load, Model, Multipart, OnError, Part, PartContent, Plan, Proxies, ProxyUrl,
    Stage, Step, StepUrl, Target, Tls, TlsVersion,
};
pub use retry::{Retry, RetryOn, retry_after};
pub use shard::{MAX_SHARDS, Shard, ShardOf};
pub use split::fingerprint;
pub use template::{
    EnvLookup, FUNCTIONS, JsonTemplate, Missing, Scope, Template, TemplateError, is_name,
};
pub use threshold::{Metric, Op, Stat, Threshold};
pub use units::{StatusSet, parse_duration, parse_rate, parse_size};
pub use validate::{MAX_USERS, Overrides, parse_target};

pub use ad_hoc::{AD_HOC_DURATION, AD_HOC_VUS, AdHoc, AdHocBody, split_url};
pub use print::file_yaml;

/// Reads and validates a scenario file.
pub fn load(path: &Path, env: EnvLookup<'_>, overrides: &Overrides) -> Result<Plan, ScenarioError> {
    let file = path.display().to_string();
    let text =
        crate::files::read_text(path, crate::files::SCENARIO).map_err(|e| ScenarioError::Read {
            file: file.clone(),
            source: std::io::Error::other(e.reason),
        })?;
    let stem = path.file_stem().map_or_else(
        || "scenario".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut plan = parse_in(&text, &file, &stem, &dir, env, overrides)?;
    plan.source = Some(path.to_path_buf());
    Ok(plan)
}

/// Validates scenario text; `file` is used in messages only, data files are found relative
/// to the working directory.
pub fn parse(
    text: &str,
    file: &str,
    fallback_name: &str,
    env: EnvLookup<'_>,
    overrides: &Overrides,
) -> Result<Plan, ScenarioError> {
    parse_in(text, file, fallback_name, Path::new(""), env, overrides)
}

fn parse_in(
    text: &str,
    file: &str,
    fallback_name: &str,
    base_dir: &Path,
    env: EnvLookup<'_>,
    overrides: &Overrides,
) -> Result<Plan, ScenarioError> {
    let invalid = |problems| ScenarioError::Invalid {
        file: file.to_string(),
        problems,
    };
    let mut reading = reader::read(text);
    let Some(raw) = reading.raw.take() else {
        return Err(invalid(reading.problems));
    };
    let mut validator = validate::Validator::new(
        env,
        overrides,
        fallback_name.to_string(),
        &reading.text,
        base_dir.to_path_buf(),
    );
    let plan = validate::build(raw, &mut validator);
    let later: Vec<Problem> = (validator.problems.into_sorted().into_iter())
        .filter(|p| reading.keeps(p))
        .collect();
    let mut all = reading.problems;
    all.extend(later);
    match plan {
        Some(plan) if all.is_empty() => Ok(plan),
        _ => {
            all.sort_by_key(|p| (p.line, p.column));
            Err(invalid(all))
        }
    }
}

/// The scenario file of a URL run (`--print-scenario`): the flags' request and load, its
/// secrets as `{{ env.NAME }}` references.
pub fn ad_hoc_yaml(
    request: &AdHoc,
    env: EnvLookup<'_>,
    overrides: &Overrides,
) -> Result<String, ScenarioError> {
    ad_hoc_text(request, env, overrides, ad_hoc::Credentials::FromEnv)
}

/// The scenario text of a URL run, its credentials written as `credentials` says.
fn ad_hoc_text(
    request: &AdHoc,
    env: EnvLookup<'_>,
    overrides: &Overrides,
    credentials: ad_hoc::Credentials,
) -> Result<String, ScenarioError> {
    let mut request = request.clone();
    request.url =
        template::substitute_env(&request.url, env).map_err(|m| flag_error("--url", m))?;
    ad_hoc::to_yaml(&request, &ad_hoc::with_defaults(overrides), credentials)
        .map_err(|m| flag_error("--url", m))
}

/// Builds the one-step plan of a URL run (no file).
///
/// The plan goes through the same validation as a file (the scenario `ad_hoc_yaml` writes);
/// problems are reported against the flags, not positions in that hidden text.
pub fn ad_hoc(
    request: &AdHoc,
    env: EnvLookup<'_>,
    overrides: &Overrides,
) -> Result<Plan, ScenarioError> {
    let text = ad_hoc_text(request, env, overrides, ad_hoc::Credentials::Inline)?;
    let ov = ad_hoc::with_defaults(overrides);
    let mut plan = parse(&text, "--url", "ad-hoc", env, &ov).map_err(|e| match e {
        ScenarioError::Invalid { problems, .. } => {
            let first = problems.into_iter().next();
            let (flag, message) = match first {
                Some(p) if p.field.ends_with(".method") => ("--method", p.message),
                Some(p) if p.field.contains(".headers") => ("--header", p.message),
                Some(p) if p.field.ends_with(".body") || p.field.ends_with(".json") => {
                    ("--body", p.message)
                }
                Some(p) if p.field.ends_with(".timeout") => ("--timeout", p.message),
                Some(p) => ("--url", p.message),
                None => ("--url", "invalid".to_string()),
            };
            flag_error(flag, message)
        }
        other => other,
    })?;
    plan.name = plan.redactor.owned(&request.url);
    Ok(plan)
}

/// A problem with a flag of a URL run, named by the flag.
fn flag_error(flag: &str, message: String) -> ScenarioError {
    ScenarioError::Invalid {
        file: flag.to_string(),
        problems: vec![Problem {
            line: 0,
            column: 0,
            field: String::new(),
            message,
        }],
    }
}
