//! Redaction: what stampede prints and writes never carries a secret of the scenario's.
//!
//! Three kinds of secret are hidden wherever text leaves the process (the summary, the JSON,
//! the dashboard, error samples, failure samples (the bytes of a body shown in hex too),
//! error messages):
//! - in URLs, the password of `user:password@`, and query values whose name looks like a
//!   credential (`api_key`, `token`, `password`, `secret`, `sig`, `session`, ...);
//! - the values of credential headers (`authorization`, `cookie`, `set-cookie`,
//!   `proxy-authorization`) and of any header named in `secrets:` or by `--secret`;
//! - the values of variables named in `secrets:` or by `--secret`, wherever they appear, and
//!   the fixed values a scenario gives those headers (`credential_parts`: a server may echo
//!   them in a body).
//!
//! Requests themselves are never changed: this is applied to text on its way out, at the
//! few places where outputs are made (the plan's names, the run's description, error
//! samples once per tick). Depends on nothing else in the crate.

use std::borrow::Cow;

/// What replaces a secret.
pub const MASK: &str = "***";

/// Headers whose values are credentials, whatever the scenario says.
const CREDENTIAL_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Parts of a query parameter's name that mark its value as a credential.
const CREDENTIAL_WORDS: [&str; 9] = [
    "key",
    "token",
    "pass",
    "pwd",
    "secret",
    "sig",
    "session",
    "credential",
    "jwt",
];

/// Whole query parameter names that are credentials (as parts they are too common:
/// `author`, `zipcode`).
const CREDENTIAL_NAMES: [&str; 3] = ["auth", "authorization", "code"];

/// Values shorter than this are not searched for in text: masking every "1" or "ab" would
/// garble outputs without protecting anything.
const SHORTEST_VALUE: usize = 4;

/// Hides secrets in text. Cheap to clone; `Default` hides URL and header credentials only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Header names (lowercase) whose values are hidden, beyond `CREDENTIAL_HEADERS`.
    headers: Vec<String>,
    /// Secret values to hide wherever they appear, longest first.
    values: Vec<String>,
}

impl Redactor {
    /// A redactor for the named secrets: `names` are header or variable names, and
    /// `values` the values those variables are known to have.
    pub fn new(names: &[String], values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= SHORTEST_VALUE)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self {
            headers: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
            values,
        }
    }

    /// Whether the values of header `name` are hidden.
    pub fn hides_header(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        CREDENTIAL_HEADERS.contains(&name.as_str()) || self.headers.contains(&name)
    }

    /// `text` with every secret it holds replaced by `***`.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        let out = match userinfo(&out) {
            Some(hidden) => Cow::Owned(hidden),
            None => out,
        };
        let out = match query(&out) {
            Some(hidden) => Cow::Owned(hidden),
            None => out,
        };
        match self.header_lines(&out) {
            Some(hidden) => Cow::Owned(hidden),
            None => out,
        }
    }

    /// `text` as an owned string with its secrets hidden.
    pub fn owned(&self, text: &str) -> String {
        self.text(text).into_owned()
    }

    /// `bytes` (not text: a body shown in hex) with every byte of each secret value in
    /// them turned into `*`.
    pub fn bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(bytes);
        for value in &self.values {
            let value = value.as_bytes();
            let mut at = 0;
            while let Some(i) = out[at..].windows(value.len()).position(|w| w == value) {
                let start = at + i;
                out.to_mut()[start..start + value.len()].fill(b'*');
                at = start + value.len();
            }
        }
        out
    }

    /// `name: value` (or `name=value`) for a hidden header: the value goes, up to the end of
    /// the line or a closing quote.
    fn header_lines(&self, text: &str) -> Option<String> {
        let lower = text.to_ascii_lowercase();
        let mut cuts: Vec<(usize, usize)> = Vec::new();
        let names = CREDENTIAL_HEADERS
            .iter()
            .copied()
            .chain(self.headers.iter().map(String::as_str));
        for name in names {
            for (at, _) in lower.match_indices(name) {
                let before = lower[..at].chars().next_back();
                // Part of a longer name, or a field path (`headers.authorization: ...` opens
                // a validation message about that field, not its value).
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                    continue;
                }
                let rest = &text[at + name.len()..];
                let sep = rest.len() - rest.trim_start_matches([':', '=', ' ', '"']).len();
                if sep == 0 || !rest[..sep].contains([':', '=']) {
                    continue;
                }
                let start = at + name.len() + sep;
                let len = text[start..]
                    .find(['\n', '"', '\'', ',', '}'])
                    .unwrap_or(text.len() - start);
                if len > 0 && &text[start..start + len] != MASK {
                    cuts.push((start, start + len));
                }
            }
        }
        splice(text, cuts)
    }
}

