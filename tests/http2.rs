//! HTTP/2 (`http2: true`, `--http2`): h2c by prior knowledge over http, ALPN `h2` over TLS.
//! A hyper HTTP/2 server started here on 127.0.0.1 port 0 counts connections, requests and
//! the streams open at once on each connection: users share connections
//! `streams_per_connection` at a time, every request is HTTP/2, and the result says so.
//! A TLS server that does not offer h2 is refused before the load. A hand-written server
//! ends connections with GOAWAY after a number of requests, as nginx does: a graceful one
//! costs no error and no request, one with an error code is a `goaway` error; another
//! sends each stream's status and stalls, and the timeout keeps the status.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::server::Server;
use common::{run_json, scenario};

/// An HTTP/2 server: h2c, or TLS offering `alpn`.
fn start(alpn: Option<&[&[u8]]>) -> Server {
    Server::start(true, alpn)
}

fn load(url: &str, extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario(&format!(
        "target: {url}\n{extra}load: {{ vus: 8, iterations: 200 }}\nflows:\n  - steps: [ {{ get: /x }} ]\n"
    ))
}

#[test]
fn h2c_users_share_connections_a_stream_each() {
    let server = start(None);
    let (_dir, path) = load(&server.url, "http2: true\nstreams_per_connection: 4\n");
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let seen = &server.seen;
    assert_eq!(doc["total"]["requests"], 200, "{doc:#}");
    assert_eq!(seen.requests.load(Ordering::Relaxed), 200);
    assert_eq!(seen.other_versions.load(Ordering::Relaxed), 0);
    // The preflight's connection, then 8 users, 4 per connection.
    assert_eq!(seen.connections.load(Ordering::Relaxed), 1 + 2);
    assert_eq!(doc["protocol"]["http_version"], "2", "{doc:#}");
    assert_eq!(doc["protocol"]["connections_opened"], 2);
    assert_eq!(doc["protocol"]["streams_per_connection"], 4);
    let most = seen.most_streams.load(Ordering::Relaxed);
    assert!(
        (2..=4).contains(&most),
        "streams at once on a connection: {most}"
    );
    assert!(
        stdout.contains("HTTP/2 · 2 connections opened · up to 4 users per connection"),
        "{stdout}"
    );
}

#[test]
fn h2_over_tls_is_negotiated_by_alpn_and_one_connection_per_user_by_default() {
    let server = start(Some(&[b"h2"]));
    let (dir, path) = load(&server.url, "");
    let ca_file = server.ca_file(dir.path());
    let (code, doc, _, stderr) = run_json(
        &path,
        &["--http2", "--cacert", &ca_file],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["requests"], 200, "{doc:#}");
    assert_eq!(doc["protocol"]["http_version"], "2");
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 200);
    assert_eq!(server.seen.other_versions.load(Ordering::Relaxed), 0);
    // The preflight's handshake, then one connection per user.
    assert_eq!(server.seen.connections.load(Ordering::Relaxed), 1 + 8);
    assert_eq!(doc["protocol"]["connections_opened"], 8);
    assert_eq!(server.seen.most_streams.load(Ordering::Relaxed), 1);
}

#[test]
fn a_tls_server_without_h2_is_refused_before_the_load() {
    let server = start(Some(&[]));
    let (dir, path) = load(&server.url, "http2: true\n");
    let ca_file = server.ca_file(dir.path());
    let out = common::stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--headless",
            "--cacert",
            &ca_file,
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("did not agree to HTTP/2"), "{stderr}");
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 0);
}

