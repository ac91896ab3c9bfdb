//! Against real servers from Debian's packages, each started here on 127.0.0.1 for its test
//! and killed after it (`.ci/run` installs them; elsewhere a test whose server is not
//! installed says so and is skipped):
//! - nginx, whose access log is the ground truth of what reached it. Over HTTP/1.1 and over
//!   h2c it ends each connection after `keepalive_requests 10` (`Connection: close`; a
//!   GOAWAY on HTTP/2), and stampede's requests, statuses and body bytes, step by step,
//!   equal the log's, with no error: over HTTP/1.1 with the connections the closes made
//!   it open, over HTTP/2 with the closes counted as graceful.
//! - Prometheus, scraping `--metrics-listen` every second: after the run, its query API
//!   answers the run's own request count, and saw the run live and ended.
//!
//! Neither takes port 0: each test asks the system for a free port on 127.0.0.1
//! (`free_ports`) and hands it over.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Demo, run_json, scenario, skip_without};

/// The size of nginx's static file, `/4k`.
const FILE: u64 = 4096;

/// Two ports on 127.0.0.1 that were free a moment ago (both held until both are known,
/// so they differ).
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind("127.0.0.1:0").expect("bind");
    let (a, b) = (bind(), bind());
    let port = |l: &TcpListener| l.local_addr().expect("an address").port();
    (port(&a), port(&b))
}

/// `name` on the PATH or in /usr/sbin (nginx is there, off a user's PATH).
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    (path.split(':').chain(["/usr/sbin"]))
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// A server's process, killed when the test ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tests run one at a time, so that one test's servers never pick a port another's
/// picked and have not bound yet (stampede's metrics port is bound seconds after it is
/// picked).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

impl Process {
    /// Starts `program` with `args`, its output into `log`, and waits until each of `ports`
    /// accepts a connection; panics with the log if it ends first or 20 s pass.
    fn start(program: &Path, args: &[String], log: &Path, ports: &[u16]) -> Self {
        let out = std::fs::File::create(log).expect("a log file");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("the log"))
            .stderr(out)
            .spawn()
            .expect("the server starts");
        let mut process = Process(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let text = || std::fs::read_to_string(log).unwrap_or_default();
        let listening = || (ports.iter()).all(|&p| TcpStream::connect(("127.0.0.1", p)).is_ok());
        loop {
            let ended = process.0.try_wait().expect("wait");
            assert!(ended.is_none(), "{} ended: {}", program.display(), text());
            if listening() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} not listening: {}",
                program.display(),
                text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        process
    }
}

/// An HTTP/1.0 GET of `path` on 127.0.0.1:`port`: (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let addr = format!("127.0.0.1:{port}");
    let (head, body) = common::http_get(&addr, path, Duration::from_secs(10));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    (status.unwrap_or(0), body)
}

/// nginx with one worker, its files in a folder of its own: `/ok` answers `ok`, `/4k` is a
/// static file of `FILE` bytes, on an HTTP/1.1 port and an h2c port.
struct Nginx {
    // Fields drop in order: nginx ends before its folder is removed.
    _process: Process,
    dir: tempfile::TempDir,
    http1: u16,
    h2c: u16,
}

