//! YAML text a person would write, from values: strings in JSON's double-quoted form (which
//! YAML reads the same), JSON values as one-line flow forms, keys plain where they can be,
//! comments on one line. The characters some YAML readers take as line breaks or refuse
//! (NEL, U+2028, U+2029, DEL, C1 controls, U+FFFE, U+FFFF) are escaped. A leaf: depends on
//! nothing in the crate; `stampede init`'s converters and `--print-scenario` write with it.

use serde_json::Value;

/// A string as a YAML scalar: JSON's double-quoted form, with the characters YAML does not
/// take as they are (DEL, C1 controls, U+FFFE, U+FFFF) escaped too.
pub fn quoted(text: &str) -> String {
    escaped(Value::String(text.to_string()).to_string())
}

/// Whether YAML reads `c` as it is (its printable set; JSON already escaped C0 controls).
fn printable(c: char) -> bool {
    // NEL and the Unicode line and paragraph separators are line breaks to some YAML
    // readers: escaped, never written as they are.
    let breaks = matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}');
    !breaks
        && (matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}')
}

/// A comment's text: one line, only what YAML prints.
pub fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if printable(c) && !matches!(c, '\n' | '\r' | '\u{85}') {
                c
            } else {
                ' '
            }
        })
        .collect()
}

/// A key as written: plain when it is a simple name, quoted otherwise.
pub fn key(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with('-');
    if plain {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// A JSON value in YAML flow form on one line (JSON is YAML), with the characters YAML does
/// not print escaped (they can only be inside its strings).
pub fn flow(value: &Value) -> String {
    escaped(value.to_string())
}

/// JSON text with the characters YAML does not print as they are written as `\uXXXX`
/// (valid in both: they can only stand inside JSON's strings).
fn escaped(json: String) -> String {
    if json.chars().all(printable) {
        return json;
    }
    json.chars()
        .map(|c| match printable(c) {
            true => c.to_string(),
            false => format!("\\u{:04X}", u32::from(c)),
        })
        .collect()
}
