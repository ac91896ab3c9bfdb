//! `stampede init --from-har`: a recorded create → read → delete session becomes one flow
//! that runs against the demo service with no 404 (the created id extracted and used), the
//! login's token correlated, static assets and other origins dropped, a recorded bearer
//! token and password turned into environment references; bad input is exit 2. Every
//! server is the test's own, on 127.0.0.1.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Demo, read_json, stampede};

fn session() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/har/session.har");
    path.to_str().expect("utf-8").to_string()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_recorded_session_replays_against_the_demo_with_its_ids_and_tokens_correlated() {
    let demo = Demo::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("session.yaml");
    let out = stampede(
        &[
            "init",
            "--from-har",
            &session(),
            "--target",
            &demo.url,
            "-o",
            file.to_str().expect("utf-8"),
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let yaml = std::fs::read_to_string(&file).expect("scenario");
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
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
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
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !yaml.contains("think:") && yaml.contains("/static/app.js"),
        "{yaml}"
    );
    let out = run(&[&session(), "--think", "1s..2s"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("think: 1s..2s"),
        "{}",
        text(&out)
    );
    let out = run(&[&session(), "--think", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_string()
    };
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
