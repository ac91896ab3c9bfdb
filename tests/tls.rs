//! TLS is verified by default: a certificate the system does not trust is refused (by the
//! preflight, and as error class `tls` for every request without it), and `SSL_CERT_FILE`
//! adds a trusted authority; so do `--cacert` and `tls: { ca }`. `--insecure` accepts any
//! certificate and says so; a client certificate (`--cert`/`--key`, `tls: { cert, key }`)
//! is accepted by a server that requires one, and its absence refused. The server is started here on 127.0.0.1 port 0 with a
//! certificate authority made for the test.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{error_count, run_json, scenario};

/// An HTTPS server answering `200 ok` to every request, with its authority's PEM.
struct TlsServer {
    url: String,
    ca_pem: String,
    /// A client certificate and key the authority signed (PEM), for mutual TLS.
    client_cert_pem: String,
    client_key_pem: String,
    requests: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

fn start_tls_server() -> TlsServer {
    start_tls_server_with(false)
}

/// `require_client`: the server accepts only clients with a certificate its authority
/// signed (mutual TLS).
fn start_tls_server_with(require_client: bool) -> TlsServer {
    let ca = common::certs::Authority::new();
    let config = if require_client {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.ca_der.clone()))
            .expect("root");
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .expect("client verifier");
        rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![ca.server_cert.clone()], ca.server_key())
            .expect("server config")
    } else {
        ca.server_config(&[])
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (runtime, listener, addr) = common::server::listening();
    let requests = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&requests);
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counted) = (acceptor.clone(), Arc::clone(&counted));
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let mut head = Vec::new();
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        head.drain(..end + 4);
                        counted.fetch_add(1, Ordering::Relaxed);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if tls.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    TlsServer {
        url: format!("https://{addr}"),
        ca_pem: ca.ca_pem,
        client_cert_pem: ca.client_cert_pem,
        client_key_pem: ca.client_key_pem,
        requests,
        _runtime: runtime,
    }
}

fn https_scenario(url: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    scenario(&format!(
        "target: {url}\nload: {{ vus: 2, iterations: 6 }}\nflows:\n  - steps: [ {{ get: / }} ]\n"
    ))
}

#[test]
fn an_untrusted_certificate_is_refused_by_default() {
    let server = start_tls_server();
    let (_dir, path) = https_scenario(&server.url);
    let out = common::stampede(
        &["run", path.to_str().expect("path"), "--headless"],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    let (code, doc, _, stderr) = run_json(&path, &["--no-preflight"], Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(error_count(&doc["total"], "tls"), 6, "{doc:#}");
    assert_eq!(server.requests.load(Ordering::Relaxed), 0);
}

#[test]
fn ssl_cert_file_adds_a_trusted_authority() {
    let server = start_tls_server();
    let (dir, path) = https_scenario(&server.url);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).expect("write CA");
    let json = path.with_extension("json");
    let child = std::process::Command::new(common::binary())
        .args(["run", path.to_str().expect("path"), "--headless"])
        .args(["--json", json.to_str().expect("path")])
        .env("SSL_CERT_FILE", &ca)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let out = common::wait_with_limit(child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = common::read_json(&json);
    assert_eq!(doc["total"]["status_codes"]["200"], 6, "{doc:#}");
    assert_eq!(server.requests.load(Ordering::Relaxed), 6);
}

#[test]
fn cacert_and_the_files_ca_trust_an_authority() {
    let server = start_tls_server();
    let (dir, path) = https_scenario(&server.url);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).expect("write CA");
    let (code, doc, _, stderr) = run_json(
        &path,
        &["--cacert", ca.to_str().expect("path")],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["status_codes"]["200"], 6, "{doc:#}");
    // The same from the file, relative to it.
    let (_dir2, file) = scenario(&format!(
        "target: {}\ntls: {{ ca: {} }}\nload: {{ vus: 1, iterations: 2 }}\nflows:\n  - steps: [ {{ get: / }} ]\n",
        server.url,
        ca.display()
    ));
    let (code, doc, _, stderr) = run_json(&file, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["status_codes"]["200"], 2, "{doc:#}");
    assert!(doc["warnings"].as_array().expect("warnings").is_empty());
}

#[test]
fn insecure_accepts_any_certificate_and_says_so() {
    let server = start_tls_server();
    let (_dir, path) = https_scenario(&server.url);
    let (code, doc, stdout, stderr) = run_json(&path, &["--insecure"], Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["status_codes"]["200"], 6, "{doc:#}");
    assert!(
        stdout.contains("WARNING   TLS certificates were not verified"),
        "{stdout}"
    );
    assert!(
        doc["warnings"][0]
            .as_str()
            .expect("a warning")
            .contains("not verified")
    );
}

#[test]
fn a_client_certificate_is_accepted_and_its_absence_refused() {
    let server = start_tls_server_with(true);
    let (dir, path) = https_scenario(&server.url);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("path").to_string()
    };
    let ca = write("ca.pem", &server.ca_pem);
    let cert = write("client.pem", &server.client_cert_pem);
    let key = write("client.key", &server.client_key_pem);
    let (code, doc, _, stderr) = run_json(
        &path,
        &["--cacert", &ca, "--cert", &cert, "--key", &key],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["status_codes"]["200"], 6, "{doc:#}");
    // Without one, no request is answered: each fails (TLS 1.3 reports the refusal on the
    // first read, so the class is tls or a reset, never a response).
    let (code, doc, _, stderr) = run_json(
        &path,
        &["--cacert", &ca, "--no-preflight"],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["errors"], 6, "{doc:#}");
    assert!(
        doc["total"]["status_codes"]
            .as_object()
            .expect("codes")
            .is_empty()
    );
}

#[test]
fn a_file_that_is_not_pem_is_refused_with_its_name() {
    let server = start_tls_server();
    let (dir, path) = https_scenario(&server.url);
    let bad = dir.path().join("not.pem");
    std::fs::write(&bad, "hello").expect("write");
    let out = common::stampede(
        &[
            "validate",
            path.to_str().expect("path"),
            "--cacert",
            bad.to_str().expect("path"),
        ],
        Duration::from_secs(20),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not.pem holds no PEM certificate"), "{err}");
    let only_cert = common::stampede(
        &[
            "validate",
            path.to_str().expect("path"),
            "--cert",
            bad.to_str().expect("path"),
        ],
        Duration::from_secs(20),
    );
    assert_eq!(only_cert.status.code(), Some(2));
}
