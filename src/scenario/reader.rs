//! Reading a scenario's text into the raw mirror, reporting as much as one reading can: an
//! unknown field does not hide the rest of the file's problems.
//!
//! serde stops at the first unknown field (`deny_unknown_fields`), so the reader blanks that
//! entry out (in place, so every location still holds) and reads again, up to a limit. What
//! the blanked entries were probably meant to be is remembered, so that problems that only
//! follow from them (`load: no stop condition` after a misspelt `duration`) are not reported.

use super::diag::Problem;
use super::layout::blank_entry;
use super::parse_error::{Failure, Kind, describe};
use super::raw::RawScenario;

/// Unknown fields reported from one file at most; past it, the reading stops there.
const MAX_UNKNOWN_FIELDS: usize = 20;

/// A file as read.
#[derive(Debug)]
pub struct Reading {
    /// The raw mirror, unless the text could not be read into it.
    pub raw: Option<RawScenario>,
    /// The text `raw` was read from: the file's, with unknown fields blanked out.
    pub text: String,
    /// The problems found while reading.
    pub problems: Vec<Problem>,
    /// The maps holding an unknown field: a problem of such a map as a whole (or of a map
    /// holding it) may only follow from the missing entry.
    holders: Vec<String>,
    /// The known fields the unknown ones were probably meant to be.
    meant: Vec<String>,
}

impl Reading {
    /// Whether a problem found later should be reported: not when it may only follow from an
    /// unknown field (`load: no stop condition` after `duraton:`).
    pub fn keeps(&self, problem: &Problem) -> bool {
        let field = problem.field.as_str();
        let of_holder = self.holders.iter().any(|h| within(h, field));
        let of_meant = self.meant.iter().any(|m| within(field, m));
        !of_holder && !of_meant
    }
}

/// Reads `text`, collecting every unknown field and the first other parse problem.
pub fn read(text: &str) -> Reading {
    let mut reading = Reading {
        raw: None,
        text: text.to_string(),
        problems: Vec::new(),
        holders: Vec::new(),
        meant: Vec::new(),
    };
    loop {
        let failure = match parse(&reading.text) {
            Ok(raw) => {
                reading.raw = Some(raw);
                return reading;
            }
            Err(failure) => failure,
        };
        let p = &failure.problem;
        let blanked = match &failure.kind {
            Kind::UnknownField { .. } if reading.problems.len() < MAX_UNKNOWN_FIELDS => {
                blank_entry(&reading.text, p.line, p.column)
            }
            _ => None,
        };
        let first = reading.problems.is_empty();
        match (failure.kind, blanked) {
            (Kind::UnknownField { parent, suggestion }, Some(text)) => {
                reading.meant.extend(suggestion.map(|s| join(&parent, &s)));
                reading.holders.push(parent);
                reading.problems.push(failure.problem);
                reading.text = text;
            }
            // After a blanked entry, a broken structure may be the blanking's doing; a wrong
            // value or another unknown field is surely a problem of its own.
            (kind, _) => {
                let own = kind != Kind::Structure && reading.keeps(&failure.problem);
                if first || own {
                    reading.problems.push(failure.problem);
                }
                return reading;
            }
        }
    }
}

/// Parses text into the raw mirror, or describes why not.
fn parse(text: &str) -> Result<RawScenario, Failure> {
    let mut path = String::new();
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| describe(&e, &path, text))
}

fn join(parent: &str, field: &str) -> String {
    match parent {
        "" => field.to_string(),
        p => format!("{p}.{field}"),
    }
}

/// Whether `inner` is `outer` or inside it (`load.stages[0]` is inside `load.stages`, and
/// everything is inside the top level, "").
fn within(inner: &str, outer: &str) -> bool {
    outer.is_empty()
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unknown_field_and_the_next_wrong_value_are_reported() {
        let text = "load:\n  vus: 2\n  duraton: 10s\n  iterations: many\nflows:\n  \
                    - { stepz: [], name: x }\n";
        let reading = read(text);
        let found: Vec<(u64, &str)> = reading
            .problems
            .iter()
            .map(|p| (p.line, p.field.as_str()))
            .collect();
        assert_eq!(found[..2], [(3, "load.duraton"), (4, "load.iterations")]);
        assert!(
            reading.problems[0]
                .message
                .contains("did you mean duration?")
        );
    }

    #[test]
    fn a_key_indented_under_a_string_gets_the_indentation_hint() {
        // Under a string the parser fails on the structure, not on a value as under a number.
        let reading = read("load:\n  duration: 10s\n    vus: 2\nflows: []\n");
        let p = &reading.problems[0];
        assert_eq!((p.line, p.column, p.field.as_str()), (3, 5, "load.vus"));
        assert!(
            p.message.ends_with("indent it like `duration:`"),
            "{}",
            p.message
        );
    }

    #[test]
    fn problems_that_follow_from_an_unknown_field_are_not_kept() {
        let reading = read("load:\n  vus: 2\n  duraton: 10s\nflows: []\n");
        assert!(reading.raw.is_some());
        let problem = |field: &str| Problem {
            line: 1,
            column: 1,
            field: field.into(),
            message: String::new(),
        };
        assert!(!reading.keeps(&problem("load")));
        assert!(!reading.keeps(&problem("load.duration")));
        assert!(reading.keeps(&problem("load.vus")));
        assert!(reading.keeps(&problem("flows")));
    }
}
