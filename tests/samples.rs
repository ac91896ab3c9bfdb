//! Failure samples against a server whose answers the test sets, on 127.0.0.1 port 0:
//! a route that fails with a known body, a route whose slowest answers are known, and one
//! that fails at once. The samples in the JSON are those answers (status, method, URL,
//! headers, body), at most 5 per class and status; the slowest 5 are the truly slowest;
//! `-v` prints the body on stderr, at most 5 samples a second, and every failure it does
//! not print is counted in a "more not shown" line.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value;

use common::{assert_valid_result as assert_valid, run_json, scenario, step};

/// The body `/db` fails with.
const DB_DOWN: &str = "{\"error\":\"db down\"}";

/// Delays (ms) of the slowest answers of `/mixed`: every 37th request, in turn.
const SLOW_MS: [u64; 6] = [120, 150, 180, 210, 240, 270];

/// A server on 127.0.0.1 port 0:
/// - `/db`: 503 with `DB_DOWN`, `content-type: application/json` and `x-trace: t-1`;
/// - `/mixed`: `slept N` after N ms: 1 to 9 ms, but every 37th request sleeps the next
///   of `SLOW_MS` (the 6th and later come back round; a run sends fewer);
/// - `/boom`: 500 at once, `boom` (for the rate limit).
struct Failing {
    url: String,
    mixed: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl Failing {
    fn start() -> Self {
        let (runtime, listener, addr) = common::server::listening();
        let mixed = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&mixed);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                        let counter = Arc::clone(&counter);
                        async move { Ok::<_, Infallible>(answer(req.uri().path(), &counter).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            mixed,
            _runtime: runtime,
        }
    }
}

async fn answer(path: &str, mixed: &AtomicU64) -> hyper::Response<Full<Bytes>> {
    let builder = hyper::Response::builder();
    let (builder, body) = match path {
        "/db" => (
            builder
                .status(503)
                .header("content-type", "application/json")
                .header("x-trace", "t-1"),
            DB_DOWN.to_string(),
        ),
        "/mixed" => {
            let n = mixed.fetch_add(1, Ordering::Relaxed);
            let ms = if n % 37 == 36 {
                SLOW_MS[(n / 37) as usize % SLOW_MS.len()]
            } else {
                1 + n % 9
            };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (builder, format!("slept {ms}"))
        }
        "/boom" => (builder.status(500), "boom".to_string()),
        _ => (builder.status(404), String::new()),
    };
    builder
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

fn samples<'a>(doc: &'a Value, name: &str, which: &str) -> &'a Vec<Value> {
    step(doc, name)["samples"][which]
        .as_array()
        .unwrap_or_else(|| panic!("no samples.{which} in {name}: {doc:#}"))
}

