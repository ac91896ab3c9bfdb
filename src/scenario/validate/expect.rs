//! A step's `expect:` (status, latency, body and header checks, each hard or `soft: true`)
//! and `extract:`.
//!
//! Depends on the `Validator`, `names`, `checks`, `raw`, `template` and `units`.
//! Invariant: a step has at most `MAX_CHECKS` checks (their failures are bits of a `u64`).

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use reqwest::header::HeaderName;

use super::names::{Known, compile};
use super::{Validator, positive_duration, scalar_text};
use crate::scenario::checks::{Check, CheckKind, Expect, Extraction, JsonPath, Source, Test};
use crate::scenario::raw::{AnyValue, RawBodyCheck, RawExpect, RawHeaderCheck};
use crate::scenario::template::is_name;
use crate::scenario::units::StatusSet;

/// Most checks on one step (failures are recorded as one bit per check).
const MAX_CHECKS: usize = 64;

/// `expect:`: the statuses a step accepts, its latency limit and its checks on the body
/// and headers.
pub(super) fn build_expect(
    raw: Option<&RawExpect>,
    path: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Expect> {
    let Some(raw) = raw else {
        return Some(Expect::status(StatusSet::default_ok()));
    };
    let before = vd.problems.len();
    let field = format!("{path}.expect");
    let status = match &raw.status {
        Some(st) => StatusSet::parse(&status_items(&st.value))
            .map_err(|e| vd.problems.on(st, &format!("{field}.status"), e))
            .ok(),
        None => Some(StatusSet::default_ok()),
    };
    let mut checks = Vec::new();
    if let Some(l) = &raw.latency
        && let Some(max) = positive_duration(l, &format!("{field}.latency"), vd)
    {
        checks.push(Check {
            name: format!("latency <= {}", l.value.trim()),
            kind: CheckKind::Latency(max),
            soft: false,
        });
    }
    for (i, c) in raw.body.iter().flat_map(|b| b.value.iter()).enumerate() {
        if let Some(check) = body_check(c, &format!("{field}.body[{i}]"), known, vd) {
            if checks.iter().any(|k: &Check| k.name == check.name) {
                vd.problems.on(
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
            vd.problems
                .on(c, &f, format!("\"{name}\" is not a valid header name"));
            continue;
        };
        if let Some((test, words)) = header_test(&c.value, c, &f, known, vd) {
            checks.push(Check {
                name: format!("header {name} {words}"),
                kind: CheckKind::Header(header, test),
                soft: is_soft(c.value.soft.as_ref()),
            });
        }
    }
    if checks.len() > MAX_CHECKS {
        vd.problems.at_pos(
            (0, 0),
            &field,
            format!("{} checks; a step has at most {MAX_CHECKS}", checks.len()),
        );
    }
    (vd.problems.len() == before).then_some(Expect {
        status: status?,
        checks,
    })
}

fn body_check(
    c: &Spanned<RawBodyCheck>,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Check> {
    let raw = &c.value;
    let path = match &raw.path {
        Some(p) => Some(
            JsonPath::parse(&p.value)
                .map_err(|e| vd.problems.on(p, &format!("{field}.path"), e))
                .ok()?,
        ),
        None => None,
    };
    let subject = path.as_ref().map_or("body", JsonPath::as_str).to_string();
    let given = Given {
        equals: raw.equals.as_ref().map(|e| e.value.clone()),
        exists: raw.exists.as_ref().map(|e| e.value),
        contains: raw.contains.as_ref().map(|e| e.value.clone()),
        regex: raw.regex.as_ref(),
    };
    let (test, words) = one_test(given, c, field, known, vd)?;
    let name = raw
        .name
        .as_ref()
        .map_or_else(|| format!("{subject} {words}"), |n| n.value.clone());
    Some(Check {
        name,
        kind: CheckKind::Body(path, test),
        soft: is_soft(raw.soft.as_ref()),
    })
}

/// `soft: true`: the check is counted but its failure is not an error (absent: a hard check).
fn is_soft(soft: Option<&Spanned<bool>>) -> bool {
    soft.is_some_and(|s| s.value)
}

fn header_test<T>(
    raw: &RawHeaderCheck,
    at: &Spanned<T>,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<(Test, String)> {
    let given = Given {
        equals: raw
            .equals
            .as_ref()
            .map(|e| serde_json::Value::String(e.value.clone())),
        exists: raw.exists.as_ref().map(|e| e.value),
        contains: raw.contains.as_ref().map(|e| e.value.clone()),
        regex: raw.regex.as_ref(),
    };
    one_test(given, at, field, known, vd)
}

/// The tests a check wrote (it must write exactly one).
struct Given<'a> {
    equals: Option<serde_json::Value>,
    exists: Option<bool>,
    contains: Option<String>,
    regex: Option<&'a Spanned<String>>,
}

/// The single test of a check (`equals`, `exists`, `contains` or `regex`), and its words for
/// the generated name.
fn one_test<T>(
    given: Given<'_>,
    at: &Spanned<T>,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<(Test, String)> {
    let Given {
        equals,
        exists,
        contains,
        regex,
    } = given;
    let given = [
        equals.is_some(),
        exists.is_some(),
        contains.is_some(),
        regex.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        vd.problems.on(
            at,
            field,
            "a check has exactly one test: equals, exists, contains or regex",
        );
        return None;
    }
    if let Some(v) = equals {
        let words = format!("== {v}");
        // A string with `{{ name }}` is rendered for each response (the user's values).
        if let serde_json::Value::String(text) = &v
            && text.contains("{{")
        {
            let t = compile(text, at.referenced, &format!("{field}.equals"), known, vd)?;
            if t.as_literal().is_none() {
                return Some((Test::EqualsTemplate(t), words));
            }
            let literal = serde_json::Value::String(t.as_literal().unwrap_or_default().into());
            return Some((Test::Equals(literal), words));
        }
        return Some((Test::Equals(v), words));
    }
    if let Some(e) = exists {
        let words = if e { "exists" } else { "is absent" };
        return Some((Test::Exists(e), words.to_string()));
    }
    if let Some(c) = contains {
        let words = format!("contains {}", serde_json::Value::String(c.clone()));
        if c.contains("{{") {
            let t = compile(&c, at.referenced, &format!("{field}.contains"), known, vd)?;
            return Some(match t.as_literal() {
                Some(text) => (Test::Contains(text.to_string()), words),
                None => (Test::ContainsTemplate(t), words),
            });
        }
        return Some((Test::Contains(c), words));
    }
    let r = regex?;
    match regex_lite::Regex::new(&r.value) {
        Ok(re) => Some((Test::Regex(re), format!("matches /{}/", r.value))),
        Err(e) => {
            vd.problems
                .on(r, &format!("{field}.regex"), format!("not a regex: {e}"));
            None
        }
    }
}

/// `extract:`: the variables a step takes from its response, for the steps after it.
pub(super) fn build_extract(
    raw: Option<&BTreeMap<String, AnyValue>>,
    path: &str,
    vd: &mut Validator<'_>,
) -> Vec<Extraction> {
    let mut out = Vec::new();
    for (var, v) in raw.into_iter().flatten() {
        let field = format!("{path}.extract.{var}");
        if !is_name(var) {
            vd.problems.on(
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
            Err(e) => vd.problems.on(v, &field, e),
        }
    }
    out
}

fn extraction_source(v: &serde_json::Value) -> Result<Source, String> {
    const HOW: &str = "write body.PATH (e.g. body.id, body.items[0].name), header.NAME, \
                       status, { regex: 'id=(\\d+)' } (over the body), or { header: NAME, \
                       regex: '([^/]+)$' }";
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
        serde_json::Value::Object(map) if map.len() == 2 => {
            match (map.get("header"), map.get("regex")) {
                (Some(serde_json::Value::String(h)), Some(serde_json::Value::String(pattern))) => {
                    let name = HeaderName::from_bytes(h.trim().as_bytes())
                        .map_err(|_| format!("\"{h}\" is not a valid header name"))?;
                    let re =
                        regex_lite::Regex::new(pattern).map_err(|e| format!("not a regex: {e}"))?;
                    Ok(Source::HeaderRegex(name, re))
                }
                _ => Err(format!("not a source; {HOW}")),
            }
        }
        _ => Err(format!("not a source; {HOW}")),
    }
}

fn status_items(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(items) => items.iter().map(scalar_text).collect(),
        serde_json::Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        other => vec![scalar_text(other)],
    }
}
