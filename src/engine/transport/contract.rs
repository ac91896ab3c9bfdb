//! The contract between the engine and a transport: the `Transport` trait (how one
//! request is sent and its whole response read), what it is given (`Prepared`, with its
//! `Wire` encoding and what to `Keep`) and what it gives back (`Reply` with the `Marks` its
//! phases are timed from, or a `Failure`), and the `USER_AGENT` every transport sends.
//!
//! The engine sees only this trait, so transports can be swapped without touching the
//! worker loop, and tests can use a fake. Invariant: a transport never retries; every
//! attempt is one recorded request. Depends on `failure` (the `Failure` type), `metrics`
//! (the `Connections` counts a transport reports, the `ServerTime` a reply says, the
//! `Phases` its marks make, how much body a failure's sample shows) and the scenario's
//! `ServerClock`.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};

use super::failure::Failure;
use crate::metrics::samples::BODY_PREVIEW;
use crate::metrics::{ConnectionUse, Connections, Phases, ServerTime};
use crate::scenario::ServerClock;

/// A request ready to send: everything resolved, nothing left to parse.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// HTTP method.
    pub method: Method,
    /// Full URL.
    pub url: Url,
    /// Headers to send.
    pub headers: HeaderMap,
    /// Body, if any (cheap to clone).
    pub body: Option<Bytes>,
    /// Limit for the whole exchange.
    pub timeout: Duration,
    /// What of the response the step reads (checks, extraction, cookies).
    pub keep: Keep,
    /// The request as bytes on the wire, for a request sent many times (a literal step).
    pub wire: Wire,
    /// Where the response says the server's own time.
    pub clock: ServerClock,
}

/// A transport's encoding of a request, made at its first send and reused by every later
/// one: a literal step's head is encoded once, not per request. Only a request made
/// `Wire::reusable` keeps it. A clone starts with none (a clone is made to be changed, e.g.
/// given a cookie), so a stale encoding can never be sent.
#[derive(Default)]
pub struct Wire {
    reusable: bool,
    bytes: std::sync::OnceLock<Bytes>,
}

impl Wire {
    /// An encoding kept for later sends.
    pub fn reusable() -> Self {
        Self {
            reusable: true,
            bytes: std::sync::OnceLock::new(),
        }
    }

    /// The encoding, if one was kept.
    pub fn get(&self) -> Option<&Bytes> {
        self.bytes.get()
    }

    /// Keeps `encoded` for later sends, if this request is sent again.
    pub fn keep(&self, encoded: &[u8]) {
        if self.reusable {
            let _ = self.bytes.set(Bytes::copy_from_slice(encoded));
        }
    }
}

impl Clone for Wire {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("kept", &self.bytes.get().map(Bytes::len))
            .finish()
    }
}

/// Which parts of a response to keep; a step that reads neither keeps nothing, so the
/// common case pays nothing for checks and extraction it does not use. A response whose
/// status the step does not accept (a failure) keeps its headers and the first bytes of
/// its body for the failure's sample: a transport asks `for_status` once the status is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    /// Keep the body, up to `max_body` bytes.
    pub body: bool,
    /// Keep the headers.
    pub headers: bool,
    /// The most body bytes kept; the rest is counted, not stored, and the reply says it
    /// was cut.
    pub max_body: usize,
    /// The statuses the step accepts.
    pub accepted: Accepted,
}

impl Keep {
    /// What to keep of a response with `status`: what the step keeps, and for a status it
    /// does not accept, the headers and (if the step keeps no body) the first
    /// `BODY_PREVIEW` bytes of the body too. A bit test: the hot path pays nothing more.
    #[inline]
    pub fn for_status(self, status: u16) -> Keep {
        if self.accepted.accepts(status) {
            return self;
        }
        Keep {
            body: true,
            headers: true,
            max_body: if self.body {
                self.max_body
            } else {
                BODY_PREVIEW
            },
            accepted: self.accepted,
        }
    }
}

