//! The credentials of a URL run's request, as `--print-scenario` writes them: each secret
//! (a URL password, a credential query value, the value of `Authorization`, `Cookie` or a
//! header named by `--secret`) becomes an `{{ env.NAME }}` reference, and a comment at the
//! top names each variable and what to set it to, never the value. Which names are
//! credentials is the redactor's rule (`crate::redact`), so what outputs hide and what a
//! printed file leaves out are the same set.

use crate::redact::is_credential_query;

/// How `to_yaml` writes the request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// As given: the text a URL run validates and runs, never shown.
    Inline,
    /// As `{{ env.NAME }}` references, each named in a comment: what `--print-scenario`
    /// prints. A printed scenario is meant to be kept, and a secret in it would be kept too.
    FromEnv,
}

/// The environment variables a printed scenario reads its secrets from.
pub(super) struct EnvRefs {
    /// Whether secrets become references (`Credentials::FromEnv`).
    on: bool,
    /// (variable, what to set it to, as a shell word) in the order met.
    vars: Vec<(String, String)>,
}

impl EnvRefs {
    /// No variable yet; references only for `Credentials::FromEnv`.
    pub(super) fn new(credentials: Credentials) -> Self {
        Self {
            on: credentials == Credentials::FromEnv,
            vars: Vec::new(),
        }
    }

    /// `value`, or when printing a reference to a new variable `STAMPEDE_{what}`; `hint`
    /// is the comment's example of what to set it to (never the value itself).
    pub(super) fn hide(&mut self, what: &str, value: &str, hint: String) -> String {
        if !self.on {
            return value.to_string();
        }
        let base: String = format!("STAMPEDE_{what}")
            .chars()
            .map(|c| match c.is_ascii_alphanumeric() {
                true => c.to_ascii_uppercase(),
                false => '_',
            })
            .collect();
        let mut name = base.clone();
        for n in 2.. {
            if !self.vars.iter().any(|(v, _)| *v == name) {
                break;
            }
            name = format!("{base}_{n}");
        }
        self.vars.push((name.clone(), hint));
        format!("{{{{ env.{name} }}}}")
    }

    /// The comment that names each variable, or nothing when there is none.
    pub(super) fn comment(&self) -> String {
        if self.vars.is_empty() {
            return String::new();
        }
        let mut c = String::from(
            "# Its secrets are not written here: it reads them from these variables. Set each to\n\
             # the value you gave on the command line before running it:\n",
        );
        for (name, hint) in &self.vars {
            c.push_str(&format!("#   export {name}={hint}\n"));
        }
        c
    }
}

/// The value of a credential header (`Authorization`, `Cookie`, one named by `--secret`)
/// as a reference. A value that is already a template is kept: the user chose where it
/// comes from. For `Authorization` the scheme word (`Basic`, `Bearer`) is not secret and
/// stays in the hint.
pub(super) fn header_value(name: &str, value: &str, refs: &mut EnvRefs) -> String {
    if value.contains("{{") {
        return value.to_string();
    }
    let authorization = name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("proxy-authorization");
    let scheme = value
        .split_once(' ')
        .map(|(s, _)| s)
        .filter(|s| authorization && !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()));
    let hint = match scheme {
        Some(s) if s.eq_ignore_ascii_case("basic") => {
            "\"Basic $(printf %s 'user:password' | base64)\"".to_string()
        }
        Some(s) => format!("'{s} ...your value...'"),
        None => "'...your value...'".to_string(),
    };
    refs.hide(name, value, hint)
}

/// The target with the password of its `user:password@` (or a user name alone, which can
/// be a token) as a reference.
pub(super) fn target_line(target: &str, refs: &mut EnvRefs) -> String {
    const MARK: &str = "STAMPEDEHIDDEN";
    let Ok(mut url) = reqwest::Url::parse(target) else {
        return target.to_string();
    };
    let (what, secret) = match (url.password(), url.username()) {
        (Some(p), _) => ("URL_PASSWORD", p.to_string()),
        (None, u) if !u.is_empty() => ("URL_USER", u.to_string()),
        _ => return target.to_string(),
    };
    let marked = match what {
        "URL_PASSWORD" => url.set_password(Some(MARK)),
        _ => url.set_username(MARK),
    };
    if marked.is_err() || !refs.on {
        return target.to_string();
    }
    let hint = "'...as in the URL, percent-encoded...'".to_string();
    let reference = refs.hide(what, &secret, hint);
    url[..url::Position::BeforePath].replace(MARK, &reference)
}

/// The step's path with each credential query value (`token=`, `api_key=`: the names the
/// redactor hides) as a reference.
pub(super) fn path_line(path: &str, refs: &mut EnvRefs) -> String {
    let Some((before, query)) = path.split_once('?') else {
        return path.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value))
                if !value.is_empty() && !value.contains("{{") && is_credential_query(name) =>
            {
                let hint = "'...as in the URL, percent-encoded...'".to_string();
                format!(
                    "{name}={}",
                    refs.hide(&format!("QUERY_{name}"), value, hint)
                )
            }
            _ => pair.to_string(),
        })
        .collect();
    let mut out = format!("{before}?{}", pairs.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{AdHoc, to_yaml, with_defaults};
    use super::*;
    use crate::scenario::Overrides;

    #[test]
    fn printed_credentials_become_environment_references() {
        let a = AdHoc {
            url: "http://bob:pw0rd@127.0.0.1:8000/x?token=t0k3n&limit=5".into(),
            method: "GET".into(),
            headers: vec![
                ("Authorization".into(), "Basic Ym9iOnBhc3M=".into()),
                ("Cookie".into(), "sid=c00kie".into()),
                ("X-Api-Key".into(), "k3y-value".into()),
                ("Authorization".into(), "Bearer {{ env.TOKEN }}".into()),
            ],
            ..AdHoc::default()
        };
        let ov = with_defaults(&Overrides {
            secrets: vec!["X-Api-Key".into()],
            ..Overrides::default()
        });
        let y = to_yaml(&a, &ov, Credentials::FromEnv).expect("yaml");
        for secret in ["pw0rd", "t0k3n", "Ym9iOnBhc3M", "c00kie", "k3y-value"] {
            assert!(!y.contains(secret), "{secret} printed in\n{y}");
        }
        for line in [
            "#   export STAMPEDE_URL_PASSWORD='...as in the URL, percent-encoded...'",
            "#   export STAMPEDE_QUERY_TOKEN='...as in the URL, percent-encoded...'",
            "#   export STAMPEDE_AUTHORIZATION=\"Basic $(printf %s 'user:password' | base64)\"",
            "#   export STAMPEDE_COOKIE='...your value...'",
            "#   export STAMPEDE_X_API_KEY='...your value...'",
            "target: \"http://bob:{{ env.STAMPEDE_URL_PASSWORD }}@127.0.0.1:8000\"",
            "        url: \"/x?token={{ env.STAMPEDE_QUERY_TOKEN }}&limit=5\"",
            "          \"Authorization\": \"{{ env.STAMPEDE_AUTHORIZATION }}\"",
            "          \"Authorization\": \"Bearer {{ env.TOKEN }}\"",
            "secrets: [\"X-Api-Key\"]",
        ] {
            assert!(y.lines().any(|l| l == line), "no line {line:?} in\n{y}");
        }
        // The run's own text keeps the values (it is never shown).
        let inline = to_yaml(&a, &ov, Credentials::Inline).expect("yaml");
        assert!(inline.contains("pw0rd") && inline.contains("t0k3n") && inline.contains("c00kie"));
        assert!(!inline.contains("env.STAMPEDE_"), "{inline}");
    }
}
