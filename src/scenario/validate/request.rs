//! A step's request: method and URL, query and headers, and the `defaults:` they start
//! from (with the limits a step or its defaults may set: timeout, `max_body`,
//! `follow_redirects`, `server_time`, `tag_by`).
//!
//! Depends on the `Validator`, `names`, `insight`, `sources` (default headers that read
//! setup's or an init's values), `raw`, `plan`, `template` and `units`. Invariant:
//! literal header values are checked here; a templated one is checked when rendered.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_saphyr::Spanned;

use super::insight::{server_clock, tag_by};
use super::names::{Known, compile, compile_spanned};
use super::retry::retry;
use super::sources::{Late, late_headers};
use super::{DEFAULT_TIMEOUT, Validator, positive_duration, scalar_text};
use crate::scenario::insight::{ServerClock, TagBy};
use crate::scenario::plan::StepUrl;
use crate::scenario::raw::{AnyValue, RawDefaults, RawStep};
use crate::scenario::retry::Retry;
use crate::scenario::template::Template;
use crate::scenario::units::parse_size;

/// The step's method and URL: a shortcut (`get: /path`) or `method:` with `url:`.
pub(super) fn method_and_url(
    raw: &Spanned<RawStep>,
    path: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
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
                        vd.problems.on(m, &format!("{path}.method"), format!("\"{}\" is not an HTTP method; write e.g. GET, POST, PUT, PATCH or DELETE", m.value));
                        return None;
                    }
                },
            };
            (method, u)
        }
        ([], Some(m), None) => {
            vd.problems.on(
                m,
                &format!("{path}.url"),
                "the step has a method but no url; add e.g. url: /users",
            );
            return None;
        }
        ([], None, None) => {
            vd.problems.on(raw, path, "the step has no request; write e.g. get: /users/1, or method: POST with url: /users");
            return None;
        }
        _ => {
            vd.problems.on(raw, path, "give the request once: one of get/post/put/patch/delete/head/options, or method with url");
            return None;
        }
    };
    let field = format!("{path}.url");
    let template = compile_spanned(url, &field, known, vd)?;
    let text = url.value.trim().to_string();
    let absolute = text.starts_with("http://") || text.starts_with("https://");
    let checked = match template.as_literal() {
        Some(literal) => check_literal_url(literal),
        None if text.starts_with('/') || absolute => Ok(()),
        None => Err(format!(
            "\"{text}\" must start with / (a path joined to the target) or http:// (a full URL)"
        )),
    };
    if let Err(e) = checked {
        vd.problems.on(url, &field, e);
        return None;
    }
    Some((
        method,
        StepUrl {
            text,
            template,
            absolute,
        },
    ))
}

fn parse_method(text: &str) -> Option<Method> {
    let upper = text.trim().to_ascii_uppercase();
    if upper.is_empty() || !upper.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Method::from_bytes(upper.as_bytes()).ok()
}

/// A path (`/users/1`) or an absolute `http(s)://` URL.
fn check_literal_url(text: &str) -> Result<(), String> {
    if text.starts_with('/') {
        reqwest::Url::parse(&format!("http://host{text}"))
            .map_err(|e| format!("\"{text}\" is not a valid path ({e})"))?;
        return Ok(());
    }
    if text.starts_with("http://") || text.starts_with("https://") {
        let url = reqwest::Url::parse(text)
            .map_err(|e| format!("\"{text}\" is not a valid URL ({e})"))?;
        if url.host_str().is_none() {
            return Err(format!("\"{text}\" has no host"));
        }
        return Ok(());
    }
    Err(format!(
        "\"{text}\" must be a path starting with / (joined to the target) or a full http:// URL"
    ))
}

