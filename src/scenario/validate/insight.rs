//! What a step reads from its responses beyond judging them, in `defaults` or a step:
//! `server_time:` into a `ServerClock`, `tag_by:` into a `TagBy`.
//!
//! Depends on the `Validator` and the scenario's `insight`, `checks` and `raw` types.

use std::sync::Arc;

use reqwest::header::HeaderName;
use serde_json::Value;

use super::{Validator, only_keys};
use crate::scenario::checks::{JsonPath, Source};
use crate::scenario::insight::{DEFAULT_MAX_VALUES, ServerClock, TagBy, TimeUnit};
use crate::scenario::raw::AnyValue;

/// What `server_time:` may say, for the error messages.
const SERVER_TIME_FORMS: &str = "write server_time: false, true, or \
    { header: X-Runtime, unit: s | ms | us } (Server-Timing takes { header: Server-Timing, \
    metric: NAME })";

/// `server_time:`: `false` (not read), `true` (the default: `X-Process-Time`, else
/// `Server-Timing`), or `{ header, unit }` / `{ header: Server-Timing, metric }`. `None`
/// after a problem (recorded).
pub(super) fn server_clock(
    raw: &AnyValue,
    field: &str,
    vd: &mut Validator<'_>,
) -> Option<ServerClock> {
    let said = match &raw.value {
        Value::Bool(false) => return Some(ServerClock::Off),
        Value::Bool(true) => return Some(ServerClock::Auto),
        Value::Object(map) => header_clock(map),
        other => Err(format!("server_time is {other}; {SERVER_TIME_FORMS}")),
    };
    said.map_err(|message| vd.problems.on(raw, field, message))
        .ok()
}

/// `server_time: { header, unit | metric }`; `Err` says what is wrong and what to write.
fn header_clock(map: &serde_json::Map<String, Value>) -> Result<ServerClock, String> {
    only_keys(map, "server_time", &["header", "unit", "metric"])?;
    let Some(Value::String(header)) = map.get("header") else {
        return Err(format!(
            "server_time needs a header name; {SERVER_TIME_FORMS}"
        ));
    };
    let name = HeaderName::from_bytes(header.trim().as_bytes())
        .map_err(|_| format!("\"{header}\" is not a header name; write e.g. header: X-Runtime"))?;
    let text = |key: &str| map.get(key).map(|v| v.as_str().map(str::trim));
    if name.as_str() == "server-timing" {
        if text("unit").is_some() {
            return Err(
                "Server-Timing's durations are in ms; remove unit, or name one metric \
                 with metric: NAME"
                    .into(),
            );
        }
        return match text("metric") {
            None => Ok(ServerClock::ServerTiming { metric: None }),
            Some(Some(m)) if !m.is_empty() => Ok(ServerClock::ServerTiming {
                metric: Some(Arc::from(m)),
            }),
            Some(_) => Err("metric is a Server-Timing metric's name, e.g. metric: app".into()),
        };
    }
    if text("metric").is_some() {
        return Err(format!(
            "metric names a Server-Timing metric; {header} holds one number: remove metric"
        ));
    }
    let unit = match text("unit") {
        None | Some(Some("s")) => TimeUnit::Seconds,
        Some(Some("ms")) => TimeUnit::Millis,
        Some(Some("us" | "µs")) => TimeUnit::Micros,
        Some(other) => {
            let said = other.unwrap_or("not text");
            return Err(format!(
                "unit \"{said}\" is not a time unit; write unit: s, ms or us"
            ));
        }
    };
    Ok(ServerClock::Header { name, unit })
}

/// What `tag_by:` may say, for the error messages.
const TAG_FORMS: &str = "write tag_by: { json: body.from_cache }, { header: X-Cache }, \
    { status: true } or { regex: 'hit|miss' }, with max_values: N and name: KEY if you like, \
    or tag_by: false";

/// The most values a tag may give rows of their own.
const MOST_MAX_VALUES: u64 = 1000;

/// `tag_by:`: one source (`json`, `header`, `status`, `regex`) with `max_values` and `name`,
/// or `false` (no tag, over the defaults' one). `None` after a problem (recorded);
/// `Some(None)`: no tag.
pub(super) fn tag_by(raw: &AnyValue, field: &str, vd: &mut Validator<'_>) -> Option<Option<TagBy>> {
    let said = match &raw.value {
        Value::Bool(false) => return Some(None),
        Value::Object(map) => tag_of(map).map(Some),
        other => Err(format!("tag_by is {other}; {TAG_FORMS}")),
    };
    said.map_err(|message| vd.problems.on(raw, field, message))
        .ok()
}

