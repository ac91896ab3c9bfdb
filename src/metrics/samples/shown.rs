//! A step's samples as outputs show them (`Samples`, each a `Sample`): every secret hidden
//! by the run's redactor — credential headers' values masked, URLs, messages, header values
//! and body text redacted as text, a body shown in hex masked byte by byte first — and the
//! body's first `BODY_PREVIEW` bytes as text when they are UTF-8, else as hex.
//!
//! Depends on the store above it (`SampleStore`, `Caught`), `outcome` and `redact`.
//! Invariant: nothing unredacted is ever put in a `Sample`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;

use super::{BODY_PREVIEW, Caught, Group, Phases, SampleStore};
use crate::metrics::outcome::{ErrorClass, ServerTime};
use crate::redact::{MASK, Redactor};

impl SampleStore {
    /// The samples as outputs show them, secrets hidden by `redactor`: failures by group
    /// (classes in their order, then statuses ascending), the latest first in each; then
    /// the slowest successes. `started`: when the run started (a sample's `at` counts from
    /// there).
    pub fn shown(&self, redactor: &Redactor, started: Instant) -> Samples {
        let mut groups: Vec<&(Group, Vec<Caught>)> = self.groups.iter().collect();
        groups.sort_by_key(|(g, _)| *g);
        let failures = groups
            .into_iter()
            .flat_map(|(_, caught)| caught.iter().rev())
            .map(|c| c.shown(redactor, started))
            .collect();
        let slowest = self
            .slowest
            .iter()
            .map(|c| c.shown(redactor, started))
            .collect();
        Samples { failures, slowest }
    }
}

impl Caught {
    /// This sample as outputs show it, secrets hidden by `redactor`.
    pub fn shown(&self, redactor: &Redactor, started: Instant) -> Sample {
        let x = &self.exchange;
        let response = x.response.as_ref();
        Sample {
            class: self.class,
            status: self.status,
            message: redactor.owned(&self.message),
            method: x.method.as_str().to_string(),
            url: x.url.as_deref().map(|u| redactor.owned(u)),
            request_headers: headers(&x.request_headers, redactor),
            response_headers: response
                .and_then(|r| r.headers.as_ref())
                .map(|h| headers(h, redactor)),
            body: response.and_then(|r| Some(preview(r.body.as_ref()?, r.bytes, redactor))),
            server_time: match x.server_time {
                ServerTime::Took(us) => Some(Duration::from_micros(us)),
                ServerTime::Unknown | ServerTime::Invalid => None,
            },
            latency: self.latency,
            at: x.at.saturating_duration_since(started),
            phases: x.phases.clone(),
        }
    }
}

/// A step's samples as outputs show them (redacted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// The latest failures of each group (class, or unexpected status), group by group.
    pub failures: Vec<Sample>,
    /// The slowest successful exchanges, slowest first.
    pub slowest: Vec<Sample>,
}

impl Samples {
    /// The latest failure of `class` (any status), if one was kept.
    pub fn latest(&self, class: ErrorClass) -> Option<&Sample> {
        self.failures
            .iter()
            .filter(|s| s.class == Some(class))
            .max_by_key(|s| s.at)
    }
}

/// One exchange as outputs show it: every secret hidden.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The error class; `None` for a success (one of the slowest).
    pub class: Option<ErrorClass>,
    /// The status, when one arrived.
    pub status: Option<u16>,
    /// Why it failed (empty for a success).
    pub message: String,
    /// The request's method.
    pub method: String,
    /// The URL as sent; `None` when the request could not be built.
    pub url: Option<String>,
    /// The request's headers, as (name, value), credentials as `***`.
    pub request_headers: Vec<(String, String)>,
    /// The response's headers, when the transport kept them.
    pub response_headers: Option<Vec<(String, String)>>,
    /// The first bytes of the response's body, when the transport kept them.
    pub body: Option<BodyPreview>,
    /// The time the server said it spent.
    pub server_time: Option<Duration>,
    /// Its latency.
    pub latency: Duration,
    /// When it ended, from the run's start.
    pub at: Duration,
    /// Phase timings, as its transport saw them (see `Phases`).
    pub phases: Phases,
}

/// The first bytes of a body, as text when they are UTF-8, else as hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPreview {
    /// The text, or the bytes in hex (`7b 22 61`).
    pub text: String,
    /// `text` is hex: the body is not UTF-8.
    pub hex: bool,
    /// Body bytes received in all (more than shown when the body was cut).
    pub bytes: u64,
    /// Only the first part of the body is shown.
    pub cut: bool,
}

