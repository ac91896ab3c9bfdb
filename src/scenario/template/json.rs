//! JSON bodies whose string values are templates: compiled once into fixed JSON text and the
//! strings that must be rendered (and escaped) per request.
//!
//! A string that is exactly one `{{ expr }}` of a variable, a data column or a number-making
//! call keeps its value's type: when the value reads as a JSON number, `true`, `false` or
//! `null`, it is sent as that (`"{{ n }}"` with n = 42 sends `42`); otherwise as a string.
//! `{{ string(n) }}` always sends a string, and so does any text around the braces
//! (`"id-{{ n }}"`) and every text-making call (`uuid()`, `random_string(n)`, ...).

use std::fmt::Write as _;

use super::EnvLookup;
use super::compile::{Template, TemplateError};
use super::render::{Missing, Scope};

/// A JSON document with templated string values.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonTemplate {
    parts: Vec<JsonPart>,
}

#[derive(Debug, Clone, PartialEq)]
enum JsonPart {
    /// JSON text copied as is.
    Raw(String),
    /// A string value: rendered, escaped and quoted.
    Str(Template),
    /// A value that is exactly one expression: a number or a boolean when it renders as one,
    /// a string otherwise.
    Typed(Template),
}

/// A string of the document that does not compile: its path (`.a.b[0]`), its text and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonTemplateError {
    /// Where in the document, e.g. `.user.name`.
    pub path: String,
    /// The string as written.
    pub text: String,
    /// The template error inside that string.
    pub error: TemplateError,
}

impl JsonTemplate {
    /// Compiles every string value of `value` (keys are taken as written).
    pub fn compile(
        value: &serde_json::Value,
        env: EnvLookup<'_>,
    ) -> Result<JsonTemplate, JsonTemplateError> {
        let mut out = Builder::default();
        walk(value, env, &mut String::new(), &mut out)?;
        out.flush();
        Ok(JsonTemplate { parts: out.parts })
    }

    /// The document when no string is dynamic.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [JsonPart::Raw(t)] => Some(t),
            _ => None,
        }
    }

    /// Every template inside, for validation.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.parts.iter().filter_map(|p| match p {
            JsonPart::Str(t) | JsonPart::Typed(t) => Some(t),
            JsonPart::Raw(_) => None,
        })
    }

    /// Appends the rendered document to `out`.
    pub fn render_into(&self, scope: &mut dyn Scope, out: &mut String) -> Result<(), Missing> {
        let mut scratch = String::new();
        for part in &self.parts {
            match part {
                JsonPart::Raw(t) => out.push_str(t),
                JsonPart::Str(t) => {
                    scratch.clear();
                    t.render_into(scope, &mut scratch)?;
                    escape_into(&scratch, out);
                }
                JsonPart::Typed(t) => {
                    scratch.clear();
                    t.render_into(scope, &mut scratch)?;
                    if is_scalar(&scratch) {
                        out.push_str(&scratch);
                    } else {
                        escape_into(&scratch, out);
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Builder {
    parts: Vec<JsonPart>,
    raw: String,
}

impl Builder {
    fn flush(&mut self) {
        if !self.raw.is_empty() || self.parts.is_empty() {
            self.parts
                .push(JsonPart::Raw(std::mem::take(&mut self.raw)));
        }
    }
}

fn walk(
    value: &serde_json::Value,
    env: EnvLookup<'_>,
    path: &mut String,
    out: &mut Builder,
) -> Result<(), JsonTemplateError> {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            let t = Template::compile(s, env).map_err(|error| JsonTemplateError {
                path: path.clone(),
                text: s.clone(),
                error,
            })?;
            match t.as_literal() {
                Some(text) => escape_into(text, &mut out.raw),
                None => {
                    if !out.raw.is_empty() {
                        out.parts.push(JsonPart::Raw(std::mem::take(&mut out.raw)));
                    }
                    let typed = t.is_one_value();
                    out.parts.push(if typed {
                        JsonPart::Typed(t)
                    } else {
                        JsonPart::Str(t)
                    });
                }
            }
        }
        Value::Array(items) => {
            out.raw.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.raw.push(',');
                }
                let len = path.len();
                let _ = write!(path, "[{i}]");
                walk(item, env, path, out)?;
                path.truncate(len);
            }
            out.raw.push(']');
        }
        Value::Object(map) => {
            out.raw.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.raw.push(',');
                }
                escape_into(key, &mut out.raw);
                out.raw.push(':');
                let len = path.len();
                let _ = write!(path, ".{key}");
                walk(item, env, path, out)?;
                path.truncate(len);
            }
            out.raw.push('}');
        }
        other => out.raw.push_str(&other.to_string()),
    }
    Ok(())
}

