//! Issue 8's reliability regressions: a run whose requests fail without touching the network
//! still stops on time, stdout that cannot be written loses nothing, signals at every phase
//! end the run the same way. Every target is started here on 127.0.0.1 port 0.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::child::{Stderr, wait_for};
use common::{Demo, binary, error_count, run_json, scenario, wait_with_limit};

/// Runs with a limit that the run must beat: `duration` + `graceful_stop` + 2 s.
fn must_end_within(limit: Duration, f: impl FnOnce()) {
    let began = Instant::now();
    f();
    assert!(began.elapsed() < limit, "took {:?}", began.elapsed());
}

#[test]
fn a_header_that_renders_a_control_character_does_not_hang_the_run() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 4, duration: 2s, graceful_stop: 1s }}\nvariables: {{ tok: ok }}\n\
         flows:\n  - steps:\n      - name: me\n        get: /fast\n        headers:\n          \
         authorization: \"Bearer {{{{ tok }}}}\"\n",
        demo.url
    ));
    must_end_within(Duration::from_secs(5), || {
        let (code, doc, _, stderr) =
            run_json(&path, &["--set", "tok=x\r"], Duration::from_secs(30));
        assert_eq!(code, 0, "{stderr}");
        assert!(error_count(&doc["total"], "render") > 0, "{doc:#}");
    });
    assert_eq!(
        demo.counters.total(),
        0,
        "a request that cannot be built is not sent"
    );
}

#[test]
fn a_data_value_with_a_newline_in_a_header_does_not_hang_the_run() {
    let demo = Demo::start();
    let (dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 4, duration: 2s, graceful_stop: 1s }}\n\
         data: {{ who: {{ file: who.jsonl }} }}\n\
         flows:\n  - steps:\n      - get: /fast\n        headers: {{ x-who: \"{{{{ data.who.name }}}}\" }}\n",
        demo.url
    ));
    std::fs::write(dir.path().join("who.jsonl"), "{\"name\": \"a\\nb\"}\n").expect("data");
    must_end_within(Duration::from_secs(5), || {
        let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(30));
        assert_eq!(code, 0, "{stderr}");
        assert!(error_count(&doc["total"], "render") > 0, "{doc:#}");
    });
}

/// Runs `script` (a shell line) and returns its output, within `limit`.
fn sh_within(script: &str, limit: Duration) -> std::process::Output {
    let child = common::spawn_sh(script);
    wait_with_limit(child, limit)
}

#[test]
#[cfg(unix)]
fn more_users_than_open_files_are_refused_before_any_load() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 300, duration: 2s, graceful_stop: 1s }}\n\
         flows:\n  - steps: [ {{ get: /fast }} ]\n",
        demo.url
    ));
    let json = path.with_extension("json");
    // The soft and hard limits both at 128: 300 users cannot all hold a connection, and
    // the process may not raise its own limit. Connections failing one by one mid-run
    // would look like the target's errors: the run is refused before it starts.
    let script = common::run_behind("ulimit -n 128 &&", &path, &json);
    must_end_within(Duration::from_secs(6), || {
        let out = sh_within(&script, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("300 connections need about 364 open files")
                && stderr.contains("at most 128")
                && stderr.contains("ulimit -n 364"),
            "the message names the limit and the fix: {stderr}"
        );
        assert!(!json.exists(), "no run, no result");
    });
}

