//! The connection-level HTTP/1.1 transport: each virtual user (or open-model slot) owns one
//! connection, kept alive across its requests; there is no shared pool, no lock and no task
//! or channel per connection. Requests are encoded into the user's reused buffer, responses
//! parsed in place with httparse (`codec`), TLS is rustls.
//!
//! A connection is made on the first request, made again after the server closes it (or
//! answers `connection: close`), and replaced when a step sends to another host. Every
//! request is one attempt: nothing is retried.
//!
//! An exchange goes in the order of the work, one function each: `connection` (kept or
//! dialed), the request written, `read_head`, `body::read_body` by the head's framing,
//! then the connection kept if it may carry the next request. Its phases are marked where
//! they end (`contract::Marks`): the write when the request is written, the first byte when
//! the first read of the response returns; a new connection's DNS, connect and TLS come
//! from `dial`. Whether a new connection replaces one the server closed is known here:
//! the last response said so (or ended at the close), or the kept one was found closed.
//! Depends on `codec`, `body`, `contract`, `dial`, `credentials`, `failure`, the engine's
//! `clock`, the plan's proxy settings and `metrics` (error classes, `Connections`,
//! `ConnectionUse`). Invariant (the hot path): per request, no allocation but the kept
//! parts of the response (what the step reads; for a status the step does not accept, the
//! headers and first bytes its failure sample shows: `Keep::for_status`), no boxing, no
//! task, no channel, no lock; two clock reads (the write's end, the first byte); the
//! session's buffers and timer are reused.

mod body;
mod codec;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use reqwest::header::{AUTHORIZATION, HeaderMap, PROXY_AUTHORIZATION};

use super::contract::{Marks, Prepared, Reply, Transport};
use super::credentials::{proxy_authorization, url_authorization};
use super::dial::{Dialer, Endpoint, Io, Route};
use super::failure::{Failure, Progress, Signs, fail};
use crate::engine::clock::now;
use crate::metrics::{ConnectionUse, Connections, ErrorClass};
use crate::scenario::ProxyUrl;
use body::{Sink, read_body};
use codec::{Head, Malformed, encode_request, parse_head};

/// The transport: settings shared by every user's connection.
#[derive(Debug, Clone)]
pub struct FastTransport {
    dialer: Arc<Dialer>,
    user_agent: String,
}

