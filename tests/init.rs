//! Once-per-user setup (`flows[].init`) against a server on 127.0.0.1 that hands out tokens
//! and checks them: each user logs in once, every later request carries that user's own
//! token (through `defaults.headers`), init requests are their own steps and never
//! iterations, and a failing login backs off instead of looping.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use common::{assert_valid_result, run_json, scenario, stampede, step};

/// What the server saw.
#[derive(Default)]
struct Seen {
    logins: AtomicU64,
    /// Requests to `/work` whose token was issued to the user that sent it.
    good: AtomicU64,
    /// Requests to `/work` with no token, an unknown one, or another user's.
    bad: AtomicU64,
    /// Token → the user (`x-vu`) it was issued to.
    tokens: Mutex<HashMap<String, String>>,
}

/// A server on 127.0.0.1 port 0:
/// - `POST /login` (header `x-vu`): a new token for that user, `{"token": "tN"}`;
/// - `POST /login-down`: always 503;
/// - `POST /login-flaky`: 503 for the server's first two logins, then as `/login`;
/// - `GET /work`: 200 when `authorization: Bearer T` holds a token issued to the sender's
///   `x-vu`, else 401.
struct Tokens {
    url: String,
    seen: Arc<Seen>,
    _runtime: tokio::runtime::Runtime,
}

