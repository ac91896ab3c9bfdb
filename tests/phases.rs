//! Phase timings and connection reuse against ground truth: a small HTTP/1.1 server on
//! 127.0.0.1 port 0 that counts the connections it accepts and times its own wait before
//! each response's first byte, keeps connections alive or closes each after its response,
//! and can leave a new connection waiting before it serves it. stampede's `connections`
//! must equal what the server accepted, its `ttfb` the server's wait, and each phase must
//! be recorded as often as it happened. HTTP/2 (h2c), TLS and the reqwest transport say
//! what they can. Runs go without the preflight, so the server's count is the run's.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{run_json, scenario, step};

/// How the server behaves.
#[derive(Clone, Copy, Default)]
struct Behaviour {
    /// Answer `connection: close` and close after each response.
    close: bool,
    /// Leave each new connection this long before serving it (the kernel has completed
    /// its handshake already: the request waits in the socket's buffer).
    late_accept: Duration,
    /// Wait this long after a request before the response's first byte.
    think: Duration,
}

/// What the server saw: connections, and its own wait before each response (µs).
#[derive(Default)]
struct Record {
    connections: AtomicU64,
    waits: Mutex<Vec<u64>>,
}

struct Server {
    url: String,
    record: Arc<Record>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start(behaviour: Behaviour) -> Self {
        let (runtime, listener, addr) = common::server::listening();
        let record = Arc::new(Record::default());
        let shared = Arc::clone(&record);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(tcp, behaviour, Arc::clone(&shared)));
            }
        });
        Self {
            url: format!("http://{addr}"),
            record,
            _runtime: runtime,
        }
    }

    fn connections(&self) -> u64 {
        self.record.connections.load(Ordering::Relaxed)
    }

    /// The server's waits before the first byte, sorted (µs).
    fn waits(&self) -> Vec<u64> {
        let mut waits = self.record.waits.lock().expect("record").clone();
        waits.sort_unstable();
        waits
    }
}

/// Serves GET requests (no body) on one connection, one at a time.
async fn serve(mut tcp: TcpStream, behaviour: Behaviour, record: Arc<Record>) {
    tokio::time::sleep(behaviour.late_accept).await;
    let _ = tcp.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.clear();
        let asked = Instant::now();
        tokio::time::sleep(behaviour.think).await;
        let connection = if behaviour.close {
            "close"
        } else {
            "keep-alive"
        };
        let response =
            format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: {connection}\r\n\r\nok");
        let waited = asked.elapsed();
        if tcp.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        record.waits.lock().expect("record").push(us);
        if behaviour.close {
            let _ = tcp.shutdown().await;
            return;
        }
    }
}

fn load(target: &str, vus: u32, iterations: u32, extra: &str) -> String {
    format!(
        "name: phases\ntarget: {target}\n{extra}load: {{ vus: {vus}, iterations: {iterations} }}\n\
         flows:\n  - name: main\n    steps:\n      - {{ name: get, get: / }}\n"
    )
}

/// Runs `text` without the preflight; returns the step's figures.
fn run(text: &str, extra: &[&str]) -> (Value, String) {
    let (_dir, path) = scenario(text);
    let mut args = vec!["--no-preflight"];
    args.extend_from_slice(extra);
    let (code, doc, stdout, stderr) = run_json(&path, &args, Duration::from_secs(60));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    (step(&doc, "get").clone(), stdout)
}

fn count(stats: &Value, phase: &str) -> u64 {
    stats["phases_ms"][phase]["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {phase} count in {stats:#}"))
}

