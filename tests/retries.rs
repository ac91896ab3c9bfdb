//! Retries (`retry:`) against a server on 127.0.0.1 that counts every attempt it sees:
//! every attempt is a request in stampede's figures, so its counts equal the server's; the
//! exchanges' outcomes (`retries` per step) are exact; `Retry-After` is waited; nothing is
//! retried once the stop began.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use common::{assert_valid_result, error_count, run_json, scenario, step};

/// What the server saw.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    /// Attempts per `id` query value, and when each came.
    by_id: Mutex<HashMap<String, Vec<Instant>>>,
}

/// A server on 127.0.0.1 port 0:
/// - `/flaky?id=X`: 503 for the first two attempts of each id, then 200;
/// - `/later?id=X`: 503 with `Retry-After: 1` for the first attempt of each id, then 200;
/// - `/down`: always 503.
struct Flaky {
    url: String,
    seen: Arc<Seen>,
    _runtime: tokio::runtime::Runtime,
}

impl Flaky {
    fn start() -> Self {
        let (runtime, listener, addr) = common::server::listening();
        let seen = Arc::new(Seen::default());
        let shared = Arc::clone(&seen);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                        let seen = Arc::clone(&seen);
                        async move { Ok::<_, Infallible>(answer(req.uri(), &seen)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            seen,
            _runtime: runtime,
        }
    }

    fn requests(&self) -> u64 {
        self.seen.requests.load(Ordering::Relaxed)
    }

    /// Each id's attempts' instants.
    fn by_id(&self) -> HashMap<String, Vec<Instant>> {
        self.seen.by_id.lock().expect("seen").clone()
    }
}

fn answer(uri: &hyper::Uri, seen: &Seen) -> hyper::Response<Full<Bytes>> {
    seen.requests.fetch_add(1, Ordering::Relaxed);
    let id = uri
        .query()
        .and_then(|q| q.strip_prefix("id="))
        .unwrap_or_default()
        .to_string();
    let attempt = {
        let mut by_id = seen.by_id.lock().expect("seen");
        let times = by_id.entry(id).or_default();
        times.push(Instant::now());
        times.len()
    };
    let builder = hyper::Response::builder();
    let builder = match (uri.path(), attempt) {
        ("/flaky", 1 | 2) | ("/down", _) => builder.status(503),
        ("/later", 1) => builder.status(503).header("retry-after", "1"),
        ("/flaky" | "/later", _) => builder.status(200),
        _ => builder.status(404),
    };
    builder
        .body(Full::new(Bytes::from_static(b"ok")))
        .expect("a response")
}

fn load(target: &str, load: &str, step: &str) -> String {
    format!(
        "name: retries\ntarget: {target}\nload: {load}\n\
         flows:\n  - name: main\n    steps:\n      - {step}\n"
    )
}

#[test]
fn every_attempt_is_a_request_and_the_counts_equal_the_servers() {
    let server = Flaky::start();
    let text = load(
        &server.url,
        "{ vus: 4, iterations: 50 }",
        "{ name: flaky, get: '/flaky?id={{ uuid() }}', \
         retry: { attempts: 3, backoff: 5ms..20ms, on: [503] } }",
    );
    let (_dir, path) = scenario(&text);
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let stats = step(&doc, "flaky");
    // 50 exchanges of three attempts each, every one a request.
    assert_eq!(server.requests(), 150);
    assert_eq!(stats["requests"], 150, "{stats:#}");
    assert_eq!(doc["total"]["requests"], 150);
    assert_eq!(stats["status_codes"]["503"], 100);
    assert_eq!(stats["status_codes"]["200"], 50);
    assert_eq!(error_count(stats, "status_not_expected"), 100);
    let retries = &stats["retries"];
    assert_eq!(retries["retried"], 50, "{retries:#}");
    assert_eq!(retries["retries"], 100);
    assert_eq!(retries["succeeded_after_retry"], 50);
    assert_eq!(retries["gave_up"], 0);
    assert_eq!(retries["attempts_per_success"], 3.0);
    assert_eq!(retries["retry_rate"].as_f64(), Some(100.0 / 150.0));
    assert_eq!(stats["exchange_ms"]["count"], 50);
    // An exchange holds its two waits of at least 5 ms each.
    let exchange_min = stats["exchange_ms"]["min"].as_f64().expect("min");
    assert!(exchange_min >= 10.0, "{exchange_min}");
    assert!(
        stdout.contains("50 succeeded after retry, 0 gave up"),
        "{stdout}"
    );
    // The retries and the exchange's time are in the published schema; the total has them.
    assert_valid_result(&doc);
    assert_eq!(doc["total"]["retries"]["succeeded_after_retry"], 50);
    // The exchanges' histogram is in the result, to be merged or read again exactly.
    let encoded = stats["hdr"]["exchange"]
        .as_str()
        .expect("an encoded histogram");
    assert_eq!(common::decode_histogram(encoded).len(), 50);
}

#[test]
fn an_exchange_that_keeps_failing_gives_up_after_its_attempts_and_a_threshold_sees_it() {
    let server = Flaky::start();
    let text = load(
        &server.url,
        "{ vus: 2, iterations: 10 }",
        "{ name: down, get: /down, retry: { attempts: 2, backoff: 1ms..2ms } }",
    ) + "thresholds:\n  - down: retry_rate < 10%\n";
    let (_dir, path) = scenario(&text);
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(
        code, 1,
        "the retry_rate threshold fails\n{stdout}\n{stderr}"
    );
    let stats = step(&doc, "down");
    assert_eq!(server.requests(), 20);
    assert_eq!(stats["requests"], 20);
    let retries = &stats["retries"];
    assert_eq!(retries["gave_up"], 10, "{retries:#}");
    assert_eq!(retries["succeeded_after_retry"], 0);
    assert_eq!(retries["attempts_per_success"], 0.0);
    assert_eq!(retries["retry_rate"], 0.5);
    assert!(
        stdout.contains("0 succeeded after retry, 10 gave up"),
        "{stdout}"
    );
}

#[test]
fn a_503_with_retry_after_1_waits_a_second() {
    let server = Flaky::start();
    let text = load(
        &server.url,
        "{ vus: 1, iterations: 1 }",
        "{ name: later, get: '/later?id=one', retry: { attempts: 3, backoff: 10ms..3s } }",
    );
    let (_dir, path) = scenario(&text);
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let times = server.by_id().remove("one").expect("the server saw it");
    assert_eq!(times.len(), 2);
    let waited = times[1] - times[0];
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_millis(1_900),
        "{waited:?}"
    );
    assert_eq!(step(&doc, "later")["retries"]["succeeded_after_retry"], 1);
}

