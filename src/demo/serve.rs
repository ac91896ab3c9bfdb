//! The demo's accept loop: HTTP/1 connections served by hyper with a header-read timeout,
//! HTTP/2 by prior knowledge (h2c, for `--http2` against the demo) when a connection opens
//! with the HTTP/2 preface, and a stop that waits for requests in flight only until a
//! deadline.
//!
//! axum's `serve` has neither, so a client that sent half a request held its connection
//! forever and kept a graceful stop (Ctrl-C) from ever ending. Invariant: once `stop` is
//! cancelled, `serve` returns within `shutdown_grace`, and every connection task ends with it.

use std::io::ErrorKind;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The time limits of the connections one server accepts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadlines {
    /// A request's head must arrive within this (also closes connections idle this long).
    pub header_read: Duration,
    /// How long a stop waits for requests in flight before dropping their connections.
    pub shutdown_grace: Duration,
}

/// Serves `app` on `listener` until `stop` is cancelled, then for at most the grace period.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    deadlines: Deadlines,
    stop: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small answers go out at once, not held back for a delayed ACK.
                    let _ = stream.set_nodelay(true);
                    let (app, stop) = (app.clone(), stop.clone());
                    connections.spawn(connection(stream, app, deadlines.header_read, stop));
                }
                Err(e) => accept_failed(&e).await,
            },
            // Reap finished connections, so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    // Past the deadline, dropping the set aborts the connections still open.
    let _ = tokio::time::timeout(deadlines.shutdown_grace, drained).await;
}

/// The start of the HTTP/2 connection preface (RFC 9113, 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Serves one connection; on `stop`, finishes the request in flight and closes.
async fn connection(
    stream: TcpStream,
    app: Router,
    header_read: Duration,
    stop: CancellationToken,
) {
    let mut first = [0u8; H2_PREFACE.len()];
    let peeked = tokio::time::timeout(header_read, peek_full(&stream, &mut first)).await;
    match peeked {
        Ok(true) if first == *H2_PREFACE => return h2c(stream, app, stop).await,
        Ok(_) => {}
        // Nothing within the header timeout: the connection is dropped, as HTTP/1's would be.
        Err(_) => return,
    }
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        // A failed connection (reset, header timeout) concerns only its client.
        _ = conn.as_mut() => return,
        () = stop.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Peeks until `buf` is full or the peer stops sending (a short HTTP/1 request, a close);
/// `true` when it is full.
async fn peek_full(stream: &TcpStream, buf: &mut [u8]) -> bool {
    loop {
        match stream.peek(buf).await {
            Ok(n) if n == buf.len() => return true,
            // An HTTP/1 request line shorter than the preface ("GET / HTTP/1.1" is 14 bytes,
            // as long as the preface's start): what differs is already visible.
            Ok(n) if n > 0 && buf[..n] != H2_PREFACE[..n] => return false,
            Ok(0) | Err(_) => return false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// Serves an HTTP/2 connection (prior knowledge); on `stop`, lets its streams finish.
async fn h2c(stream: TcpStream, app: Router, stop: CancellationToken) {
    let builder = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = stop.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Backs off after a failed accept, as hyper 0.14's server did: errors of one connection are
/// retried at once, anything else (out of file descriptors) would spin, so it waits.
async fn accept_failed(e: &std::io::Error) {
    let one_connection = matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    );
    if !one_connection {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
