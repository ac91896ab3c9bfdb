//! A saved result as `compare`, `report` and `run --baseline` read it: checked before use,
//! so that a file that is not a whole result (`{"schema_version":1}`, a result without
//! `total`, a negative or fractional count) is refused with what is missing, never read as
//! "no data" (a CI gate would pass on nothing). The published schema
//! (`schema/result.schema.json`) is the reference; this checks, in Rust and without a
//! schema library, the fields and types that the comparison and the report page read.

use serde_json::Value;

/// Checks that `doc` is a result of this schema version holding the figures that compare
/// and report read; the error names the file (`name`), the field and what it must be.
pub fn check(doc: &Value, name: &str) -> Result<(), String> {
    version(doc, name)?;
    fields(doc).map_err(|(field, want)| {
        format!(
            "{name}: not a whole stampede result: {field} {want}; make one with \
             `stampede run FILE --json PATH`"
        )
    })
}

/// The schema version: present, and the one this stampede reads.
fn version(doc: &Value, name: &str) -> Result<(), String> {
    match doc["schema_version"].as_u64() {
        Some(v) if v == u64::from(super::SCHEMA_VERSION) => Ok(()),
        Some(v) => Err(format!(
            "{name}: a result of schema version {v}; this stampede reads version {}",
            super::SCHEMA_VERSION
        )),
        None => Err(format!(
            "{name}: not a stampede result (no schema_version); make one with `stampede run FILE --json PATH`"
        )),
    }
}

/// A field that is wrong, and what it must be.
type Wrong = (String, &'static str);

/// The fields compare and report read, with their types.
fn fields(doc: &Value) -> Result<(), Wrong> {
    object(doc, "")?;
    object(&doc["scenario"], "scenario")?;
    text(&doc["scenario"]["name"], "scenario.name")?;
    stats(&doc["total"], "total")?;
    let Some(steps) = doc["steps"].as_array() else {
        return Err(("steps".into(), "is missing or not a list of steps"));
    };
    for (i, step) in steps.iter().enumerate() {
        stats(step, &format!("steps[{i}]"))?;
        text(&step["flow"], &format!("steps[{i}].flow"))?;
    }
    match &doc["series"] {
        Value::Null | Value::Object(_) => Ok(()),
        _ => Err(("series".into(), "must be an object or null")),
    }
}

/// One step's figures (or the total's).
fn stats(v: &Value, at: &str) -> Result<(), Wrong> {
    object(v, at)?;
    text(&v["name"], &format!("{at}.name"))?;
    let requests = count(&v["requests"], &format!("{at}.requests"))?;
    let errors = count(&v["errors"], &format!("{at}.errors"))?;
    if errors > requests {
        return Err((format!("{at}.errors"), "must be at most requests"));
    }
    number(&v["rps"], &format!("{at}.rps"))?;
    let latency = &v["latency_ms"];
    object(latency, &format!("{at}.latency_ms"))?;
    count(&latency["count"], &format!("{at}.latency_ms.count"))?;
    for q in ["p50", "p99"] {
        number(&latency[q], &format!("{at}.latency_ms.{q}"))?;
    }
    match &v["hdr"] {
        Value::Null | Value::Object(_) => Ok(()),
        _ => Err((format!("{at}.hdr"), "must be an object or null")),
    }
}

fn object(v: &Value, at: &str) -> Result<(), Wrong> {
    match v {
        Value::Object(_) => Ok(()),
        Value::Null => Err((field(at), "is missing")),
        _ => Err((field(at), "must be an object")),
    }
}

fn text(v: &Value, at: &str) -> Result<(), Wrong> {
    match v {
        Value::String(_) => Ok(()),
        Value::Null => Err((field(at), "is missing")),
        _ => Err((field(at), "must be text")),
    }
}

/// A count: a whole number, zero or more.
fn count(v: &Value, at: &str) -> Result<u64, Wrong> {
    match v {
        Value::Null => Err((field(at), "is missing")),
        _ => v
            .as_u64()
            .ok_or((field(at), "must be a whole number, zero or more")),
    }
}

/// A figure: a number, zero or more.
fn number(v: &Value, at: &str) -> Result<f64, Wrong> {
    match v.as_f64() {
        Some(n) if n >= 0.0 => Ok(n),
        Some(_) => Err((field(at), "must be zero or more")),
        None if v.is_null() => Err((field(at), "is missing")),
        None => Err((field(at), "must be a number")),
    }
}

/// The field's name for messages (the document itself has none).
fn field(at: &str) -> String {
    if at.is_empty() {
        "the document".into()
    } else {
        at.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn whole() -> Value {
        let stats = json!({
            "flow": "f", "name": "s", "requests": 10, "errors": 1, "rps": 5.0,
            "latency_ms": { "count": 10, "p50": 1.5, "p99": 3.0 }, "hdr": null,
        });
        let mut total = stats.clone();
        total["flow"] = Value::Null;
        total["name"] = json!("total");
        json!({ "schema_version": 1, "scenario": { "name": "x" }, "total": total,
                "steps": [stats], "series": null })
    }

    #[test]
    fn a_whole_result_passes_and_each_missing_or_wrong_field_is_named() {
        assert_eq!(check(&whole(), "r.json"), Ok(()));
        let cases: [(&str, Value, &str); 7] = [
            ("/total", Value::Null, "total is missing"),
            ("/steps", json!({}), "steps is missing or not a list"),
            (
                "/total/requests",
                json!(-1),
                "total.requests must be a whole number",
            ),
            (
                "/steps/0/errors",
                json!(2.5),
                "steps[0].errors must be a whole number",
            ),
            (
                "/total/errors",
                json!(11),
                "total.errors must be at most requests",
            ),
            (
                "/total/latency_ms/p99",
                json!("fast"),
                "total.latency_ms.p99 must be a number",
            ),
            ("/scenario", Value::Null, "scenario is missing"),
        ];
        for (pointer, value, says) in cases {
            let mut doc = whole();
            *doc.pointer_mut(pointer).expect("pointer") = value;
            let e = check(&doc, "r.json").expect_err(pointer);
            assert!(
                e.starts_with("r.json: not a whole stampede result: "),
                "{e}"
            );
            assert!(e.contains(says), "{pointer}: {e}");
        }
        let e = check(&json!({"schema_version": 1}), "r.json").expect_err("empty");
        assert!(e.contains("scenario is missing"), "{e}");
    }
}
