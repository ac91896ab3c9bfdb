//! The comparison as a text table: the title and warnings, one line per step and figure
//! with both values, the change and the verdict, the steps found on one side only, and the
//! count of each verdict.
//!
//! Depends on `comparison` beside it only. Invariant: every row of the comparison is a
//! line, in its order.

use std::fmt::Write as _;

use super::comparison::{Comparison, Row, Verdict};

/// The comparison as a table, one line per step and figure.
pub fn table(c: &Comparison, base_name: &str, new_name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "stampede compare · {base_name} → {new_name} · tolerance {:.0}%",
        c.tolerance * 100.0
    );
    for w in &c.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let width = c
        .rows
        .iter()
        .map(|r| r.step.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:<10}  {:>12}  {:>12}  {:>8}  verdict",
        "step", "figure", "base", "new", "change"
    );
    for r in &c.rows {
        row_line(&mut out, r, width);
    }
    for step in &c.only_in_base {
        let _ = writeln!(out, "only in {base_name}: {step}");
    }
    for step in &c.only_in_new {
        let _ = writeln!(out, "only in {new_name}: {step}");
    }
    counts(&mut out, c);
    out
}

/// A row's line, its step's name padded to `width`.
fn row_line(out: &mut String, r: &Row, width: usize) {
    let show = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| r.metric.show(v));
    let note = if r.note.is_empty() {
        String::new()
    } else {
        format!(" · {}", r.note)
    };
    let _ = writeln!(
        out,
        "{:<width$}  {:<10}  {:>12}  {:>12}  {:>8}  {}{note}",
        r.step,
        r.metric.as_str(),
        show(r.base),
        show(r.new),
        r.change_text(),
        r.verdict.as_str()
    );
}

/// The closing line: how many rows regressed, improved, and stayed within noise.
fn counts(out: &mut String, c: &Comparison) {
    let regressed = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regressed)
        .count();
    let improved = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Improved)
        .count();
    let _ = writeln!(
        out,
        "\n{} regressed · {} improved · {} within noise",
        regressed,
        improved,
        c.rows.len() - regressed - improved
    );
}
