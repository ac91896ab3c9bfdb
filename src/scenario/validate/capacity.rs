//! `load.find_capacity`: `{ start, step, hold, max, precision, until }` into a `Capacity`
//! (its `until` limits parsed once the steps are known, by `limits`), and what it rules
//! out: another model or stop condition in the file, and `thresholds:` (a search judges
//! each hold by its own limits; the run's totals mix the holds that broke).
//!
//! Depends on the `Validator`, the scenario's `capacity`, `raw`, `threshold` and `units`.

use serde_json::{Map, Value};

use super::{Validator, only_keys, scalar_text};
use crate::scenario::capacity::{
    Capacity, DEFAULT_HOLD, DEFAULT_MAX, DEFAULT_PRECISION, DEFAULT_STEP, SHORTEST_HOLD,
    parse_precision, parse_step,
};
use crate::scenario::raw::{AnyValue, RawLoad};
use crate::scenario::units::{parse_duration, parse_rate};
use crate::scenario::{Metric, Threshold};

const FIELD: &str = "load.find_capacity";

const FORM: &str = "write find_capacity: { start: 100/s, step: 1.5x, hold: 10s, max: 20000/s, \
    until: { p99: 200ms, error_rate: 1% } }";

/// The search `load.find_capacity` describes, its limits still text (see `limits`); `None`
/// after a problem (recorded).
pub(super) fn build_capacity(
    l: &RawLoad,
    raw: &AnyValue,
    vd: &mut Validator<'_>,
) -> Option<(Capacity, Vec<String>)> {
    for (set, name) in [
        (l.vus.is_some(), "vus"),
        (l.rate.is_some(), "rate"),
        (l.stages.is_some(), "stages"),
        (l.duration.is_some(), "duration"),
        (l.iterations.is_some(), "iterations"),
    ] {
        if set {
            let message = format!(
                "find_capacity sets the rate hold by hold and ends when it has its answer; \
                 remove load.{name}"
            );
            vd.problems.on(raw, FIELD, message);
            return None;
        }
    }
    let Value::Object(map) = &raw.value else {
        vd.problems.on(
            raw,
            FIELD,
            format!("find_capacity is {}; {FORM}", raw.value),
        );
        return None;
    };
    spec(map).map_err(|m| vd.problems.on(raw, FIELD, m)).ok()
}

fn spec(map: &Map<String, Value>) -> Result<(Capacity, Vec<String>), String> {
    let keys = ["start", "step", "hold", "max", "precision", "until"];
    only_keys(map, "find_capacity", &keys)?;
    let text = |key: &str| map.get(key).map(scalar_text);
    let rate = |key: &str| -> Result<Option<f64>, String> {
        text(key)
            .map(|t| parse_rate(&t).map_err(|e| format!("{key}: {e}")))
            .transpose()
    };
    let start = rate("start")?.ok_or_else(|| format!("start is missing; {FORM}"))?;
    let max = rate("max")?.unwrap_or(DEFAULT_MAX.max(start));
    if max < start {
        return Err(format!(
            "max ({max}/s) is below start ({start}/s); the search rises from start to max"
        ));
    }
    let step = text("step").map_or(Ok(DEFAULT_STEP), |t| parse_step(&t))?;
    let hold = match text("hold") {
        Some(t) => parse_duration(&t).map_err(|e| format!("hold: {e}"))?,
        None => DEFAULT_HOLD,
    };
    if hold < SHORTEST_HOLD {
        return Err(format!(
            "hold is {}; a hold needs its warm-up and a judged part: at least 2s (10s is usual)",
            text("hold").unwrap_or_default()
        ));
    }
    let precision = text("precision").map_or(Ok(DEFAULT_PRECISION), |t| parse_precision(&t))?;
    let until = match map.get("until") {
        Some(Value::Object(limits)) if !limits.is_empty() => limits
            .iter()
            .map(|(metric, v)| format!("{metric} < {}", scalar_text(v)))
            .collect(),
        Some(Value::Array(items)) if !items.is_empty() => items.iter().map(scalar_text).collect(),
        Some(other) => {
            return Err(format!(
                "until is {other}; write the limits a hold must keep, e.g. until: {{ p99: 200ms, error_rate: 1% }}"
            ));
        }
        None => {
            return Err(format!(
                "until is missing: the search needs its limits; {FORM}"
            ));
        }
    };
    let capacity = Capacity {
        start,
        step,
        hold,
        max,
        precision,
        until: Vec::new(),
    };
    Ok((capacity, until))
}

/// The search's limits, parsed against the plan's steps (`flow`, `step`); each problem is
/// recorded at `load.find_capacity`.
pub(super) fn limits(
    texts: &[String],
    steps: &[(String, String)],
    raw: &AnyValue,
    vd: &mut Validator<'_>,
) -> Vec<Threshold> {
    let mut out = Vec::new();
    for text in texts {
        match Threshold::parse(text, steps) {
            // A hold's window keeps the requests' figures, not the checks' counts or the tag
            // values' rows: such a limit would read "no data" and break every hold.
            Ok(t) if t.metric == Metric::Checks || t.tag.is_some() => vd.problems.on(
                raw,
                &format!("{FIELD}.until"),
                format!(
                    "\"{text}\": a hold is judged on its requests' figures; checks and tag \
                     values are not kept per hold (put them in thresholds of an ordinary run)"
                ),
            ),
            Ok(t) => out.push(t),
            Err(e) => vd.problems.on(raw, &format!("{FIELD}.until"), e),
        }
    }
    out
}