#[test]
fn the_demo_speaks_h2c_and_http1_on_one_port() {
    let demo = common::Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 3, iterations: 30 }}\nflows:\n  - steps: [ {{ get: /fast }} ]\n",
        demo.url
    ));
    for (flag, version) in [("--http2", "2"), ("--quiet", "1.1")] {
        let (code, doc, _, stderr) = run_json(&path, &[flag], Duration::from_secs(60));
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(doc["protocol"]["http_version"], version, "{doc:#}");
        assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
        assert_eq!(doc["total"]["requests"], 30);
    }
    // Many streams on few connections: stampede's count is the service's own.
    let before = demo.counters.served(stampede::demo::Route::Fast);
    let (_dir, path) = scenario(&format!(
        "target: {}\nhttp2: true\nstreams_per_connection: 4\n\
         load: {{ vus: 8, iterations: 2000 }}\nflows:\n  - steps: [ {{ get: /fast }} ]\n",
        demo.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["requests"], 2000, "{doc:#}");
    assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
    assert_eq!(doc["protocol"]["connections_opened"], 2, "{doc:#}");
    let served = demo.counters.served(stampede::demo::Route::Fast) - before;
    assert_eq!(served, 2000, "the demo's own count");
}

#[test]
fn a_graceful_goaway_is_no_error_and_what_it_refused_is_sent_again() {
    // As nginx after `keepalive_requests`: GOAWAY(NO_ERROR) after 10 requests, refusing
    // the streams already on their way (regression: they were counted as `request` and
    // `reset` errors, and never reached the server).
    let server = GoawayServer::start(10, 0x0);
    let (_dir, path) = scenario(&format!(
        "target: {}\nhttp2: true\nstreams_per_connection: 4\n\
         load: {{ vus: 8, iterations: 300 }}\nflows:\n  - steps: [ {{ get: /x }} ]\n",
        server.url
    ));
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let answered = server.answered.load(Ordering::Relaxed);
    let refused = server.refused.load(Ordering::Relaxed);
    let goaways = server.goaways.load(Ordering::Relaxed);
    assert!(refused >= 1, "the test must refuse streams: {refused}");
    assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
    assert_eq!(doc["total"]["requests"], 300, "{doc:#}");
    assert_eq!(answered, 300, "the server's count equals stampede's");
    let graceful = doc["protocol"]["graceful_closes"]
        .as_u64()
        .expect("a count");
    assert!(
        goaways.saturating_sub(1) <= graceful && graceful <= goaways,
        "graceful closes {graceful}, GOAWAYs sent {goaways}"
    );
    assert!(stdout.contains("closed by the server (GOAWAY)"), "{stdout}");
}

