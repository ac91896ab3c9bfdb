//! URL runs with oha's and hey's flags: a positional URL, -c/-n/-z/-q, -m, -H, -d/-D, -T,
//! -a and --json-body reach the wire as given (seen by a recording server on 127.0.0.1 port
//! 0); --print-scenario writes a file that sends the same requests; request flags next to a
//! scenario file are refused with the fix.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::stampede;

/// A server that answers every request `200 ok` on kept-alive connections and records each
/// request's head and body as text.
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut writer = stream;
                    loop {
                        let mut head = String::new();
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                        let length = head
                            .lines()
                            .find_map(|l| {
                                let (n, v) = l.split_once(':')?;
                                n.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0usize);
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let text = format!("{head}\r\n{}", String::from_utf8_lossy(&body));
                        log.lock().expect("log").push(text);
                        let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if writer.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("log").clone()
    }
}

#[test]
fn request_flags_reach_the_wire() {
    let server = Recorder::start();
    let url = format!("{}/items?x=1", server.url);
    let out = stampede(
        &[
            &url,
            "-c",
            "2",
            "-n",
            "6",
            "-m",
            "PUT",
            "-H",
            "X-Trace: abc 123",
            "-H",
            "accept:text/plain",
            "-d",
            "{\"id\": 7}",
            "-T",
            "application/vnd.test+json",
            "-a",
            "user:pass",
            "--timeout",
            "5s",
            "--headless",
        ],
        Duration::from_secs(30),
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{summary}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 6, "-n 6");
    for r in &seen {
        assert!(r.starts_with("PUT /items?x=1 HTTP/1.1\r\n"), "{r}");
        let lower = r.to_ascii_lowercase();
        assert!(lower.contains("x-trace: abc 123\r\n"), "{r}");
        assert!(lower.contains("accept: text/plain\r\n"), "{r}");
        assert!(
            lower.contains("content-type: application/vnd.test+json\r\n"),
            "{r}"
        );
        assert!(r.contains("Basic dXNlcjpwYXNz\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\n{\"id\": 7}"), "{r}");
    }
    assert!(
        !summary.contains("dXNlcjpwYXNz"),
        "the credential stays out of the summary"
    );
}

