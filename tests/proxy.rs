//! Proxies: `--proxy URL` / `proxy:` send every connection through an HTTP proxy (plain
//! HTTP/1.1 requests forwarded in absolute form; https and HTTP/2 through a CONNECT tunnel),
//! with the URL's credentials as `Proxy-Authorization`. The standard variables are read
//! only with `--proxy-from-env`, and `NO_PROXY` is honoured then. A proxy written here on
//! 127.0.0.1 port 0 counts what passes through it; the targets count what arrives.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::server::Server;
use common::{run_json, scenario};

/// What the proxy saw.
#[derive(Default)]
struct Passed {
    /// CONNECT tunnels opened.
    tunnels: AtomicU64,
    /// Requests forwarded in absolute form (`GET http://` request lines).
    forwarded: AtomicU64,
    /// Connections refused for missing credentials (407).
    refused: AtomicU64,
}

struct Proxy {
    addr: std::net::SocketAddr,
    passed: Arc<Passed>,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    /// A proxy; `credentials` ("user:password"): it asks for them (407 without).
    fn start(credentials: Option<&str>) -> Self {
        let (runtime, listener, addr) = common::server::listening();
        let passed = Arc::new(Passed::default());
        let counted = Arc::clone(&passed);
        let expected = credentials.map(|c| format!("Basic {}", base64(c.as_bytes())));
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (passed, expected) = (Arc::clone(&counted), expected.clone());
                tokio::spawn(handle(client, passed, expected));
            }
        });
        Self {
            addr,
            passed,
            _runtime: runtime,
        }
    }

    fn url(&self, credentials: &str) -> String {
        format!("http://{credentials}{}", self.addr)
    }

    fn count(&self, which: fn(&Passed) -> &AtomicU64) -> u64 {
        which(&self.passed).load(Ordering::Relaxed)
    }
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One client connection: a CONNECT tunnel, or requests forwarded to their origin.
async fn handle(mut client: TcpStream, passed: Arc<Passed>, expected: Option<String>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let (method, path, authorized) = {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if req.parse(&head[..end]).is_err() {
            return;
        }
        let authorized = expected.as_ref().is_none_or(|want| {
            req.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("proxy-authorization") && h.value == want.as_bytes()
            })
        });
        (
            req.method.unwrap_or_default().to_string(),
            req.path.unwrap_or_default().to_string(),
            authorized,
        )
    };
    if !authorized {
        passed.refused.fetch_add(1, Ordering::Relaxed);
        let _ = client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    }
    if method == "CONNECT" {
        let Ok(mut upstream) = TcpStream::connect(path.as_str()).await else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            return;
        };
        passed.tunnels.fetch_add(1, Ordering::Relaxed);
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    // Absolute form: `GET http://host:port/path`; the origin (hyper) accepts it as is.
    let Some(authority) = path
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
    else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        return;
    };
    let Ok(upstream) = TcpStream::connect(authority).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_origin, mut to_origin) = upstream.into_split();
    let counting = async {
        // Every request line is counted, split across reads or not: each read is searched
        // with the bytes just before it, fewer than the needle's, so none is counted twice.
        let needle = b"GET http://";
        let mut tail: Vec<u8> = Vec::new();
        let mut chunk = head;
        loop {
            let mut window = std::mem::take(&mut tail);
            window.extend_from_slice(&chunk);
            let found = window.windows(needle.len()).filter(|w| w == needle).count();
            passed.forwarded.fetch_add(found as u64, Ordering::Relaxed);
            tail = window[window.len().saturating_sub(needle.len() - 1)..].to_vec();
            if to_origin.write_all(&chunk).await.is_err() {
                return;
            }
            match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => chunk = buf[..n].to_vec(),
            }
        }
    };
    let back = tokio::io::copy(&mut from_origin, &mut to_client);
    tokio::select! {
        () = counting => {}
        _ = back => {}
    }
}

fn load(url: &str, extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario(&format!(
        "target: {url}\n{extra}load: {{ vus: 2, iterations: 20 }}\nflows:\n  - steps: [ {{ get: /x }} ]\n"
    ))
}

