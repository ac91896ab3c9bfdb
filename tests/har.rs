//! `stampede init --from-har`: a recorded create → read → delete session becomes one flow
//! that runs against the demo service with no 404 (the created id extracted and used), the
//! login's token correlated, static assets and other origins dropped, a recorded bearer
//! token and password turned into environment references; a Firefox recording of a session
//! logged in before it began (no resource types, time zone offsets, the session's cookie in
//! every request) reads that cookie from the environment; bad input is exit 2. Every
//! server is the test's own, on 127.0.0.1.

mod common;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Demo, binary, read_json, stampede, wait_with_limit};

fn fixture(name: &str) -> String {
    common::fixture("har", name)
}

fn session() -> String {
    fixture("session.har")
}

/// Logs in at the demo (`POST /login`) and returns its session cookie's value.
fn demo_session(addr: &str) -> String {
    let body = r#"{"email":"ann@example.com"}"#;
    let mut conn = std::net::TcpStream::connect(addr).expect("connect to the demo");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read");
    let at = answer.find("session=").expect("a session cookie") + "session=".len();
    answer[at..]
        .split(';')
        .next()
        .expect("its value")
        .to_string()
}

/// `init --from-har FILE --target URL` into `out`: the scenario's text (validated), and
/// init's output.
fn from_har(file: &str, target: &str, out: &Path) -> (String, std::process::Output) {
    let args = ["--from-har", file, "--target", target];
    common::init_scenario(&args, out)
}

