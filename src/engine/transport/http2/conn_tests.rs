//! The connection against a scripted server on an in-memory pipe: streams never exceed the
//! server's SETTINGS_MAX_CONCURRENT_STREAMS, a reset stream ends with its code (a refused
//! one as unprocessed, so the transport sends it again) and its user goes on with a new
//! stream, a stream given up on keeps the status read before and is reset (RST_STREAM
//! CANCEL), padded, split and Huffman-coded responses read whole, a body larger than the
//! server's window waits for its WINDOW_UPDATE, header blocks and lists past 64 KiB are
//! refused, and so are bad flow-control credit and frames on the wrong stream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::engine::transport::contract::Keep;
use crate::engine::transport::http2::frame::{Head, code, kind, setting};
use crate::engine::transport::http2::hpack::Encoder;

/// A frame read by the server: (kind, flags, stream, payload).
type Seen = (u8, u8, u32, Vec<u8>);

async fn read_frame(io: &mut DuplexStream) -> Option<Seen> {
    let mut head = [0u8; 9];
    io.read_exact(&mut head).await.ok()?;
    let h = Head::parse(&head)?;
    let mut payload = vec![0u8; h.length];
    io.read_exact(&mut payload).await.ok()?;
    Some((h.kind, h.flags, h.stream, payload))
}

fn get_frame() -> frame::RequestFrame {
    let mut block = Vec::new();
    Encoder::request(&mut block, "GET", "http", "t", "/", []);
    frame::RequestFrame::new(&block, true, frame::DEFAULT_MAX_FRAME)
}

fn keep_all() -> Keep {
    Keep {
        body: true,
        headers: true,
        max_body: 1 << 20,
        ..Keep::default()
    }
}

/// A GET on `frames` that keeps its answer (its header fields too when `fields`).
fn get(frames: &frame::RequestFrame, fields: bool) -> Request<'_> {
    Request {
        frames,
        body: None,
        keep: keep_all(),
        fields,
    }
}

/// The error a stream ended with, if it did.
fn ended(r: Result<Response, (StreamError, Response)>) -> Option<StreamError> {
    r.err().map(|e| e.0)
}

/// `req`'s answer on `conn`, or its error (what came of a partial answer not kept).
async fn answer(conn: &Conn, req: Request<'_>) -> Result<Response, (StreamError, Response)> {
    conn.exchange(req, &mut Partial::default()).await.1
}

/// That the connection ended, saying `why`.
fn assert_closed(end: Option<StreamError>, why: &str) {
    let Some(StreamError::Closed(said)) = end else {
        panic!("the connection ends: {end:?}");
    };
    assert!(said.contains(why), "{said}");
}

/// `:status` 200 (static index 8), END_HEADERS, then `body` in one DATA frame that ends
/// the stream.
fn ok(out: &mut Vec<u8>, stream: u32, body: &[u8]) {
    let head = Head {
        length: 1,
        kind: kind::HEADERS,
        flags: frame::END_HEADERS,
        stream,
    };
    put_head(out, head);
    out.push(0x88);
    frame::put_data(out, stream, body, true, frame::DEFAULT_MAX_FRAME);
}

fn put_head(out: &mut Vec<u8>, h: Head) {
    out.extend_from_slice(&(h.length as u32).to_be_bytes()[1..]);
    out.push(h.kind);
    out.push(h.flags);
    out.extend_from_slice(&h.stream.to_be_bytes());
}

