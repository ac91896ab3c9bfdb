//! What a document gives that goes into a scenario as it is (paths, header names, names,
//! examples) is checked here, so the scenario written always loads: a path is
//! percent-encoded where a URL needs it, a header name that is not one is left out, text
//! that would read as a template (`{{`) is not copied, names lose control characters, and
//! variables' names keep only what a name may hold (`identifier`).
//! Depends on nothing in the crate.

use serde_json::Value;

/// Whether a value from the document can be sent as it is: no string in it holds template
/// braces (`{{`, `}}`), which the scenario would read as an expression.
pub fn literal(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.contains("{{") && !s.contains("}}"),
        Value::Array(items) => items.iter().all(literal),
        Value::Object(map) => map
            .iter()
            .all(|(k, v)| literal(&Value::String(k.clone())) && literal(v)),
        _ => true,
    }
}

/// A header name as HTTP takes it (letters, digits, `-`), lowercased; `None` otherwise.
pub fn header(name: &str) -> Option<String> {
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| name.to_ascii_lowercase())
}

/// A path of the document as a step's URL path: it starts with `/`, keeps its `{param}`
/// segments, and anything a URL cannot hold as it is is percent-encoded; `None` for a path
/// that holds template braces or is not a path.
pub fn path(p: &str) -> Option<String> {
    if !p.starts_with('/') || p.contains("{{") || p.contains("}}") {
        return None;
    }
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '/' | '-' | '.' | '_' | '~' | '{' | '}' => {
                out.push(c)
            }
            '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | ';' | '=' | ':' | '@' => {
                out.push(c)
            }
            other => {
                let mut buf = [0u8; 4];
                for b in other.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    Some(out)
}

/// A value put into a path segment: a template as it is, text percent-encoded (`/` too).
pub fn segment(text: &str) -> String {
    if text.starts_with("{{") && text.ends_with("}}") {
        return text.to_string();
    }
    encoded(text)
}

/// Text as a path segment, every byte but the unreserved ones percent-encoded (`/` and
/// template braces too): a recorded segment is never read as a template.
pub fn encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '.' | '_' | '~' => out.push(c),
            other => {
                let mut buf = [0u8; 4];
                for b in other.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

/// A name to show (a step's, a flow's): control characters become spaces, template braces
/// are taken out, and an empty name is `fallback`.
pub fn name(text: &str, fallback: &str) -> String {
    let shown: String = text
        .replace("{{", "{")
        .replace("}}", "}")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let shown = shown.trim();
    if shown.is_empty() {
        fallback.to_string()
    } else {
        shown.chars().take(200).collect()
    }
}

/// `text` as the letters of a variable's name: ASCII letters and digits kept, upper- or
/// lowercased, and every other character `_` (`X-CSRF token` → `x_csrf_token`).
pub fn identifier(text: &str, upper: bool) -> String {
    (text.chars())
        .map(|c| match (c.is_ascii_alphanumeric(), upper) {
            (true, true) => c.to_ascii_uppercase(),
            (true, false) => c.to_ascii_lowercase(),
            (false, _) => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn document_text_is_made_safe_for_a_scenario() {
        assert!(literal(&json!({"a": ["x", 1]})) && !literal(&json!({"a": ["{{ x }}"]})));
        assert_eq!(header("X-Api-Key").as_deref(), Some("x-api-key"));
        assert_eq!(header("x ¡key"), None);
        assert_eq!(
            path("/users/{id}/a b").as_deref(),
            Some("/users/{id}/a%20b")
        );
        assert_eq!(path("users"), None);
        assert_eq!(path("/{{x}}"), None);
        assert_eq!(name("get\\u{0}user", "s"), "get\\u{0}user");
        assert_eq!(name("a\nb", "s"), "a b");
        assert_eq!(name("  ", "step"), "step");
        assert_eq!(identifier("X-CSRF token", false), "x_csrf_token");
        assert_eq!(identifier("sessionId", true), "SESSIONID");
        assert_eq!(identifier("é1", false), "_1");
    }
}
