//! Stalls in the closed model, against a server on 127.0.0.1 that freezes on a schedule:
//! the stalls found match the freezes (when, how long), a steady server has none, and the
//! corrected view (`latency_corrected_ms`) shows what the raw percentiles hide.

mod common;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use common::{assert_valid_result, run_json, scenario, step};

/// Every `PERIOD` the server freezes for its last `FREEZE`: a request that comes then waits
/// until the period ends.
const PERIOD: Duration = Duration::from_millis(2_000);
const FREEZE: Duration = Duration::from_millis(500);

struct Freezing {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

impl Freezing {
    /// `freezes`: whether it freezes at all (a steady server answers at once, always).
    fn start(freezes: bool) -> Self {
        let (runtime, listener, addr) = common::server::listening();
        let t0 = Instant::now();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |_: hyper::Request<_>| async move {
                            let into = t0.elapsed().as_micros() % PERIOD.as_micros();
                            let into = Duration::from_micros(into as u64);
                            if freezes && into >= PERIOD - FREEZE {
                                tokio::time::sleep(PERIOD - into).await;
                            }
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            _runtime: runtime,
        }
    }
}

fn run(server: &Freezing, duration: &str) -> serde_json::Value {
    let text = format!(
        "name: stalls\ntarget: {}\nload: {{ vus: 20, duration: {duration} }}\n\
         flows:\n  - steps:\n      - {{ name: get, get: / }}\n",
        server.url
    );
    let (_dir, path) = scenario(&text);
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_valid_result(&doc);
    doc
}

/// One test, so that the steady run shares the machine with nothing of this file.
#[test]
fn the_stalls_found_match_the_freezes_and_a_steady_server_has_none() {
    let steady = Freezing::start(false);
    let doc = run(&steady, "2s");
    assert_eq!(doc["stalls"], serde_json::json!([]), "{:#}", doc["stalls"]);

    let freezing = Freezing::start(true);
    let doc = run(&freezing, "5500ms");
    let stalls = doc["stalls"].as_array().expect("stalls");
    // The run sees two or three freezes whole (it starts somewhere in the schedule); each
    // stall lasts the freeze, within 10 %, and they are a period apart, within 10 %.
    assert!((2..=3).contains(&stalls.len()), "{stalls:#?}");
    let secs = |s: &serde_json::Value, k: &str| s[k].as_f64().expect("a number");
    for s in stalls {
        let d = secs(s, "duration_s");
        assert!((0.45..=0.55).contains(&d), "{s}");
        assert!(s["in_flight"].as_u64().is_some_and(|n| n >= 10), "{s}");
    }
    for pair in stalls.windows(2) {
        let apart = secs(&pair[1], "at_s") - secs(&pair[0], "at_s");
        assert!((1.8..=2.2).contains(&apart), "{pair:?}");
    }
    // The raw p99 hides them; the corrected view, labelled as such, does not.
    let get = step(&doc, "get");
    let raw = get["latency_ms"]["p99"].as_f64().expect("p99");
    let corrected = get["latency_corrected_ms"]["p99"]
        .as_f64()
        .expect("corrected p99");
    assert!(
        corrected > 100.0 && corrected > 5.0 * raw,
        "raw {raw}, corrected {corrected}"
    );
    let counts = (
        get["latency_ms"]["count"].as_u64(),
        get["latency_corrected_ms"]["count"].as_u64(),
    );
    assert!(counts.1 > counts.0, "{counts:?}");
    assert!(
        doc["warnings"].to_string().contains("stall(s)"),
        "{}",
        doc["warnings"]
    );
}
