//! How a request ended: a status code, an error class, or interrupted by the stop.
//!
//! Plain values, depending only on `phases` (the types of a request's phases); the engine
//! makes them, `interval` records them.

use serde::Serialize;

use super::phases::{ConnectionUse, Phases};

/// Why a request did not produce an acceptable response. Every failure is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Nothing listens at the address (connection refused).
    ConnectRefused,
    /// Any other failure to connect (unreachable, DNS, too many open files, ...).
    Connect,
    /// The exchange took longer than the step's timeout.
    Timeout,
    /// The connection was reset or closed in the middle of the exchange.
    Reset,
    /// HTTP/2: the server ended the connection with a GOAWAY that carries an error code
    /// (its code is in the sample). A graceful one (NO_ERROR) is not an error: the
    /// requests it refused are sent again.
    GoAway,
    /// The TLS handshake failed.
    Tls,
    /// The status line arrived but reading the body failed.
    Body,
    /// Any other failure to send the request or read the response head.
    Request,
    /// A response arrived with a status the step does not expect.
    StatusNotExpected,
    /// The body passed the step's `max_body`, and a check or extraction needed it whole:
    /// the response is not judged on a part of its body.
    BodyTooLarge,
    /// A value could not be extracted from an expected response.
    Extract,
    /// An expected response failed one of the step's checks.
    Check,
    /// `follow_redirects: N` hops were followed and the answer still redirects (counted
    /// under its 3xx status too), as curl's "maximum redirects followed".
    TooManyRedirects,
    /// The request could not be built: a value it needs is missing, or it renders to an
    /// invalid URL or header. Nothing was sent.
    Render,
}

impl ErrorClass {
    /// Every class, in display order; `index` is the position here.
    pub const ALL: [ErrorClass; 14] = [
        ErrorClass::ConnectRefused,
        ErrorClass::Connect,
        ErrorClass::Timeout,
        ErrorClass::Reset,
        ErrorClass::GoAway,
        ErrorClass::Tls,
        ErrorClass::Body,
        ErrorClass::Request,
        ErrorClass::StatusNotExpected,
        ErrorClass::BodyTooLarge,
        ErrorClass::Extract,
        ErrorClass::Check,
        ErrorClass::TooManyRedirects,
        ErrorClass::Render,
    ];

    /// Whether the class judges a response that arrived (the request itself completed).
    pub fn judges_response(self) -> bool {
        matches!(
            self,
            ErrorClass::StatusNotExpected
                | ErrorClass::BodyTooLarge
                | ErrorClass::Extract
                | ErrorClass::Check
        )
    }

    /// Position in `ALL`, for fixed-size counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::Connect => "connect",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Reset => "reset",
            ErrorClass::GoAway => "goaway",
            ErrorClass::Tls => "tls",
            ErrorClass::Body => "body",
            ErrorClass::Request => "request",
            ErrorClass::StatusNotExpected => "status_not_expected",
            ErrorClass::BodyTooLarge => "body_too_large",
            ErrorClass::Extract => "extract",
            ErrorClass::Check => "check",
            ErrorClass::TooManyRedirects => "too_many_redirects",
            ErrorClass::Render => "render",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The time a server says it spent on a request (its `X-Process-Time` or `Server-Timing`
/// header), as read from the response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerTime {
    /// The response did not say (or the step does not read it).
    #[default]
    Unknown,
    /// It said this many µs (rounded to the nearest).
    Took(u64),
    /// It said something that is not a time: not a number, negative, or too large. Counted
    /// as `server_time_invalid`, never recorded as a value.
    Invalid,
}

/// The end of one request, as the recorder sees it. Cloned only to record it twice: in its
/// step and in its tag value's figures.
#[derive(Debug, Clone)]
pub enum Outcome<'a> {
    /// A response arrived and its body was read.
    Response {
        /// The status code.
        status: u16,
        /// Body bytes received.
        bytes: u64,
        /// `Some(what was expected)` when the status is not accepted by the step.
        unexpected: Option<&'a str>,
        /// An accepted status whose response still failed: `Extract` or `Check`, and why.
        failure: Option<(ErrorClass, String)>,
        /// The step's checks that failed, one bit per check (bit i: check i).
        failed_checks: u64,
        /// The time the server says it spent on the request.
        server: ServerTime,
        /// Its connection and the phases of its exchange.
        phases: Phases,
    },
    /// A redirect that was followed (`follow_redirects`): a complete response, counted as
    /// a request of its step, but not judged (the chain's last answer is).
    Hop {
        /// The 3xx status.
        status: u16,
        /// Body bytes received.
        bytes: u64,
        /// The time the server says it spent on the request.
        server: ServerTime,
        /// Its connection and the phases of its exchange.
        phases: Phases,
    },
    /// The request failed before a complete response.
    Failed {
        /// The kind of failure.
        class: ErrorClass,
        /// The transport's message (kept as a sample for the error panel).
        message: String,
        /// The status, when it arrived before the failure (a body cut short).
        status: Option<u16>,
        /// Body bytes received before the failure.
        bytes: u64,
        /// The connection it had before it failed (a new one is counted, with its phases).
        connection: ConnectionUse,
    },
    /// The run's hard stop cut the request off.
    Interrupted,
}

#[cfg(test)]
impl Outcome<'static> {
    /// A plain 200 with no body, no failed check and no failure: what the recorder's and the
    /// interval's tests record most.
    pub(crate) fn ok() -> Self {
        Outcome::Response {
            status: 200,
            bytes: 0,
            unexpected: None,
            failure: None,
            failed_checks: 0,
            server: ServerTime::Unknown,
            phases: Phases::default(),
        }
    }
}
