//! A shard's part of a split run, around the load: who runs setup (`setup: { once: true }`:
//! shard 0 runs it and writes its values to `--setup-out`, the others wait for them at
//! `--setup-in`), and the common start (`--start-at`: every shard waits for one instant).
//!
//! The setup file is written whole or not at all (a temporary file, then a rename), readable
//! by its owner only (it may hold a token), and names the plan's fingerprint and the start
//! instant, so a shard never takes a file of another plan or of an earlier run started at
//! another instant. Depends on `scenario` (the plan), `signals` and `files`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::scenario::Plan;
use crate::signals::StopSignals;

/// How this process takes part in a split run.
#[derive(Debug, Clone, Default)]
pub struct Distributed {
    /// `--start-at` (or `STAMPEDE_START_AT`): the instant the load begins in every shard.
    pub start_at: Option<SystemTime>,
    /// `--setup-out`: where shard 0 writes setup's values (`setup: { once: true }`).
    pub setup_out: Option<PathBuf>,
    /// `--setup-in`: where the other shards read them.
    pub setup_in: Option<PathBuf>,
    /// How long the other shards wait for them.
    pub setup_wait: Duration,
    /// `--log-result`: the result also goes to stdout between marker lines.
    pub log_result: bool,
    /// `--run-id` (or `STAMPEDE_RUN_ID`): which run of the plan this shard belongs to.
    pub run_id: Option<String>,
}

/// Prints the result between the marker lines `stampede merge --from-log` looks for.
pub fn log_result(json: &str) -> Result<(), String> {
    use crate::report::merge::{LOG_BEGIN, LOG_END};
    crate::out::text(&format!("{LOG_BEGIN}\n{json}\n{LOG_END}\n"))
        .map_err(|e| format!("cannot print the result to stdout: {e}"))
}

/// Who runs the setup flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupRole {
    /// This process runs it (no setup, a plan not split, or setup in every shard).
    Run,
    /// Shard 0 of `setup: { once: true }`: runs it, then writes its values here.
    Share(PathBuf),
    /// Another shard of `setup: { once: true }`: takes the values from here.
    Receive(PathBuf),
}

/// This process's part in setup; `Err` (before any request) when `setup: { once: true }`
/// lacks the file it needs.
pub fn setup_role(plan: &Plan, d: &Distributed) -> Result<SetupRole, String> {
    let shard = plan.shard();
    if plan.setup.is_none() || !plan.setup_once || !shard.is_split() {
        return Ok(SetupRole::Run);
    }
    let (flag, path) = match shard.index {
        0 => ("--setup-out", &d.setup_out),
        _ => ("--setup-in", &d.setup_in),
    };
    let Some(path) = path.clone() else {
        return Err(format!(
            "setup: {{ once: true }} runs setup in shard 0 alone, which hands its values to \
             the others through a file: give every shard --setup-out PATH --setup-in PATH \
             (the same path on a shared volume); shard {shard} needs {flag}"
        ));
    };
    Ok(match shard.index {
        0 => SetupRole::Share(path),
        _ => SetupRole::Receive(path),
    })
}

/// The setup file's content.
#[derive(Debug, Serialize, Deserialize)]
struct SetupFile {
    /// The plan's fingerprint: a file of another plan is not taken.
    fingerprint: String,
    /// The run's `--start-at` (RFC 3339) and `--run-id`, if any: a file of an earlier run
    /// is not taken.
    start_at: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    /// What setup extracted, by name.
    values: Vec<(String, String)>,
}

fn start_text(at: Option<SystemTime>) -> Option<String> {
    at.map(|t| humantime::format_rfc3339_millis(t).to_string())
}

/// Writes setup's `values` for the other shards, whole or not at all.
pub fn write_setup(
    path: &Path,
    plan: &Plan,
    d: &Distributed,
    values: Vec<(String, String)>,
) -> Result<(), String> {
    let file = SetupFile {
        fingerprint: fingerprint(plan),
        start_at: start_text(d.start_at),
        run_id: d.run_id.clone(),
        values,
    };
    let text = serde_json::to_string(&file).map_err(|e| e.to_string())?;
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let fail =
        |e: std::io::Error| format!("cannot write setup's values to {}: {e}", path.display());
    write_private(&temporary, text.as_bytes()).map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

fn fingerprint(plan: &Plan) -> String {
    plan.shard
        .as_ref()
        .map(|s| s.fingerprint.clone())
        .unwrap_or_default()
}

/// How often a shard looks for the setup file.
const POLL: Duration = Duration::from_millis(100);

/// Waits for shard 0's setup values at `path` (at most `d.setup_wait`); `Ok(None)`: a
/// signal came first. A file of another plan or another start is waited past, not taken.
pub async fn receive_setup(
    path: &Path,
    plan: &Plan,
    d: &Distributed,
    signals: &mut StopSignals,
) -> Result<Option<Vec<(String, String)>>, String> {
    let deadline = tokio::time::Instant::now() + d.setup_wait;
    let (want, start) = (fingerprint(plan), start_text(d.start_at));
    let mut last = String::from("it does not exist yet");
    loop {
        match std::fs::read_to_string(path) {
            Ok(text) => match serde_json::from_str::<SetupFile>(&text) {
                Ok(f) if f.fingerprint == want && f.start_at == start && f.run_id == d.run_id => {
                    return Ok(Some(f.values));
                }
                Ok(_) => last = "it is another plan's, or another run's".into(),
                Err(e) => last = format!("it is not a setup file ({e})"),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "shard 0's setup values did not come within {} at {} ({last}); check that \
                 shard 0 runs with --setup-out on the same shared path, or raise --setup-wait",
                humantime::format_duration(d.setup_wait),
                path.display()
            ));
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = signals.recv() => return Ok(None),
        }
    }
}

/// Waits until `at` (`--start-at`); `false`: a signal came first. An instant already past
/// starts at once (the result records how late).
pub async fn wait_until(at: SystemTime, signals: &mut StopSignals) -> bool {
    let Ok(left) = at.duration_since(SystemTime::now()) else {
        return true;
    };
    crate::note!(
        "waiting {} for --start-at {}",
        humantime::format_duration(Duration::from_millis(left.as_millis() as u64)),
        humantime::format_rfc3339_millis(at)
    );
    tokio::select! {
        () = tokio::time::sleep(left) => true,
        () = signals.recv() => false,
    }
}
