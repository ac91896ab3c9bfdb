//! Ctrl-C (SIGINT), SIGTERM and SIGHUP stop a run gracefully: the partial summary is printed, the JSON
//! report is written, and the exit code is 130.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::child::{Stderr, wait_for};
use common::{Demo, binary, scenario, wait_with_limit};

/// Whether signal `number` was set to "ignore" by whoever started the tests (`nohup`, a
/// background job of a script): stampede keeps such a signal ignored, as it should, so it
/// cannot stop the run (`an_ignored_sighup_stays_ignored_as_under_nohup` tests that case).
fn inherited_ignore(number: u32) -> bool {
    stampede::signals::is_ignored(number)
}

fn interrupt_with(signal: &str) {
    let number = match signal {
        "INT" => 2,
        "HUP" => 1,
        _ => 15,
    };
    if inherited_ignore(number) {
        eprintln!("SIG{signal} is ignored by the test's parent; stampede rightly keeps it so");
        return;
    }
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "name: long\ntarget: {}\nload: {{ vus: 4, duration: 60s }}\nflows:\n  \
         - steps: [ {{ name: slow, get: /delay/5 }} ]\n",
        demo.url
    ));
    let json = path.with_extension("json");
    let mut child = Command::new(binary())
        .args([
            "run",
            path.to_str().expect("path"),
            "--json",
            json.to_str().expect("path"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // 15 served by the demo: with at most 4 in flight, the run has completed more than 10.
    wait_for(&mut child, "15 requests", || demo.counters.total() >= 15);
    common::signal(&child, signal);
    let out = wait_with_limit(child, Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("interrupted"), "{stdout}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON");
    assert_eq!(doc["outcome"], "interrupted");
    assert!(
        doc["total"]["requests"].as_u64().is_some_and(|n| n > 10),
        "{doc:#}"
    );
    assert!(doc["duration_s"].as_f64().is_some_and(|d| d < 10.0));
}

#[test]
fn sigint_stops_gracefully_with_exit_130() {
    interrupt_with("INT");
}

#[test]
fn sigterm_stops_gracefully_with_exit_130() {
    interrupt_with("TERM");
}

#[test]
fn sighup_stops_gracefully_with_exit_130() {
    interrupt_with("HUP");
}

#[test]
fn an_ignored_sighup_stays_ignored_as_under_nohup() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 2, duration: 2s }}\nflows:\n  - steps: [ {{ get: /fast }} ]\n",
        demo.url
    ));
    let json = path.with_extension("json");
    let script = common::run_behind("trap '' HUP;", &path, &json);
    let mut child = common::spawn_sh(&script);
    // A request served: the shell has become stampede, and its load is under way.
    wait_for(&mut child, "the first request", || {
        demo.counters.total() >= 1
    });
    common::signal(&child, "HUP");
    let out = wait_with_limit(child, Duration::from_secs(20));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON");
    assert_eq!(doc["outcome"], "completed");
}

/// A second signal of any kind interrupts the graceful stop at once (issue 18, item 5), as
/// the dashboard's second `q` does: against a server that never answers, with a 60 s
/// graceful stop, the run ends within seconds of the second signal, counts its in-flight
/// requests as interrupted, writes its JSON and exits 130.
#[test]
fn a_second_signal_of_any_kind_interrupts_the_graceful_stop() {
    let server = common::fault::FaultServer::start(common::fault::Fault::NeverAnswer);
    let (_dir, path) = scenario(&format!(
        "name: hung\ntarget: {}\npreflight: false\nload: {{ vus: 2, duration: 60s, graceful_stop: 60s }}\n\
         flows:\n  - steps: [ {{ name: hang, get: /never, timeout: 120s }} ]\n",
        server.url
    ));
    let pairs = [
        ("INT", "INT"),
        ("TERM", "TERM"),
        ("HUP", "HUP"),
        ("INT", "TERM"),
    ];
    for (first, second) in pairs {
        let number = |s: &str| match s {
            "INT" => 2,
            "HUP" => 1,
            _ => 15,
        };
        if inherited_ignore(number(first)) || inherited_ignore(number(second)) {
            eprintln!("SIG{first} or SIG{second} is ignored by the test's parent; skipped");
            continue;
        }
        let json = path.with_extension(format!("{first}-{second}.json"));
        let before = server.requests();
        let mut child = Command::new(binary())
            .args(["run", path.to_str().expect("path"), "--headless", "--json"])
            .arg(&json)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = Stderr::take(&mut child);
        // Both users' requests have reached the server (and hang there).
        wait_for(&mut child, "the requests", || {
            server.requests() >= before + 2
        });
        common::signal(&child, first);
        // The first signal has begun the graceful stop: the progress line says so.
        wait_for(&mut child, "the graceful stop", || {
            stderr.contains("· stopping")
        });
        common::signal(&child, second);
        let sent = Instant::now();
        let out = wait_with_limit(child, Duration::from_secs(20));
        let waited = sent.elapsed();
        let stderr = stderr.finish();
        assert!(
            waited < Duration::from_secs(5),
            "SIG{first} then SIG{second}: {waited:?} after the second signal\n{stderr}"
        );
        assert_eq!(
            out.status.code(),
            Some(130),
            "SIG{first}, SIG{second}: {stderr}"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written"))
                .expect("JSON");
        assert_eq!(doc["outcome"], "interrupted", "{doc:#}");
        assert!(
            doc["total"]["interrupted"].as_u64().is_some_and(|n| n >= 1),
            "the requests in flight are counted as interrupted: {doc:#}"
        );
    }
    assert!(server.requests() >= 2, "the requests reached the server");
}
