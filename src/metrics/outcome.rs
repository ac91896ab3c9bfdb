//! How a request ended: a status code, an error class, or interrupted by the stop.

use serde::Serialize;

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
    /// The TLS handshake failed.
    Tls,
    /// The status line arrived but reading the body failed.
    Body,
    /// Any other failure to send the request or read the response head.
    Request,
    /// A response arrived with a status the step does not expect.
    StatusNotExpected,
}

impl ErrorClass {
    /// Every class, in display order; `index` is the position here.
    pub const ALL: [ErrorClass; 8] = [
        ErrorClass::ConnectRefused,
        ErrorClass::Connect,
        ErrorClass::Timeout,
        ErrorClass::Reset,
        ErrorClass::Tls,
        ErrorClass::Body,
        ErrorClass::Request,
        ErrorClass::StatusNotExpected,
    ];

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
            ErrorClass::Tls => "tls",
            ErrorClass::Body => "body",
            ErrorClass::Request => "request",
            ErrorClass::StatusNotExpected => "status_not_expected",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The end of one request, as the recorder sees it.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// A response arrived and its body was read.
    Response {
        /// The status code.
        status: u16,
        /// Body bytes received.
        bytes: u64,
        /// `Some(what was expected)` when the status is not accepted by the step.
        unexpected: Option<&'a str>,
    },
    /// The request failed before a complete response.
    Failed {
        /// The kind of failure.
        class: ErrorClass,
        /// The transport's message (kept as a sample for the error panel).
        message: String,
    },
    /// The run's hard stop cut the request off.
    Interrupted,
}
