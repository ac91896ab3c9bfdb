//! What a step asserts about a response (`expect`) and what it takes from it (`extract`):
//! validated forms, and their evaluation against one response.
//!
//! Evaluation is pure (a status, headers, body bytes and a latency in, a verdict out) so the
//! engine calls it and tests exercise it without a network. The body is parsed as JSON at
//! most once per response, and only when a check or an extraction reads a JSON path.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName};

use super::template::{Scope, Template};
use super::units::StatusSet;

/// A step's expectations: the status, then named checks.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Statuses that count as success.
    pub status: StatusSet,
    /// Further assertions, each counted by name when it fails.
    pub checks: Vec<Check>,
}

impl Expect {
    /// Only a status expectation.
    pub fn status(status: StatusSet) -> Self {
        Self {
            status,
            checks: Vec::new(),
        }
    }
}

/// One named assertion.
#[derive(Debug, Clone)]
pub struct Check {
    /// Shown in reports (given by the file, or generated from the assertion).
    pub name: String,
    /// What is asserted.
    pub kind: CheckKind,
    /// `soft: true`: an observation. Its failures are counted like any check's (the checks
    /// lines and panel, the `checks` threshold) but never make the response an error.
    pub soft: bool,
}

/// What a check looks at.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// The latency is at most this.
    Latency(Duration),
    /// The JSON value at a path of the body (or the whole body text, with no path).
    Body(Option<JsonPath>, Test),
    /// A response header.
    Header(HeaderName, Test),
}

/// A test on one value.
#[derive(Debug, Clone)]
pub enum Test {
    /// The value equals this (JSON equality, or equal text).
    Equals(serde_json::Value),
    /// The value is present (`true`) or absent (`false`).
    Exists(bool),
    /// The text contains this (for a JSON array: an element equals it).
    Contains(String),
    /// The text matches.
    Regex(regex_lite::Regex),
    /// `equals: "{{ user_id }}"`: equals the template's text, rendered for each response
    /// with the user's values (a number in the body equals its text).
    EqualsTemplate(Template),
    /// `contains: "{{ name }}"`: contains the template's text, rendered per response.
    ContainsTemplate(Template),
}

/// One value a step takes from its response into a user variable.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// The variable set.
    pub var: String,
    /// Where the value comes from.
    pub source: Source,
}

/// Where an extracted value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The JSON body at a path (`body.items[0].id`).
    Body(JsonPath),
    /// A response header.
    Header(HeaderName),
    /// The first capture group (or the whole match) of a regex over the body.
    Regex(regex_lite::Regex),
    /// The same over a response header (`{ header: location, regex: '([^/]+)$' }`: the id
    /// at the end of a created item's `Location`).
    HeaderRegex(HeaderName, regex_lite::Regex),
    /// The status code.
    Status,
}

/// A path into a JSON document: `body`, `body.id`, `body.items[0].name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl JsonPath {
    /// Parses `body` followed by `.key` and `[index]` segments.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let fail = |why: &str| {
            format!(
                "\"{text}\" is not a body path ({why}); write e.g. body.id or body.items[0].name"
            )
        };
        let rest = text
            .trim()
            .strip_prefix("body")
            .ok_or_else(|| fail("it starts with body"))?;
        let mut segments = Vec::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            match c {
                '.' => {
                    let mut key = String::new();
                    while let Some(&(_, k)) = chars.peek() {
                        if k == '.' || k == '[' {
                            break;
                        }
                        key.push(k);
                        chars.next();
                    }
                    if key.is_empty() || key.contains(char::is_whitespace) {
                        return Err(fail("a key after a dot is empty or has spaces"));
                    }
                    segments.push(Segment::Key(key));
                }
                '[' => {
                    let mut digits = String::new();
                    for (_, d) in chars.by_ref() {
                        if d == ']' {
                            break;
                        }
                        digits.push(d);
                    }
                    let index = digits
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| fail("an index is a whole number in [ ]"))?;
                    segments.push(Segment::Index(index));
                }
                _ => return Err(fail("after body come .key or [index]")),
            }
        }
        Ok(JsonPath {
            text: text.trim().to_string(),
            segments,
        })
    }

    /// The value at this path, if present.
    pub fn find<'v>(&self, root: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        self.segments.iter().try_fold(root, |v, seg| match seg {
            Segment::Key(k) => v.get(k.as_str()),
            Segment::Index(i) => v.get(*i),
        })
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One response, as checks and extractions see it.
pub struct Response<'a> {
    /// The status code.
    pub status: u16,
    /// The headers (empty when the step keeps none).
    pub headers: &'a HeaderMap,
    /// The body (empty when the step keeps none).
    pub body: &'a [u8],
    /// The latency of the exchange.
    pub latency: Duration,
    json: Option<Option<serde_json::Value>>,
}

