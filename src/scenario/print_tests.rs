//! `--print-scenario` with a file: each bundled scenario, with each set of flags, prints a
//! file that loads (from a file of its own, read independently of `file_yaml`'s check) to
//! the plan the original and the flags make.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file_yaml;
use crate::scenario::{Overrides, Plan, Target, Threshold, load};

fn env(_: &str) -> Option<String> {
    Some("from-the-environment".into())
}

/// A copy of `scenarios/` (the files and their data folder) to print next to.
fn scenarios() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    std::fs::create_dir(dir.path().join("data")).expect("data dir");
    for sub in ["", "data"] {
        for entry in std::fs::read_dir(src.join(sub)).expect("scenarios") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                let to = dir.path().join(sub).join(path.file_name().expect("name"));
                std::fs::copy(&path, to).expect("copy");
            }
        }
    }
    dir
}

fn plan(path: &Path, ov: &Overrides, thresholds: &[String]) -> Plan {
    let mut plan = load(path, &env, ov).expect("the bundled scenario loads");
    for t in thresholds {
        let t = Threshold::parse(t, &plan.step_names()).expect("threshold");
        plan.thresholds.push(t);
    }
    plan
}

/// Prints `name` with `ov`, writes it beside the original, and checks both plans agree.
fn round_trip(dir: &Path, name: &str, ov: &Overrides, thresholds: &[String]) -> String {
    let path = dir.join(name);
    let expected = plan(&path, ov, thresholds);
    let printed =
        file_yaml(&path, &expected, thresholds, &env, ov).unwrap_or_else(|e| panic!("{name}: {e}"));
    let copy: PathBuf = dir.join(format!("printed-{name}"));
    std::fs::write(&copy, &printed).expect("write");
    let mut back = plan(&copy, &Overrides::default(), &[]);
    back.source = expected.source.clone();
    if !printed.contains("\nname:") && !printed.starts_with("name:") {
        back.name.clone_from(&expected.name);
    }
    assert_eq!(
        format!("{back:?}"),
        format!("{expected:?}"),
        "{name}:\n{printed}"
    );
    printed
}

#[test]
fn no_flag_prints_the_file_as_it_is() {
    let dir = scenarios();
    for name in ["quickstart.yaml", "reference.yaml", "smoke.json"] {
        let printed = round_trip(dir.path(), name, &Overrides::default(), &[]);
        let text = std::fs::read_to_string(dir.path().join(name)).expect("read");
        assert_eq!(printed, text);
    }
}

#[test]
fn the_load_flags_are_written_into_the_files_load() {
    let dir = scenarios();
    let open = Overrides {
        rate: Some(37.5),
        max_in_flight: Some(64),
        duration: Some(Duration::from_millis(2500)),
        ..Overrides::default()
    };
    let closed = Overrides {
        vus: Some(7),
        iterations: Some(300),
        ..Overrides::default()
    };
    for name in [
        "quickstart.yaml",
        "crud.yaml",
        "reference.yaml",
        "login.yaml",
    ] {
        for ov in [&open, &closed] {
            let printed = round_trip(dir.path(), name, ov, &[]);
            assert!(
                printed.contains("written in (--print-scenario)"),
                "{printed}"
            );
            let comments = |t: &str| t.lines().filter(|l| l.starts_with('#')).count();
            let text = std::fs::read_to_string(dir.path().join(name)).expect("read");
            assert!(
                comments(&printed) > comments(&text),
                "the file's comments are kept"
            );
        }
    }
    let printed = round_trip(dir.path(), "quickstart.yaml", &open, &[]);
    assert!(printed.contains("  rate: \"37.5/s\"\n"), "{printed}");
    assert!(printed.contains("  duration: \"2500ms\"\n"), "{printed}");
}

#[test]
fn variables_secrets_thresholds_target_and_http_settings_are_written_in() {
    let dir = scenarios();
    let ov = Overrides {
        set: vec![("domain".into(), "example.org".into())],
        secrets: vec!["x-api-key".into()],
        target: Some(Target::Url("http://127.0.0.1:9".into())),
        http2: true,
        streams_per_connection: Some(4),
        insecure: true,
        proxy_from_env: true,
        ..Overrides::default()
    };
    let thresholds = vec!["p99 < 750ms".to_string()];
    for name in ["crud.yaml", "reference.yaml"] {
        let printed = round_trip(dir.path(), name, &ov, &thresholds);
        assert!(printed.contains("domain: \"example.org\""), "{printed}");
        assert!(printed.contains("- \"p99 < 750ms\""), "{printed}");
        assert!(
            printed.contains("target: \"http://127.0.0.1:9\""),
            "{printed}"
        );
    }
}

#[test]
fn what_cannot_be_written_in_is_refused_with_the_fix() {
    let dir = scenarios();
    let refused = |name: &str, ov: &Overrides| {
        let path = dir.path().join(name);
        let plan = plan(&path, ov, &[]);
        file_yaml(&path, &plan, &[], &env, ov).expect_err("refused")
    };
    let redirects = Overrides {
        follow_redirects: Some(2),
        ..Overrides::default()
    };
    assert!(refused("quickstart.yaml", &redirects).contains("defaults"));
    let json = Overrides {
        vus: Some(3),
        ..Overrides::default()
    };
    let why = refused("smoke.json", &json);
    assert!(
        why.contains("flow style or JSON") && why.contains("smoke.json"),
        "{why}"
    );
    let cut = Overrides {
        duration: Some(Duration::from_secs(3)),
        ..Overrides::default()
    };
    assert!(refused("login.yaml", &cut).contains("stages"));
    let secret = Overrides {
        target: Some(Target::Url("http://ann:pw@127.0.0.1:9".into())),
        ..Overrides::default()
    };
    assert!(refused("quickstart.yaml", &secret).contains("credentials"));
}
