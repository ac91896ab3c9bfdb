//! Every report format pinned by an insta snapshot, from one deterministic run: samples
//! recorded through the real recorder and aggregator at fixed instants (two steps, a
//! check, errors, a stage, a threshold that holds and one that fails), so a change to any
//! format shows as a reviewable diff. Covers the text summary, the JSON (its one wall-clock
//! field normalised), the CSV, the progress line, the JUnit file and the compare table.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use stampede::metrics::{
    Aggregator, CheckName, ConnectionUse, Dial, ErrorClass, Exchange, Kept, Level, LiveState,
    Outcome, Phase, Phases, Recorder, ServerTime, Snapshot, TickState,
};
use stampede::report::{self, Ending, RunInfo};
use stampede::scenario::{Load, Model, Stage, Threshold};

const TICK: Duration = Duration::from_millis(250);

fn ok(status: u16, failed_checks: u64, phases: Phases) -> Outcome<'static> {
    said(status, failed_checks, ServerTime::Unknown, phases)
}

/// A response whose server said its time (or did not, or said something wrong).
fn said(status: u16, failed_checks: u64, server: ServerTime, phases: Phases) -> Outcome<'static> {
    Outcome::Response {
        status,
        bytes: 512,
        unexpected: (status >= 500).then_some("2xx"),
        failure: None,
        failed_checks,
        server,
        phases,
    }
}

/// The phases of the `i`th response of a tick, whose whole exchange took `took`: the first
/// of each tick on a new connection (looked up by name, plain TCP; after the first tick, the
/// server had closed the one before), the rest on kept ones; its first byte 400 µs before
/// the end.
fn phases(tick: u64, i: u64, took: Duration) -> Phases {
    let us = Duration::from_micros;
    let connection = if i == 0 {
        ConnectionUse::New {
            dial: Dial {
                dns: Some(us(300)),
                connect: us(100 + tick * 10),
                tls: None,
            },
            reconnect: tick > 1,
        }
    } else {
        ConnectionUse::Reused
    };
    Phases {
        connection,
        write: Some(us(15 + i)),
        ttfb: Some(took - us(400 + 15 + i)),
        download: Some(us(400)),
    }
}

/// The pay step's exchange, for its samples: with the server's answer, or none.
fn exchange(at: Instant, answered: bool) -> Exchange {
    let mut request_headers = HeaderMap::new();
    request_headers.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
    request_headers.insert("content-type", HeaderValue::from_static("application/json"));
    let response = answered.then(|| {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("retry-after", HeaderValue::from_static("5"));
        Kept {
            headers: Some(headers),
            body: Some(Bytes::from_static(b"{\"error\":\"db down\"}")),
            bytes: 19,
        }
    });
    Exchange {
        method: Method::POST,
        url: Some("http://127.0.0.1:8000/pay?token=s3cret&n=1".into()),
        request_headers,
        response,
        server_time: if answered {
            ServerTime::Took(47_000)
        } else {
            ServerTime::Unknown
        },
        at,
        phases: Vec::new(),
    }
}

/// Four ticks of a two-step flow at fixed latencies; returns the per-tick snapshots (for
/// the streaming formats) and the final one with its history.
fn run() -> (Vec<Snapshot>, Snapshot) {
    // The pay step is split by what its responses say of the cache.
    let tags = vec![None, Some(("from_cache".to_string(), 20))];
    let rec = Recorder::new(2, Duration::from_secs(60))
        .with_flows(1)
        .with_tags(tags);
    let t0 = Instant::now();
    let names = vec![
        ("checkout".to_string(), "browse".to_string()),
        ("checkout".to_string(), "pay, then \"confirm\"".to_string()),
    ];
    let checks = vec![
        vec![],
        vec![
            CheckName {
                name: "latency <= 50ms".into(),
                reads_body: false,
                soft: false,
            },
            CheckName {
                name: "header x-process-time matches /^0\\.00[0-4]/".into(),
                reads_body: false,
                soft: true,
            },
        ],
    ];
    let mut agg = Aggregator::new(rec.clone(), names, t0)
        .with_checks(checks)
        .with_flows(vec!["checkout".into()]);
    let mut ticks = Vec::new();
    for tick in 1..=4u64 {
        for i in 0..(20 * tick) {
            let ms = |base: u64| Duration::from_micros(base * 1000 + i * 97);
            rec.start();
            rec.record(0, ms(4), ms(4), ok(200, 0, phases(tick, i, ms(4))));
            rec.start();
            let (status, failed) = if i % 10 == 9 {
                (503, 0)
            } else {
                // The latency check fails on every 7th, the soft one on every 3rd.
                (201, u64::from(i % 7 == 0) | u64::from(i % 3 == 0) << 1)
            };
            // The pay step's server says its time: 3 ms less than the client measured, but
            // one response in twenty says something that is not a time.
            let server = if i % 20 == 19 {
                ServerTime::Invalid
            } else {
                ServerTime::Took((27 + tick * 5) * 1000 + i * 97)
            };
            let took = ms(30 + tick * 5);
            let pay = said(status, failed, server, phases(tick, i, took));
            let cached = if i % 4 == 0 { "false" } else { "true" };
            if tick == 4 && i == 9 {
                // The last tick's first 503 leaves a sample, with what its server said.
                let at = t0 + Duration::from_millis(900);
                let sample = || exchange(at, true);
                rec.record_exchange(1, Some(cached), (took, took), pay, sample);
            } else {
                rec.record_in(1, Some(cached), took, took, pay);
            }
            rec.end_iteration(Some((0, ms(40))));
        }
        rec.start();
        let two = Duration::from_secs(2);
        let at = t0 + TICK * tick as u32;
        // Every tick's timeout is sampled: the JSON shows the latest first.
        rec.record_exchange(
            1,
            Some("(none)"),
            (two, two),
            Outcome::Failed {
                class: ErrorClass::Timeout,
                message: "no response within 2s".into(),
                status: None,
                bytes: 0,
                connection: ConnectionUse::Reused,
            },
            || exchange(at, false),
        );
        let at = TICK * tick as u32;
        let last = tick == 4;
        let phase = if last {
            Phase::Finished
        } else {
            Phase::Running
        };
        let mut snap = agg.tick(t0 + at, at, phase);
        let level = 2 + tick;
        agg.extend_series(
            TickState {
                at,
                length: TICK,
                in_flight: snap.in_flight,
                level: Some(level as f64),
                dropped: 0,
            },
            last,
        );
        snap.live = LiveState {
            level: Some(Level::Vus(level)),
            planned: Some(Duration::from_secs(1)),
            ..LiveState::default()
        };
        if last {
            snap.history = Some(Arc::new(agg.history()));
        }
        ticks.push(snap);
    }
    let last = ticks.last().cloned().expect("ticks");
    (ticks, last)
}