#[test]
fn nothing_is_retried_once_the_stop_began() {
    let server = Flaky::start();
    // Each user's first attempt fails at once and its retry would wait 3 s: the run's 1 s
    // ends during that wait, and no retry is sent.
    let text = load(
        &server.url,
        "{ vus: 3, duration: 1s }",
        "{ name: down, get: /down, retry: { attempts: 5, backoff: 3s..3s } }",
    );
    let (_dir, path) = scenario(&text);
    let began = Instant::now();
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "the wait ended the run"
    );
    assert_eq!(server.requests(), 3);
    let stats = step(&doc, "down");
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["interrupted"], 0);
}

#[test]
fn in_the_open_model_a_retry_belongs_to_its_arrival_and_counts_from_it() {
    let server = Flaky::start();
    // 20 arrivals in 1 s; each is tried three times, 50 ms apart.
    let text = load(
        &server.url,
        "{ rate: 20/s, duration: 1s }",
        "{ name: flaky, get: '/flaky?id={{ uuid() }}', \
         retry: { attempts: 3, backoff: 50ms..50ms, on: [503] } }",
    );
    let (_dir, path) = scenario(&text);
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let stats = step(&doc, "flaky");
    // Each arrival is one id; an arrival whose wait the stop cut short sent no more.
    let ids = server.by_id();
    let arrivals = ids.len() as u64;
    let whole = ids.values().filter(|t| t.len() == 3).count() as u64;
    assert!((19..=21).contains(&arrivals), "{arrivals}");
    assert!(whole + 3 >= arrivals, "{whole} of {arrivals}");
    assert_eq!(doc["dropped"], 0);
    assert_eq!(stats["requests"].as_u64(), Some(server.requests()));
    assert_eq!(stats["exchange_ms"]["count"].as_u64(), Some(whole));
    assert_eq!(
        stats["retries"]["succeeded_after_retry"].as_u64(),
        Some(whole)
    );
    // The third attempt's latency counts from the arrival: it holds both waits.
    let max = stats["latency_ms"]["max"].as_f64().expect("max");
    assert!(max >= 100.0, "{max}");
    // And no retry was an arrival of its own: one send lag per arrival.
    assert_eq!(stats["send_lag_ms"]["count"].as_u64(), Some(arrivals));
}

#[test]
fn an_exchange_the_stop_cuts_short_still_counts_the_retries_it_sent() {
    let server = Flaky::start();
    // Attempts at about 0, 0.3, 0.6 and 0.9 s; the stop at 1 s comes during the 4th wait.
    let text = load(
        &server.url,
        "{ vus: 3, duration: 1s }",
        "{ name: down, get: /down, retry: { attempts: 10, backoff: 300ms..300ms } }",
    );
    let (_dir, path) = scenario(&text);
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let stats = step(&doc, "down");
    let requests = server.requests();
    assert!(requests >= 9, "{requests}");
    assert_eq!(stats["requests"].as_u64(), Some(requests));
    let retries = &stats["retries"];
    // Every request but each exchange's first was a retry, cut short or not.
    assert_eq!(
        retries["retries"].as_u64(),
        Some(requests - 3),
        "{retries:#}"
    );
    assert_eq!(retries["retried"], 3);
    assert_eq!(retries["gave_up"], 0);
    assert_eq!(retries["succeeded_after_retry"], 0);
    // A cut exchange has no whole time.
    assert_eq!(stats["exchange_ms"]["count"], 0);
}

#[test]
fn a_status_the_step_accepts_is_its_answer_and_never_retried() {
    let server = Flaky::start();
    let text = load(
        &server.url,
        "{ vus: 1, iterations: 5 }",
        "{ name: down, get: /down, expect: { status: 503 }, retry: { attempts: 3, on: [503] } }",
    );
    let (_dir, path) = scenario(&text);
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(server.requests(), 5);
    let retries = &step(&doc, "down")["retries"];
    assert_eq!(retries["retries"], 0, "{retries:#}");
    assert_eq!(retries["gave_up"], 0);
    assert_eq!(retries["attempts_per_success"], 1.0);
}
