//! Where the time goes, against ground truth: a server on 127.0.0.1 that times its own
//! handler as a middleware does, stamps `X-Process-Time` (or `Server-Timing`, or a header
//! of its own) and keeps every value it stamped; stampede's server-time figures must equal
//! that record.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};

use common::{run_json, scenario, step};

/// What the server stamped, in µs, on the `/stamp` route.
#[derive(Default)]
struct Record {
    stamped: Mutex<Vec<u64>>,
    requests: AtomicU64,
    /// Requests to `/bad`, which cycles through its three answers.
    bad: AtomicU64,
    /// `/cache`'s own count of its hits and misses.
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A server on 127.0.0.1 port 0 (HTTP/1.1, or h2c when `h2`):
/// - `/stamp`: sleeps 1 to 20 ms, times itself and says it in `X-Process-Time` (seconds,
///   six decimals, as FastAPI's middleware does), recording the same value;
/// - `/timing`: sleeps 6 ms and says `Server-Timing: db;dur=3.2, app;dur=1.1`;
/// - `/bad`: one response in three says `abc`, one says 99 s (more than the client could
///   have measured), one says 0.5 ms;
/// - `/runtime`: sleeps 4 ms and says `X-Runtime: 2.5` (ms);
/// - `/cache`: a JSON body whose `from_cache` is true two times in three (a hit answers at
///   once, a miss after 3 ms), counting its own hits and misses; one answer in ten also
///   says `x-cache: HIT` or `MISS`;
/// - `/id`: a JSON body with an `id` never said before.
struct Stamper {
    url: String,
    record: Arc<Record>,
    _runtime: tokio::runtime::Runtime,
}

impl Stamper {
    fn start(h2: bool) -> Self {
        let (runtime, listener, addr) = common::server::listening();
        let record = Arc::new(Record::default());
        let shared = Arc::clone(&record);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let record = Arc::clone(&shared);
                tokio::spawn(serve(tcp, h2, record));
            }
        });
        Self {
            url: format!("http://{addr}"),
            record,
            _runtime: runtime,
        }
    }

    /// Every value `/stamp` said, in µs, sorted.
    fn stamped(&self) -> Vec<u64> {
        let mut values = self.record.stamped.lock().expect("record").clone();
        values.sort_unstable();
        values
    }
}

async fn serve(tcp: tokio::net::TcpStream, h2: bool, record: Arc<Record>) {
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let record = Arc::clone(&record);
        async move { Ok::<_, Infallible>(answer(req.uri().path(), &record).await) }
    });
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(tcp), service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), service)
            .await;
    }
}

