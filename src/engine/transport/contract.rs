//! The `Transport` trait (how one request is sent) and its reqwest implementation, kept for
//! what the connection-level transport (`fast`) does not do.
//!
//! The engine sees only the trait, so transports can be swapped without touching the worker
//! loop, and tests can use a fake. A transport never retries: every attempt is one recorded
//! request.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};

use crate::metrics::ErrorClass;

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
/// common case pays nothing for checks and extraction it does not use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    /// Keep the body, up to `max_body` bytes.
    pub body: bool,
    /// Keep the headers.
    pub headers: bool,
    /// The most body bytes kept; the rest is counted, not stored, and the reply says it
    /// was cut.
    pub max_body: usize,
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
}

/// What a response had delivered when it failed: its status and body bytes count.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Progress {
    pub status: Option<u16>,
    pub bytes: u64,
}

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

/// A transport's connections over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// The HTTP version spoken: "1.1" or "2".
    pub http_version: &'static str,
    /// Connections made, reconnections included.
    pub opened: u64,
    /// HTTP/2: how many users share one connection.
    pub streams_per_connection: Option<u32>,
    /// HTTP/2: connections the server ended with GOAWAY(NO_ERROR) (e.g. nginx after
    /// `keepalive_requests`); the requests it refused were sent again, not counted as errors.
    pub graceful_closes: Option<u64>,
}

/// The `User-Agent` every transport sends (unless a step sets its own).
pub const USER_AGENT: &str = concat!("stampede/", env!("CARGO_PKG_VERSION"));

/// Settings for the HTTP client, derived from the plan.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Expected concurrency: the idle pool keeps this many connections per host.
    pub connections: usize,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// How TLS is verified and authenticated.
    pub tls: crate::scenario::Tls,
}

/// The reqwest-based transport.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// Builds a client configured for load testing: pooled keep-alive connections sized to the
    /// load, TCP_NODELAY, no proxy lookup, no redirects and no retries (each would hide or
    /// add requests).
    pub fn new(opts: ClientOptions) -> Result<Self, String> {
        // reqwest is built without a default crypto provider; install ring's once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = super::tls::client_config(&opts.tls, &[b"http/1.1"])?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(USER_AGENT)
            .pool_max_idle_per_host(opts.connections.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            // One request per connection at a time, as a user's browser or client would.
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .connect_timeout(opts.connect_timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))?;
        Ok(Self { client })
    }
}

impl Transport for ReqwestTransport {
    /// reqwest keeps its own pool, shared by every user.
    type Session = ();

    async fn send(&self, _session: &mut (), req: &Prepared) -> Result<Reply, Failure> {
        let mut builder = self
            .client
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone())
            .timeout(req.timeout);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        // Messages leave the URL out: the step names it, and a URL rendered per request may
        // carry a value extracted at run time (a token in a path) that no redactor knows.
        let mut response = builder
            .send()
            .await
            .map_err(|e| classify(&e.without_url(), None))?;
        let status = response.status().as_u16();
        let headers = if req.keep.headers {
            std::mem::take(response.headers_mut())
        } else {
            HeaderMap::new()
        };
        let mut bytes = 0u64;
        // Room for the whole kept body at once: growing by doubling would hold up to twice
        // max_body per user while it copies.
        let room = match (req.keep.body, response.content_length()) {
            (false, _) => 0,
            (true, Some(n)) => usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(req.keep.max_body),
            (true, None) => 0,
        };
        let mut kept = bytes::BytesMut::with_capacity(room);
        // Read chunk by chunk: the size is counted; only a step that reads the body keeps it.
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    let mut failure = classify(&e.without_url(), Some(status));
                    failure.bytes = bytes;
                    return Err(failure);
                }
            };
            bytes += chunk.len() as u64;
            if req.keep.body && kept.len() < req.keep.max_body {
                let room = req.keep.max_body - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
        Ok(Reply {
            status,
            bytes,
            headers,
            cut: req.keep.body && bytes > kept.len() as u64,
            body: kept.freeze(),
        })
    }
}

/// Maps a reqwest error to a class by looking at the flags and the errors in its chain.
/// `status` is set once the response head has arrived: any failure after it, a connection
/// closed early included, is a failure to read the body.
fn classify(e: &reqwest::Error, status: Option<u16>) -> Failure {
    let message = chain(e);
    let io_kind = io_kind(e);
    let class = if e.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) {
        ErrorClass::Timeout
    } else if status.is_some() || e.is_body() || e.is_decode() {
        ErrorClass::Body
    } else if io_kind == Some(std::io::ErrorKind::ConnectionRefused) {
        ErrorClass::ConnectRefused
    } else if has_tls_error(e) || (e.is_connect() && looks_like_tls(&message)) {
        // rustls's own error: a handshake with a plain-HTTP port, a bad certificate, ...
        ErrorClass::Tls
    } else if e.is_connect() {
        ErrorClass::Connect
    } else if matches!(
        io_kind,
        Some(std::io::ErrorKind::ConnectionReset)
            | Some(std::io::ErrorKind::ConnectionAborted)
            | Some(std::io::ErrorKind::BrokenPipe)
            | Some(std::io::ErrorKind::UnexpectedEof)
    ) || message.contains("connection closed")
        || message.contains("IncompleteMessage")
    {
        ErrorClass::Reset
    } else {
        ErrorClass::Request
    };
    Failure {
        class,
        message,
        status,
        bytes: 0,
    }
}

/// Whether a rustls error is in the chain. An `io::Error` hides the error it wraps from
/// `source()`, so each one is opened with `get_ref`.
fn has_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
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

fn looks_like_tls(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("tls") || m.contains("certificate") || m.contains("handshake")
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}

/// The error and its causes, joined with ": " (without repeating the URL reqwest prints).
/// A refused certificate is told in plain words (`tls::describe`).
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
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
        return super::tls::describe(tls);
    }
    match err.downcast_ref::<std::io::Error>() {
        Some(io) => super::tls::describe_io(io),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
