//! The scenario file's JSON Schema (`schema/scenario.schema.json`) kept honest against the
//! parser: every shipped scenario and every scenario example in the README satisfies it, it
//! refuses what the parser refuses (a misspelt key, a wrong type, a few wrong values), and
//! each object's keys are exactly the keys the parser accepts there. Those keys are read from `stampede validate` itself: for a file with
//! an unknown key, its message lists what the object takes ("load takes vus, rate, ...").

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// A key no object has, nor is within two edits of one (so no "did you mean" in between).
const UNKNOWN: &str = "zzzzzzzz";

/// The first line of every shipped YAML scenario, for the YAML language server.
const EDITOR_LINE: &str = "# yaml-language-server: $schema=../schema/scenario.schema.json";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    let text =
        std::fs::read_to_string(root().join("schema/scenario.schema.json")).expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).expect("a valid schema")
}

/// The schema's complaints about `doc`, one line each.
fn violations(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("YAML")
}

#[test]
fn every_shipped_scenario_satisfies_the_schema() {
    let validator = validator();
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(root().join("scenarios")).expect("scenarios/") {
        let path = entry.expect("entry").path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !["yaml", "yml", "json"].contains(&ext) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("scenario");
        if ext != "json" {
            assert_eq!(
                text.lines().next(),
                Some(EDITOR_LINE),
                "{}: the first line names the schema for editors",
                path.display()
            );
        }
        let problems = violations(&validator, &yaml(&text));
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            path.display(),
            problems.join("\n")
        );
        checked.push(path);
    }
    assert!(checked.len() >= 5, "{checked:?}");
}

/// Every ```yaml block of the README made only of scenario keys (a whole scenario, or a part
/// such as `load:` or `thresholds:`) satisfies the schema, given a flow when it has none.
#[test]
fn the_readme_examples_satisfy_the_schema() {
    let schema = schema();
    let validator = validator();
    let top: BTreeSet<&str> = schema["properties"]
        .as_object()
        .expect("top-level properties")
        .keys()
        .map(String::as_str)
        .collect();
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut checked = 0;
    for block in readme.split("```yaml\n").skip(1) {
        let text = block.split("\n```").next().expect("a closed block");
        let Ok(Value::Object(mut doc)) = serde_saphyr::from_str::<Value>(text) else {
            continue;
        };
        if !doc.keys().all(|k| top.contains(k.as_str())) {
            continue;
        }
        doc.entry("flows")
            .or_insert_with(|| yaml("- steps: [ { get: / } ]"));
        let problems = violations(&validator, &Value::Object(doc));
        assert!(problems.is_empty(), "{text}\n{}", problems.join("\n"));
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} README examples found");
}

/// A misspelt key, a wrong type and a few wrong values: refused by the schema, as by the
/// parser.
#[test]
fn the_schema_refuses_what_the_parser_refuses() {
    let validator = validator();
    let good = "target: demo\nload: { vus: 10, duration: 1s }\n\
                flows: [ { steps: [ { get: /, expect: { status: 200 } } ] } ]\n";
    assert!(validator.is_valid(&yaml(good)), "{good}");
    for (what, bad) in [
        ("a misspelt key", good.replace("flows:", "flowz:")),
        ("a wrong type", good.replace("vus: 10", "vus: \"ten\"")),
        (
            "a bare-number duration",
            good.replace("duration: 1s", "duration: 5"),
        ),
        (
            "a status out of range",
            good.replace("status: 200", "status: 600"),
        ),
        ("two methods", good.replace("get: /,", "get: /, post: /,")),
        (
            "an unknown policy",
            good.replace("get: /,", "get: /, on_error: retry,"),
        ),
    ] {
        assert!(
            !validator.is_valid(&yaml(&bad)),
            "the schema takes {what}:\n{bad}"
        );
        let (_dir, path) = common::scenario(&bad);
        let (code, out) = validate(&path);
        assert_eq!(code, Some(2), "the parser takes {what}:\n{bad}\n{out}");
    }
}

/// Runs `stampede validate` on `path`: (exit code, stdout and stderr).
fn validate(path: &Path) -> (Option<i32>, String) {
    let path = path.to_str().expect("a UTF-8 path");
    let out = common::stampede(&["validate", path], Duration::from_secs(20));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// One object of the scenario language: where the schema has it (object keys, `*` for a
/// map's values, `[]` for a list's items), the field a problem there is reported at, and a
/// valid scenario with `UNKNOWN` put into that object.
struct Place {
    schema_path: &'static [&'static str],
    field: &'static str,
    scenario: String,
}

/// A valid scenario whose one step is `step` (flow-style YAML) and `extra` added at the top.
fn with_step(step: &str, extra: &str) -> String {
    format!(
        "target: demo\nload: {{ vus: 1, duration: 1s }}\nflows: [ {{ steps: [ {step} ] }} ]\n{extra}"
    )
}