/// Reads the client's preface, sends `settings`, and hands every later frame to `on`,
/// writing what it returns.
async fn serve(
    mut io: DuplexStream,
    settings: Vec<(u16, u32)>,
    mut on: impl FnMut(Seen) -> Vec<u8>,
) {
    let mut preface = [0u8; 24];
    if io.read_exact(&mut preface).await.is_err() {
        return;
    }
    let mut out = Vec::new();
    frame::put_settings(&mut out, &settings, false);
    if io.write_all(&out).await.is_err() {
        return;
    }
    while let Some(seen) = read_frame(&mut io).await {
        let reply = on(seen);
        if !reply.is_empty() && io.write_all(&reply).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn streams_never_exceed_the_servers_limit_and_all_are_answered() {
    let (client, server) = tokio::io::duplex(1 << 16);
    // The server answers each request only when the next arrives (or a short timer
    // would): here, it holds two and answers the older when a third could be sent.
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (o, m) = (Arc::clone(&open), Arc::clone(&most));
    let held = Arc::new(StdMutex::new(Vec::<u32>::new()));
    let h = Arc::clone(&held);
    let limit = vec![(setting::MAX_CONCURRENT_STREAMS, 2)];
    tokio::spawn(serve(server, limit, move |(kind, _, stream, _)| {
        let mut out = Vec::new();
        if kind == kind::HEADERS {
            let now_open = o.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now_open, Ordering::SeqCst);
            let mut held = h.lock().expect("held");
            held.push(stream);
            // Answer every held stream once two are open: the client may then open more.
            if held.len() == 2 {
                for s in held.drain(..) {
                    ok(&mut out, s, b"hi");
                    o.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
        out
    }));
    let conn = Conn::start(client, |_| {});
    // Let the server's SETTINGS arrive before the load.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let frames = get_frame();
    let users = (0..10).map(|_| {
        let conn = conn.clone();
        let frames = frames.clone();
        tokio::spawn(async move { answer(&conn, get(&frames, false)).await })
    });
    for user in users.collect::<Vec<_>>() {
        let response = user.await.expect("the user").expect("a response");
        assert_eq!((response.status, &response.body[..]), (200, &b"hi"[..]));
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "never more than the server allows"
    );
}

#[tokio::test]
async fn a_reset_stream_ends_with_its_code_and_the_user_goes_on_on_a_new_one() {
    let (client, server) = tokio::io::duplex(1 << 16);
    tokio::spawn(serve(server, Vec::new(), |(kind, _, stream, _)| {
        let mut out = Vec::new();
        match (kind, stream) {
            (kind::HEADERS, 1) => frame::put_rst_stream(&mut out, 1, code::REFUSED_STREAM),
            (kind::HEADERS, 3) => frame::put_rst_stream(&mut out, 3, 0x2),
            (kind::HEADERS, s) => ok(&mut out, s, b"again"),
            _ => {}
        }
        out
    }));
    let conn = Conn::start(client, |_| {});
    let frames = get_frame();
    let send = || get(&frames, false);
    assert_eq!(
        ended(answer(&conn, send()).await),
        Some(StreamError::Refused)
    );
    assert_eq!(
        ended(answer(&conn, send()).await),
        Some(StreamError::Reset(0x2))
    );
    let third = answer(&conn, send())
        .await
        .expect("a new stream is answered");
    assert_eq!(&third.body[..], b"again");
    assert!(conn.is_open());
}

/// `:status` 200 and 3 bytes of a body that never ends.
fn status_then_stall(out: &mut Vec<u8>, stream: u32) {
    let head = Head {
        length: 1,
        kind: kind::HEADERS,
        flags: frame::END_HEADERS,
        stream,
    };
    put_head(out, head);
    out.push(0x88);
    frame::put_data(out, stream, b"abc", false, frame::DEFAULT_MAX_FRAME);
}

/// A padded HEADERS with priority (RFC 7541 C.6.1's block: Huffman and the dynamic table,
/// a 302 with `cache-control: private`), then the body `abcde` in two DATA frames, the
/// first padded.
fn padded_huffman_answer(out: &mut Vec<u8>, stream: u32) {
    let block: Vec<u8> = [
        0x48, 0x82, 0x64, 0x02, 0x58, 0x85, 0xae, 0xc3, 0x77, 0x1a, 0x4b,
    ]
    .to_vec();
    let mut payload = vec![2, 0, 0, 0, 0, 16];
    payload.extend_from_slice(&block);
    payload.extend_from_slice(&[0, 0]);
    let flags = frame::END_HEADERS | frame::PADDED | frame::PRIORITY_FLAG;
    let head = Head {
        length: payload.len(),
        kind: kind::HEADERS,
        flags,
        stream,
    };
    put_head(out, head);
    out.extend_from_slice(&payload);
    let head = Head {
        length: 5,
        kind: kind::DATA,
        flags: frame::PADDED,
        stream,
    };
    put_head(out, head);
    out.extend_from_slice(&[1, b'a', b'b', b'c', 0]);
    frame::put_data(out, stream, b"de", true, frame::DEFAULT_MAX_FRAME);
}

#[tokio::test]
async fn given_up_streams_are_reset_and_keep_their_status_padded_huffman_ones_read_whole() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let resets = Arc::new(StdMutex::new(Vec::new()));
    let r = Arc::clone(&resets);
    tokio::spawn(serve(
        server,
        Vec::new(),
        move |(kind, _, stream, payload)| {
            let mut out = Vec::new();
            match (kind, stream) {
                (kind::RST_STREAM, s) => r.lock().expect("resets").push((s, payload)),
                (kind::HEADERS, 1) => status_then_stall(&mut out, 1),
                (kind::HEADERS, 3) => padded_huffman_answer(&mut out, 3),
                _ => {}
            }
            out
        },
    ));
    let conn = Conn::start(client, |_| {});
    let frames = get_frame();
    let send = || get(&frames, true);
    let mut partial = Partial::default();
    let exchange = conn.exchange(send(), &mut partial);
    let gave_up = tokio::time::timeout(Duration::from_secs(1), exchange).await;
    assert!(gave_up.is_err(), "stream 1 is never answered in full");
    assert_eq!(
        partial.status,
        Some(200),
        "the status read before the deadline"
    );
    assert_eq!(partial.bytes, 3);
    let third = answer(&conn, send()).await.expect("stream 3");
    assert_eq!(third.status, 302);
    assert_eq!(&third.body[..], b"abcde");
    assert_eq!(third.bytes, 5);
    let fields: Vec<(&[u8], &[u8])> = (third.fields.iter())
        .map(|(n, v)| (&n[..], &v[..]))
        .collect();
    assert_eq!(fields, [(&b"cache-control"[..], &b"private"[..])]);
    let cancel = code::CANCEL.to_be_bytes().to_vec();
    assert_eq!(*resets.lock().expect("resets"), [(1, cancel)]);
}

#[tokio::test]
async fn a_body_past_the_servers_window_waits_for_its_window_update() {
    let (client, server) = tokio::io::duplex(1 << 20);
    let got = Arc::new(StdMutex::new(Vec::<u8>::new()));
    let g = Arc::clone(&got);
    // A 10-byte stream window: the 25-byte body goes 10, then 10 and 5 after updates.
    let window = vec![(setting::INITIAL_WINDOW_SIZE, 10)];
    tokio::spawn(serve(
        server,
        window,
        move |(kind, flags, stream, payload)| {
            let mut out = Vec::new();
            if kind == kind::DATA {
                g.lock().expect("got").extend_from_slice(&payload);
                if flags & frame::END_STREAM != 0 {
                    ok(&mut out, stream, b"");
                } else {
                    frame::put_window_update(&mut out, stream, payload.len() as u32);
                }
            }
            out
        },
    ));
    let conn = Conn::start(client, |_| {});
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut block = Vec::new();
    Encoder::request(&mut block, "POST", "http", "t", "/up", []);
    let frames = frame::RequestFrame::new(&block, false, frame::DEFAULT_MAX_FRAME);
    let body = bytes::Bytes::from_static(b"0123456789abcdefghijKLMNO");
    let req = Request {
        frames: &frames,
        body: Some(body.clone()),
        keep: Keep::default(),
        fields: false,
    };
    let answered = answer(&conn, req).await.expect("answered");
    assert_eq!(answered.status, 200);
    assert_eq!(*got.lock().expect("got"), body.to_vec());
}

/// A server that goes silent with a stream open is pinged after `KEEP_ALIVE`, and the
/// connection ends as stalled when the ping is not answered in as long (paused time).
#[tokio::test(start_paused = true)]
async fn a_silent_server_is_pinged_and_then_given_up_on() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let pings = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&pings);
    tokio::spawn(serve(server, Vec::new(), move |(kind, flags, _, _)| {
        if kind == kind::PING && flags & frame::ACK == 0 {
            p.fetch_add(1, Ordering::SeqCst);
        }
        Vec::new()
    }));
    let conn = Conn::start(client, |_| {});
    let frames = get_frame();
    let req = Request {
        frames: &frames,
        body: None,
        keep: Keep::default(),
        fields: false,
    };
    let began = tokio::time::Instant::now();
    let end = answer(&conn, req).await;
    assert_eq!(end.err().map(|e| e.0), Some(StreamError::Stalled));
    let waited = began.elapsed();
    assert!(
        waited >= KEEP_ALIVE * 2 && waited < KEEP_ALIVE * 2 + Duration::from_secs(1),
        "{waited:?}"
    );
    assert_eq!(pings.load(Ordering::SeqCst), 1);
    assert!(!conn.is_open());
}

/// The RST_STREAM frames a client sent: (stream, error code's bytes).
type Resets = Arc<StdMutex<Vec<(u32, Vec<u8>)>>>;

/// Serves `answer` on `server`, noting the RST_STREAM frames the client sends.
fn serve_noting_resets(server: DuplexStream, answer: fn(Seen) -> Vec<u8>) -> Resets {
    let resets = Resets::default();
    let r = Arc::clone(&resets);
    tokio::spawn(serve(server, Vec::new(), move |seen: Seen| {
        if seen.0 == kind::RST_STREAM {
            r.lock().expect("resets").push((seen.2, seen.3.clone()));
        }
        answer(seen)
    }));
    resets
}

/// A frame: its head, then `payload`.
fn put_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let length = payload.len();
    put_head(
        out,
        Head {
            length,
            kind,
            flags,
            stream,
        },
    );
    out.extend_from_slice(payload);
}

