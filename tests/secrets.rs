//! Secrets never leave the process: a known secret is planted in each place a scenario can
//! hold one (URL credentials, credential query values, credential headers, a header and a
//! variable named in `secrets:` or by `--secret`), and every output is searched for it: the
//! summary, stderr, the JSON report, the dashboard's screen, and validation errors; and a
//! server that echoes every secret back (in its body and headers) leaves failure samples,
//! in the JSON and on stderr with `-v`, without one.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use common::tmux::Tmux;
use common::{Demo, scenario};

/// Every planted secret; each is distinct so a failure names the place that leaked.
const SECRETS: [&str; 7] = [
    "PWsecret1",
    "VARsecret2",
    "HDRsecret3",
    "QUERYsecret4",
    "KEYsecret5",
    "TOKsecret6",
    "SETsecret7",
];

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} leaks {secret}:\n{text}");
    }
}

/// A scenario with a secret in each place, whose steps fail in ways that produce samples.
fn planted(demo: &Demo, closed_port: u16) -> String {
    let authority = demo.url.trim_start_matches("http://");
    format!(
        r#"name: checkout
target: http://ann:PWsecret1@{authority}
secrets: [api_token, x-api-key]
variables: {{ api_token: VARsecret2 }}
load: {{ vus: 2, iterations: 20 }}
defaults:
  headers: {{ authorization: "Bearer HDRsecret3" }}
flows:
  - steps:
      - get: /flaky?fail_pct=100&api_key=QUERYsecret4
        on_error: continue
      - get: /users/{{{{ api_token }}}}
        headers: {{ x-api-key: "KEYsecret5{{{{ bad }}}}" }}
        on_error: continue
      - get: http://bob:TOKsecret6@127.0.0.1:{closed_port}/x?token=TOKsecret6
"#
    )
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn no_secret_reaches_the_summary_the_json_or_stderr() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&planted(&demo, closed_port()));
    let extra = ["--set", "bad=\r", "--secret", "bad"];
    let (code, doc, stdout, stderr) = common::run_json(&path, &extra, Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    // The run did fail in each of the planted ways: there are samples to leak from.
    let text = doc.to_string();
    for class in ["status_not_expected", "render", "connect_refused"] {
        assert!(
            common::error_count(&doc["total"], class) > 0,
            "{class}: {doc:#}"
        );
    }
    assert!(text.contains("api_key=***"), "{doc:#}");
    assert!(
        doc["target"]
            .as_str()
            .is_some_and(|t| t.contains("ann:***@"))
    );
    assert_clean("the summary", &stdout);
    assert_clean("stderr", &stderr);
    assert_clean("the JSON report", &text);
}

#[test]
fn no_secret_reaches_the_ad_hoc_summary_or_json() {
    let demo = Demo::start();
    let authority = demo.url.trim_start_matches("http://");
    let url = format!("http://ann:PWsecret1@{authority}/fast?api_key=QUERYsecret4");
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("r.json");
    let json = json.to_str().expect("path");
    let out = common::stampede(
        &["--url", &url, "-n", "5", "--headless", "--json", json],
        Duration::from_secs(30),
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        demo.counters.total(),
        5,
        "the requests themselves carry the URL as given"
    );
    assert_clean("the summary", &stdout);
    assert_clean("stderr", &stderr);
    assert_clean(
        "the JSON report",
        &std::fs::read_to_string(json).expect("JSON"),
    );
}

#[test]
fn no_secret_reaches_validation_errors() {
    let (_dir, path) = scenario(
        "target: \"http://ann:PWsecret1@[::1\"\nsecrets: [tok]\nload: { vus: 1, iterations: 1 }\n\
         flows:\n  - steps: [ { get: \"/x?token=TOKsecret6\", timeout: nope } ]\n",
    );
    for cmd in ["validate", "run"] {
        let out = common::stampede(
            &[
                cmd,
                path.to_str().expect("path"),
                "--set",
                "tok=SETsecret7",
                "--secret",
                "tok",
            ],
            Duration::from_secs(10),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("timeout"),
            "the other problem is still reported: {stderr}"
        );
        assert_clean(&format!("{cmd}'s errors"), &stderr);
    }
}

