//! The fault matrix: a target that misbehaves in each of the ways a real one does, and what
//! stampede counts. Every request is accounted for against the fault server's own count:
//! what it read, and what it answered in full. Servers listen on 127.0.0.1 port 0.

mod common;

use std::time::Duration;

use common::fault::{Fault, FaultServer};
use common::{Demo, error_count, run_json, scenario};

/// Runs `iterations` requests of `GET /` from `vus` users against `url`; returns the JSON.
fn run_against(url: &str, load: &str, extra: &[&str]) -> (serde_json::Value, String) {
    let (_dir, path) = scenario(&format!(
        "target: {url}\nload: {load}\ndefaults: {{ timeout: 1s }}\n\
         flows:\n  - steps: [ {{ name: get, get: / }} ]\n"
    ));
    let (code, doc, stdout, stderr) = run_json(&path, extra, Duration::from_secs(60));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    (doc, stdout)
}

fn total(doc: &serde_json::Value, field: &str) -> u64 {
    doc["total"][field].as_u64().unwrap_or(0)
}

#[test]
fn a_reset_per_request_is_class_reset_and_every_one_is_counted() {
    let server = FaultServer::start(Fault::Reset);
    let (doc, _) = run_against(&server.url, "{ vus: 2, iterations: 40 }", &[]);
    assert_eq!(total(&doc, "requests"), 40);
    assert_eq!(error_count(&doc["total"], "reset"), 40, "{doc:#}");
    assert_eq!(
        server.requests(),
        40,
        "each reset request reached the server once"
    );
}

#[test]
fn accept_and_never_answer_ends_in_timeouts_with_their_latency() {
    let server = FaultServer::start(Fault::NeverAnswer);
    let (doc, _) = run_against(&server.url, "{ vus: 3, iterations: 6 }", &[]);
    assert_eq!(error_count(&doc["total"], "timeout"), 6, "{doc:#}");
    assert_eq!(server.requests(), 6);
    // A timeout waited its full second: it counts in the latency (to the histogram's 3
    // significant figures: 1 s may read as 999.4 ms).
    assert!(
        doc["total"]["latency_ms"]["min"]
            .as_f64()
            .is_some_and(|ms| ms >= 999.0)
    );
}

#[test]
fn a_100_mb_body_is_counted_in_full() {
    let size = 100u64 << 20;
    let server = FaultServer::start(Fault::Body(size));
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 1, iterations: 2 }}\ndefaults: {{ timeout: 20s }}\n\
         flows:\n  - steps: [ {{ get: / }} ]\n",
        server.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["status_codes"]["200"], 2, "{doc:#}");
    assert_eq!(total(&doc, "bytes_received"), 2 * size);
    assert_eq!(server.answered(), 2);
}

#[test]
fn garbage_bytes_are_a_request_error() {
    let server = FaultServer::start(Fault::Garbage);
    let (doc, _) = run_against(&server.url, "{ vus: 2, iterations: 10 }", &[]);
    assert_eq!(total(&doc, "requests"), 10);
    assert_eq!(error_count(&doc["total"], "request"), 10, "{doc:#}");
    assert_eq!(server.requests(), 10);
}

#[test]
fn a_truncated_body_is_class_body_and_keeps_its_status_and_bytes() {
    let server = FaultServer::start(Fault::Truncated);
    let (doc, stdout) = run_against(&server.url, "{ vus: 2, iterations: 10 }", &[]);
    assert_eq!(total(&doc, "requests"), 10, "{doc:#}");
    assert_eq!(error_count(&doc["total"], "body"), 10, "{doc:#}");
    assert_eq!(error_count(&doc["total"], "reset"), 0);
    assert_eq!(doc["total"]["status_codes"]["200"], 10);
    assert_eq!(total(&doc, "bytes_received"), 1000);
    assert_eq!(server.requests(), 10);
    assert!(stdout.contains("body"), "{stdout}");
}

#[test]
fn a_slow_loris_response_times_out() {
    let server = FaultServer::start(Fault::SlowLoris);
    let (doc, _) = run_against(&server.url, "{ vus: 2, iterations: 4 }", &[]);
    assert_eq!(total(&doc, "requests"), 4);
    assert_eq!(error_count(&doc["total"], "timeout"), 4, "{doc:#}");
    assert_eq!(server.requests(), 4);
    assert_eq!(server.answered(), 0);
}

