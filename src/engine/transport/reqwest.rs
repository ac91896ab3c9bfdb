//! The reqwest-based transport (`--transport reqwest`): reqwest's pooled client, shared by
//! every user, the alternative to the connection-level `http1`.
//!
//! Settings make it a load tester's client: no proxy lookup, no redirects, no retries (each
//! would hide or add requests). Its errors are read into the shared `Signs` here; the class
//! they make is decided in `failure`. Its phases are the time to first byte (from the send
//! to the head, any connection the pool made included) and the download: the pool does not
//! say whether a connection was new. Depends on `contract`, `failure`, `tls` (the run's
//! rustls configuration), the engine's `clock` and the plan's `Tls`.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::contract::{Keep, Marks, Prepared, Reply, Transport, USER_AGENT};
use super::failure::{Failure, Progress, Signs, chain, has_tls_error, io_kind};
use super::tls;
use crate::engine::clock::now;

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
        let tls = tls::client_config(&opts.tls, &[b"http/1.1"])?;
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
        let builder = self.client.request(req.method.clone(), req.url.clone());
        let mut builder = builder.headers(req.headers.clone()).timeout(req.timeout);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        // Messages leave the URL out: the step names it, and a URL rendered per request may
        // carry a value extracted at run time (a token in a path) that no redactor knows.
        let mut response = builder
            .send()
            .await
            .map_err(|e| classify(&e.without_url(), Progress::default()))?;
        let first_byte = now();
        let status = response.status().as_u16();
        let server_time = super::stamp::read(&req.clock, response.headers());
        let keep = req.keep.for_status(status);
        let headers = if keep.headers {
            std::mem::take(response.headers_mut())
        } else {
            HeaderMap::new()
        };
        let (kept, bytes) = read_body(&mut response, keep, status).await?;
        Ok(Reply {
            status,
            bytes,
            headers,
            cut: keep.body && bytes > kept.len() as u64,
            body: kept.freeze(),
            server_time,
            // The pool does not say whether it made a connection: the head's arrival only.
            marks: Marks {
                first_byte: Some(first_byte),
                ..Marks::default()
            },
        })
    }
}

/// Reads the body of `response` (whose status is `status`) chunk by chunk: its size is
/// counted, and only a step that reads the body keeps it (up to `max_body`).
async fn read_body(
    response: &mut reqwest::Response,
    keep: Keep,
    status: u16,
) -> Result<(bytes::BytesMut, u64), Failure> {
    let mut bytes = 0u64;
    // Room for the whole kept body at once: growing by doubling would hold up to twice
    // max_body per user while it copies.
    let room = match (keep.body, response.content_length()) {
        (false, _) => 0,
        (true, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX).min(keep.max_body),
        (true, None) => 0,
    };
    let mut kept = bytes::BytesMut::with_capacity(room);
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                let progress = Progress {
                    status: Some(status),
                    bytes,
                    ..Progress::default()
                };
                return Err(classify(&e.without_url(), progress));
            }
        };
        bytes += chunk.len() as u64;
        if keep.body && kept.len() < keep.max_body {
            let room = keep.max_body - kept.len();
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    }
    Ok((kept, bytes))
}

/// Maps a reqwest error to a class by the flags and the errors in its chain. Once the
/// response head has arrived (`progress.status`), any failure, a connection closed early
/// included, is a failure to read the body (unless the request's time ran out).
fn classify(e: &reqwest::Error, progress: Progress) -> Failure {
    use std::io::ErrorKind;
    let message = chain(e);
    let io_kind = io_kind(e);
    let signs = Signs {
        deadline: e.is_timeout() || io_kind == Some(ErrorKind::TimedOut),
        in_body: progress.status.is_some() || e.is_body() || e.is_decode(),
        refused: io_kind == Some(ErrorKind::ConnectionRefused),
        // rustls's own error: a handshake with a plain-HTTP port, a bad certificate, ...
        tls: has_tls_error(e) || (e.is_connect() && looks_like_tls(&message)),
        connect: e.is_connect(),
        closed: matches!(
            io_kind,
            Some(
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            )
        ) || message.contains("connection closed")
            || message.contains("IncompleteMessage"),
        ..Signs::default()
    };
    progress.fail(signs.class(), message)
}

/// Whether a connect error's words say TLS (rustls's error is not always in the chain).
fn looks_like_tls(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("tls") || m.contains("certificate") || m.contains("handshake")
}
