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

/// Runs `small`'s scenario with `flags` after it, from `dir` (so relative paths are
/// relative to it).
fn run_in(
    dir: &std::path::Path,
    scenario: &std::path::Path,
    flags: &[&str],
) -> std::process::Output {
    let child = std::process::Command::new(common::binary())
        .current_dir(dir)
        .arg("run")
        .arg(scenario)
        .arg("--headless")
        .args(flags)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn stampede");
    common::wait_with_limit(child, Duration::from_secs(30))
}

#[test]
fn two_outputs_on_one_file_are_refused_before_any_request() {
    let demo = Demo::start();
    let (dir, path) = small(&demo);
    let d = dir.path();
    std::fs::write(d.join("x"), "earlier").expect("write");
    std::os::unix::fs::symlink("x", d.join("link")).expect("symlink");
    std::fs::create_dir(d.join("sub")).expect("dir");
    let cases: [&[&str]; 5] = [
        &["--json", "x", "--csv", "x"],
        &["--json", "x", "--html", "./x"],
        &["--json", "link", "--junit", "x"],
        &["--csv", "x", "--hdr-log", "sub/../x"],
        // Neither exists yet: the directory is made canonical, the name joined.
        &["--json", "new.json", "--html", "sub/../new.json"],
    ];
    for flags in cases {
        let out = run_in(d, &path, flags);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        let (a, b) = (flags[0], flags[2]);
        assert!(
            err.contains(&format!(
                "{a} {} and {b} {} are the same file",
                flags[1], flags[3]
            )),
            "{flags:?}: {err}"
        );
        assert!(err.contains("give each output its own file"), "{err}");
        assert_eq!(
            demo.counters.total(),
            0,
            "{flags:?}: refused before any request"
        );
        assert_eq!(std::fs::read_to_string(d.join("x")).expect("x"), "earlier");
        assert!(!d.join("new.json").exists(), "{flags:?}");
    }
}

#[test]
fn report_refuses_to_write_its_page_over_its_own_input() {
    let demo = Demo::start();
    let (dir, path) = small(&demo);
    let json = dir.path().join("r.json");
    let out = run_in(dir.path(), &path, &["--json", "r.json"]);
    assert!(out.status.code().is_some(), "the run ended");
    let before = std::fs::read_to_string(&json).expect("the result");
    for html in ["r.json", "./r.json"] {
        let child = std::process::Command::new(common::binary())
            .current_dir(dir.path())
            .args(["report", "r.json", "--html", html])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn stampede");
        let out = common::wait_with_limit(child, Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "--html {html} is the result it would be made from"
            )),
            "{err}"
        );
        assert!(err.contains("e.g. --html r.html"), "{err}");
        assert_eq!(std::fs::read_to_string(&json).expect("the result"), before);
    }
}

/// A scenario of `requests` plain requests, no threshold (so a run that cannot write its
/// report ends with exit 2, not 1).
fn plain(demo: &Demo, requests: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario(&format!(
        "name: plain\ntarget: {}\nload: {{ vus: 2, iterations: {requests} }}\n\
         flows:\n  - name: f\n    steps:\n      - name: s\n        get: /\n",
        demo.url
    ))
}

/// Runs `stampede ARGS` behind a bash `setup` (`ulimit ...;`), from `dir`.
fn run_behind(setup: &str, dir: &std::path::Path, args: &str) -> std::process::Output {
    let script = format!("{setup} exec '{}' {args}", common::binary());
    let child = std::process::Command::new("bash")
        .current_dir(dir)
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn bash");
    common::wait_with_limit(child, Duration::from_secs(60))
}

/// The temporary files (`.NAME.stampede-PID.tmp`) left in `dir`.
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".stampede-") && n.ends_with(".tmp"))
        .collect()
}