#[test]
fn plain_http_is_forwarded_with_the_proxy_credentials() {
    let target = Server::start(false, None);
    let proxy = Proxy::start(Some("ann:s3cret"));
    let (_dir, path) = load(&target.url, "");
    let via = proxy.url("ann:s3cret@");
    let (code, doc, stdout, stderr) = run_json(&path, &["--proxy", &via], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["requests"], 20, "{doc:#}");
    assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
    assert_eq!(proxy.count(|p| &p.forwarded), 20);
    assert_eq!(proxy.count(|p| &p.tunnels), 0);
    assert_eq!(target.seen.requests(), 20);
    let shown = format!("http://{} from --proxy", proxy.addr);
    assert_eq!(doc["protocol"]["proxy"], shown.as_str(), "{doc:#}");
    assert!(stdout.contains(&format!("via proxy {shown}")), "{stdout}");
    for text in [&stdout, &stderr, &doc.to_string()] {
        assert!(
            !text.contains("s3cret"),
            "the proxy password leaked: {text}"
        );
    }
}

#[test]
fn https_and_http2_go_through_a_tunnel() {
    let proxy = Proxy::start(None);
    // HTTPS over HTTP/1.1 and HTTP/2, and h2c (whose server speaks first: its SETTINGS
    // come right behind the proxy's 200, and must not be lost).
    for (h2, tls) in [(false, true), (true, true), (true, false)] {
        let before = proxy.count(|p| &p.tunnels);
        let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
        let target = Server::start(h2, tls.then_some(alpn));
        let (dir, path) = load(
            &target.url,
            &format!("proxy: {}\nhttp2: {h2}\n", proxy.url("")),
        );
        let args = if tls {
            vec!["--cacert".to_string(), target.ca_file(dir.path())]
        } else {
            Vec::new()
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, doc, _, stderr) = run_json(&path, &args, Duration::from_secs(60));
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
        assert_eq!(target.seen.requests(), 20);
        assert_eq!(target.seen.other_versions.load(Ordering::Relaxed), 0);
        // The preflight's tunnel, then one per user; nothing forwarded in the clear.
        assert_eq!(
            proxy.count(|p| &p.tunnels) - before,
            1 + 2,
            "h2: {h2}, tls: {tls}"
        );
        assert_eq!(target.seen.connections(), 1 + 2);
        assert_eq!(proxy.count(|p| &p.forwarded), 0);
    }
}

#[test]
fn a_proxy_that_wants_credentials_stops_the_run_before_the_load() {
    let proxy = Proxy::start(Some("ann:s3cret"));
    let target = Server::start(true, Some(&[b"h2"]));
    let (dir, path) = load(&target.url, "http2: true\n");
    let ca = target.ca_file(dir.path());
    let out = common::stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--headless",
            "--cacert",
            &ca,
            "--proxy",
            &proxy.url(""),
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("407"), "{stderr}");
    assert!(stderr.contains("as user:password@host:port"), "{stderr}");
    assert_eq!(target.seen.requests(), 0);
}

/// Runs `path` with `env` set (and every proxy variable of this process cleared).
fn run_with_env(path: &std::path::Path, args: &[&str], env: &[(&str, String)]) -> i32 {
    let mut cmd = std::process::Command::new(common::binary());
    cmd.args(["run", path.to_str().expect("path"), "--headless", "--quiet"])
        .args(args)
        .stdin(std::process::Stdio::null());
    for name in ["http_proxy", "https_proxy", "all_proxy", "no_proxy"] {
        cmd.env_remove(name).env_remove(name.to_ascii_uppercase());
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = common::wait_with_limit(child, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.code().unwrap_or(-1)
}

#[test]
fn the_environment_is_read_only_when_asked_and_no_proxy_is_honoured() {
    let target = Server::start(false, None);
    let proxy = Proxy::start(None);
    let (_dir, path) = load(&target.url, "");
    let http_proxy = ("HTTP_PROXY", proxy.url(""));
    // Not asked: the variable is ignored, load goes straight to the target.
    run_with_env(&path, &[], std::slice::from_ref(&http_proxy));
    assert_eq!(proxy.count(|p| &p.forwarded), 0);
    assert_eq!(target.seen.requests(), 20);
    // Asked, with the target's host in NO_PROXY: still direct.
    let no_proxy = ("no_proxy", "localhost,127.0.0.1".to_string());
    run_with_env(
        &path,
        &["--proxy-from-env"],
        &[http_proxy.clone(), no_proxy],
    );
    assert_eq!(proxy.count(|p| &p.forwarded), 0);
    assert_eq!(target.seen.requests(), 40);
    // Asked: through the proxy.
    run_with_env(&path, &["--proxy-from-env"], &[http_proxy]);
    assert_eq!(proxy.count(|p| &p.forwarded), 20);
    assert_eq!(target.seen.requests(), 60);
}