#[test]
fn a_failing_servers_answer_is_in_the_json_and_on_stderr_with_v() {
    let server = Failing::start();
    let (_dir, path) = scenario(&format!(
        "name: samples\ntarget: {}\nload: {{ vus: 4, iterations: 160 }}\nflows:\n  - name: shop\n    steps:\n      \
         - {{ name: db, get: /db, headers: {{ x-test: one }}, on_error: continue }}\n      \
         - {{ name: mixed, get: /mixed, expect: {{ status: 200, body: [ {{ contains: slept }} ] }} }}\n",
        server.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &["-v"], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    assert_valid(&doc);
    let failures = samples(&doc, "db", "failures");
    assert_eq!(
        failures.len(),
        5,
        "the latest 5 of the one status: {failures:#?}"
    );
    for s in failures {
        assert_eq!(s["class"], "status_not_expected");
        assert_eq!(s["status"], 503);
        assert_eq!(s["method"], "GET");
        assert_eq!(s["url"], format!("{}/db", server.url));
        assert_eq!(s["message"], "expected <400, got 503");
        assert_eq!(s["request_headers"]["x-test"], "one");
        assert_eq!(s["response_headers"]["x-trace"], "t-1");
        assert_eq!(s["response_headers"]["content-type"], "application/json");
        assert_eq!(s["body"], DB_DOWN);
        assert_eq!(s["body_encoding"], "text");
        assert_eq!(
            (s["body_bytes"].as_u64(), s["body_truncated"].as_bool()),
            (Some(19), Some(false))
        );
        assert!(s["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    }
    // The latest first, and they are the run's last: within its final moments.
    let at: Vec<f64> = failures
        .iter()
        .map(|s| s["at_s"].as_f64().expect("at_s"))
        .collect();
    assert!(at.windows(2).all(|w| w[0] >= w[1]), "{at:?}");
    assert!(
        doc["duration_s"]
            .as_f64()
            .is_some_and(|d| at[0] <= d + 0.01)
    );
    assert!(
        samples(&doc, "db", "slowest").is_empty(),
        "no success to keep"
    );
    // The mixed step's successes: the slowest 5 are the server's 5 slowest answers (160
    // requests send four of SLOW_MS's delays and the rest sleep under 10 ms, so the 5th is
    // the slowest of those).
    assert_eq!(server.mixed.load(Ordering::Relaxed), 160);
    let slowest = samples(&doc, "mixed", "slowest");
    let bodies: Vec<&str> = slowest
        .iter()
        .map(|s| s["body"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        &bodies[..4],
        ["slept 210", "slept 180", "slept 150", "slept 120"]
    );
    assert!(
        bodies[4].starts_with("slept ") && bodies[4].len() == "slept 9".len(),
        "{bodies:?}"
    );
    let latency: Vec<f64> = slowest
        .iter()
        .map(|s| s["latency_ms"].as_f64().expect("ms"))
        .collect();
    assert!(
        latency.windows(2).all(|w| w[0] >= w[1]) && latency[3] >= 120.0,
        "{latency:?}"
    );
    assert!(
        slowest
            .iter()
            .all(|s| s["class"].is_null() && s["status"] == 200)
    );
    assert!(samples(&doc, "mixed", "failures").is_empty());
    // -v: the samples on stderr, with their body.
    assert!(
        stderr.contains("sample: shop / db: status_not_expected (503)"),
        "{stderr}"
    );
    assert!(stderr.contains(DB_DOWN), "{stderr}");
    assert!(
        stderr.contains(&format!("GET {}/db", server.url)),
        "{stderr}"
    );
    assert!(
        doc["total"].get("samples").is_none(),
        "samples are per step"
    );
}

/// Sample lines and the failures the "more not shown" lines count.
fn printed(stderr: &str) -> (u64, u64) {
    let shown = stderr.lines().filter(|l| l.starts_with("sample: ")).count() as u64;
    let more = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("… ")?.split(' ').next()?.parse::<u64>().ok())
        .sum();
    (shown, more)
}

#[test]
fn v_prints_at_most_five_a_second_and_counts_the_rest() {
    let server = Failing::start();
    let (_dir, path) = scenario(&format!(
        "name: boom\ntarget: {}\nload: {{ rate: 10000/s, duration: 2s, max_in_flight: 200 }}\n\
         flows:\n  - steps: [ {{ name: boom, get: /boom }} ]\n",
        server.url
    ));
    let (code, quiet, _, _) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0);
    let (code, doc, _, stderr) = run_json(&path, &["-v"], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let errors = doc["total"]["errors"].as_u64().expect("errors");
    assert!(errors > 1_000, "the run failed fast and often: {errors}");
    let (shown, more) = printed(&stderr);
    let seconds = doc["duration_s"].as_f64().expect("duration").ceil() as u64;
    assert!(
        (1..=5 * seconds + 1).contains(&shown),
        "{shown} samples in {seconds} s:\n{stderr}"
    );
    assert_eq!(
        shown + more,
        errors,
        "every failure printed or counted:\n{stderr}"
    );
    // Printing does not slow the run down (loosely: the machine may be busy).
    let without = quiet["total"]["requests"].as_f64().expect("requests");
    let with = doc["total"]["requests"].as_f64().expect("requests");
    assert!(with >= without * 0.8, "with -v {with}, without {without}");
    // The samples' lines carry the body, each line escaped for the terminal.
    assert!(stderr.contains("    boom"), "{stderr}");
}
