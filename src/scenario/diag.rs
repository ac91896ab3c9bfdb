//! Problems found in a scenario file, each with the place to fix it.
//!
//! A `Problem` carries line, column, the field path and a message that already says the fix;
//! `ScenarioError` renders them as `file:line:col: field: message`, one per line.

use serde_saphyr::{Location, Spanned};

/// One thing wrong with a scenario, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, or 0 when unknown.
    pub line: u64,
    /// 1-based column, or 0 when unknown.
    pub column: u64,
    /// The field path, e.g. `flows[0].steps[2].expect.status`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read the scenario: {source}")]
    Read {
        /// The path as given.
        file: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file was read but is not a valid scenario.
    #[error("{}", render(file, problems))]
    Invalid {
        /// The path as given.
        file: String,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

fn render(file: &str, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            let place = if p.line > 0 {
                format!("{file}:{}:{}", p.line, p.column)
            } else {
                file.to_string()
            };
            if p.field.is_empty() {
                format!("{place}: {}", p.message)
            } else {
                format!("{place}: {}: {}", p.field, p.message)
            }
        })
        .collect();
    lines.join("\n")
}

/// Collects problems while a scenario is validated, so all of them are reported at once.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    /// Records a problem at a location.
    pub fn at(&mut self, loc: Location, field: &str, message: impl Into<String>) {
        self.list.push(Problem {
            line: loc.line(),
            column: loc.column(),
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Records a problem at a 1-based line and column.
    pub fn at_pos(&mut self, (line, column): (u64, u64), field: &str, message: impl Into<String>) {
        self.list.push(Problem {
            line,
            column,
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Records a problem at a spanned value.
    pub fn on<T>(&mut self, value: &Spanned<T>, field: &str, message: impl Into<String>) {
        self.at(value.referenced, field, message);
    }

    /// How many problems were found so far.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The problems, sorted by position in the file.
    pub fn into_sorted(mut self) -> Vec<Problem> {
        self.list.sort_by_key(|p| (p.line, p.column));
        self.list
    }
}
