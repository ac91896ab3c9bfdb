//! Making connections for the connection-level transports (`http1` and `http2`) and the
//! preflight: TCP to the target, or to a proxy (a CONNECT tunnel for https and HTTP/2; for
//! plain HTTP/1.1 the proxy forwards requests written in absolute form), then TLS with the
//! run's configuration (`tls`) and, for HTTP/2, ALPN's `h2` required. Counts the
//! connections it makes and times each one's phases (`Dialed`: DNS, connect, TLS, on the
//! engine's clock); `Io` is the connection, with the read that reuses its buffer.
//! Depends on `tls`, `credentials` (the proxy's), `failure`, the engine's `clock`, the
//! plan's `Tls` and `Http`, and `metrics` (error classes, `Dial`). Invariant: a connection
//! is counted once it is usable (TCP, tunnel and TLS done), and is made within the connect
//! timeout or fails as `timeout`; the name is resolved apart from the connect only so that
//! each is timed (an IP address is not looked up, as before).

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::credentials::proxy_authorization;
use super::failure::{Failure, Signs, fail};
use super::tls;
use crate::engine::clock::now;
use crate::metrics::{Dial, ErrorClass};
use crate::scenario::{Http, Proxies, ProxyUrl, Tls};

/// Read buffer growth step; a response head and small bodies fit in one read.
pub const READ_CHUNK: usize = 16 << 10;

/// The longest proxy answer to CONNECT read (its head only).
const MOST_TUNNEL_HEAD: usize = 16 << 10;

/// Where a connection goes: TLS or not, host (as in the URL: IPv6 in brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// https.
    pub tls: bool,
    /// The host as the URL writes it (IPv6 in brackets).
    pub host: String,
    /// The port, the scheme's default when the URL gives none.
    pub port: u16,
}

impl Endpoint {
    /// The endpoint of `url`.
    pub fn of(url: &url::Url) -> Self {
        let tls = url.scheme() == "https";
        Self {
            tls,
            host: url.host_str().unwrap_or_default().to_string(),
            port: url
                .port_or_known_default()
                .unwrap_or(if tls { 443 } else { 80 }),
        }
    }

    /// Whether `url` goes here (compared in place: nothing is copied per request).
    pub fn serves(&self, url: &url::Url) -> bool {
        self.tls == (url.scheme() == "https")
            && url.port_or_known_default() == Some(self.port)
            && url.host_str() == Some(self.host.as_str())
    }

    /// The host without IPv6 brackets, to connect to or to name in TLS.
    fn bare_host(&self) -> &str {
        self.host.trim_matches(['[', ']'])
    }
}

/// One open connection: plain TCP, or TLS over it.
pub enum Io {
    /// Plain TCP (http://, h2c).
    Plain(TcpStream),
    /// TLS over TCP (https://).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Io {
    /// Writes all of `buf` (flushed through TLS).
    pub async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Io::Plain(s) => s.write_all(buf).await,
            Io::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }

    /// Reads what is there into `buf`, growing it by `READ_CHUNK` when it is nearly full.
    pub async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        if buf.is_empty() && buf.capacity() < READ_CHUNK {
            // Everything read so far was consumed: go back to the start of the allocation
            // (no copy, nothing is left). Without this each read lands after the last one,
            // so small responses walk through, and make resident, the whole chunk of every
            // connection: 16 KiB each instead of the one page they use.
            // (false when the allocation is smaller than a chunk: the reserve below grows it)
            let _reclaimed = buf.try_reclaim(READ_CHUNK);
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        match self {
            Io::Plain(s) => s.read_buf(buf).await,
            Io::Tls(s) => s.read_buf(buf).await,
        }
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Io::Tls(_))
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// A new connection, with what making it took and when it was ready.
pub struct Dialed {
    /// The connection.
    pub io: Io,
    /// Its phases: DNS (when a name was looked up), connect, TLS (https).
    pub took: Dial,
    /// When it was ready, on the engine's clock: its first request's write counts from here.
    pub ready: Instant,
}

