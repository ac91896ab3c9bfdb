//! The correlation of a recording: what each response produced (`learn`), and each
//! request's values as templates of it (`step`), or as recorded with a warning when they
//! look like ids or tokens no response had; credentials from the environment.

use serde_json::{Map, Value};

use super::{DROPPED, Entry};
use crate::convert::openapi::clean;
use crate::convert::yaml::Step;
use crate::yaml_text::quoted;

/// What earlier responses produced, and what became of the requests' values.
#[derive(Default)]
pub(super) struct Correlator {
    /// (value, variable, step index, source) of every value seen in a response so far.
    seen: Vec<(String, String, usize, String)>,
    /// Variables taken so far, and where each is extracted.
    used: Vec<(String, usize)>,
    /// New extractions to add to earlier steps: (step, variable, source as written).
    pub(super) extractions: Vec<(usize, String, String)>,
    pub(super) notes: Vec<String>,
    pub(super) warnings: Vec<String>,
    /// The names of the cookies earlier responses set (the cookie jar sends those).
    set_cookies: Vec<String>,
}

impl Correlator {
    /// The values a response holds that a later request may send.
    pub(super) fn learn(&mut self, e: &Entry, at: usize) {
        if let Some(json) = &e.response_json {
            let mut leaves = Vec::new();
            walk(json, "body".into(), &mut leaves);
            for (path, value) in leaves {
                let key = path
                    .rsplit(['.', '['])
                    .next()
                    .unwrap_or("value")
                    .trim_end_matches(']')
                    .to_string();
                self.offer(value, &key, at, quoted(&path));
            }
        }
        for (name, value) in &e.response_headers {
            let lower = name.to_ascii_lowercase();
            if lower == "set-cookie" {
                if let Some((cookie, _)) = value.split_once('=') {
                    self.set_cookies.push(cookie.trim().to_string());
                }
            } else if lower == "location" {
                if let Some(last) = value.trim_end_matches('/').rsplit('/').next() {
                    let from = format!(
                        "{{ header: \"location\", regex: {} }}",
                        quoted("([^/?#]+)/?$")
                    );
                    self.offer(last.to_string(), "location_id", at, from);
                }
            } else if (lower.contains("token") || lower.contains("csrf"))
                && clean::header(&lower).is_some()
            {
                self.offer(
                    value.clone(),
                    &lower.replace('-', "_"),
                    at,
                    quoted(&format!("header.{lower}")),
                );
            }
        }
    }

    fn offer(&mut self, value: String, key: &str, at: usize, source: String) {
        if worth_correlating(&value) && !self.seen.iter().any(|(v, ..)| *v == value) {
            self.seen.push((value, key.to_string(), at, source));
        }
    }