fn places() -> Vec<Place> {
    let top = |extra: &str| with_step("{ get: / }", extra);
    let step = |inner: &str| with_step(&format!("{{ get: /, {inner} }}"), "");
    let u = UNKNOWN;
    vec![
        Place {
            schema_path: &[],
            field: "",
            scenario: top(&format!("{u}: 1\n")),
        },
        Place {
            schema_path: &["defaults"],
            field: "defaults",
            scenario: top(&format!("defaults: {{ {u}: 1 }}\n")),
        },
        Place {
            schema_path: &["load"],
            field: "load",
            scenario: top("").replace("duration: 1s", &format!("duration: 1s, {u}: 1")),
        },
        Place {
            schema_path: &["load", "find_capacity"],
            field: "load.find_capacity",
            scenario: top("").replace(
                "{ vus: 1, duration: 1s }",
                &format!("{{ find_capacity: {{ start: 10/s, until: {{ p99: 1s }}, {u}: 1 }} }}"),
            ),
        },
        Place {
            schema_path: &["load", "stages", "[]"],
            field: "load.stages[0]",
            scenario: top("").replace(
                "{ vus: 1, duration: 1s }",
                &format!("{{ stages: [ {{ duration: 1s, vus: 1, {u}: 1 }} ] }}"),
            ),
        },
        Place {
            schema_path: &["data", "*"],
            field: "data.rows",
            scenario: top(&format!("data: {{ rows: {{ file: rows.csv, {u}: 1 }} }}\n")),
        },
        Place {
            schema_path: &["tls"],
            field: "tls",
            scenario: top(&format!("tls: {{ {u}: 1 }}\n")),
        },
        Place {
            schema_path: &["defaults", "server_time"],
            field: "defaults.server_time",
            scenario: top(&format!(
                "defaults: {{ server_time: {{ header: X-Runtime, {u}: 1 }} }}\n"
            )),
        },
        Place {
            schema_path: &["defaults", "tag_by"],
            field: "defaults.tag_by",
            scenario: top(&format!(
                "defaults: {{ tag_by: {{ status: true, {u}: 1 }} }}\n"
            )),
        },
        Place {
            schema_path: &["defaults", "retry"],
            field: "defaults.retry",
            scenario: top(&format!(
                "defaults: {{ retry: {{ attempts: 2, {u}: 1 }} }}\n"
            )),
        },
        Place {
            schema_path: &["thresholds", "[]"],
            field: "thresholds[0]",
            scenario: top(&format!(
                "thresholds: [ {{ threshold: p99 < 1s, {u}: 1 }} ]\n"
            )),
        },
        Place {
            schema_path: &["setup"],
            field: "setup",
            scenario: top(&format!("setup: {{ {u}: 1, steps: [ {{ get: / }} ] }}\n")),
        },
        Place {
            schema_path: &["flows", "[]"],
            field: "flows[0]",
            scenario: top("").replace("[ { steps", &format!("[ {{ {u}: 1, steps")),
        },
        Place {
            schema_path: &["flows", "[]", "steps", "[]"],
            field: "flows[0].steps[0]",
            scenario: step(&format!("{u}: 1")),
        },
        Place {
            schema_path: &["flows", "[]", "steps", "[]", "multipart", "[]"],
            field: "flows[0].steps[0].multipart[0]",
            scenario: step(&format!("multipart: [ {{ name: a, value: b, {u}: 1 }} ]")),
        },
        Place {
            schema_path: &["flows", "[]", "steps", "[]", "body_file"],
            field: "flows[0].steps[0].body_file",
            scenario: step(&format!("body_file: {{ path: x, {u}: 1 }}")),
        },
        Place {
            schema_path: &["flows", "[]", "steps", "[]", "expect"],
            field: "flows[0].steps[0].expect",
            scenario: step(&format!("expect: {{ {u}: 1 }}")),
        },
        Place {
            schema_path: &["flows", "[]", "steps", "[]", "expect", "body", "[]"],
            field: "flows[0].steps[0].expect.body[0]",
            scenario: step(&format!(
                "expect: {{ body: [ {{ exists: true, {u}: 1 }} ] }}"
            )),
        },
        Place {
            schema_path: &["flows", "[]", "steps", "[]", "expect", "headers", "*"],
            field: "flows[0].steps[0].expect.headers.x-a",
            scenario: step(&format!(
                "expect: {{ headers: {{ x-a: {{ exists: true, {u}: 1 }} }} }}"
            )),
        },
    ]
}

/// Closed objects of the schema that are no object of the parser's: `{ regex: ... }` and
/// `{ header: ..., regex: ... }` in `extract:` are free-form values that validation reads
/// as exactly those keys.
const NOT_PARSER_OBJECTS: &[&str] = &["/$defs/extraction/oneOf/1", "/$defs/extraction/oneOf/2"];

