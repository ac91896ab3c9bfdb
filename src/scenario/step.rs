//! Validation of one step: method and URL, query, headers, body, timeout, expectations,
//! extraction, error policy and think time. Every template is compiled here, once, and every
//! name it reads is checked against what is defined at that point of the flow.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_saphyr::{Location, Spanned};

use super::build::{Context, DEFAULT_TIMEOUT, positive_duration, scalar_text};
use super::checks::{Check, CheckKind, Expect, Extraction, JsonPath, Source, Test};
use super::data::DataSet;
use super::diag::Problems;
use super::plan::{Body, OnError, Step, StepUrl};
use super::raw::{AnyValue, RawBodyCheck, RawDefaults, RawExpect, RawHeaderCheck, RawStep};
use super::template::{JsonTemplate, Template, is_name};
use super::units::parse_size;
use super::units::{StatusSet, parse_duration};

/// Most checks on one step (failures are recorded as one bit per check).
const MAX_CHECKS: usize = 64;

/// The `defaults:` section, validated.
pub struct Defaults {
    headers: HeaderMap,
    header_templates: Vec<(HeaderName, Template)>,
    timeout: Duration,
    max_body: usize,
}

/// Names a template may read at one point of a flow.
pub struct Known<'a> {
    /// Variables: `variables:`, `--set`, setup extractions, earlier steps' extractions.
    pub vars: BTreeSet<String>,
    /// The data files.
    pub data: &'a [DataSet],
}

impl Defaults {
    /// Validates the defaults section (absent means no headers and a 30 s timeout).
    pub fn build(
        raw: Option<&RawDefaults>,
        known: &Known<'_>,
        cx: &Context<'_>,
        problems: &mut Problems,
    ) -> Self {
        let mut d = Self {
            headers: HeaderMap::new(),
            header_templates: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
        };
        if let Some(raw) = raw {
            if let Some(m) = &raw.max_body {
                d.max_body = body_limit(m, "defaults.max_body", problems).unwrap_or(d.max_body);
            }
            if let Some(h) = &raw.headers {
                add_headers(&mut d, h, "defaults.headers", known, cx, problems);
            }
            if let Some(t) = &raw.timeout {
                d.timeout = positive_duration(t, "defaults.timeout", problems).unwrap_or(d.timeout);
            }
        }
        d
    }
}

/// Validates one step; `None` when it has problems (already recorded). Its extractions are
/// added to `known` for the steps after it.
pub fn build_step(
    raw: &Spanned<RawStep>,
    id: usize,
    path: &str,
    defaults: &Defaults,
    known: &mut Known<'_>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Option<Step> {
    let before = problems.len();
    let s = &raw.value;
    let (method, url) = method_and_url(raw, path, known, cx, problems)?;
    let default_name = format!("{method} {}", url.as_str());
    let query = build_query(s.query.as_ref(), path, known, cx, problems);
    let mut headers = Defaults {
        headers: defaults.headers.clone(),
        header_templates: defaults.header_templates.clone(),
        timeout: defaults.timeout,
        max_body: defaults.max_body,
    };
    if let Some(h) = &s.headers {
        add_headers(
            &mut headers,
            h,
            &format!("{path}.headers"),
            known,
            cx,
            problems,
        );
    }
    let body = build_body(s, &mut headers.headers, path, known, cx, problems);
    let timeout = match &s.timeout {
        Some(t) => positive_duration(t, &format!("{path}.timeout"), problems),
        None => Some(defaults.timeout),
    };
    let max_body = match &s.max_body {
        Some(m) => body_limit(m, &format!("{path}.max_body"), problems),
        None => Some(defaults.max_body),
    };
    let expect = build_expect(s.expect.as_ref(), path, problems);
    let extract = build_extract(s.extract.as_ref(), path, problems);
    let on_error = match &s.on_error {
        None => Some(OnError::AbortIteration),
        Some(v) => match v.value.trim() {
            "abort_iteration" => Some(OnError::AbortIteration),
            "continue" => Some(OnError::Continue),
            other => {
                problems.on(
                    v,
                    &format!("{path}.on_error"),
                    format!("\"{other}\" is not a policy; write abort_iteration or continue"),
                );
                None
            }
        },
    };
    let think = s
        .think
        .as_ref()
        .map(|t| parse_think(&t.value).map_err(|e| problems.on(t, &format!("{path}.think"), e)))
        .transpose()
        .ok()?;
    for e in &extract {
        known.vars.insert(e.var.clone());
    }
    let (Some(timeout), Some(max_body), Some(expect), Some(on_error)) =
        (timeout, max_body, expect, on_error)
    else {
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
        query,
        headers: headers.headers,
        header_templates: headers.header_templates,
        body,
        timeout,
        max_body,
        expect,
        extract,
        on_error,
        think,
    })
}

