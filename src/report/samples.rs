//! A step's failure samples in the JSON result (`samples: { failures, slowest }`), and the
//! same sample as lines of text (`-v` prints them on stderr as they happen).
//!
//! The samples come redacted from the snapshot (`metrics::Samples`): nothing here sees a
//! secret. Depends on `metrics` (the sample types) and `format`. Invariant: a JSON sample
//! says `null` for what was not kept (response headers, body), never an empty value that
//! could pass for what the server sent.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::format::format_latency;
use crate::metrics::{Sample, Samples};

/// A step's samples.
#[derive(Serialize)]
pub(super) struct SamplesDoc {
    /// The latest failures of each error class (and each unexpected status), up to 5 each.
    failures: Vec<SampleDoc>,
    /// The slowest successful exchanges, slowest first, up to 5.
    slowest: Vec<SampleDoc>,
}

/// One exchange: latencies in ms, `at_s` from the run's start.
#[derive(Serialize)]
struct SampleDoc {
    /// The error class; null for a success.
    class: Option<&'static str>,
    status: Option<u16>,
    /// Why it failed; empty for a success.
    message: String,
    method: String,
    /// null when the request could not be built (class render).
    url: Option<String>,
    /// A header sent more than once has its values joined with ", ".
    request_headers: BTreeMap<String, String>,
    /// null when the transport did not keep them (see the README's samples).
    response_headers: Option<BTreeMap<String, String>>,
    /// The first 2 KiB of the body: text, or hex when it is not UTF-8; null when not kept.
    body: Option<String>,
    body_encoding: Option<&'static str>,
    /// Body bytes received in all.
    body_bytes: Option<u64>,
    /// Only the first part of the body is in `body`.
    body_truncated: bool,
    server_time_ms: Option<f64>,
    latency_ms: f64,
    at_s: f64,
    /// Per-request phases (ms), once stampede measures them; absent until then.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    phases_ms: BTreeMap<&'static str, f64>,
}

/// The JSON of a step's samples.
pub(super) fn samples_doc(samples: &Samples) -> SamplesDoc {
    SamplesDoc {
        failures: samples.failures.iter().map(sample_doc).collect(),
        slowest: samples.slowest.iter().map(sample_doc).collect(),
    }
}

fn sample_doc(s: &Sample) -> SampleDoc {
    // To the µs, as every latency in the result.
    let ms = |d: std::time::Duration| d.as_micros() as f64 / 1000.0;
    SampleDoc {
        class: s.class.map(|c| c.as_str()),
        status: s.status,
        message: s.message.clone(),
        method: s.method.clone(),
        url: s.url.clone(),
        request_headers: joined(&s.request_headers),
        response_headers: s.response_headers.as_deref().map(joined),
        body: s.body.as_ref().map(|b| b.text.clone()),
        body_encoding: s.body.as_ref().map(|b| if b.hex { "hex" } else { "text" }),
        body_bytes: s.body.as_ref().map(|b| b.bytes),
        body_truncated: s.body.as_ref().is_some_and(|b| b.cut),
        server_time_ms: s.server_time.map(ms),
        latency_ms: ms(s.latency),
        at_s: s.at.as_secs_f64(),
        phases_ms: s.phases.iter().map(|&(name, d)| (name, ms(d))).collect(),
    }
}

/// Headers by name, a repeated one's values joined with ", ".
fn joined(headers: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        out.entry(name.clone())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    out
}

/// A sample as lines of text for people (`-v`): what failed where and when, the request,
/// the response's headers and its body's first bytes. `step` names the step.
pub fn sample_lines(step: &str, s: &Sample) -> Vec<String> {
    let ms =
        |d: std::time::Duration| format_latency(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let what = match (s.class, s.status) {
        (Some(class), Some(status)) => format!("{class} ({status})"),
        (Some(class), None) => class.to_string(),
        (None, Some(status)) => format!("slow ({status})"),
        (None, None) => "slow".to_string(),
    };
    let server = s
        .server_time
        .map_or_else(String::new, |t| format!(", server {}", ms(t)));
    let mut lines = vec![format!(
        "sample: {step}: {what} at {:.2}s after {}{server}",
        s.at.as_secs_f64(),
        ms(s.latency)
    )];
    let url = s
        .url
        .as_deref()
        .unwrap_or("(the request could not be built)");
    lines.push(format!("  {} {url}", s.method));
    if !s.message.is_empty() {
        lines.push(format!("  {}", s.message));
    }
    lines.extend(
        s.request_headers
            .iter()
            .map(|(n, v)| format!("  > {n}: {v}")),
    );
    match &s.response_headers {
        Some(headers) => lines.extend(headers.iter().map(|(n, v)| format!("  < {n}: {v}"))),
        None if s.status.is_some() => lines.push("  < (headers not kept)".into()),
        None => {}
    }
    if let Some(body) = &s.body {
        let cut = if body.cut { ", first part" } else { "" };
        let hex = if body.hex { ", hex" } else { "" };
        lines.push(format!("  body ({} bytes{cut}{hex}):", body.bytes));
        lines.extend(body.text.lines().map(|l| format!("    {l}")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{BodyPreview, ErrorClass};

    fn sample() -> Sample {
        Sample {
            class: Some(ErrorClass::StatusNotExpected),
            status: Some(503),
            message: "expected 2xx, got 503".into(),
            method: "GET".into(),
            url: Some("http://h/db".into()),
            request_headers: vec![("authorization".into(), "***".into())],
            response_headers: Some(vec![("via".into(), "a".into()), ("via".into(), "b".into())]),
            body: Some(BodyPreview {
                text: "{\"error\":\"db down\"}".into(),
                hex: false,
                bytes: 19,
                cut: false,
            }),
            server_time: None,
            latency: Duration::from_micros(12_345),
            at: Duration::from_millis(1_500),
            phases: Vec::new(),
        }
    }

    #[test]
    fn a_sample_in_json_says_null_for_what_was_not_kept() {
        let mut s = sample();
        let doc = serde_json::to_value(sample_doc(&s)).expect("json");
        assert_eq!(doc["response_headers"]["via"], "a, b");
        assert_eq!(doc["body"], "{\"error\":\"db down\"}");
        assert_eq!(doc["body_encoding"], "text");
        assert_eq!(doc["latency_ms"], 12.345);
        assert!(doc.get("phases_ms").is_none(), "no phases until measured");
        s.response_headers = None;
        s.body = None;
        let doc = serde_json::to_value(sample_doc(&s)).expect("json");
        assert!(doc["response_headers"].is_null() && doc["body"].is_null());
        assert_eq!(doc["body_truncated"], false);
    }

    #[test]
    fn a_sample_as_text_has_the_request_the_answer_and_the_body() {
        let lines = sample_lines("f / db", &sample());
        assert_eq!(
            lines[0],
            "sample: f / db: status_not_expected (503) at 1.50s after 12.35ms"
        );
        assert!(
            lines.contains(&"  GET http://h/db".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&"  > authorization: ***".to_string()));
        assert!(lines.contains(&"    {\"error\":\"db down\"}".to_string()));
    }
}
