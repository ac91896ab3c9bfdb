//! A plan split over shards (`--shard I/N`, `--start-at`) and `stampede merge`: four shard
//! processes run together against one service, and their merge is what one process would
//! have measured — the service's own counts, the single-machine schedule, every unique
//! data row once, the thresholds judged on the merged figures. Every server is the test's
//! own, on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use stampede::demo::Route;

use common::server::serve_http1;
use common::{Demo, assert_valid_result, binary, read_json, stampede, step, wait_with_limit};

const SHARDS: u64 = 4;

/// `--start-at` this far ahead: every shard has started and waits for it.
const AHEAD: Duration = Duration::from_millis(1500);

fn start_at() -> String {
    humantime::format_rfc3339_millis(SystemTime::now() + AHEAD).to_string()
}

/// Runs `SHARDS` shards of the scenario at `path` at once, each writing `shard-I.json` next
/// to it; returns their outputs and result paths.
fn run_shards(path: &Path, extra: &[&str]) -> Vec<(Output, PathBuf)> {
    let at = start_at();
    let children: Vec<_> = (0..SHARDS)
        .map(|i| {
            let json = path.with_file_name(format!("shard-{i}.json"));
            let shard = format!("{i}/{SHARDS}");
            let mut args = vec!["run", path.to_str().expect("utf-8"), "--headless"];
            args.extend(["--shard", &shard, "--start-at", &at]);
            args.extend(["--json", json.to_str().expect("utf-8")]);
            args.extend_from_slice(extra);
            let child = Command::new(binary())
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a shard");
            (child, json)
        })
        .collect();
    children
        .into_iter()
        .map(|(child, json)| (wait_with_limit(child, Duration::from_secs(40)), json))
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn merge(args: &[&str]) -> Output {
    let mut all = vec!["merge"];
    all.extend_from_slice(args);
    stampede(&all, Duration::from_secs(30))
}

fn paths(results: &[(Output, PathBuf)]) -> Vec<String> {
    (results.iter())
        .map(|(_, p)| p.to_str().expect("utf-8").to_string())
        .collect()
}

/// The acceptance run: four shards of an open-model plan against the demo service, merged.
#[test]
fn four_shards_merge_to_the_services_own_counts_and_the_plans_rate() {
    let demo = Demo::start();
    let (dir, path) = common::scenario(&format!(
        "name: split\ntarget: {}\n\
         load: {{ rate: 200/s, duration: 3s, max_in_flight: 200 }}\n\
         thresholds: [\"rps > 150\", \"p99 < 5s\"]\n\
         flows:\n\
         \x20 - {{ name: read, weight: 3, steps: [ {{ name: get user, get: \"/users/{{{{ random_int(1, 50) }}}}\" }} ] }}\n\
         \x20 - {{ name: write, steps: [ {{ name: create user, post: /users, json: {{ name: Ada, email: ada@example.com }}, expect: {{ status: 201 }} }} ] }}\n",
        demo.url
    ));
    let results = run_shards(&path, &[]);
    for (out, json) in &results {
        // Alone, a shard sends a quarter of the plan's rate: its own rps threshold fails,
        // which it reports, leaving the verdict (and the exit code) to the merge.
        assert_eq!(out.status.code(), Some(0), "{}", text(out));
        let summary = String::from_utf8_lossy(&out.stdout);
        assert!(
            summary.contains("thresholds on this shard's part of the load alone: 1 of 2 failed"),
            "{summary}"
        );
        let doc = read_json(json);
        assert_valid_result(&doc);
        assert_eq!(doc["shards"]["count"], SHARDS);
        assert!(doc["shards"]["parts"][0]["planned_start"].is_string());
    }
    let fingerprints: Vec<_> = (results.iter())
        .map(|(_, j)| read_json(j)["shards"]["fingerprint"].clone())
        .collect();
    assert!(
        fingerprints.iter().all(|f| *f == fingerprints[0]),
        "{fingerprints:?}"
    );

    let merged = dir.path().join("merged.json");
    let page = dir.path().join("merged.html");
    let files = paths(&results);
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.extend(["--json", merged.to_str().expect("utf-8")]);
    args.extend(["--html", page.to_str().expect("utf-8")]);
    let out = merge(&args);
    // Merged, the plan's rate is there: the thresholds hold.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("4 of 4 shards merged"), "{summary}");
    let doc = read_json(&merged);
    assert_valid_result(&doc);
    // The page shows the merge: how many shards, and each one's requests.
    if let Some(dom) = common::browser::render(&page, "merged") {
        assert!(dom.contains("4 of 4 shards merged"), "{dom}");
        assert!(dom.contains("Per shard"), "{dom}");
    }

    // Exactly the service's own counts, step by step and in all.
    let get = step(&doc, "get user")["requests"].as_u64().expect("count");
    let create = step(&doc, "create user")["requests"]
        .as_u64()
        .expect("count");
    assert_eq!(get, demo.counters.served(Route::UserGet));
    assert_eq!(create, demo.counters.served(Route::UserCreate));
    assert_eq!(
        doc["total"]["requests"].as_u64(),
        Some(demo.counters.total())
    );
    // The plan's arrivals, all of them: 3 s at 200/s, none dropped.
    assert_eq!(get + create + doc["dropped"].as_u64().unwrap_or(0), 600);
    let rate = doc["total"]["rps"].as_f64().expect("rps");
    assert!(
        (rate - 200.0).abs() / 200.0 < 0.01,
        "rps {rate}, not within 1 % of 200/s"
    );
    let shard_sum: u64 = (doc["shards"]["parts"].as_array().expect("parts").iter())
        .map(|p| p["requests"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(shard_sum, get + create);
    assert!(
        doc["thresholds_passed"].as_bool().unwrap_or(false),
        "{:#}",
        doc["thresholds"]
    );

    // The merged percentiles are those of the union of the shards' histograms.
    let mut union = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    for (_, json) in &results {
        let hdr = read_json(json)["total"]["hdr"]["latency"].clone();
        union
            .add(common::decode_histogram(hdr.as_str().expect("hdr")))
            .expect("add");
    }
    let p99_us = union.value_at_quantile(0.99) as f64;
    let merged_p99 = doc["total"]["latency_ms"]["p99"].as_f64().expect("p99") * 1000.0;
    assert!(
        (merged_p99 - p99_us).abs() < 1.0,
        "{merged_p99} vs {p99_us}"
    );
    assert_eq!(
        doc["total"]["latency_ms"]["count"].as_u64(),
        Some(union.len())
    );

    // Associative: (0, 1) merged, then with 2 and 3, is the same merge.
    let half = dir.path().join("half.json");
    let out = merge(&[
        &files[0],
        &files[1],
        "--partial",
        "--json",
        half.to_str().expect("utf-8"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a partial merge lacks half the rate: {}",
        text(&out)
    );
    let again = dir.path().join("again.json");
    let out = merge(&[
        half.to_str().expect("utf-8"),
        &files[2],
        &files[3],
        "--json",
        again.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let again = read_json(&again);
    for key in [
        "total",
        "steps",
        "iterations",
        "distribution",
        "dropped",
        "thresholds",
    ] {
        assert_eq!(again[key], doc[key], "{key} differs between the two merges");
    }
}

/// Refusals: a shard twice, a missing shard, another plan's shard, a file that is not a
/// shard's result; each with exit 2 and a message that says what to do.
#[test]
fn merge_refuses_what_is_not_one_plans_shards() {
    let demo = Demo::start();
    let load = "load: { vus: 2, iterations: 10 }\nflows: [ { steps: [ { get: /fast } ] } ]\n";
    let (dir, path) = common::scenario(&format!("target: {}\n{load}", demo.url));
    let (_other_dir, other) =
        common::scenario(&format!("target: {}\nname: other\n{load}", demo.url));
    let run = |path: &Path, shard: &str, json: &Path| {
        let out = stampede(
            &[
                "run",
                path.to_str().expect("utf-8"),
                "--headless",
                "--shard",
                shard,
                "--json",
                json.to_str().expect("utf-8"),
            ],
            Duration::from_secs(30),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    let c = dir.path().join("c.json");
    run(&path, "0/2", &a);
    run(&path, "1/2", &b);
    run(&other, "1/2", &c);
    let d = dir.path().join("d.json");
    let out = stampede(
        &[
            "run",
            path.to_str().expect("utf-8"),
            "--headless",
            "--shard",
            "1/2",
            "--run-id",
            "another",
            "--json",
            d.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plain = dir.path().join("plain.json");
    let out = stampede(
        &[
            "run",
            path.to_str().expect("utf-8"),
            "--headless",
            "--json",
            plain.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let p = |p: &PathBuf| p.to_str().expect("utf-8").to_string();
    let mut future = read_json(&b);
    future["schema_version"] = 99.into();
    let future_file = dir.path().join("future.json");
    std::fs::write(&future_file, future.to_string()).expect("write");
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "not a result").expect("write");
    let cases: [(Vec<String>, &str); 7] = [
        (vec![p(&a), p(&future_file)], "schema version 99"),
        (vec![p(&a), p(&text_file)], "not JSON"),
        (vec![p(&a), p(&a)], "is in both"),
        (vec![p(&a), p(&d)], "another run"),
        (vec![p(&a)], "missing"),
        (vec![p(&a), p(&c)], "another plan"),
        (vec![p(&a), p(&plain)], "not a shard's result"),
    ];
    for (files, says) in cases {
        let args: Vec<&str> = files.iter().map(String::as_str).collect();
        let out = merge(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{files:?}: {}", text(&out));
        assert!(err.contains(says), "{files:?}: {err}");
    }
    // Two halves of one plan merge: the service's count, exactly.
    let out = merge(&[&p(&a), &p(&b)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("2 of 2 shards merged"), "{summary}");
    assert!(summary.contains("requests  10 "), "{summary}");
    // Half of the plan each (5 + 5), 5 for the other plan's half and the other run's, 10
    // for the plain run.
    assert_eq!(demo.counters.served(Route::Fast), 30);
}

/// Each arrival keeps its number and planned instant: merged, the shards' arrivals are the
/// single-machine schedule; and each unique data row is read once, by one shard.
#[test]
fn shards_interleave_into_the_single_machine_schedule_and_never_share_a_unique_row() {
    let seen: Arc<Mutex<Vec<(u64, String, Instant)>>> = Arc::default();
    let log = Arc::clone(&seen);
    let (url, _server) = serve_http1(move |req| {
        // /row/{row id}/{arrival number}
        let parts: Vec<&str> = req.uri().path().split('/').collect();
        if let [_, "row", id, n] = parts.as_slice()
            && let Ok(n) = n.parse::<u64>()
        {
            let mut log = log.lock().expect("log");
            log.push((n, (*id).to_string(), Instant::now()));
        }
        hyper::Response::new(Full::new(Bytes::from_static(b"ok")))
    });
    let (dir, path) = common::scenario(&format!(
        "target: {url}\n\
         data: {{ rows: {{ file: rows.csv, mode: unique }} }}\n\
         load: {{ rate: 100/s, iterations: 80 }}\n\
         flows: [ {{ steps: [ {{ get: \"/row/{{{{ data.rows.id }}}}/{{{{ vu() }}}}\" }} ] }} ]\n"
    ));
    let rows: String = std::iter::once("id\n".to_string())
        .chain((0..80).map(|i| format!("r{i}\n")))
        .collect();
    std::fs::write(dir.path().join("rows.csv"), rows).expect("rows");
    let results = run_shards(&path, &[]);
    for (out, _) in &results {
        assert_eq!(out.status.code(), Some(0), "{}", text(out));
    }
    let mut seen = seen.lock().expect("log").clone();
    seen.sort_by_key(|(n, _, _)| *n);
    let numbers: Vec<u64> = seen.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(numbers, (0..80).collect::<Vec<_>>(), "every arrival once");
    let mut ids: BTreeMap<&str, u32> = BTreeMap::new();
    for (_, id, _) in &seen {
        *ids.entry(id.as_str()).or_default() += 1;
    }
    assert_eq!(ids.len(), 80, "80 distinct rows: {ids:?}");
    assert!(ids.values().all(|&n| n == 1), "a row read twice: {ids:?}");
    // Arrival n at start + n × 10 ms, whichever shard sent it (the pacer's lag and the
    // processes' start skew allowed, on two busy cores).
    let t0 = seen[0].2;
    let worst = (seen.iter())
        .map(|(n, _, at)| {
            let planned = Duration::from_millis(10 * n);
            let actual = at.saturating_duration_since(t0);
            actual.abs_diff(planned)
        })
        .max()
        .unwrap_or_default();
    assert!(
        worst < Duration::from_millis(40),
        "an arrival {worst:?} off the schedule"
    );
    // Merged, the shards are the whole plan.
    let files = paths(&results);
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = merge(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("requests  80 "), "{summary}");
}

/// `setup: { once: true }`: shard 0 logs in once and hands the token to the others through
/// a file; the shard comes from a Kubernetes Indexed Job's environment; each result also
/// goes to the log, which `merge --from-log` reads.
#[test]
fn setup_runs_once_and_results_merge_from_the_logs() {
    let demo = Demo::start();
    let (dir, path) = common::scenario(&format!(
        "target: {}\n\
         setup: {{ once: true, steps: [ {{ post: /login, json: {{ email: ada0@example.com }}, extract: {{ token: body.token }} }} ] }}\n\
         load: {{ vus: 4, iterations: 8 }}\n\
         flows: [ {{ steps: [ {{ name: me, get: /me, headers: {{ authorization: \"Bearer {{{{ token }}}}\" }}, expect: {{ status: 200 }} }} ] }} ]\n",
        demo.url
    ));
    let handed = dir.path().join("setup.json");
    let handed = handed.to_str().expect("utf-8");
    let at = start_at();
    let children: Vec<_> = (0..SHARDS)
        .map(|i| {
            Command::new(binary())
                .args([
                    "run",
                    path.to_str().expect("utf-8"),
                    "--headless",
                    "--log-result",
                ])
                .args(["--setup-out", handed, "--setup-in", handed])
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .env("STAMPEDE_SHARDS", SHARDS.to_string())
                .env("STAMPEDE_START_AT", &at)
                .env("STAMPEDE_RUN_ID", "job-uid-1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a shard")
        })
        .collect();
    let mut log = String::new();
    for child in children {
        let out = wait_with_limit(child, Duration::from_secs(40));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        log.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(
        demo.counters.served(Route::Login),
        1,
        "one login, in shard 0"
    );
    assert_eq!(
        demo.counters.served_with(Route::Me, 2),
        8,
        "every shard had the token"
    );
    // As `kubectl logs --prefix` shows them: each line behind its pod's name.
    let prefixed: String = (log.lines())
        .map(|l| format!("[pod/split-0/stampede] {l}\n"))
        .collect();
    let log_file = dir.path().join("pods.log");
    std::fs::write(&log_file, prefixed).expect("log");
    let out = merge(&["--from-log", log_file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("requests  8 ") && summary.contains("4 of 4 shards merged"),
        "{summary}"
    );

    // A threshold that would stop a shard for having its part of the rate is refused.
    let (_d, aborting) = common::scenario(&format!(
        "target: {}\nload: {{ vus: 4, duration: 1s }}\n\
         thresholds: [ {{ threshold: \"rps > 100\", abort_on_fail: true }} ]\n\
         flows: [ {{ steps: [ {{ get: /fast }} ] }} ]\n",
        demo.url
    ));
    let out = stampede(
        &[
            "run",
            aborting.to_str().expect("utf-8"),
            "--headless",
            "--shard",
            "0/4",
        ],
        Duration::from_secs(20),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("judge rps on the merge"), "{err}");

    // Without the file to hand the values over, shard 1 refuses to start.
    let out = stampede(
        &[
            "run",
            path.to_str().expect("utf-8"),
            "--headless",
            "--shard",
            "1/4",
        ],
        Duration::from_secs(20),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs --setup-in"), "{err}");
}
