//! The HTML report opened in headless Chromium (`tests/browser/render_report.py`), for tests
//! that read the page as a person sees it.

use std::path::{Path, PathBuf};

pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

/// Opens `page` in headless Chromium; `None` when there is none (outside CI).
pub fn render(page: &Path, name: &str) -> Option<String> {
    let out_dir = artifacts().join(name);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/render_report.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(page)
        .arg(&out_dir)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Some(std::fs::read_to_string(out_dir.join("dom.html")).expect("the DOM")),
        Some(2) => {
            super::skip_without(
                "Chromium not installed",
                &format!("apt-get install chromium; {}", text.trim()),
            );
            None
        }
        _ => panic!("the report did not render cleanly:\n{text}"),
    }
}