impl<'a> Response<'a> {
    /// A response to evaluate.
    pub fn new(status: u16, headers: &'a HeaderMap, body: &'a [u8], latency: Duration) -> Self {
        Self {
            status,
            headers,
            body,
            latency,
            json: None,
        }
    }

    /// The body parsed as JSON (once), or `None` if it is not JSON.
    fn json(&mut self) -> Option<&serde_json::Value> {
        let body = self.body;
        self.json
            .get_or_insert_with(|| serde_json::from_slice(body).ok())
            .as_ref()
    }

    fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.body)
    }

    fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Check {
    /// Whether the response passes.
    ///
    /// `scope` gives a templated expectation its values (the user's); a value it lacks
    /// fails the check.
    pub fn passes(&self, r: &mut Response<'_>, scope: &mut dyn Scope) -> bool {
        match &self.kind {
            CheckKind::Latency(max) => r.latency <= *max,
            CheckKind::Body(None, test) => {
                let Some(test) = test.concrete(scope) else {
                    return false;
                };
                let text = r.text();
                test.on_text(Some(&text))
            }
            CheckKind::Body(Some(path), test) => {
                let Some(test) = test.concrete(scope) else {
                    return false;
                };
                let found = r.json().and_then(|root| path.find(root));
                test.on_json(found)
            }
            CheckKind::Header(name, test) => match test.concrete(scope) {
                Some(test) => test.on_text(r.header(name)),
                None => false,
            },
        }
    }
}

impl Test {
    /// The test with its template rendered for `scope` (`None`: a value is missing).
    fn concrete(&self, scope: &mut dyn Scope) -> Option<std::borrow::Cow<'_, Test>> {
        use std::borrow::Cow;
        match self {
            Test::EqualsTemplate(t) => {
                let text = t.render(scope).ok()?;
                Some(Cow::Owned(Test::Equals(serde_json::Value::String(text))))
            }
            Test::ContainsTemplate(t) => Some(Cow::Owned(Test::Contains(t.render(scope).ok()?))),
            plain => Some(Cow::Borrowed(plain)),
        }
    }

    fn on_text(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Test::Exists(want), v) => v.is_some() == *want,
            (_, None) => false,
            (Test::Equals(expected), Some(v)) => text_of(expected) == v,
            (Test::Contains(needle), Some(v)) => v.contains(needle.as_str()),
            (Test::Regex(re), Some(v)) => re.is_match(v),
            // Rendered by `concrete` before a test is applied.
            (Test::EqualsTemplate(_) | Test::ContainsTemplate(_), Some(_)) => false,
        }
    }

    fn on_json(&self, value: Option<&serde_json::Value>) -> bool {
        match (self, value) {
            (Test::Exists(want), v) => v.is_some() == *want,
            (_, None) => false,
            (Test::Equals(expected), Some(v)) => v == expected || text_of(v) == text_of(expected),
            (Test::Contains(needle), Some(serde_json::Value::Array(items))) => {
                items.iter().any(|i| text_of(i) == *needle)
            }
            (Test::Contains(needle), Some(v)) => text_of(v).contains(needle.as_str()),
            (Test::Regex(re), Some(v)) => re.is_match(&text_of(v)),
            (Test::EqualsTemplate(_) | Test::ContainsTemplate(_), Some(_)) => false,
        }
    }
}

impl Source {
    /// The value the response has here, as text (`None`: it has none, or the body is not
    /// JSON for a path; a JSON null is `null`).
    pub fn value(&self, r: &mut Response<'_>) -> Option<String> {
        match self {
            Source::Status => Some(r.status.to_string()),
            Source::Header(name) => r.header(name).map(str::to_string),
            Source::HeaderRegex(name, re) => {
                let caps = re.captures(r.header(name)?)?;
                caps.get(1)
                    .or_else(|| caps.get(0))
                    .map(|m| m.as_str().to_string())
            }
            Source::Regex(re) => {
                let text = r.text();
                let caps = re.captures(&text)?;
                caps.get(1)
                    .or_else(|| caps.get(0))
                    .map(|m| m.as_str().to_string())
            }
            Source::Body(path) => r.json().and_then(|root| path.find(root)).map(text_of),
        }
    }