    /// The variable that holds `value`, extracted where it was first seen; `None` when no
    /// earlier response had it.
    fn variable(&mut self, value: &str) -> Option<String> {
        let bound = self
            .seen
            .iter()
            .find(|(v, _, at, _)| v == value && *at == usize::MAX);
        if let Some((_, var, ..)) = bound {
            return Some(var.clone());
        }
        let (_, key, at, source) = self.seen.iter().find(|(v, ..)| v == value)?.clone();
        let base = clean::identifier(&key, false);
        let base = match base.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            true => base,
            false => format!("v_{base}"),
        };
        let mut var = base.clone();
        let mut n = 2;
        while self.used.iter().any(|(v, _)| *v == var) {
            var = format!("{base}{n}");
            n += 1;
        }
        self.used.push((var.clone(), at));
        self.extractions.push((at, var.clone(), source));
        // Later uses of the same value read the same variable.
        self.seen.retain(|(v, ..)| v != value);
        self.seen
            .push((value.to_string(), var.clone(), usize::MAX, String::new()));
        Some(var)
    }

    /// A recorded value as a template: the variable of an earlier response's value, or the
    /// value itself (with a warning when it looks like an id or a token).
    fn value(&mut self, value: &str, place: &str) -> String {
        if worth_correlating(value)
            && let Some(var) = self.variable(value)
        {
            return format!("{{{{ {var} }}}}");
        }
        if looks_like_an_id(value) {
            self.warnings.push(format!(
                "{place}: \"{value}\" is replayed as recorded: no earlier response had it"
            ));
        }
        literal_text(value)
    }

    /// The step that sends `e` (the `at`-th kept request).
    pub(super) fn step(&mut self, e: &Entry, at: usize, before: &[Step]) -> Step {
        let label = format!("{} {}", e.method.to_uppercase(), e.url.path());
        let place = |what: &str| format!("step {} ({label}), {what}", at + 1);
        let segments: Vec<String> = (e.url.path().split('/'))
            .map(|s| {
                let decoded = percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .to_string();
                let v = self.value(&decoded, &place("path"));
                if v.starts_with("{{") {
                    v
                } else {
                    clean::encoded(&decoded)
                }
            })
            .collect();
        let mut url = segments.join("/");
        if !url.starts_with('/') {
            url.insert(0, '/');
        }
        // Named by what it sends: `GET /users/{id}` once the recorded id is a variable.
        let sent = url.replace("{{ ", "{").replace(" }}", "}");
        let shown = format!("{} {sent}", e.method.to_uppercase());
        let mut step = Step::new(
            unique(before, &clean::name(&shown, "request")),
            &e.method,
            url,
        );
        step.comment = clean::name(&format!("{} {}", e.method.to_uppercase(), e.url), &label);
        for (k, v) in e.url.query_pairs() {
            if clean::literal(&Value::String(k.to_string())) {
                let value = self.value(&v, &place(&format!("query {k}")));
                step.query.insert(k.to_string(), Value::String(value));
            }
        }
        if let Some(cookies) = self.recorded_cookies(e) {
            step.headers.push(("cookie".into(), cookies));
        }
        for (name, value) in &e.headers {
            let lower = name.to_ascii_lowercase();
            if lower.starts_with(':')
                || lower.starts_with("sec-")
                || DROPPED.contains(&lower.as_str())
                || lower == "content-type"
            {
                continue;
            }
            let Some(header) = clean::header(&lower) else {
                continue;
            };
            // A header carries no control characters (a recorder may have kept a line break).
            let value: String = value
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let value = self.header_value(&header, &value, &place(&format!("header {header}")));
            // A header given twice (in two cases) is sent once, as first recorded.
            if !step.headers.iter().any(|(h, _)| *h == header) {
                step.headers.push((header, value));
            }
        }
        if let Some((mime, text, params)) = &e.post {
            self.body(&mut step, (mime, text, params), &place("body"));
        }
        step.status = (e.status >= 100).then(|| e.status.to_string());
        step
    }

    /// A header's value: correlated where an earlier response had it (whole, or after
    /// `Bearer `); a credential that is not becomes an environment reference.
    fn header_value(&mut self, header: &str, value: &str, place: &str) -> String {
        let (prefix, rest) = match value.split_once(' ') {
            Some((scheme, token)) if header == "authorization" => {
                let scheme: String = scheme.chars().filter(|c| !matches!(c, '{' | '}')).collect();
                (format!("{scheme} "), token.to_string())
            }
            _ => (String::new(), value.to_string()),
        };
        if let Some(var) = self.variable(&rest).filter(|_| worth_correlating(&rest)) {
            return format!("{prefix}{{{{ {var} }}}}");
        }
        if header == "authorization" {
            self.note_env("HAR_TOKEN", "the recorded authorization");
            return format!("{prefix}{{{{ env.HAR_TOKEN | default('') }}}}");
        }
        if looks_like_an_id(&rest) {
            self.warnings.push(format!(
                "{place}: \"{rest}\" is replayed as recorded: no earlier response had it"
            ));
        }
        literal_text(value)
    }

    /// The cookies a request sent that no earlier response set (the session was logged in
    /// before the recording began), each read from `HAR_COOKIE_NAME`: the jar cannot have
    /// them, and their values are credentials, never written. `None` when there are none.
    fn recorded_cookies(&mut self, e: &Entry) -> Option<String> {
        let sent = (e.headers.iter())
            .filter(|(name, _)| name.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, value)| value.split(';'));
        let mut pairs: Vec<String> = Vec::new();
        for pair in sent {
            let Some((name, _)) = pair.split_once('=') else {
                continue;
            };
            let name = name.trim();
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty()
                || !name.chars().all(token)
                || self.set_cookies.iter().any(|n| n == name)
            {
                continue;
            }
            let var = format!("HAR_COOKIE_{}", clean::identifier(name, true));
            self.note_env(&var, &format!("the recorded session's cookie {name}"));
            let pair = format!("{name}={{{{ env.{var} | default('') }}}}");
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn note_env(&mut self, var: &str, what: &str) {
        let note = format!("{var} (environment): {what}, never written here.");
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The request's body: JSON, a form, or text, its values correlated and its passwords
    /// read from the environment.
    fn body(
        &mut self,
        step: &mut Step,
        (mime, text, params): (&str, &str, &[(String, String)]),
        place: &str,
    ) {
        if mime.contains("json")
            && let Ok(json) = serde_json::from_str::<Value>(text)
        {
            step.json = Some(self.json(json, place, ""));
        } else if mime.contains("x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> = match params.is_empty() {
                true => form_urlencoded::parse(text.as_bytes())
                    .into_owned()
                    .collect(),
                false => params.to_vec(),
            };
            for (k, v) in pairs {
                if !clean::literal(&Value::String(k.clone())) {
                    continue;
                }
                let value = match is_secret(&k) {
                    true => self.secret(),
                    false => self.value(&v, place),
                };
                step.form.push((k, value));
            }
        } else if !text.is_empty() {
            step.body = Some(literal_text(text));
        }
    }

    fn secret(&mut self) -> String {
        self.note_env("HAR_PASSWORD", "the recorded password");
        "{{ env.HAR_PASSWORD | default('') }}".into()
    }

    fn json(&mut self, v: Value, place: &str, key: &str) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                (map.into_iter())
                    .filter(|(k, _)| clean::literal(&Value::String(k.clone())))
                    .map(|(k, v)| {
                        let value = self.json(v, place, &k);
                        (k, value)
                    })
                    .collect::<Map<_, _>>(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|i| self.json(i, place, key))
                    .collect(),
            ),
            Value::String(_) if is_secret(key) => Value::String(self.secret()),
            Value::String(s) => Value::String(self.value(&s, place)),
            Value::Number(n) => {
                let text = n.to_string();
                let v = self.value(&text, place);
                if v.starts_with("{{") {
                    Value::String(v)
                } else {
                    Value::Number(n)
                }
            }
            other => other,
        }
    }
}