#[test]
fn json_body_sets_the_type_and_a_body_file_is_read() {
    let server = Recorder::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("payload.json");
    std::fs::write(&file, "{\"n\": [1, 2]}").expect("write");
    let url = format!("{}/in", server.url);
    let out = stampede(
        &[
            &url,
            "-n",
            "2",
            "-c",
            "1",
            "-m",
            "POST",
            "--json-body",
            "-D",
            file.to_str().expect("path"),
            "--headless",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for r in server.requests() {
        assert!(
            r.to_ascii_lowercase()
                .contains("content-type: application/json\r\n"),
            "{r}"
        );
        let body = r.split("\r\n\r\n").nth(1).expect("body");
        let v: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(v["n"], serde_json::json!([1, 2]));
    }
    let bad = stampede(
        &[&url, "--json-body", "-d", "{nope"],
        Duration::from_secs(10),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--json-body: the body is not JSON"));
}

#[test]
fn print_scenario_writes_a_file_that_sends_the_same_requests() {
    let server = Recorder::start();
    let url = format!("{}/p", server.url);
    let args = [
        &url as &str,
        "-n",
        "3",
        "-c",
        "1",
        "-m",
        "PATCH",
        "-H",
        "X-A: 1",
        "-d",
        "hello",
    ];
    let printed = stampede(
        &[&args[..], &["--print-scenario"]].concat(),
        Duration::from_secs(10),
    );
    assert_eq!(printed.status.code(), Some(0));
    assert!(server.requests().is_empty(), "printing sends nothing");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("adhoc.yaml");
    std::fs::write(&file, &printed.stdout).expect("write");
    let direct = stampede(
        &[&args[..], &["--headless"]].concat(),
        Duration::from_secs(30),
    );
    assert_eq!(direct.status.code(), Some(0));
    let from_url = server.requests();
    let run = stampede(
        &["run", file.to_str().expect("path"), "--headless"],
        Duration::from_secs(30),
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let all = server.requests();
    let from_file = &all[from_url.len()..];
    assert_eq!(from_url.len(), 3);
    assert_eq!(from_file.len(), 3);
    let norm = |r: &str| {
        let mut lines: Vec<String> = r.lines().map(str::to_ascii_lowercase).collect();
        lines.sort();
        lines
    };
    assert_eq!(norm(&from_url[0]), norm(&from_file[0]));
}

#[test]
fn request_flags_next_to_a_file_are_refused() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.yaml");
    for flag in [&["-H", "A: b"][..], &["-d", "x"], &["-m", "POST"]] {
        let out = stampede(
            &[&[path.to_str().expect("path")][..], flag].concat(),
            Duration::from_secs(10),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("applies to a URL run"), "{err}");
    }
    // --print-scenario is not a request flag: with a file, it prints the file as the run
    // reads it (here unchanged, no flag changes it).
    let file = path.to_str().expect("path");
    let out = stampede(&[file, "--print-scenario"], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
    let out = stampede(
        &["http://127.0.0.1:1/", "-H", "no colon"],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write Name: value"));
}

/// A URL run's arguments, the variables its printed scenario reads, and the secrets that
/// must not be printed.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a [&'a str]);

/// `--print-scenario` writes no secret (issue 18, item 4): a URL password, a `token=` value,
/// `Authorization` (from `-a` or `-H`), `Cookie` and a `--secret` header become
/// `{{ env.NAME }}` references named in a comment, `secrets:` is kept, and with those
/// variables set the printed file sends what the URL run sends.
#[test]
fn print_scenario_writes_no_secret_and_reads_them_from_the_environment() {
    use base64::Engine as _;
    let server = Recorder::start();
    let host = server.url.trim_start_matches("http://");
    let with_url = format!("http://bob:pw0rd-x@{host}/p?token=t0k3n-x&limit=5");
    let plain = format!("{}/q", server.url);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ann:pa55-x")
    );
    let cases: [Case<'_>; 2] = [
        (
            vec![
                &with_url,
                "-H",
                "Cookie: sid=c00kie-x",
                "-H",
                "X-Api-Key: k3y-x",
                "--secret",
                "X-Api-Key",
            ],
            vec![
                ("STAMPEDE_URL_PASSWORD", "pw0rd-x"),
                ("STAMPEDE_QUERY_TOKEN", "t0k3n-x"),
                ("STAMPEDE_COOKIE", "sid=c00kie-x"),
                ("STAMPEDE_X_API_KEY", "k3y-x"),
            ],
            &["pw0rd-x", "t0k3n-x", "c00kie-x", "k3y-x"],
        ),
        (
            vec![
                &plain,
                "-a",
                "ann:pa55-x",
                "-H",
                "Proxy-Authorization: Bearer b34rer-x",
            ],
            vec![
                ("STAMPEDE_AUTHORIZATION", &basic),
                ("STAMPEDE_PROXY_AUTHORIZATION", "Bearer b34rer-x"),
            ],
            &["pa55-x", basic.trim_start_matches("Basic "), "b34rer-x"],
        ),
    ];
    for (args, vars, secrets) in cases {
        let args = [&args[..], &["-n", "2", "-c", "1"]].concat();
        let printed = stampede(
            &[&args[..], &["--print-scenario"]].concat(),
            Duration::from_secs(10),
        );
        let yaml = String::from_utf8_lossy(&printed.stdout).into_owned();
        assert_eq!(printed.status.code(), Some(0), "{yaml}");
        for s in secrets {
            assert!(!yaml.contains(s), "{s} in the printed scenario:\n{yaml}");
        }
        for (name, _) in &vars {
            assert!(
                yaml.contains(&format!("#   export {name}=")),
                "no comment for {name}:\n{yaml}"
            );
            assert!(
                yaml.contains(&format!("{{{{ env.{name} }}}}")),
                "no reference to {name}:\n{yaml}"
            );
        }
        if args.contains(&"--secret") {
            assert!(yaml.contains("secrets: [\"X-Api-Key\"]"), "{yaml}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("adhoc.yaml");
        std::fs::write(&file, &printed.stdout).expect("write");
        let before = server.requests().len();
        let direct = stampede(
            &[&args[..], &["--headless"]].concat(),
            Duration::from_secs(30),
        );
        assert_eq!(
            direct.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&direct.stderr)
        );
        let from_url = server.requests()[before..].to_vec();
        let mut run = std::process::Command::new(common::binary());
        run.args(["run", file.to_str().expect("path"), "--headless"]);
        for (name, value) in &vars {
            run.env(name, value);
        }
        let run = common::wait_with_limit(
            run.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn"),
            Duration::from_secs(30),
        );
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let all = server.requests();
        let from_file = &all[before + from_url.len()..];
        assert_eq!((from_url.len(), from_file.len()), (2, 2));
        let norm = |r: &str| {
            let mut lines: Vec<String> = r.lines().map(str::to_ascii_lowercase).collect();
            lines.sort();
            lines
        };
        assert_eq!(norm(&from_url[0]), norm(&from_file[0]));
        for s in secrets
            .iter()
            .filter(|s| !s.starts_with("pa55") && !s.starts_with("pw0rd"))
        {
            assert!(from_file[0].contains(s), "{s} not sent:\n{}", from_file[0]);
        }
    }
}