fn ms(stats: &Value, phase: &str, key: &str) -> f64 {
    stats["phases_ms"][phase][key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {phase}.{key} in {stats:#}"))
}

#[test]
fn five_users_on_keep_alive_make_five_connections_and_reuse_them() {
    let server = Server::start(Behaviour::default());
    // By name: each new connection looks `localhost` up once.
    let target = server.url.replace("127.0.0.1", "localhost");
    let (stats, stdout) = run(&load(&target, 5, 200, ""), &["--phases"]);
    assert_eq!(stats["requests"], 200, "{stats:#}");
    assert_eq!(server.connections(), 5);
    let connections = &stats["connections"];
    assert_eq!(connections["new"], 5, "{stats:#}");
    assert_eq!(connections["reused"], 195, "{stats:#}");
    assert_eq!(connections["reconnects"], 0, "{stats:#}");
    // DNS and connect once per connection, no TLS; the rest once per response.
    assert_eq!((count(&stats, "dns"), count(&stats, "connect")), (5, 5));
    assert_eq!(count(&stats, "tls"), 0);
    for phase in ["write", "ttfb", "download"] {
        assert_eq!(count(&stats, phase), 200, "{phase}");
    }
    // The summary's phases table, asked for with --phases.
    assert!(
        stdout.contains("phases") && stdout.contains("reconnects"),
        "{stdout}"
    );
    assert!(stdout.contains("ttfb"), "{stdout}");
}

#[test]
fn a_server_that_closes_after_each_response_gets_a_new_connection_each_time() {
    let server = Server::start(Behaviour {
        close: true,
        ..Behaviour::default()
    });
    let (stats, _) = run(&load(&server.url, 2, 40, ""), &[]);
    assert_eq!(stats["requests"], 40, "{stats:#}");
    assert_eq!(stats["errors"], 0, "{stats:#}");
    assert_eq!(server.connections(), 40);
    let connections = &stats["connections"];
    assert_eq!(connections["new"], 40, "{stats:#}");
    assert_eq!(connections["reused"], 0, "{stats:#}");
    // Each user's first connection is no reconnect; every later one replaces a closed one.
    assert_eq!(connections["reconnects"], 38, "{stats:#}");
    // An IP address is not looked up.
    assert_eq!((count(&stats, "dns"), count(&stats, "connect")), (0, 40));
}

/// An accept delay cannot slow the connect: the kernel completes the TCP handshake before
/// the server calls accept(), and the request waits in the socket's buffer. So a server
/// that gets to each new connection 50 ms late shows it in the time to first byte of the
/// connection's first request, while connect stays short and is counted once per
/// connection. (Slowing the handshake itself honestly would take a full accept backlog,
/// whose effect, a SYN retransmitted after a second, depends on the kernel's settings.)
#[test]
fn a_late_accept_shows_in_the_first_bytes_wait_not_in_connect() {
    let late = Duration::from_millis(50);
    let server = Server::start(Behaviour {
        late_accept: late,
        ..Behaviour::default()
    });
    let (stats, _) = run(&load(&server.url, 2, 40, ""), &[]);
    assert_eq!(stats["connections"]["new"], 2, "{stats:#}");
    assert_eq!(count(&stats, "connect"), 2);
    assert!(ms(&stats, "connect", "max") < 25.0, "{stats:#}");
    // Two first requests waited for the accept; the other 38 did not.
    assert!(ms(&stats, "ttfb", "max") >= 50.0, "{stats:#}");
    assert!(ms(&stats, "ttfb", "p90") < 25.0, "{stats:#}");
}

#[test]
fn the_time_to_first_byte_is_the_servers_wait_within_a_millisecond() {
    let server = Server::start(Behaviour {
        think: Duration::from_millis(30),
        ..Behaviour::default()
    });
    let (stats, _) = run(&load(&server.url, 1, 30, ""), &[]);
    let waits = server.waits();
    assert_eq!(waits.len(), 30);
    let wait_p50 = waits[14] as f64 / 1000.0;
    let ttfb_p50 = ms(&stats, "ttfb", "p50");
    assert!(
        ttfb_p50 >= 30.0 && (ttfb_p50 - wait_p50).abs() <= 1.0,
        "ttfb p50 {ttfb_p50} ms, the server waited {wait_p50} ms (p50)\n{stats:#}"
    );
    assert!(ms(&stats, "ttfb", "min") >= 30.0, "{stats:#}");
    // The rest of the request's time is small: the write and the two-byte body.
    assert!(ms(&stats, "write", "p99") < 5.0, "{stats:#}");
    assert!(ms(&stats, "download", "p99") < 5.0, "{stats:#}");
}

/// HTTP/2 (h2c): no write phase (hyper does not say when a request's frames are written);
/// the wait for the head and the body, per response; one new connection per user, the
/// rest reused.
#[test]
fn http2_gives_the_first_byte_and_the_download_and_counts_its_connections() {
    let server = common::server::Server::start(true, None);
    let (stats, _) = run(&load(&server.url, 3, 60, "http2: true\n"), &[]);
    assert_eq!(stats["requests"], 60, "{stats:#}");
    assert_eq!(server.seen.connections(), 3);
    let connections = &stats["connections"];
    assert_eq!(connections["new"], 3, "{stats:#}");
    assert_eq!(connections["reused"], 57, "{stats:#}");
    assert_eq!(count(&stats, "connect"), 3);
    assert_eq!(count(&stats, "write"), 0);
    assert_eq!((count(&stats, "ttfb"), count(&stats, "download")), (60, 60));
    // The server answers after 5 ms.
    assert!(ms(&stats, "ttfb", "p50") >= 5.0, "{stats:#}");
}

#[test]
fn a_tls_connection_times_its_handshake_once() {
    let server = common::server::Server::start(false, Some(&[b"http/1.1"]));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = server.ca_file(dir.path());
    let (stats, _) = run(&load(&server.url, 2, 20, ""), &["--cacert", &ca]);
    assert_eq!(stats["connections"]["new"], 2, "{stats:#}");
    assert_eq!((count(&stats, "connect"), count(&stats, "tls")), (2, 2));
    assert!(ms(&stats, "tls", "min") > 0.0, "{stats:#}");
}

/// reqwest's pool does not say whether it made a connection: no counts and no connection
/// phases, but the head's arrival and the body.
#[test]
fn the_reqwest_transport_gives_only_the_first_byte_and_the_download() {
    let server = Server::start(Behaviour::default());
    let (stats, _) = run(&load(&server.url, 2, 20, ""), &["--transport", "reqwest"]);
    let connections = &stats["connections"];
    assert_eq!(
        (&connections["new"], &connections["reused"]),
        (&0.into(), &0.into())
    );
    for phase in ["dns", "connect", "tls", "write"] {
        assert_eq!(count(&stats, phase), 0, "{phase}");
    }
    assert_eq!((count(&stats, "ttfb"), count(&stats, "download")), (20, 20));
}

/// A connect that fails records no phase and counts no connection: the error is counted,
/// nothing else.
#[test]
fn a_failed_connect_times_nothing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (stats, _) = run(&load(&format!("http://127.0.0.1:{port}"), 1, 5, ""), &[]);
    assert_eq!(
        common::error_count(&stats, "connect_refused"),
        5,
        "{stats:#}"
    );
    let connections = &stats["connections"];
    assert_eq!(
        (&connections["new"], &connections["reused"]),
        (&0.into(), &0.into())
    );
    for phase in ["dns", "connect", "tls", "write", "ttfb", "download"] {
        assert_eq!(count(&stats, phase), 0, "{phase}");
    }
}

/// A request that timed out after its connection was made still counts that connection,
/// with its connect time: a server that accepts and never answers.
#[test]
fn a_timed_out_request_counts_the_connection_it_made() {
    let server = Server::start(Behaviour {
        think: Duration::from_secs(30),
        ..Behaviour::default()
    });
    let (stats, _) = run(
        &load(&server.url, 2, 2, "defaults: { timeout: 200ms }\n"),
        &[],
    );
    assert_eq!(common::error_count(&stats, "timeout"), 2, "{stats:#}");
    assert_eq!(stats["connections"]["new"], 2, "{stats:#}");
    assert_eq!(count(&stats, "connect"), 2);
    // No response: nothing past the connection is timed.
    assert_eq!((count(&stats, "write"), count(&stats, "ttfb")), (0, 0));
}