async fn answer(path: &str, record: &Record) -> hyper::Response<Full<Bytes>> {
    let n = record.requests.fetch_add(1, Ordering::Relaxed);
    let began = Instant::now();
    let builder = hyper::Response::builder();
    let builder = match path {
        "/stamp" => {
            tokio::time::sleep(Duration::from_millis(1 + n * 7 % 20)).await;
            // Said as the middleware says it, and recorded as said (to the µs).
            let said = format!("{:.6}", began.elapsed().as_secs_f64());
            let us = (said.parse::<f64>().expect("a number") * 1e6).round() as u64;
            record.stamped.lock().expect("record").push(us);
            builder.header("x-process-time", said)
        }
        "/timing" => {
            tokio::time::sleep(Duration::from_millis(6)).await;
            builder.header("server-timing", "db;dur=3.2, app;dur=1.1")
        }
        "/bad" => {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let k = record.bad.fetch_add(1, Ordering::Relaxed);
            let said = ["abc", "99", "0.000500"][(k % 3) as usize];
            builder.header("x-process-time", said)
        }
        "/runtime" => {
            tokio::time::sleep(Duration::from_millis(4)).await;
            builder.header("x-runtime", "2.5")
        }
        "/cache" => {
            let hit = fastrand::u8(0..3) != 0;
            let counter = if hit { &record.hits } else { &record.misses };
            counter.fetch_add(1, Ordering::Relaxed);
            if !hit {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            let body = format!("{{\"id\": 7, \"from_cache\": {hit}}}");
            return hyper::Response::builder()
                .header("x-cache", if hit { "HIT" } else { "MISS" })
                .body(Full::new(Bytes::from(body)))
                .expect("a response");
        }
        "/id" => {
            let body = format!("{{\"id\": {n}}}");
            return hyper::Response::builder()
                .body(Full::new(Bytes::from(body)))
                .expect("a response");
        }
        _ => builder.status(404),
    };
    builder
        .body(Full::new(Bytes::from_static(b"ok")))
        .expect("a response")
}

/// The server's record as a histogram with stampede's settings (µs, 3 significant digits):
/// its quantiles are what stampede must report, to the µs.
fn histogram(values: &[u64]) -> hdrhistogram::Histogram<u64> {
    let mut h = hdrhistogram::Histogram::new_with_bounds(1, 2, 3).expect("bounds");
    h.auto(true);
    for &v in values {
        h.record(v.max(1)).expect("recorded");
    }
    h
}

/// Whether `reported` (ms) equals `truth` (µs) within HdrHistogram's 3 significant digits.
fn within_hdr(reported: &serde_json::Value, truth: u64) -> bool {
    let reported = reported.as_f64().expect("a number") * 1000.0;
    (reported - truth as f64).abs() <= truth as f64 / 1000.0 + 1.0
}

fn load(target: &str, extra: &str, steps: &str, iterations: u32) -> String {
    format!(
        "name: insight\ntarget: {target}\n{extra}load: {{ vus: 4, iterations: {iterations} }}\n\
         flows:\n  - name: main\n    steps:\n{steps}"
    )
}

#[test]
fn server_time_percentiles_equal_the_servers_own_record() {
    let server = Stamper::start(false);
    let steps = "      - { name: stamp, get: /stamp }\n";
    let (_dir, path) = scenario(&load(&server.url, "", steps, 400));
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let truth = server.stamped();
    assert_eq!(truth.len(), 400);
    let hdr = histogram(&truth);
    let stats = step(&doc, "stamp");
    let server_ms = &stats["server_time_ms"];
    assert_eq!(server_ms["count"], 400, "{stats:#}");
    for (key, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
        // Exactly the histogram of the server's record, and so within 3 significant
        // digits of its exact quantile.
        let want = hdr.value_at_quantile(q);
        let said = (server_ms[key].as_f64().expect("a number") * 1000.0).round() as u64;
        assert_eq!(
            said, want,
            "{key}: stampede {said} µs, the server's record {want} µs"
        );
        let exact = truth[((q * 400.0).ceil() as usize).clamp(1, 400) - 1];
        assert!(
            within_hdr(&server_ms[key], exact),
            "{key}: {said} µs against {exact} µs"
        );
    }
    // The overhead is what the client measured beyond the server's own time.
    let overhead = &stats["overhead_ms"];
    assert_eq!(overhead["count"], 400);
    let (latency, over) = (
        stats["latency_ms"]["p50"].as_f64().expect("p50"),
        overhead["p50"].as_f64().expect("p50"),
    );
    assert!(
        over > 0.0 && over < latency,
        "overhead {over} latency {latency}"
    );
    assert_eq!(stats["server_time_invalid"], 0);
    assert_eq!(stats["errors"], 0);
    assert!(stats["hdr"]["server_time"].is_string(), "{stats:#}");
    // The summary says it beside the latency.
    assert!(stdout.contains("server p50"), "{stdout}");
}

#[test]
fn server_timing_is_summed_a_named_header_is_read_and_bad_values_are_counted() {
    let server = Stamper::start(false);
    let steps = "      - { name: timing, get: /timing }\n      \
                 - { name: app only, get: /timing, server_time: { header: Server-Timing, metric: app } }\n      \
                 - { name: bad, get: /bad }\n      \
                 - { name: runtime, get: /runtime, server_time: { header: X-Runtime, unit: ms } }\n      \
                 - { name: off, get: /stamp, server_time: false }\n";
    let (_dir, path) = scenario(&load(&server.url, "", steps, 60));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let timing = &step(&doc, "timing")["server_time_ms"];
    assert_eq!(timing["count"], 60);
    assert!(within_hdr(&timing["p50"], 4_300), "{timing:#}");
    assert!(within_hdr(&timing["max"], 4_300), "{timing:#}");
    let app = &step(&doc, "app only")["server_time_ms"];
    assert!(within_hdr(&app["p99"], 1_100), "{app:#}");
    let runtime = &step(&doc, "runtime")["server_time_ms"];
    assert!(within_hdr(&runtime["p50"], 2_500), "{runtime:#}");
    // `abc` and 99 s are counted and skipped; never zero, never an error.
    let bad = step(&doc, "bad");
    assert_eq!(bad["server_time_invalid"], 40, "{bad:#}");
    assert_eq!(bad["server_time_ms"]["count"], 20);
    assert!(within_hdr(&bad["server_time_ms"]["min"], 500));
    assert_eq!(bad["errors"], 0);
    let off = step(&doc, "off");
    assert_eq!(off["server_time_ms"]["count"], 0);
    assert_eq!(off["server_time_invalid"], 0);
    assert!(off["hdr"].get("server_time").is_none(), "{off:#}");
}

#[test]
fn server_time_is_read_over_http2_too_and_judged_by_thresholds() {
    let server = Stamper::start(true);
    let steps = "      - { name: timing, get: /timing }\n";
    let extra = "http2: true\nthresholds:\n  - \"timing: server_time_p99 < 4ms\"\n  \
                 - \"overhead_p99 < 10s\"\n";
    let (_dir, path) = scenario(&load(&server.url, extra, steps, 40));
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(doc["protocol"]["http_version"], "2", "{stderr}");
    let timing = &step(&doc, "timing")["server_time_ms"];
    assert_eq!(timing["count"], 40);
    assert!(within_hdr(&timing["p99"], 4_300), "{timing:#}");
    // 4.3 ms is not under 4 ms: exit 1, and the verdict says what it read.
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let verdicts = doc["thresholds"].as_array().expect("verdicts");
    assert_eq!(verdicts[0]["passed"], false);
    assert!(
        (verdicts[0]["observed"].as_f64().expect("observed") - 4.3).abs() < 0.01,
        "{verdicts:#?}"
    );
    assert_eq!(verdicts[1]["passed"], true);
}

#[test]
fn a_tag_splits_a_step_by_what_the_service_said_as_the_service_counted_it() {
    let server = Stamper::start(false);
    let steps = "      - { name: user, get: /cache, tag_by: { json: body.from_cache } }\n      \
                 - { name: by header, get: /cache, tag_by: { header: X-Cache, name: cache } }\n      \
                 - { name: ids, get: /id, tag_by: { json: body.id } }\n      \
                 - { name: few ids, get: /id, tag_by: { json: body.id, max_values: 3 } }\n";
    let extra = "thresholds:\n  - \"user[from_cache=false]: p50 >= 3ms\"\n  \
                 - \"user[from_cache=true]: p50 < 3ms\"\n  \
                 - \"user[from_cache=maybe]: error_rate < 1%\"\n";
    let (_dir, path) = scenario(&load(&server.url, extra, steps, 1000));
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    let tags = |name: &str| step(&doc, name)["tags"].as_array().expect("tags").clone();
    let count = |rows: &[serde_json::Value], value: &str| {
        rows.iter()
            .find(|t| t["value"] == value)
            .map_or(0, |t| t["requests"].as_u64().expect("requests"))
    };
    // Every answer of the two /cache steps was counted by the server as a hit or a miss.
    let (hits, misses) = (
        server.record.hits.load(Ordering::Relaxed),
        server.record.misses.load(Ordering::Relaxed),
    );
    assert_eq!(hits + misses, 2000);
    let (user, header) = (tags("user"), tags("by header"));
    assert_eq!(
        count(&user, "true") + count(&header, "HIT"),
        hits,
        "{user:#?}\n{header:#?}"
    );
    assert_eq!(count(&user, "false") + count(&header, "MISS"), misses);
    assert_eq!(count(&user, "true") + count(&user, "false"), 1000);
    assert!(user.iter().all(|t| t["key"] == "from_cache"));
    assert!(header.iter().all(|t| t["key"] == "cache"));
    // Misses waited 3 ms at the server, hits did not: the split shows it.
    let miss = user.iter().find(|t| t["value"] == "false").expect("misses");
    assert!(
        miss["latency_ms"]["p50"].as_f64().expect("p50") >= 3.0,
        "{miss:#}"
    );
    // 1000 distinct ids: 20 values of their own and the rest as other, nothing lost.
    let ids = tags("ids");
    assert_eq!(ids.len(), 21, "{ids:#?}");
    assert_eq!(ids[20]["value"], "other");
    assert_eq!(count(&ids, "other"), 980);
    let few = tags("few ids");
    assert_eq!((few.len(), count(&few, "other")), (4, 997));
    // The tag thresholds were judged on their own rows: a value never said fails.
    let verdicts = doc["thresholds"].as_array().expect("verdicts");
    assert_eq!(verdicts[0]["passed"], true, "{verdicts:#?}");
    assert_eq!(verdicts[1]["passed"], true, "{verdicts:#?}");
    assert_eq!(verdicts[2]["passed"], false, "{verdicts:#?}");
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("[from_cache=false]"), "{stdout}");
}

#[test]
fn a_threshold_on_a_tag_the_step_does_not_have_is_refused_before_any_load() {
    let steps = "      - { name: user, get: /cache, tag_by: { json: body.from_cache } }\n      \
                 - { name: plain, get: /cache }\n";
    for (threshold, says) in [
        ("user[cache=true]: p99 < 1s", "write [from_cache=VALUE]"),
        ("plain[from_cache=true]: p99 < 1s", "no tag_by"),
    ] {
        let extra = format!("thresholds:\n  - \"{threshold}\"\n");
        let (_dir, path) = scenario(&load("http://127.0.0.1:9", &extra, steps, 1));
        let out = common::stampede(
            &["validate", path.to_str().expect("utf-8 path")],
            Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{threshold}: {stderr}");
    }
}
