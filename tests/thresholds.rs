//! Thresholds gate a run: each is judged on the final figures against a target whose
//! latency the test sets (`/delay/{ms}` of the demo service), listed in the summary and the
//! JSON, and any failure makes the exit code 1. Bad thresholds are refused before any load,
//! with their place in the file. A soft check is a measurement, not an error: `checks` sees
//! its failures, `error_rate` does not. Servers listen on 127.0.0.1 port 0.

mod common;

use std::time::{Duration, Instant};

use common::{Demo, error_count, run_json, scenario, stampede, step};

fn delayed(demo: &Demo, extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario(&format!(
        "name: gate\ntarget: {}\nload: {{ vus: 4, iterations: 40 }}\n{extra}\
         flows:\n  - name: shop\n    steps:\n      - {{ name: slow, get: /delay/20 }}\n      \
         - {{ name: quick, get: /fast }}\n",
        demo.url
    ))
}

#[test]
fn thresholds_that_hold_pass_and_are_listed() {
    let demo = Demo::start();
    let (_dir, path) = delayed(
        &demo,
        "thresholds:\n  - p99 > 1ms\n  - shop/slow: p50 >= 20ms\n  - quick: error_rate < 1%\n",
    );
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("thresholds all passed"), "{stdout}");
    assert!(
        stdout.contains("✓ shop / slow: p50 >= 20ms   observed "),
        "{stdout}"
    );
    assert_eq!(doc["thresholds_passed"], true);
    let slow = &doc["thresholds"][1];
    assert_eq!(slow["threshold"], "shop / slow: p50 >= 20ms");
    // The server sleeps 20 ms: the observed p50 is at least that, in milliseconds.
    let observed = slow["observed"].as_f64().expect("a figure");
    assert!((20.0..200.0).contains(&observed), "{observed}");
}

#[test]
fn a_failed_threshold_is_exit_1_with_its_observed_value() {
    let demo = Demo::start();
    let (_dir, path) = delayed(&demo, "thresholds: [ \"slow: p99 < 5ms\" ]\n");
    let (code, doc, stdout, _) =
        run_json(&path, &["--threshold", "rps>0"], Duration::from_secs(60));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("thresholds 1 of 2 FAILED"), "{stdout}");
    assert!(
        stdout.contains("✗ shop / slow: p99 < 5ms   observed "),
        "{stdout}"
    );
    assert!(stdout.contains("✓ rps > 0"), "{stdout}");
    assert_eq!(doc["thresholds_passed"], false);
    assert_eq!(doc["thresholds"][0]["passed"], false);
    // The server sleeps 20 ms, so the p99 is at least that; a busy machine may add a
    // scheduling delay on top (CI once saw 32 ms), so only the floor is exact.
    let observed = doc["thresholds"][0]["observed"].as_f64().expect("a figure");
    assert!((20.0..1000.0).contains(&observed), "{observed}");
}

#[test]
fn a_dead_target_fails_its_error_threshold_and_says_so_last() {
    // Nothing listens on port 9 of 127.0.0.1: every request is refused.
    let (_dir, path) = scenario(
        "target: http://127.0.0.1:9\nload: { vus: 2, iterations: 4 }\npreflight: false\n\
         flows:\n  - steps: [ { get: / } ]\n",
    );
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "without thresholds, errors are results: {stdout}");
    let last = stdout.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("WARNING   every request failed"),
        "{stdout}"
    );
    assert!(stdout.contains("—"), "no latency is shown as —: {stdout}");
    assert!(!doc["warnings"].as_array().is_none_or(Vec::is_empty));
    let (code, doc, stdout, _) = run_json(
        &path,
        &["--threshold", "error_rate<1%", "--threshold", "p99<1s"],
        Duration::from_secs(60),
    );
    assert_eq!(code, 1, "{stdout}");
    // No response means no latency: the latency threshold fails for want of data.
    assert!(stdout.contains("✗ p99 < 1s   observed no data"), "{stdout}");
    assert!(doc["thresholds"][1]["observed"].is_null());
}

#[test]
fn abort_on_fail_stops_the_run_early_and_says_why() {
    let (_dir, path) = scenario(
        "target: http://127.0.0.1:9\nload: { vus: 2, duration: 60s }\npreflight: false\n\
         thresholds:\n  - { threshold: \"error_rate < 10%\", abort_on_fail: true, delay: 1s }\n\
         flows:\n  - steps: [ { get: / } ]\n",
    );
    let began = Instant::now();
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    let reason = doc["stop_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("threshold error_rate < 10% failed (observed 100.00%)"),
        "{reason}"
    );
}

