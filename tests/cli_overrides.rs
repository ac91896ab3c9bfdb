//! The command line: ad-hoc `--url` runs, the `stampede FILE` shortcut, and overrides that
//! beat the scenario file.

mod common;

use std::time::Duration;

use common::{Demo, scenario, stampede};

/// Runs stampede with `args` plus `--json`, asserts exit 0, returns the parsed report.
fn run_ok(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let mut all = args.to_vec();
    all.extend(["--json", json.to_str().expect("path")]);
    let out = stampede(&all, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON")
}

#[test]
fn ad_hoc_url_runs_without_a_file() {
    let demo = Demo::start();
    let url = format!("{}/fast", demo.url);
    // No `run`: the shortcut inserts it.
    let doc = run_ok(&["--url", &url, "--vus", "3", "-n", "30"]);
    assert_eq!(doc["load"]["model"], "closed");
    assert_eq!(doc["load"]["vus"], 3);
    assert_eq!(doc["total"]["requests"], 30);
    assert_eq!(doc["target"], demo.url.as_str());
    assert_eq!(demo.counters.served(stampede::demo::Route::Fast), 30);
}

#[test]
fn ad_hoc_rate_uses_the_open_model() {
    let demo = Demo::start();
    let url = format!("{}/fast", demo.url);
    let doc = run_ok(&["run", "--url", &url, "--rate", "40/s", "--iterations", "20"]);
    assert_eq!(doc["load"]["model"], "open");
    assert_eq!(doc["load"]["rate_per_s"], 40.0);
    assert_eq!(doc["total"]["requests"], 20);
    // 20 arrivals at 40/s: the last is planned at 0.475 s.
    let took = doc["duration_s"].as_f64().unwrap_or(0.0);
    assert!((0.45..3.0).contains(&took), "{took}");
}

#[test]
fn command_line_values_beat_the_file() {
    let demo = Demo::start();
    let (_dir, path) = scenario(
        "name: file values\ntarget: http://127.0.0.1:9\nload: { rate: 100/s, duration: 60s }\n\
         flows:\n  - steps: [ { name: fast, get: /fast } ]\n",
    );
    let file = path.to_str().expect("path");
    let doc = run_ok(&[
        file,
        "--vus",
        "2",
        "--iterations",
        "25",
        "--target",
        &demo.url,
    ]);
    assert_eq!(doc["load"]["model"], "closed");
    assert_eq!(doc["load"]["vus"], 2);
    assert_eq!(doc["total"]["requests"], 25);
    assert_eq!(doc["target"], demo.url.as_str());
    assert_eq!(doc["scenario"]["name"], "file values");
}

#[test]
fn target_demo_starts_the_embedded_service() {
    let file = format!("{}/scenarios/smoke.json", env!("CARGO_MANIFEST_DIR"));
    let doc = run_ok(&[&file]);
    assert_eq!(doc["target_is_demo"], true);
    assert!(
        doc["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("http://127.0.0.1:"))
    );
    assert_eq!(doc["total"]["requests"], 40);
    assert_eq!(doc["total"]["errors"], 0);
}

/// `validate` takes every flag of `run` that changes the plan, and checks the file as it
/// would run: the load and target shown are the flags', a bad `--threshold` is exit 2.
#[test]
fn validate_checks_the_plan_with_runs_flags() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.yaml");
    let out = stampede(
        &[
            "validate",
            file,
            "--target",
            "http://127.0.0.1:9",
            "-q",
            "5/s",
            "--threshold",
            "p99<1s",
        ],
        Duration::from_secs(20),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("open, 5/s"), "{text}");
    let bad = stampede(
        &["validate", file, "--threshold", "nope/x: p99<1s"],
        Duration::from_secs(20),
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2));
    assert!(err.contains("no step \"nope/x\""), "{err}");
}
