//! One invalid scenario per failure mode, the scenario language's included (bad template,
//! unknown function, unknown data file or column, bad extraction path, stages): each must
//! fail with exit code 2 and a message that names the file, line and column (inside the
//! template, for templates), and the field to fix. `run` and `validate` agree.

mod common;

use std::time::Duration;

use common::stampede;

/// (fixture, expected "line:col", expected field path (none for the file as a whole), a word
/// of the explanation)
const CASES: &[(&str, &str, &str, &str)] = &[
    ("unknown_field", "5:3", "load.duraton", "unknown field"),
    ("wrong_type", "4:8", "load.vus", "whole number"),
    ("bad_duration", "5:13", "load.duration", "not a duration"),
    ("bad_rate", "4:9", "load.rate", "not a rate"),
    (
        "bad_tag_by",
        "6:17",
        "flows[0].steps[0].tag_by",
        "exactly one source",
    ),
    (
        "bad_server_time",
        "6:22",
        "flows[0].steps[0].server_time",
        "write unit: s, ms or us",
    ),
    (
        "bad_retry",
        "7:16",
        "flows[0].steps[0].retry",
        "runs from the longer wait",
    ),
    (
        "bad_retry_on",
        "5:10",
        "defaults.retry",
        "\"teapot\" is not something retried",
    ),
    (
        "init_header_missing",
        "5:29",
        "defaults.headers.authorization",
        "extracted by init step \"login\" of flow \"shop\"",
    ),
    (
        "init_header_unknown",
        "5:40",
        "defaults.headers.authorization",
        "what setup or a flow's init extracts",
    ),
    ("setup_init", "6:5", "setup.init", "setup runs once"),
    ("flow_once", "5:11", "flows[0].once", "a flow has no once"),
    ("capacity_step", "4:18", "load.find_capacity", "(1.5x)"),
    (
        "capacity_checks",
        "4:18",
        "load.find_capacity.until",
        "not kept per hold",
    ),
    (
        "capacity_thresholds",
        "6:5",
        "thresholds",
        "move these limits into until",
    ),
    (
        "capacity_until",
        "4:18",
        "load.find_capacity.until",
        "not a threshold metric",
    ),
    ("bad_target", "2:9", "target", "http://"),
    (
        "bad_step_url",
        "7:14",
        "flows[0].steps[0].url",
        "starting with /",
    ),
    ("empty_flow", "5:5", "flows[0].steps", "no steps"),
    ("vus_and_rate", "4:8", "load", "both set"),
    ("no_flows", "4:8", "flows", "no flows"),
    (
        "bad_status",
        "8:19",
        "flows[0].steps[0].expect.status",
        "not a status",
    ),
    (
        "missing_env",
        "8:37",
        "flows[0].steps[0].headers.authorization",
        "STAMPEDE_TEST_NEVER_SET is not set",
    ),
    ("no_stop", "4:3", "load", "no stop condition"),
    (
        "two_requests",
        "6:9",
        "flows[0].steps[0]",
        "give the request once",
    ),
    ("yaml_syntax", "5:12", "flows[0].steps", "unclosed bracket"),
    (
        "json_and_body",
        "8:15",
        "flows[0].steps[0].body",
        "both json and body",
    ),
    (
        "bad_header",
        "6:19",
        "defaults.headers.bad header",
        "not a valid header name",
    ),
    (
        "undefined_variable",
        "6:25",
        "flows[0].steps[0].url",
        "user_id is not defined",
    ),
    (
        "bad_template",
        "6:21",
        "flows[0].steps[0].body",
        "never closed",
    ),
    (
        "unknown_function",
        "5:24",
        "flows[0].steps[0].url",
        "unknown function \"random_number\"",
    ),
    (
        "unknown_data_file",
        "4:19",
        "data.people.file",
        "cannot read data file",
    ),
    (
        "unknown_data_column",
        "8:60",
        "flows[0].steps[0].json.email",
        "has no column mail",
    ),
    (
        "bad_extraction_path",
        "8:20",
        "flows[0].steps[0].extract.user_id",
        "not a body path",
    ),
    (
        "bad_stage",
        "5:7",
        "load.stages[1]",
        "all stages ramp the same model",
    ),
    (
        "bad_think",
        "6:16",
        "flows[0].steps[0].think",
        "shorter time to the longer",
    ),
    (
        "bad_check",
        "8:15",
        "flows[0].steps[0].expect.body[0]",
        "exactly one test",
    ),
    (
        "bad_on_error",
        "6:19",
        "flows[0].steps[0].on_error",
        "abort_iteration or continue",
    ),
    ("zero_vus", "4:8", "load.vus", "at least 1"),
    (
        "bad_soft",
        "8:59",
        "flows[0].steps[0].expect.headers.x-process-time.soft",
        "\"sometimes\" is not a boolean; write true or false",
    ),
    (
        "bad_method",
        "6:17",
        "flows[0].steps[0].method",
        "not an HTTP method",
    ),
    // Parser errors, retold: each used to print the parser's own words.
    (
        "duplicate_key",
        "5:3",
        "load.vus",
        "\"vus\" is given twice in this map (first on line 4); keep one",
    ),
    (
        "two_documents",
        "6:1",
        "",
        "a second YAML document starts here, but a scenario file holds one; delete this `---`",
    ),
    (
        "alias_bomb",
        "10:18",
        "variables.f",
        "the aliases (*name) here expand to more than 250,000 values",
    ),
    (
        "too_deep",
        "5:68",
        "variables.x",
        "nested more than 64 levels deep here; a scenario needs a few levels: flatten",
    ),
    (
        "data_file_extension",
        "4:19",
        "data.people.file",
        "a data file ends in .csv (with a header row) or .jsonl",
    ),
    (
        "over_indented_key",
        "5:5",
        "load.duration",
        "indented deeper than `vus:` on line 4, so YAML reads it as part of vus's value; if \
         `duration:` was meant as its own key, indent it like `vus:`",
    ),
    (
        "unknown_field_and_more",
        "5:3",
        "load.duraton",
        "unknown field \"duraton\"; did you mean duration? load takes vus, rate,",
    ),
    // Special files (issue 18, item 9): refused before a byte is read, where they are named.
    (
        "body_file_device",
        "6:20",
        "flows[0].steps[0].body_file",
        "/dev/zero: it is a character device, not a regular file",
    ),
    (
        "multipart_file_device",
        "7:32",
        "flows[0].steps[0].multipart[0].file",
        "/dev/urandom: it is a character device, not a regular file",
    ),
    (
        "tls_ca_device",
        "4:7",
        "tls.ca",
        "/dev/zero: it is a character device, not a regular file",
    ),
];