#[test]
fn bad_thresholds_are_refused_before_any_load_with_their_place() {
    let demo = Demo::start();
    let (_dir, path) = delayed(
        &demo,
        "thresholds:\n  - p99 < 5%\n  - nowhere: p50 < 1s\n  - p97 < 1s\n",
    );
    let out = stampede(
        &["run", path.to_str().expect("path"), "--headless"],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(":5:5: thresholds[0]"), "{stderr}");
    assert!(stderr.contains("takes e.g. 200ms"), "{stderr}");
    assert!(stderr.contains(":6:5: thresholds[1]"), "{stderr}");
    assert!(stderr.contains("no step \"nowhere\"; the steps are shop/slow, shop/quick"));
    assert!(stderr.contains(":7:5: thresholds[2]"), "{stderr}");
    assert_eq!(
        demo.counters.total(),
        0,
        "no load before the thresholds are valid"
    );
    let out = stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--threshold",
            "p99<fast",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_bad_command_line_threshold_names_the_flag() {
    let demo = Demo::start();
    let (_dir, path) = delayed(&demo, "");
    let out = stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--headless",
            "--threshold",
            "shop/pay:error_rate<1%",
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--threshold \"shop/pay:error_rate<1%\": no step \"shop/pay\""),
        "{stderr}"
    );
    assert_eq!(demo.counters.total(), 0);
}

/// 20 iterations of `/delay/20` whose `X-Process-Time` header, at least 0.020 s, is checked
/// against `^0\.00[0-4]`: a check that every response fails. `soft` is `, soft: true` or
/// nothing; `setup` adds a setup step with the same check.
fn slow_header_checked(
    demo: &Demo,
    soft: &str,
    setup: bool,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let expect =
        format!(r"expect: {{ headers: {{ x-process-time: {{ regex: '^0\.00[0-4]'{soft} }} }} }}");
    let setup = if setup {
        format!("setup:\n  steps: [ {{ name: warm, get: /delay/20, {expect} }} ]\n")
    } else {
        String::new()
    };
    scenario(&format!(
        "name: observe\ntarget: {}\nload: {{ vus: 2, iterations: 20 }}\n\
         thresholds:\n  - error_rate < 1%\n  - checks > 99%\n{setup}\
         flows:\n  - name: shop\n    steps:\n      - {{ name: slow, get: /delay/20, {expect} }}\n",
        demo.url
    ))
}

#[test]
fn a_soft_check_fails_the_checks_threshold_but_is_no_error() {
    let demo = Demo::start();
    let (_dir, path) = slow_header_checked(&demo, ", soft: true", true);
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 1, "the checks threshold fails: {stdout}\n{stderr}");
    let slow = step(&doc, "slow");
    let requests = slow["requests"].as_u64().expect("requests");
    assert_eq!(
        requests, 20,
        "setup went on, every iteration ran: {stdout}\n{stderr}"
    );
    assert_eq!(doc["total"]["errors"], 0, "{stdout}");
    assert_eq!(slow["errors_by_class"], serde_json::json!([]));
    let check = &slow["checks"][0];
    assert_eq!(check["soft"], true);
    assert_eq!(check["evaluated"], requests);
    assert_eq!(check["failed"], requests);
    assert_eq!(doc["thresholds"][0]["threshold"], "error_rate < 1%");
    assert_eq!(doc["thresholds"][0]["passed"], true);
    assert_eq!(doc["thresholds"][1]["threshold"], "checks > 99%");
    assert_eq!(doc["thresholds"][1]["passed"], false);
    assert_eq!(doc["thresholds"][1]["observed"], 0.0);
    let line =
        r"FAILED  shop / slow · header x-process-time matches /^0\.00[0-4]/ (soft): 20 of 20";
    assert!(stdout.contains(line), "{stdout}");
}

#[test]
fn the_same_check_without_soft_is_an_error_of_class_check() {
    let demo = Demo::start();
    let (_dir, path) = slow_header_checked(&demo, "", true);
    let out = stampede(
        &["run", path.to_str().expect("path"), "--headless"],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("setup step \"warm\" failed: check failed: header x-process-time"),
        "setup stops at a hard check: {stderr}"
    );
    let (_dir, path) = slow_header_checked(&demo, "", false);
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 1, "{stdout}");
    let slow = step(&doc, "slow");
    assert_eq!(slow["requests"], 20);
    assert_eq!(slow["errors"], 20);
    assert_eq!(error_count(slow, "check"), 20);
    assert_eq!(slow["checks"][0]["soft"], false);
    assert_eq!(slow["checks"][0]["failed"], 20);
    assert_eq!(doc["thresholds"][0]["passed"], false, "error_rate < 1%");
    assert_eq!(doc["thresholds"][1]["passed"], false, "checks > 99%");
}