/// The statuses a step accepts, a bit per code below 640 (every HTTP status), so that a
/// transport can tell a failing status without the step's `StatusSet` (a list, not `Copy`).
/// `Default` accepts every status: nothing more is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    bits: [u64; 10],
    /// Whether a code past the bits is accepted.
    rest: bool,
}

impl Default for Accepted {
    fn default() -> Self {
        Self::ALL
    }
}

impl Accepted {
    /// Every status.
    pub const ALL: Accepted = Accepted {
        bits: [u64::MAX; 10],
        rest: true,
    };

    /// The statuses `accepts` says yes to (asked once per code below 640; a code past
    /// them is not accepted).
    pub fn of(accepts: impl Fn(u16) -> bool) -> Self {
        let mut bits = [0u64; 10];
        for code in 0..640u16 {
            if accepts(code) {
                bits[usize::from(code / 64)] |= 1 << (code % 64);
            }
        }
        Self { bits, rest: false }
    }

    /// Whether `status` is accepted.
    #[inline]
    pub fn accepts(self, status: u16) -> bool {
        match self.bits.get(usize::from(status / 64)) {
            Some(word) => word >> (status % 64) & 1 == 1,
            None => self.rest,
        }
    }
}

/// A complete response: status and body size, and the parts the request asked to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body bytes received.
    pub bytes: u64,
    /// The headers, if kept (otherwise empty).
    pub headers: HeaderMap,
    /// The body, if kept (otherwise empty).
    pub body: Bytes,
    /// The kept body is only the first `max_body` bytes of a longer one.
    pub cut: bool,
    /// The time the server says it spent (read as the request's `clock` says).
    pub server_time: ServerTime,
    /// Its connection, and the instants its phases are timed from.
    pub marks: Marks,
}

/// What a transport saw of an exchange's course: its connection, and instants on the
/// engine's clock (`engine::clock`, the one the executor times requests with), from which
/// the executor makes its `Phases` with the send and end it has read anyway. So a transport
/// reads the clock only where a phase ends inside it (two reads per request on HTTP/1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// Kept, or new with what making it took.
    pub connection: ConnectionUse,
    /// A new connection was ready (TCP, tunnel and TLS done): its request's write counts
    /// from here.
    pub ready: Option<Instant>,
    /// The request was written (HTTP/1.1: its last byte handed to the socket).
    pub written: Option<Instant>,
    /// The request was handed to its connection, whose write is not seen (HTTP/2): the
    /// wait for the first byte counts from here, and there is no write phase.
    pub handed: Option<Instant>,
    /// The response's first byte arrived (HTTP/2 and reqwest: its head).
    pub first_byte: Option<Instant>,
}

impl Marks {
    /// The phases of an exchange sent at `sent` that ended at `end`: the write from the new
    /// connection's readiness (or the send), the time to first byte from the write (or the
    /// hand-over, or else the same start), the download from the first byte to the end.
    /// A phase whose instant the transport did not see is left out, never made up.
    pub fn phases(&self, sent: Instant, end: Instant) -> Phases {
        let start = self.ready.unwrap_or(sent);
        let asked = self.written.or(self.handed).unwrap_or(start);
        Phases {
            connection: self.connection,
            write: self.written.map(|w| w.saturating_duration_since(start)),
            ttfb: self.first_byte.map(|f| f.saturating_duration_since(asked)),
            download: self.first_byte.map(|f| end.saturating_duration_since(f)),
        }
    }
}

/// Sends one request and reads the whole response.
///
/// Each virtual user (or open-model slot) owns a `Session`: the connection it keeps alive
/// across its requests, with its buffers. The transport itself is shared and holds only
/// settings, so the hot path takes no shared lock.
pub trait Transport: Send + Sync + 'static {
    /// A user's own state: its connection and buffers (nothing, for a pooled client).
    type Session: Default + Send + 'static;

    /// Performs the exchange on `session`. Must not retry, and must respect `req.timeout`.
    fn send(
        &self,
        session: &mut Self::Session,
        req: &Prepared,
    ) -> impl Future<Output = Result<Reply, Failure>> + Send;

    /// What the transport knows of its connections, for the result (`None`: nothing,
    /// e.g. a pooled client that does not say).
    fn connections(&self) -> Option<Connections> {
        None
    }
}