/// `query:`: name-value pairs, each value a template.
pub(super) fn build_query(
    query: Option<&BTreeMap<String, AnyValue>>,
    path: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Vec<(String, Template)> {
    match query {
        Some(q) => build_fields(q, &format!("{path}.query"), "a query value", known, vd),
        None => Vec::new(),
    }
}

/// Name-value fields whose values are scalars and templates (a query, a form).
pub(super) fn build_fields(
    fields: &BTreeMap<String, AnyValue>,
    at: &str,
    what: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Vec<(String, Template)> {
    let mut out = Vec::new();
    for (k, v) in fields {
        let field = format!("{at}.{k}");
        if v.value.is_object() || v.value.is_array() {
            vd.problems.on(
                v,
                &field,
                format!("{what} must be a string, number or boolean"),
            );
            continue;
        }
        let text = scalar_text(&v.value);
        if let Some(t) = compile(&text, v.referenced, &field, known, vd) {
            out.push((k.clone(), t));
        }
    }
    out
}

/// Adds `raw`'s headers to `into`, replacing those of the same name; literal values are
/// checked now, templated ones when rendered.
pub(super) fn add_headers(
    into: &mut Defaults,
    raw: &BTreeMap<String, Spanned<String>>,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) {
    for (name, value) in raw {
        let field = format!("{field}.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            vd.problems.on(
                value,
                &field,
                format!("\"{name}\" is not a valid header name (letters, digits and - only)"),
            );
            continue;
        };
        let Some(t) = compile_spanned(value, &field, known, vd) else {
            continue;
        };
        // A later definition (the step's) replaces an earlier one (the defaults').
        into.headers.remove(&header);
        into.header_templates.retain(|(h, _)| *h != header);
        let Some(text) = t.as_literal() else {
            into.header_templates.push((header, t));
            continue;
        };
        match HeaderValue::from_str(text) {
            Ok(v) => {
                into.headers.insert(header, v);
            }
            Err(_) => vd.problems.on(
                value,
                &field,
                "the header value has characters a header cannot carry (e.g. a newline)",
            ),
        }
    }
}

/// The `defaults:` section, validated.
pub struct Defaults {
    /// Headers whose values are literal.
    pub(super) headers: HeaderMap,
    /// Headers whose values are templates, rendered per request.
    pub(super) header_templates: Vec<(HeaderName, Template)>,
    /// Time allowed for one request.
    pub(super) timeout: Duration,
    /// Body bytes a step keeps when it reads the body.
    pub(super) max_body: usize,
    /// Redirects a request follows.
    pub(super) follow_redirects: u32,
    /// Where responses say the server's own time.
    pub(super) server_time: ServerClock,
    /// The value that splits each step's figures.
    pub(super) tag_by: Option<TagBy>,
    /// How each step's failed attempts are retried.
    pub(super) retry: Option<Retry>,
    /// The templated headers that read what setup or an init extracts.
    pub(super) late: Vec<Late>,
}

impl Defaults {
    /// Validates the defaults section (absent means no headers and a 30 s timeout). `known`
    /// holds `variables` (the names every step has) and what setup and the inits extract.
    pub fn build(
        raw: Option<&RawDefaults>,
        known: &Known<'_>,
        variables: &BTreeSet<String>,
        vd: &mut Validator<'_>,
    ) -> Self {
        let mut d = Self {
            headers: HeaderMap::new(),
            header_templates: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            follow_redirects: 0,
            server_time: ServerClock::Auto,
            tag_by: None,
            retry: None,
            late: Vec::new(),
        };
        if let Some(raw) = raw {
            if let Some(v) = &raw.retry {
                d.retry = retry(v, "defaults.retry", vd).flatten();
            }
            if let Some(v) = &raw.tag_by {
                d.tag_by = tag_by(v, "defaults.tag_by", vd).flatten();
            }
            if let Some(v) = &raw.server_time {
                d.server_time =
                    server_clock(v, "defaults.server_time", vd).unwrap_or(ServerClock::Auto);
            }
            if let Some(n) = &raw.follow_redirects {
                d.follow_redirects = redirect_limit(n, "defaults.follow_redirects", vd);
            }
            if let Some(m) = &raw.max_body {
                d.max_body = body_limit(m, "defaults.max_body", vd).unwrap_or(d.max_body);
            }
            if let Some(h) = &raw.headers {
                add_headers(&mut d, h, "defaults.headers", known, vd);
                d.late = late_headers(&d.header_templates, variables, Some(h));
            }
            if let Some(t) = &raw.timeout {
                d.timeout = positive_duration(t, "defaults.timeout", vd).unwrap_or(d.timeout);
            }
        }
        d
    }
}

/// The most redirects one request may follow (browsers stop at about 20).
const MOST_REDIRECTS: u64 = 30;

/// `follow_redirects`: 0 to 30.
pub(super) fn redirect_limit(n: &Spanned<u64>, field: &str, vd: &mut Validator<'_>) -> u32 {
    if n.value > MOST_REDIRECTS {
        let message = format!(
            "{} redirects is more than {MOST_REDIRECTS}; a chain that long is a loop",
            n.value
        );
        vd.problems.on(n, field, message);
        return 0;
    }
    n.value as u32
}

/// The body bytes a step keeps when it reads the body, unless it says otherwise.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// The most a step may keep: each user holds up to this much at once.
const MOST_MAX_BODY: u64 = 1 << 30;

/// `max_body`: a size from 1 byte to 1 GiB.
pub(super) fn body_limit(
    raw: &Spanned<String>,
    field: &str,
    vd: &mut Validator<'_>,
) -> Option<usize> {
    match parse_size(&raw.value) {
        Ok(0) => vd
            .problems
            .on(raw, field, "must be at least 1 byte; write e.g. 1MiB"),
        Ok(n) if n > MOST_MAX_BODY => vd.problems.on(
            raw,
            field,
            format!(
                "\"{}\" is more than 1GiB; every user may hold this much at once",
                raw.value
            ),
        ),
        Ok(n) => return usize::try_from(n).ok(),
        Err(e) => vd.problems.on(raw, field, e),
    }
    None
}
