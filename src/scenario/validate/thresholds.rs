//! `thresholds:` (and `--threshold`, parsed by `Threshold::parse` the same way).
//!
//! Depends on the `Validator`, `raw`, `threshold` and `units`. Invariant: a threshold names
//! a metric, a unit and a step that exist (`Threshold::parse` checks them).

use std::time::Duration;

use super::Validator;
use crate::scenario::raw::AnyValue;
use crate::scenario::threshold::Threshold;
use crate::scenario::units::parse_duration;

use serde_json::{Map, Value};

/// A threshold as an entry writes it: its text, `abort_on_fail` and `delay`.
type Written = (String, bool, Duration);

/// `thresholds:` and `--threshold`. An entry is a string (`"p99 < 200ms"`, `"checkout/pay:
/// error_rate < 1%"`), a step's own list (`checkout/pay: [ "p99 < 1s" ]`, which is how YAML
/// reads `checkout/pay: p99 < 1s`), or `{ threshold: ..., abort_on_fail: true, delay: 10s }`.
/// `tags` are each step's tag key, in plan order, which a threshold on a tag value must
/// name.
pub(super) fn build_thresholds(
    raw: Option<&[AnyValue]>,
    (steps, tags): (&[(String, String)], &[Option<&str>]),
    vd: &mut Validator<'_>,
) -> Vec<Threshold> {
    let mut out = Vec::new();
    for (i, entry) in raw.into_iter().flatten().enumerate() {
        let field = format!("thresholds[{i}]");
        for (text, abort, delay) in written(entry, &field, vd) {
            let parsed = Threshold::parse(&text, steps).and_then(|t| t.tag_fits(tags).map(|()| t));
            match parsed {
                Ok(mut t) => {
                    t.abort_on_fail = abort;
                    t.delay = delay;
                    out.push(t);
                }
                Err(why) => vd.problems.on(entry, &field, why),
            }
        }
    }
    out
}

/// The thresholds one entry writes, in its order; its shape's problems are reported here.
fn written(entry: &AnyValue, field: &str, vd: &mut Validator<'_>) -> Vec<Written> {
    match &entry.value {
        Value::String(text) => vec![(text.clone(), false, Duration::ZERO)],
        Value::Object(map) if map.contains_key("threshold") => {
            threshold_object(map, entry, field, vd)
                .into_iter()
                .collect()
        }
        Value::Object(map) if map.len() == 1 => step_lists(map, entry, field, vd),
        _ => {
            vd.problems.on(
                entry,
                field,
                "a threshold is text such as \"p99 < 200ms\" or \"checkout/pay: error_rate < 1%\"",
            );
            Vec::new()
        }
    }
}

/// `{ threshold: ..., abort_on_fail: true, delay: 10s }`.
fn threshold_object(
    map: &Map<String, Value>,
    entry: &AnyValue,
    field: &str,
    vd: &mut Validator<'_>,
) -> Option<Written> {
    let text = map.get("threshold").and_then(Value::as_str);
    let abort = map.get("abort_on_fail").map(Value::as_bool);
    let delay = map.get("delay").map(|d| d.as_str().map(parse_duration));
    let unknown = map
        .keys()
        .find(|k| !["threshold", "abort_on_fail", "delay"].contains(&k.as_str()));
    match (text, abort, delay, unknown) {
        (_, _, _, Some(k)) => vd.problems.on(
            entry,
            field,
            format!("unknown field \"{k}\"; a threshold takes threshold, abort_on_fail, delay"),
        ),
        (None, _, _, _) => vd.problems.on(
            entry,
            field,
            "threshold must be a string, e.g. threshold: \"p99 < 200ms\"",
        ),
        (_, Some(None), _, _) => {
            vd.problems
                .on(entry, field, "abort_on_fail must be true or false")
        }
        (_, _, Some(None | Some(Err(_))), _) => {
            vd.problems
                .on(entry, field, "delay must be a duration, e.g. delay: 10s")
        }
        (Some(text), abort, delay, None) => {
            return Some((
                text.to_string(),
                abort.flatten().unwrap_or(false),
                delay.flatten().and_then(Result::ok).unwrap_or_default(),
            ));
        }
    }
    None
}

/// `scope: expr` or `scope: [expr, ...]`: a step's (or flow's) own list.
fn step_lists(
    map: &Map<String, Value>,
    entry: &AnyValue,
    field: &str,
    vd: &mut Validator<'_>,
) -> Vec<Written> {
    let mut found = Vec::new();
    for (scope, exprs) in map {
        let list = match exprs {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if list.is_empty() {
            vd.problems.on(
                entry,
                field,
                format!("write the thresholds of \"{scope}\" as text, e.g. {scope}: p99 < 200ms"),
            );
        }
        for expr in list {
            found.push((format!("{scope}: {expr}"), false, Duration::ZERO));
        }
    }
    found
}