/// How a connection reaches its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// Straight to the target.
    Direct,
    /// To the proxy, which forwards each request (plain HTTP/1.1: absolute-form targets).
    Forward(&'a ProxyUrl),
    /// Through a CONNECT tunnel at the proxy (https, and HTTP/2 in any case).
    Tunnel(&'a ProxyUrl),
}

/// Makes the run's connections: settings shared by every user, and the count.
#[derive(Debug)]
pub struct Dialer {
    tls: LazyTls,
    connect_timeout: Duration,
    proxies: Option<Proxies>,
    http2: bool,
    opened: AtomicU64,
}

impl Dialer {
    /// A dialer for the run's TLS and HTTP settings; each connection is made (proxy tunnel
    /// and TLS handshake included) within `connect_timeout`.
    pub fn new(tls: &Tls, http: &Http, connect_timeout: Duration) -> Result<Self, String> {
        let alpn: &[&[u8]] = if http.version2 {
            &[b"h2"]
        } else {
            &[b"http/1.1"]
        };
        Ok(Self {
            tls: LazyTls::new(tls, alpn)?,
            connect_timeout,
            proxies: http.proxy.clone(),
            http2: http.version2,
            opened: AtomicU64::new(0),
        })
    }

    /// Whether any connection goes through a proxy (when none does, nothing is looked up
    /// per request).
    pub fn proxied(&self) -> bool {
        self.proxies.is_some()
    }

    /// How a connection to `at` is made.
    pub fn route(&self, at: &Endpoint) -> Route<'_> {
        match self
            .proxies
            .as_ref()
            .and_then(|p| p.route(at.tls, at.bare_host(), at.port))
        {
            None => Route::Direct,
            Some(p) if at.tls || self.http2 => Route::Tunnel(p),
            Some(p) => Route::Forward(p),
        }
    }

    /// Connections made so far (TCP connected, tunnel and TLS done).
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// A new connection to `at`, within the connect timeout, and what making it took.
    pub async fn dial(&self, at: &Endpoint) -> Result<Dialed, Failure> {
        match tokio::time::timeout(self.connect_timeout, self.dial_now(at)).await {
            Ok(Ok(dialed)) => {
                self.opened.fetch_add(1, Ordering::Relaxed);
                Ok(dialed)
            }
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(fail(
                ErrorClass::Timeout,
                format!("connect: no connection within {:?}", self.connect_timeout),
            )),
        }
    }

    /// Makes the connection: TCP (and a proxy's tunnel), then TLS, each timed.
    async fn dial_now(&self, at: &Endpoint) -> Result<Dialed, Failure> {
        let began = now();
        let route = self.route(at);
        let (tcp, resolved) = self.tcp(at, route).await?;
        let connected = now();
        let connect = connected.saturating_duration_since(resolved.unwrap_or(began));
        let dns = resolved.map(|r| r.saturating_duration_since(began));
        if !at.tls {
            let took = Dial {
                dns,
                connect,
                tls: None,
            };
            let io = Io::Plain(tcp);
            return Ok(Dialed {
                io,
                took,
                ready: connected,
            });
        }
        let io = self.handshake(at, tcp).await?;
        let ready = now();
        let took = Dial {
            dns,
            connect,
            tls: Some(ready.saturating_duration_since(connected)),
        };
        Ok(Dialed { io, took, ready })
    }

    /// A TCP connection on `route` to `at` (through a proxy's tunnel when one applies), and
    /// when the name was resolved (`None`: the host is an IP address, nothing looked up).
    async fn tcp(
        &self,
        at: &Endpoint,
        route: Route<'_>,
    ) -> Result<(TcpStream, Option<Instant>), Failure> {
        let (host, port, via) = match route {
            Route::Direct => (at.bare_host(), at.port, String::new()),
            Route::Forward(p) | Route::Tunnel(p) => (
                p.host.as_str(),
                p.port,
                format!(" to the proxy {}", p.shown()),
            ),
        };
        let failed = |e: std::io::Error| {
            let signs = Signs {
                refused: e.kind() == std::io::ErrorKind::ConnectionRefused,
                connect: true,
                ..Signs::default()
            };
            fail(signs.class(), format!("connect{via}: {e}"))
        };
        let (addrs, resolved) = match host.parse::<IpAddr>() {
            Ok(ip) => (vec![SocketAddr::new(ip, port)], None),
            Err(_) => {
                let addrs = tokio::net::lookup_host((host, port))
                    .await
                    .map_err(failed)?;
                (addrs.collect(), Some(now()))
            }
        };
        let mut tcp = connect_any(&addrs).await.map_err(failed)?;
        let _ = tcp.set_nodelay(true);
        if let Route::Tunnel(p) = route {
            tunnel(&mut tcp, at, p).await?;
        }
        Ok((tcp, resolved))
    }

    /// TLS over `tcp` to `at`, with ALPN's `h2` required for HTTP/2.
    async fn handshake(&self, at: &Endpoint, tcp: TcpStream) -> Result<Io, Failure> {
        let name = rustls::pki_types::ServerName::try_from(at.bare_host())
            .map_err(|e| fail(ErrorClass::Tls, format!("{}: {e}", at.host)))?
            .to_owned();
        let config = self
            .tls
            .config()
            .map_err(|why| fail(ErrorClass::Tls, why))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = connector.connect(name, tcp).await.map_err(|e| {
            let why = tls::describe_io(&e);
            fail(ErrorClass::Tls, format!("TLS handshake: {why}"))
        })?;
        if self.http2 && tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(fail(
                ErrorClass::Tls,
                "the server did not agree to HTTP/2 (ALPN h2); it speaks only HTTP/1.1: run \
                 without http2"
                    .into(),
            ));
        }
        Ok(Io::Tls(Box::new(tls)))
    }
}

