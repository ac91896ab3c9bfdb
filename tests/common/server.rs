//! A hyper server for protocol tests, on 127.0.0.1 port 0 on its own runtime: HTTP/1.1 or
//! HTTP/2 (h2c, or TLS with the ALPN protocols given), answering `ok` after 5 ms (so that
//! streams overlap). It counts connections, requests, requests of another HTTP version,
//! and the most requests open at once on one connection.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the server saw.
#[derive(Default)]
pub struct Seen {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    /// Requests not in the server's HTTP version.
    pub other_versions: AtomicU64,
    /// The most requests open at once on one connection.
    pub most_streams: AtomicU64,
}

impl Seen {
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

pub struct Server {
    pub url: String,
    pub seen: Arc<Seen>,
    /// The authority to trust (PEM), for a TLS server.
    pub ca_pem: Option<String>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    /// `h2`: HTTP/2, else HTTP/1.1; `tls`: the ALPN protocols a TLS server offers (`None`:
    /// plain TCP).
    pub fn start(h2: bool, tls: Option<&[&[u8]]>) -> Self {
        let (runtime, listener, addr) = listening();
        let seen = Arc::new(Seen::default());
        let ca = tls.map(|_| super::certs::Authority::new());
        let acceptor = match (&ca, tls) {
            (Some(ca), Some(alpn)) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(
                ca.server_config(alpn),
            ))),
            _ => None,
        };
        let counted = Arc::clone(&seen);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (seen, acceptor) = (Arc::clone(&counted), acceptor.clone());
                tokio::spawn(async move {
                    seen.connections.fetch_add(1, Ordering::Relaxed);
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                serve(tls, h2, seen).await;
                            }
                        }
                        None => serve(tcp, h2, seen).await,
                    }
                });
            }
        });
        let scheme = if ca.is_some() { "https" } else { "http" };
        Self {
            url: format!("{scheme}://{addr}"),
            seen,
            ca_pem: ca.map(|c| c.ca_pem),
            _runtime: runtime,
        }
    }

    /// Writes the authority's PEM into `dir`; returns the file's path.
    pub fn ca_file(&self, dir: &std::path::Path) -> String {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca_pem.as_deref().expect("a TLS server")).expect("write ca");
        path.to_str().expect("utf-8 path").to_string()
    }
}

/// A one-thread runtime of its own and a listener on 127.0.0.1 port 0, for a test's server.
pub fn listening() -> (
    tokio::runtime::Runtime,
    tokio::net::TcpListener,
    std::net::SocketAddr,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    (runtime, listener, addr)
}

async fn serve<I>(io: I, h2: bool, seen: Arc<Seen>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let open = Arc::new(AtomicU64::new(0));
    let version = if h2 {
        hyper::Version::HTTP_2
    } else {
        hyper::Version::HTTP_11
    };
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (seen, open) = (Arc::clone(&seen), Arc::clone(&open));
        async move {
            seen.requests.fetch_add(1, Ordering::Relaxed);
            if req.version() != version {
                seen.other_versions.fetch_add(1, Ordering::Relaxed);
            }
            let now = open.fetch_add(1, Ordering::Relaxed) + 1;
            seen.most_streams.fetch_max(now, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
            open.fetch_sub(1, Ordering::Relaxed);
            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    });
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(io), service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .await;
    }
}

/// A server on 127.0.0.1 port 0, HTTP/1.1 with keep-alive, answering each request with
/// `answer` on a runtime of its own: the accept-and-serve loop a test's own server needs.
/// Returns its base URL and the runtime (the server stops when it is dropped).
pub fn serve_http1<F>(answer: F) -> (String, tokio::runtime::Runtime)
where
    F: Fn(&hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>>
        + Send
        + Sync
        + 'static,
{
    let (runtime, listener, addr) = listening();
    let answer = Arc::new(answer);
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let response = answer(&req);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), runtime)
}