/// A step name not yet taken by `before`.
fn unique(before: &[Step], name: &str) -> String {
    let mut out = name.to_string();
    let mut n = 2;
    while before.iter().any(|s| s.name == out) {
        out = format!("{name} ({n})");
        n += 1;
    }
    out
}

/// A body, header or query value sent as it was: a space between two braces, so nothing
/// in it reads as a template.
fn literal_text(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut last = ' ';
    for c in v.chars() {
        if matches!(c, '{' | '}') && c == last {
            out.push(' ');
        }
        out.push(c);
        last = c;
    }
    out
}

/// Whether a key names a secret (`password`, `passwd`, `secret`).
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("passwd") || k.contains("secret") || k == "pwd"
}

/// A value long or particular enough that finding it again is no coincidence: text of 4
/// characters or more that is not a plain word, or a number of 2 digits or more.
fn worth_correlating(v: &str) -> bool {
    let v = v.trim();
    if v.len() > 512 || v.contains("{{") || v.contains("}}") {
        return false;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v.len() >= 2;
    }
    v.len() >= 4
        && v.bytes()
            .any(|b| b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
        && !v.contains(' ')
}

/// An id or a token by its look: a UUID, long hex, a long number, a JWT.
fn looks_like_an_id(v: &str) -> bool {
    let hex = v.len() >= 16 && v.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let number = v.len() >= 5 && v.bytes().all(|b| b.is_ascii_digit());
    let jwt = v.split('.').count() == 3 && v.len() >= 20 && v.starts_with("ey");
    hex || number || jwt
}

/// Every scalar leaf of a JSON value with its path (`body.items[0].id`).
fn walk(v: &Value, path: String, out: &mut Vec<(String, String)>) {
    if out.len() > 10_000 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let simple =
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if simple {
                    walk(child, format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate().take(100) {
                walk(child, format!("{path}[{i}]"), out);
            }
        }
        Value::String(s) => out.push((path, s.clone())),
        Value::Number(n) => out.push((path, n.to_string())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tokens_are_told_from_words() {
        assert!(
            worth_correlating("187")
                && worth_correlating("t1a2b3c4")
                && worth_correlating("a-b_c.d")
        );
        assert!(
            !worth_correlating("7")
                && !worth_correlating("Ada")
                && !worth_correlating("hello world 1")
        );
        assert!(looks_like_an_id("5f0c1d2e3a4b5c6d7e8f") && looks_like_an_id("123456"));
        assert!(!looks_like_an_id("Ada") && !looks_like_an_id("1234"));
        assert_eq!(literal_text("a{{b}}c{{{"), "a{ {b} }c{ { {");
        assert!(is_secret("Password") && is_secret("client_secret") && !is_secret("user"));
    }
}
