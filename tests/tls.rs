//! TLS is verified by default: a certificate the system does not trust is refused (by the
//! preflight, and as error class `tls` for every request without it), and `SSL_CERT_FILE`
//! adds a trusted authority; so do `--cacert` and `tls: { ca }`. `--insecure` accepts any
//! certificate and says so; a client certificate (`--cert`/`--key`, `tls: { cert, key }`)
//! is accepted by a server that requires one, and its absence refused; so is an X.509 v1
//! one. As curl does, a server certificate given itself with `--cacert` is trusted even when
//! it is marked CA:TRUE, its name and dates still checked; refusals are in plain words.
//! The servers are started here on 127.0.0.1 port 0 with certificates made for the test.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
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
    let (url, requests, runtime) = listen(config);
    TlsServer {
        url,
        ca_pem: ca.ca_pem,
        client_cert_pem: ca.client_cert_pem,
        client_key_pem: ca.client_key_pem,
        requests,
        _runtime: runtime,
    }
}

/// An HTTPS server with `config` on 127.0.0.1 port 0 answering `200 ok`: its URL, its
/// request count and its runtime.
fn listen(config: rustls::ServerConfig) -> (String, Arc<AtomicU64>, tokio::runtime::Runtime) {
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
    (format!("https://{addr}"), requests, runtime)
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
    // In plain words, with the fix (not rustls's `UnknownIssuer`).
    assert!(
        stderr.contains("issued by an authority this machine does not trust")
            && stderr.contains("--cacert FILE"),
        "{stderr}"
    );
    assert!(!stderr.contains("UnknownIssuer"), "{stderr}");
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

/// Runs 6 requests at `url` with `--cacert` holding `pem`: (exit code, stderr, JSON if any).
fn run_with_cacert(url: &str, pem: &str) -> (Option<i32>, String, Option<serde_json::Value>) {
    let (dir, path) = https_scenario(url);
    let ca = dir.path().join("given.pem");
    std::fs::write(&ca, pem).expect("write");
    let json = path.with_extension("json");
    let out = common::stampede(
        &[
            "run",
            path.to_str().expect("path"),
            "--headless",
            "--cacert",
            ca.to_str().expect("path"),
            "--json",
            json.to_str().expect("path"),
        ],
        Duration::from_secs(30),
    );
    let doc = std::fs::read_to_string(&json)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("JSON"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        doc,
    )
}

#[test]
fn a_self_signed_ca_true_certificate_given_with_cacert_is_trusted_as_curl_does() {
    // OpenSSL 3's `req -x509` marks the certificate CA:TRUE; webpki refused it as a
    // server's own (regression: exit 2, `Other(OtherError(CaUsedAsEndEntity))`).
    let cert = common::certs::SelfSigned::new(&["localhost", "127.0.0.1"], None);
    let (url, requests, _runtime) = listen(cert.server_config());
    let (code, stderr, doc) = run_with_cacert(&url, &cert.cert_pem);
    assert_eq!(code, Some(0), "{stderr}");
    let doc = doc.expect("a report");
    assert_eq!(doc["total"]["status_codes"]["200"], 6, "{doc:#}");
    assert_eq!(requests.load(Ordering::Relaxed), 6);
}

#[test]
fn the_usual_openssl_recipe_is_trusted_with_cacert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let made = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem",
        ])
        .args(["-out", "c.pem", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .output();
    let Ok(made) = made.map_err(|e| eprintln!("skipped: openssl not installed ({e})")) else {
        return;
    };
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pem = std::fs::read_to_string(dir.path().join("c.pem")).expect("cert");
    let key = std::fs::read(dir.path().join("k.pem")).expect("key");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM cert");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key).expect("PEM key");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let (url, requests, _runtime) = listen(config);
    let (code, stderr, _) = run_with_cacert(&url, &pem);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(requests.load(Ordering::Relaxed), 6);
}

#[test]
fn a_given_certificate_is_still_refused_for_a_wrong_name_or_dates_in_plain_words() {
    let cases = [
        (
            common::certs::SelfSigned::new(&["example.test"], None),
            "the server's certificate is not valid for the name 127.0.0.1 (it holds: \
             example.test)",
        ),
        (
            common::certs::SelfSigned::new(&["127.0.0.1"], Some(((2020, 1, 1), (2021, 1, 1)))),
            "the server's certificate expired on 2021-01-01 00:00:00 UTC",
        ),
        (
            common::certs::SelfSigned::new(&["127.0.0.1"], Some(((2200, 1, 1), (2201, 1, 1)))),
            "the server's certificate is not valid before 2200-01-01 00:00:00 UTC",
        ),
    ];
    for (cert, words) in cases {
        let (url, requests, _runtime) = listen(cert.server_config());
        let (code, stderr, _) = run_with_cacert(&url, &cert.cert_pem);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(words), "{words}\n{stderr}");
        assert!(!stderr.contains("Other("), "{stderr}");
        assert_eq!(requests.load(Ordering::Relaxed), 0);
    }
}

#[test]
fn an_x509_v1_client_certificate_that_matches_its_key_is_presented() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let v1 = std::fs::read_to_string(fixtures.join("v1-client.pem")).expect("fixture");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let ca = common::certs::Authority::new();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(Arc::new(Recorder(Arc::clone(&seen))))
        .with_single_cert(vec![ca.server_cert.clone()], ca.server_key())
        .expect("server config");
    let (url, requests, _runtime) = listen(config);
    let (dir, path) = https_scenario(&url);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write");
    let arg = |p: &std::path::Path| p.to_str().expect("path").to_string();
    let (cert, key, other) = (
        arg(&fixtures.join("v1-client.pem")),
        arg(&fixtures.join("v1-client.key")),
        arg(&fixtures.join("other.key")),
    );
    let flags = ["--cacert", &arg(&ca_file), "--cert", &cert, "--key", &key];
    let (code, doc, _, stderr) = run_json(&path, &flags, Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["status_codes"]["200"], 6, "{doc:#}");
    assert_eq!(requests.load(Ordering::Relaxed), 6);
    let presented = seen.lock().expect("lock").first().cloned();
    let expected = CertificateDer::from_pem_slice(v1.as_bytes()).expect("PEM");
    assert_eq!(presented.as_deref(), Some(expected.as_ref()));
    // With a key it was not made with: refused before the load, in plain words.
    let flags = ["--cacert", &arg(&ca_file), "--cert", &cert, "--key", &other];
    let out = common::stampede(
        &[
            &["run", path.to_str().expect("path"), "--headless"][..],
            &flags[..],
        ]
        .concat(),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("do not go together") && stderr.contains("X.509 v1"),
        "{stderr}"
    );
}

/// A server's client verifier that records the certificate presented and checks nothing
/// (rustls's own cannot read an X.509 v1 certificate).
#[derive(Debug)]
struct Recorder(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

impl rustls::server::danger::ClientCertVerifier for Recorder {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        self.0.lock().expect("lock").push(end_entity.to_vec());
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