/// Words of the parser's own that no message may show.
const PARSER_WORDS: &[&str] = &[
    "DuplicateKeyPolicy",
    "from_str_multiple",
    "budget breached",
    "Depth {",
    "(used",
    "mapping values are not allowed",
    ".?:",
];

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/invalid/{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn each_failure_mode_names_file_line_and_field() {
    let mut seen = 0;
    for &(name, place, field, words) in CASES {
        let file = fixture(name);
        for command in ["validate", "run"] {
            let out = stampede(&[command, &file], Duration::from_secs(20));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} ({command}): {stderr}");
            let expected = format!("{file}:{place}");
            assert!(
                stderr.contains(&expected),
                "{name} ({command}): want {expected} in\n{stderr}"
            );
            assert!(
                field.is_empty() || stderr.contains(&format!(": {field}:")),
                "{name}: want field {field} in\n{stderr}"
            );
            for parser_word in PARSER_WORDS {
                assert!(!stderr.contains(parser_word), "{name}: {stderr}");
            }
            assert!(
                stderr.contains(words),
                "{name}: want \"{words}\" in\n{stderr}"
            );
            assert!(!stderr.contains("panicked"), "{name}: {stderr}");
            assert!(out.stdout.is_empty(), "{name} ({command}) printed a report");
        }
        seen += 1;
    }
    let files = std::fs::read_dir(format!(
        "{}/tests/fixtures/invalid",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixtures")
    .filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
    })
    .count();
    assert_eq!(
        seen + 1,
        files,
        "every fixture but many_problems has a case"
    );
}