    /// Whether it reads the body.
    pub fn needs_body(&self) -> bool {
        matches!(self, Source::Body(_) | Source::Regex(_))
    }

    /// Whether it reads the headers.
    pub fn needs_headers(&self) -> bool {
        matches!(self, Source::Header(_) | Source::HeaderRegex(..))
    }
}

impl Extraction {
    /// The extracted text, or why there is none.
    pub fn apply(&self, r: &mut Response<'_>) -> Result<String, String> {
        match &self.source {
            Source::Status => Ok(r.status.to_string()),
            Source::Header(name) => r
                .header(name)
                .map(str::to_string)
                .ok_or_else(|| format!("{}: no header {name} in the response", self.var)),
            Source::HeaderRegex(name, re) => {
                let value = (r.header(name))
                    .ok_or_else(|| format!("{}: no header {name} in the response", self.var))?;
                let caps = re.captures(value).ok_or_else(|| {
                    format!(
                        "{}: /{}/ does not match header {name}",
                        self.var,
                        re.as_str()
                    )
                })?;
                let m = caps.get(1).or_else(|| caps.get(0));
                Ok(m.map_or(String::new(), |m| m.as_str().to_string()))
            }
            Source::Regex(re) => {
                let text = r.text();
                let caps = re.captures(&text).ok_or_else(|| {
                    format!("{}: /{}/ does not match the body", self.var, re.as_str())
                })?;
                let m = caps.get(1).or_else(|| caps.get(0));
                Ok(m.map_or(String::new(), |m| m.as_str().to_string()))
            }
            Source::Body(path) => {
                let var = &self.var;
                let Some(root) = r.json() else {
                    return Err(format!("{var}: the body is not JSON"));
                };
                match path.find(root) {
                    None => Err(format!("{var}: {} is not in the body", path.as_str())),
                    Some(serde_json::Value::Null) => {
                        Err(format!("{var}: {} is null", path.as_str()))
                    }
                    Some(v) => Ok(text_of(v)),
                }
            }
        }
    }

    /// Whether it reads the body.
    pub fn needs_body(&self) -> bool {
        self.source.needs_body()
    }

    /// Whether it reads the headers.
    pub fn needs_headers(&self) -> bool {
        self.source.needs_headers()
    }
}

impl CheckKind {
    /// Whether it reads the body.
    pub fn needs_body(&self) -> bool {
        matches!(self, CheckKind::Body(..))
    }

    /// Whether it reads the headers.
    pub fn needs_headers(&self) -> bool {
        matches!(self, CheckKind::Header(..))
    }
}

