//! The dashboard in a real terminal: the built binary runs inside tmux against the embedded
//! demo service (started by the binary on 127.0.0.1, port 0); keys go in with `send-keys`,
//! the screen comes out with `capture-pane`. Needs tmux: required under CI (`.ci/run`
//! installs it), skipped with a visible line elsewhere. Covers live figures, keys, the
//! restored terminal, and a failure sample opened from the errors panel.

mod common;

use std::time::{Duration, Instant};

use common::tmux::Tmux;

/// The number after `label` on the screen, e.g. `requests 1,234` → 1234.
fn figure(screen: &str, label: &str) -> Option<u64> {
    let rest = &screen[screen.find(label)? + label.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .collect();
    digits.replace(',', "").parse().ok()
}

#[test]
fn dashboard_shows_live_figures_takes_keys_and_restores_the_terminal() {
    let Some(tmux) = Tmux::start(120, 40) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("run.json");
    let scenario = format!("{}/scenarios/quickstart.yaml", env!("CARGO_MANIFEST_DIR"));
    // The terminal's settings before, to compare once the dashboard has gone.
    let before = dir.path().join("stty.before");
    tmux.keys(&[&format!("stty -g > {}", before.display()), "Enter"]);
    let command = format!(
        "{} {scenario} --duration 40s --json {}",
        env!("CARGO_BIN_EXE_stampede"),
        json.display()
    );
    tmux.keys(&[&command, "Enter"]);

    let limit = Duration::from_secs(20);
    let screen = tmux.wait_for("running figures", limit, |s| {
        s.contains("RUNNING")
            && figure(s, "requests").is_some_and(|n| n > 100)
            && s.contains("200 ")
    });
    assert!(screen.contains("load 20 VUs"), "{screen}");
    assert!(
        screen.contains("throughput") && screen.contains("latency") && screen.contains("steps"),
        "{screen}"
    );

    tmux.keys(&["+"]);
    tmux.wait_for("the load raised to 22 VUs", limit, |s| {
        s.contains("load 22 VUs") && s.contains("20 VUs → 22 VUs")
    });

    tmux.keys(&["p"]);
    let paused = tmux.wait_for("the pause", limit, |s| s.contains("PAUSED"));
    assert!(paused.contains("paused"), "{paused}");

    tmux.keys(&["p"]);
    tmux.wait_for("the resume", limit, |s| !s.contains("PAUSED"));
    // Esc in an expanded panel closes it and nothing else: the run goes on.
    tmux.keys(&["Enter"]);
    tmux.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(700));
    let still = tmux.screen();
    assert!(still.contains("RUNNING"), "Esc stopped the run:\n{still}");

    // q stops; while stopping the footer says what a second q does.
    tmux.keys(&["q"]);
    let stopping = tmux.wait_for("the stopping footer or the final screen", limit, |s| {
        s.contains("q again: interrupt in-flight now") || s.contains("run ended")
    });
    assert!(!stopping.contains("RUNNING"), "{stopping}");
    // The final screen stays, and can be browsed: sort, expand, back.
    tmux.wait_for("the final screen", limit, |s| {
        s.contains("run ended") && s.contains("q leave")
    });
    tmux.keys(&["s"]);
    tmux.wait_for("the steps sorted by requests", limit, |s| {
        s.contains("sort: requests") || s.contains("by requests")
    });
    tmux.keys(&["Enter"]);
    tmux.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        tmux.screen().contains("run ended"),
        "the final screen is kept"
    );
    tmux.keys(&["q"]);
    let end = tmux.wait_for("the summary and the prompt", limit, |s| {
        s.contains("statuses") && s.lines().last().is_some_and(|l| l.starts_with("READY> "))
            || s.trim_end().ends_with("READY>")
    });
    assert!(end.contains("stampede · quickstart"), "{end}");
    assert!(end.contains("interrupted"), "{end}");
    assert!(end.contains("20 VUs → 22 VUs"), "{end}");
    assert!(
        !end.contains("RUNNING"),
        "the dashboard is gone from the screen:\n{end}"
    );

    let after = dir.path().join("stty.after");
    tmux.keys(&[&format!("stty -g > {}", after.display()), "Enter"]);
    let deadline = Instant::now() + limit;
    while std::fs::read_to_string(&after).map_or(true, |s| s.is_empty())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (before, after) = (
        std::fs::read_to_string(before),
        std::fs::read_to_string(after),
    );
    assert_eq!(
        before.expect("stty before"),
        after.expect("stty after"),
        "terminal settings changed"
    );

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON");
    let changes: Vec<&str> = doc["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["change"].as_str())
        .collect();
    assert_eq!(changes, ["level", "pause", "resume"], "{doc:#}");
    assert_eq!(doc["events"][0]["from"], "20 VUs");
    assert_eq!(doc["events"][0]["to"], "22 VUs");
    assert_eq!(doc["outcome"], "interrupted");
    assert!(doc["total"]["requests"].as_u64().is_some_and(|n| n > 100));
}