/// The keys the parser takes at `place`, from its message about an unknown key there.
fn parser_keys(place: &Place) -> BTreeSet<String> {
    let (_dir, path) = common::scenario(&place.scenario);
    let (code, out) = validate(&path);
    assert_eq!(code, Some(2), "{}\n{out}", place.scenario);
    // Serde names the unknown key's own path; validation (thresholds) the object's.
    let own = match place.field {
        "" => UNKNOWN.to_string(),
        f => format!("{f}.{UNKNOWN}"),
    };
    let line = out
        .lines()
        .find(|l| {
            l.contains(&format!("unknown field \"{UNKNOWN}\""))
                && (l.contains(&format!(": {own}: "))
                    || l.contains(&format!(": {}: ", place.field)))
        })
        .unwrap_or_else(|| panic!("no unknown-field problem at {own}:\n{out}"));
    let (_, list) = line
        .rsplit_once(" takes ")
        .unwrap_or_else(|| panic!("the message lists no keys: {line}"));
    list.split(", ").map(|k| k.trim().to_string()).collect()
}

#[test]
fn each_object_of_the_schema_has_exactly_the_keys_the_parser_takes() {
    let schema = schema();
    let mut covered = BTreeSet::new();
    let mut wrong = Vec::new();
    for place in places() {
        let nodes = schemas_at(&schema, place.schema_path);
        let closed: Vec<&String> = nodes
            .iter()
            .filter(|(_, n)| n.get("additionalProperties") == Some(&Value::Bool(false)))
            .map(|(pointer, _)| pointer)
            .collect();
        if closed.is_empty() {
            wrong.push(format!(
                "{:?}: no closed object here (additionalProperties: false), but the parser \
                 refuses unknown keys",
                place.schema_path
            ));
        }
        covered.extend(closed.into_iter().cloned());
        let in_schema: BTreeSet<String> = nodes
            .iter()
            .filter_map(|(_, n)| n.get("properties").and_then(Value::as_object))
            .flat_map(|p| p.keys().cloned())
            .collect();
        let in_parser = parser_keys(&place);
        if in_schema != in_parser {
            wrong.push(format!(
                "{:?}: only in the schema: {:?}; only in the parser: {:?}",
                place.schema_path,
                in_schema.difference(&in_parser).collect::<Vec<_>>(),
                in_parser.difference(&in_schema).collect::<Vec<_>>(),
            ));
        }
    }
    let mut all = BTreeSet::new();
    closed_objects(&schema, String::new(), &mut all);
    for pointer in all {
        if !covered.contains(&pointer) && !NOT_PARSER_OBJECTS.contains(&pointer.as_str()) {
            wrong.push(format!(
                "{pointer}: a closed object no Place checks against the parser; add one"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "schema/scenario.schema.json and the parser (src/scenario/raw.rs) disagree:\n{}",
        wrong.join("\n")
    );
}

/// The subschemas that apply at `path`, with their JSON pointers: each `$ref` followed and
/// each `allOf`/`oneOf`/`anyOf` branch included.
fn schemas_at<'a>(root: &'a Value, path: &[&str]) -> Vec<(String, &'a Value)> {
    let mut nodes = Vec::new();
    expand(root, root, String::new(), &mut nodes);
    for segment in path {
        let mut next = Vec::new();
        for (pointer, node) in &nodes {
            let (child, at) = match *segment {
                "*" => (
                    node.get("additionalProperties"),
                    "/additionalProperties".into(),
                ),
                "[]" => (node.get("items"), "/items".into()),
                key => (
                    node.get("properties").and_then(|p| p.get(key)),
                    format!("/properties/{key}"),
                ),
            };
            if let Some(child) = child.filter(|c| c.is_object()) {
                expand(root, child, format!("{pointer}{at}"), &mut next);
            }
        }
        nodes = next;
    }
    nodes
}

fn expand<'a>(
    root: &'a Value,
    node: &'a Value,
    pointer: String,
    out: &mut Vec<(String, &'a Value)>,
) {
    if let Some(target) = node.get("$ref").and_then(Value::as_str) {
        let target = target.strip_prefix('#').expect("a local $ref");
        let resolved = root.pointer(target).expect("$ref resolves");
        expand(root, resolved, target.to_string(), out);
    }
    for combinator in ["allOf", "oneOf", "anyOf"] {
        for (i, branch) in node
            .get(combinator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            expand(root, branch, format!("{pointer}/{combinator}/{i}"), out);
        }
    }
    out.push((pointer, node));
}

/// Pointers of every object schema with `additionalProperties: false`.
fn closed_objects(node: &Value, pointer: String, out: &mut BTreeSet<String>) {
    match node {
        Value::Object(map) => {
            if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                out.insert(pointer.clone());
            }
            for (k, v) in map {
                closed_objects(v, format!("{pointer}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                closed_objects(v, format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}
