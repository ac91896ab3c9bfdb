//! Every scenario shipped in `scenarios/` must validate, so examples cannot rot.

mod common;

use std::time::Duration;

#[test]
fn every_shipped_scenario_validates() {
    let dir = format!("{}/scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        })
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("quickstart.yaml")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("reference.yaml")),
        "{files:?}"
    );
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = common::stampede(&args, Duration::from_secs(20));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok")).count(),
        files.len(),
        "{stdout}"
    );
}
