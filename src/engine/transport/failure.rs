//! How an exchange fails, the same for every transport: the `Failure` it ends with, the
//! `Progress` a response had made when it failed, the one timeout message, and the one
//! order in which evidence decides an error class (`Signs::class`).
//!
//! Each transport reads its own library's error (reqwest's, hyper's, an `io::Error`) into
//! `Signs`; which class wins when several signs show is decided here only, so a new
//! transport, or a new kind of evidence, changes the classification in one place. The
//! helpers that walk an error's chain (`chain`, `io_kind`, `has_tls_error`) are here too.
//! Depends on `tls` (a refused certificate in plain words) and `metrics` (error classes,
//! `ConnectionUse`). Invariant: every failure carries what its exchange had got (its
//! connection, the status, body bytes), so a body cut short is counted with its status and
//! a connection made for a request that then failed is counted with its phases.

use std::time::Duration;

use super::tls;
use crate::metrics::{ConnectionUse, ErrorClass};

/// A failed exchange, already classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error class.
    pub class: ErrorClass,
    /// A human-readable message with the cause chain.
    pub message: String,
    /// The status, when the failure came after it (a body cut short).
    pub status: Option<u16>,
    /// Body bytes received before the failure.
    pub bytes: u64,
    /// The connection the request had when it failed (`Unknown` before one was had): a new
    /// one is counted, with what making it took.
    pub connection: ConnectionUse,
}

/// A failure before any response.
pub fn fail(class: ErrorClass, message: String) -> Failure {
    Failure {
        class,
        message,
        status: None,
        bytes: 0,
        connection: ConnectionUse::Unknown,
    }
}

/// What an exchange had got when it failed: its connection, the response's status and its
/// body bytes count.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    /// The connection, once the request has one.
    pub connection: ConnectionUse,
    /// The status, once the response head has arrived.
    pub status: Option<u16>,
    /// Body bytes received so far.
    pub bytes: u64,
}

impl Progress {
    /// A failure of class `class` at this point of the response.
    pub fn fail(&self, class: ErrorClass, message: String) -> Failure {
        Failure {
            class,
            message,
            status: self.status,
            bytes: self.bytes,
            connection: self.connection,
        }
    }

    /// The request's time limit passed at this point of the response: the one timeout
    /// message every transport gives.
    pub fn timed_out(&self, limit: Duration) -> Failure {
        self.fail(
            ErrorClass::Timeout,
            format!("no complete response within {limit:?}"),
        )
    }
}

/// What a transport saw of a failure, in terms every transport shares. Each transport fills
/// in what its library's error tells; `class` decides.
#[derive(Debug, Default, Clone, Copy)]
pub struct Signs {
    /// The request's own time limit passed (or the system's, on a socket).
    pub deadline: bool,
    /// The failure came while reading the body: the response head had arrived.
    pub in_body: bool,
    /// The peer stopped answering (a protocol's keep-alive timed out).
    pub stalled: bool,
    /// HTTP/2: a GOAWAY from the server ended the request (a graceful one only once the
    /// request was refused on every connection it was sent again on).
    pub goaway: bool,
    /// Nothing listens at the address.
    pub refused: bool,
    /// TLS failed: a handshake, a certificate.
    pub tls: bool,
    /// Connecting failed (otherwise).
    pub connect: bool,
    /// The connection or stream was closed or reset.
    pub closed: bool,
}

impl Signs {
    /// The class these signs make, the first that shows in this order: a passed deadline,
    /// then a body cut short (the status is known), a stalled peer, a GOAWAY, a refused
    /// connection, TLS, any other connect failure, a closed connection; else `request`.
    pub fn class(self) -> ErrorClass {
        if self.deadline {
            ErrorClass::Timeout
        } else if self.in_body {
            ErrorClass::Body
        } else if self.stalled {
            ErrorClass::Timeout
        } else if self.goaway {
            ErrorClass::GoAway
        } else if self.refused {
            ErrorClass::ConnectRefused
        } else if self.tls {
            ErrorClass::Tls
        } else if self.connect {
            ErrorClass::Connect
        } else if self.closed {
            ErrorClass::Reset
        } else {
            ErrorClass::Request
        }
    }
}

/// The kind of the first `io::Error` in `e`'s chain.
pub fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}

/// Whether a rustls error is in the chain. An `io::Error` hides the error it wraps from
/// `source()`, so each one is opened with `get_ref`.
pub fn has_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && (inner.is::<rustls::Error>() || has_tls_error(inner))
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// The error and its causes, joined with ": " (without repeating the URL reqwest prints).
/// A refused certificate is told in plain words (`tls::describe`).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![text(e)];
    let mut source = e.source();
    while let Some(err) = source {
        let text = text(err);
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = err.source();
    }
    parts.join(": ")
}

/// One error's text; a rustls error (itself, or inside an `io::Error`) in plain words.
fn text(err: &(dyn std::error::Error + 'static)) -> String {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return tls::describe(tls);
    }
    match err.downcast_ref::<std::io::Error>() {
        Some(io) => tls::describe_io(io),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_sign_in_order_decides_the_class() {
        let none = Signs::default();
        assert_eq!(none.class(), ErrorClass::Request);
        let late_timeout = Signs {
            deadline: true,
            in_body: true,
            ..none
        };
        assert_eq!(late_timeout.class(), ErrorClass::Timeout);
        let stalled_body = Signs {
            in_body: true,
            stalled: true,
            ..none
        };
        assert_eq!(stalled_body.class(), ErrorClass::Body);
        let refused = Signs {
            refused: true,
            connect: true,
            ..none
        };
        assert_eq!(refused.class(), ErrorClass::ConnectRefused);
        let tls = Signs {
            tls: true,
            closed: true,
            ..none
        };
        assert_eq!(tls.class(), ErrorClass::Tls);
    }

    #[test]
    fn a_timeout_keeps_what_the_response_had_delivered() {
        let progress = Progress {
            status: Some(200),
            bytes: 7,
            ..Progress::default()
        };
        let f = progress.timed_out(Duration::from_millis(250));
        assert_eq!(f.class, ErrorClass::Timeout);
        assert_eq!(f.message, "no complete response within 250ms");
        assert_eq!((f.status, f.bytes), (Some(200), 7));
    }
}
