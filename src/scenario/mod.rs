//! Scenario files: reading (YAML, and JSON as its subset), validation into a `Plan`, and
//! errors that name the file, line, column, field and fix.
//!
//! Flow: text → `raw` (serde mirror with spans) → `build` (every check, all problems
//! collected) → `Plan` (immutable). Depends on no other module of the crate.

mod build;
mod checks;
mod data;
mod diag;
mod plan;
mod raw;
mod step;
mod template;
mod units;

use std::path::Path;

pub use build::{MAX_USERS, Overrides, parse_target};
pub use checks::{Check, CheckKind, Expect, Extraction, Response, Source};
pub use data::{DataMode, DataSet};
pub use diag::{Problem, ScenarioError};
pub use plan::{Body, Flow, Load, Model, OnError, Plan, Stage, Step, StepUrl, Target};
pub use template::{
    EnvLookup, FUNCTIONS, JsonTemplate, Missing, Scope, Template, TemplateError, is_name,
};
pub use units::{StatusSet, parse_duration, parse_rate, parse_size};

use diag::Problems;

/// Virtual users of a `--url` run that names no load.
pub const AD_HOC_VUS: u64 = 50;
/// Length of a `--url` run that names no stop condition.
pub const AD_HOC_DURATION: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and validates a scenario file.
pub fn load(path: &Path, env: EnvLookup<'_>, overrides: &Overrides) -> Result<Plan, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: file.clone(),
        source,
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
    let raw = read_raw(text).map_err(|p| invalid(vec![p]))?;
    let cx = build::Context {
        env,
        overrides,
        fallback_name: fallback_name.to_string(),
        text,
        base_dir: base_dir.to_path_buf(),
    };
    let mut problems = Problems::default();
    match build::build(raw, &cx, &mut problems) {
        Some(plan) if problems.is_empty() => Ok(plan),
        _ => Err(invalid(problems.into_sorted())),
    }
}

/// Builds the one-step plan of an ad-hoc `--url` run (no file).
///
/// The plan goes through the same validation as a file (a generated one-step scenario);
/// problems are reported against the flags, not positions in that hidden text.
pub fn ad_hoc(
    url: &str,
    method: &str,
    env: EnvLookup<'_>,
    overrides: &Overrides,
) -> Result<Plan, ScenarioError> {
    let flag_error = |flag: &str, message: String| ScenarioError::Invalid {
        file: flag.to_string(),
        problems: vec![Problem {
            line: 0,
            column: 0,
            field: String::new(),
            message,
        }],
    };
    let expanded = template::substitute_env(url, env).map_err(|m| flag_error("--url", m))?;
    let (target, path) = split_url(&expanded).map_err(|m| flag_error("--url", m))?;
    let mut ov = overrides.clone();
    ov.target.get_or_insert(target);
    // Like oha and hey, a bare URL needs no other flag: 50 users for 10 seconds.
    if ov.vus.is_none() && ov.rate.is_none() {
        ov.vus = Some(AD_HOC_VUS);
    }
    if ov.duration.is_none() && ov.iterations.is_none() {
        ov.duration = Some(AD_HOC_DURATION);
    }
    let text = format!(
        "flows:\n  - name: url\n    steps:\n      - method: {}\n        url: {}\n",
        serde_json::Value::String(method.to_string()),
        serde_json::Value::String(path),
    );
    let mut plan = parse(&text, "--url", "ad-hoc", env, &ov).map_err(|e| match e {
        ScenarioError::Invalid { problems, .. } => {
            let first = problems.into_iter().next();
            let (flag, message) = match first {
                Some(p) if p.field.ends_with(".method") => ("--method", p.message),
                Some(p) => ("--url", p.message),
                None => ("--url", "invalid".to_string()),
            };
            flag_error(flag, message)
        }
        other => other,
    })?;
    plan.name = plan.redactor.owned(url);
    Ok(plan)
}

/// Splits `http://host:port/path?q` into the target and the rest.
fn split_url(url: &str) -> Result<(Target, String), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        format!("\"{url}\" is not a URL ({e}); write e.g. http://127.0.0.1:8000/users/1")
    })?;
    let target = parse_target(&parsed[..url::Position::BeforePath])?;
    Ok((target, parsed[url::Position::BeforePath..].to_string()))
}

/// Parses text into the raw mirror, turning a serde error into a located problem whose field
/// is the path serde was at.
fn read_raw(text: &str) -> Result<raw::RawScenario, Problem> {
    let mut field = String::new();
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            field = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let message = e.without_snippet().to_string();
        // serde-saphyr appends " at line L, column C"; the location is printed up front.
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |i| &message[..i])
            .to_string();
        Problem {
            line,
            column,
            field: clean_path(&field),
            message: hint_for(&message, token_at(text, line, column)),
        }
    })
}

/// Drops serde-saphyr's internal `.value` segments (from `Spanned`) and the root marker.
fn clean_path(path: &str) -> String {
    let cleaned = path.replace(".value", "");
    if cleaned == "." {
        String::new()
    } else {
        cleaned
    }
}

/// Adds the bad value and the fix to serde's terse messages.
fn hint_for(message: &str, value: Option<&str>) -> String {
    let quoted = value.map_or(String::new(), |v| format!("\"{v}\" "));
    if message.starts_with("unknown field") {
        format!("{message}; check the spelling (the README lists every field)")
    } else if message.starts_with("invalid u64") || message.starts_with("invalid u32") {
        format!("{quoted}is not a whole number; write e.g. 10")
    } else if message.starts_with("expected string") {
        format!("{quoted}is not a string; write a plain value or quote it")
    } else {
        message.to_string()
    }
}

/// The scalar that starts at 1-based `line`:`column`, for quoting it in messages.
fn token_at(text: &str, line: u64, column: u64) -> Option<&str> {
    let row = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let start = row
        .char_indices()
        .nth(usize::try_from(column).ok()?.checked_sub(1)?)?
        .0;
    let rest = &row[start..];
    let end = rest.find([',', '}', ']', '#']).unwrap_or(rest.len());
    let token = rest[..end].trim().trim_matches(['"', '\'']);
    // A flow collection has no single bad value to quote.
    (!token.is_empty() && !token.starts_with(['[', '{'])).then_some(token)
}