/// `tag_by: { SOURCE, max_values?, name? }`; `Err` says what is wrong and what to write.
fn tag_of(map: &serde_json::Map<String, Value>) -> Result<TagBy, String> {
    const SOURCES: [&str; 4] = ["json", "header", "status", "regex"];
    let keys = ["json", "header", "status", "regex", "max_values", "name"];
    only_keys(map, "tag_by", &keys)?;
    let given: Vec<&str> = SOURCES
        .into_iter()
        .filter(|k| map.contains_key(*k))
        .collect();
    let [which] = given[..] else {
        return Err(format!("tag_by needs exactly one source; {TAG_FORMS}"));
    };
    let (source, key) = tag_source(which, map)?;
    let key = match map.get("name") {
        None => key,
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_string(),
        Some(_) => return Err("name is the tag's name in reports, e.g. name: cache".into()),
    };
    let max_values = match map.get("max_values") {
        None => DEFAULT_MAX_VALUES,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MOST_MAX_VALUES).contains(&n) => n as usize,
            _ => {
                return Err(format!(
                    "max_values is {v}; write a whole number from 1 to {MOST_MAX_VALUES} (the \
                     values past it are counted as other)"
                ));
            }
        },
    };
    Ok(TagBy {
        key,
        source,
        max_values,
    })
}

/// The source `which` of a `tag_by:` and the tag's default name.
fn tag_source(
    which: &str,
    map: &serde_json::Map<String, Value>,
) -> Result<(Source, String), String> {
    let text = map.get(which).and_then(Value::as_str).map(str::trim);
    let (source, key) = match (which, text) {
        ("json", Some(path)) => {
            let path = JsonPath::parse(path)?;
            let key = path.as_str().rsplit(['.', ']']).find(|k| !k.is_empty());
            let key = key.unwrap_or("body").to_string();
            (Source::Body(path), key)
        }
        ("header", Some(name)) => {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                format!("\"{name}\" is not a header name; write e.g. header: X-Cache")
            })?;
            let key = name.as_str().to_string();
            (Source::Header(name), key)
        }
        ("regex", Some(pattern)) => {
            let re = regex_lite::Regex::new(pattern).map_err(|e| format!("not a regex: {e}"))?;
            (Source::Regex(re), "match".to_string())
        }
        ("status", None) if map.get("status") == Some(&Value::Bool(true)) => {
            (Source::Status, "status".to_string())
        }
        ("status", _) => return Err("write tag_by: { status: true }".into()),
        _ => return Err(format!("tag_by's {which} takes text; {TAG_FORMS}")),
    };
    Ok((source, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Overrides, parse};

    /// The clock of the plan's two steps: the first inherits `defaults`, the second says
    /// `step`.
    fn clocks(defaults: &str, step: &str) -> Result<(ServerClock, ServerClock), String> {
        let text = format!(
            "target: http://a.test\nload: {{ vus: 1, iterations: 1 }}\ndefaults: {{ {defaults} }}\n\
             flows: [ {{ steps: [ {{ get: /a }}, {{ get: /b, {step} }} ] }} ]\n"
        );
        let plan = parse(&text, "t.yaml", "t", &|_| None, &Overrides::default())
            .map_err(|e| e.to_string())?;
        let steps = &plan.flows[0].steps;
        Ok((steps[0].server_time.clone(), steps[1].server_time.clone()))
    }

    #[test]
    fn server_time_is_on_by_default_and_a_step_beats_the_defaults() {
        let (a, b) = clocks("server_time: false", "server_time: true").expect("valid");
        assert_eq!((a, b), (ServerClock::Off, ServerClock::Auto));
        let (a, b) = clocks(
            "timeout: 5s",
            "server_time: { header: X-Runtime, unit: ms }",
        )
        .expect("valid");
        assert_eq!(a, ServerClock::Auto);
        assert_eq!(
            b,
            ServerClock::Header {
                name: HeaderName::from_static("x-runtime"),
                unit: TimeUnit::Millis
            }
        );
        let (_, b) = clocks(
            "timeout: 5s",
            "server_time: { header: server-timing, metric: db }",
        )
        .expect("valid");
        assert_eq!(
            b,
            ServerClock::ServerTiming {
                metric: Some(Arc::from("db"))
            }
        );
    }

    #[test]
    fn a_wrong_server_time_says_what_to_write() {
        let wrong = |step: &str| clocks("timeout: 5s", step).expect_err(step);
        assert!(wrong("server_time: 5").contains("server_time: false, true"));
        assert!(wrong("server_time: { unit: ms }").contains("needs a header name"));
        assert!(wrong("server_time: { header: X-A, unit: h }").contains("s, ms or us"));
        assert!(wrong("server_time: { header: X-A, metric: db }").contains("remove metric"));
        assert!(wrong("server_time: { header: Server-Timing, unit: ms }").contains("remove unit"));
        assert!(wrong("server_time: { header: X-A, scale: 2 }").contains("takes header"));
        assert!(wrong("server_time: { header: \"a b\" }").contains("not a header name"));
    }
}