/// The body bytes a step keeps when it reads the body, unless it says otherwise.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// The most a step may keep: each user holds up to this much at once.
const MOST_MAX_BODY: u64 = 1 << 30;

/// `max_body`: a size from 1 byte to 1 GiB.
fn body_limit(raw: &Spanned<String>, field: &str, problems: &mut Problems) -> Option<usize> {
    match parse_size(&raw.value) {
        Ok(0) => problems.on(raw, field, "must be at least 1 byte; write e.g. 1MiB"),
        Ok(n) if n > MOST_MAX_BODY => problems.on(
            raw,
            field,
            format!(
                "\"{}\" is more than 1GiB; every user may hold this much at once",
                raw.value
            ),
        ),
        Ok(n) => return usize::try_from(n).ok(),
        Err(e) => problems.on(raw, field, e),
    }
    None
}

/// Compiles one template found at `loc`, and checks every name it reads. Problems point
/// inside the template when its text can be found in the source.
pub fn compile(
    text: &str,
    loc: Location,
    field: &str,
    known: &Known<'_>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Option<Template> {
    let t = match Template::compile(text, cx.env) {
        Ok(t) => t,
        Err(e) => {
            problems.at_pos(cx.position(loc, text, e.offset), field, e.message);
            return None;
        }
    };
    let mut ok = true;
    for var in t.variables() {
        if !known.vars.contains(var) {
            let offset = text.find(var).map_or(0, |b| text[..b].chars().count());
            problems.at_pos(
                cx.position(loc, text, offset),
                field,
                format!(
                    "{var} is not defined; define it under variables:, pass --set {var}=VALUE, \
                     or extract it in an earlier step"
                ),
            );
            ok = false;
        }
    }
    for (set, column) in t.data_columns() {
        let offset = text
            .find(&format!("data.{set}"))
            .map_or(0, |b| text[..b].chars().count());
        let message = match known.data.iter().find(|d| d.name == set) {
            None if known.data.is_empty() => {
                format!("no data file is named {set}; declare it under data:")
            }
            None => {
                let names: Vec<&str> = known.data.iter().map(|d| d.name.as_str()).collect();
                format!(
                    "no data file is named {set}; the data files are {}",
                    names.join(", ")
                )
            }
            Some(d) if d.column(column).is_none() => format!(
                "{} has no column {column}; its columns are {}",
                d.file.display(),
                d.columns.join(", ")
            ),
            Some(_) => continue,
        };
        problems.at_pos(cx.position(loc, text, offset), field, message);
        ok = false;
    }
    ok.then_some(t)
}

fn compile_spanned(
    v: &Spanned<String>,
    field: &str,
    known: &Known<'_>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Option<Template> {
    compile(&v.value, v.referenced, field, known, cx, problems)
}

fn method_and_url(
    raw: &Spanned<RawStep>,
    path: &str,
    known: &Known<'_>,
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
    let template = compile_spanned(url, &field, known, cx, problems)?;
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
        problems.on(url, &field, e);
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

fn build_query(
    query: Option<&BTreeMap<String, AnyValue>>,
    path: &str,
    known: &Known<'_>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Vec<(String, Template)> {
    let mut out = Vec::new();
    for (k, v) in query.into_iter().flatten() {
        let field = format!("{path}.query.{k}");
        if v.value.is_object() || v.value.is_array() {
            problems.on(
                v,
                &field,
                "a query value must be a string, number or boolean",
            );
            continue;
        }
        let text = scalar_text(&v.value);
        if let Some(t) = compile(&text, v.referenced, &field, known, cx, problems) {
            out.push((k.clone(), t));
        }
    }
    out
}

fn add_headers(
    into: &mut Defaults,
    raw: &BTreeMap<String, Spanned<String>>,
    field: &str,
    known: &Known<'_>,
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
        let Some(t) = compile_spanned(value, &field, known, cx, problems) else {
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
    known: &Known<'_>,
    cx: &Context<'_>,
    problems: &mut Problems,
) -> Option<Body> {
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
            let field = format!("{path}.json");
            let t = match JsonTemplate::compile(&j.value, cx.env) {
                Ok(t) => t,
                Err(e) => {
                    let pos = cx.position(j.referenced, &e.text, e.error.offset);
                    problems.at_pos(pos, &format!("{field}{}", e.path), e.error.message);
                    return None;
                }
            };
            // Names read by the strings: each string goes through `compile` again (load time
            // only), so its names are checked and located like any other template's.
            let before = problems.len();
            check_json_names(&j.value, j.referenced, &field, known, cx, problems);
            if problems.len() != before {
                return None;
            }
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Some(Body::Json(t))
        }
        (None, Some(b)) => {
            compile_spanned(b, &format!("{path}.body"), known, cx, problems).map(Body::Text)
        }
        (None, None) => None,
    }
}

