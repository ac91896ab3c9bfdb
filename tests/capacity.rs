//! The capacity search (`load.find_capacity`) against a server on 127.0.0.1 with a hard
//! capacity: a semaphore of `SLOTS` slots, each request holding one for `SERVICE`, so it
//! serves at most SLOTS / SERVICE requests a second and queues the rest. The search must
//! find a rate that held just below that and one that broke above it.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

use common::{assert_valid_result, run_json, scenario};

/// The searches of this file run one at a time: each judges its holds' send lag, which a
/// second search on the same two cores would spoil.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const SLOTS: usize = 8;
const SERVICE: Duration = Duration::from_millis(20);

/// SLOTS / SERVICE: 400 requests a second.
const CAPACITY: f64 = SLOTS as f64 / 0.020;

struct Limited {
    url: String,
    /// (requests served, microseconds their slots were held): the true service time, which
    /// the timer stretches past `service`.
    served: Arc<(AtomicU64, AtomicU64)>,
    _runtime: tokio::runtime::Runtime,
}

impl Limited {
    /// A server of `slots` slots, each request holding one for `service`.
    fn start(slots: usize, service: Duration) -> Self {
        let (runtime, listener, addr) = common::server::listening();
        let slots = Arc::new(Semaphore::new(slots));
        let served = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let counts = Arc::clone(&served);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let slots = Arc::clone(&slots);
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_: hyper::Request<_>| {
                        let slots = Arc::clone(&slots);
                        let counts = Arc::clone(&counts);
                        async move {
                            let _slot = slots.acquire().await;
                            let held = Instant::now();
                            tokio::time::sleep(service).await;
                            counts.0.fetch_add(1, Ordering::Relaxed);
                            let micros = held.elapsed().as_micros() as u64;
                            counts.1.fetch_add(micros, Ordering::Relaxed);
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            served,
            _runtime: runtime,
        }
    }

    /// The requests a second the server could serve, from the service time it measured:
    /// `slots` over the mean time a slot was held.
    fn capacity(&self, slots: usize) -> f64 {
        let n = self.served.0.load(Ordering::Relaxed).max(1) as f64;
        let mean_s = self.served.1.load(Ordering::Relaxed) as f64 / n / 1e6;
        slots as f64 / mean_s
    }
}

#[test]
fn the_search_finds_a_held_rate_below_the_servers_capacity_and_a_broken_one_above() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = Limited::start(SLOTS, SERVICE);
    let text = format!(
        "name: capacity\ntarget: {}\n\
         load:\n  max_in_flight: 200\n  find_capacity:\n    start: 100/s\n    step: 2x\n    \
         hold: 2s\n    max: 2000/s\n    precision: 10%\n    until: {{ p99: 60ms }}\n\
         flows:\n  - steps:\n      - get: /\n",
        server.url
    );
    let (dir, path) = scenario(&text);
    let page = dir.path().join("capacity.html");
    let html = ["--html", page.to_str().expect("utf-8")];
    let (code, doc, stdout, stderr) = run_json(&path, &html, Duration::from_secs(120));
    assert_eq!(code, 0, "a capacity was found\n{stdout}\n{stderr}");
    let c = &doc["capacity"];
    let held = c["max_held_rate"].as_f64().expect("a rate held");
    let broke = c["broke_at_rate"].as_f64().expect("a rate broke");
    assert_eq!(c["outcome"], "found", "{c:#}");
    // The capacity the server really had: its slots over the service time it measured (a
    // 20 ms sleep lasts 20-22 ms, so a little under SLOTS / SERVICE). The rate that held is
    // within the precision (10 %) below it, the rate that broke above it; 5 % is left for
    // the measurement (the mean over the whole search) and a queue's first milliseconds.
    let capacity = server.capacity(SLOTS);
    eprintln!("the server's capacity {capacity:.1}/s: held {held}/s, broke at {broke}/s");
    assert!(
        (CAPACITY * 0.85..=CAPACITY).contains(&capacity),
        "the server's own capacity {capacity}"
    );
    assert!(
        (capacity * 0.85..=capacity * 1.03).contains(&held),
        "held {held}, capacity {capacity}\n{c:#}"
    );
    assert!(
        broke > held && broke >= capacity * 0.95,
        "broke {broke}, capacity {capacity}\n{c:#}"
    );
    assert!((broke - held) / held <= 0.10, "{held} {broke}");
    assert!(
        c["limit"].as_str().expect("a limit").starts_with("p99 "),
        "{c:#}"
    );
    // The holds: raising from 100/s, the last one confirming the rate found.
    let holds = c["holds"].as_array().expect("holds");
    assert_eq!(holds[0]["rate"], 100.0);
    // (A hold the generator was late for runs again: the first that held is at 100/s.)
    let first = holds
        .iter()
        .find(|h| h["verdict"] == "held")
        .expect("one held");
    assert_eq!(first["rate"], 100.0);
    let last = holds.last().expect("a hold");
    assert_eq!(last["stage"], "confirming");
    assert_eq!(last["rate"].as_f64(), Some(held));
    assert_eq!(last["verdict"], "held");
    // A hold that held achieved its rate.
    let achieved = first["achieved_rate"].as_f64().expect("achieved");
    assert!((90.0..=110.0).contains(&achieved), "{achieved}");
    assert!(stdout.contains("capacity  held "), "{stdout}");
    assert_valid_result(&doc);
    // The report's card says the answer, and its table has every hold.
    if let Some(dom) = common::browser::render(&page, "capacity") {
        let answer = format!("Held {held}/s; broke at {broke}/s");
        assert!(dom.contains(&answer), "{answer}\n{dom}");
        let rows = dom.matches("<span class=\"ok\">held").count()
            + dom.matches("<span class=\"bad\">").count();
        assert_eq!(rows, holds.len(), "{dom}");
    }
}

#[test]
fn a_start_that_already_breaks_exits_1() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // One slot of 50 ms: 20 requests a second, and the search starts at 100/s (a light load
    // for the generator, so the verdict is the service's).
    let server = Limited::start(1, Duration::from_millis(50));
    let text = format!(
        "name: capacity\ntarget: {}\n\
         load:\n  max_in_flight: 100\n  find_capacity: {{ start: 100/s, hold: 2s, until: {{ p99: 60ms }} }}\n\
         flows:\n  - steps:\n      - get: /\n",
        server.url
    );
    let (_dir, path) = scenario(&text);
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(doc["capacity"]["outcome"], "start broke");
    let holds = doc["capacity"]["holds"].as_array().expect("holds");
    assert!(
        holds.len() <= 2,
        "one hold (or a late one run again): {holds:#?}"
    );
    assert_eq!(holds.last().map(|h| &h["verdict"]), Some(&"broke".into()));
    assert!(stdout.contains("even the start"), "{stdout}");
}
