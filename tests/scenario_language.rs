//! The scenario language end to end, against the demo service on 127.0.0.1:0: a CRUD flow
//! whose ids come from extraction, data files in each mode, random values, setup, cookies,
//! error policies, and a rate ramp whose arrivals are counted.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Demo, error_count, run_json, scenario, stampede, step};
use stampede::demo::Route;

/// A GET of the demo's JSON (`common::http_get`).
fn get_json(base: &str, path: &str) -> serde_json::Value {
    let addr = base.trim_start_matches("http://");
    let (head, body) = common::http_get(addr, path, Duration::from_secs(10));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {head}\n\n{body}"))
}

/// Users created by a run (the demo seeds 100 before them), read page by page.
fn created_users(demo: &Demo) -> Vec<serde_json::Value> {
    let mut users = Vec::new();
    let mut after = 100;
    loop {
        let page = get_json(&demo.url, &format!("/users?limit=100&after={after}"));
        let page = page.as_array().expect("a list");
        let Some(last) = page.last() else {
            return users;
        };
        after = last["id"].as_u64().expect("an id");
        users.extend(page.iter().cloned());
    }
}

#[test]
fn crud_flow_uses_the_extracted_id_for_every_step() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 20, duration: 4s }}\nflows:\n  - name: crud\n    steps:\n\
         \x20     - name: create\n        post: /users\n        json: {{ name: \"{{{{ random_name() }}}}\", email: \"{{{{ uuid() }}}}@example.com\" }}\n\
         \x20       expect: {{ status: 201 }}\n        extract: {{ user_id: body.id }}\n\
         \x20     - name: read\n        get: /users/{{{{ user_id }}}}\n        expect: {{ status: 200, body: [ {{ path: body.from_cache, equals: false }} ] }}\n\
         \x20     - name: delete\n        delete: /users/{{{{ user_id }}}}\n        expect: {{ status: 204 }}\n",
        demo.url
    ));
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stdout}");
    let (create, read, delete) = (
        step(&doc, "create"),
        step(&doc, "read"),
        step(&doc, "delete"),
    );
    let n = |s: &serde_json::Value| s["requests"].as_u64().expect("count");
    assert!(n(create) > 200, "{stdout}");
    // Every read and delete went to a user that exists: no 404 anywhere.
    assert_eq!(demo.counters.served_with(Route::UserGet, 4), 0);
    assert_eq!(demo.counters.served_with(Route::UserDelete, 4), 0);
    assert_eq!(demo.counters.served_with(Route::UserCreate, 2), n(create));
    assert_eq!(demo.counters.served_with(Route::UserGet, 2), n(read));
    assert_eq!(demo.counters.served_with(Route::UserDelete, 2), n(delete));
    assert_eq!(doc["total"]["errors"], 0, "{stdout}");
    // A user read right after its creation is never served from the cache.
    assert_eq!(read["checks"][0]["failed"], 0);
    assert_eq!(read["checks"][0]["evaluated"], n(read));
    // Iterations cut by the stop end early, so each step runs at most once per create.
    assert!(
        n(create) - n(delete) <= 20,
        "{} vs {}",
        n(create),
        n(delete)
    );
}

fn data_scenario(
    demo: &Demo,
    rows: usize,
    data: &str,
    load: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, path) = scenario(&format!(
        "target: {}\nload: {load}\ndata:\n  people: {data}\nflows:\n  - steps:\n\
         \x20     - post: /users\n        json: {{ name: \"{{{{ data.people.name }}}}\", email: \"{{{{ data.people.email }}}}\" }}\n\
         \x20       expect: {{ status: 201 }}\n",
        demo.url
    ));
    let mut csv = String::from("name,email\n");
    for i in 0..rows {
        csv.push_str(&format!("user {i},\"row{i}@example.com\"\n"));
    }
    std::fs::write(dir.path().join("people.csv"), csv).expect("write csv");
    (dir, path)
}

