//! `stampede compare` and `run --baseline` against a target whose latency the test sets:
//! a result compared with itself is within noise (exit 0), a step made ten times slower
//! regresses (exit 1), and the run's summary gains the delta column and the changes.
//! Servers listen on 127.0.0.1 port 0.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Demo, run_json, scenario, stampede};

fn run_at(demo: &Demo, dir: &Path, delay_ms: u64, name: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "name: cmp\ntarget: {}\nload: {{ vus: 4, duration: 2s }}\nflows:\n  - name: f\n    steps:\n      - name: s\n        get: /delay/{delay_ms}\n",
            demo.url
        ),
    )
    .expect("write");
    let (code, _, _, err) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    path.with_extension("json")
}

#[test]
fn a_result_is_within_noise_of_itself_and_a_slower_run_regresses() {
    let demo = Demo::start();
    let (dir, _) = scenario("unused: true\n");
    let fast = run_at(&demo, dir.path(), 2, "fast");
    let slow = run_at(&demo, dir.path(), 20, "slow");
    let (fast_s, slow_s) = (fast.to_str().expect("path"), slow.to_str().expect("path"));

    let same = stampede(&["compare", fast_s, fast_s], Duration::from_secs(10));
    let text = String::from_utf8_lossy(&same.stdout);
    assert_eq!(same.status.code(), Some(0), "{text}");
    assert!(
        text.contains("0 regressed · 0 improved · 8 within noise"),
        "{text}"
    );

    let worse = stampede(&["compare", fast_s, slow_s], Duration::from_secs(10));
    let text = String::from_utf8_lossy(&worse.stdout);
    assert_eq!(worse.status.code(), Some(1), "{text}");
    let p50 = text
        .lines()
        .find(|l| l.starts_with("f / s") && l.contains("p50"))
        .expect("a p50 row");
    assert!(p50.ends_with("regressed"), "{p50}");
    let rps = text
        .lines()
        .find(|l| l.starts_with("f / s") && l.contains(" rps "))
        .expect("an rps row");
    assert!(
        rps.ends_with("regressed"),
        "ten times slower, about ten times fewer: {rps}"
    );

    // The other way, improved; and a tolerance above the change hides it.
    let better = stampede(&["compare", slow_s, fast_s], Duration::from_secs(10));
    assert_eq!(better.status.code(), Some(0));
    let lenient = stampede(
        &["compare", fast_s, slow_s, "--tolerance", "1000%"],
        Duration::from_secs(10),
    );
    assert_eq!(lenient.status.code(), Some(0));

    // run --baseline: the delta column and the changes in the summary; the exit code is
    // still the thresholds' (none here).
    let path = slow.with_extension("yaml");
    let out = stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--headless",
            "--baseline",
            fast_s,
        ],
        Duration::from_secs(30),
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{summary}");
    assert!(summary.contains("p99 vs base"), "{summary}");
    assert!(
        summary.contains("baseline  ") && summary.contains("✗ f / s p50"),
        "{summary}"
    );
}

#[test]
fn a_bad_baseline_is_refused_before_the_load() {
    let demo = Demo::start();
    let (dir, path) = scenario(&format!(
        "name: b\ntarget: {}\nload: {{ vus: 1, iterations: 3 }}\nflows:\n  - name: f\n    steps:\n      - name: s\n        get: /\n",
        demo.url
    ));
    let bad = dir.path().join("old.json");
    std::fs::write(&bad, "{\"schema_version\": 99}").expect("write");
    let out = stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--headless",
            "--baseline",
            bad.to_str().expect("path"),
        ],
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("old.json") && err.contains("schema version 99"),
        "{err}"
    );
    assert_eq!(demo.counters.total(), 0);
}