fn info(snap: &Snapshot) -> RunInfo {
    let steps = vec![
        ("checkout".to_string(), "browse".to_string()),
        ("checkout".to_string(), "pay, then \"confirm\"".to_string()),
    ];
    let thresholds: Vec<Threshold> = ["p99 < 100ms", "checkout / browse: p50 < 1ms"]
        .iter()
        .map(|t| Threshold::parse(t, &steps).expect("a threshold"))
        .collect();
    RunInfo {
        scenario: "checkout".into(),
        source: Some("scenarios/checkout.yaml".into()),
        target: "http://127.0.0.1:8000".into(),
        demo: false,
        load: Load {
            model: Model::Closed { vus: 2 },
            duration: Some(Duration::from_secs(1)),
            iterations: None,
            graceful_stop: Duration::from_secs(5),
            stages: vec![Stage {
                duration: Duration::from_secs(1),
                target: 6.0,
            }],
            capacity: None,
        },
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        duration: Duration::from_secs(1),
        ending: Ending::Completed,
        verdicts: report::verdicts(&thresholds, snap),
        baseline: None,
        insecure: false,
        connections: Some(stampede::engine::Connections {
            http_version: "1.1",
            opened: 6,
            streams_per_connection: None,
            graceful_closes: None,
        }),
        proxy: None,
        phases: false,
        shards: None,
    }
}

#[test]
fn text_summary() {
    let (_, snap) = run();
    insta::assert_snapshot!(report::summary(&info(&snap), &snap));
}

/// `--phases`: each step's connections and the p50 / p99 of each phase it saw (no TLS: the
/// fixture's connections are plain TCP).
#[test]
fn text_summary_with_phases() {
    let (_, snap) = run();
    let info = RunInfo {
        phases: true,
        ..info(&snap)
    };
    insta::assert_snapshot!(report::summary(&info, &snap));
}

#[test]
fn json_result() {
    let (_, snap) = run();
    let json = report::to_json(&info(&snap), &snap);
    // The version moves with every release; everything else is fixed by the inputs.
    let json = json.replace(env!("CARGO_PKG_VERSION"), "[version]");
    insta::assert_snapshot!(json);
}

#[test]
fn csv_series() {
    let (ticks, _) = run();
    let mut text = String::new();
    for (i, snap) in ticks.iter().enumerate() {
        let before = if i == 0 { 0 } else { ticks[i - 1].dropped };
        let rows = report::csv::rows(snap, i == 0, before).expect("rows");
        text.push_str(&String::from_utf8(rows).expect("utf-8"));
    }
    insta::assert_snapshot!(text);
}

#[test]
fn progress_line() {
    let (ticks, _) = run();
    let lines: Vec<String> = ticks
        .iter()
        .map(|s| stampede::progress::line(s, Some(Duration::from_secs(1)), Some(240.0)))
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn junit_file() {
    let (_, snap) = run();
    insta::assert_snapshot!(report::to_junit(&info(&snap), &snap));
}

#[test]
fn compare_table() {
    let (_, snap) = run();
    let info = info(&snap);
    let base: serde_json::Value =
        serde_json::from_str(&report::to_json(&info, &snap)).expect("JSON");
    // The same run with its pay step twice as slow and its rate halved.
    let mut new = base.clone();
    let slower = |stats: &mut serde_json::Value| {
        for key in ["p50", "p99"] {
            let v = stats["latency_ms"][key].as_f64().expect("latency");
            stats["latency_ms"][key] = (v * 2.0).into();
        }
        stats["hdr"] = serde_json::Value::Null;
        stats["rps"] = (stats["rps"].as_f64().expect("rps") / 2.0).into();
    };
    slower(&mut new["total"]);
    slower(&mut new["steps"][1]);
    let halve = |column: &mut serde_json::Value| {
        for v in column.as_array_mut().expect("rps points") {
            *v = (v.as_f64().expect("rps") / 2.0).into();
        }
    };
    halve(&mut new["series"]["total"]["rps"]);
    halve(&mut new["series"]["steps"][1]["rps"]);
    let c = report::compare::compare(&base, &new, 0.05);
    insta::assert_snapshot!(report::compare::table(&c, "base.json", "new.json"));
}
