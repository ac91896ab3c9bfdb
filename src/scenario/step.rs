//! Validation of one step: method and URL, query, headers, body, timeout and expectations.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_saphyr::Spanned;

use super::build::{Context, DEFAULT_TIMEOUT, positive_duration, scalar_text};
use super::diag::Problems;
use super::plan::{Step, StepUrl};
use super::raw::{AnyValue, RawDefaults, RawStep};
use super::template::substitute_env;
use super::units::StatusSet;

/// The `defaults:` section, validated.
pub struct Defaults {
    headers: HeaderMap,
    timeout: Duration,
}

impl Defaults {
    /// Validates the defaults section (absent means no headers and a 30 s timeout).
    pub fn build(raw: Option<&RawDefaults>, cx: &Context<'_>, problems: &mut Problems) -> Self {
        let mut headers = HeaderMap::new();
        let mut timeout = DEFAULT_TIMEOUT;
        if let Some(raw) = raw {
            if let Some(h) = &raw.headers {
                add_headers(&mut headers, h, "defaults.headers", cx, problems);
            }
            if let Some(t) = &raw.timeout {
                timeout = positive_duration(t, "defaults.timeout", problems).unwrap_or(timeout);
            }
        }
        Self { headers, timeout }
    }
}

/// Validates one step; `None` when it has problems (already recorded).
pub fn build_step(
    raw: &Spanned<RawStep>,
    id: usize,
    path: &str,
    defaults: &Defaults,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Option<Step> {
    let before = problems.len();
    let s = &raw.value;
    let (method, url) = method_and_url(raw, path, cx, problems)?;
    let default_name = format!("{method} {}", url.as_str());
    let url = append_query(url, s.query.as_ref(), path, cx, problems);
    let mut headers = defaults.headers.clone();
    if let Some(h) = &s.headers {
        add_headers(&mut headers, h, &format!("{path}.headers"), cx, problems);
    }
    let body = build_body(s, &mut headers, path, cx, problems);
    let timeout = match &s.timeout {
        Some(t) => positive_duration(t, &format!("{path}.timeout"), problems),
        None => Some(defaults.timeout),
    };
    let expect_status = match s.expect.as_ref().and_then(|e| e.status.as_ref()) {
        Some(st) => StatusSet::parse(&status_items(&st.value))
            .map_err(|e| problems.on(st, &format!("{path}.expect.status"), e))
            .ok(),
        None => Some(StatusSet::default_ok()),
    };
    let (Some(timeout), Some(expect_status)) = (timeout, expect_status) else {
        return None;
    };
    if problems.len() != before {
        return None;
    }
    let name = s.name.as_ref().map_or(default_name, |n| n.value.clone());
    Some(Step {
        id,
        name,
        method,
        url,
        headers,
        body,
        timeout,
        expect_status,
    })
}

fn method_and_url(
    raw: &Spanned<RawStep>,
    path: &str,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Option<(Method, StepUrl)> {
    let s = &raw.value;
    let shortcuts = s.shortcuts();
    let (method, url) = match (shortcuts.as_slice(), &s.method, &s.url) {
        ([(m, u)], None, None) => (Method::from_bytes(m.as_bytes()).ok()?, *u),
        ([], method, Some(u)) => {
            let method = match method {
                None => Method::GET,
                Some(m) => match parse_method(&m.value) {
                    Some(m) => m,
                    None => {
                        problems.on(m, &format!("{path}.method"), format!("\"{}\" is not an HTTP method; write e.g. GET, POST, PUT, PATCH or DELETE", m.value));
                        return None;
                    }
                },
            };
            (method, u)
        }
        ([], Some(m), None) => {
            problems.on(
                m,
                &format!("{path}.url"),
                "the step has a method but no url; add e.g. url: /users",
            );
            return None;
        }
        ([], None, None) => {
            problems.on(raw, path, "the step has no request; write e.g. get: /users/1, or method: POST with url: /users");
            return None;
        }
        _ => {
            problems.on(raw, path, "give the request once: one of get/post/put/patch/delete/head/options, or method with url");
            return None;
        }
    };
    let field = format!("{path}.url");
    let text = substitute_env(&url.value, cx.env)
        .map_err(|e| problems.on(url, &field, e))
        .ok()?;
    match parse_step_url(&text) {
        Ok(u) => Some((method, u)),
        Err(e) => {
            problems.on(url, &field, e);
            None
        }
    }
}

fn parse_method(text: &str) -> Option<Method> {
    let upper = text.trim().to_ascii_uppercase();
    if upper.is_empty() || !upper.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Method::from_bytes(upper.as_bytes()).ok()
}

/// A path (`/users/1`) or an absolute `http(s)://` URL.
fn parse_step_url(text: &str) -> Result<StepUrl, String> {
    if text.starts_with('/') {
        reqwest::Url::parse(&format!("http://host{text}"))
            .map_err(|e| format!("\"{text}\" is not a valid path ({e})"))?;
        return Ok(StepUrl::Path(text.to_string()));
    }
    if text.starts_with("http://") || text.starts_with("https://") {
        let url = reqwest::Url::parse(text)
            .map_err(|e| format!("\"{text}\" is not a valid URL ({e})"))?;
        if url.host_str().is_none() {
            return Err(format!("\"{text}\" has no host"));
        }
        return Ok(StepUrl::Absolute(text.to_string()));
    }
    Err(format!(
        "\"{text}\" must be a path starting with / (joined to the target) or a full http:// URL"
    ))
}

fn append_query(
    url: StepUrl,
    query: Option<&BTreeMap<String, AnyValue>>,
    path: &str,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> StepUrl {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return url;
    };
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        if v.value.is_object() || v.value.is_array() {
            problems.on(
                v,
                &format!("{path}.query.{k}"),
                "a query value must be a string, number or boolean",
            );
            continue;
        }
        match substitute_env(&scalar_text(&v.value), cx.env) {
            Ok(text) => {
                pairs.append_pair(k, &text);
            }
            Err(e) => problems.on(v, &format!("{path}.query.{k}"), e),
        }
    }
    let encoded = pairs.finish();
    let join = |u: &str| {
        let sep = if u.contains('?') { '&' } else { '?' };
        format!("{u}{sep}{encoded}")
    };
    match url {
        StepUrl::Path(p) => StepUrl::Path(join(&p)),
        StepUrl::Absolute(u) => StepUrl::Absolute(join(&u)),
    }
}

fn add_headers(
    into: &mut HeaderMap,
    raw: &BTreeMap<String, Spanned<String>>,
    field: &str,
    cx: &Context<'_>,
    problems: &mut Problems,
) {
    for (name, value) in raw {
        let field = format!("{field}.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            problems.on(
                value,
                &field,
                format!("\"{name}\" is not a valid header name (letters, digits and - only)"),
            );
            continue;
        };
        let text = match substitute_env(&value.value, cx.env) {
            Ok(t) => t,
            Err(e) => {
                problems.on(value, &field, e);
                continue;
            }
        };
        match HeaderValue::from_str(&text) {
            Ok(v) => {
                into.insert(header, v);
            }
            Err(_) => problems.on(
                value,
                &field,
                "the header value has characters a header cannot carry (e.g. a newline)",
            ),
        }
    }
}

fn build_body(
    s: &RawStep,
    headers: &mut HeaderMap,
    path: &str,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Option<Bytes> {
    match (&s.json, &s.body) {
        (Some(_), Some(b)) => {
            problems.on(
                b,
                &format!("{path}.body"),
                "the step has both json and body; keep one",
            );
            None
        }
        (Some(j), None) => {
            let value = substitute_in_json(&j.value, cx)
                .map_err(|e| problems.on(j, &format!("{path}.json"), e))
                .ok()?;
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Some(Bytes::from(value.to_string()))
        }
        (None, Some(b)) => substitute_env(&b.value, cx.env)
            .map(Bytes::from)
            .map_err(|e| problems.on(b, &format!("{path}.body"), e))
            .ok(),
        (None, None) => None,
    }
}

fn substitute_in_json(
    v: &serde_json::Value,
    cx: &Context<'_>,
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match v {
        Value::String(s) => Value::String(substitute_env(s, cx.env)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute_in_json(x, cx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), substitute_in_json(x, cx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn status_items(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(items) => items.iter().map(scalar_text).collect(),
        serde_json::Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        other => vec![scalar_text(other)],
    }
}
