//! Failures are data: refused connections, unexpected statuses and a target that dies mid-run
//! all end in a completed run with counted errors.

mod common;

use std::time::Duration;

use common::{Demo, error_count, run_json, scenario, step};

#[test]
fn refused_connections_are_counted_not_fatal() {
    // Bind then release a port: nothing listens there afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let (_dir, path) = scenario(&format!(
        "name: refused\ntarget: http://127.0.0.1:{port}\nload: {{ vus: 5, iterations: 50 }}\n\
         flows:\n  - steps: [ {{ name: down, get: / }} ]\n"
    ));
    // By default the preflight refuses to start against a target that cannot be reached.
    let out = common::stampede(
        &["run", path.to_str().expect("path"), "--headless"],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let words = format!("target unreachable: connection refused at 127.0.0.1:{port}");
    assert!(stderr.contains(&words), "{stderr}");
    // Without it, every attempt is counted (the users back off between them).
    let (code, doc, stdout, _) = run_json(&path, &["--no-preflight"], Duration::from_secs(60));
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(error_count(&doc["total"], "connect_refused"), 50, "{doc:#}");
    assert_eq!(doc["total"]["errors"], 50);
    assert!(stdout.contains("connect_refused"), "{stdout}");
}

#[test]
fn unexpected_statuses_match_the_failure_rate() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "name: flaky\ntarget: {}\nload: {{ vus: 10, iterations: 3000 }}\nflows:\n  \
         - steps: [ {{ name: flaky, get: \"/flaky?fail_pct=20\", expect: {{ status: 200 }} }} ]\n",
        demo.url
    ));
    let (code, doc, _, _) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0);
    let flaky = step(&doc, "flaky");
    assert_eq!(flaky["requests"], 3000);
    let rate = error_count(flaky, "status_not_expected") as f64 / 3000.0;
    assert!(
        (0.15..=0.25).contains(&rate),
        "status-not-expected rate {rate}"
    );
    let reported = flaky["error_rate"].as_f64().unwrap_or(-1.0);
    assert!(
        (reported - rate).abs() < 1e-9,
        "error_rate {reported} vs {rate}"
    );
}

#[test]
fn a_target_that_dies_mid_run_yields_counted_errors() {
    let mut demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "name: dies\ntarget: {}\nload: {{ vus: 4, duration: 3s }}\nflows:\n  \
         - steps: [ {{ name: fast, get: /fast }} ]\n",
        demo.url
    ));
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        demo.shutdown();
    });
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    let _ = killer.join();
    assert_eq!(code, 0, "{stderr}");
    let total = &doc["total"];
    assert!(
        total["status_codes"]["200"].as_u64().is_some_and(|n| n > 0),
        "{total:#}"
    );
    assert!(total["errors"].as_u64().is_some_and(|n| n > 0), "{total:#}");
}
