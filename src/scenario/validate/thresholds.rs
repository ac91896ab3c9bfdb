//! `thresholds:` (and `--threshold`, parsed by `Threshold::parse` the same way).

use std::time::Duration;

use super::Validator;
use crate::scenario::raw::AnyValue;
use crate::scenario::threshold::Threshold;
use crate::scenario::units::parse_duration;

/// `thresholds:` and `--threshold`. An entry is a string (`"p99 < 200ms"`, `"checkout/pay:
/// error_rate < 1%"`), a step's own list (`checkout/pay: [ "p99 < 1s" ]`, which is how YAML
/// reads `checkout/pay: p99 < 1s`), or `{ threshold: ..., abort_on_fail: true, delay: 10s }`.
pub(super) fn build_thresholds(
    raw: Option<&[AnyValue]>,
    steps: &[(String, String)],
    vd: &mut Validator<'_>,
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
                    (_, _, _, Some(k)) => vd.problems.on(
                        entry,
                        &field,
                        format!("unknown field \"{k}\"; a threshold takes threshold, abort_on_fail, delay"),
                    ),
                    (None, _, _, _) => vd.problems.on(
                        entry,
                        &field,
                        "threshold must be a string, e.g. threshold: \"p99 < 200ms\"",
                    ),
                    (_, Some(None), _, _) => {
                        vd.problems.on(entry, &field, "abort_on_fail must be true or false")
                    }
                    (_, _, Some(None | Some(Err(_))), _) => vd.problems.on(
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
                        vd.problems.on(
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
            _ => vd.problems.on(
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
                Err(why) => vd.problems.on(entry, &field, why),
            }
        }
    }
    out
}
