//! `stampede init --from-openapi`: a scenario from the demo's own `/openapi.json` runs
//! against the demo with every operation exercised and no 404 or 422; a FastAPI-style
//! document (`$ref`, `anyOf` with null, enums, formats, a recursive schema, a `4XX` key, an
//! OAuth2 password scheme) and a Petstore-style 3.0 YAML one convert to scenarios that
//! validate; bad input is exit 2 with its place. Servers listen on 127.0.0.1 only.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Demo, read_json, stampede};

fn fixture(name: &str) -> String {
    common::fixture("openapi", name)
}

/// How many flows a written scenario has.
fn flows(yaml: &str) -> usize {
    yaml.lines().filter(|l| l.starts_with("  - name: ")).count()
}

/// `init` with `args`, writing to `out`; returns the scenario's text (validated).
fn init(args: &[&str], out: &Path) -> String {
    common::init_scenario(args, out).0
}

#[test]
fn the_demos_own_document_makes_a_scenario_that_exercises_every_operation_cleanly() {
    let demo = Demo::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("demo.yaml");
    let url = format!("{}/openapi.json", demo.url);
    // The test routes (deliberate failures, stalls) and the demo's own stats are left out.
    let yaml = init(
        &[
            "--from-openapi",
            &url,
            "--exclude",
            "testing",
            "--exclude",
            "/_demo*",
        ],
        &file,
    );
    assert!(
        yaml.starts_with("# yaml-language-server: $schema="),
        "{yaml}"
    );
    assert!(
        yaml.contains(&format!("target: \"{}\"", demo.url)),
        "{yaml}"
    );
    // The create's id is read back, changed and deleted in the same flow, in that order.
    let create = yaml.find("post: \"/users\"").expect("create");
    let read = yaml
        .find("get: \"/users/{{ user_id }}\"")
        .expect("read by the created id");
    let delete = yaml
        .find("delete: \"/users/{{ user_id }}\"")
        .expect("delete by it");
    assert!(create < read && read < delete, "{yaml}");
    assert!(yaml.contains("extract: { user_id: \"body.id\" }"), "{yaml}");
    // OAuth2's password flow: each user logs in once and sends its token.
    assert!(
        yaml.contains("init:") && yaml.contains("post: \"/token\""),
        "{yaml}"
    );
    assert!(
        yaml.contains("authorization: \"Bearer {{ access_token }}\""),
        "{yaml}"
    );

    // The round trip: the load flags written into the file (--print-scenario), then run.
    let printed = stampede(
        &[
            file.to_str().expect("utf-8"),
            "-c",
            "3",
            "-z",
            "2s",
            "--print-scenario",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(
        printed.status.code(),
        Some(0),
        "{}",
        common::output_text(&printed)
    );
    let tuned = String::from_utf8_lossy(&printed.stdout).to_string();
    assert!(tuned.contains("  vus: 3\n  duration: \"2s\"\n"), "{tuned}");
    let file = dir.path().join("tuned.yaml");
    std::fs::write(&file, tuned).expect("write");
    let json = dir.path().join("r.json");
    let run = stampede(
        &[
            "run",
            file.to_str().expect("utf-8"),
            "--headless",
            "--json",
            json.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(run.status.code(), Some(0), "{}", common::output_text(&run));
    let doc = read_json(&json);
    let steps = doc["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 11, "every operation a step, and the login");
    for step in steps {
        let name = step["name"].as_str().unwrap_or("?");
        assert!(
            step["requests"].as_u64().unwrap_or(0) > 0,
            "{name} was never sent"
        );
        assert_eq!(step["errors"].as_u64(), Some(0), "{name}: {step:#}");
        let statuses = step["status_codes"].as_object().expect("statuses");
        for bad in ["404", "422", "401"] {
            assert!(
                !statuses.contains_key(bad),
                "{name} got {bad}: {statuses:?}"
            );
        }
    }
}

#[test]
fn a_fastapi_document_converts_with_refs_nulls_enums_formats_recursion_and_oauth2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shop.yaml");
    let yaml = init(
        &[
            "--from-openapi",
            &fixture("fastapi.json"),
            "--exclude",
            "/_internal*",
        ],
        &file,
    );
    assert!(!yaml.contains("_internal"), "excluded: {yaml}");
    // FastAPI's collection with a trailing slash, its items without: still one chain.
    assert!(yaml.contains("extract: { item_id: \"body.id\" }"), "{yaml}");
    assert!(yaml.contains("get: \"/items/{{ item_id }}\""), "{yaml}");
    // A 201 beside a `4XX` key; an enum's first value; formats; a pattern; anyOf with null.
    assert!(yaml.contains("expect: { status: 201 }"), "{yaml}");
    assert!(yaml.contains("\"status\":\"draft\""), "{yaml}");
    assert!(yaml.contains("{{ random_email() }}"), "{yaml}");
    assert!(yaml.contains("\"q\":\"{{ random_string(8) }}\""), "{yaml}");
    // The recursive category is cut, not followed forever.
    assert!(yaml.contains("\"children\":[]"), "{yaml}");
    // The relative token URL, from the root.
    assert!(yaml.contains("post: \"/token\""), "{yaml}");
    // One flow per tag, or per path group, or one.
    assert_eq!(flows(&yaml), 3, "{yaml}");
    let single = init(
        &[
            "--from-openapi",
            &fixture("fastapi.json"),
            "--flow-per",
            "single",
            "--include",
            "items",
        ],
        &dir.path().join("single.yaml"),
    );
    assert_eq!(flows(&single), 1, "{single}");
    assert!(
        !single.contains("/categories/"),
        "only the items tag: {single}"
    );
}

#[test]
fn a_petstore_yaml_document_converts_with_its_base_path_location_and_api_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = init(
        &["--from-openapi", &fixture("petstore.yaml")],
        &dir.path().join("pets.yaml"),
    );
    assert!(
        yaml.contains("target: \"http://petstore.example.com\""),
        "{yaml}"
    );
    assert!(yaml.contains("post: \"/v1/pets\""), "{yaml}");
    // The id at the end of the Location header, for the read and the delete.
    assert!(yaml.contains("pet_id: { header: \"location\""), "{yaml}");
    assert!(yaml.contains("get: \"/v1/pets/{{ pet_id }}\""), "{yaml}");
    assert!(
        yaml.contains("x-api-key: \"{{ env.API_KEY | default('') }}\""),
        "{yaml}"
    );
    assert!(
        yaml.contains("\"name\":\"Rex\""),
        "the schema's example: {yaml}"
    );
}

#[test]
fn bad_documents_and_unreachable_urls_are_exit_2_with_the_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let cases = [
        (
            write("broken.json", "{\"openapi\": \"3.1.0\", \"paths\": {"),
            "not a JSON document",
        ),
        (
            write("swagger.json", "{\"swagger\": \"2.0\", \"paths\": {}}"),
            "Swagger 2.0",
        ),
        (
            write("nopaths.yaml", "openapi: 3.0.0\ninfo: { title: x }\n"),
            "needs `paths`",
        ),
        (
            write("empty.yaml", "openapi: 3.0.0\npaths: {}\n"),
            "no operation",
        ),
        (write("list.yaml", "- a\n- b\n"), "not an OpenAPI document"),
    ];
    for (path, says) in cases {
        let p = path.to_str().expect("utf-8");
        let out = stampede(&["init", "--from-openapi", p], Duration::from_secs(20));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{p}: {err}");
        assert!(err.contains(p) && err.contains(says), "{p}: {err}");
    }
    let missing = dir.path().join("absent.json");
    let out = stampede(
        &["init", "--from-openapi", missing.to_str().expect("utf-8")],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}/openapi.json");
    let out = stampede(&["init", "--from-openapi", &url], Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("cannot fetch {url}")), "{err}");
    let demo = Demo::start();
    let url = format!("{}/nothing.json", demo.url);
    let out = stampede(&["init", "--from-openapi", &url], Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("404"), "{err}");
}