fn emails(demo: &Demo) -> BTreeMap<String, u64> {
    let mut seen = BTreeMap::new();
    for u in created_users(demo) {
        *seen
            .entry(u["email"].as_str().expect("email").to_string())
            .or_insert(0) += 1;
    }
    seen
}

#[test]
fn unique_rows_are_used_once_then_the_run_stops() {
    let demo = Demo::start();
    let (_dir, path) = data_scenario(
        &demo,
        40,
        "{ file: people.csv, mode: unique }",
        "{ vus: 8, duration: 20s }",
    );
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(40));
    assert_eq!(code, 0, "{stdout}");
    let seen = emails(&demo);
    assert_eq!(seen.len(), 40, "{seen:?}");
    assert!(
        seen.values().all(|&n| n == 1),
        "a row was used twice: {seen:?}"
    );
    assert!(
        doc["stop_reason"]
            .as_str()
            .is_some_and(|r| r.contains("people ran out")),
        "{doc:#}"
    );
    assert!(doc["duration_s"].as_f64().expect("s") < 15.0);
    assert!(stdout.contains("stopped   early"), "{stdout}");
}

#[test]
fn sequential_rows_cover_the_file_in_turn() {
    let demo = Demo::start();
    let (_dir, path) = data_scenario(
        &demo,
        25,
        "{ file: people.csv }",
        "{ vus: 5, iterations: 75 }",
    );
    let (code, _, stdout, _) = run_json(&path, &[], Duration::from_secs(40));
    assert_eq!(code, 0, "{stdout}");
    let seen = emails(&demo);
    assert_eq!(seen.len(), 25);
    assert!(seen.values().all(|&n| n == 3), "{seen:?}");
}

#[test]
fn random_values_stay_in_range_and_cover_it() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 4, iterations: 300 }}\nflows:\n  - steps:\n\
         \x20     - post: /users\n        json: {{ name: \"{{{{ string(random_int(5, 9)) }}}}\", email: \"{{{{ random_choice(a, 'b c') }}}}\" }}\n",
        demo.url
    ));
    let (code, _, stdout, _) = run_json(&path, &[], Duration::from_secs(40));
    assert_eq!(code, 0, "{stdout}");
    let users = created_users(&demo);
    assert_eq!(users.len(), 300);
    let mut names = std::collections::BTreeSet::new();
    for u in &users {
        let n: i64 = u["name"].as_str().expect("name").parse().expect("a number");
        assert!((5..=9).contains(&n), "{n}");
        names.insert(n);
        assert!(["a", "b c"].contains(&u["email"].as_str().expect("email")));
    }
    assert_eq!(names.len(), 5, "every value in range appears in 300 draws");
}

#[test]
fn set_defines_a_variable_and_validation_names_a_missing_one() {
    let (_dir, path) = scenario(
        "target: http://127.0.0.1:1\nload: { vus: 1, iterations: 1 }\n\
         flows:\n  - steps:\n      - get: /users/{{ user_id }}?v={{ version }}\nvariables: { version: 3 }\n",
    );
    let file = path.to_str().expect("utf-8");
    let out = stampede(&["validate", file], Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains(&format!(
            "{file}:5:24: flows[0].steps[0].url: user_id is not defined"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("version"), "{stderr}");
    let out = stampede(
        &["validate", file, "--set", "user_id=7"],
        Duration::from_secs(20),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const LOGIN: &str = "      - name: login\n        post: /login\n        json: { email: ada@example.com }\n        expect: { status: 200 }\n";

#[test]
fn setup_values_reach_every_user_and_a_failed_setup_stops_the_run() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 5, iterations: 50 }}\nsetup:\n  steps:\n{LOGIN}        extract: {{ token: body.token }}\n\
         flows:\n  - steps:\n      - name: me\n        get: /me\n        headers: {{ authorization: \"Bearer {{{{ token }}}}\" }}\n",
        demo.url
    ));
    let (code, doc, stdout, stderr) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        demo.counters.served_with(Route::Login, 2),
        1,
        "setup ran once"
    );
    assert_eq!(demo.counters.served_with(Route::Me, 2), 50);
    assert_eq!(
        step(&doc, "me")["requests"],
        50,
        "setup is not in the figures"
    );

    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 5, iterations: 50 }}\nsetup:\n  steps:\n      - name: fixture\n        get: /users/999999\n\
         flows:\n  - steps:\n      - get: /fast\n",
        demo.url
    ));
    let out = stampede(
        &["run", path.to_str().expect("utf-8"), "--headless"],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("setup step \"fixture\" failed: expected status"),
        "{stderr}"
    );
    assert_eq!(demo.counters.served(Route::Fast), 0);
}

