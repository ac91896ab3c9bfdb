//! Build script: records the git commit the binary was built from, for `stampede --version`
//! (`0.1.0 (41c52fe)`). Outside a git checkout (a source tarball) it says `unknown`, unless
//! the environment's `STAMPEDE_COMMIT` names it (the Dockerfile's build argument).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=STAMPEDE_COMMIT");
    // A build without the repository (a container image) may say its commit itself.
    if let Ok(commit) = std::env::var("STAMPEDE_COMMIT")
        && !commit.trim().is_empty()
    {
        println!("cargo:rustc-env=STAMPEDE_COMMIT={}", commit.trim());
        return;
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    let suffix = if dirty && commit != "unknown" {
        "-modified"
    } else {
        ""
    };
    println!("cargo:rustc-env=STAMPEDE_COMMIT={commit}{suffix}");
    // A new commit (or a checkout) changes HEAD or the ref it points to.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-changed=.git/index");
}
