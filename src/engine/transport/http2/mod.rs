//! The HTTP/2 transport (`http2: true`): hyper's HTTP/2 client connection over the run's
//! own connections (`dial`: ALPN `h2` over TLS, prior knowledge, h2c, over plain
//! TCP; through a proxy's tunnel when one applies).
//!
//! Users share connections `streams_per_connection` at a time, each request on its own
//! stream: users are numbered in the order they first send, and users `k·n .. k·n+n-1`
//! use connection slot `k` (per endpoint). A user keeps a handle to its slot's connection;
//! when that connection closes, the first of them to notice makes a new one for the slot
//! (under the slot's lock) and the others take it. Every request is one attempt: a request
//! that fails because its connection failed is counted, never resent, with one exception:
//! a request the server never processed (above the last stream id of a graceful GOAWAY,
//! RFC 9113 §6.8, or never handed to a connection that had just closed) is sent again on
//! a new connection (at most `UNPROCESSED_RESENDS` times) and counted once, its latency
//! from the first send. A server that ends connections this way (nginx after
//! `keepalive_requests`) is counted in `graceful_closes`, not as errors; a GOAWAY with an
//! error code is the `goaway` class. hyper's errors are read into `failure::Signs` here.
//!
//! Phases: hyper does not tell when a request's frames are written, so there is no write
//! phase; the time to first byte counts from the request handed to its connection to the
//! response head, the download from the head to the body's end. A request is on a new
//! connection when it made the connection (the other users of the slot reuse it); a
//! reconnect when the slot's connection had closed (or refused a request). A request sent
//! again after a graceful GOAWAY tells the connection of its last send only.
//! Depends on `contract`, `dial`, `credentials`, `failure`, the engine's `clock`, the
//! plan's TLS and HTTP settings and `metrics` (error classes, `Connections`,
//! `ConnectionUse`).

// The wire format of the transport this one will give way to (issue 24): tested, not yet
// sent by the running transport.
#[allow(dead_code)]
mod frame;
#[allow(dead_code)]
mod hpack;
#[allow(dead_code)]
mod huffman;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use reqwest::header::{
    AUTHORIZATION, CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue, TRANSFER_ENCODING,
    UPGRADE, USER_AGENT,
};

use super::contract::{Marks, Prepared, Reply, Transport};
use super::credentials::url_authorization;
use super::dial::{Dialer, Endpoint};
use super::failure::{Failure, Progress, Signs, chain, fail};
use crate::engine::clock::now;
use crate::metrics::{ConnectionUse, Connections, ErrorClass};

type Sender = SendRequest<Full<Bytes>>;

/// A connection's handle, with a number that tells it from the slot's later connections.
#[derive(Clone)]
struct Conn {
    id: u64,
    sender: Sender,
}

/// One slot's connection, made by the first user that needs it.
type Slot = Arc<tokio::sync::Mutex<Option<Conn>>>;

/// The transport: the dialer, and the connection slots users share.
pub struct H2Transport {
    dialer: Dialer,
    user_agent: HeaderValue,
    streams: usize,
    /// Places: users are numbered in the order they first send; a session dropped (the
    /// setup's, a retired user's) gives its number back, and the lowest free one is taken
    /// next, so the numbering stays dense and `users ÷ streams` connections hold.
    places: Arc<Places>,
    slots: std::sync::Mutex<HashMap<(Endpoint, usize), Slot>>,
    /// Connections numbered as they are made (`Conn::id`).
    made: AtomicU64,
    /// Connections the server ended with GOAWAY(NO_ERROR).
    graceful: Arc<AtomicU64>,
}

impl std::fmt::Debug for H2Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Transport")
            .field("streams", &self.streams)
            .field("opened", &self.dialer.opened())
            .finish()
    }
}

/// A user's place: its number (its slot is number ÷ streams), and its handle to the
/// slot's connection.
#[derive(Default)]
pub struct Session {
    place: Option<Place>,
    conn: Option<(Endpoint, Conn)>,
}

/// The user numbers in use: the next new one, and those given back.
#[derive(Debug, Default)]
struct Places {
    next: AtomicUsize,
    free: std::sync::Mutex<std::collections::BinaryHeap<std::cmp::Reverse<usize>>>,
}