/// A JSON value as text: strings without quotes, everything else as compact JSON.
pub fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(t: &str) -> JsonPath {
        JsonPath::parse(t).expect(t)
    }

    #[test]
    fn paths_parse_and_find() {
        let doc = serde_json::json!({"id": 7, "items": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(path("body.id").find(&doc), Some(&serde_json::json!(7)));
        assert_eq!(
            path("body.items[1].name").find(&doc),
            Some(&serde_json::json!("b"))
        );
        assert_eq!(path("body").find(&doc), Some(&doc));
        assert_eq!(path("body.items[5]").find(&doc), None);
        for bad in ["id", "body.", "body.items[x]", "body..a", "bodyx"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extractions_take_the_right_value() {
        let mut headers = HeaderMap::new();
        headers.insert("x-token", "abc".parse().expect("value"));
        headers.insert("location", "/v1/pets/7f3a".parse().expect("value"));
        let body = br#"{"id": 42, "name": "Ada", "tags": ["x"], "gone": null}"#;
        let mut r = Response::new(201, &headers, body, Duration::from_millis(5));
        let ex = |var: &str, source: Source| Extraction {
            var: var.into(),
            source,
        };
        let re = regex_lite::Regex::new(r#""name": "(\w+)""#).expect("regex");
        assert_eq!(
            ex("i", Source::Body(path("body.id"))).apply(&mut r),
            Ok("42".into())
        );
        assert_eq!(
            ex("t", Source::Body(path("body.tags"))).apply(&mut r),
            Ok("[\"x\"]".into())
        );
        assert_eq!(
            ex("h", Source::Header(HeaderName::from_static("x-token"))).apply(&mut r),
            Ok("abc".into())
        );
        assert_eq!(ex("n", Source::Regex(re)).apply(&mut r), Ok("Ada".into()));
        // The id at the end of a Location header; a header that does not match says so.
        let last = regex_lite::Regex::new("([^/]+)$").expect("regex");
        let location = HeaderName::from_static("location");
        let id = ex("p", Source::HeaderRegex(location, last.clone()));
        assert_eq!(id.apply(&mut r), Ok("7f3a".into()));
        let digits = regex_lite::Regex::new("^[0-9]+$").expect("regex");
        let token = ex(
            "d",
            Source::HeaderRegex(HeaderName::from_static("x-token"), digits),
        );
        assert!(
            token
                .apply(&mut r)
                .is_err_and(|e| e.contains("does not match header x-token"))
        );
        assert_eq!(ex("s", Source::Status).apply(&mut r), Ok("201".into()));
        let missing = ex("m", Source::Body(path("body.missing"))).apply(&mut r);
        assert!(missing.is_err_and(|e| e.contains("body.missing is not in the body")));
        assert!(
            ex("g", Source::Body(path("body.gone")))
                .apply(&mut r)
                .is_err()
        );
        let mut not_json = Response::new(200, &headers, b"<html>", Duration::ZERO);
        assert!(
            ex("i", Source::Body(path("body.id")))
                .apply(&mut not_json)
                .is_err()
        );
    }

    #[test]
    fn checks_pass_and_fail() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().expect("value"));
        let body = br#"{"id": 42, "name": "Ada", "tags": ["x", "y"]}"#;
        let mut r = Response::new(200, &headers, body, Duration::from_millis(50));
        let check = |kind: CheckKind| Check {
            name: "c".into(),
            kind,
            soft: false,
        };
        let body_test = |p: &str, t: Test| check(CheckKind::Body(Some(path(p)), t));
        let json = |v: serde_json::Value| Test::Equals(v);
        let re = |p: &str| Test::Regex(regex_lite::Regex::new(p).expect("regex"));
        let passing = [
            check(CheckKind::Latency(Duration::from_millis(50))),
            body_test("body.id", json(serde_json::json!(42))),
            body_test("body.id", json(serde_json::json!("42"))),
            body_test("body.name", Test::Exists(true)),
            body_test("body.nope", Test::Exists(false)),
            body_test("body.tags", Test::Contains("y".into())),
            body_test("body.name", re("^A")),
            check(CheckKind::Body(None, Test::Contains("\"Ada\"".into()))),
            check(CheckKind::Header(
                HeaderName::from_static("content-type"),
                Test::Contains("json".into()),
            )),
        ];
        let mut scope = Vars(
            vec![("id", "42"), ("who", "Ad")],
            fastrand::Rng::with_seed(1),
        );
        let templated = |t: &str| Template::compile(t, &|_| None).expect("template");
        let passing = passing.into_iter().chain([
            body_test("body.id", Test::EqualsTemplate(templated("{{ id }}"))),
            body_test("body.name", Test::ContainsTemplate(templated("{{ who }}a"))),
        ]);
        for c in passing {
            assert!(c.passes(&mut r, &mut scope), "{:?}", c.kind);
        }
        let failing = [
            check(CheckKind::Latency(Duration::from_millis(49))),
            body_test("body.id", json(serde_json::json!(43))),
            body_test("body.nope", Test::Exists(true)),
            body_test("body.tags", Test::Contains("z".into())),
            body_test("body.nope", re(".")),
            check(CheckKind::Header(
                HeaderName::from_static("x-missing"),
                Test::Exists(true),
            )),
            body_test("body.id", Test::EqualsTemplate(templated("{{ who }}"))),
            // A value the user lacks fails the check.
            body_test("body.id", Test::EqualsTemplate(templated("{{ nobody }}"))),
        ];
        for c in &failing {
            assert!(!c.passes(&mut r, &mut scope), "{:?}", c.kind);
        }
    }

    /// Variables only, for templated checks.
    struct Vars(Vec<(&'static str, &'static str)>, fastrand::Rng);

    impl Scope for Vars {
        fn var(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        }
        fn data(&self, _: &str, _: &str) -> Option<&str> {
            None
        }
        fn vu(&self) -> u64 {
            0
        }
        fn iteration(&self) -> u64 {
            0
        }
        fn rng(&mut self) -> &mut fastrand::Rng {
            &mut self.1
        }
    }
}