#[test]
fn a_recorded_session_replays_against_the_demo_with_its_ids_and_tokens_correlated() {
    let demo = Demo::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("session.yaml");
    let (yaml, out) = from_har(&session(), &demo.url, &file);
    // Static assets and the other origin left out: 6 of the 9 requests.
    assert_eq!(yaml.matches("      - name: ").count(), 6, "{yaml}");
    assert!(
        !yaml.contains("app.js") && !yaml.contains("logo.png") && !yaml.contains("cdn.example.com"),
        "{yaml}"
    );
    // Browser-only headers dropped.
    assert!(
        !yaml.to_lowercase().contains("user-agent") && !yaml.contains("sec-ch-ua"),
        "{yaml}"
    );
    // The created id and the login's token are extracted and used, never replayed.
    assert!(yaml.contains("extract: { id: \"body.id\" }"), "{yaml}");
    assert!(
        yaml.contains("get: \"/users/{{ id }}\"") && yaml.contains("delete: \"/users/{{ id }}\""),
        "{yaml}"
    );
    let mut sent = yaml.lines().filter(|l| !l.trim_start().starts_with('#'));
    assert!(
        sent.all(|l| !l.contains("187")),
        "the recorded id is not replayed: {yaml}"
    );
    assert!(yaml.contains("name: \"GET /users/{id}\""), "{yaml}");
    assert!(
        yaml.contains("authorization: \"Bearer {{ access_token }}\""),
        "{yaml}"
    );
    // Credentials that no response produced come from the environment.
    assert!(
        yaml.contains("Bearer {{ env.HAR_TOKEN | default('') }}"),
        "{yaml}"
    );
    assert!(
        yaml.contains("{{ env.HAR_PASSWORD | default('') }}") && !yaml.contains("hunter2"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("eyJhbGciOiJIUzI1NiJ9"),
        "the recorded JWT is not written: {yaml}"
    );
    // Think times from the recording.
    assert!(yaml.contains("think: 292ms"), "{yaml}");
    // What cannot be correlated is said, with its place.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: step 4 (POST /users), header x-request-id"),
        "{err}"
    );

    let json = dir.path().join("r.json");
    let run = stampede(
        &[
            "run",
            file.to_str().expect("utf-8"),
            "--headless",
            "-c",
            "2",
            // One whole iteration, recorded think times included (about 2.6 s).
            "-z",
            "4s",
            "--json",
            json.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(run.status.code(), Some(0), "{}", common::output_text(&run));
    let doc = read_json(&json);
    for step in doc["steps"].as_array().expect("steps") {
        let name = step["name"].as_str().unwrap_or("?");
        assert!(
            step["requests"].as_u64().unwrap_or(0) > 0,
            "{name} never sent"
        );
        assert_eq!(step["errors"].as_u64(), Some(0), "{name}: {step:#}");
        let statuses = step["status_codes"].as_object().expect("statuses");
        assert!(
            !statuses.contains_key("404") && !statuses.contains_key("422"),
            "{name}: {statuses:?}"
        );
    }
}

#[test]
fn think_and_static_options_and_bad_recordings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let mut all = vec!["init", "--from-har"];
        all.extend_from_slice(args);
        stampede(&all, Duration::from_secs(20))
    };
    let out = run(&[&session(), "--think", "none", "--keep-static"]);
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", common::output_text(&out));
    assert!(
        !yaml.contains("think:") && yaml.contains("/static/app.js"),
        "{yaml}"
    );
    let out = run(&[&session(), "--think", "1s..2s"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("think: 1s..2s"),
        "{}",
        common::output_text(&out)
    );
    let out = run(&[&session(), "--think", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::output_text(&out));
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_string()
    };
    // A recorded path that reads like a template (`/{{ x }}`, percent-encoded) stays text:
    // the fuzz property's find.
    let braces = write(
        "braces.har",
        r#"{"log": {"entries": [{"request": {"method": "GET", "url": "http://127.0.0.1:8000/%7B%7B%20x%20%7D%7D", "headers": []}, "response": {"status": 200, "headers": [], "content": {"mimeType": "text/plain"}}}]}}"#,
    );
    let out = run(&[&braces]);
    assert_eq!(out.status.code(), Some(0), "{}", common::output_text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.contains("get: \"/%7B%7B%20x%20%7D%7D\""), "{yaml}");
    let cases = [
        (write("broken.har", "{\"log\": "), "not JSON"),
        (write("other.har", "{\"entries\": []}"), "no log.entries"),
        (
            write("empty.har", "{\"log\": {\"entries\": []}}"),
            "no request",
        ),
    ];
    for (path, says) in cases {
        let out = run(&[&path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {err}");
        assert!(err.contains(&path) && err.contains(says), "{path}: {err}");
    }
}

#[test]
fn a_firefox_recording_of_a_logged_in_session_reads_its_cookie_from_the_environment() {
    let demo = Demo::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("firefox.yaml");
    let (yaml, _) = from_har(&fixture("firefox.har"), &demo.url, &file);
    // No resource types in Firefox's file: the stylesheet and the icon go by MIME type.
    assert_eq!(yaml.matches("      - name: ").count(), 5, "{yaml}");
    assert!(
        !yaml.contains("site.css") && !yaml.contains("favicon") && !yaml.contains("mozilla"),
        "{yaml}"
    );
    // The session the recording began in: its cookies come from the environment, once.
    assert!(
        yaml.contains(
            "    cookie: \"session={{ env.HAR_COOKIE_SESSION | default('') }}; \
             theme={{ env.HAR_COOKIE_THEME | default('') }}\""
        ),
        "{yaml}"
    );
    assert!(
        !yaml.contains("t9f3a1c2"),
        "the recorded cookie is not written: {yaml}"
    );
    assert!(yaml.contains("HAR_COOKIE_SESSION (environment)"), "{yaml}");
    // Think times from startedDateTime with a time zone offset (+01:00).
    assert!(yaml.contains("think: 488ms"), "{yaml}");
    assert!(yaml.contains("get: \"/users/{{ id }}\""), "{yaml}");

    let json = dir.path().join("r.json");
    let run = |session: Option<&str>| {
        let mut cmd = Command::new(binary());
        cmd.args([
            "run",
            file.to_str().expect("utf-8"),
            "--headless",
            "-c",
            "1",
        ])
        .args(["-n", "2", "--json", json.to_str().expect("utf-8")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("HAR_COOKIE_SESSION");
        if let Some(value) = session {
            cmd.env("HAR_COOKIE_SESSION", value);
        }
        let out = wait_with_limit(cmd.spawn().expect("spawn"), Duration::from_secs(30));
        (out, read_json(&json))
    };
    let me = |doc: &serde_json::Value, status: &str| {
        let step = common::step(doc, "GET /me");
        step["status_codes"][status].as_u64().unwrap_or(0)
    };
    // With a session of the demo's own in the environment, /me knows the user...
    let addr = demo.url.trim_start_matches("http://").to_string();
    let session = demo_session(&addr);
    let (out, doc) = run(Some(&session));
    assert_eq!(out.status.code(), Some(0), "{}", common::output_text(&out));
    assert_eq!(me(&doc, "200"), 2, "{doc:#}");
    for step in doc["steps"].as_array().expect("steps") {
        assert_eq!(step["errors"].as_u64(), Some(0), "{step:#}");
    }
    // ...and without it, the recorded session is not replayed: /me is refused.
    let (out, doc) = run(None);
    assert_eq!(out.status.code(), Some(0), "{}", common::output_text(&out));
    assert_eq!(me(&doc, "401"), 2, "{doc:#}");
}
