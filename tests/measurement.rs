//! Ground truth: what stampede reports against what the demo service actually served, and
//! latencies against a route whose delay we control.

mod common;

use std::time::Duration;

use common::{Demo, run_json, scenario, step};

#[test]
fn counts_exactly_what_the_server_served() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "name: counting\ntarget: {}\nload: {{ vus: 8, iterations: 600 }}\nflows:\n  \
         - name: main\n    steps:\n      - {{ name: fast, get: /fast }}\n      \
         - {{ name: user, get: /users/3 }}\n",
        demo.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    use stampede::demo::Route;
    assert_eq!(demo.counters.served(Route::Fast), 600);
    assert_eq!(demo.counters.served(Route::UserGet), 600);
    assert_eq!(step(&doc, "fast")["requests"], 600);
    assert_eq!(step(&doc, "user")["requests"], 600);
    assert_eq!(doc["total"]["requests"], 1200);
    assert_eq!(doc["total"]["status_codes"]["200"], 1200);
    assert_eq!(doc["total"]["errors"], 0);
}

#[test]
fn json_report_has_every_key() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "name: keys\ntarget: {}\nload: {{ vus: 2, iterations: 40 }}\nflows:\n  \
         - name: main\n    steps:\n      - {{ name: ok, get: /users/1 }}\n      \
         - {{ name: missing, get: /users/0, expect: {{ status: 200 }} }}\n",
        demo.url
    ));
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0);
    assert_eq!(doc["schema_version"], stampede::report::SCHEMA_VERSION);
    assert_eq!(doc["scenario"]["name"], "keys");
    assert!(
        doc["scenario"]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("scenario.yaml"))
    );
    assert_eq!(doc["target"], demo.url.as_str());
    assert_eq!(doc["outcome"], "completed");
    assert_eq!(doc["load"]["model"], "closed");
    assert_eq!(doc["load"]["vus"], 2);
    assert_eq!(doc["load"]["iterations"], 40);
    assert!(
        doc["started_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z') && s.starts_with("20"))
    );
    assert!(doc["duration_s"].as_f64().is_some_and(|d| d > 0.0));
    for stats in [&doc["total"], step(&doc, "ok"), step(&doc, "missing")] {
        for key in [
            "requests",
            "rps",
            "errors",
            "error_rate",
            "interrupted",
            "bytes_received",
        ] {
            assert!(stats[key].is_number(), "{key} in {stats:#}");
        }
        for key in [
            "count", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max",
        ] {
            assert!(stats["latency_ms"][key].is_number(), "latency_ms.{key}");
            assert!(
                stats["service_time_ms"][key].is_number(),
                "service_time_ms.{key}"
            );
        }
        assert!(stats["status_codes"].is_object());
        assert!(stats["errors_by_class"].is_array());
    }
    let ok = step(&doc, "ok");
    assert_eq!(ok["flow"], "main");
    assert_eq!(ok["requests"], 40);
    assert_eq!(ok["status_codes"]["200"], 40);
    assert!(ok["bytes_received"].as_u64().is_some_and(|b| b > 40 * 20));
    let missing = step(&doc, "missing");
    assert_eq!(missing["status_codes"]["404"], 40);
    assert_eq!(missing["errors"], 40);
    let class = &missing["errors_by_class"][0];
    assert_eq!(class["class"], "status_not_expected");
    assert_eq!(class["count"], 40);
    assert_eq!(class["sample"], "expected 200, got 404");
    assert!(stdout.contains("main / missing"), "{stdout}");
    assert!(stdout.contains("status_not_expected"), "{stdout}");
}

#[test]
fn latency_matches_a_controlled_delay() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "name: delay\ntarget: {}\nload: {{ vus: 10, duration: 3s }}\nflows:\n  \
         - steps: [ {{ name: delay, get: /delay/20 }} ]\n",
        demo.url
    ));
    let (code, doc, _, _) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0);
    let lat = &step(&doc, "delay")["latency_ms"];
    let (p50, min) = (
        lat["p50"].as_f64().unwrap_or(0.0),
        lat["min"].as_f64().unwrap_or(0.0),
    );
    assert!(
        (20.0..=23.0).contains(&p50),
        "p50 {p50} ms not in [20, 23]: {lat:#}"
    );
    assert!(min >= 20.0, "min {min} ms below the server's 20 ms delay");
    assert!(lat["count"].as_u64().is_some_and(|c| c > 500), "{lat:#}");
}

#[test]
fn the_open_model_reports_its_send_lag() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ rate: 200/s, iterations: 100 }}\nflows:\n  - steps: [ {{ get: /fast }}, {{ get: /fast }} ]\n",
        demo.url
    ));
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    // One figure per iteration (its first request), none for the later steps.
    assert_eq!(doc["total"]["send_lag_ms"]["count"], 100, "{doc:#}");
    assert_eq!(doc["steps"][1]["send_lag_ms"]["count"], 0);
    let lag = &doc["total"]["send_lag_ms"];
    assert!(lag["p50"].as_f64() <= lag["max"].as_f64());
    assert!(stdout.contains("send lag  p50"), "{stdout}");
    // The closed model has no planned instants: no send lag.
    let (_, closed, stdout, _) = run_json(&path, &["--vus", "2"], Duration::from_secs(30));
    assert_eq!(closed["total"]["send_lag_ms"]["count"], 0);
    assert!(!stdout.contains("send lag"), "{stdout}");
}