/// A terminal that goes away mid-run (its tmux server killed, SIGHUP ignored so only the
/// lost input can tell): the run stops, the JSON is written, the process ends, and no
/// core is left spinning on the dead terminal.
#[test]
fn a_terminal_that_goes_away_ends_the_run_and_keeps_its_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("gone.json");
    let scenario = format!("{}/scenarios/quickstart.yaml", env!("CARGO_MANIFEST_DIR"));
    let Some(tmux) = Tmux::start(120, 40) else {
        return;
    };
    let command = format!(
        "trap '' HUP; exec {} {scenario} --duration 60s --json {}",
        env!("CARGO_BIN_EXE_stampede"),
        json.display()
    );
    tmux.keys(&[&command, "Enter"]);
    tmux.wait_for("the dashboard", Duration::from_secs(20), |s| {
        s.contains("RUNNING")
    });
    drop(tmux); // kills the tmux server: the terminal is gone
    let deadline = Instant::now() + Duration::from_secs(30);
    let running = || {
        std::process::Command::new("pgrep")
            .args(["-f", &json.display().to_string()])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    while running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    if running() {
        let _ = std::process::Command::new("pkill")
            .args(["-9", "-f", &json.display().to_string()])
            .status();
        panic!("stampede kept running after its terminal went away");
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON");
    assert!(
        doc["total"]["requests"].as_u64().is_some_and(|n| n > 0),
        "{doc:#}"
    );
    assert!(
        doc["duration_s"].as_f64().is_some_and(|d| d < 30.0),
        "the run stopped early: {doc:#}"
    );
}

/// While stopping, the footer counts the graceful stop down and says what a second `q`
/// does; that second `q` interrupts the requests in flight, and the final screen stays
/// until `q`. The requests take 4 s each against the embedded demo, so the stop is seen.
#[test]
fn the_stopping_footer_counts_down_and_a_second_q_interrupts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("stop.json");
    let scenario = dir.path().join("slow.yaml");
    std::fs::write(
        &scenario,
        "target: demo\nload: { vus: 2, duration: 60s, graceful_stop: 30s }\nflows:\n  - steps: [ { get: /delay/4000 } ]\n",
    )
    .expect("scenario");
    let Some(tmux) = Tmux::start(120, 40) else {
        return;
    };
    let command = format!(
        "{} {} --json {}",
        env!("CARGO_BIN_EXE_stampede"),
        scenario.display(),
        json.display()
    );
    tmux.keys(&[&command, "Enter"]);
    let limit = Duration::from_secs(20);
    tmux.wait_for("the dashboard", limit, |s| s.contains("RUNNING"));
    tmux.keys(&["q"]);
    let stopping = tmux.wait_for("the stopping footer", limit, |s| {
        s.contains("q again: interrupt in-flight now")
    });
    assert!(stopping.contains("STOPPING"), "{stopping}");
    assert!(
        stopping.contains("in-flight requests get 3")
            || stopping.contains("in-flight requests get 2"),
        "the countdown starts from graceful_stop (30s):\n{stopping}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("the final screen", limit, |s| {
        s.contains("run ended") && s.contains("FINISHED")
    });
    tmux.keys(&["q"]);
    tmux.wait_for("the summary", limit, |s| s.contains("statuses"));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON");
    assert_eq!(doc["outcome"], "interrupted", "{doc:#}");
    assert!(
        doc["total"]["interrupted"].as_u64().is_some_and(|n| n >= 1),
        "{doc:#}"
    );
}

/// Esc in an expanded panel never stops the run: it runs to its end, the final screen
/// stays, `q` leaves, and the exit code is 0.
#[test]
fn esc_in_an_expanded_panel_leaves_the_run_to_complete_with_exit_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("esc.json");
    let scenario = format!("{}/scenarios/quickstart.yaml", env!("CARGO_MANIFEST_DIR"));
    let Some(tmux) = Tmux::start(120, 40) else {
        return;
    };
    let command = format!(
        "{} {scenario} --duration 3s --json {}; echo EXIT=$?",
        env!("CARGO_BIN_EXE_stampede"),
        json.display()
    );
    tmux.keys(&[&command, "Enter"]);
    let limit = Duration::from_secs(20);
    tmux.wait_for("the dashboard", limit, |s| s.contains("RUNNING"));
    tmux.keys(&["Enter"]);
    tmux.keys(&["Escape"]);
    tmux.keys(&["Escape"]);
    tmux.wait_for("the final screen", limit, |s| s.contains("run ended"));
    tmux.keys(&["q"]);
    // The echo's own line (the command line holds "EXIT=$?" too).
    let end = tmux.wait_for("the exit code", limit, |s| {
        s.lines().any(|l| l.starts_with("EXIT="))
    });
    assert!(end.lines().any(|l| l.trim() == "EXIT=0"), "{end}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON");
    assert_eq!(doc["outcome"], "completed", "{doc:#}");
}

/// `enter` on the errors panel, in a real terminal: the latest failure sample of the demo's
/// flaky route, with the body it failed with; `Esc` closes it and the run goes on.
#[test]
fn enter_on_the_errors_shows_a_failure_sample_in_a_real_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flaky.yaml");
    std::fs::write(
        &path,
        "name: flaky\ntarget: demo\nload: { vus: 2, duration: 20s }\n\
         flows:\n  - steps: [ { name: flaky, get: \"/flaky?fail_pct=50\" } ]\n",
    )
    .expect("scenario");
    let Some(tmux) = Tmux::start(120, 40) else {
        return;
    };
    let command = format!("{} {}", env!("CARGO_BIN_EXE_stampede"), path.display());
    tmux.keys(&[&command, "Enter"]);
    let limit = Duration::from_secs(20);
    tmux.wait_for("errors on the dashboard", limit, |s| {
        s.contains("RUNNING") && s.contains("status_not_expected")
    });
    // Left from the first panel goes round to the errors (the last, without checks).
    tmux.keys(&["Left", "Enter"]);
    let screen = tmux.wait_for("the sample", limit, |s| s.contains("latest sample"));
    assert!(screen.contains("simulated failure"), "{screen}");
    assert!(screen.contains("GET http://127.0.0.1:"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the panels again", limit, |s| {
        !s.contains("latest sample") && s.contains("RUNNING")
    });
    tmux.keys(&["q"]);
    tmux.wait_for("the final screen", limit, |s| s.contains("run ended"));
    tmux.keys(&["q"]);
    tmux.wait_for("the summary", limit, |s| s.contains("statuses"));
}
