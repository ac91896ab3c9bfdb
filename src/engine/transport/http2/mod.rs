//! The HTTP/2 transport (`http2: true`): the client's own HTTP/2 (`conn`, over `frame`,
//! `hpack` and `huffman`) on the run's own connections (`dial`: ALPN `h2` over TLS, prior
//! knowledge, h2c, over plain TCP; through a proxy's tunnel when one applies).
//!
//! Users share connections `streams_per_connection` at a time, each request on its own
//! stream: users are numbered in the order they first send, and users `k·n .. k·n+n-1`
//! use connection slot `k` (per endpoint). A user keeps a handle to its slot's connection;
//! when that connection closes, the first of them to notice makes a new one for the slot
//! (under the slot's lock) and the others take it. Every request is one attempt: a request
//! that fails because its connection failed is counted, never resent, with one exception:
//! a request the server never processed (above the last stream id of a graceful GOAWAY,
//! RFC 9113 §6.8, or never sent on a connection that had just closed) is sent again on a
//! new connection, and one refused with REFUSED_STREAM on the same one, counted once, its
//! latency from the first send (`Resends` has the bounds). A server that ends connections
//! this way (nginx after `keepalive_requests`) is counted in `graceful_closes`, not as
//! errors; a GOAWAY with an error code is the `goaway` class.
//!
//! A literal step's header block is encoded once (kept in the request's `Wire`) and sent
//! with each stream's id written in. Phases: the connection's task writes, so there is no
//! write phase; the time to first byte counts from the request handed to its connection
//! to its header block read, the download from there to the body's end. A request is on a
//! new connection when it made the connection (the other users of the slot reuse it); a
//! reconnect when the slot's connection had closed. Depends on `contract`, `dial`,
//! `credentials`, `failure`, `stamp`, the engine's `clock`, the plan's TLS and HTTP
//! settings and `metrics` (error classes, `Connections`, `ConnectionUse`).

mod conn;
mod frame;
mod hpack;
mod huffman;
mod read;
mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST, HeaderMap, HeaderName, HeaderValue,
    TRANSFER_ENCODING, UPGRADE, USER_AGENT,
};

use super::contract::{Marks, Prepared, Reply, Transport};
use super::credentials::url_authorization;
use super::dial::{Dialer, Endpoint};
use super::failure::{Failure, Progress, Signs, fail};
use super::stamp::Stamps;
use crate::metrics::{ConnectionUse, Connections, ErrorClass};
use conn::{Conn as Connection, Partial, Request, Response, StreamError};
use frame::{RequestFrame, code};
use hpack::Encoder;