impl Places {
    fn take(self: &Arc<Self>) -> Place {
        let reused = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let number = match reused {
            Some(std::cmp::Reverse(n)) => n,
            None => self.next.fetch_add(1, Ordering::Relaxed),
        };
        Place {
            number,
            places: Arc::clone(self),
        }
    }
}

/// A user number, given back when its session ends.
struct Place {
    number: usize,
    places: Arc<Places>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.places
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(std::cmp::Reverse(self.number));
    }
}

impl H2Transport {
    /// A transport for the run's TLS and HTTP settings (`http.version2` is set), with
    /// `connect_timeout` for each new connection.
    pub fn new(
        connect_timeout: Duration,
        tls: &crate::scenario::Tls,
        http: &crate::scenario::Http,
    ) -> Result<Self, String> {
        Ok(Self {
            dialer: Dialer::new(tls, http, connect_timeout)?,
            user_agent: HeaderValue::from_static(super::contract::USER_AGENT),
            streams: http.streams.max(1) as usize,
            places: Arc::default(),
            slots: std::sync::Mutex::new(HashMap::new()),
            made: AtomicU64::new(0),
            graceful: Arc::default(),
        })
    }

    /// The connection of `slot` at `at`: the one there if it is open (and is not `stale`,
    /// a connection that refused a request), else a new one; with how it was had (a new
    /// one replacing a closed or stale one is a reconnect).
    async fn connection(
        &self,
        at: &Endpoint,
        slot: usize,
        stale: Option<u64>,
    ) -> Result<(Conn, ConnectionUse), Failure> {
        let cell = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(slots.entry((at.clone(), slot)).or_default())
        };
        let mut kept = cell.lock().await;
        if let Some(conn) = kept
            .as_ref()
            .filter(|c| !c.sender.is_closed() && Some(c.id) != stale)
        {
            return Ok((conn.clone(), ConnectionUse::Reused));
        }
        let reconnect = kept.take().is_some();
        let dialed = self.dialer.dial(at).await?;
        let conn = Conn {
            id: self.made.fetch_add(1, Ordering::Relaxed),
            sender: self.handshake(dialed.io).await?,
        };
        *kept = Some(conn.clone());
        let how = ConnectionUse::New {
            dial: dialed.took,
            reconnect,
        };
        Ok((conn, how))
    }

    /// HTTP/2 over `io`: the handshake, and the connection's own task started.
    async fn handshake(&self, io: super::dial::Io) -> Result<Sender, Failure> {
        let mut builder = Builder::new(TokioExecutor::new());
        // Larger windows than the protocol's 64 KiB default, so a large body is not held
        // back by flow control on a fast network (as browsers and curl configure).
        // Pings while streams are open: a peer that vanishes without closing the
        // connection (a NAT or balancer dropping its state) is found and the connection
        // closed, so the slot's users make a new one instead of timing out on it forever.
        builder
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(8 << 20)
            .max_concurrent_reset_streams(1024)
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10));
        let (sender, connection) = builder.handshake(TokioIo::new(io)).await.map_err(|e| {
            let mut f = classify(&e, Progress::default());
            f.message = format!("HTTP/2 handshake: {}", f.message);
            f
        })?;
        // The connection is driven by its own task; its end shows in the senders (closed).
        // It ends well (`Ok`) only when the server sent GOAWAY(NO_ERROR) or every sender
        // is gone; the slot keeps one as long as the transport lives, so here it is the
        // server's graceful close.
        let graceful = Arc::clone(&self.graceful);
        tokio::spawn(async move {
            if connection.await.is_ok() {
                graceful.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(sender)
    }

    /// The request as hyper takes it: the URL's authority (or a `Host` header's) as
    /// `:authority`, no connection-specific headers (HTTP/2 forbids them), the user agent
    /// and the URL's credentials as reqwest and the HTTP/1.1 transport send them.
    fn build(&self, req: &Prepared) -> Result<hyper::Request<Full<Bytes>>, Failure> {
        let url = &req.url;
        let mut headers: HeaderMap = req.headers.clone();
        let authority = match headers.remove(HOST) {
            Some(host) => host
                .to_str()
                .map_err(|_| fail(ErrorClass::Render, "the Host header is not text".into()))?
                .to_string(),
            None => url[url::Position::BeforeHost..url::Position::AfterPort].to_string(),
        };
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let uri: hyper::Uri = format!("{}://{authority}{path}", url.scheme())
            .parse()
            .map_err(|e| fail(ErrorClass::Render, format!("the URL for HTTP/2: {e}")))?;
        for name in [CONNECTION, TRANSFER_ENCODING, UPGRADE] {
            headers.remove(name);
        }
        for name in ["keep-alive", "proxy-connection"] {
            headers.remove(HeaderName::from_static(name));
        }
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        if !headers.contains_key(AUTHORIZATION)
            && let Some(value) = url_authorization(url)?
        {
            headers.insert(AUTHORIZATION, value);
        }
        let body = Full::new(req.body.clone().unwrap_or_default());
        let mut request = hyper::Request::new(body);
        *request.method_mut() = req.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = hyper::Version::HTTP_2;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// The user's connection for `req`: its own if it is open, serves the URL and is not
    /// `stale`, else its slot's; with how it was had.
    async fn session_connection(
        &self,
        session: &mut Session,
        req: &Prepared,
        stale: Option<u64>,
    ) -> Result<(Endpoint, Conn, ConnectionUse), Failure> {
        let slot = session
            .place
            .get_or_insert_with(|| self.places.take())
            .number
            / self.streams;
        let kept = session.conn.take().filter(|(at, conn)| {
            at.serves(&req.url) && !conn.sender.is_closed() && Some(conn.id) != stale
        });
        match kept {
            Some((at, conn)) => Ok((at, conn, ConnectionUse::Reused)),
            None => {
                let at = Endpoint::of(&req.url);
                let (conn, how) = self.connection(&at, slot, stale).await?;
                Ok((at, conn, how))
            }
        }
    }

    /// Sends `req` and waits for the response head. A request the server did not process
    /// (see `unprocessed`) is sent again, on a new connection, up to `UNPROCESSED_RESENDS`
    /// times: the server never saw it, so it is still one request, counted once. (A busy
    /// shared connection may reach the server's limit again before the resent stream is
    /// taken, so one resend is not always enough.) Returns the head with the instants the
    /// request was handed to its connection and the head arrived; `progress` takes how the
    /// connection was had.
    async fn open(
        &self,
        session: &mut Session,
        req: &Prepared,
        progress: &mut Progress,
    ) -> Result<(hyper::Response<hyper::body::Incoming>, Instant, Instant), Failure> {
        let mut stale = None;
        let mut resent = 0;
        loop {
            let request = self.build(req)?;
            let (at, mut conn, how) = self.session_connection(session, req, stale).await?;
            progress.connection = how;
            let handed = now();
            match conn.sender.send_request(request).await {
                Ok(response) => {
                    session.conn = Some((at, conn));
                    return Ok((response, handed, now()));
                }
                Err(e) if resent < UNPROCESSED_RESENDS && unprocessed(&e) => {
                    resent += 1;
                    stale = Some(conn.id);
                }
                Err(e) => {
                    let mut f = classify(&e, *progress);
                    if !at.tls && f.class == ErrorClass::Request {
                        // What an HTTP/1.1-only server's answer to the HTTP/2 preface looks like.
                        f.message.push_str(
                            " (over http://, HTTP/2 is h2c by prior knowledge: does the server \
                             accept it? if not, run without http2)",
                        );
                    }
                    return Err(f);
                }
            }
        }
    }

    async fn exchange(
        &self,
        session: &mut Session,
        req: &Prepared,
        progress: &mut Progress,
    ) -> Result<Reply, Failure> {
        let (response, handed, first_byte) = self.open(session, req, progress).await?;
        let status = response.status().as_u16();
        progress.status = Some(status);
        let (parts, mut body) = response.into_parts();
        let server_time = super::stamp::read(&req.clock, &parts.headers);
        let keep = req.keep.for_status(status);
        let headers = if keep.headers {
            parts.headers
        } else {
            HeaderMap::new()
        };
        let mut kept = BytesMut::new();
        let mut cut = false;
        while let Some(frame) = body.frame().await {
            // The status is known: whatever ends the body early is a failure to read it.
            let frame = frame.map_err(|e| classify(&e, *progress))?;
            if let Ok(data) = frame.into_data() {
                progress.bytes += data.len() as u64;
                if keep.body {
                    let room = keep.max_body.saturating_sub(kept.len());
                    kept.put_slice(&data[..data.len().min(room)]);
                    cut |= data.len() > room;
                }
            }
        }
        Ok(Reply {
            status,
            bytes: progress.bytes,
            headers,
            body: kept.freeze(),
            cut,
            server_time,
            marks: Marks {
                connection: progress.connection,
                ready: None,
                written: None,
                handed: Some(handed),
                first_byte: Some(first_byte),
            },
        })
    }
}

/// Whether the server never processed the request, so that sending it again cannot make
/// it processed twice: hyper had not handed it to the connection before the connection
/// closed (`is_canceled`), or its stream is above the last stream id of the server's
/// graceful GOAWAY (RFC 9113 §6.8; h2 gives the same error to a stream opened after it).
fn unprocessed(e: &hyper::Error) -> bool {
    e.is_canceled() || goaway(e).is_some_and(|reason| reason == h2::Reason::NO_ERROR)
}

/// The code of the GOAWAY the server sent, when that is what ended the request.
fn goaway(e: &hyper::Error) -> Option<h2::Reason> {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(frame) = err.downcast_ref::<::h2::Error>() {
            return frame
                .is_go_away()
                .then_some(frame.reason())
                .flatten()
                .filter(|_| frame.is_remote());
        }
        source = err.source();
    }
    None
}

/// A hyper error as a failure: after the status, a failure to read the body; a GOAWAY
/// from the server is `goaway`, with its code; a closed or reset connection or stream
/// (RST_STREAM) is `reset`; the rest `request`.
fn classify(e: &hyper::Error, progress: Progress) -> Failure {
    let message = chain(e);
    let lower = message.to_ascii_lowercase();
    let reason = goaway(e);
    let signs = Signs {
        in_body: progress.status.is_some(),
        // hyper's own timeout is the keep-alive ping's: the peer went silent.
        stalled: e.is_timeout(),
        goaway: reason.is_some(),
        closed: e.is_canceled()
            || e.is_closed()
            || e.is_incomplete_message()
            || [
                "reset",
                "go away",
                "goaway",
                "broken pipe",
                "connection closed",
            ]
            .iter()
            .any(|words| lower.contains(words)),
        ..Signs::default()
    };
    let class = signs.class();
    match reason {
        Some(reason) if class == ErrorClass::GoAway => {
            progress.fail(class, goaway_message(reason, &message))
        }
        _ => progress.fail(class, message),
    }
}

/// How many times a request the server did not process is sent again (each on a new
/// connection) before it counts as a `goaway` error.
const UNPROCESSED_RESENDS: u32 = 3;

/// `the server sent GOAWAY ENHANCE_YOUR_CALM (0xb): ...`; a graceful one met here had
/// refused the request on every connection it was sent on.
fn goaway_message(reason: h2::Reason, detail: &str) -> String {
    let code = u32::from(reason);
    if reason == h2::Reason::NO_ERROR {
        format!(
            "the server sent GOAWAY NO_ERROR (0x0) before processing the request, on each of \
             the {} connections it was sent on: {detail}",
            UNPROCESSED_RESENDS + 1
        )
    } else {
        format!("the server sent GOAWAY {reason:?} ({code:#x}): {detail}")
    }
}

impl Transport for H2Transport {
    type Session = Session;

    async fn send(&self, session: &mut Session, req: &Prepared) -> Result<Reply, Failure> {
        let mut progress = Progress::default();
        // Dropping the exchange at the deadline resets its stream (RST_STREAM CANCEL); the
        // connection and the other users' streams on it go on.
        let exchange = self.exchange(session, req, &mut progress);
        match tokio::time::timeout(req.timeout, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(mut failure)) => {
                failure.connection = progress.connection;
                Err(failure)
            }
            Err(_) => Err(progress.timed_out(req.timeout)),
        }
    }

    fn connections(&self) -> Option<Connections> {
        Some(Connections {
            http_version: "2",
            opened: self.dialer.opened(),
            streams_per_connection: Some(self.streams as u32),
            graceful_closes: Some(self.graceful.load(Ordering::Relaxed)),
        })
    }
}
