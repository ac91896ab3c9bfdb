//! Request bodies and templated checks, seen on the wire: `multipart:` (text parts are
//! templates, file parts bytes as they are, one boundary per scenario), `body_file:` sent
//! as its bytes or, with `template: true`, rendered per request; `equals:` and `contains:`
//! with `{{ }}` compared with each user's own values. A server started here on 127.0.0.1
//! port 0 keeps what it receives; the demo checks the templated checks.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use common::{Demo, run_json, scenario, step};

/// (content type, body) of every request received.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// An HTTP/1.1 server that keeps each request's content type and body, answering 200.
fn capturing() -> (String, Received, tokio::runtime::Runtime) {
    let (runtime, listener, addr) = common::server::listening();
    let received: Received = Arc::default();
    let kept = Arc::clone(&received);
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    let kept = Arc::clone(&kept);
                    async move {
                        let kind = req
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let body: hyper::body::Incoming = req.into_body();
                        let bytes = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        kept.lock().expect("lock").push((kind, bytes.to_vec()));
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"ok",
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), received, runtime)
}

#[test]
fn a_multipart_body_carries_text_and_file_parts() {
    let (url, received, _rt) = capturing();
    let (dir, path) = scenario(&format!(
        r#"target: {url}
variables: {{ who: ann }}
defaults:
  headers: {{ content-type: application/json }}
load: {{ vus: 1, iterations: 2 }}
flows:
  - steps:
      - post: /upload
        multipart:
          - {{ name: user, value: "{{{{ who }}}}-{{{{ iteration() }}}}" }}
          - {{ name: count, value: 42 }}
          - {{ name: doc, file: doc.bin, content_type: application/pdf }}
          - {{ name: "quote\"d", file: doc.bin, filename: renamed.bin }}
"#
    ));
    let file: Vec<u8> = vec![0, 159, 146, 150, b'\r', b'\n', b'-', b'-', 255];
    std::fs::write(dir.path().join("doc.bin"), &file).expect("write file");
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 2);
    for (n, (kind, body)) in got.iter().enumerate() {
        let boundary = kind
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap_or_else(|| panic!("content type {kind}"));
        let mut want = Vec::new();
        let mut part = |head: &str, data: &[u8]| {
            want.extend_from_slice(format!("--{boundary}\r\n{head}\r\n\r\n").as_bytes());
            want.extend_from_slice(data);
            want.extend_from_slice(b"\r\n");
        };
        let user = format!("ann-{n}");
        part(
            "Content-Disposition: form-data; name=\"user\"",
            user.as_bytes(),
        );
        part("Content-Disposition: form-data; name=\"count\"", b"42");
        part(
            "Content-Disposition: form-data; name=\"doc\"; filename=\"doc.bin\"\r\nContent-Type: application/pdf",
            &file,
        );
        part(
            "Content-Disposition: form-data; name=\"quote%22d\"; filename=\"renamed.bin\"\r\nContent-Type: application/octet-stream",
            &file,
        );
        want.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        assert_eq!(
            String::from_utf8_lossy(body),
            String::from_utf8_lossy(&want),
            "request {n}"
        );
        assert_eq!(body, &want);
    }
}

#[test]
fn a_body_file_is_sent_as_is_or_rendered_when_it_is_a_template() {
    let (url, received, _rt) = capturing();
    let (dir, path) = scenario(&format!(
        r#"target: {url}
variables: {{ who: ann }}
load: {{ vus: 1, iterations: 1 }}
flows:
  - steps:
      - {{ post: /raw, body_file: order.json }}
      - {{ post: /rendered, body_file: {{ path: order.json, template: true }} }}
"#
    ));
    std::fs::write(dir.path().join("order.json"), "{\"who\": \"{{ who }}\"}\n").expect("write");
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["total"]["errors"], 0, "{doc:#}");
    let got = received.lock().expect("lock").clone();
    let bodies: Vec<String> = got
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(
        bodies,
        ["{\"who\": \"{{ who }}\"}\n", "{\"who\": \"ann\"}\n"]
    );
}

#[test]
fn a_templated_body_file_names_only_defined_values() {
    let (dir, path) = scenario(
        "target: http://127.0.0.1:9\nload: { vus: 1, iterations: 1 }\nflows:\n  - steps:\n      - { post: /x, body_file: { path: t.txt, template: true } }\n",
    );
    std::fs::write(dir.path().join("t.txt"), "hello {{ nobody }}").expect("write");
    let out = common::stampede(
        &["validate", path.to_str().expect("path")],
        Duration::from_secs(30),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("body_file"), "{text}");
    assert!(text.contains("nobody is not defined"), "{text}");
}

#[test]
fn templated_checks_compare_with_each_users_values() {
    let demo = Demo::start();
    let (_dir, path) = scenario(&format!(
        r#"target: {}
variables: {{ other: "somebody else" }}
load: {{ vus: 2, iterations: 10 }}
flows:
  - name: f
    steps:
      - name: create
        post: /users
        json: {{ name: "user {{{{ vu() }}}}-{{{{ iteration() }}}}", email: "u@example.com" }}
        extract: {{ id: body.id, name: body.name }}
      - name: read
        get: "/users/{{{{ id }}}}"
        expect:
          body:
            - {{ path: body.id, equals: "{{{{ id }}}}", name: same id }}
            - {{ path: body.name, contains: "{{{{ name }}}}", name: same name }}
            - {{ path: body.name, equals: "{{{{ other }}}}", name: not another }}
"#,
        demo.url
    ));
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    let read = step(&doc, "read");
    assert_eq!(read["requests"], 10, "{read:#}");
    let checks = read["checks"].as_array().expect("checks");
    let failed = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {read:#}"))["failed"]
            .clone()
    };
    assert_eq!(failed("same id"), 0, "{read:#}");
    assert_eq!(failed("same name"), 0, "{read:#}");
    assert_eq!(failed("not another"), 10, "{read:#}");
}
