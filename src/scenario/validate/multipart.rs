//! A multipart body: its parts (text values or files), their names and content types, and a
//! boundary found in none of them.
//!
//! Depends on the `Validator`, `names`, `body_file`, `raw` and `plan`. Invariant: a body
//! has 1 to `MOST_PARTS` parts, and its boundary occurs in no file part.

use reqwest::header::HeaderValue;
use serde_saphyr::Spanned;

use super::body_file::read_file;
use super::names::{Known, compile};
use super::{Validator, scalar_text};
use crate::scenario::plan::{Multipart, Part, PartContent};
use crate::scenario::raw::RawPart;

/// The most parts a multipart body has (a typo such as a huge generated list is refused).
const MOST_PARTS: usize = 1000;

/// `multipart: [ { name, value | file, filename, content_type } ]`.
pub(super) fn build_multipart(
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
    let built: Vec<Part> = (parts.value.iter().enumerate())
        .filter_map(|(i, raw)| build_part(raw, &format!("{field}[{i}]"), known, vd))
        .collect();
    if vd.problems.len() != before {
        return None;
    }
    Some(Multipart {
        boundary: boundary(&built),
        parts: built,
    })
}

/// One part; `None` when it has a problem (already reported).
fn build_part(
    raw: &Spanned<RawPart>,
    f: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Part> {
    let p = &raw.value;
    let Some(name) = &p.name else {
        vd.problems
            .on(raw, f, "a part needs a name: (the form field's name)");
        return None;
    };
    // A file part's name as read (after `{{ env.NAME }}`), its default filename.
    let (content, own_name) = part_content(raw, f, known, vd)?;
    let filename = p.filename.as_ref().map(|n| n.value.clone()).or(own_name);
    let content_type = match &p.content_type {
        Some(t) if HeaderValue::from_str(&t.value).is_err() || t.value.contains(['\r', '\n']) => {
            let message = "a content type is one header value (no newline)";
            vd.problems.on(t, &format!("{f}.content_type"), message);
            return None;
        }
        Some(t) => Some(t.value.clone()),
        None => p
            .file
            .as_ref()
            .map(|_| "application/octet-stream".to_string()),
    };
    Some(Part {
        name: name.value.clone(),
        content,
        filename,
        content_type,
    })
}

/// A part's content, a text value (a template) or a file's bytes, with the file's name.
fn part_content(
    raw: &Spanned<RawPart>,
    f: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<(PartContent, Option<String>)> {
    let p = &raw.value;
    match (&p.value, &p.file) {
        (Some(v), None) => {
            let text = match &v.value {
                serde_json::Value::String(t) => t.clone(),
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => scalar_text(&v.value),
                _ => {
                    let message = "a part's value is text, a number or a boolean";
                    vd.problems.on(v, &format!("{f}.value"), message);
                    return None;
                }
            };
            let t = compile(&text, v.referenced, &format!("{f}.value"), known, vd)?;
            Some((PartContent::Text(t), None))
        }
        (None, Some(file)) => match read_file(&file.value, vd) {
            Ok((full, bytes)) => {
                let own_name = full.file_name().map(|n| n.to_string_lossy().into_owned());
                Some((PartContent::File(bytes.into()), own_name))
            }
            Err(e) => {
                vd.problems.on(file, &format!("{f}.file"), e);
                None
            }
        },
        _ => {
            let message = "a part has either value: (text) or file: (a file's bytes)";
            vd.problems.on(raw, f, message);
            None
        }
    }
}

/// A boundary found in no file (text values are a 128-bit chance away from one).
fn boundary(parts: &[Part]) -> String {
    loop {
        let b = format!(
            "stampede-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let inside = parts.iter().any(|p| match &p.content {
            PartContent::File(bytes) => bytes.windows(b.len()).any(|w| w == b.as_bytes()),
            PartContent::Text(_) => false,
        });
        if !inside {
            return b;
        }
    }
}
