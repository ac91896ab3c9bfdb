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

/// A file that is not a whole result is refused by `compare`, `report` and `--baseline`
/// with exit 2, naming the file and the field (issue 18, item 7): it used to be compared as
/// "no data", exit 0, so a CI gate passed on nothing. A device or a FIFO is refused
/// without being read (item 9).
#[test]
fn a_result_that_is_not_whole_is_refused_everywhere_it_is_read() {
    let demo = Demo::start();
    let (dir, _) = scenario("unused: true\n");
    let good = run_at(&demo, dir.path(), 1, "good");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).expect("read")).expect("JSON");
    let edit = |name: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut d = doc.clone();
        change(&mut d);
        let path = dir.path().join(name);
        std::fs::write(&path, d.to_string()).expect("write");
        path
    };
    let cases = [
        (
            std::fs::write(dir.path().join("empty.json"), "{\"schema_version\":1}")
                .map(|()| dir.path().join("empty.json"))
                .expect("write"),
            "scenario is missing",
        ),
        (
            edit("no-total.json", &|d| {
                d.as_object_mut().expect("object").remove("total");
            }),
            "total is missing",
        ),
        (
            edit("negative.json", &|d| d["total"]["requests"] = (-5).into()),
            "total.requests must be a whole number, zero or more",
        ),
        (
            edit("fraction.json", &|d| d["steps"][0]["errors"] = 1.5.into()),
            "steps[0].errors must be a whole number, zero or more",
        ),
        (
            Path::new("/dev/zero").to_path_buf(),
            "it is a character device, not a regular file",
        ),
    ];
    let good_s = good.to_str().expect("path");
    let yaml = good.with_extension("yaml");
    let page = dir.path().join("page.html");
    let before = demo.counters.total();
    for (bad, says) in &cases {
        let bad_s = bad.to_str().expect("path");
        let page_s = page.to_str().expect("path");
        let runs: [Vec<&str>; 4] = [
            vec!["compare", bad_s, good_s],
            vec!["compare", good_s, bad_s],
            vec!["report", bad_s, "--html", page_s],
            vec![
                "run",
                yaml.to_str().expect("path"),
                "--headless",
                "--baseline",
                bad_s,
            ],
        ];
        for args in runs {
            let out = stampede(&args, Duration::from_secs(30));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(bad_s) && err.contains(says), "{args:?}: {err}");
            assert!(!String::from_utf8_lossy(&out.stdout).contains("within noise"));
        }
    }
    assert_eq!(demo.counters.total(), before, "no load with a bad baseline");
    assert!(!page.exists(), "no page for a bad result");
}

/// Two results of different scenarios are compared under a warning that says so (issue 18,
/// item 10); the summary of `run --baseline` carries it too.
#[test]
fn results_of_different_scenarios_are_compared_under_a_warning() {
    let demo = Demo::start();
    let (dir, _) = scenario("unused: true\n");
    let base = run_at(&demo, dir.path(), 1, "base");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).expect("read")).expect("JSON");
    doc["scenario"]["name"] = "another".into();
    let other = dir.path().join("other.json");
    std::fs::write(&other, doc.to_string()).expect("write");
    let (b, o) = (base.to_str().expect("path"), other.to_str().expect("path"));
    let out = stampede(&["compare", b, o], Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: the results are of different scenarios (\"cmp\" and \"another\")"),
        "{text}"
    );
    let same = stampede(&["compare", b, b], Duration::from_secs(10));
    assert!(!String::from_utf8_lossy(&same.stdout).contains("warning"));
    let yaml = base.with_extension("yaml");
    let run = stampede(
        &[
            "run",
            yaml.to_str().expect("path"),
            "--headless",
            "--baseline",
            o,
        ],
        Duration::from_secs(30),
    );
    let summary = String::from_utf8_lossy(&run.stdout);
    assert!(
        summary.contains("  warning: the results are of different scenarios"),
        "{summary}"
    );
}