/// Reports undefined names in a JSON body, string by string (each at its own position).
fn check_json_names(
    v: &serde_json::Value,
    loc: Location,
    field: &str,
    known: &Known<'_>,
    cx: &Context<'_>,
    problems: &mut Problems,
) {
    match v {
        serde_json::Value::String(s) => {
            compile(s, loc, field, known, cx, problems);
        }
        serde_json::Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                check_json_names(x, loc, &format!("{field}[{i}]"), known, cx, problems);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                check_json_names(x, loc, &format!("{field}.{k}"), known, cx, problems);
            }
        }
        _ => {}
    }
}

fn build_expect(raw: Option<&RawExpect>, path: &str, problems: &mut Problems) -> Option<Expect> {
    let Some(raw) = raw else {
        return Some(Expect::status(StatusSet::default_ok()));
    };
    let before = problems.len();
    let field = format!("{path}.expect");
    let status = match &raw.status {
        Some(st) => StatusSet::parse(&status_items(&st.value))
            .map_err(|e| problems.on(st, &format!("{field}.status"), e))
            .ok(),
        None => Some(StatusSet::default_ok()),
    };
    let mut checks = Vec::new();
    if let Some(l) = &raw.latency
        && let Some(max) = positive_duration(l, &format!("{field}.latency"), problems)
    {
        checks.push(Check {
            name: format!("latency <= {}", l.value.trim()),
            kind: CheckKind::Latency(max),
        });
    }
    for (i, c) in raw.body.iter().flat_map(|b| b.value.iter()).enumerate() {
        if let Some(check) = body_check(c, &format!("{field}.body[{i}]"), problems) {
            if checks.iter().any(|k: &Check| k.name == check.name) {
                problems.on(
                    c,
                    &format!("{field}.body[{i}]"),
                    format!("two checks are named \"{}\"; give one a name:", check.name),
                );
            }
            checks.push(check);
        }
    }
    for (name, c) in raw.headers.iter().flatten() {
        let f = format!("{field}.headers.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            problems.on(c, &f, format!("\"{name}\" is not a valid header name"));
            continue;
        };
        if let Some((test, words)) = header_test(&c.value, c, &f, problems) {
            checks.push(Check {
                name: format!("header {name} {words}"),
                kind: CheckKind::Header(header, test),
            });
        }
    }
    if checks.len() > MAX_CHECKS {
        problems.at_pos(
            (0, 0),
            &field,
            format!("{} checks; a step has at most {MAX_CHECKS}", checks.len()),
        );
    }
    (problems.len() == before).then_some(Expect {
        status: status?,
        checks,
    })
}

fn body_check(c: &Spanned<RawBodyCheck>, field: &str, problems: &mut Problems) -> Option<Check> {
    let raw = &c.value;
    let path = match &raw.path {
        Some(p) => Some(
            JsonPath::parse(&p.value)
                .map_err(|e| problems.on(p, &format!("{field}.path"), e))
                .ok()?,
        ),
        None => None,
    };
    let subject = path.as_ref().map_or("body", JsonPath::as_str).to_string();
    let (test, words) = one_test(
        raw.equals.as_ref().map(|e| e.value.clone()),
        raw.exists.as_ref().map(|e| e.value),
        raw.contains.as_ref().map(|e| e.value.clone()),
        raw.regex.as_ref(),
        c,
        field,
        problems,
    )?;
    let name = raw
        .name
        .as_ref()
        .map_or_else(|| format!("{subject} {words}"), |n| n.value.clone());
    Some(Check {
        name,
        kind: CheckKind::Body(path, test),
    })
}

