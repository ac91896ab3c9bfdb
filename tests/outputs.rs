//! The files a run writes: `--json -` (JSON on stdout, the summary on stderr), `--quiet`,
//! `--junit` (read back with an independent XML parser, hostile names included), and an
//! output path that cannot be written, refused before any request. Servers listen on
//! 127.0.0.1 port 0.

mod common;

use std::time::Duration;

use common::{Demo, scenario, stampede};

fn small(demo: &Demo) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario(&format!(
        "name: outputs\ntarget: {}\nload: {{ vus: 2, iterations: 10 }}\n\
         thresholds: [ \"p99 < 10s\", \"error_rate < 0.1%\" ]\n\
         flows:\n  - name: \"a <flow> & 'co'\"\n    steps:\n      - name: \"get \\\"it\\\"\"\n        \
         get: /flaky?fail_pct=100\n        expect:\n          status: 200\n          body:\n            \
         - {{ contains: \"x\", name: \"has <x> & ]]>\" }}\n",
        demo.url
    ))
}

#[test]
fn json_on_stdout_moves_the_summary_to_stderr() {
    let demo = Demo::start();
    let (_dir, path) = small(&demo);
    let out = stampede(
        &["run", path.to_str().expect("path"), "--json", "-"],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is the JSON");
    assert_eq!(doc["total"]["requests"], 10);
    assert!(stderr.contains("stampede · outputs"), "{stderr}");
    assert!(!std::path::Path::new("-").exists());
}

#[test]
fn quiet_prints_no_summary_but_writes_the_files() {
    let demo = Demo::start();
    let (dir, path) = small(&demo);
    let json = dir.path().join("r.json");
    let out = stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--quiet",
            "--json",
            json.to_str().expect("path"),
        ],
        Duration::from_secs(60),
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(common::read_json(&json)["total"]["requests"], 10);
}

#[test]
fn junit_has_a_case_per_threshold_and_check_and_survives_hostile_names() {
    let demo = Demo::start();
    let (dir, path) = small(&demo);
    let junit = dir.path().join("junit.xml");
    let out = stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--headless",
            "--junit",
            junit.to_str().expect("path"),
        ],
        Duration::from_secs(60),
    );
    let text = std::fs::read_to_string(&junit).expect("the JUnit file");
    let xml = roxmltree::Document::parse(&text).expect("well-formed XML");
    let cases: Vec<_> = xml
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    // Two thresholds and the body check.
    assert_eq!(cases.len(), 3, "{text}");
    let names: Vec<_> = cases.iter().filter_map(|c| c.attribute("name")).collect();
    assert!(names.contains(&"has <x> & ]]>"), "{names:?}");
    assert!(names.contains(&"p99 < 10s"), "{names:?}");
    // /flaky?fail_pct=100 fails every request: the error threshold and the check fail.
    let failed = cases
        .iter()
        .filter(|c| c.children().any(|k| k.has_tag_name("failure")))
        .count();
    let suite = xml
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a suite");
    assert_eq!(
        suite.attribute("failures"),
        Some(failed.to_string().as_str())
    );
    assert_eq!(failed, 2, "{text}");
    assert_eq!(out.status.code(), Some(1), "a failed threshold: {text}");
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_any_request() {
    let demo = Demo::start();
    let (dir, path) = small(&demo);
    let nowhere = dir.path().join("no-such-dir").join("r.json");
    let out = stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--headless",
            "--junit",
            nowhere.to_str().expect("path"),
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write the JUnit report to"),
        "{stderr}"
    );
    assert_eq!(demo.counters.total(), 0, "no load was sent");
}

#[test]
fn a_refused_run_leaves_an_earlier_report_as_it_was() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("r.json");
    std::fs::write(&json, "{\"earlier\": true}").expect("write");
    let fresh = dir.path().join("new.json");
    // Nothing listens on port 9 of 127.0.0.1: the preflight refuses the run (exit 2).
    let out = stampede(
        &[
            "run",
            "--url",
            "http://127.0.0.1:9/",
            "--headless",
            "--json",
            json.to_str().expect("path"),
            "--junit",
            fresh.to_str().expect("path"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    let kept = std::fs::read_to_string(&json).expect("still there");
    assert_eq!(kept, "{\"earlier\": true}");
    assert!(!fresh.exists(), "a file the refused run created is removed");
}

#[test]
fn two_outputs_cannot_share_stdout() {
    let demo = Demo::start();
    let (_dir, path) = small(&demo);
    let out = stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--json",
            "-",
            "--csv",
            "-",
        ],
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--json and --csv cannot share stdout"),
        "{err}"
    );
    assert_eq!(demo.counters.total(), 0, "refused before any request");
}