/// Headers as (name, value) pairs: a credential header's value hidden, any other's
/// redacted as text.
fn headers(map: &HeaderMap, redactor: &Redactor) -> Vec<(String, String)> {
    map.iter()
        .map(|(name, value)| {
            let name = name.as_str();
            let value = if redactor.hides_header(name) {
                MASK.to_string()
            } else {
                redactor.owned(&String::from_utf8_lossy(value.as_bytes()))
            };
            (name.to_string(), value)
        })
        .collect()
}

/// The first `BODY_PREVIEW` bytes of `body` (of `bytes` in all), redacted: text when they
/// are UTF-8 (a character cut at the end dropped), else hex of the bytes with every secret
/// value masked.
fn preview(body: &Bytes, bytes: u64, redactor: &Redactor) -> BodyPreview {
    let head = &body[..body.len().min(BODY_PREVIEW)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => Some(text),
        // A character cut at the end of the kept bytes: the text before it.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    let cut = bytes > head.len() as u64;
    match text {
        Some(text) => BodyPreview {
            text: redactor.owned(text),
            hex: false,
            bytes,
            cut,
        },
        None => BodyPreview {
            text: hex(&redactor.bytes(head)),
            hex: true,
            bytes,
            cut,
        },
    }
}

/// `bytes` in lowercase hex, a space between bytes.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::samples::Kept;
    use crate::metrics::samples::tests::exchange;
    use reqwest::header::HeaderValue;

    fn failure(class: ErrorClass, status: Option<u16>, at: Instant, n: u64) -> Caught {
        Caught {
            class: Some(class),
            status,
            message: format!("failure {n}"),
            latency: Duration::from_millis(n),
            exchange: exchange(at),
        }
    }

    #[test]
    fn shown_samples_hide_secrets_and_preview_bodies() {
        let t0 = Instant::now();
        let redactor = Redactor::new(&["x-key".to_string()], vec!["hunter22".to_string()]);
        let mut response_headers = HeaderMap::new();
        response_headers.insert("set-cookie", HeaderValue::from_static("sid=hunter22"));
        response_headers.insert("x-key", HeaderValue::from_static("k"));
        response_headers.insert("content-type", HeaderValue::from_static("text/plain"));
        let mut c = failure(ErrorClass::StatusNotExpected, Some(500), t0, 1);
        c.message = "echo hunter22".into();
        c.exchange.response = Some(Kept {
            headers: Some(response_headers),
            body: Some(Bytes::from_static(
                b"{\"error\":\"db down\",\"pw\":\"hunter22\"}",
            )),
            bytes: 5000,
        });
        let s = c.shown(&redactor, t0);
        assert_eq!(s.url.as_deref(), Some("http://u:***@h/x?token=***&n=1"));
        assert_eq!(s.message, "echo ***");
        assert_eq!(
            s.request_headers,
            vec![
                ("authorization".to_string(), "***".to_string()),
                ("accept".to_string(), "application/json".to_string())
            ]
        );
        let response = s.response_headers.expect("kept");
        assert!(response.contains(&("set-cookie".to_string(), "***".to_string())));
        assert!(response.contains(&("x-key".to_string(), "***".to_string())));
        let body = s.body.expect("kept");
        assert_eq!(body.text, "{\"error\":\"db down\",\"pw\":\"***\"}");
        assert!(!body.hex && body.cut && body.bytes == 5000);
        // Not UTF-8: hex, the secret's bytes masked first.
        let mut raw = vec![0xff, 0xfe];
        raw.extend_from_slice(b"hunter22");
        c.exchange.response = Some(Kept {
            headers: None,
            body: Some(Bytes::from(raw)),
            bytes: 10,
        });
        let s = c.shown(&redactor, t0);
        let body = s.body.expect("kept");
        assert!(body.hex && !body.cut);
        assert_eq!(body.text, "ff fe 2a 2a 2a 2a 2a 2a 2a 2a");
        assert!(s.response_headers.is_none(), "not kept is not empty");
    }

    #[test]
    fn a_character_cut_at_the_preview_end_is_still_text() {
        let mut body = "a".repeat(BODY_PREVIEW - 1).into_bytes();
        body.extend_from_slice("é".as_bytes());
        let p = preview(&Bytes::from(body), 4096, &Redactor::default());
        assert!(!p.hex && p.cut);
        assert_eq!(p.text.len(), BODY_PREVIEW - 1);
    }
}
