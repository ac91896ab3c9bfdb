//! Templates and the names they read (`Known`, `compile`): each template is compiled here,
//! once, and every name it reads (a variable, a data column) is checked against what is
//! defined at that point of the flow.
//!
//! Depends on the `Validator`, `template` and `data`. Invariant: a template that comes out
//! reads only names that will be defined when it renders; a problem points inside the
//! template when its text can be found in the source.

use std::collections::BTreeSet;

use serde_saphyr::{Location, Spanned};

use super::Validator;
use crate::scenario::data::DataSet;
use crate::scenario::template::Template;

/// Names a template may read at one point of a flow.
pub struct Known<'a> {
    /// Variables: `variables:`, `--set`, setup extractions, earlier steps' extractions.
    pub vars: BTreeSet<String>,
    /// The data files.
    pub data: &'a [DataSet],
    /// Compiling `defaults:`, which run before any step: an unknown name's fix differs.
    pub defaults: bool,
}

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
            let message = if known.defaults {
                format!(
                    "{var} is not defined; defaults read variables:, --set {var}=VALUE, and \
                     what setup or a flow's init extracts (a step of the flow comes too late)"
                )
            } else {
                format!(
                    "{var} is not defined; define it under variables:, pass --set {var}=VALUE, \
                     or extract it in an earlier step"
                )
            };
            vd.problems
                .at_pos(vd.position(loc, text, offset), field, message);
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

/// `compile` for a template written as one YAML string.
pub(super) fn compile_spanned(
    v: &Spanned<String>,
    field: &str,
    known: &Known<'_>,
    vd: &mut Validator<'_>,
) -> Option<Template> {
    compile(&v.value, v.referenced, field, known, vd)
}

/// Reports undefined names in a JSON body, string by string (each at its own position).
pub(super) fn check_json_names(
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