#[test]
fn keep_alive_closed_early_is_counted_request_by_request() {
    let server = FaultServer::start(Fault::CloseAfterOne);
    let (doc, _) = run_against(&server.url, "{ vus: 2, iterations: 60 }", &[]);
    assert_eq!(total(&doc, "requests"), 60);
    // Each 200 is a response the server sent; every other request failed and is counted.
    let ok = doc["total"]["status_codes"]["200"].as_u64().unwrap_or(0);
    assert_eq!(ok, server.answered(), "{doc:#}");
    assert_eq!(ok + total(&doc, "errors"), 60, "{doc:#}");
    assert!(server.requests() <= 60);
}

#[test]
fn https_to_a_plain_http_port_is_a_tls_failure() {
    let demo = Demo::start();
    let https = demo.url.replace("http://", "https://");
    // The preflight's handshake fails first: exit 2, with the reason.
    let out = common::stampede(
        &[
            "run",
            "--url",
            &format!("{https}/fast"),
            "-n",
            "4",
            "--headless",
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    // Without it, each request is counted as tls.
    let (doc, _) = run_against(&https, "{ vus: 2, iterations: 4 }", &["--no-preflight"]);
    assert_eq!(error_count(&doc["total"], "tls"), 4, "{doc:#}");
    assert_eq!(error_count(&doc["total"], "connect"), 0);
    assert_eq!(
        demo.counters.total(),
        0,
        "no HTTP request reached the plain port"
    );
}

#[test]
fn a_name_that_does_not_resolve_is_refused_by_the_preflight() {
    // `.invalid` never resolves (RFC 6761); one lookup, no connection is made anywhere.
    let out = common::stampede(
        &[
            "run",
            "--url",
            "http://stampede-test.invalid/",
            "-n",
            "1",
            "--headless",
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("target unreachable: cannot resolve stampede-test.invalid"),
        "{stderr}"
    );
}

#[test]
fn a_target_killed_and_restarted_mid_run_is_counted_exactly() {
    // A fault server that answers normally, stopped and started again on the same port.
    let mut demo = Demo::start();
    let url = demo.url.clone();
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let (_dir, path) = scenario(&format!(
        "target: {url}\nload: {{ vus: 2, duration: 3s }}\ndefaults: {{ timeout: 1s }}\n\
         flows:\n  - steps: [ {{ get: /fast }} ]\n"
    ));
    let restarter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        demo.shutdown();
        let before = demo.counters.total();
        std::thread::sleep(Duration::from_millis(700));
        let again = Demo::start_on(port, stampede::demo::DemoConfig::default());
        std::thread::sleep(Duration::from_millis(2500));
        (before, again)
    });
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    let (before, again) = restarter.join().expect("restarter");
    assert_eq!(code, 0, "{stderr}");
    let ok = doc["total"]["status_codes"]["200"].as_u64().unwrap_or(0);
    assert_eq!(ok, before + again.counters.total(), "{doc:#}");
    assert!(
        again.counters.total() > 0,
        "the users found the target again"
    );
    assert!(total(&doc, "errors") > 0);
}

/// Runs 3 requests with a `contains: TAIL` check on a 2 MiB body, with `max_body` if given.
fn check_the_tail(max_body: Option<&str>) -> serde_json::Value {
    let server = FaultServer::start(Fault::Body(2 << 20));
    let limit = max_body.map_or(String::new(), |m| format!(", max_body: {m}"));
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 1, iterations: 3 }}\nflows:\n  - steps:\n      \
         - {{ name: big, get: /, expect: {{ body: [ {{ contains: TAIL, name: tail }} ] }}{limit} }}\n",
        server.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(server.answered(), 3);
    doc
}

#[test]
fn a_body_past_max_body_is_never_judged_by_its_first_part() {
    // Default max_body (1 MiB): the check cannot see the tail, so it is not run.
    let doc = check_the_tail(None);
    let big = common::step(&doc, "big");
    assert_eq!(error_count(big, "body_too_large"), 3, "{doc:#}");
    assert_eq!(error_count(big, "check"), 0, "never a false check failure");
    assert_eq!(big["checks"][0]["failed"], 0);
    assert_eq!(big["checks"][0]["evaluated"], 0, "nor a false pass");
    assert_eq!(big["bytes_received"], 3 * (2 << 20));
    // With room for the whole body, the check passes.
    let doc = check_the_tail(Some("4MiB"));
    let big = common::step(&doc, "big");
    assert_eq!(big["errors"], 0, "{doc:#}");
    assert_eq!(big["checks"][0]["failed"], 0);
    assert_eq!(big["checks"][0]["evaluated"], 3);
}