/// A user's connection and buffers, kept across its requests.
#[derive(Default)]
pub struct Session {
    conn: Option<(Endpoint, Io)>,
    read: BytesMut,
    write: Vec<u8>,
    /// The request timeout: one timer per session, re-armed for each request instead of a
    /// new one allocated and registered per request.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The server ended the last connection: its response said `connection: close`, or its
    /// body ran to the close. The next connection is a reconnect.
    server_closed: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl FastTransport {
    /// A transport with the run's TLS settings (`tls`: the platform's roots by
    /// default, as reqwest) and proxy, with `connect_timeout` for each new connection.
    pub fn new(
        connect_timeout: Duration,
        tls: &crate::scenario::Tls,
        http: &crate::scenario::Http,
    ) -> Result<Self, String> {
        Ok(Self {
            dialer: Arc::new(Dialer::new(tls, http, connect_timeout)?),
            user_agent: super::contract::USER_AGENT.to_string(),
        })
    }

    /// Encodes `req` (head and body) into `out`.
    fn encode(&self, req: &Prepared, out: &mut Vec<u8>) -> Result<(), Failure> {
        let url = &req.url;
        out.clear();
        let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        // Through a forwarding proxy the request names its whole URL (absolute form, with
        // no credentials in it) and carries the proxy's own credentials.
        let route = if self.dialer.proxied() {
            self.dialer.route(&Endpoint::of(url))
        } else {
            Route::Direct
        };
        let forward = match route {
            Route::Forward(p) => Some(p),
            Route::Direct | Route::Tunnel(_) => None,
        };
        let absolute;
        let target = match forward {
            Some(_) => {
                absolute = format!("{}://{host}{path}", url.scheme());
                absolute.as_str()
            }
            None => path,
        };
        let headers = with_credentials(req, forward)?;
        encode_request(
            out,
            req.method.as_str(),
            target,
            host,
            &headers,
            &self.user_agent,
            req.body.as_deref(),
        );
        Ok(())
    }

    /// One exchange on the session's connection (made first if needed): write the request,
    /// read the head, read the body by its framing, then keep the connection if it may
    /// carry the next request.
    async fn exchange(
        &self,
        session: &mut Session,
        req: &Prepared,
        progress: &mut Progress,
    ) -> Result<Reply, Failure> {
        if req.wire.get().is_none() {
            self.encode(req, &mut session.write)?;
            req.wire.keep(&session.write);
        }
        let (endpoint, mut io, ready) = self.connection(session, &req.url, progress).await?;
        let wire = req.wire.get().map_or(&session.write[..], |kept| &kept[..]);
        io.write_all(wire)
            .await
            .map_err(|e| fail(ErrorClass::Reset, format!("sending the request: {e}")))?;
        let written = now();
        let head_request = req.method == reqwest::Method::HEAD;
        let (head, first_byte) = read_head(&mut io, &mut session.read, head_request, req).await?;
        progress.status = Some(head.status);
        let keep = req.keep.for_status(head.status);
        let mut sink = Sink::new(keep, head.framing, progress);
        let buf = &mut session.read;
        let reusable = read_body(&mut io, buf, head.framing, head.keep_alive, &mut sink).await?;
        if reusable && !asks_to_close(req) && session.read.is_empty() {
            session.conn = Some((endpoint, io));
        }
        // Closed at the server's word, not at the request's.
        session.server_closed = !reusable && !asks_to_close(req);
        let (body, cut) = sink.finish();
        Ok(Reply {
            status: head.status,
            bytes: progress.bytes,
            headers: head.headers,
            body,
            cut,
            server_time: head.server_time,
            marks: Marks {
                connection: progress.connection,
                ready,
                written: Some(written),
                handed: None,
                first_byte: Some(first_byte),
            },
        })
    }

    /// The session's connection to `url`'s endpoint: the one it kept, if it goes there and
    /// is still open, else a new one (its read buffer emptied), and when a new one was
    /// ready. `progress` takes how the connection was had.
    async fn connection(
        &self,
        session: &mut Session,
        url: &url::Url,
        progress: &mut Progress,
    ) -> Result<(Endpoint, Io, Option<Instant>), Failure> {
        // Compared in place: the endpoint is copied only for a new connection.
        let mut kept = session.conn.take().filter(|(e, _)| e.serves(url));
        let mut reconnect = std::mem::take(&mut session.server_closed);
        if let Some((_, io)) = &mut kept
            && !still_open(io, &mut session.read)
        {
            kept = None;
            reconnect = true;
        }
        match kept {
            Some((at, io)) => {
                progress.connection = ConnectionUse::Reused;
                Ok((at, io, None))
            }
            None => {
                session.read.clear();
                let at = Endpoint::of(url);
                let dialed = self.dialer.dial(&at).await?;
                progress.connection = ConnectionUse::New {
                    dial: dialed.took,
                    reconnect,
                };
                Ok((at, dialed.io, Some(dialed.ready)))
            }
        }
    }
}

/// The headers to send: the step's, with the URL's credentials (`user:password@`) as Basic
/// authorization, as reqwest does, unless the step sets its own, and a forwarding proxy's
/// credentials. Copied only when something is added.
fn with_credentials<'r>(
    req: &'r Prepared,
    forward: Option<&ProxyUrl>,
) -> Result<Cow<'r, HeaderMap>, Failure> {
    let mut headers = Cow::Borrowed(&req.headers);
    if let Some(value) = url_authorization(&req.url)?
        && !req.headers.contains_key(AUTHORIZATION)
    {
        headers.to_mut().insert(AUTHORIZATION, value);
    }
    if let Some(value) = forward.and_then(proxy_authorization) {
        headers.to_mut().insert(PROXY_AUTHORIZATION, value);
    }
    Ok(headers)
}

