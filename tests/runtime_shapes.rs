//! Both runtime shapes (`--runtime shared`, the default, and `--runtime per-core` with two
//! load threads) count exactly what the server saw, in both load models, and a hard stop
//! interrupts what is in flight on every thread. Servers listen on 127.0.0.1 port 0.

mod common;

use std::time::{Duration, Instant};

use common::fault::{Fault, FaultServer};
use common::{Demo, run_json, scenario};

const SHAPES: [&[&str]; 2] = [
    &["--runtime", "shared", "--threads", "2"],
    &["--runtime", "per-core", "--threads", "2"],
];

fn total(doc: &serde_json::Value, field: &str) -> u64 {
    doc["total"][field].as_u64().unwrap_or(0)
}

#[test]
fn closed_model_iterations_are_exact_on_both_shapes() {
    for shape in SHAPES {
        let demo = Demo::start();
        let (_dir, path) = scenario(&format!(
            "target: {}\nload: {{ vus: 20, iterations: 1000 }}\n\
             flows:\n  - steps: [ {{ get: /fast }}, {{ get: /fast }} ]\n",
            demo.url
        ));
        let (code, doc, _, stderr) = run_json(&path, shape, Duration::from_secs(60));
        assert_eq!(code, 0, "{shape:?}: {stderr}");
        assert_eq!(total(&doc, "requests"), 2000, "{shape:?}: {doc:#}");
        assert_eq!(total(&doc, "errors"), 0, "{shape:?}");
        assert_eq!(
            demo.counters.total(),
            2000,
            "{shape:?}: the server's own count"
        );
    }
}

#[test]
fn open_model_accounts_for_every_arrival_on_both_shapes() {
    for shape in SHAPES {
        let demo = Demo::start();
        let (_dir, path) = scenario(&format!(
            "target: {}\nload: {{ rate: 400/s, duration: 1s }}\n\
             flows:\n  - steps: [ {{ get: /fast }} ]\n",
            demo.url
        ));
        let (code, doc, _, stderr) = run_json(&path, shape, Duration::from_secs(60));
        assert_eq!(code, 0, "{shape:?}: {stderr}");
        let sent = total(&doc, "requests") + total(&doc, "interrupted");
        assert_eq!(sent + doc["dropped"].as_u64().unwrap_or(0), 400, "{doc:#}");
        assert_eq!(demo.counters.total(), total(&doc, "requests"), "{shape:?}");
    }
}

#[test]
fn a_hard_stop_interrupts_requests_on_every_thread() {
    for shape in SHAPES {
        let server = FaultServer::start(Fault::NeverAnswer);
        let (_dir, path) = scenario(&format!(
            "target: {}\nload: {{ vus: 8, duration: 300ms, graceful_stop: 200ms }}\n\
             defaults: {{ timeout: 60s }}\nflows:\n  - steps: [ {{ get: / }} ]\n",
            server.url
        ));
        let began = Instant::now();
        let (code, doc, _, stderr) = run_json(&path, shape, Duration::from_secs(30));
        assert_eq!(code, 0, "{shape:?}: {stderr}");
        // Every user waits on a request that never ends: each is cut off at 0.5 s.
        assert_eq!(total(&doc, "interrupted"), 8, "{shape:?}: {doc:#}");
        assert_eq!(total(&doc, "requests"), 0, "{shape:?}");
        assert!(began.elapsed() < Duration::from_secs(10), "{shape:?}");
    }
}
