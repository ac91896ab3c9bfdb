//! serde-saphyr's errors retold in the user's words: each becomes a `Problem` with the place,
//! the field and the fix, instead of the parser's own terms (`DuplicateKeyPolicy`,
//! `from_str_multiple`, `Depth { depth: 65 }`).
//!
//! Works from the error and the text alone (to find the line a message should point at);
//! depends on `diag` and `layout`.

use serde_saphyr::Error;
use serde_saphyr::budget::BudgetBreach;

use super::diag::Problem;
use super::layout::{first_key_before, over_indented, parent_of, token_at};

/// One parse failure, and what kind it is.
#[derive(Debug)]
pub struct Failure {
    /// The problem to report.
    pub problem: Problem,
    /// Whether reading can go on past it.
    pub kind: Kind,
}

/// What a failure means for reading the rest of the file.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// A key the scenario language does not have; the rest can be read without it.
    UnknownField {
        /// The field path of the map holding it, e.g. `load`.
        parent: String,
        /// The known field it is closest to, e.g. `duration` for `duraton`.
        suggestion: Option<String>,
    },
    /// A value of the wrong type: true whatever else is wrong.
    Value,
    /// The file's structure: what follows may be misread.
    Structure,
}

/// Describes a parse error; `path` is where serde was (from serde_path_to_error).
pub fn describe(error: &Error, path: &str, text: &str) -> Failure {
    let (line, column) = error.location().map_or((0, 0), |l| (l.line(), l.column()));
    let mut failure = Failure {
        problem: Problem {
            line,
            column,
            field: clean_path(path),
            message: String::new(),
        },
        kind: Kind::Structure,
    };
    let mut via_alias = false;
    let mut inner = error;
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = inner {
        via_alias |= matches!(inner, Error::AliasError { .. });
        inner = error;
    }
    let p = &mut failure.problem;
    match inner {
        Error::SerdeUnknownField {
            field, expected, ..
        } => {
            let parent = parent_of(&p.field).to_string();
            let suggestion = closest(field, expected);
            p.message = unknown_field(field, &parent, expected, suggestion.as_deref());
            failure.kind = Kind::UnknownField { parent, suggestion };
        }
        Error::DuplicateMappingKey { key, .. } => duplicate_key(p, key.as_deref(), text),
        Error::MultipleDocuments { .. } => second_document(p, text),
        Error::Budget { breach, .. } => too_big(p, Some(breach), via_alias),
        Error::AliasReplayCounterOverflow { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. } => too_big(p, None, true),
        other => {
            failure.kind = kind_of(other);
            p.message = hint_for(&message_of(other), token_at(text, line, column));
            return with_indent_hint(failure, text);
        }
    }
    failure
}

/// Adds the indentation hint to a failure caused by a key indented too deep, which YAML reads
/// as part of the value above it (`vus: 10` then `    duration: 10s`): the parser's own words
/// ("not a whole number", "mapping values are not allowed") never say so.
fn with_indent_hint(mut failure: Failure, text: &str) -> Failure {
    let p = &mut failure.problem;
    let Some(deep) = over_indented(text, p.line) else {
        return failure;
    };
    // A wrong value is reported at its own key (`load.vus`), a broken map at the map (`load`).
    let last = p.field.rsplit(['.', '[']).next().unwrap_or_default();
    let parent = if last == deep.above {
        parent_of(&p.field)
    } else {
        p.field.as_str()
    };
    let field = match parent {
        "" => deep.key.clone(),
        parent => format!("{parent}.{}", deep.key),
    };
    *p = Problem {
        line: deep.line,
        column: deep.column,
        field,
        message: format!(
            "indented deeper than `{above}:` on line {above_line}, so YAML reads it as part of \
             {above}'s value; if `{key}:` was meant as its own key, indent it like `{above}:`",
            above = deep.above,
            above_line = deep.above_line,
            key = deep.key,
        ),
    };
    failure.kind = Kind::Structure;
    failure
}

fn kind_of(error: &Error) -> Kind {
    match error {
        Error::InvalidScalar { .. }
        | Error::SerdeInvalidType { .. }
        | Error::SerdeInvalidValue { .. }
        | Error::SerdeUnknownVariant { .. }
        | Error::InvalidBooleanStrict { .. }
        | Error::NullIntoString { .. } => Kind::Value,
        _ => Kind::Structure,
    }
}

/// The error's own words without the location serde-saphyr appends (printed up front).
fn message_of(error: &Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    }
}