fn header_test<T>(
    raw: &RawHeaderCheck,
    at: &Spanned<T>,
    field: &str,
    problems: &mut Problems,
) -> Option<(Test, String)> {
    one_test(
        raw.equals
            .as_ref()
            .map(|e| serde_json::Value::String(e.value.clone())),
        raw.exists.as_ref().map(|e| e.value),
        raw.contains.as_ref().map(|e| e.value.clone()),
        raw.regex.as_ref(),
        at,
        field,
        problems,
    )
}

/// The single test of a check (`equals`, `exists`, `contains` or `regex`), and its words for
/// the generated name.
fn one_test<T>(
    equals: Option<serde_json::Value>,
    exists: Option<bool>,
    contains: Option<String>,
    regex: Option<&Spanned<String>>,
    at: &Spanned<T>,
    field: &str,
    problems: &mut Problems,
) -> Option<(Test, String)> {
    let given = [
        equals.is_some(),
        exists.is_some(),
        contains.is_some(),
        regex.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        problems.on(
            at,
            field,
            "a check has exactly one test: equals, exists, contains or regex",
        );
        return None;
    }
    if let Some(v) = equals {
        let words = format!("== {v}");
        return Some((Test::Equals(v), words));
    }
    if let Some(e) = exists {
        let words = if e { "exists" } else { "is absent" };
        return Some((Test::Exists(e), words.to_string()));
    }
    if let Some(c) = contains {
        let words = format!("contains {}", serde_json::Value::String(c.clone()));
        return Some((Test::Contains(c), words));
    }
    let r = regex?;
    match regex_lite::Regex::new(&r.value) {
        Ok(re) => Some((Test::Regex(re), format!("matches /{}/", r.value))),
        Err(e) => {
            problems.on(r, &format!("{field}.regex"), format!("not a regex: {e}"));
            None
        }
    }
}

fn build_extract(
    raw: Option<&BTreeMap<String, AnyValue>>,
    path: &str,
    problems: &mut Problems,
) -> Vec<Extraction> {
    let mut out = Vec::new();
    for (var, v) in raw.into_iter().flatten() {
        let field = format!("{path}.extract.{var}");
        if !is_name(var) {
            problems.on(
                v,
                &field,
                format!("\"{var}\" is not a variable name (letters, digits and _)"),
            );
            continue;
        }
        match extraction_source(&v.value) {
            Ok(source) => out.push(Extraction {
                var: var.clone(),
                source,
            }),
            Err(e) => problems.on(v, &field, e),
        }
    }
    out
}

fn extraction_source(v: &serde_json::Value) -> Result<Source, String> {
    const HOW: &str = "write body.PATH (e.g. body.id, body.items[0].name), header.NAME, \
                       status, or { regex: 'id=(\\d+)' }";
    match v {
        serde_json::Value::String(s) => {
            let s = s.trim();
            if s == "status" {
                Ok(Source::Status)
            } else if let Some(h) = s.strip_prefix("header.") {
                HeaderName::from_bytes(h.as_bytes())
                    .map(Source::Header)
                    .map_err(|_| format!("\"{h}\" is not a valid header name"))
            } else if s.starts_with("body") {
                JsonPath::parse(s).map(Source::Body)
            } else {
                Err(format!("\"{s}\" is not a source; {HOW}"))
            }
        }
        serde_json::Value::Object(map) if map.len() == 1 => match map.get("regex") {
            Some(serde_json::Value::String(pattern)) => regex_lite::Regex::new(pattern)
                .map(Source::Regex)
                .map_err(|e| format!("not a regex: {e}")),
            _ => Err(format!("not a source; {HOW}")),
        },
        _ => Err(format!("not a source; {HOW}")),
    }
}

/// `500ms`, or a range `200ms..1s`.
fn parse_think(text: &str) -> Result<(Duration, Duration), String> {
    let (lo, hi) = match text.split_once("..") {
        Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
        None => {
            let d = parse_duration(text)?;
            (d, d)
        }
    };
    if lo > hi {
        return Err(format!(
            "\"{text}\": the range runs from the shorter time to the longer, e.g. 200ms..1s"
        ));
    }
    Ok((lo, hi))
}

fn status_items(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(items) => items.iter().map(scalar_text).collect(),
        serde_json::Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        other => vec![scalar_text(other)],
    }
}
