//! The demo service cannot be exposed by accident or exhausted: a non-loopback `--listen`
//! needs `--public`; users, sessions, list pages and bodies are capped (refusals counted like
//! any request); a half-sent request is closed by the header-read timeout and cannot hold a
//! stop beyond its deadline. Raw sockets, so that the client sends exactly what each case needs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Demo, binary, stampede, wait_with_limit};
use stampede::demo::{DemoConfig, MAX_BODY_BYTES, MAX_FIELD_CHARS, MAX_LIST_LIMIT, Route};

/// Sends one request (`Connection: close`) and returns the status and the body.
fn send(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body.as_bytes()).expect("write body");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read reply");
    let reply = String::from_utf8_lossy(&reply);
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply:?}"));
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// The ids in a `GET /users` reply.
fn listed_ids(addr: SocketAddr, query: &str) -> Vec<u64> {
    let (status, body) = send(addr, "GET", &format!("/users?{query}"), "");
    assert_eq!(status, 200, "{body}");
    let users: serde_json::Value = serde_json::from_str(&body).expect("JSON list");
    users
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["id"].as_u64().expect("id"))
        .collect()
}

/// Opens a connection and sends a request head without its final blank line.
fn half_request(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    stream
}

#[test]
fn non_loopback_listen_without_public_is_refused() {
    // Refused before binding: nothing listens on these addresses during the test.
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8000"] {
        let out = stampede(&["demo", "--listen", listen], Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{listen}: {stderr}");
        assert!(stderr.contains(&format!("--listen {listen}")), "{stderr}");
        assert!(stderr.contains("add --public"), "{stderr}");
        assert!(stderr.contains("127.0.0.1:"), "{stderr}");
    }
}

#[test]
fn list_limit_is_capped() {
    let demo = Demo::start_with(DemoConfig {
        seed_users: 300,
        ..DemoConfig::default()
    });
    let ids = listed_ids(demo.addr, "limit=1000");
    assert_eq!(ids, (1..=100).collect::<Vec<_>>());
    assert_eq!(MAX_LIST_LIMIT, 100);
    // The rest is reached page by page.
    let next = listed_ids(demo.addr, "limit=1000&after=100");
    assert_eq!(next, (101..=200).collect::<Vec<_>>());
}

#[test]
fn stored_users_stay_at_the_cap_oldest_dropped() {
    assert_eq!(DemoConfig::default().max_users, 10_000);
    let demo = Demo::start_with(DemoConfig {
        seed_users: 10,
        max_users: 20,
        ..DemoConfig::default()
    });
    for i in 0..50 {
        let body = format!(r#"{{"name":"n{i}","email":"n{i}@example.com"}}"#);
        let (status, reply) = send(demo.addr, "POST", "/users", &body);
        assert_eq!(status, 201, "{reply}");
    }
    // Ids 1..=10 were seeded, 11..=60 created: the 20 newest remain.
    assert_eq!(
        listed_ids(demo.addr, "limit=100"),
        (41..=60).collect::<Vec<_>>()
    );
    let (status, _) = send(demo.addr, "GET", "/users/11", "");
    assert_eq!(status, 404, "an evicted user is gone");
    assert_eq!(demo.counters.served_with(Route::UserCreate, 2), 50);
}

#[test]
fn oversize_body_and_long_fields_are_refused_and_counted() {
    let demo = Demo::start();
    let big = format!(
        r#"{{"name":"{}","email":"a@example.com"}}"#,
        "a".repeat(MAX_BODY_BYTES)
    );
    let (status, reply) = send(demo.addr, "POST", "/users", &big);
    assert_eq!(status, 413, "{reply}");
    assert!(reply.contains("body larger than 65536 bytes"), "{reply}");
    let (status, _) = send(demo.addr, "POST", "/login", &big);
    assert_eq!(status, 413);

    let long = format!(
        r#"{{"name":"{}","email":"a@example.com"}}"#,
        "a".repeat(MAX_FIELD_CHARS + 1)
    );
    let (status, reply) = send(demo.addr, "POST", "/users", &long);
    assert_eq!(status, 422, "{reply}");
    assert!(reply.contains("at most 256 characters"), "{reply}");

    let (status, _) = send(demo.addr, "GET", "/users?limit=lots", "");
    assert_eq!(status, 400);
    let (status, _) = send(demo.addr, "PUT", "/users", "");
    assert_eq!(status, 405);

    let c = &demo.counters;
    assert_eq!(
        c.served_with(Route::UserCreate, 4),
        2,
        "413 and 422 counted"
    );
    assert_eq!(c.served_with(Route::Login, 4), 1);
    assert_eq!(c.served_with(Route::UserList, 4), 1);
    assert_eq!(c.served_with(Route::Unknown, 4), 1);
    assert_eq!(c.total(), 5, "each request counted once");
}

#[test]
fn half_sent_request_is_closed_by_the_header_read_timeout() {
    let demo = Demo::start_with(DemoConfig {
        header_read_timeout: Duration::from_secs(1),
        ..DemoConfig::default()
    });
    let mut stream = half_request(demo.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let t0 = Instant::now();
    let mut rest = Vec::new();
    // The server closes it: end of stream (or a reset), never the 10 s read timeout.
    let closed = match stream.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "connection still open after {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
}

#[test]
fn half_sent_and_slow_requests_do_not_hold_stop_beyond_its_deadline() {
    let config = DemoConfig::default();
    assert_eq!(config.shutdown_grace, Duration::from_secs(5));
    let mut demo = Demo::start_with(config);
    let mut half = half_request(demo.addr);
    let mut slow = TcpStream::connect(demo.addr).expect("connect");
    slow.write_all(b"GET /delay/60000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    demo.shutdown();
    let took = t0.elapsed();
    assert!(
        took < config.shutdown_grace + Duration::from_secs(2),
        "stop took {took:?}"
    );
    for stream in [&mut half, &mut slow] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut rest = Vec::new();
        let closed = match stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "a connection outlived the stop");
    }
}

#[test]
fn sigterm_stops_the_demo_command_despite_a_half_sent_request() {
    let mut child = Command::new(binary())
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = lines.next().expect("a line").expect("text");
    let addr: SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    let _half = half_request(addr);
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = wait_with_limit(child, Duration::from_secs(20));
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(0), "stopped gracefully, not killed");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("stopping the demo service")),
        "{rest:?}"
    );
}
