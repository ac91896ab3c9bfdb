//! Helpers shared by the integration tests: a demo service on 127.0.0.1 port 0 running on its
//! own runtime thread, and the built binary run with a hard time limit.

#![allow(dead_code)]

pub mod browser;
pub mod certs;
pub mod child;
pub mod fault;
pub mod server;
pub mod tmux;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede::demo::{Counters, DemoConfig, DemoServer};

/// A demo service for one test; stops when dropped.
pub struct Demo {
    pub url: String,
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Demo {
    pub fn start() -> Self {
        Self::start_on(0, DemoConfig::default())
    }

    /// A demo service with non-default settings (caps, timeouts).
    pub fn start_with(config: DemoConfig) -> Self {
        Self::start_on(0, config)
    }

    /// A demo service on 127.0.0.1 at `port` (0: any free port).
    pub fn start_on(port: u16, config: DemoConfig) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let server = DemoServer::bind(([127, 0, 0, 1], port).into(), config)
                    .await
                    .expect("bind demo");
                tx.send((server.addr, Arc::clone(&server.counters)))
                    .expect("send");
                let _ = stop_rx.await;
                server.stop().await;
            });
        });
        let (addr, counters) = rx.recv().expect("demo started");
        Self {
            url: format!("http://{addr}"),
            addr,
            counters,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Stops the service now (its port then refuses connections); returns when
    /// `DemoServer::stop` has.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`): there every
/// optional tool a test uses (tmux, Chromium, Python's readers) is required.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The one way a test goes without a tool that is missing: under CI it fails (CI installs
/// every tool, so a missing one is a broken setup); elsewhere it prints
/// `skipped: {what} ({fix})` and the caller returns. The line is written to the process's
/// stderr directly, past the test harness's capture, so a passing run still shows it.
pub fn skip_without(what: &str, fix: &str) {
    assert!(!in_ci(), "CI must have this: {what} ({fix})");
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {what} ({fix})");
}

/// A GET of `path` from `addr` (`host:port`) over a plain socket, HTTP/1.0 so the server
/// closes when done, reading for at most `limit`: the response's head and body (the whole
/// text as the head when it has no blank line).
pub fn http_get(addr: &str, path: &str, limit: Duration) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(limit)).expect("a timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    match text.split_once("\r\n\r\n") {
        Some((head, body)) => (head.to_string(), body.to_string()),
        None => (text, String::new()),
    }
}

/// A file under `tests/fixtures/FOLDER/`, as a path string for the command line.
pub fn fixture(folder: &str, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(folder)
        .join(name);
    path.to_str().expect("utf-8").to_string()
}

/// A finished command's stdout and stderr, for an assertion's message.
pub fn output_text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `stampede init` with `args`, writing to `out`: it succeeds, and the scenario written
/// passes `stampede validate`. Returns the scenario's text and init's output (its
/// warnings are on stderr).
pub fn init_scenario(args: &[&str], out: &Path) -> (String, Output) {
    let mut all = vec!["init", "-o", out.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    let run = stampede(&all, Duration::from_secs(30));
    assert_eq!(run.status.code(), Some(0), "{}", output_text(&run));
    let yaml = std::fs::read_to_string(out).expect("the scenario");
    let check = stampede(
        &["validate", out.to_str().expect("utf-8")],
        Duration::from_secs(20),
    );
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}\n{yaml}",
        output_text(&check)
    );
    (yaml, run)
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_stampede")
}

/// Runs stampede with `args`, killing it after `limit`.
pub fn stampede(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stampede");
    wait_with_limit(child, limit)
}

/// A shell line that runs the scenario at `path` headless, writing its JSON to `json`,
/// after `setup` (e.g. `ulimit -n 128 &&`, `trap '' HUP;`): for `spawn_sh`.
pub fn run_behind(setup: &str, path: &Path, json: &Path) -> String {
    format!(
        "{setup} exec '{}' run '{}' --headless --json '{}'",
        binary(),
        path.display(),
        json.display()
    )
}

/// Starts `sh -c script` (a stampede run behind `ulimit`, `trap`, ...) with its output
/// captured; wait for it with `wait_with_limit`.
pub fn spawn_sh(script: &str) -> std::process::Child {
    Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh")
}

/// Sends `signal` (e.g. "TERM") to `child` with kill(1).
pub fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal}");
}

pub fn wait_with_limit(mut child: std::process::Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "stampede ran longer than {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes a scenario into a fresh temporary directory; returns (dir guard, file path).
pub fn scenario(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scenario.yaml");
    std::fs::write(&path, text).expect("write scenario");
    (dir, path)
}

/// Runs a scenario against `target` and returns (exit code, parsed JSON report, stdout, stderr).
pub fn run_json(
    path: &Path,
    extra: &[&str],
    limit: Duration,
) -> (i32, serde_json::Value, String, String) {
    let json = path.with_extension("json");
    let mut args = vec![
        "run",
        path.to_str().expect("utf-8 path"),
        "--headless",
        "--json",
    ];
    args.push(json.to_str().expect("utf-8 path"));
    args.extend_from_slice(extra);
    let out = stampede(&args, limit);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no JSON report ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    let doc = serde_json::from_str(&text).expect("valid JSON report");
    (out.status.code().unwrap_or(-1), doc, stdout, stderr)
}

/// The JSON report at `path`, parsed.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no JSON report at {} ({e})", path.display()));
    serde_json::from_str(&text).expect("valid JSON report")
}

/// The step named `name` in a JSON report.
pub fn step<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name} in {doc:#}"))
}

/// The count of an error class in a stats object (0 if absent).
pub fn error_count(stats: &serde_json::Value, class: &str) -> u64 {
    stats["errors_by_class"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["class"] == class))
        .map_or(0, |e| e["count"].as_u64().unwrap_or(0))
}

/// The published result schema (`schema/result.schema.json`), ready to validate.
pub fn result_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/result.schema.json");
    let text = std::fs::read_to_string(path).expect("schema file");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::draft202012::new(&schema).expect("a valid schema")
}

/// Asserts that `doc` satisfies the result schema, listing every violation with its place.
pub fn assert_valid_result(doc: &serde_json::Value) {
    let problems: Vec<String> = result_schema()
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "schema violations:\n{}",
        problems.join("\n")
    );
}

/// A histogram of a result's `hdr` (base64 of the V2 encoding, deflated), read by
/// hdrhistogram's own decoder.
pub fn decode_histogram(text: &str) -> hdrhistogram::Histogram<u64> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64");
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("V2 deflate histogram")
}
