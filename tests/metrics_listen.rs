//! `--metrics-listen`: scraped during a run over plain HTTP, the endpoint's text parses
//! (here, and by Python's `prometheus_client` OpenMetrics parser where installed, as
//! `.ci/run` does), its counters grow between scrapes and agree with the final JSON, and an
//! address that cannot be bound is exit 2 before any request. Servers listen on 127.0.0.1.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Demo, binary, scenario, wait_with_limit};

fn scrape(addr: &str) -> String {
    let (head, body) = common::http_get(addr, "/metrics", Duration::from_secs(5));
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(head.to_lowercase().contains("openmetrics-text"), "{head}");
    body
}

/// The value of the sample `name{labels}` (labels as written, in order).
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels))
        .and_then(|rest| rest.trim().parse().ok())
}

#[test]
fn metrics_are_scraped_during_the_run_and_agree_with_the_result() {
    let demo = Demo::start();
    let (dir, path) = scenario(&format!(
        "name: metrics\ntarget: {}\nload: {{ vus: 2, duration: 3s }}\nflows:\n  - name: f\n    steps:\n      - name: s\n        get: /delay/2\n        tag_by: {{ status: true }}\n",
        demo.url
    ));
    let json = dir.path().join("r.json");
    let mut child = Command::new(binary())
        .args(["run", path.to_str().expect("path"), "--headless", "--quiet"])
        .args([
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-linger",
            "3s",
            "--json",
        ])
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stampede starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut addr = None;
    let mut line = String::new();
    while addr.is_none() && stderr.read_line(&mut line).expect("stderr") > 0 {
        addr = line
            .split("live metrics at http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string);
        line.clear();
    }
    let addr = addr.expect("the endpoint's address on stderr");
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));

    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(800));
    let first = scrape(&addr);
    let key = "stampede_requests_total{flow=\"f\",step=\"s\"}";
    let early = sample(&first, key).expect("requests counter");
    std::thread::sleep(Duration::from_millis(1000));
    let second = scrape(&addr);
    let later = sample(&second, key).expect("requests counter");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "scraped during the run"
    );
    assert!(early > 0.0 && later > early, "{early} then {later}");
    assert_eq!(sample(&second, "stampede_level{unit=\"vus\"}"), Some(2.0));
    assert_eq!(sample(&second, "stampede_running{}"), Some(1.0));
    let p50 = "stampede_latency_quantile_seconds{flow=\"f\",step=\"s\",quantile=\"0.5\"}";
    let p50 = sample(&second, p50).expect("a median");
    assert!((0.002..0.05).contains(&p50), "the target waits 2 ms: {p50}");
    assert!(second.contains("# TYPE stampede_latency_seconds histogram"));
    // The demo says its own time (X-Process-Time): at least the 2 ms it waits.
    let server = "stampede_server_time_quantile_seconds{flow=\"f\",step=\"s\",quantile=\"0.5\"}";
    let server = sample(&second, server).expect("the server's median");
    assert!(
        (0.002..p50).contains(&server),
        "server {server} within latency {p50}"
    );
    // The tag's values have families of their own, labelled with the tag and the value.
    let tagged = "stampede_tag_requests_total{flow=\"f\",step=\"s\",tag=\"status\",value=\"200\"}";
    assert_eq!(sample(&second, tagged), Some(later), "{second}");
    assert!(second.trim_end().ends_with("# EOF"));
    openmetrics_parser(&second);

    // The run ends, its result is written, and the endpoint still serves the final figures
    // (--metrics-linger), which are the result's: Prometheus sees the last interval too.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !json.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100)); // the result is renamed into place whole
    let doc = common::read_json(&json);
    let last = scrape(&addr);
    assert_eq!(sample(&last, "stampede_running{}"), Some(0.0), "{last}");
    let total = doc["total"]["requests"].as_f64().expect("n");
    assert_eq!(sample(&last, key), Some(total), "the final figures: {last}");
    assert!(total >= later);
    let out = wait_with_limit(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0));
}

/// Python's `prometheus_client` parses the text as OpenMetrics. Required under CI.
fn openmetrics_parser(text: &str) {
    let python = std::env::var("STAMPEDE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
                  fams = list(text_string_to_metric_families(sys.stdin.read()))\n\
                  print(sorted(f.name for f in fams))\n";
    let child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let parsed = child.and_then(|mut c| {
        c.stdin.take().expect("stdin").write_all(text.as_bytes())?;
        c.wait_with_output()
    });
    match parsed {
        Ok(out) if out.status.success() => {
            let names = String::from_utf8_lossy(&out.stdout);
            assert!(names.contains("stampede_latency_seconds"), "{names}");
            assert!(names.contains("stampede_requests"), "{names}");
        }
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            common::skip_without(
                &format!("Python's prometheus_client not installed ({python})"),
                "pip install prometheus-client, and set STAMPEDE_PYTHON",
            );
        }
        Ok(out) => panic!(
            "prometheus_client refused the text: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => common::skip_without(
            &format!("{python} not installed ({e})"),
            "apt-get install python3",
        ),
    }
}

#[test]
fn an_address_in_use_is_refused_before_any_request() {
    let demo = Demo::start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (_dir, path) = scenario(&format!(
        "name: busy\ntarget: {}\nload: {{ vus: 1, iterations: 5 }}\nflows:\n  - name: f\n    steps:\n      - name: s\n        get: /\n",
        demo.url
    ));
    let out = common::stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--headless",
            "--metrics-listen",
            &addr,
        ],
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--metrics-listen") && err.contains(&addr),
        "{err}"
    );
    assert_eq!(demo.counters.total(), 0, "no request before the refusal");
}
