//! A step's request: method and URL, query, headers and body, and the `defaults:` they
//! start from. Every template is compiled
//! here, once, and every name it reads is checked against what is defined at that point of
//! the flow.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_saphyr::{Location, Spanned};

use super::{DEFAULT_TIMEOUT, Validator, positive_duration, scalar_text};
use crate::scenario::data::DataSet;
use crate::scenario::plan::{Body, Multipart, Part, PartContent, StepUrl};
use crate::scenario::raw::{AnyValue, RawDefaults, RawPart, RawStep};
use crate::scenario::template::{JsonTemplate, Template, substitute_env};
use crate::scenario::units::parse_size;

/// Compiles one template found at `loc`, and checks every name it reads. Problems point
/// inside the template when its text can be found in the source.
pub(super) fn compile(
    text: &str,
    loc: Location,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Template> {
    let t = match Template::compile(text, vd.env) {
        Ok(t) => t,
        Err(e) => {
            vd.problems
                .at_pos(vd.position(loc, text, e.offset), field, e.message);
            return None;
        }
    };
    let mut ok = true;
    for var in t.variables() {
        if !known.vars.contains(var) {
            let offset = text.find(var).map_or(0, |b| text[..b].chars().count());
            vd.problems.at_pos(
                vd.position(loc, text, offset),
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
        vd.problems
            .at_pos(vd.position(loc, text, offset), field, message);
        ok = false;
    }
    ok.then_some(t)
}

fn compile_spanned(
    v: &Spanned<String>,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Template> {
    compile(&v.value, v.referenced, field, known, vd)
}

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
fn build_fields(
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

pub(super) fn build_body(
    s: &RawStep,
    headers: &mut HeaderMap,
    path: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Body> {
    let given: Vec<&str> = [
        ("json", s.json.is_some()),
        ("body", s.body.is_some()),
        ("form", s.form.is_some()),
        ("body_file", s.body_file.is_some()),
        ("multipart", s.multipart.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| *name)
    .collect();
    if given.len() > 1 {
        let both = if given.len() == 2 { "both " } else { "" };
        let message = format!("the step has {both}{}; keep one", given.join(" and "));
        match (&s.body, &s.body_file) {
            (Some(b), _) => vd.problems.on(b, &format!("{path}.body"), message),
            (None, Some(b)) => vd.problems.on(b, &format!("{path}.body_file"), message),
            (None, None) => vd.problems.at(Location::UNKNOWN, path, message),
        }
        return None;
    }
    let mut content_type = |value: &'static str| {
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
        }
    };
    if let Some(j) = &s.json {
        let field = format!("{path}.json");
        let t = match JsonTemplate::compile(&j.value, vd.env) {
            Ok(t) => t,
            Err(e) => {
                let pos = vd.position(j.referenced, &e.text, e.error.offset);
                vd.problems
                    .at_pos(pos, &format!("{field}{}", e.path), e.error.message);
                return None;
            }
        };
        // Names read by the strings: each string goes through `compile` again (load time
        // only), so its names are checked and located like any other template's.
        let before = vd.problems.len();
        check_json_names(&j.value, j.referenced, &field, known, vd);
        if vd.problems.len() != before {
            return None;
        }
        content_type("application/json");
        return Some(Body::Json(t));
    }
    if let Some(fields) = &s.form {
        // The same shape and checks as a query: scalar values, each a template.
        let before = vd.problems.len();
        let fields = build_fields(fields, &format!("{path}.form"), "a form value", known, vd);
        if vd.problems.len() != before {
            return None;
        }
        content_type("application/x-www-form-urlencoded");
        return Some(Body::Form(fields));
    }
    if let Some(file) = &s.body_file {
        return body_file(file, &format!("{path}.body_file"), known, vd);
    }
    if let Some(parts) = &s.multipart {
        let field = format!("{path}.multipart");
        let m = build_multipart(parts, &field, known, vd)?;
        let value = format!("multipart/form-data; boundary={}", m.boundary);
        let own = s
            .headers
            .iter()
            .flatten()
            .any(|(name, _)| name.trim().eq_ignore_ascii_case(CONTENT_TYPE.as_str()));
        if own {
            // The boundary is stampede's: a content type written by hand could not name it.
            let message = "a multipart body sets its own content-type (with its boundary); \
                           remove the content-type header from this step";
            vd.problems.on(parts, &field, message);
            return None;
        }
        // One from `defaults.headers` gives way (a templated one is dropped by the caller).
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(CONTENT_TYPE, v);
        }
        return Some(Body::Multipart(m));
    }
    s.body
        .as_ref()
        .and_then(|b| compile_spanned(b, &format!("{path}.body"), known, vd).map(Body::Text))
}

/// The most body-file bytes one scenario reads (`body_file`, multipart files), over all its
/// steps: each is held in memory for the run, and 64 MiB a file is no bound when 500 steps
/// name one each.
const BODIES_TOTAL: u64 = 256 << 20;

/// A file relative to the scenario (environment templates allowed), read now, within the
/// per-file cap and the scenario's total (`BODIES_TOTAL`).
fn read_file(value: &str, vd: &mut Validator<'_>) -> Result<(std::path::PathBuf, Vec<u8>), String> {
    let p = substitute_env(value, vd.env)?;
    let full = vd.base_dir.join(p);
    let bytes = crate::files::read(&full, crate::files::BODY).map_err(|e| e.to_string())?;
    vd.body_bytes = vd.body_bytes.saturating_add(bytes.len() as u64);
    if vd.body_bytes > BODIES_TOTAL {
        return Err(format!(
            "the scenario's body files come to more than {} MiB in all, with {} (each is \
             held in memory for the run, once per step that names it); name fewer or smaller \
             files",
            BODIES_TOTAL >> 20,
            full.display()
        ));
    }
    Ok((full, bytes))
}

/// `body_file: PATH` (the bytes as they are) or `body_file: { path: PATH, template: true }`
/// (the file's text is a template, rendered per request like `body:`).
fn body_file(
    file: &AnyValue,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Body> {
    let shape = "body_file is a path, or { path: FILE, template: true } to render the file's \
                 {{ }} templates";
    let (path, template) = match &file.value {
        serde_json::Value::String(p) => (p.clone(), false),
        serde_json::Value::Object(map) => {
            if let Some(key) = map
                .keys()
                .find(|k| !["path", "template"].contains(&k.as_str()))
            {
                let message = format!("unknown field \"{key}\"; body_file takes path, template");
                vd.problems.on(file, &format!("{field}.{key}"), message);
                return None;
            }
            match (map.get("path"), map.get("template")) {
                (Some(serde_json::Value::String(p)), None | Some(serde_json::Value::Bool(_))) => (
                    p.clone(),
                    map.get("template") == Some(&serde_json::Value::Bool(true)),
                ),
                _ => {
                    vd.problems.on(file, field, shape);
                    return None;
                }
            }
        }
        _ => {
            vd.problems.on(file, field, shape);
            return None;
        }
    };
    let (full, bytes) = match read_file(&path, vd) {
        Ok(read) => read,
        Err(e) => {
            vd.problems.on(file, field, e);
            return None;
        }
    };
    if !template {
        return Some(Body::File(bytes.into()));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        let message = format!(
            "{} is not UTF-8 text; only a text file can be a template (leave template out to \
             send its bytes as they are)",
            full.display()
        );
        vd.problems.on(file, field, message);
        return None;
    };
    compile(
        &text,
        file.referenced,
        &format!("{field} ({})", full.display()),
        known,
        vd,
    )
    .map(Body::Text)
}

/// The most parts a multipart body has (a typo such as a huge generated list is refused).
const MOST_PARTS: usize = 1000;

/// `multipart: [ { name, value | file, filename, content_type } ]`.
fn build_multipart(
    parts: &Spanned<Vec<Spanned<RawPart>>>,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Multipart> {
    let before = vd.problems.len();
    if parts.value.is_empty() || parts.value.len() > MOST_PARTS {
        let message = format!("a multipart body has 1 to {MOST_PARTS} parts");
        vd.problems.on(parts, field, message);
        return None;
    }
    let mut built = Vec::new();
    for (i, raw) in parts.value.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let p = &raw.value;
        let Some(name) = &p.name else {
            vd.problems
                .on(raw, &f, "a part needs a name: (the form field's name)");
            continue;
        };
        // A file part's name as read (after `{{ env.NAME }}`), its default filename.
        let mut own_name = None;
        let content = match (&p.value, &p.file) {
            (Some(v), None) => {
                let text = match &v.value {
                    serde_json::Value::String(t) => t.clone(),
                    serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                        scalar_text(&v.value)
                    }
                    _ => {
                        let message = "a part's value is text, a number or a boolean";
                        vd.problems.on(v, &format!("{f}.value"), message);
                        continue;
                    }
                };
                match compile(&text, v.referenced, &format!("{f}.value"), known, vd) {
                    Some(t) => PartContent::Text(t),
                    None => continue,
                }
            }
            (None, Some(file)) => match read_file(&file.value, vd) {
                Ok((full, bytes)) => {
                    own_name = full.file_name().map(|n| n.to_string_lossy().into_owned());
                    PartContent::File(bytes.into())
                }
                Err(e) => {
                    vd.problems.on(file, &format!("{f}.file"), e);
                    continue;
                }
            },
            _ => {
                let message = "a part has either value: (text) or file: (a file's bytes)";
                vd.problems.on(raw, &f, message);
                continue;
            }
        };
        let filename = p.filename.as_ref().map(|n| n.value.clone()).or(own_name);
        let content_type = match &p.content_type {
            Some(t)
                if HeaderValue::from_str(&t.value).is_err() || t.value.contains(['\r', '\n']) =>
            {
                let message = "a content type is one header value (no newline)";
                vd.problems.on(t, &format!("{f}.content_type"), message);
                continue;
            }
            Some(t) => Some(t.value.clone()),
            None => p
                .file
                .as_ref()
                .map(|_| "application/octet-stream".to_string()),
        };
        built.push(Part {
            name: name.value.clone(),
            content,
            filename,
            content_type,
        });
    }
    if vd.problems.len() != before {
        return None;
    }
    // A boundary found in no file (text values are a 128-bit chance away from one).
    let boundary = loop {
        let b = format!(
            "stampede-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let inside = built.iter().any(|p| match &p.content {
            PartContent::File(bytes) => bytes.windows(b.len()).any(|w| w == b.as_bytes()),
            PartContent::Text(_) => false,
        });
        if !inside {
            break b;
        }
    };
    Some(Multipart {
        boundary,
        parts: built,
    })
}

/// Reports undefined names in a JSON body, string by string (each at its own position).
fn check_json_names(
    v: &serde_json::Value,
    loc: Location,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) {
    match v {
        serde_json::Value::String(s) => {
            compile(s, loc, field, known, vd);
        }
        serde_json::Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                check_json_names(x, loc, &format!("{field}[{i}]"), known, vd);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                check_json_names(x, loc, &format!("{field}.{k}"), known, vd);
            }
        }
        _ => {}
    }
}

/// The `defaults:` section, validated.
pub struct Defaults {
    pub(super) headers: HeaderMap,
    pub(super) header_templates: Vec<(HeaderName, Template)>,
    pub(super) timeout: Duration,
    pub(super) max_body: usize,
    pub(super) follow_redirects: u32,
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
    pub fn build(raw: Option<&RawDefaults>, known: &Known<'_>, vd: &mut Validator<'_>) -> Self {
        let mut d = Self {
            headers: HeaderMap::new(),
            header_templates: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            follow_redirects: 0,
        };
        if let Some(raw) = raw {
            if let Some(n) = &raw.follow_redirects {
                d.follow_redirects = redirect_limit(n, "defaults.follow_redirects", vd);
            }
            if let Some(m) = &raw.max_body {
                d.max_body = body_limit(m, "defaults.max_body", vd).unwrap_or(d.max_body);
            }
            if let Some(h) = &raw.headers {
                add_headers(&mut d, h, "defaults.headers", known, vd);
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