/// A connection, with a number that tells it from the slot's later connections.
#[derive(Clone)]
struct Conn {
    id: u64,
    link: Connection,
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
            .filter(|c| c.link.is_open() && Some(c.id) != stale)
        {
            return Ok((conn.clone(), ConnectionUse::Reused));
        }
        let reconnect = kept.take().is_some();
        let dialed = self.dialer.dial(at).await?;
        let graceful = Arc::clone(&self.graceful);
        let link = Connection::start(dialed.io, move |gracefully| {
            if gracefully {
                graceful.fetch_add(1, Ordering::Relaxed);
            }
        });
        let conn = Conn {
            id: self.made.fetch_add(1, Ordering::Relaxed),
            link,
        };
        *kept = Some(conn.clone());
        let how = ConnectionUse::New {
            dial: dialed.took,
            reconnect,
        };
        Ok((conn, how))
    }

    /// The request's HEADERS frame: the URL's authority (or a `Host` header's) as
    /// `:authority`, no connection-specific headers (HTTP/2 forbids them), the user agent
    /// and the URL's credentials as reqwest and the HTTP/1.1 transport send them. A literal
    /// step's is kept in its `Wire` and encoded once.
    fn frames(&self, req: &Prepared) -> Result<RequestFrame, Failure> {
        let end_stream = req.body.as_ref().is_none_or(Bytes::is_empty);
        if let Some(kept) = req.wire.get() {
            return Ok(RequestFrame::new(
                kept,
                end_stream,
                frame::DEFAULT_MAX_FRAME,
            ));
        }
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
        let path = if path.is_empty() { "/" } else { path };
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
        // As hyper and the HTTP/1.1 transport send it: a body's length, and 0 for a method
        // that expects a body and has none.
        let length = req.body.as_ref().map_or(0, Bytes::len);
        let expects = matches!(req.method.as_str(), "POST" | "PUT" | "PATCH");
        if !headers.contains_key(CONTENT_LENGTH) && (length > 0 || expects) {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
        let mut block = Vec::with_capacity(128);
        Encoder::request(
            &mut block,
            req.method.as_str(),
            url.scheme(),
            &authority,
            path,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        );
        req.wire.keep(&block);
        Ok(RequestFrame::new(
            &block,
            end_stream,
            frame::DEFAULT_MAX_FRAME,
        ))
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
            at.serves(&req.url) && conn.link.is_open() && Some(conn.id) != stale
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

    /// Sends `req` and reads its whole response. A request the server did not process is
    /// sent again: the server never saw it, so it is still one request, counted once. Above
    /// a graceful GOAWAY's last stream it goes on a new connection. A shared connection may
    /// reach the server's limit again before the resent stream is taken (with 4 users on
    /// connections closed after 10 requests, 3 runs in 10 had a request refused 3 times in
    /// a row, and CI once 4 times), so refusals by connections that served other requests
    /// (the server is making progress) are bounded only against starvation
    /// (`MOST_RESENDS`), those by connections that served nothing at `IDLE_RESENDS`. A
    /// stream refused with REFUSED_STREAM goes again on the same connection, at most
    /// `IDLE_RESENDS` times.
    /// Returns the response with the instant the request was handed to its connection;
    /// `progress` takes how the connection was had.
    async fn exchange(
        &self,
        session: &mut Session,
        req: &Prepared,
        progress: &mut Progress,
        partial: &mut Partial,
    ) -> Result<(Response, Option<Instant>), Failure> {
        let frames = self.frames(req)?;
        let mut stale = None;
        let mut resends = Resends::default();
        // Connections found ending before the request went (not a resend: the server never
        // saw it), bounded all the same.
        let mut redials = 0;
        loop {
            let (at, conn, how) = self.session_connection(session, req, stale).await?;
            progress.connection = how;
            let request = Request {
                frames: &frames,
                body: req.body.clone(),
                keep: req.keep,
                fields: req.keep.headers || req.clock.is_on(),
            };
            let (handed, answer) = conn.link.exchange(request, partial).await;
            match answer {
                Ok(response) => {
                    session.conn = Some((at, conn));
                    return Ok((response, handed));
                }
                Err((StreamError::NotSent, _)) if redials < 8 => {
                    redials += 1;
                    stale = Some(conn.id);
                }
                Err((StreamError::Unprocessed, _)) if resends.goaway(&conn.link) => {
                    stale = Some(conn.id);
                }
                // Refused (the server's stream limit): again, on the same connection.
                Err((StreamError::Refused, _)) if resends.refused < IDLE_RESENDS => {
                    resends.refused += 1;
                    session.conn = Some((at, conn));
                }
                Err((e, read)) => {
                    if read.first_byte.is_some() {
                        progress.status = Some(read.status);
                    }
                    progress.bytes = read.bytes;
                    let mut f = failure(&e, progress, &resends);
                    let closed = matches!(e, StreamError::Closed(_));
                    if !at.tls && closed && f.class == ErrorClass::Request {
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

    /// The reply the engine reads, from the connection's response.
    fn reply(
        req: &Prepared,
        response: Response,
        progress: &mut Progress,
        handed: Option<Instant>,
    ) -> Reply {
        let status = response.status;
        progress.status = Some(status);
        let keep = req.keep.for_status(status);
        let mut headers = HeaderMap::new();
        let mut stamps = Stamps::new(&req.clock);
        for (name, value) in &response.fields {
            let Ok(name) = std::str::from_utf8(name) else {
                continue;
            };
            if req.clock.is_on() {
                stamps.see(name, value);
            }
            if keep.headers
                && let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(value),
                )
            {
                headers.append(n, v);
            }
        }
        Reply {
            status,
            bytes: response.bytes,
            headers,
            body: response.body.freeze(),
            cut: response.cut,
            server_time: stamps.finish(),
            marks: Marks {
                connection: progress.connection,
                ready: None,
                written: None,
                handed,
                first_byte: response.first_byte,
            },
        }
    }
}

/// A stream's end as a failure: a GOAWAY from the server is `goaway`, with its code; a
/// closed connection or a reset stream (RST_STREAM) is `reset` (`body` once the status was
/// read); a silent server `timeout`; the rest `request`.
fn failure(e: &StreamError, progress: &Progress, resends: &Resends) -> Failure {
    let mut signs = Signs::default();
    let message = match e {
        StreamError::NotSent => {
            signs.closed = true;
            "the connection kept closing before the request could be sent".into()
        }
        StreamError::Unprocessed => {
            signs.goaway = true;
            goaway_message(code::NO_ERROR, resends.connections)
        }
        StreamError::GoAway(c) => {
            signs.goaway = true;
            goaway_message(*c, resends.connections)
        }
        StreamError::Refused => {
            signs.closed = true;
            format!(
                "the server refused the stream (RST_STREAM REFUSED_STREAM (0x7)) each of the {} \
                 times it was sent",
                resends.refused + 1
            )
        }
        StreamError::Malformed(why) => format!("the server broke HTTP/2: {why}"),
        StreamError::Reset(c) => {
            signs.closed = true;
            format!("the server reset the stream (RST_STREAM {})", reason(*c))
        }
        StreamError::Closed(why) => {
            signs.closed = !why.starts_with("the server broke HTTP/2");
            why.clone()
        }
        StreamError::Stalled => {
            signs.stalled = true;
            format!(
                "the server stopped answering: no frame for {}s, and no answer to a ping",
                conn::KEEP_ALIVE.as_secs() * 2
            )
        }
    };
    signs.in_body = progress.status.is_some();
    progress.fail(signs.class(), message)
}

/// An error code's name (RFC 9113 §7), as h2 and nghttp2 write it.
fn reason(c: u32) -> String {
    const NAMES: [&str; 14] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    ];
    match NAMES.get(c as usize) {
        Some(name) => format!("{name} ({c:#x})"),
        None => format!("{c:#x}"),
    }
}

/// How many times a request is sent again after graceful GOAWAYs from connections that
/// processed nothing (each time on a new connection) before it counts as a `goaway`
/// error; and after REFUSED_STREAM (on the same connection), before it is a `reset` one.
const IDLE_RESENDS: u32 = 3;

/// How many times in all: refusals by connections that served others are the server's
/// normal ending of connections, and this bound is only against starvation.
const MOST_RESENDS: u32 = 32;

/// A request's resends so far, by why.
#[derive(Default)]
struct Resends {
    /// New connections it was sent on after graceful GOAWAYs.
    connections: u32,
    /// Of those, after connections that had processed nothing.
    idle: u32,
    /// Times it was sent again after REFUSED_STREAM.
    refused: u32,
}

impl Resends {
    /// Whether a request that `link`'s graceful GOAWAY left unprocessed goes again (and
    /// counts it): while the refusing connections served others, up to `MOST_RESENDS`;
    /// after ones that served nothing, up to `IDLE_RESENDS`.
    fn goaway(&mut self, link: &Connection) -> bool {
        let served = link.served_before_goaway();
        if self.connections >= MOST_RESENDS || (!served && self.idle >= IDLE_RESENDS) {
            return false;
        }
        self.connections += 1;
        self.idle += u32::from(!served);
        true
    }
}

/// `the server sent GOAWAY ENHANCE_YOUR_CALM (0xb)`; a graceful one met here had refused
/// the request on every connection it was sent on.
fn goaway_message(c: u32, resent: u32) -> String {
    if c == code::NO_ERROR {
        format!(
            "the server sent GOAWAY NO_ERROR (0x0) before processing the request, on each of \
             the {} connections it was sent on",
            resent + 1
        )
    } else {
        format!("the server sent GOAWAY {}", reason(c))
    }
}

impl Transport for H2Transport {
    type Session = Session;

    async fn send(&self, session: &mut Session, req: &Prepared) -> Result<Reply, Failure> {
        let mut progress = Progress::default();
        let mut partial = Partial::default();
        // Dropping the exchange at the deadline resets its stream (RST_STREAM CANCEL); the
        // connection and the other users' streams on it go on.
        let exchange = self.exchange(session, req, &mut progress, &mut partial);
        match tokio::time::timeout(req.timeout, exchange).await {
            Ok(Ok((response, handed))) => Ok(Self::reply(req, response, &mut progress, handed)),
            Ok(Err(mut failure)) => {
                failure.connection = progress.connection;
                Err(failure)
            }
            Err(_) => {
                // A status read before the deadline is still the answer's status (as on
                // HTTP/1.1, where the head is read before the body).
                progress.status = partial.status;
                progress.bytes = partial.bytes;
                Err(progress.timed_out(req.timeout))
            }
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