#[test]
#[cfg(unix)]
fn a_low_soft_open_file_limit_is_raised_to_fit_the_users() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 300, duration: 1s }}\n\
         flows:\n  - steps: [ {{ get: /fast }} ]\n",
        demo.url
    ));
    let json = path.with_extension("json");
    // Only the soft limit is low (as on most systems, 1,024 soft and far more hard): the
    // run raises it itself, as wrk and oha users would by hand.
    let script = common::run_behind("ulimit -S -n 128 &&", &path, &json);
    let out = sh_within(&script, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("open files") {
        // This machine's hard limit is itself below 364: nothing to raise to.
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = common::read_json(&json);
    assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
    assert!(doc["total"]["requests"].as_u64().is_some_and(|n| n >= 300));
}

/// A scenario that sends `GET /fast` from 2 users for `secs` seconds.
fn fast_scenario(demo: &Demo, secs: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario(&format!(
        "target: {}\nload: {{ vus: 2, duration: {secs}s }}\nflows:\n  - steps: [ {{ get: /fast }} ]\n",
        demo.url
    ))
}

fn spawn_run(path: &std::path::Path, json: &std::path::Path, stdout: Stdio) -> std::process::Child {
    Command::new(binary())
        .args(["run", path.to_str().expect("path"), "--headless"])
        .args(["--json", json.to_str().expect("path")])
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn a_closed_stdout_pipe_is_quiet_and_the_json_is_written() {
    let demo = Demo::start();
    let (_dir, path) = fast_scenario(&demo, 1);
    let json = path.with_extension("json");
    let mut child = spawn_run(&path, &json, Stdio::piped());
    // The reader goes away before the summary is printed, as with `| true`.
    drop(child.stdout.take());
    let out = wait_with_limit(child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let doc = common::read_json(&json);
    assert!(doc["total"]["requests"].as_u64().is_some_and(|n| n > 0));
}

#[test]
#[cfg(target_os = "linux")]
fn a_full_stdout_is_an_error_but_the_json_is_written() {
    let demo = Demo::start();
    let (_dir, path) = fast_scenario(&demo, 1);
    let json = path.with_extension("json");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let child = spawn_run(&path, &json, Stdio::from(full));
    let out = wait_with_limit(child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write the summary"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(std::fs::read_to_string(&json).is_ok_and(|t| t.contains("\"requests\"")));
}

#[test]
fn users_above_the_limit_are_refused_before_any_load() {
    let out = common::stampede(
        &[
            "run",
            "--url",
            "http://127.0.0.1:9/",
            "--vus",
            "10000000",
            "-n",
            "1",
        ],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1000000"), "{stderr}");

    let (_dir, path) = scenario(
        "target: http://127.0.0.1:9\nload:\n  stages:\n    - { duration: 1s, vus: 18446744073709551615 }\n\
         flows:\n  - steps: [ { get: / } ]\n",
    );
    let out = common::stampede(
        &["validate", path.to_str().expect("path")],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(":4:28: load.stages[0].vus"), "{stderr}");
    assert!(stderr.contains("limit of 1,000,000"), "{stderr}");
}

#[test]
fn a_million_users_for_one_iteration_ends_at_once() {
    let demo = Demo::start();
    let began = Instant::now();
    let url = format!("{}/fast", demo.url);
    let out = common::stampede(
        &[
            "run",
            "--url",
            &url,
            "--vus",
            "1000000",
            "-n",
            "1",
            "--headless",
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(demo.counters.total(), 1);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
}

/// The signal arrives while the setup's request is in flight: the server has read it and
/// never answers (so the setup cannot end before the signal, however slow the machine).
#[test]
#[cfg(unix)]
fn sigterm_during_setup_says_so_and_exits_130() {
    use common::fault::{Fault, FaultServer};
    let server = FaultServer::start(Fault::NeverAnswer);
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 2, duration: 5s }}\nsetup:\n  name: warm\n  steps: [ {{ get: /warm }} ]\n\
         flows:\n  - steps: [ {{ get: /fast }} ]\n",
        server.url
    ));
    let json = path.with_extension("json");
    let mut child = spawn_run(&path, &json, Stdio::piped());
    wait_for(&mut child, "the setup's request", || server.requests() >= 1);
    common::signal(&child, "TERM");
    let out = wait_with_limit(child, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted during setup \"warm\""),
        "{stderr}"
    );
}

#[test]
#[cfg(unix)]
fn a_signal_during_the_graceful_stop_of_a_completed_run_keeps_it_completed() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 3, duration: 1s, graceful_stop: 20s }}\n\
         flows:\n  - steps: [ {{ get: /delay/8000 }} ]\n",
        demo.url
    ));
    let json = path.with_extension("json");
    let mut child = spawn_run(&path, &json, Stdio::piped());
    // The 1 s of load is over and its 8 s requests are still in flight: the progress line
    // says the run is stopping.
    let stderr = Stderr::take(&mut child);
    wait_for(&mut child, "the graceful stop", || {
        stderr.contains("· stopping")
    });
    common::signal(&child, "TERM");
    let out = wait_with_limit(child, Duration::from_secs(5));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = stderr.finish();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let doc = common::read_json(&json);
    assert_eq!(doc["outcome"], "completed");
    assert_eq!(doc["total"]["interrupted"], 3);
}

#[test]
fn a_target_that_never_answers_is_flagged_not_reported_clean() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 5, duration: 1s, graceful_stop: 500ms }}\n\
         flows:\n  - steps: [ {{ get: /delay/20000 }} ]\n",
        demo.url
    ));
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(20));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["interrupted"], 5);
    assert_eq!(doc["total"]["interrupted_rate"], 1.0);
    assert!(stdout.contains("5 interrupted (100.00%)"), "{stdout}");
    assert!(
        stdout.contains("WARNING   every request was interrupted"),
        "{stdout}"
    );
    let warnings = doc["warnings"].as_array().expect("warnings");
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("never answered"))
    );
}
