//! `follow_redirects`: each hop is sent and recorded as a request of its step (its own
//! latency and 3xx status), the last answer is the one judged, and the default follows
//! none. Against the demo's `/redirect/{n}` (a chain of n 302s, then 200), whose counters
//! are the ground truth.

mod common;

use std::time::Duration;

use stampede::demo::Route;

use common::{Demo, run_json, scenario, step};

fn chain(demo: &Demo, step_fields: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario(&format!(
        "target: {}\nload: {{ vus: 2, iterations: 10 }}\nflows:\n  - name: f\n    steps:\n      - name: hop\n        get: /redirect/3\n{step_fields}",
        demo.url
    ))
}

#[test]
fn every_hop_is_a_request_of_the_step_and_the_last_answer_is_judged() {
    let demo = Demo::start();
    let (_dir, path) = chain(
        &demo,
        "        follow_redirects: 3\n        expect: { status: 200 }\n",
    );
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let s = step(&doc, "hop");
    assert_eq!(s["requests"], 40, "{s:#}");
    assert_eq!(s["status_codes"]["302"], 30, "{s:#}");
    assert_eq!(s["status_codes"]["200"], 10, "{s:#}");
    assert_eq!(s["errors"], 0, "{s:#}");
    assert_eq!(demo.counters.served(Route::Redirect), 40);
    assert_eq!(doc["iterations"][0]["count"], 10, "{doc:#}");
    assert!(stdout.contains("302 × 30"), "{stdout}");
}

#[test]
fn a_chain_longer_than_the_limit_ends_on_its_3xx() {
    let demo = Demo::start();
    let (_dir, path) = chain(&demo, "        expect: { status: 200 }\n");
    // --follow-redirects replaces the file's (none here): 2 hops, then the third 302 is
    // the answer, which the step does not expect.
    let (code, doc, _, stderr) =
        run_json(&path, &["--follow-redirects", "2"], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let s = step(&doc, "hop");
    assert_eq!(s["requests"], 30, "{s:#}");
    assert_eq!(s["status_codes"]["302"], 30, "{s:#}");
    assert_eq!(s["errors"], 10, "{s:#}");
    assert_eq!(common::error_count(s, "status_not_expected"), 10, "{s:#}");
    assert_eq!(demo.counters.served(Route::Redirect), 30);
}

#[test]
fn by_default_no_redirect_is_followed() {
    let demo = Demo::start();
    let (_dir, path) = chain(&demo, "");
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let s = step(&doc, "hop");
    assert_eq!(s["requests"], 10, "{s:#}");
    assert_eq!(s["status_codes"]["302"], 10, "{s:#}");
    assert_eq!(s["errors"], 0, "a 3xx is below 400: {s:#}");
    assert_eq!(demo.counters.served(Route::Redirect), 10);
}

#[test]
fn more_than_thirty_redirects_is_refused_at_its_place() {
    let demo = Demo::start();
    let (_dir, path) = chain(&demo, "        follow_redirects: 31\n");
    let out = common::stampede(
        &["validate", path.to_str().expect("path")],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    let text = format!("{stdout}{stderr}");
    assert!(
        text.contains("flows[0].steps[0].follow_redirects"),
        "{text}"
    );
    assert!(text.contains("a chain that long is a loop"), "{text}");
}

#[test]
fn checks_judge_the_last_answer_only() {
    let demo = Demo::start();
    let (_dir, path) = chain(
        &demo,
        "        follow_redirects: 3\n        expect: { body: [ { contains: nowhere, name: never } ] }\n",
    );
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let s = step(&doc, "hop");
    assert_eq!(s["requests"], 40, "{s:#}");
    let check = &s["checks"][0];
    // Ten answers judged (the hops are not), and all ten failed.
    assert_eq!(check["evaluated"], 10, "{s:#}");
    assert_eq!(check["failed"], 10, "{s:#}");
}