/// A write that fails for real (the file size limit, as a full disk would: `ulimit -f` with
/// SIGXFSZ ignored makes the write return EFBIG midway; root cannot chmod its way out of
/// that) leaves the previous report whole.
#[test]
fn a_report_that_cannot_be_written_leaves_the_previous_one_whole() {
    let demo = Demo::start();
    let (dir, path) = plain(&demo, 6);
    let d = dir.path();
    let earlier = "<html>the previous report</html>\n";
    std::fs::write(d.join("r.html"), earlier).expect("write");
    // The page inlines its chart library (about 50 kB): 16 KiB is not enough.
    let out = run_behind(
        "trap '' XFSZ; ulimit -f 16;",
        d,
        &format!("run '{}' --headless --html r.html", path.display()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot write the HTML report to r.html"),
        "{err}"
    );
    assert_eq!(demo.counters.total(), 6, "the run itself went through");
    assert_eq!(
        std::fs::read_to_string(d.join("r.html")).expect("kept"),
        earlier
    );
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
}

/// `--json /dev/stdout` with stdout appended to a log writes through to the log: the log
/// is neither replaced by a rename nor overwritten from its start (regression: the path led
/// to the log file, which the staged write replaced, losing what it held).
#[test]
fn a_report_to_dev_stdout_is_appended_to_the_file_behind_it() {
    let demo = Demo::start();
    let (dir, path) = plain(&demo, 4);
    let d = dir.path();
    std::fs::write(d.join("runs.log"), "an earlier run\n").expect("write");
    let out = run_behind(
        "",
        d,
        &format!(
            "run '{}' --headless --quiet --json /dev/stdout >> runs.log",
            path.display()
        ),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(d.join("runs.log")).expect("log");
    let json = log
        .strip_prefix("an earlier run\n")
        .expect("what it held is kept");
    let doc: serde_json::Value = serde_json::from_str(json).expect("then the JSON, whole");
    assert_eq!(doc["total"]["requests"], 4);
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
}

/// Control characters in names (ESC, BEL, CR, C1, DEL) never reach the terminal raw: not in
/// the summary, the progress lines, the compare table, `validate`, or an error.
#[test]
fn control_characters_in_names_never_reach_the_terminal() {
    let demo = Demo::start();
    let (dir, path) = scenario(&format!(
        "name: \"title\\e]0;pwned\\a\"\ntarget: {}\nload: {{ vus: 1, iterations: 4 }}\n\
         thresholds: [ \"p99 < 10s\" ]\n\
         flows:\n  - name: \"clear\\e[2J\\r\"\n    steps:\n      - name: \"red\\e[31m\\x9b1m\\x7f\\x01\\tx\"\n        get: /\n",
        demo.url
    ));
    let d = dir.path();
    let raw = |bytes: &[u8]| -> Vec<char> {
        String::from_utf8_lossy(bytes)
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect()
    };
    let out = run_in(d, &path, &["--json", "r.json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("red\\e[31m\\u{9b}1m\\x7f\\x01\\tx"),
        "{stdout}"
    );
    assert!(stdout.contains("title\\e]0;pwned\\a"), "{stdout}");
    assert_eq!(raw(&out.stdout), Vec::<char>::new(), "summary");
    assert_eq!(raw(&out.stderr), Vec::<char>::new(), "progress");
    // The file keeps the name as it is (JSON escapes it its own way).
    let doc = common::read_json(&d.join("r.json"));
    assert_eq!(
        doc["steps"][0]["name"],
        "red\u{1b}[31m\u{9b}1m\u{7f}\u{1}\tx"
    );
    let spawn = |args: &[&str]| {
        let child = std::process::Command::new(common::binary())
            .current_dir(d)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn stampede");
        common::wait_with_limit(child, Duration::from_secs(30))
    };
    let compared = spawn(&["compare", "r.json", "r.json"]);
    assert!(String::from_utf8_lossy(&compared.stdout).contains("clear\\e[2J\\r"));
    assert_eq!(raw(&compared.stdout), Vec::<char>::new(), "compare table");
    assert_eq!(raw(&compared.stderr), Vec::<char>::new(), "compare");
    let validated = spawn(&["validate", path.to_str().expect("path")]);
    assert_eq!(validated.status.code(), Some(0));
    assert_eq!(raw(&validated.stdout), Vec::<char>::new(), "validate");
    // An error that echoes a name.
    let refused = spawn(&[
        "validate",
        path.to_str().expect("path"),
        "--threshold",
        "gone\u{1b}[2J\u{7}: p99 < 1s",
    ]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("gone\\e[2J\\a"), "{err}");
    assert_eq!(raw(&refused.stderr), Vec::<char>::new(), "error");
}

/// Under a low `ulimit -v` a run can abort (an allocation fails) at any point. Whatever the
/// point, no output is left empty or cut short: a destination appears only whole, by its
/// final rename. The next run removes the temporary files an abort left behind.
#[test]
fn an_aborted_run_leaves_no_empty_report_and_its_leftovers_are_cleaned() {
    let demo = Demo::start();
    let (dir, path) = plain(&demo, 200);
    let d = dir.path();
    let args = format!(
        "run '{}' --headless --json r.json --csv r.csv --hdr-log r.hlog",
        path.display()
    );
    let mut aborted_after_opening = 0;
    // Below about 16 MB the binary cannot load; above about 30 MB the run completes. The
    // aborts fall between, at a point that moves with the build: try each MB.
    for limit_kib in (14_000..=36_000).step_by(1_000) {
        for name in ["r.json", "r.csv", "r.hlog"] {
            let _ = std::fs::remove_file(d.join(name));
        }
        let script = format!("ulimit -v {limit_kib}; exec '{}' {args}", common::binary());
        let mut child = std::process::Command::new("bash")
            .current_dir(d)
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn bash");
        // A run starved of memory may also hang (a runtime thread that panicked): it is
        // killed, which is one more way to end without writing.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for name in ["r.json", "r.csv", "r.hlog"] {
            let Ok(bytes) = std::fs::read(d.join(name)) else {
                continue;
            };
            assert!(
                !bytes.is_empty(),
                "{name} is empty under ulimit -v {limit_kib}"
            );
            if name == "r.json" {
                let doc: serde_json::Value =
                    serde_json::from_slice(&bytes).expect("a whole JSON report");
                assert_eq!(doc["total"]["requests"], 200);
            } else {
                assert!(bytes.ends_with(b"\n"), "{name} cut short under {limit_kib}");
            }
        }
        let whole = status.is_some_and(|s| s.success());
        if !whole && !leftovers(d).is_empty() {
            aborted_after_opening += 1;
        }
    }
    if aborted_after_opening == 0 {
        eprintln!(
            "note: no run aborted after opening its outputs under these limits; the \
             invariant (no empty or cut-short report) was checked, the leftover cleaning was not"
        );
    }
    let out = run_in(
        d,
        &path,
        &["--json", "r.json", "--csv", "r.csv", "--hdr-log", "r.hlog"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        leftovers(d),
        Vec::<String>::new(),
        "stale temporary files are removed"
    );
}
