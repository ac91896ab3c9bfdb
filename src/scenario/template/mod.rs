//! `{{ ... }}` in scenario strings.
//!
//! Two layers: `substitute_env` resolves `{{ env.NAME }}` once, where a value must be fixed
//! at load time (the target, data file names), and `Template` (`compile`, `render`) compiles
//! full templates — variables, data columns and functions — once, to render cheaply per
//! request. `JsonTemplate` does the same for JSON bodies, escaping what it renders.

mod compile;
mod json;
mod render;

pub use compile::{FUNCTIONS, Template, TemplateError, is_name};
pub use json::JsonTemplate;
pub use render::{Missing, Scope};

/// Where environment variables come from (injected so tests do not touch the process env).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Replaces every `{{ env.NAME }}` in `text` (and the forms with a fallback,
/// `{{ env.NAME | default('x') }}` and `{{ env('NAME', 'x') }}`); errors name the first bad
/// expression.
pub fn substitute_env(text: &str, env: EnvLookup<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("\"{{{{\" at \"{}\" is never closed with \"}}}}\"", rest))?;
        let expr = after[..close].trim();
        if expr.contains('|') || expr.starts_with("env(") {
            // The fallback forms: compiled as a template, where they are resolved now.
            let t = Template::compile(&format!("{{{{ {expr} }}}}"), env).map_err(|e| e.message)?;
            out.push_str(t.as_literal().unwrap_or_default());
            rest = &after[close + 2..];
            continue;
        }
        let name = expr.strip_prefix("env.").ok_or_else(|| {
            format!(
                "\"{{{{ {expr} }}}}\" cannot be used here: this value is fixed when the \
                 scenario loads, so only environment variables ({{{{ env.NAME }}}}) work"
            )
        })?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("\"{name}\" is not an environment variable name"));
        }
        let value = env(name).ok_or_else(|| {
            format!(
                "environment variable {name} is not set; export it or remove {{{{ env.{name} }}}}"
            )
        })?;
        out.push_str(&value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "abc".to_string())
    }

    #[test]
    fn substitutes_known_variables() {
        assert_eq!(
            substitute_env("Bearer {{ env.TOKEN }}", &env),
            Ok("Bearer abc".into())
        );
        assert_eq!(
            substitute_env("{{env.TOKEN}}-{{ env.TOKEN }}", &env),
            Ok("abc-abc".into())
        );
        assert_eq!(substitute_env("plain", &env), Ok("plain".into()));
        assert_eq!(
            substitute_env("{{ env.NOPE | default('http://127.0.0.1:8000') }}", &env),
            Ok("http://127.0.0.1:8000".into())
        );
        assert_eq!(
            substitute_env("x{{ env('TOKEN', 'd') }}y", &env),
            Ok("xabcy".into())
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let missing = substitute_env("{{ env.NOPE }}", &env).expect_err("missing");
        assert!(missing.contains("NOPE is not set"), "{missing}");
        let other = substitute_env("{{ user_id }}", &env).expect_err("unsupported");
        assert!(other.contains("user_id"), "{other}");
        assert!(substitute_env("{{ env.TOKEN", &env).is_err());
    }
}
