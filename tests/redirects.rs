//! `follow_redirects`: each hop is sent and recorded as a request of its step (its own
//! latency and 3xx status), the last answer is the one judged, and the default follows
//! none; a chain still redirecting after the last hop allowed is `too_many_redirects`.
//! Against the demo's `/redirect/{n}` (a chain of n 302s, then 200), whose counters are the
//! ground truth, and two small servers on 127.0.0.1 (two origins) for the cookie jar.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

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
fn a_chain_longer_than_the_limit_is_too_many_redirects() {
    let demo = Demo::start();
    // No expectation: a 3xx would pass as an answer (regression: 30 plain 302s, no error).
    // --follow-redirects replaces the file's (none here): 2 hops, then the third 302 is
    // still a redirect.
    for (fields, limit) in [("", "2"), ("        expect: { status: 200 }\n", "2")] {
        let (_dir, path) = chain(&demo, fields);
        let (code, doc, _, stderr) = run_json(
            &path,
            &["--follow-redirects", limit],
            Duration::from_secs(60),
        );
        assert_eq!(code, 0, "{stderr}");
        let s = step(&doc, "hop");
        assert_eq!(s["requests"], 30, "{s:#}");
        assert_eq!(s["status_codes"]["302"], 30, "{s:#}");
        assert_eq!(s["errors"], 10, "{s:#}");
        assert_eq!(common::error_count(s, "too_many_redirects"), 10, "{s:#}");
        let sample = s["errors_by_class"][0]["sample"].as_str().expect("sample");
        assert!(
            sample.contains("after following 2 redirects (follow_redirects: 2)")
                && sample.contains("raise follow_redirects"),
            "{sample}"
        );
    }
    assert_eq!(demo.counters.served(Route::Redirect), 60);
}

#[test]
fn the_jar_takes_no_cookie_from_another_origin_a_redirect_reached() {
    // The target sends /in to another origin (another port), which sets `evil`; the next
    // request to the target must not carry it (regression: it did).
    let away = Site::start(|_| (200, Some("evil=1"), None));
    let away_url = away.url.clone();
    let target = Site::start(move |path| match path {
        "/in" => (302, None, Some(format!("{away_url}/set"))),
        _ => (200, Some("sid=1"), None),
    });
    let (_dir, path) = scenario(&format!(
        "target: {}\ncookies: true\nload: {{ vus: 1, iterations: 2 }}\nflows:\n  - steps:\n      - get: /home\n      - get: /in\n        follow_redirects: 1\n      - get: /after\n",
        target.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
    let seen = target.seen();
    let after: Vec<&(String, String)> = seen.iter().filter(|(p, _)| p == "/after").collect();
    assert_eq!(after.len(), 2, "{seen:?}");
    for (_, cookie) in after {
        assert_eq!(cookie, "sid=1", "only the target's own cookie: {seen:?}");
    }
    assert_eq!(away.seen().len(), 2);
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

/// An answer: status, a `Set-Cookie` value, and a `Location`.
type Answer = (u16, Option<&'static str>, Option<String>);

/// An HTTP/1.1 server on 127.0.0.1 port 0 that answers each path as `answer` says and
/// records each request's path and `Cookie` header.
struct Site {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Site {
    fn start(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Self {
        let (runtime, listener, addr) = common::server::listening();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (answer, log) = (Arc::new(answer), Arc::clone(&seen));
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (answer, log) = (Arc::clone(&answer), Arc::clone(&log));
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let cookie = req
                            .headers()
                            .get("cookie")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let path = req.uri().path().to_string();
                        log.lock().expect("lock").push((path.clone(), cookie));
                        let (status, set_cookie, location) = answer(&path);
                        let mut response = hyper::Response::builder().status(status);
                        if let Some(c) = set_cookie {
                            response = response.header("set-cookie", c);
                        }
                        if let Some(l) = location {
                            response = response.header("location", l);
                        }
                        let response = response.body(Full::new(Bytes::new())).expect("response");
                        async move { Ok::<_, Infallible>(response) }
                    },
                );
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            seen,
            _runtime: runtime,
        }
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().expect("lock").clone()
    }
}