#[test]
fn cookies_carry_a_session_only_when_asked() {
    let demo = Demo::start();
    let flow = |cookies: bool| {
        format!(
            "target: {}\ncookies: {cookies}\nload: {{ vus: 3, iterations: 30 }}\nflows:\n  - steps:\n{LOGIN}\
             \x20     - name: me\n        get: /me\n",
            demo.url
        )
    };
    let (_dir, path) = scenario(&flow(true));
    let (_, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(doc["total"]["errors"], 0, "{stdout}");
    let (_dir, path) = scenario(&flow(false));
    let (_, doc, _, _) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(step(&doc, "me")["status_codes"]["401"], 30);
}

#[test]
fn a_failed_extraction_abandons_the_iteration_unless_told_to_continue() {
    let demo = Demo::start();
    let flow = |policy: &str| {
        format!(
            "target: {}\nload: {{ vus: 2, iterations: 20 }}\nflows:\n  - steps:\n{LOGIN}\
             \x20       extract: {{ code: body.nope }}\n{policy}\
             \x20     - name: next\n        get: /delay/{{{{ code }}}}\n",
            demo.url
        )
    };
    let (_dir, path) = scenario(&flow(""));
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0);
    assert_eq!(error_count(step(&doc, "login"), "extract"), 20, "{stdout}");
    assert!(stdout.contains("body.nope is not in the body"), "{stdout}");
    assert_eq!(step(&doc, "next")["requests"], 0);
    let (_dir, path) = scenario(&flow("        on_error: continue\n"));
    let (_, doc, _, _) = run_json(&path, &[], Duration::from_secs(30));
    // The next step runs, but cannot be built without the value: counted, never sent.
    assert_eq!(error_count(step(&doc, "next"), "render"), 20);
    assert_eq!(demo.counters.served(Route::Delay), 0);
}

#[test]
fn a_rate_ramp_plans_its_integral_within_two_percent() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload:\n  stages: [ {{ duration: 5s, rate: 200/s }} ]\nflows:\n  - steps: [ {{ get: /fast }} ]\n",
        demo.url
    ));
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stdout}");
    // 0 → 200/s over 5 s: the area under the ramp, 500 arrivals.
    let sent = demo.counters.served(Route::Fast);
    let dropped = doc["dropped"].as_u64().expect("dropped");
    let arrivals = sent + dropped;
    assert!(
        (490..=510).contains(&arrivals),
        "{arrivals} arrivals\n{stdout}"
    );
    // The run ends with its last arrival, a few ms before 5 s: the level is then just below.
    let level: f64 = doc["final_level"]
        .as_str()
        .and_then(|l| l.strip_suffix("/s"))
        .and_then(|l| l.parse().ok())
        .expect("a rate");
    assert!((195.0..=200.0).contains(&level), "{level}");
    assert_eq!(doc["load"]["stages"][0]["rate_per_s"], 200.0);
}

