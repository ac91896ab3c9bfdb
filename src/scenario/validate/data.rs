//! `data:`: each data set's file (read now, so a missing file or column fails validation)
//! and its mode.
//!
//! Depends on the `Validator`, `data`, `raw` and `template`.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::Validator;
use crate::scenario::data::{self, DataMode, DataSet};
use crate::scenario::raw::RawData;
use crate::scenario::template::{is_name, substitute_env};

/// A data set's `mode` and `on_exhausted`.
fn data_mode(d: &RawData, field: &str, vd: &mut Validator<'_>) -> Option<DataMode> {
    let wrap = match &d.on_exhausted {
        None => Some(false),
        Some(e) => match e.value.trim() {
            "stop" => Some(false),
            "wrap" => Some(true),
            other => {
                let message = format!("\"{other}\" is not a choice; write stop or wrap");
                vd.problems.on(e, &format!("{field}.on_exhausted"), message);
                None
            }
        },
    };
    let Some(m) = &d.mode else {
        return wrap.map(|_| DataMode::Sequential);
    };
    match m.value.trim() {
        "sequential" => wrap.map(|_| DataMode::Sequential),
        "random" => Some(DataMode::Random),
        "unique" => wrap.map(|wrap| DataMode::Unique { wrap }),
        other => {
            let message = format!("\"{other}\" is not a mode; write sequential, random or unique");
            vd.problems.on(m, &format!("{field}.mode"), message);
            None
        }
    }
}

/// `data:` files, read now so that a missing file or column fails validation.
pub(super) fn build_data(
    raw: Option<&BTreeMap<String, Spanned<RawData>>>,
    vd: &mut Validator<'_>,
) -> Vec<DataSet> {
    let mut sets = Vec::new();
    for (name, d) in raw.into_iter().flatten() {
        let field = format!("data.{name}");
        if !is_name(name) {
            vd.problems.on(
                d,
                &field,
                format!("\"{name}\" is not a data set name (letters, digits and _)"),
            );
            continue;
        }
        let mode = data_mode(&d.value, &field, vd);
        if let (Some(e), Some(m)) = (&d.value.on_exhausted, mode)
            && !matches!(m, DataMode::Unique { .. })
        {
            vd.problems.on(e, &format!("{field}.on_exhausted"), "on_exhausted applies to mode: unique only (sequential wraps, random never runs out)");
        }
        let Some(file) = &d.value.file else {
            vd.problems.on(
                d,
                &format!("{field}.file"),
                "missing; write e.g. file: users.csv (relative to the scenario)",
            );
            continue;
        };
        let path = match substitute_env(&file.value, vd.env) {
            Ok(p) => vd.base_dir.join(p),
            Err(e) => {
                vd.problems.on(file, &format!("{field}.file"), e);
                continue;
            }
        };
        match data::read(&path) {
            Ok((columns, rows)) => {
                if let Some(mode) = mode {
                    sets.push(DataSet {
                        name: name.clone(),
                        file: path,
                        columns,
                        rows,
                        mode,
                    });
                }
            }
            Err(e) => vd.problems.on(file, &format!("{field}.file"), e),
        }
    }
    sets
}