/// Whether `text` is a JSON number, `true`, `false` or `null` as written.
fn is_scalar(text: &str) -> bool {
    matches!(text, "true" | "false" | "null")
        || (text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
            && serde_json::from_str::<serde_json::Number>(text).is_ok())
}

/// Writes `text` as a quoted JSON string.
fn escape_into(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(fastrand::Rng);

    impl Scope for Fixed {
        fn var(&self, name: &str) -> Option<&str> {
            (name == "who").then_some("Ada \"the first\"\n")
        }
        fn data(&self, _: &str, _: &str) -> Option<&str> {
            None
        }
        fn vu(&self) -> u64 {
            1
        }
        fn iteration(&self) -> u64 {
            0
        }
        fn rng(&mut self) -> &mut fastrand::Rng {
            &mut self.0
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn literal_documents_are_plain_json() {
        let v = serde_json::json!({"a": [1, true, null, "x\"y"], "b": {"c": 1.5}});
        let t = JsonTemplate::compile(&v, &no_env).expect("compiles");
        let text = t.as_literal().expect("literal");
        let back: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn rendered_strings_are_escaped() {
        let v = serde_json::json!({"name": "{{ who }}", "n": 3, "tag": "vu-{{ vu() }}"});
        let t = JsonTemplate::compile(&v, &no_env).expect("compiles");
        assert!(t.as_literal().is_none());
        let mut out = String::new();
        t.render_into(&mut Fixed(fastrand::Rng::with_seed(1)), &mut out)
            .expect("renders");
        let back: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(
            back,
            serde_json::json!({"name": "Ada \"the first\"\n", "n": 3, "tag": "vu-1"})
        );
    }

    #[test]
    fn a_lone_expression_keeps_its_type() {
        let v = serde_json::json!({
            "n": "{{ random_int(5, 5) }}", "s": "{{ string(random_int(5, 5)) }}",
            "t": "n{{ random_int(5, 5) }}", "w": "{{ who }}", "f": "{{ random_float(1, 1) }}"
        });
        let t = JsonTemplate::compile(&v, &no_env).expect("compiles");
        let mut out = String::new();
        t.render_into(&mut Fixed(fastrand::Rng::with_seed(1)), &mut out)
            .expect("renders");
        let back: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(back["n"], serde_json::json!(5));
        assert_eq!(back["s"], serde_json::json!("5"));
        assert_eq!(back["t"], serde_json::json!("n5"));
        assert_eq!(back["w"], serde_json::json!("Ada \"the first\"\n"));
        assert_eq!(back["f"], serde_json::json!(1.0));
        for (text, scalar) in [
            ("42", true),
            ("-1.5e3", true),
            ("007", false),
            ("1 2", false),
            ("true", true),
            ("null", true),
            ("NaN", false),
            ("", false),
        ] {
            assert_eq!(is_scalar(text), scalar, "{text}");
        }
    }

    #[test]
    fn errors_name_the_path() {
        let v = serde_json::json!({"user": {"tags": ["ok", "{{ nope() }}"]}});
        let e = JsonTemplate::compile(&v, &no_env).expect_err("unknown function");
        assert_eq!(e.path, ".user.tags[1]");
        assert_eq!(e.text, "{{ nope() }}");
        assert!(e.error.message.contains("unknown function"));
    }
}
