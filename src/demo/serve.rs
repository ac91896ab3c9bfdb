//! The demo's accept loop: HTTP/1 connections served by hyper with a header-read timeout, and
//! a stop that waits for requests in flight only until a deadline.
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

/// Serves one connection; on `stop`, finishes the request in flight and closes.
async fn connection(
    stream: TcpStream,
    app: Router,
    header_read: Duration,
    stop: CancellationToken,
) {
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