/// A 4 KB header block that decodes to 21 fields of 4,000 bytes: `:status` 200; `x` with
/// incremental indexing, its value 4,000 bytes long (127 + 0x21 + 0x1e·128); then the
/// dynamic entry (62) 20 times.
fn list_past_64_kib() -> Vec<u8> {
    let mut block = vec![0x88, 0x40, 0x01, b'x', 0x7f, 0xa1, 0x1e];
    block.extend(std::iter::repeat_n(b'v', 4000));
    block.extend(std::iter::repeat_n(0xbe, 20));
    block
}

/// Stream 1: a block that decodes past 64 KiB, the stream left open. Stream 3: `:status`
/// 200 and the dynamic entry `x`. Stream 5: HEADERS and CONTINUATIONs past 64 KiB.
fn oversized((kind, _, stream, _): Seen) -> Vec<u8> {
    let mut out = Vec::new();
    match (kind, stream) {
        (kind::HEADERS, 1) => {
            put_frame(
                &mut out,
                kind::HEADERS,
                frame::END_HEADERS,
                1,
                &list_past_64_kib(),
            );
        }
        (kind::HEADERS, 3) => {
            let flags = frame::END_HEADERS | frame::END_STREAM;
            put_frame(&mut out, kind::HEADERS, flags, 3, &[0x88, 0xbe]);
        }
        (kind::HEADERS, 5) => {
            put_frame(&mut out, kind::HEADERS, 0, 5, &[0x88]);
            for last in [false, false, false, false, true] {
                let flags = if last { frame::END_HEADERS } else { 0 };
                put_frame(&mut out, kind::CONTINUATION, flags, 5, &[0x88; 16_384]);
            }
        }
        _ => {}
    }
    out
}

