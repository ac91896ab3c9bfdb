//! Shell integration: completion scripts for every shell clap_complete supports here, the
//! manual page, and `--version` with the commit.

mod common;

use std::time::Duration;

use common::stampede;

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = stampede(&["completions", shell], Duration::from_secs(10));
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
        assert!(
            text.contains("stampede") && text.contains("threshold"),
            "{shell}"
        );
    }
    // The bash script is valid bash.
    let out = stampede(&["completions", "bash"], Duration::from_secs(10));
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("stampede.bash");
    std::fs::write(&script, &out.stdout).expect("write");
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .expect("bash runs");
    assert!(check.success());
    let bad = stampede(&["completions", "tcsh"], Duration::from_secs(10));
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_manual_page_covers_every_subcommand() {
    let out = stampede(&["man"], Duration::from_secs(10));
    let page = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        page.starts_with(".ie") || page.contains(".TH stampede"),
        "{page}"
    );
    for section in [
        "NAME",
        "SYNOPSIS",
        "SUBCOMMANDS",
        "\"STAMPEDE RUN OPTIONS\"",
    ] {
        assert!(page.contains(&format!(".SH {section}")), "no {section}");
    }
    assert!(
        page.contains("metrics\\-listen"),
        "run's flags are documented"
    );
}

#[test]
fn version_names_the_commit() {
    let out = stampede(&["--version"], Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stdout);
    let rest = text
        .trim()
        .strip_prefix(&format!("stampede {} (", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{text}"));
    let commit = rest.strip_suffix(')').expect("closing parenthesis");
    let hex = commit.trim_end_matches("-modified");
    assert!(
        hex == "unknown" || (hex.len() == 7 && hex.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
}
