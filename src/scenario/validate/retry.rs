//! `retry:` in `defaults` or a step: `false` (none, for a step whose defaults retry), `true`
//! (the default policy), or `{ attempts, backoff: LOW..HIGH, on: [...] }`, into a `Retry`.
//!
//! Depends on the `Validator`, the scenario's `retry` and `raw` types and `units`.

use serde_json::Value;

use super::{Validator, only_keys};
use crate::scenario::raw::AnyValue;
use crate::scenario::retry::{
    DEFAULT_ATTEMPTS, DEFAULT_BACKOFF, MAX_ATTEMPTS, RETRY_CLASSES, Retry, RetryOn,
};
use crate::scenario::units::parse_duration;

/// What `retry:` may say, for the error messages.
const RETRY_FORMS: &str = "write retry: { attempts: 3, backoff: 100ms..2s, on: [connect, \
    timeout, reset, 503] }, true for that default, or false for none";

/// `retry:` at `field`; `Some(None)`: no retries; `None` after a problem (recorded).
pub(super) fn retry(raw: &AnyValue, field: &str, vd: &mut Validator<'_>) -> Option<Option<Retry>> {
    let said = match &raw.value {
        Value::Bool(false) => return Some(None),
        Value::Bool(true) => Ok(default_policy()),
        Value::Object(map) => policy(map),
        other => Err(format!("retry is {other}; {RETRY_FORMS}")),
    };
    said.map(Some)
        .map_err(|message| vd.problems.on(raw, field, message))
        .ok()
}

fn default_policy() -> Retry {
    Retry {
        attempts: DEFAULT_ATTEMPTS,
        backoff: DEFAULT_BACKOFF,
        on: RetryOn::default(),
    }
}

/// `{ attempts, backoff, on }`, each optional; `Err` says what is wrong and what to write.
fn policy(map: &serde_json::Map<String, Value>) -> Result<Retry, String> {
    only_keys(map, "retry", &["attempts", "backoff", "on"])?;
    let mut retry = default_policy();
    if let Some(n) = map.get("attempts") {
        retry.attempts = match n.as_u64() {
            Some(n @ 2..) if n <= u64::from(MAX_ATTEMPTS) => n as u32,
            _ => {
                return Err(format!(
                    "attempts is {n}; write the most attempts of one request, the first \
                     included, from 2 to {MAX_ATTEMPTS} (e.g. attempts: 3)"
                ));
            }
        };
    }
    if let Some(b) = map.get("backoff") {
        retry.backoff = backoff(b)?;
    }
    if let Some(on) = map.get("on") {
        retry.on = endings(on)?;
    }
    Ok(retry)
}

/// `backoff: LOW..HIGH` (or one duration: a fixed wait).
fn backoff(value: &Value) -> Result<(std::time::Duration, std::time::Duration), String> {
    let Some(text) = value.as_str() else {
        return Err(format!(
            "backoff is {value}; write the first wait and the longest, e.g. backoff: 100ms..2s"
        ));
    };
    let (low, high) = match text.split_once("..") {
        Some((a, b)) => (parse_duration(a.trim())?, parse_duration(b.trim())?),
        None => {
            let d = parse_duration(text.trim())?;
            (d, d)
        }
    };
    if low > high {
        return Err(format!(
            "backoff \"{text}\" runs from the longer wait to the shorter; write it as \
             FIRST..LONGEST, e.g. 100ms..2s"
        ));
    }
    if low.is_zero() {
        return Err(format!(
            "backoff \"{text}\" starts at 0: a retry without a wait hammers a failing \
             service; start at 1ms or more, e.g. 100ms..2s"
        ));
    }
    Ok((low, high))
}

/// `on: [connect, timeout, reset, goaway, body, STATUS, ...]`.
fn endings(value: &Value) -> Result<RetryOn, String> {
    let names: Vec<&str> = RETRY_CLASSES.iter().map(|(n, _)| *n).collect();
    let hint = format!(
        "on lists what is retried: {} or a status from 100 to 599, e.g. on: [connect, \
         timeout, 503]",
        names.join(", ")
    );
    let Some(items) = value.as_array().filter(|a| !a.is_empty()) else {
        return Err(format!("on is {value}; {hint}"));
    };
    let mut on = RetryOn {
        classes: Vec::new(),
        statuses: Vec::new(),
    };
    for item in items {
        match item {
            Value::Number(n) => match n.as_u64().filter(|s| (100..=599).contains(s)) {
                Some(status) => on.statuses.push(status as u16),
                None => return Err(format!("{n} is not a status; {hint}")),
            },
            Value::String(name) => {
                let Some((_, classes)) = RETRY_CLASSES.iter().find(|(n, _)| n == name) else {
                    return Err(format!("\"{name}\" is not something retried; {hint}"));
                };
                on.classes.extend_from_slice(classes);
            }
            other => return Err(format!("{other} is not something retried; {hint}")),
        }
    }
    Ok(on)
}