/// A connection to the first of `addrs` that takes one, tried in order (as
/// `TcpStream::connect` does with a name): the last one's error when none does.
async fn connect_any(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

/// The TLS client settings, made when the first TLS connection needs them.
///
/// Verifying certificates means loading and parsing the system's trusted roots (about 150
/// certificates): work, memory and code that a run against an `http://` target never uses.
/// Settings the user gave (`tls:`, `--cacert`, `--cert`, `--insecure`) are still made at
/// once, so a bad file is an error before any load; with none given, the only failure left
/// is the system's store, and it is each TLS connection's error (class `tls`).
#[derive(Debug)]
struct LazyTls {
    settings: Tls,
    alpn: Vec<Vec<u8>>,
    config: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

impl LazyTls {
    fn new(settings: &Tls, alpn: &[&[u8]]) -> Result<Self, String> {
        let lazy = Self {
            settings: settings.clone(),
            alpn: alpn.iter().map(|p| p.to_vec()).collect(),
            config: std::sync::OnceLock::new(),
        };
        if *settings != Tls::default() {
            lazy.config()?;
        }
        Ok(lazy)
    }

    fn config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        self.config
            .get_or_init(|| {
                let alpn: Vec<&[u8]> = self.alpn.iter().map(Vec::as_slice).collect();
                tls::client_config(&self.settings, &alpn).map(Arc::new)
            })
            .clone()
    }
}

/// Asks the proxy on `tcp` for a tunnel to `at` and reads its answer: a 2xx opens it.
async fn tunnel(tcp: &mut TcpStream, at: &Endpoint, p: &ProxyUrl) -> Result<(), Failure> {
    let authority = format!("{}:{}", at.host, at.port);
    let mut ask = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = proxy_authorization(p) {
        ask.push_str("Proxy-Authorization: ");
        ask.push_str(auth.to_str().unwrap_or_default());
        ask.push_str("\r\n");
    }
    ask.push_str("\r\n");
    let proxy = p.shown();
    tcp.write_all(ask.as_bytes())
        .await
        .map_err(|e| fail(ErrorClass::Connect, format!("proxy {proxy}: {e}")))?;
    let refused = |why: String| fail(ErrorClass::Connect, format!("proxy {proxy}: {why}"));
    let head = tunnel_answer(tcp, &authority, &refused).await?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err(refused(
                "its answer to CONNECT is not an HTTP response".into(),
            ));
        }
    }
    let status = response.code.unwrap_or(0);
    if (200..300).contains(&status) {
        return Ok(());
    }
    let reason = response.reason.unwrap_or_default();
    let hint = if status == 407 {
        "; give the proxy's credentials in its URL, as user:password@host:port"
    } else {
        ""
    };
    Err(refused(format!(
        "refused the tunnel to {authority}: {status} {reason}{hint}"
    )))
}

