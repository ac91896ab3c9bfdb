//! HTTP/2 (`http2: true`, `--http2`): h2c by prior knowledge over http, ALPN `h2` over TLS.
//! A hyper HTTP/2 server started here on 127.0.0.1 port 0 counts connections, requests and
//! the streams open at once on each connection: users share connections
//! `streams_per_connection` at a time, every request is HTTP/2, and the result says so.
//! A TLS server that does not offer h2 is refused before the load.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

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
}
