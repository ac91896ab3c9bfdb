//! HTTP/1.1 details every transport must get right, run on both (`--transport fast`, the
//! default, and `reqwest`): chunked bodies, 1xx responses, HEAD answers with a length and no
//! body, and servers that end keep-alive with `connection: close`. The fault server counts
//! what it read, answered and accepted; it listens on 127.0.0.1 port 0.

mod common;

use std::time::Duration;

use common::fault::{Fault, FaultServer};
use common::{error_count, run_json, scenario};

const TRANSPORTS: [&str; 2] = ["fast", "reqwest"];

/// Whether `server`'s connections show keep-alive for 2 users and 20 requests: exactly one
/// connection per user on `fast`; reqwest's pool may open a spare one when a connection is
/// not back in the pool yet as the next request starts.
fn kept_alive(server: &FaultServer, transport: &str) -> bool {
    let most = if transport == "fast" { 2 } else { 5 };
    server.connections() <= most
}

/// Runs `step` (YAML flow style) 20 times from 2 users on `transport`; returns the JSON.
fn run(server: &FaultServer, step: &str, transport: &str) -> serde_json::Value {
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 2, iterations: 20 }}\ndefaults: {{ timeout: 2s }}\n\
         flows:\n  - steps: [ {step} ]\n",
        server.url
    ));
    // No preflight: the server's connection count is then the users' alone.
    let args = ["--transport", transport, "--no-preflight"];
    let (code, doc, _, stderr) = run_json(&path, &args, Duration::from_secs(30));
    assert_eq!(code, 0, "{transport}: {stderr}");
    doc
}

#[test]
fn chunked_bodies_are_read_whole_and_checked() {
    for t in TRANSPORTS {
        let server = FaultServer::start(Fault::Chunked);
        let step = "{ get: /, expect: { body: [ { contains: hello world } ] } }";
        let doc = run(&server, step, t);
        assert_eq!(doc["total"]["status_codes"]["200"], 20, "{t}: {doc:#}");
        assert_eq!(doc["total"]["errors"], 0, "{t}: {doc:#}");
        assert_eq!(doc["total"]["bytes_received"], 20 * 11, "{t}");
        assert!(
            kept_alive(&server, t),
            "{t}: {} connections",
            server.connections()
        );
    }
}

#[test]
fn informational_responses_are_skipped() {
    for t in TRANSPORTS {
        let server = FaultServer::start(Fault::Informational);
        let doc = run(&server, "{ get: / }", t);
        assert_eq!(doc["total"]["status_codes"]["200"], 20, "{t}: {doc:#}");
        assert!(doc["total"]["status_codes"].get("100").is_none(), "{t}");
        assert_eq!(doc["total"]["errors"], 0, "{t}");
    }
}

#[test]
fn a_head_answer_has_a_length_and_no_body() {
    for t in TRANSPORTS {
        let server = FaultServer::start(Fault::HeadOnly);
        let doc = run(&server, "{ head: / }", t);
        assert_eq!(doc["total"]["status_codes"]["200"], 20, "{t}: {doc:#}");
        assert_eq!(doc["total"]["errors"], 0, "{t}");
        assert_eq!(doc["total"]["bytes_received"], 0, "{t}");
        assert!(
            kept_alive(&server, t),
            "{t}: {} connections",
            server.connections()
        );
    }
}

#[test]
fn connection_close_means_a_clean_reconnect_and_no_lost_request() {
    for t in TRANSPORTS {
        let server = FaultServer::start(Fault::CloseAfter(3));
        let doc = run(&server, "{ get: / }", t);
        assert_eq!(doc["total"]["status_codes"]["200"], 20, "{t}: {doc:#}");
        assert_eq!(doc["total"]["errors"], 0, "{t}: {doc:#}");
        assert_eq!(error_count(&doc["total"], "reset"), 0, "{t}");
        assert_eq!(server.requests(), 20, "{t}");
        // Every third response closes its connection: at least 20 / 3 connections.
        assert!(server.connections() >= 7, "{t}: {}", server.connections());
    }
}

#[test]
fn a_connection_closed_while_idle_is_replaced_before_the_next_request() {
    for t in TRANSPORTS {
        let server = FaultServer::start(Fault::CloseIdle);
        let (_dir, path) = scenario(&format!(
            "target: {}\nload: {{ vus: 2, iterations: 8 }}\n\
             flows:\n  - steps: [ {{ get: /, think: 400ms }} ]\n",
            server.url
        ));
        let args = ["--transport", t, "--no-preflight"];
        let (code, doc, _, stderr) = run_json(&path, &args, Duration::from_secs(30));
        assert_eq!(code, 0, "{t}: {stderr}");
        assert_eq!(doc["total"]["errors"], 0, "{t}: {doc:#}");
        assert_eq!(doc["total"]["status_codes"]["200"], 8, "{t}");
        assert_eq!(server.requests(), 8, "{t}");
    }
}