/// The head of the proxy's answer to CONNECT, and nothing after it: past a 200 the target
/// may speak first (an h2c server sends its SETTINGS at once), and those bytes belong to
/// the connection. So the socket is peeked, and only the head is consumed.
async fn tunnel_answer(
    tcp: &mut TcpStream,
    authority: &str,
    refused: &impl Fn(String) -> Failure,
) -> Result<Vec<u8>, Failure> {
    let mut head: Vec<u8> = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    loop {
        let n = tcp
            .peek(&mut buf)
            .await
            .map_err(|e| refused(e.to_string()))?;
        if n == 0 {
            return Err(refused(format!(
                "closed the connection before answering CONNECT to {authority}"
            )));
        }
        // Where the head ends, if it ends in what is waiting: "\r\n\r\n" may straddle
        // what was already consumed and what is peeked.
        let seen = head.len();
        let mut joined = head.clone();
        joined.extend_from_slice(&buf[..n]);
        let from = seen.saturating_sub(3);
        let end = joined[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| from + at + 4);
        let take = end.map_or(n, |end| end - seen);
        tcp.read_exact(&mut buf[..take])
            .await
            .map_err(|e| refused(e.to_string()))?;
        head.extend_from_slice(&buf[..take]);
        if end.is_some() {
            return Ok(head);
        }
        if head.len() > MOST_TUNNEL_HEAD {
            return Err(refused("its answer to CONNECT has no end".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;

    /// Small responses read and consumed one after another keep landing at the start of the
    /// connection's buffer: its resident memory is the page they use, not the whole chunk
    /// walked through (50 connections held 800 KiB instead of 200).
    #[tokio::test]
    async fn reads_of_consumed_responses_start_again_at_the_buffers_start() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("its address");
        let client = TcpStream::connect(addr);
        let (client, (mut server, _)) = tokio::join!(client, async {
            listener.accept().await.expect("a connection")
        });
        let mut io = Io::Plain(client.expect("connected"));
        let mut buf = BytesMut::new();
        let response = [b'x'; 300];
        for _ in 0..200 {
            server.write_all(&response).await.expect("written");
            let mut got = 0;
            while got < response.len() {
                got += io.read_buf(&mut buf).await.expect("read");
            }
            buf.advance(got);
            // At the start, the whole chunk is ahead; had the cursor walked, less would be.
            assert!(
                buf.capacity() >= READ_CHUNK - response.len(),
                "{}",
                buf.capacity()
            );
        }
    }

    /// A run against `http://` never loads the system's trusted roots (half a megabyte of
    /// parsed certificates); settings the user gave are still checked before the load.
    #[test]
    fn tls_settings_are_made_when_given_or_at_the_first_tls_connection() {
        let http = Http::default();
        let limit = Duration::from_secs(1);
        let plain = Dialer::new(&Tls::default(), &http, limit).expect("a dialer");
        assert!(plain.tls.config.get().is_none());
        assert!(plain.tls.config().is_ok());
        assert!(plain.tls.config.get().is_some());
        let insecure = Tls {
            insecure: true,
            ..Tls::default()
        };
        let given = Dialer::new(&insecure, &http, limit).expect("a dialer");
        assert!(given.tls.config.get().is_some());
        let broken = Tls {
            ca_pem: Some(b"-----BEGIN CERTIFICATE-----\nnot base64\n".to_vec()),
            ..Tls::default()
        };
        assert!(Dialer::new(&broken, &http, limit).is_err());
    }
}
