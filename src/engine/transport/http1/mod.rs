//! The connection-level HTTP/1.1 transport: each virtual user (or open-model slot) owns one
//! connection, kept alive across its requests; there is no shared pool, no lock and no task
//! or channel per connection. Requests are encoded into the user's reused buffer, responses
//! parsed in place with httparse (`codec`), TLS is rustls.
//!
//! A connection is made on the first request, made again after the server closes it (or
//! answers `connection: close`), and replaced when a step sends to another host. Every
//! request is one attempt: nothing is retried. Depends on `metrics` (error classes) and the
//! `Transport` types.

mod codec;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};

use reqwest::header::{AUTHORIZATION, PROXY_AUTHORIZATION};

use super::contract::{Prepared, Reply, Transport};
use super::credentials::{proxy_authorization, url_authorization};
use super::dial::{Dialer, Endpoint, Io, Route};
use super::failure::{Failure, Progress, Signs, fail};
use crate::metrics::{Connections, ErrorClass};
use codec::{Chunked, Framing, Head, Malformed, encode_request, parse_head};

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
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl FastTransport {
    /// A transport with the run's TLS settings (`engine::tls`: the platform's roots by
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
        // Credentials in the URL (`user:password@`) become Basic authorization, as reqwest
        // does, unless the step sets its own.
        let with_auth;
        let headers = match url_authorization(url)? {
            Some(value) if !req.headers.contains_key(AUTHORIZATION) => {
                let mut h = req.headers.clone();
                h.insert(AUTHORIZATION, value);
                with_auth = h;
                &with_auth
            }
            _ => &req.headers,
        };
        let with_proxy;
        let headers = match forward.and_then(proxy_authorization) {
            Some(value) => {
                let mut h = headers.clone();
                h.insert(PROXY_AUTHORIZATION, value);
                with_proxy = h;
                &with_proxy
            }
            None => headers,
        };
        encode_request(
            out,
            req.method.as_str(),
            target,
            host,
            headers,
            &self.user_agent,
            req.body.as_deref(),
        );
        Ok(())
    }

    /// One exchange on the session's connection (made first if needed).
    async fn exchange(
        &self,
        session: &mut Session,
        req: &Prepared,
        progress: &mut Progress,
    ) -> Result<Reply, Failure> {
        let url = &req.url;
        if req.wire.get().is_none() {
            self.encode(req, &mut session.write)?;
            req.wire.keep(&session.write);
        }
        // Compared in place: the endpoint is copied only for a new connection.
        let mut kept = session.conn.take().filter(|(e, _)| e.serves(url));
        if let Some((_, io)) = &mut kept
            && !still_open(io, &mut session.read)
        {
            kept = None;
        }
        let (endpoint, mut io) = match kept {
            Some(conn) => conn,
            None => {
                session.read.clear();
                let at = Endpoint::of(url);
                let io = self.dialer.dial(&at).await?;
                (at, io)
            }
        };
        let wire = req.wire.get().map_or(&session.write[..], |kept| &kept[..]);
        io.write_all(wire)
            .await
            .map_err(|e| fail(ErrorClass::Reset, format!("sending the request: {e}")))?;
        let head_request = req.method == reqwest::Method::HEAD;
        let head = read_head(&mut io, &mut session.read, head_request, req.keep.headers).await?;
        progress.status = Some(head.status);
        let mut kept = BytesMut::new();
        if req.keep.body
            && let Framing::Length(n) = head.framing
        {
            kept.reserve(
                usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(req.keep.max_body),
            );
        }
        let mut cut = false;
        let mut take = |data: &[u8], progress: &mut Progress| {
            progress.bytes += data.len() as u64;
            if req.keep.body {
                let room = req.keep.max_body.saturating_sub(kept.len());
                kept.put_slice(&data[..data.len().min(room)]);
                cut |= data.len() > room;
            }
        };
        let body_failed = |why: String, progress: &Progress| progress.fail(ErrorClass::Body, why);
        let reusable = match head.framing {
            Framing::None => head.keep_alive,
            Framing::Length(n) => {
                let mut left = n;
                loop {
                    let have = session
                        .read
                        .len()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    if have > 0 {
                        // Read and step past in place: `split_to` would turn the buffer
                        // into a shared one, an allocation per response.
                        take(&session.read[..have], progress);
                        session.read.advance(have);
                        left -= have as u64;
                    }
                    if left == 0 {
                        break;
                    }
                    match io.read_buf(&mut session.read).await {
                        Ok(0) => {
                            let why =
                                format!("connection closed with {left} of {n} body bytes unread");
                            return Err(body_failed(why, progress));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            return Err(body_failed(format!("reading the body: {e}"), progress));
                        }
                    }
                }
                head.keep_alive
            }
            Framing::Chunked => {
                let mut decoder = Chunked::default();
                loop {
                    let fed = decoder.feed(&session.read, &mut |d| take(d, progress));
                    let used = fed.map_err(|Malformed(why)| body_failed(why, progress))?;
                    session.read.advance(used);
                    if decoder.is_done() {
                        break;
                    }
                    match io.read_buf(&mut session.read).await {
                        Ok(0) => {
                            return Err(body_failed(
                                "connection closed inside a chunked body".into(),
                                progress,
                            ));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            return Err(body_failed(format!("reading the body: {e}"), progress));
                        }
                    }
                }
                head.keep_alive
            }
            Framing::UntilClose => {
                loop {
                    if !session.read.is_empty() {
                        let piece = session.read.split();
                        take(&piece, progress);
                    }
                    match io.read_buf(&mut session.read).await {
                        Ok(0) => break,
                        Ok(_) => {}
                        // Many TLS servers close without close_notify; for a body that ends
                        // at the close, that close is its end (as curl and browsers take it).
                        Err(e) if io.is_tls() && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                            break;
                        }
                        Err(e) => {
                            return Err(body_failed(format!("reading the body: {e}"), progress));
                        }
                    }
                }
                false
            }
        };
        // Bytes past the response mean the server misframed it: the connection is not
        // trusted for another request (we never pipeline).
        let asked_close = req
            .headers
            .get(reqwest::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if reusable && !asked_close && session.read.is_empty() {
            session.conn = Some((endpoint, io));
        }
        Ok(Reply {
            status: head.status,
            bytes: progress.bytes,
            headers: head.headers,
            body: kept.freeze(),
            cut,
        })
    }
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

/// Reads until a final (non-1xx) response head is complete; 1xx heads are skipped.
async fn read_head(
    io: &mut Io,
    buf: &mut BytesMut,
    head_request: bool,
    keep: bool,
) -> Result<Head, Failure> {
    loop {
        if !buf.is_empty() {
            match parse_head(buf, head_request, keep) {
                Ok(Some(head)) if (100..200).contains(&head.status) && head.status != 101 => {
                    buf.advance(head.len);
                    continue;
                }
                Ok(Some(head)) => {
                    buf.advance(head.len);
                    return Ok(head);
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
            Ok(_) => {}
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
            Ok(Err(failure)) => {
                // A failed exchange leaves the connection in an unknown state.
                session.conn = None;
                Err(failure)
            }
            Err(_) => {
                session.conn = None;
                Err(progress.timed_out(req.timeout))
            }
        }
    }
}
