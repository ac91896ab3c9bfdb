//! A step's body: which of `json:`, `body:`, `form:`, `body_file:` and `multipart:` it has
//! (at most one), each validated, and the content type it implies.
//!
//! Depends on the `Validator`, `names`, `request` (form fields are checked as a query's),
//! `body_file`, `multipart`, `raw`, `plan` and `template`. Invariant: the step's own
//! content-type header wins over an implied one, except a multipart body's, which names
//! its boundary.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_saphyr::{Location, Spanned};

use super::Validator;
use super::body_file::body_file;
use super::multipart::build_multipart;
use super::names::{Known, check_json_names, compile_spanned};
use super::request::build_fields;
use crate::scenario::plan::Body;
use crate::scenario::raw::{AnyValue, RawPart, RawStep};
use crate::scenario::template::JsonTemplate;

/// The step's body, if it has one, and the content type it implies (unless the step's
/// headers set one; a multipart body's always wins, as it names the boundary).
pub(super) fn build_body(
    s: &RawStep,
    headers: &mut HeaderMap,
    path: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Body> {
    if more_than_one(s, path, vd) {
        return None;
    }
    if let Some(j) = &s.json {
        let body = json_body(j, &format!("{path}.json"), known, vd)?;
        default_content_type(headers, "application/json");
        return Some(body);
    }
    if let Some(fields) = &s.form {
        // The same shape and checks as a query: scalar values, each a template.
        let before = vd.problems.len();
        let fields = build_fields(fields, &format!("{path}.form"), "a form value", known, vd);
        if vd.problems.len() != before {
            return None;
        }
        default_content_type(headers, "application/x-www-form-urlencoded");
        return Some(Body::Form(fields));
    }
    if let Some(file) = &s.body_file {
        return body_file(file, &format!("{path}.body_file"), known, vd);
    }
    if let Some(parts) = &s.multipart {
        return multipart_body(s, parts, headers, &format!("{path}.multipart"), known, vd);
    }
    s.body
        .as_ref()
        .and_then(|b| compile_spanned(b, &format!("{path}.body"), known, vd).map(Body::Text))
}

/// Reports a step that has more than one of the body fields.
fn more_than_one(s: &RawStep, path: &str, vd: &mut Validator<'_>) -> bool {
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
    if given.len() <= 1 {
        return false;
    }
    let both = if given.len() == 2 { "both " } else { "" };
    let message = format!("the step has {both}{}; keep one", given.join(" and "));
    match (&s.body, &s.body_file) {
        (Some(b), _) => vd.problems.on(b, &format!("{path}.body"), message),
        (None, Some(b)) => vd.problems.on(b, &format!("{path}.body_file"), message),
        (None, None) => vd.problems.at(Location::UNKNOWN, path, message),
    }
    true
}

/// Sets the content type, unless the step's headers already do.
fn default_content_type(headers: &mut HeaderMap, value: &'static str) {
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
    }
}

/// `json:`: a JSON template, every string of which is checked for the names it reads.
fn json_body(j: &AnyValue, field: &str, known: &Known<'_>, vd: &mut Validator<'_>) -> Option<Body> {
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
    check_json_names(&j.value, j.referenced, field, known, vd);
    if vd.problems.len() != before {
        return None;
    }
    Some(Body::Json(t))
}

/// `multipart:`, and its content type with the boundary (a content type of the step's own
/// is refused, one from `defaults.headers` gives way).
fn multipart_body(
    s: &RawStep,
    parts: &Spanned<Vec<Spanned<RawPart>>>,
    headers: &mut HeaderMap,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Body> {
    let m = build_multipart(parts, field, known, vd)?;
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
        vd.problems.on(parts, field, message);
        return None;
    }
    // One from `defaults.headers` gives way (a templated one is dropped by the caller).
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(CONTENT_TYPE, v);
    }
    Some(Body::Multipart(m))
}