#[test]
fn no_secret_reaches_the_dashboard() {
    let demo = Demo::start();
    let (dir, path) = scenario(&planted(&demo, closed_port()).replace(
        "load: { vus: 2, iterations: 20 }",
        "load: { vus: 2, duration: 30s }",
    ));
    let Some(tmux) = Tmux::start(160, 48) else {
        return;
    };
    let command = format!(
        "{} {} --set bad=$'\\r' --secret bad --exit-on-end --json {}",
        common::binary(),
        path.display(),
        dir.path().join("r.json").display()
    );
    tmux.keys(&[&command, "Enter"]);
    let screen = tmux.wait_for("errors on the dashboard", Duration::from_secs(20), |s| {
        s.contains("RUNNING") && s.contains("connect_refused") && s.contains("render")
    });
    assert_clean("the dashboard", &screen);
    assert!(screen.contains("ann:***@"), "{screen}");
    tmux.keys(&["q"]);
}

/// A server on 127.0.0.1 port 0 that fails every request with 500, echoing it back: the
/// path and query, and each request header (the bare credential too), in its body and in
/// headers of its own (`x-echo-authorization`, `set-cookie`). Lives as long as its runtime.
fn echo_server() -> (String, tokio::runtime::Runtime) {
    let (runtime, listener, addr) = common::server::listening();
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                    let mut body = format!("you asked for {}\n", req.uri());
                    let mut answer = hyper::Response::builder().status(500);
                    for (name, value) in req.headers() {
                        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                        let bare = value.rsplit(' ').next().unwrap_or("").to_string();
                        body.push_str(&format!("{name}: {value} (bare {bare})\n"));
                        answer = answer.header(format!("x-echo-{name}"), bare);
                    }
                    answer = answer.header("set-cookie", "sid=SETsecret7");
                    let answer = answer.body(Full::new(Bytes::from(body))).expect("answer");
                    Ok::<_, Infallible>(answer)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), runtime)
}

#[test]
fn no_secret_reaches_a_failure_sample_in_the_json_or_on_stderr() {
    let (url, _server) = echo_server();
    let authority = url.trim_start_matches("http://");
    let (_dir, path) = scenario(&format!(
        r#"name: echo
target: http://ann:PWsecret1@{authority}
secrets: [api_token, x-api-key]
variables: {{ api_token: VARsecret2 }}
load: {{ vus: 2, iterations: 10 }}
defaults:
  headers: {{ authorization: "Bearer HDRsecret3", x-api-key: KEYsecret5 }}
flows:
  - steps:
      - get: /users/{{{{ api_token }}}}?api_key=QUERYsecret4&tok={{{{ tok }}}}
"#
    ));
    let extra = ["--set", "tok=SETsecret7", "--secret", "tok", "-v"];
    let (code, doc, stdout, stderr) = common::run_json(&path, &extra, Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let failures = &doc["steps"][0]["samples"]["failures"];
    let sample = &failures[0];
    // The samples are there, with what the server said, secrets masked.
    assert_eq!(sample["status"], 500, "{doc:#}");
    let body = sample["body"].as_str().expect("the body");
    assert!(
        body.contains("you asked for /users/***?api_key=***"),
        "{body}"
    );
    assert!(body.contains("x-api-key: ***"), "{body}");
    assert_eq!(sample["request_headers"]["authorization"], "***");
    assert_eq!(sample["response_headers"]["set-cookie"], "***");
    assert!(
        sample["url"]
            .as_str()
            .is_some_and(|u| u.contains("ann:***@")),
        "{sample:#}"
    );
    assert!(stderr.contains("sample: "), "{stderr}");
    assert!(stderr.contains("you asked for"), "{stderr}");
    assert_clean("the summary", &stdout);
    assert_clean("the samples on stderr (-v)", &stderr);
    assert_clean("the JSON's samples", &failures.to_string());
    assert_clean("the JSON report", &doc.to_string());
}
