//! Data files: CSV (with a header row) or JSON lines, loaded once when the scenario is
//! validated, and the modes that say which row an iteration gets.
//!
//! Rows are kept in memory as text columns; picking a row is the engine's job (it owns the
//! shared cursors), this module only loads and describes.

use std::path::{Path, PathBuf};

/// How iterations take rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// One cursor shared by all users, wrapping at the end.
    Sequential,
    /// A random row for each iteration.
    Random,
    /// Each row once over the whole run; then stop the run, or start again (`wrap`).
    Unique {
        /// Start again from the first row instead of stopping.
        wrap: bool,
    },
}

/// A loaded data file.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// The name steps use: `{{ data.NAME.COLUMN }}`.
    pub name: String,
    /// Where it was read from.
    pub file: PathBuf,
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// The rows; a JSON-lines row may lack a column (`None`).
    pub rows: Vec<Vec<Option<String>>>,
    /// How rows are handed out.
    pub mode: DataMode,
}

impl DataSet {
    /// The position of `column`, if the file has it.
    pub fn column(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

/// A file's column names and its rows.
pub type Table = (Vec<String>, Vec<Vec<Option<String>>>);

/// Reads a data file: `.csv`, or `.jsonl`/`.ndjson` (one JSON object per line).
/// Errors name the file once, and the line of the data file where there is one.
pub fn read(path: &Path) -> Result<Table, String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let parse = match ext.as_deref() {
        Some("csv") => parse_csv,
        Some("jsonl" | "ndjson") => parse_jsonl,
        _ => {
            return Err(format!(
                "{}: a data file ends in .csv (with a header row) or .jsonl (a JSON object per \
                 line); rename it, or convert it to one of these",
                path.display()
            ));
        }
    };
    let text = crate::files::read_text(path, crate::files::DATA).map_err(|e| {
        let why = match path.exists() {
            false => "no such file (the path is relative to the scenario file's directory)",
            true => e.reason.as_str(),
        };
        format!("cannot read data file {}: {why}", path.display())
    })?;
    let (columns, rows) = parse(&text).map_err(|e| format!("{}{e}", path.display()))?;
    if rows.is_empty() {
        return Err(format!(
            "{}: the file has no data rows; add at least one",
            path.display()
        ));
    }
    Ok((columns, rows))
}

/// CSV after RFC 4180: commas, double-quoted fields with `""` for a quote, CRLF or LF.
fn parse_csv(text: &str) -> Result<Table, String> {
    let records = csv_records(text)?;
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(": the file is empty; the first line names the columns".into());
    };
    if header.iter().any(|h| h.trim().is_empty()) {
        return Err(":1: a column name in the header is empty; name every column".into());
    }
    let mut rows = Vec::new();
    for (line, fields) in records {
        if fields.len() == 1 && fields[0].is_empty() {
            continue; // a blank line
        }
        if fields.len() != header.len() {
            return Err(format!(
                ":{line}: the row has {} fields, the header has {}; quote a value that holds a \
                 comma, e.g. \"Lovelace, Ada\"",
                fields.len(),
                header.len()
            ));
        }
        rows.push(fields.into_iter().map(Some).collect());
    }
    let columns = header.into_iter().map(|h| h.trim().to_string()).collect();
    Ok((columns, rows))
}

/// Splits CSV text into records, each with the line it starts on.
fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!(":{start}: a quoted field is never closed"));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start, fields));
    }
    Ok(records)
}

fn parse_jsonl(text: &str) -> Result<Table, String> {
    let mut columns: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            format!(
                ":{}:{}: not valid JSON; write one object per line, e.g. {{\"id\": 1}}",
                i + 1,
                e.column()
            )
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err(format!(":{}: each line must be a JSON object", i + 1));
        };
        for key in map.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
        objects.push(map);
    }
    let rows = objects
        .iter()
        .map(|map| {
            columns
                .iter()
                .map(|c| map.get(c).map(super::checks::text_of))
                .collect()
        })
        .collect();
    Ok((columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_crlf() {
        let text = "email,name\r\na@x.test,\"Lovelace, Ada\"\r\n\"b\"\"q\"@x.test,Bob\r\n\r\n";
        let (cols, rows) = parse_csv(text).expect("parses");
        assert_eq!(cols, vec!["email", "name"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][1].as_deref(), Some("Lovelace, Ada"));
        assert_eq!(rows[1][0].as_deref(), Some("b\"q@x.test"));
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = parse_csv("a,b\n1,2\n3\n").expect_err("short row");
        assert!(e.starts_with(":3:"), "{e}");
        assert!(parse_csv("a,b\n\"1,2\n").is_err());
    }

    #[test]
    fn jsonl_columns_are_the_union_of_keys() {
        let (cols, rows) =
            parse_jsonl("{\"id\": 1, \"name\": \"a\"}\n\n{\"id\": 2, \"tag\": true}\n")
                .expect("parses");
        assert_eq!(cols, vec!["id", "name", "tag"]);
        assert_eq!(rows[1], vec![Some("2".into()), None, Some("true".into())]);
        assert!(parse_jsonl("[1]\n").is_err());
    }
}