/// The `User-Agent` every transport sends (unless a step sets its own).
pub const USER_AGENT: &str = concat!("stampede/", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Dial;

    #[test]
    fn phases_are_timed_between_the_marks_a_transport_saw() {
        let sent = Instant::now();
        let at = |ms: u64| sent + Duration::from_millis(ms);
        let ms = |n: u64| Some(Duration::from_millis(n));
        // HTTP/1.1 on a new connection: ready at 5, written at 6, first byte at 36, end 40.
        let new = ConnectionUse::New {
            dial: Dial {
                dns: None,
                connect: Duration::from_millis(5),
                tls: None,
            },
            reconnect: false,
        };
        let http1 = Marks {
            connection: new,
            ready: Some(at(5)),
            written: Some(at(6)),
            handed: None,
            first_byte: Some(at(36)),
        };
        let phases = http1.phases(sent, at(40));
        assert_eq!(phases.connection, new);
        assert_eq!(
            (phases.write, phases.ttfb, phases.download),
            (ms(1), ms(30), ms(4))
        );
        // On a kept connection the write counts from the send.
        let kept = Marks {
            connection: ConnectionUse::Reused,
            ready: None,
            ..http1
        };
        assert_eq!(kept.phases(sent, at(40)).write, ms(6));
        // HTTP/2: no write seen; the wait counts from the hand-over.
        let h2 = Marks {
            written: None,
            handed: Some(at(2)),
            ..kept
        };
        let phases = h2.phases(sent, at(40));
        assert_eq!(
            (phases.write, phases.ttfb, phases.download),
            (None, ms(34), ms(4))
        );
        // reqwest: only the head's arrival; the wait counts from the send.
        let pooled = Marks {
            connection: ConnectionUse::Unknown,
            first_byte: Some(at(20)),
            ..Marks::default()
        };
        let phases = pooled.phases(sent, at(40));
        assert_eq!(
            (phases.write, phases.ttfb, phases.download),
            (None, ms(20), ms(20))
        );
        // Nothing seen, nothing recorded.
        assert_eq!(Marks::default().phases(sent, at(40)), Phases::default());
    }

    #[test]
    fn a_failing_status_keeps_headers_and_a_preview_of_the_body() {
        let step = Keep {
            accepted: Accepted::of(|s| (200..300).contains(&s)),
            ..Keep::default()
        };
        assert_eq!(
            step.for_status(204),
            step,
            "an accepted status keeps what the step keeps"
        );
        let failing = step.for_status(503);
        assert!(failing.headers && failing.body);
        assert_eq!(failing.max_body, BODY_PREVIEW);
        assert!(!step.accepted.accepts(999) && !step.accepted.accepts(0));
        // A step that keeps its body keeps it as it says.
        let reading = Keep {
            body: true,
            max_body: 100,
            ..step
        };
        assert_eq!(reading.for_status(500).max_body, 100);
        assert_eq!(Keep::default().for_status(500), Keep::default());
    }

    #[test]
    fn only_a_reusable_request_keeps_its_encoding_and_a_clone_never_carries_it() {
        let once = Wire::default();
        once.keep(b"GET / HTTP/1.1\r\n\r\n");
        assert!(once.get().is_none(), "a one-off request keeps nothing");
        let literal = Wire::reusable();
        literal.keep(b"GET /a HTTP/1.1\r\n\r\n");
        literal.keep(b"GET /b HTTP/1.1\r\n\r\n");
        assert_eq!(
            literal.get().map(|b| &b[..]),
            Some(&b"GET /a HTTP/1.1\r\n\r\n"[..])
        );
        // A clone is made to be changed (a cookie added): it must encode itself anew.
        let changed = literal.clone();
        assert!(changed.get().is_none());
        changed.keep(b"GET /c HTTP/1.1\r\n\r\n");
        assert!(changed.get().is_none());
    }
}