/// Drops serde-saphyr's internal `.value` segments (from `Spanned`), the root marker and the
/// `?` that stands for a key serde had not read yet.
pub fn clean_path(path: &str) -> String {
    let cleaned = path.replace(".value", "");
    let cleaned = cleaned.strip_suffix(".?").unwrap_or(&cleaned);
    match cleaned {
        "." | "?" => String::new(),
        c => c.to_string(),
    }
}

fn unknown_field(field: &str, parent: &str, expected: &[&str], suggestion: Option<&str>) -> String {
    let owner = match parent {
        "" => "the top level".to_string(),
        p => p.to_string(),
    };
    let guess = suggestion.map_or(String::new(), |s| format!("did you mean {s}? "));
    format!(
        "unknown field \"{field}\"; {guess}{owner} takes {}",
        expected.join(", ")
    )
}

/// The known field within two edits of `field`, if one is.
fn closest(field: &str, expected: &[&str]) -> Option<String> {
    expected
        .iter()
        .map(|e| (edit_distance(field, e), *e))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, e)| e.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

fn duplicate_key(p: &mut Problem, key: Option<&str>, text: &str) {
    let Some(key) = key else {
        p.message = "a key is given twice in this map; keep one of them".into();
        return;
    };
    p.field = match p.field.as_str() {
        "" => key.to_string(),
        parent => format!("{parent}.{key}"),
    };
    let first = first_key_before(text, p.line, p.column, key)
        .map_or(String::new(), |line| format!(" (first on line {line})"));
    p.message = format!("\"{key}\" is given twice in this map{first}; keep one of them");
}

fn second_document(p: &mut Problem, text: &str) {
    // serde-saphyr points at the second document's first node; the user wrote the `---`.
    let start = usize::try_from(p.line).unwrap_or(0);
    let rows: Vec<&str> = text.lines().take(start).collect();
    if let Some(i) = rows.iter().rposition(|row| row.starts_with("---")) {
        (p.line, p.column) = (i as u64 + 1, 1);
    }
    p.field = String::new();
    p.message = "a second YAML document starts here, but a scenario file holds one; delete \
                 this `---` and what follows, or move that to its own file"
        .into();
}

/// A budget breach: the file would expand past what serde-saphyr reads (`None`: an alias
/// replay limit).
fn too_big(p: &mut Problem, breach: Option<&BudgetBreach>, via_alias: bool) {
    // The path reaches deep into the expanded value; the field the user wrote is enough.
    while p.field.ends_with(']') {
        p.field.truncate(p.field.rfind('[').unwrap_or(0));
    }
    let what = match breach {
        Some(BudgetBreach::Depth { .. }) => {
            p.message = "lists and maps are nested more than 64 levels deep here; a scenario \
                         needs a few levels: flatten this value"
                .into();
            return;
        }
        Some(BudgetBreach::Nodes { .. }) => "more than 250,000 values",
        Some(BudgetBreach::Events { .. }) => "more than a million YAML tokens",
        Some(BudgetBreach::ScalarBytes { .. }) => "more than 64 MiB of text",
        _ => "too many values",
    };
    p.message = if via_alias {
        format!(
            "the aliases (*name) here expand to {what}: aliases of lists of aliases multiply \
             (the \"billion laughs\" pattern); write the values out, or use fewer levels of aliases"
        )
    } else {
        format!(
            "the file holds {what}, too large for a scenario; put bulk values in a data file \
             (data: NAME: {{ file: rows.csv }})"
        )
    };
}

/// Adds the bad value and the fix to serde's terse messages.
fn hint_for(message: &str, value: Option<&str>) -> String {
    let quoted = value.map_or(String::new(), |v| format!("\"{v}\" "));
    if message.starts_with("invalid u64") || message.starts_with("invalid u32") {
        format!("{quoted}is not a whole number; write e.g. 10")
    } else if message.starts_with("invalid boolean") {
        format!("{quoted}is not a boolean; write true or false")
    } else if message.starts_with("expected string") {
        format!("{quoted}is not a string; write a plain value or quote it")
    } else {
        message.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_field_name_is_suggested() {
        let fields = ["vus", "rate", "duration", "iterations"];
        assert_eq!(closest("duraton", &fields).as_deref(), Some("duration"));
        assert_eq!(closest("iteration", &fields).as_deref(), Some("iterations"));
        assert_eq!(closest("speed", &fields), None);
    }

    #[test]
    fn paths_lose_parser_markers() {
        assert_eq!(clean_path("load.?"), "load");
        assert_eq!(clean_path("?"), "");
        assert_eq!(clean_path("flows.value[0].value.steps"), "flows[0].steps");
    }
}