#[test]
fn validate_reports_every_problem_not_just_the_first() {
    let file = fixture("many_problems");
    let out = stampede(&["validate", &file], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for want in [
        ":5:13: load.duration",
        ":9:14: flows[0].steps[0].url",
        ":11:18: flows[0].steps[1].timeout",
        ":12:27: flows[0].steps[1].expect.status",
    ] {
        assert!(stderr.contains(want), "want {want} in\n{stderr}");
    }
}

#[test]
fn an_unknown_field_does_not_hide_the_other_problems() {
    let file = fixture("unknown_field_and_more");
    for command in ["validate", "run"] {
        let out = stampede(&[command, &file], Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for want in [
            ":5:3: load.duraton: unknown field",
            ":8:14: flows[0].steps[0].url",
            ":10:18: flows[0].steps[1].timeout",
        ] {
            assert!(stderr.contains(want), "{command}: want {want} in\n{stderr}");
        }
        // The load has no stop condition only because of the typo: not reported.
        assert!(!stderr.contains("no stop condition"), "{stderr}");
    }
}

#[test]
fn a_data_file_error_names_the_file_once() {
    let file = fixture("data_file_extension");
    let out = stampede(&["validate", &file], Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("people.txt").count(), 1, "{stderr}");
}

#[test]
fn bad_command_line_values_exit_2() {
    for args in [
        vec!["run", "--url", "http://127.0.0.1:1/", "--rate", "fast"],
        vec!["run", "--url", "http://127.0.0.1:1/", "--duration", "5"],
        vec!["run", "--url", "not a url"],
        vec!["run", "--url", "http://127.0.0.1:1/", "--target", "ftp://x"],
        vec!["run", "/nonexistent/scenario.yaml"],
    ] {
        let out = stampede(&args, Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}

/// A FIFO named by a scenario (as `body_file`, as `tls.ca`) or as the scenario itself is
/// refused without opening it (opening a FIFO blocks until a writer comes: `validate`
/// hung), and a file above its cap is refused from its size (issue 18, item 9). The files
/// are made here: a FIFO by `mkfifo`, the large ones sparse (`set_len`), so nothing big is
/// written.
#[test]
fn fifos_and_files_above_their_cap_are_refused_at_their_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo");
    let big = dir.path().join("big.bin");
    let file = std::fs::File::create(&big).expect("create");
    file.set_len(64 * 1024 * 1024 + 1).expect("set_len");
    let head = "target: https://127.0.0.1:8443\nload: { vus: 1, iterations: 1 }\n";
    let step = "flows:\n  - steps:\n      - post: /upload\n";
    // Five steps naming a 60 MiB file each: within the cap one by one, 300 MiB in all.
    let mid = dir.path().join("mid.bin");
    let file = std::fs::File::create(&mid).expect("create");
    file.set_len(60 * 1024 * 1024).expect("set_len");
    let five = "      - post: /upload\n        body_file: mid.bin\n".repeat(5);
    let cases = [
        (
            format!("{head}{step}        body_file: {}\n", fifo.display()),
            "6:20",
            "flows[0].steps[0].body_file",
            "it is a FIFO (named pipe), not a regular file",
        ),
        (
            format!("{head}tls:\n  ca: {}\n{step}", fifo.display()),
            "4:7",
            "tls.ca",
            "it is a FIFO (named pipe), not a regular file",
        ),
        (
            format!("{head}{step}        body_file: big.bin\n"),
            "6:20",
            "flows[0].steps[0].body_file",
            "it is larger than 64 MiB, the most stampede reads of a request body file",
        ),
        (
            format!("{head}flows:\n  - steps:\n{five}"),
            "14:20",
            "flows[0].steps[4].body_file",
            "the scenario's body files come to more than 256 MiB in all",
        ),
    ];
    for (i, (text, place, field, words)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("s{i}.yaml"));
        std::fs::write(&path, text).expect("write");
        let file = path.display().to_string();
        for command in ["validate", "run"] {
            let out = stampede(&[command, &file], Duration::from_secs(10));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {text}: {stderr}");
            let want = format!("{file}:{place}: {field}: ");
            assert!(stderr.contains(&want), "want {want} in\n{stderr}");
            assert!(stderr.contains(words), "want {words} in\n{stderr}");
        }
    }
    // The scenario file itself: a FIFO, and a file above 16 MiB.
    let large = dir.path().join("large.yaml");
    let file = std::fs::File::create(&large).expect("create");
    file.set_len(16 * 1024 * 1024 + 1).expect("set_len");
    for (path, words) in [
        (&fifo, "it is a FIFO (named pipe), not a regular file"),
        (
            &large,
            "larger than 16 MiB, the most stampede reads of a scenario file",
        ),
    ] {
        let file = path.display().to_string();
        let out = stampede(&["validate", &file], Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&file) && stderr.contains(words), "{stderr}");
    }
}