impl Tokens {
    fn start() -> Self {
        let (runtime, listener, addr) = common::server::listening();
        let seen = Arc::new(Seen::default());
        let shared = Arc::clone(&seen);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                        let seen = Arc::clone(&seen);
                        async move { Ok::<_, Infallible>(answer(&req, &seen)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            seen,
            _runtime: runtime,
        }
    }

    fn logins(&self) -> u64 {
        self.seen.logins.load(Ordering::Relaxed)
    }
}

fn answer<B>(req: &hyper::Request<B>, seen: &Seen) -> hyper::Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let path = req.uri().path();
    let (status, body) = match path {
        "/login-flaky" if seen.logins.load(Ordering::Relaxed) < 2 => {
            seen.logins.fetch_add(1, Ordering::Relaxed);
            (503, String::new())
        }
        "/login" | "/login-flaky" => {
            let n = seen.logins.fetch_add(1, Ordering::Relaxed);
            let token = format!("t{n}");
            let body = format!("{{\"token\": \"{token}\"}}");
            seen.tokens
                .lock()
                .expect("tokens")
                .insert(token, header("x-vu"));
            (200, body)
        }
        "/login-down" => {
            seen.logins.fetch_add(1, Ordering::Relaxed);
            (503, String::new())
        }
        "/work" => {
            let token = header("authorization");
            let token = token.strip_prefix("Bearer ").unwrap_or_default();
            let owner = seen.tokens.lock().expect("tokens").get(token).cloned();
            if owner.is_some_and(|vu| vu == header("x-vu")) {
                seen.good.fetch_add(1, Ordering::Relaxed);
                (200, "ok".to_string())
            } else {
                seen.bad.fetch_add(1, Ordering::Relaxed);
                (401, String::new())
            }
        }
        _ => (404, String::new()),
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

/// A scenario whose flow logs in (at `login`) in its init, then works with the token from
/// `defaults.headers`; every request says which user sends it.
fn shop(target: &str, load: &str, login: &str) -> String {
    format!(
        "name: init\ntarget: {target}\nload: {load}\n\
         defaults:\n  headers:\n    x-vu: \"{{{{ vu() }}}}\"\n    \
         authorization: \"Bearer {{{{ token }}}}\"\n\
         flows:\n  - name: shop\n    init:\n      \
         - {{ name: login, post: {login}, extract: {{ token: body.token }} }}\n    \
         steps:\n      - {{ name: work, get: /work }}\n"
    )
}

#[test]
fn each_user_logs_in_once_and_every_request_carries_its_own_token() {
    let server = Tokens::start();
    let text = shop(&server.url, "{ vus: 4, iterations: 200 }", "/login");
    let (_dir, path) = scenario(&text);
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    // One login per user, none per iteration.
    assert_eq!(server.logins(), 4);
    assert_eq!(server.seen.good.load(Ordering::Relaxed), 200);
    assert_eq!(server.seen.bad.load(Ordering::Relaxed), 0);
    // The logins are a step of their own; the iterations are the flow's 200, not 204.
    assert_eq!(step(&doc, "login")["requests"], 4);
    assert_eq!(step(&doc, "work")["requests"], 200);
    assert_eq!(step(&doc, "work")["status_codes"]["200"], 200);
    assert_eq!(doc["total"]["requests"], 204);
    assert_eq!(
        doc["iterations"][0]["count"], 200,
        "{:#}",
        doc["iterations"]
    );
    assert_valid_result(&doc);
}

#[test]
fn open_model_arrivals_go_on_as_logged_in_users() {
    let server = Tokens::start();
    let text = shop(&server.url, "{ rate: 200/s, duration: 1s }", "/login");
    let (_dir, path) = scenario(&text);
    let (code, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    let work = step(&doc, "work")["requests"].as_u64().expect("work");
    assert_eq!(work, 200, "every arrival works once");
    assert_eq!(server.seen.good.load(Ordering::Relaxed), 200);
    assert_eq!(server.seen.bad.load(Ordering::Relaxed), 0);
    // A login per user, and users are as many as arrivals were ever in flight at once (a
    // few against a server that answers in microseconds), not one per arrival.
    let logins = server.logins();
    assert!(
        (1..=20).contains(&logins),
        "{logins} logins for 200 arrivals"
    );
    assert_eq!(step(&doc, "login")["requests"], logins);
}

#[test]
fn a_failing_login_backs_off_and_is_never_an_iteration() {
    let server = Tokens::start();
    let text = shop(&server.url, "{ vus: 5, duration: 2s }", "/login-down");
    let (_dir, path) = scenario(&text);
    let (_, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    // Each user tries at 0, 0.2, 0.6 and 1.4 s (pauses of 200 ms, doubling): about 20 logins
    // in 2 s, where a loop without pauses sends thousands.
    let logins = server.logins();
    assert!((5..=25).contains(&logins), "{logins} logins\n{stderr}");
    let login = step(&doc, "login");
    assert_eq!(login["requests"], logins);
    assert_eq!(login["status_codes"]["503"], logins);
    // No user got past its init: nothing was sent as work, and no iteration counted.
    assert_eq!(server.seen.good.load(Ordering::Relaxed), 0);
    assert_eq!(server.seen.bad.load(Ordering::Relaxed), 0);
    assert_eq!(step(&doc, "work")["requests"], 0);
    assert_eq!(doc["iterations"][0]["count"], 0, "{:#}", doc["iterations"]);
}

/// A failed init takes nothing from `iterations:`: the budget is spent on iterations that
/// ran, however many logins it took to get there.
#[test]
fn failed_logins_take_nothing_from_the_iteration_budget() {
    let server = Tokens::start();
    let text = shop(&server.url, "{ vus: 1, iterations: 3 }", "/login-flaky");
    let (_dir, path) = scenario(&text);
    let (_, doc, _, stderr) = run_json(&path, &[], Duration::from_secs(60));
    assert_eq!(
        server.logins(),
        3,
        "two refused, then one that held\n{stderr}"
    );
    assert_eq!(server.seen.good.load(Ordering::Relaxed), 3, "{stderr}");
    assert_eq!(step(&doc, "work")["requests"], 3);
    assert_eq!(doc["iterations"][0]["count"], 3, "{:#}", doc["iterations"]);
}

/// `stampede validate` says where each default header that reads a value gets it: an
/// init's step or setup's (nothing is sent).
#[test]
fn validate_names_the_steps_default_headers_read_from() {
    let text = "name: init\ntarget: http://127.0.0.1:9\nload: { vus: 1, duration: 1s }\n\
                defaults:\n  headers:\n    authorization: \"Bearer {{ token }}\"\n    \
                x-build: \"{{ build }}\"\n\
                setup:\n  steps:\n    - { name: boot, get: /boot, extract: { build: body.build } }\n\
                flows:\n  - name: shop\n    init:\n      \
                - { name: login, post: /login, extract: { token: body.token } }\n    \
                steps:\n      - { name: work, get: /work }\n";
    let (_dir, path) = scenario(text);
    let out = stampede(
        &["validate", path.to_str().expect("utf-8")],
        Duration::from_secs(10),
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains(
            "defaults.headers.authorization reads token from init step \"login\" of flow \"shop\""
        ),
        "{said}"
    );
    assert!(
        said.contains("defaults.headers.x-build reads build from setup step \"boot\""),
        "{said}"
    );
}