#[tokio::test]
async fn header_blocks_and_lists_past_64_kib_are_refused() {
    // Stream 1's list is malformed and its stream reset (PROTOCOL_ERROR); the connection
    // goes on, its HPACK table whole (stream 3 reads the entry). Stream 5's block ends the
    // connection (COMPRESSION_ERROR), never held whole.
    let (client, server) = tokio::io::duplex(1 << 20);
    let resets = serve_noting_resets(server, oversized);
    let conn = Conn::start(client, |_| {});
    let frames = get_frame();
    let send = || get(&frames, true);
    assert_eq!(
        ended(answer(&conn, send()).await),
        Some(StreamError::Malformed("a header list over 64 KiB"))
    );
    assert!(conn.is_open());
    let third = answer(&conn, send())
        .await
        .expect("stream 3, on the same table");
    let x: Vec<usize> = (third.fields.iter())
        .filter(|(n, _)| &n[..] == b"x")
        .map(|(_, v)| v.len())
        .collect();
    assert_eq!(x, [4000]);
    assert_closed(
        ended(answer(&conn, send()).await),
        "a header block over 64 KiB",
    );
    let protocol = code::PROTOCOL_ERROR.to_be_bytes().to_vec();
    assert_eq!(*resets.lock().expect("resets"), [(1, protocol)]);
}

/// Stream 1: a WINDOW_UPDATE of 0. Stream 3: one that takes its window past 2^31-1.
/// Stream 5: a PING on a stream.
fn bad_credit((kind, _, stream, _): Seen) -> Vec<u8> {
    let mut out = Vec::new();
    match (kind, stream) {
        (kind::HEADERS, 1) => frame::put_window_update(&mut out, 1, 0),
        (kind::HEADERS, 3) => frame::put_window_update(&mut out, 3, 0x7fff_ffff),
        (kind::HEADERS, 5) => put_frame(&mut out, kind::PING, 0, 5, &[0; 8]),
        _ => {}
    }
    out
}

#[tokio::test]
async fn bad_flow_control_is_a_stream_error_and_a_frame_on_the_wrong_stream_a_connection_one() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let resets = serve_noting_resets(server, bad_credit);
    let conn = Conn::start(client, |_| {});
    let frames = get_frame();
    let send = || get(&frames, false);
    assert_eq!(
        ended(answer(&conn, send()).await),
        Some(StreamError::Malformed("a WINDOW_UPDATE of 0"))
    );
    assert_eq!(
        ended(answer(&conn, send()).await),
        Some(StreamError::Malformed("a stream's window past 2^31-1"))
    );
    assert!(conn.is_open());
    assert_closed(
        ended(answer(&conn, send()).await),
        "a frame on the wrong stream",
    );
    let codes = [code::PROTOCOL_ERROR, code::FLOW_CONTROL_ERROR];
    let expected: Vec<(u32, Vec<u8>)> = [1, 3]
        .into_iter()
        .zip(codes)
        .map(|(s, c)| (s, c.to_be_bytes().to_vec()))
        .collect();
    assert_eq!(*resets.lock().expect("resets"), expected);
}
