//! A misbehaving HTTP/1.1 server for the fault matrix: it listens on 127.0.0.1 port 0,
//! reads each request head, counts it, and then answers the way its `Fault` says. Every
//! connection runs on its own thread and ends when the server is dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How the server answers each request it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A complete `200 ok`, then the connection is closed (keep-alive ended early).
    CloseAfterOne,
    /// The connection is reset (RST) after the request is read.
    Reset,
    /// Nothing is ever sent back; the connection stays open.
    NeverAnswer,
    /// Bytes that are not HTTP.
    Garbage,
    /// `content-length: 1000`, 100 bytes, then the connection is closed.
    Truncated,
    /// The head at once, then one body byte every 100 ms (of 100).
    SlowLoris,
    /// A body of this many bytes: `a`s ending in `TAIL` (for checks on its end).
    Body(u64),
    /// `hello world` in three chunks, kept alive.
    Chunked,
    /// `100 Continue`, then `200 ok`, kept alive.
    Informational,
    /// `200` with `content-length: 1000` and no body (the answer to HEAD), kept alive.
    HeadOnly,
    /// `200 ok` kept alive, but a connection idle for 200 ms is closed (as Node and many
    /// proxies do), without a word.
    CloseIdle,
    /// `200 ok` kept alive, but the n-th response of each connection says
    /// `connection: close` and the connection ends.
    CloseAfter(u64),
}

/// A running fault server; stops accepting when dropped.
pub struct FaultServer {
    pub url: String,
    /// Request heads read in full.
    pub requests: Arc<AtomicU64>,
    /// Responses written in full.
    pub answered: Arc<AtomicU64>,
    /// Connections accepted.
    pub connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultServer {
    pub fn start(fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicU64::new(0));
        let (r, a, s) = (requests.clone(), answered.clone(), stop.clone());
        let c = connections.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                c.fetch_add(1, Ordering::Relaxed);
                let (r, a, s) = (r.clone(), a.clone(), s.clone());
                std::thread::spawn(move || serve(conn, fault, &r, &a, &s));
            }
        });
        Self {
            url: format!("http://{addr}"),
            requests,
            answered,
            connections,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head (up to the blank line); false when the peer closed or the
/// server is stopping.
fn read_head(conn: &mut TcpStream, stop: &AtomicBool) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => return false,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return false,
        }
        if stop.load(Ordering::Relaxed) {
            return false;
        }
    }
    true
}

fn serve(
    mut conn: TcpStream,
    fault: Fault,
    requests: &AtomicU64,
    answered: &AtomicU64,
    stop: &AtomicBool,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
    let mut served = 0u64;
    while read_head(&mut conn, stop) {
        requests.fetch_add(1, Ordering::Relaxed);
        served += 1;
        let done = match fault {
            Fault::Chunked => conn
                .write_all(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                      5\r\nhello\r\n1;ext=x\r\n \r\n5\r\nworld\r\n0\r\n\r\n",
                )
                .is_ok(),
            Fault::Informational => conn
                .write_all(
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                )
                .is_ok(),
            Fault::HeadOnly => conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                .is_ok(),
            Fault::CloseAfter(n) if served >= n => {
                let last = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok";
                if conn.write_all(last).is_ok() {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            Fault::CloseIdle => {
                let ok = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .is_ok();
                if ok {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
                if !ok || conn.peek(&mut [0u8; 1]).is_err() {
                    return; // idle too long (or gone): close
                }
                let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
                continue;
            }
            Fault::CloseAfter(_) => conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .is_ok(),
            Fault::CloseAfterOne => {
                let ok = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .is_ok();
                if ok {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            Fault::Reset => {
                let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
                return;
            }
            Fault::NeverAnswer => {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                return;
            }
            Fault::Garbage => {
                let _ = conn.write_all(b"\x00\x01\x02 this is not HTTP \xff\xfe\r\n\r\n");
                return;
            }
            Fault::Truncated => {
                let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n";
                let _ = conn
                    .write_all(head)
                    .and_then(|()| conn.write_all(&[b'x'; 100]));
                return;
            }
            Fault::SlowLoris => {
                let mut ok = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
                    .is_ok();
                for _ in 0..100 {
                    if !ok || stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    ok = conn.write_all(b"x").is_ok();
                }
                ok
            }
            Fault::Body(size) => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n");
                let chunk = vec![b'a'; 64 << 10];
                let mut ok = conn.write_all(head.as_bytes()).is_ok();
                let mut left = size.saturating_sub(4);
                while ok && left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    ok = conn.write_all(&chunk[..n]).is_ok();
                    left -= n as u64;
                }
                ok && conn.write_all(&b"TAIL"[..size.min(4) as usize]).is_ok()
            }
        };
        if done {
            answered.fetch_add(1, Ordering::Relaxed);
        }
    }
}