/// Whether the request itself said `connection: close`. Bytes past the response (the
/// caller checks) would mean the server misframed it: such a connection is not trusted for
/// another request either (we never pipeline).
fn asks_to_close(req: &Prepared) -> bool {
    req.headers
        .get(reqwest::header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
}

/// Whether a kept-alive connection can carry the next request: the server may have closed
/// it while it sat idle (or sent something unasked, such as a 408). Polled once, without
/// waiting: still pending means open and quiet. Nothing has been sent yet, so replacing a
/// closed connection is not a retry.
fn still_open(io: &mut Io, buf: &mut BytesMut) -> bool {
    use futures_util::FutureExt;
    buf.clear();
    io.read_buf(buf).now_or_never().is_none()
}

/// Reads until a final (non-1xx) response head is complete; 1xx heads are skipped. The
/// head keeps its headers as `req` asks for its status, and reads the server's time as it
/// asks; returned with the instant its first byte (or a 1xx head's) arrived.
async fn read_head(
    io: &mut Io,
    buf: &mut BytesMut,
    head_request: bool,
    req: &Prepared,
) -> Result<(Head, Instant), Failure> {
    let mut first_byte = None;
    loop {
        if !buf.is_empty() {
            match parse_head(buf, head_request, req.keep, &req.clock) {
                Ok(Some(head)) if (100..200).contains(&head.status) && head.status != 101 => {
                    buf.advance(head.len);
                    continue;
                }
                Ok(Some(head)) => {
                    buf.advance(head.len);
                    return Ok((head, first_byte.unwrap_or_else(now)));
                }
                Ok(None) => {}
                Err(Malformed(why)) => return Err(fail(ErrorClass::Request, why)),
            }
        }
        let had = buf.len();
        match io.read_buf(buf).await {
            Ok(0) if had == 0 => {
                return Err(fail(
                    ErrorClass::Reset,
                    "connection closed before the response".into(),
                ));
            }
            Ok(0) => {
                return Err(fail(
                    ErrorClass::Request,
                    "connection closed inside the response head".into(),
                ));
            }
            Ok(_) => {
                first_byte.get_or_insert_with(now);
            }
            Err(e) => {
                // rustls reports a TLS failure as invalid data; anything else ended the
                // connection.
                let signs = Signs {
                    tls: e.kind() == std::io::ErrorKind::InvalidData,
                    closed: true,
                    ..Signs::default()
                };
                return Err(fail(signs.class(), format!("reading the response: {e}")));
            }
        }
    }
}

impl Transport for FastTransport {
    type Session = Session;

    fn connections(&self) -> Option<Connections> {
        Some(Connections {
            http_version: "1.1",
            opened: self.dialer.opened(),
            streams_per_connection: None,
            graceful_closes: None,
        })
    }

    async fn send(&self, session: &mut Session, req: &Prepared) -> Result<Reply, Failure> {
        let mut progress = Progress::default();
        let deadline = tokio::time::Instant::now() + req.timeout;
        let mut timer = match session.timer.take() {
            Some(mut timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        };
        let outcome = {
            let exchange = self.exchange(session, req, &mut progress);
            let mut exchange = std::pin::pin!(exchange);
            std::future::poll_fn(|cx| {
                if let Poll::Ready(done) = exchange.as_mut().poll(cx) {
                    return Poll::Ready(Ok(done));
                }
                timer.as_mut().poll(cx).map(Err)
            })
            .await
        };
        session.timer = Some(timer);
        match outcome {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(mut failure)) => {
                // A failed exchange leaves the connection in an unknown state.
                session.conn = None;
                failure.connection = progress.connection;
                Err(failure)
            }
            Err(_) => {
                session.conn = None;
                Err(progress.timed_out(req.timeout))
            }
        }
    }
}