#[test]
fn vu_stages_ramp_users_up_and_down() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nload:\n  stages:\n    - {{ duration: 1s, vus: 6 }}\n    - {{ duration: 1s, vus: 6 }}\n    - {{ duration: 1s, vus: 2 }}\n\
         flows:\n  - steps: [ {{ get: /delay/10 }} ]\n",
        demo.url
    ));
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(doc["final_level"], "2 VUs");
    // About 3 users on average over the first second, 6 over the second, 4 over the third:
    // 13 user-seconds at ~90 requests each. Wide bounds: the point is the ramp, not timing.
    let n = doc["total"]["requests"].as_u64().expect("count");
    assert!((700..=1500).contains(&n), "{n}\n{stdout}");
}

#[test]
fn think_time_and_pace_space_out_a_users_requests() {
    let demo = Demo::start();
    // One user, a 100 ms think after each fast request: about 10 requests a second.
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 1, duration: 2s }}\nflows:\n  - steps:\n      - name: thinker\n        get: /fast\n        think: 90ms..110ms\n",
        demo.url
    ));
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stdout}");
    let n = doc["total"]["requests"].as_u64().expect("count");
    assert!((15..=21).contains(&n), "{n}");
    // Two paced users: an iteration starts at most every 250 ms, however fast it ends.
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 2, duration: 2s }}\nflows:\n  - pace: 250ms\n    steps: [ {{ get: /fast }} ]\n",
        demo.url
    ));
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stdout}");
    let n = doc["total"]["requests"].as_u64().expect("count");
    assert!((14..=18).contains(&n), "{n}");
}

/// In `json:`, a lone expression keeps its type: a variable holding 42 is sent as 42, and
/// `string(...)` forces a string. The demo's `/users` accepts only a string name, so the
/// typed one is refused (422) and the forced one created.
#[test]
fn json_values_keep_their_type() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        "target: {}\nvariables: {{ n: 42 }}\nload: {{ vus: 1, iterations: 1 }}\nflows:\n  - steps:\n\
         \x20     - post: /users\n        json: {{ name: \"{{{{ n }}}}\", email: \"a@b.c\" }}\n        expect: {{ status: 422 }}\n\
         \x20     - post: /users\n        json: {{ name: \"{{{{ string(n) }}}}\", email: \"a@b.c\" }}\n        expect: {{ status: 201 }}\n",
        demo.url
    ));
    let (code, doc, stdout, _) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(doc["total"]["errors"], 0, "{stdout}");
    let users = created_users(&demo);
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["name"], "42");
}

/// `form:` sends urlencoded fields (templates rendered, the content type set), and
/// `body_file:` a file's bytes as they are, read relative to the scenario.
#[test]
fn form_and_body_file_bodies() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut writer = stream;
            loop {
                let (mut head, mut line) = (String::new(), String::new());
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    head.push_str(&line);
                    line.clear();
                }
                if head.is_empty() {
                    break;
                }
                let n: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                let mut body = vec![0; n];
                reader.read_exact(&mut body).expect("body");
                log.lock()
                    .expect("log")
                    .push(format!("{head}\n{}", String::from_utf8_lossy(&body)));
                writer
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .expect("reply");
            }
        }
    });
    let (dir, path) = scenario(&format!(
        "target: {url}\nvariables: {{ who: \"ann & bob\" }}\nload: {{ vus: 1, iterations: 1 }}\nflows:\n  - steps:\n\
         \x20     - post: /form\n        form: {{ name: \"{{{{ who }}}}\", n: 3 }}\n\
         \x20     - post: /file\n        body_file: payload.bin\n"
    ));
    std::fs::write(dir.path().join("payload.bin"), "raw {{ not a template }}").expect("write");
    let (code, _, stdout, stderr) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0]
            .to_ascii_lowercase()
            .contains("content-type: application/x-www-form-urlencoded"),
        "{}",
        seen[0]
    );
    assert!(seen[0].ends_with("\nn=3&name=ann+%26+bob"), "{}", seen[0]);
    assert!(
        seen[1].ends_with("\nraw {{ not a template }}"),
        "{}",
        seen[1]
    );
}