/// Replaces each `(start, end)` byte range of `text` with the mask; `None` when there is none.
fn splice(text: &str, mut cuts: Vec<(usize, usize)>) -> Option<String> {
    if cuts.is_empty() {
        return None;
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for (start, end) in cuts {
        if start < from {
            continue; // overlaps a range already hidden
        }
        out.push_str(&text[from..start]);
        out.push_str(MASK);
        from = end;
    }
    out.push_str(&text[from..]);
    Some(out)
}

/// The password of every `scheme://user:password@host` in `text`.
fn userinfo(text: &str) -> Option<String> {
    let mut cuts = Vec::new();
    for (at, _) in text.match_indices("://") {
        let start = at + 3;
        let authority_end = text[start..]
            .find(['/', '?', '#', ' ', '"', '\'', '\n', ')'])
            .map_or(text.len(), |i| start + i);
        let authority = &text[start..authority_end];
        if let Some(at_sign) = authority.rfind('@') {
            let info = &authority[..at_sign];
            match info.find(':') {
                Some(colon) => cuts.push((start + colon + 1, start + at_sign)),
                // A user name alone can still be a token (`https://TOKEN@host`).
                None if !info.is_empty() => cuts.push((start, start + at_sign)),
                None => {}
            }
        }
    }
    splice(text, cuts)
}

/// What of a credential header's `value` is hidden wherever it appears: the value, and its
/// last word (the token of `Bearer TOKEN`, the encoded pair of `Basic …`).
pub fn credential_parts(value: &str) -> impl Iterator<Item = String> {
    let last = value.split_whitespace().last().filter(|w| *w != value);
    std::iter::once(value.to_string()).chain(last.map(str::to_string))
}

/// Whether the value of query parameter `name` is a credential (`token`, `api_key`, `auth`...).
pub fn is_credential_query(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    CREDENTIAL_WORDS.iter().any(|w| lower.contains(w)) || CREDENTIAL_NAMES.contains(&lower.as_str())
}

/// The value of every query parameter (`?name=value` or `&name=value`) whose name looks
/// like a credential.
fn query(text: &str) -> Option<String> {
    let mut cuts = Vec::new();
    for (at, _) in text.match_indices(['?', '&']) {
        let rest = &text[at + 1..];
        let Some(eq) = rest.find('=') else { continue };
        let name = &rest[..eq];
        if name.is_empty() || name.contains(['&', '?', ' ', '/', '"', '\n']) {
            continue;
        }
        if !is_credential_query(name) {
            continue;
        }
        let start = at + 1 + eq + 1;
        let len = text[start..]
            .find(['&', '#', ' ', '"', '\'', '\n', ')', ','])
            .unwrap_or(text.len() - start);
        if len > 0 {
            cuts.push((start, start + len));
        }
    }
    splice(text, cuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_and_credential_query_values_are_hidden() {
        let r = Redactor::default();
        assert_eq!(
            r.text("GET http://ann:hunter22@127.0.0.1:80/x?api_key=K123&limit=5&token=T9"),
            "GET http://ann:***@127.0.0.1:80/x?api_key=***&limit=5&token=***"
        );
        assert_eq!(r.text("https://TOKEN@host/"), "https://***@host/");
        assert_eq!(
            r.text("GET /users?Password=p#frag"),
            "GET /users?Password=***#frag"
        );
        assert_eq!(
            r.text("/books?author=ann&code=c1"),
            "/books?author=ann&code=***"
        );
        // Nothing to hide: the text is borrowed as is.
        assert!(matches!(
            r.text("GET /users?limit=20"),
            Cow::Borrowed("GET /users?limit=20")
        ));
    }

    #[test]
    fn credential_headers_and_named_ones_lose_their_values() {
        let r = Redactor::new(&["X-Api-Key".to_string()], Vec::new());
        assert_eq!(
            r.text("sent authorization: Bearer abc.def, x-api-key: k-42\nnext"),
            "sent authorization: ***, x-api-key: ***\nnext"
        );
        assert_eq!(r.text("{\"cookie\": \"sid=9\"}"), "{\"cookie\": \"***\"}");
        assert!(r.hides_header("Set-Cookie"));
        assert!(r.hides_header("x-api-key"));
        assert!(!r.hides_header("accept"));
        // A longer name that merely ends in a credential header's name is left alone.
        assert_eq!(
            r.text("x-authorization-mode: on"),
            "x-authorization-mode: on"
        );
    }

    #[test]
    fn secret_values_are_hidden_wherever_they_appear() {
        let r = Redactor::new(&[], vec!["s3cr3t-value".to_string(), "ab".to_string()]);
        assert_eq!(
            r.text("GET /users/s3cr3t-value/items: 404 (s3cr3t-value)"),
            "GET /users/***/items: 404 (***)"
        );
        // Too short to search for without garbling every output.
        assert_eq!(r.text("tab"), "tab");
        assert_eq!(
            &r.bytes(b"\xffs3cr3t-value\x00s3cr3t-value")[..],
            b"\xff************\x00************"
        );
        assert!(matches!(r.bytes(b"\xffab"), Cow::Borrowed(_)));
        let parts: Vec<String> = credential_parts("Bearer abc.def").collect();
        assert_eq!(parts, vec!["Bearer abc.def", "abc.def"]);
        assert_eq!(credential_parts("k-42").count(), 1);
    }
}
