//! Files read into bodies: `body_file:` (bytes as they are, or a template) and the bytes of
//! multipart file parts.
//!
//! Depends on the `Validator`, `names`, `files`, `raw`, `plan` and `template`. Invariant:
//! a scenario reads at most `BODIES_TOTAL` body-file bytes in all (each file is also capped
//! by `files`), since every one is held in memory for the run.

use super::Validator;
use super::names::{Known, compile};
use crate::scenario::plan::Body;
use crate::scenario::raw::AnyValue;
use crate::scenario::template::substitute_env;

/// The most body-file bytes one scenario reads (`body_file`, multipart files), over all its
/// steps: each is held in memory for the run, and 64 MiB a file is no bound when 500 steps
/// name one each.
const BODIES_TOTAL: u64 = 256 << 20;

/// A file relative to the scenario (environment templates allowed), read now, within the
/// per-file cap and the scenario's total (`BODIES_TOTAL`).
pub(super) fn read_file(
    value: &str,
    vd: &mut Validator<'_>,
) -> Result<(std::path::PathBuf, Vec<u8>), String> {
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
pub(super) fn body_file(
    file: &AnyValue,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Body> {
    let (path, template) = body_file_shape(file, field, vd)?;
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

/// The path and the `template` flag of `body_file:`, either shape.
fn body_file_shape(file: &AnyValue, field: &str, vd: &mut Validator<'_>) -> Option<(String, bool)> {
    let shape = "body_file is a path, or { path: FILE, template: true } to render the file's \
                 {{ }} templates";
    match &file.value {
        serde_json::Value::String(p) => Some((p.clone(), false)),
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
                (Some(serde_json::Value::String(p)), None | Some(serde_json::Value::Bool(_))) => {
                    Some((
                        p.clone(),
                        map.get("template") == Some(&serde_json::Value::Bool(true)),
                    ))
                }
                _ => {
                    vd.problems.on(file, field, shape);
                    None
                }
            }
        }
        _ => {
            vd.problems.on(file, field, shape);
            None
        }
    }
}