#[test]
fn a_request_refused_by_connections_that_serve_others_goes_again_until_it_is_served() {
    // Each connection serves 2 streams and refuses the rest; 4 users share it, so a request
    // is often refused by several connections in a row, each of which served others. It is
    // sent again until it is served (3 resends, stop 29's bound, made the 4th an error).
    // In 15 runs, the request refused most was refused 6 to 13 times; the bound is 32.
    let server = GoawayServer::start(2, 0x0);
    let (_dir, path) = scenario(&format!(
        "target: {}\nhttp2: true\nstreams_per_connection: 4\n\
         load: {{ vus: 8, iterations: 300 }}\n\
         flows:\n  - steps: [ {{ get: \"/x/{{{{ uuid() }}}}\" }} ]\n",
        server.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
    assert_eq!(doc["total"]["requests"], 300, "{doc:#}");
    assert_eq!(server.answered.load(Ordering::Relaxed), 300);
    let most = server.most_refusals();
    assert!(
        most >= 4,
        "the test must refuse a request 4 times: at most {most}"
    );
}

#[test]
fn a_server_that_refuses_every_request_gracefully_is_answered_by_a_goaway_error() {
    // GOAWAY(NO_ERROR, last stream 0) on every connection: the server serves nothing, so the
    // request is sent on 4 connections (3 resends) and then counted once, as an error.
    // (A server that serves others while it refuses this one is making progress: the
    // test above.)
    let server = GoawayServer::start(0, 0x0);
    let (_dir, path) = scenario(&format!(
        "target: {}\nhttp2: true\nload: {{ vus: 1, iterations: 1 }}\n\
         flows:\n  - steps: [ {{ get: /x }} ]\n",
        server.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let total = &doc["total"];
    assert_eq!(total["requests"], 1, "{doc:#}");
    assert_eq!(common::error_count(total, "goaway"), 1, "{doc:#}");
    assert_eq!(server.answered.load(Ordering::Relaxed), 0);
    assert_eq!(server.goaways.load(Ordering::Relaxed), 4);
    let sample = total["errors_by_class"][0]["sample"]
        .as_str()
        .expect("a sample");
    assert!(sample.contains("on each of the 4 connections"), "{sample}");
}

#[test]
fn a_stream_that_times_out_after_its_status_keeps_its_status_and_bytes() {
    // The server sends each stream's status and 3 bytes of a body that never ends.
    let heads = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&heads);
    let (url, _runtime) = hand_written(move |tcp| {
        let seen = Arc::clone(&seen);
        async move {
            let _ = stalled_connection(tcp, seen).await;
        }
    });
    let (_dir, path) = scenario(&format!(
        "target: {url}\nhttp2: true\nload: {{ vus: 2, iterations: 4 }}\n\
         defaults: {{ timeout: 2s }}\nflows:\n  - steps: [ {{ get: /x }} ]\n"
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let total = &doc["total"];
    assert_eq!(total["requests"], 4, "{doc:#}");
    assert_eq!(common::error_count(total, "timeout"), 4, "{doc:#}");
    assert_eq!(total["status_codes"]["200"], 4, "{doc:#}");
    assert_eq!(total["bytes_received"], 12, "{doc:#}");
    assert_eq!(heads.load(Ordering::Relaxed), 4);
}

/// Answers every stream with `:status 200` and 3 bytes of a body it never ends.
async fn stalled_connection(mut tcp: TcpStream, heads: Arc<AtomicU64>) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut preface = [0u8; 24];
    tcp.read_exact(&mut preface).await?;
    tcp.write_all(&frame(0x4, 0, 0, &[])).await?;
    loop {
        let (kind, flags, stream, _) = read_frame(&mut tcp).await?;
        match kind {
            0x4 if flags & 0x1 == 0 => tcp.write_all(&frame(0x4, 0x1, 0, &[])).await?,
            0x1 => {
                heads.fetch_add(1, Ordering::Relaxed);
                // END_HEADERS only, then DATA without END_STREAM.
                let mut out = frame(0x1, 0x4, stream, &[0x88]);
                out.extend_from_slice(&frame(0x0, 0, stream, b"abc"));
                tcp.write_all(&out).await?;
            }
            _ => {}
        }
    }
}

#[test]
fn a_goaway_with_an_error_code_is_a_goaway_error_with_its_code() {
    let server = GoawayServer::start(10, 0xb);
    let (_dir, path) = scenario(&format!(
        "target: {}\nhttp2: true\nstreams_per_connection: 4\n\
         load: {{ vus: 8, iterations: 100 }}\nflows:\n  - steps: [ {{ get: /x }} ]\n",
        server.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let total = &doc["total"];
    let errors = total["errors"].as_u64().expect("errors");
    assert!(errors >= 1, "{doc:#}");
    assert_eq!(common::error_count(total, "goaway"), errors, "{doc:#}");
    // Each request is counted once: answered, or refused with the error.
    let answered = server.answered.load(Ordering::Relaxed);
    assert_eq!(
        total["requests"].as_u64(),
        Some(answered + errors),
        "{doc:#}"
    );
    let sample = total["errors_by_class"][0]["sample"]
        .as_str()
        .expect("a sample");
    assert!(
        sample.contains("GOAWAY ENHANCE_YOUR_CALM (0xb)"),
        "{sample}"
    );
    assert_eq!(doc["protocol"]["graceful_closes"], 0, "{doc:#}");
}

/// A hand-written h2c server that ends each connection as nginx does: after `limit`
/// requests, the next stream to arrive makes it send GOAWAY(last stream id = the last one
/// it answered, `code`) and close; that stream and any after it are never processed.
/// Each request is answered at once with an empty 200.
struct GoawayServer {
    url: String,
    answered: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    goaways: Arc<AtomicU64>,
    /// Refusals per request path that holds `/x/` and an id after it.
    refusals: Refusals,
    _runtime: tokio::runtime::Runtime,
}

type Refusals = Arc<Mutex<HashMap<Vec<u8>, u32>>>;

impl GoawayServer {
    fn start(limit: u64, code: u32) -> Self {
        let (answered, refused, goaways) = (Arc::default(), Arc::default(), Arc::default());
        let refusals = Refusals::default();
        let counts = Counts {
            answered: Arc::clone(&answered),
            refused: Arc::clone(&refused),
            goaways: Arc::clone(&goaways),
            refusals: Arc::clone(&refusals),
        };
        let (url, runtime) = hand_written(move |tcp| {
            let counts = counts.clone();
            async move {
                let _ = goaway_connection(tcp, limit, code, counts).await;
            }
        });
        Self {
            url,
            answered,
            refused,
            goaways,
            refusals,
            _runtime: runtime,
        }
    }

    /// The most times one request (by its path) was refused.
    fn most_refusals(&self) -> u32 {
        let refusals = self.refusals.lock().expect("refusals");
        refusals.values().copied().max().unwrap_or(0)
    }
}

/// Listens on 127.0.0.1 port 0 and runs `connection` for each connection it accepts;
/// returns the URL and the runtime that serves it (the server ends with it).
fn hand_written<F, Fut>(connection: F) -> (String, tokio::runtime::Runtime)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (runtime, listener, addr) = common::server::listening();
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(connection(tcp));
        }
    });
    (format!("http://{addr}"), runtime)
}

#[derive(Clone)]
struct Counts {
    answered: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    goaways: Arc<AtomicU64>,
    refusals: Refusals,
}

impl Counts {
    /// A refused stream, by the path in its header block (stampede writes `:path` as a
    /// literal, not Huffman-coded): `/x/` and the 36 characters of a UUID after it.
    fn refuse(&self, block: &[u8]) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let Some(at) = block.windows(3).position(|w| w == b"/x/") else {
            return;
        };
        if let Some(path) = block.get(at..at + 3 + 36) {
            let mut refusals = self.refusals.lock().expect("refusals");
            *refusals.entry(path.to_vec()).or_default() += 1;
        }
    }
}

/// One frame: 24-bit length, type, flags, stream id, payload (RFC 9113 §4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

async fn read_frame(tcp: &mut TcpStream) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    tcp.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).await?;
    Ok((head[3], head[4], stream, payload))
}