impl Nginx {
    fn start() -> Option<Self> {
        let Some(nginx) = program("nginx") else {
            skip_without("nginx not installed", "apt-get install nginx");
            return None;
        };
        let dir = tempfile::tempdir().expect("a folder");
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("www")).expect("www");
        std::fs::create_dir_all(dir.path().join("temp")).expect("temp");
        let file: Vec<u8> = (0..FILE).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(dir.path().join("www/4k"), file).expect("the file");
        let (http1, h2c) = free_ports();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\n\
               log_format counted '$server_protocol $status $request_method $uri $body_bytes_sent';\n\
               access_log {d}/access.log counted;\n\
               client_body_temp_path {d}/temp; proxy_temp_path {d}/temp;\n\
               fastcgi_temp_path {d}/temp; uwsgi_temp_path {d}/temp; scgi_temp_path {d}/temp;\n\
               keepalive_requests 10;\n\
               default_type application/octet-stream;\n\
               server {{\n\
                 listen 127.0.0.1:{http1};\n\
                 listen 127.0.0.1:{h2c} http2;\n\
                 root {d}/www;\n\
                 location = /ok {{ return 200 'ok'; }}\n\
               }}\n\
             }}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("nginx.conf");
        let args = [
            "-p".to_string(),
            d.to_string(),
            "-c".into(),
            conf_path.display().to_string(),
            "-e".into(),
            format!("{d}/error.log"),
        ];
        let log = dir.path().join("nginx.out");
        let process = Process::start(&nginx, &args, &log, &[http1, h2c]);
        Some(Self {
            dir,
            http1,
            h2c,
            _process: process,
        })
    }

    /// The access log's lines (protocol, status, method, path, body bytes), once it holds
    /// `expected` of them (nginx writes a line as a request ends) or 5 s passed.
    fn log(&self, expected: usize) -> Vec<Vec<String>> {
        let path = self.dir.path().join("access.log");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<Vec<String>> = (text.lines())
                .map(|l| l.split(' ').map(str::to_string).collect())
                .collect();
            if lines.len() >= expected || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// 500 iterations of `/ok` then `/4k` from 8 users against nginx on `port`.
fn run_against_nginx(port: u16, extra: &str) -> serde_json::Value {
    let (_dir, path) = scenario(&format!(
        "target: http://127.0.0.1:{port}\n{extra}load: {{ vus: 8, iterations: 500 }}\n\
         flows:\n  - steps:\n      - {{ name: ok, get: /ok }}\n      - {{ name: file, get: /4k }}\n"
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(120));
    assert_eq!(code, 0, "{stderr}");
    doc
}

/// stampede's figures equal nginx's access log: every request, status and body byte, step
/// by step, all spoken in `protocol`, and no error.
fn check_against_the_log(doc: &serde_json::Value, nginx: &Nginx, protocol: &str) {
    let total = &doc["total"];
    assert_eq!(total["errors"], 0, "{doc:#}");
    assert_eq!(total["requests"], 1000, "{doc:#}");
    let log = nginx.log(1000);
    assert_eq!(log.len(), 1000, "nginx's access log");
    let other = log.iter().find(|l| l[0] != protocol || l[1] != "200");
    assert!(other.is_none(), "not {protocol} 200: {other:?}");
    assert_eq!(total["status_codes"]["200"], 1000, "{doc:#}");
    let served = |path: &str| log.iter().filter(|l| l[3] == path).count() as u64;
    assert_eq!(common::step(doc, "ok")["requests"], served("/ok"));
    assert_eq!(common::step(doc, "file")["requests"], served("/4k"));
    let bytes: u64 = log.iter().filter_map(|l| l[4].parse::<u64>().ok()).sum();
    assert_eq!(bytes, 500 * (2 + FILE));
    assert_eq!(total["bytes_received"], bytes, "{doc:#}");
}

#[test]
fn nginx_over_http1_agrees_with_its_access_log_across_its_connection_closes() {
    let _alone = one_at_a_time();
    let Some(nginx) = Nginx::start() else {
        return;
    };
    let doc = run_against_nginx(nginx.http1, "");
    check_against_the_log(&doc, &nginx, "HTTP/1.1");
    // nginx closed each connection after 10 requests: 1,000 requests need 100 connections,
    // and each user's last one may be part-used.
    let opened = doc["protocol"]["connections_opened"].as_u64();
    assert!(opened.is_some_and(|n| (100..=108).contains(&n)), "{doc:#}");
}

#[test]
fn nginx_over_h2c_agrees_with_its_access_log_across_its_goaways() {
    let _alone = one_at_a_time();
    let Some(nginx) = Nginx::start() else {
        return;
    };
    let doc = run_against_nginx(nginx.h2c, "http2: true\nstreams_per_connection: 4\n");
    check_against_the_log(&doc, &nginx, "HTTP/2.0");
    assert_eq!(doc["protocol"]["http_version"], "2", "{doc:#}");
    // Every connection but the last ones ended with nginx's GOAWAY(NO_ERROR) after 10
    // streams; what it refused was sent again, and counted once (the log's count).
    let graceful = doc["protocol"]["graceful_closes"].as_u64();
    assert!(graceful.is_some_and(|n| n >= 90), "{doc:#}");
}

#[test]
fn prometheus_scrapes_the_live_metrics_and_answers_the_runs_count() {
    let _alone = one_at_a_time();
    let Some(prometheus) = program("prometheus") else {
        skip_without("Prometheus not installed", "apt-get install prometheus");
        return;
    };
    let demo = Demo::start();
    let dir = tempfile::tempdir().expect("a folder");
    let (metrics, web) = free_ports();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 900ms }}\n\
             scrape_configs:\n  - job_name: stampede\n    \
             static_configs: [ {{ targets: [ \"127.0.0.1:{metrics}\" ] }} ]\n"
        ),
    )
    .expect("prometheus.yml");
    let args = [
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{web}"),
    ];
    let _prometheus = Process::start(&prometheus, &args, &dir.path().join("out.log"), &[web]);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Ready, and scraping: its discovery hands targets over up to 5 s after the start.
    let target = format!("127.0.0.1:{metrics}");
    while get(web, "/-/ready").0 != 200 || !get(web, "/api/v1/targets").1.contains(&target) {
        assert!(Instant::now() < deadline, "Prometheus not scraping");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_dir, path) = scenario(&format!(
        "target: {}\nload: {{ vus: 2, duration: 3s }}\nflows:\n  - steps: [ {{ get: /delay/2 }} ]\n",
        demo.url
    ));
    let extra = ["--metrics-listen", &target, "--metrics-linger", "4s"];
    let (code, doc, _, stderr) = run_json(&path, &extra, Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let requests = doc["total"]["requests"].as_f64().expect("a count");
    assert!(requests > 0.0);
    // The target is gone now, and its series are marked stale: ask over the last minute.
    let query = |q: &str| -> Option<f64> {
        let encoded: String = (q.bytes())
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = get(web, &format!("/api/v1/query?query={encoded}"));
        assert_eq!(status, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        doc["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
    };
    let seen = query("sum(max_over_time(stampede_requests_total[1m]))");
    assert_eq!(seen, Some(requests), "Prometheus's count, and the run's");
    let running = "max_over_time(stampede_running[1m]) - min_over_time(stampede_running[1m])";
    assert_eq!(query(running), Some(1.0), "seen running, then ended");
}
