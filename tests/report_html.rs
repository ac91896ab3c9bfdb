//! The HTML report: written at the end of a run (`--html`) and later from a saved result
//! (`stampede report R.json --html`), the same page either way; opened in headless Chromium
//! (`tests/browser/render_report.py`), which checks that every chart drew, that no script
//! failed and that hostile names stay text, and keeps a screenshot under
//! `target/test-artifacts/`; failure samples open under their error class. Chromium is
//! required under CI (`.ci/run` installs it) and the browser part is skipped with a note
//! elsewhere. Servers listen on 127.0.0.1 port 0.

mod common;

use std::path::Path;
use std::time::Duration;

use common::browser::render;
use common::{Demo, scenario, stampede};

#[test]
fn the_report_draws_in_a_browser_and_is_the_same_from_a_saved_result() {
    let demo = Demo::start();
    // A hostile step name and a failing threshold: the page must show them as text.
    let (dir, path) = scenario(&format!(
        "name: report\ntarget: {}\nload:\n  vus: 2\n  stages:\n    - {{ duration: 1s, vus: 4 }}\n    - {{ duration: 1s, vus: 1 }}\n\
         thresholds: [ \"p99 < 1us\" ]\n\
         flows:\n  - name: shop\n    steps:\n      - name: \"</script><img src=x onerror=alert(1)>\"\n        get: /flaky?fail_pct=20\n",
        demo.url
    ));
    let json = dir.path().join("r.json");
    let html = dir.path().join("r.html");
    let out = stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--quiet",
            "--json",
            json.to_str().expect("path"),
            "--html",
            html.to_str().expect("path"),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "a failed threshold");
    let page = std::fs::read_to_string(&html).expect("the HTML report");
    assert!(
        !page.contains("<img src=x"),
        "the name is escaped in the page"
    );

    let again = dir.path().join("again.html");
    let out = stampede(
        &[
            "report",
            json.to_str().expect("path"),
            "--html",
            again.to_str().expect("path"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(std::fs::read_to_string(&again).expect("report"), page);

    if let Some(dom) = render(&html, "report") {
        assert!(dom.contains("FAIL"), "the verdict is shown");
        assert!(!dom.contains("<img"), "the hostile name became an element");
        assert!(
            dom.contains("&lt;/script&gt;&lt;img src=x"),
            "the name is shown as text"
        );
        // The phases card, with the phases the run saw.
        assert!(dom.contains("Phases and connections"), "no phases card");
        assert!(
            dom.contains("ttfb p99") && dom.contains("reconnects"),
            "no phases table"
        );
        // The flaky step's failures open under their class, with the body they failed
        // with; its slowest exchanges have a card of their own.
        assert!(dom.contains("<details class=\"samples\">"), "{dom}");
        assert!(dom.contains("simulated failure"), "the sampled body");
        assert!(dom.contains("Slowest exchanges"));
    }
}

#[test]
fn a_file_that_is_not_a_result_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("notes.json");
    std::fs::write(&bad, "{\"hello\": 1}").expect("write");
    let page = dir.path().join("out.html");
    let args = |file: &Path| {
        vec![
            "report".to_string(),
            file.display().to_string(),
            "--html".to_string(),
            page.display().to_string(),
        ]
    };
    for (file, says) in [
        (bad.clone(), "not a stampede result"),
        (dir.path().join("missing.json"), "cannot read"),
    ] {
        let a = args(&file);
        let out = stampede(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            Duration::from_secs(10),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&file.display().to_string()) && err.contains(says),
            "{err}"
        );
        assert!(!page.exists(), "no page for a bad result");
    }
}