async fn goaway_connection(
    mut tcp: TcpStream,
    limit: u64,
    code: u32,
    counts: Counts,
) -> std::io::Result<()> {
    // Each frame its own write: without this, Nagle's algorithm held some for the
    // client's delayed ACK (40 ms).
    tcp.set_nodelay(true)?;
    let mut preface = [0u8; 24];
    tcp.read_exact(&mut preface).await?;
    tcp.write_all(&frame(0x4, 0, 0, &[])).await?;
    let (mut answered, mut last) = (0u64, 0u32);
    loop {
        let (kind, flags, stream, payload) = read_frame(&mut tcp).await?;
        match kind {
            0x4 if flags & 0x1 == 0 => tcp.write_all(&frame(0x4, 0x1, 0, &[])).await?,
            0x6 if flags & 0x1 == 0 => tcp.write_all(&frame(0x6, 0x1, 0, &payload)).await?,
            0x1 if answered < limit => {
                answered += 1;
                last = stream;
                counts.answered.fetch_add(1, Ordering::Relaxed);
                // :status 200 (HPACK static index 8), END_HEADERS | END_STREAM.
                tcp.write_all(&frame(0x1, 0x5, stream, &[0x88])).await?;
            }
            0x1 => {
                counts.refuse(&payload);
                break;
            }
            _ => {}
        }
    }
    counts.goaways.fetch_add(1, Ordering::Relaxed);
    let mut goaway = last.to_be_bytes().to_vec();
    goaway.extend_from_slice(&code.to_be_bytes());
    tcp.write_all(&frame(0x7, 0, 0, &goaway)).await?;
    tcp.shutdown().await?;
    // Read on until the client closes, so that closing does not reset the connection
    // (and lose the GOAWAY) with its last frames unread; count the streams it refuses.
    let drain = async {
        while let Ok((kind, _, _, payload)) = read_frame(&mut tcp).await {
            if kind == 0x1 {
                counts.refuse(&payload);
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    Ok(())
}
