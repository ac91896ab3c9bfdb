//! HTTP/1.1 on the wire, without I/O: encoding a request head into a reused buffer, parsing
//! a response head (httparse, in place), and decoding a chunked body incrementally.
//!
//! Pure functions over byte buffers, so every case is unit-tested (and fuzzed) without a
//! socket. Depends on `stamp` (the server's time is read while the headers are framed), and
//! on the types it names (`Keep`, `ServerClock`, `ServerTime`).

use std::fmt::Write as _;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::engine::transport::contract::Keep;
use crate::engine::transport::stamp::Stamps;
use crate::metrics::ServerTime;
use crate::scenario::ServerClock;

/// The most header lines a response may have; more is a malformed response (class `request`).
const MAX_HEADERS: usize = 96;

/// The most bytes a response head may take.
pub const MAX_HEAD: usize = 64 << 10;

/// Appends a request head (and the body, if any) to `out`. `target` is the path and query;
/// `host` the `Host` header's value. Headers named in `headers` are sent as given; `host`,
/// `user-agent` and `content-length` are added when the step does not set them.
pub fn encode_request(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    host: &str,
    headers: &HeaderMap,
    user_agent: &str,
    body: Option<&[u8]>,
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.contains_key("host") {
        line(out, b"host", host.as_bytes());
    }
    if !headers.contains_key("user-agent") {
        line(out, b"user-agent", user_agent.as_bytes());
    }
    for (name, value) in headers {
        line(out, name.as_str().as_bytes(), value.as_bytes());
    }
    match body {
        Some(body) => {
            if !headers.contains_key("content-length") {
                let mut n = String::new();
                let _ = write!(n, "{}", body.len());
                line(out, b"content-length", n.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(body);
        }
        None => {
            // A method that usually carries a body says it has none, or some servers wait.
            if matches!(method, "POST" | "PUT" | "PATCH") && !headers.contains_key("content-length")
            {
                line(out, b"content-length", b"0");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Bytes the head took in the buffer.
    pub len: usize,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection can carry another request after this response.
    pub keep_alive: bool,
    /// The headers, when asked for.
    pub headers: HeaderMap,
    /// The time the server says it spent, as the request's clock reads it.
    pub server_time: ServerTime,
}

/// Why a response head could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Parses a response head at the start of `buf`: `Ok(None)` when more bytes are needed.
/// `head_request` says the request was HEAD (no body whatever the headers say); `keep`
/// says whether the headers are copied out, for the status read (`Keep::for_status`);
/// `clock` says where the server's time is.
pub fn parse_head(
    buf: &[u8],
    head_request: bool,
    keep: Keep,
    clock: &ServerClock,
) -> Result<Option<Head>, Malformed> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(Malformed(format!(
                "response head longer than {MAX_HEAD} bytes"
            )));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Malformed(format!("malformed response head: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    let mut stamps = Stamps::new(clock);
    let keep = keep.for_status(status).headers;
    let (fields, headers) = read_fields(response.headers, keep, &mut stamps)?;
    let mut keep_alive = fields.connection.unwrap_or(response.version == Some(1));
    // A length beside chunked framing is a smuggling risk (RFC 9112 §6.3): read the body by
    // its chunks, then close. A switched protocol is no longer HTTP/1.1.
    if (fields.chunked && fields.length.is_some()) || status == 101 {
        keep_alive = false;
    }
    let framing = framing(status, head_request, &fields);
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    Ok(Some(Head {
        status,
        len,
        framing,
        keep_alive,
        headers,
        server_time: stamps.finish(),
    }))
}

/// What a head's headers say of its body and its connection.
#[derive(Debug, Default)]
struct Fields {
    /// `content-length`.
    length: Option<u64>,
    /// `transfer-encoding` ends with `chunked`.
    chunked: bool,
    /// The last `connection` header that says `close` (false) or `keep-alive` (true).
    connection: Option<bool>,
}

/// Reads the headers that frame the body and govern the connection, and shows each to
/// `stamps`; copies every header out when `keep` asks for them.
#[inline]
fn read_fields(
    raw: &[httparse::Header<'_>],
    keep: bool,
    stamps: &mut Stamps<'_>,
) -> Result<(Fields, HeaderMap), Malformed> {
    let mut fields = Fields::default();
    let mut headers = HeaderMap::new();
    for h in raw {
        stamps.see(h.name, h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).unwrap_or("").trim();
            let n: u64 = text
                .parse()
                .map_err(|_| Malformed(format!("content-length \"{text}\" is not a number")))?;
            if fields.length.is_some_and(|m| m != n) {
                return Err(Malformed("two different content-length headers".into()));
            }
            fields.length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            fields.chunked = std::str::from_utf8(h.value)
                .unwrap_or("")
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = std::str::from_utf8(h.value).unwrap_or("");
            if v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")) {
                fields.connection = Some(false);
            } else if v
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("keep-alive"))
            {
                fields.connection = Some(true);
            }
        }
        if keep
            && let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(h.name.as_bytes()),
                HeaderValue::from_bytes(h.value),
            )
        {
            headers.append(name, value);
        }
    }
    Ok((fields, headers))
}

/// How the body of a response with `status` is delimited (RFC 9112 §6.3).
#[inline]
fn framing(status: u16, head_request: bool, fields: &Fields) -> Framing {
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if fields.chunked {
        Framing::Chunked
    } else if let Some(n) = fields.length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    }
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading a size line.
    Size,
    /// This many data bytes of the current chunk are left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// The trailer section after the last chunk (ends with an empty line).
    Trailer,
    /// The body is complete.
    Done,
}

/// An incremental chunked-body decoder: feed it the buffer, it consumes what it can and
/// hands out the data bytes.
#[derive(Debug, Clone)]
pub struct Chunked {
    state: ChunkState,
}

impl Default for Chunked {
    fn default() -> Self {
        Self {
            state: ChunkState::Size,
        }
    }
}

impl Chunked {
    /// Whether the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes bytes from the front of `buf`, calling `data` with each piece of body data;
    /// returns how many bytes were consumed. Stops when it needs more bytes or is done.
    pub fn feed(&mut self, buf: &[u8], data: &mut dyn FnMut(&[u8])) -> Result<usize, Malformed> {
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            match self.state {
                ChunkState::Done => return Ok(at),
                ChunkState::Size | ChunkState::Trailer | ChunkState::DataEnd => {
                    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > 4096 {
                            return Err(Malformed("chunk size line too long".into()));
                        }
                        return Ok(at);
                    };
                    let text = &rest[..eol];
                    at += eol + 2;
                    self.state = match self.state {
                        ChunkState::DataEnd if text.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => {
                            return Err(Malformed("chunk data longer than its size".into()));
                        }
                        ChunkState::Trailer if text.is_empty() => ChunkState::Done,
                        ChunkState::Trailer => ChunkState::Trailer,
                        _ => match chunk_size(text)? {
                            0 => ChunkState::Trailer,
                            n => ChunkState::Data(n),
                        },
                    };
                }
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        return Ok(at);
                    }
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    data(&rest[..n]);
                    at += n;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
            }
        }
    }
}

/// The size of a chunk from its size line (hex, with optional `;extensions`).
fn chunk_size(line: &[u8]) -> Result<u64, Malformed> {
    let text = std::str::from_utf8(line).unwrap_or("");
    let hex = text.split(';').next().unwrap_or("").trim();
    u64::from_str_radix(hex, 16).map_err(|_| Malformed(format!("chunk size \"{hex}\" is not hex")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transport::contract::Accepted;

    /// Keeps every response's headers.
    const KEEP_HEADERS: Keep = Keep {
        body: false,
        headers: true,
        max_body: 0,
        accepted: Accepted::ALL,
    };

    #[test]
    fn a_failing_status_keeps_its_headers_an_accepted_one_does_not() {
        let keep = Keep {
            accepted: Accepted::of(|s| s == 200),
            ..Keep::default()
        };
        let head = |text: &str| {
            parse_head(text.as_bytes(), false, keep, &ServerClock::Auto)
                .expect("valid")
                .expect("complete")
        };
        let ok = head("HTTP/1.1 200 OK\r\nx-a: b\r\ncontent-length: 0\r\n\r\n");
        assert!(ok.headers.is_empty());
        let failed = head("HTTP/1.1 503 Busy\r\nx-a: b\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(
            failed.headers.get("x-a").map(|v| v.as_bytes()),
            Some(&b"b"[..])
        );
    }

    #[test]
    fn a_request_head_has_host_agent_headers_and_length() {
        let mut headers = HeaderMap::new();
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let mut out = Vec::new();
        encode_request(
            &mut out,
            "POST",
            "/users?x=1",
            "h:80",
            &headers,
            "s/1",
            Some(b"{}"),
        );
        let text = String::from_utf8(out).expect("ascii");
        assert_eq!(
            text,
            "POST /users?x=1 HTTP/1.1\r\nhost: h:80\r\nuser-agent: s/1\r\n\
             accept: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        let mut out = Vec::new();
        encode_request(&mut out, "GET", "", "h", &HeaderMap::new(), "s", None);
        assert_eq!(out, b"GET / HTTP/1.1\r\nhost: h\r\nuser-agent: s\r\n\r\n");
    }

    #[test]
    fn heads_give_status_framing_and_keep_alive() {
        let head =
            |text: &str| parse_head(text.as_bytes(), false, KEEP_HEADERS, &ServerClock::Auto);
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhello")
            .expect("valid")
            .expect("complete");
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (200, Framing::Length(5), true)
        );
        assert_eq!(h.len, 46);
        assert_eq!(h.headers.get("x-a").map(|v| v.as_bytes()), Some(&b"b"[..]));
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(h.framing, Framing::Chunked);
        let h = head("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let h = head("HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(h.framing, Framing::None);
        assert_eq!(head("HTTP/1.1 200 OK\r\ncontent-len"), Ok(None));
        assert!(head("\u{0}\u{1} garbage\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n").is_err());
        // A HEAD response announces a length but carries no body.
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n",
            true,
            Keep::default(),
            &ServerClock::Off,
        )
        .expect("valid")
        .expect("complete");
        assert_eq!(h.framing, Framing::None);
    }

    #[test]
    fn chunked_bodies_decode_across_any_split() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nx-trailer: 1\r\n\r\n";
        for split in 0..wire.len() {
            let mut decoder = Chunked::default();
            let mut body = Vec::new();
            let mut buf = wire[..split].to_vec();
            let used = decoder
                .feed(&buf, &mut |d| body.extend_from_slice(d))
                .expect("valid");
            buf.drain(..used);
            buf.extend_from_slice(&wire[split..]);
            decoder
                .feed(&buf, &mut |d| body.extend_from_slice(d))
                .expect("valid");
            assert!(decoder.is_done(), "split at {split}");
            assert_eq!(body, b"Wikipedia", "split at {split}");
        }
        let mut decoder = Chunked::default();
        assert!(decoder.feed(b"zz\r\n", &mut |_| {}).is_err());
    }

    /// Fuzzing of the response parser (the transport's untrusted input): arbitrary bytes,
    /// and real heads cut and mutated, never panic, and what is consumed stays in bounds.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn cases() -> u32 {
            std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(2_000)
        }

        const HEADS: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.0 301 Moved\r\nlocation: /x\r\nconnection: keep-alive\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nWiki\r\n0\r\n\r\n",
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
                if let Ok(Some(head)) = parse_head(&bytes, false, KEEP_HEADERS, &ServerClock::Auto) {
                    prop_assert!(head.len <= bytes.len());
                }
                let mut decoder = Chunked::default();
                let mut seen = 0usize;
                if let Ok(used) = decoder.feed(&bytes, &mut |d| seen += d.len()) {
                    prop_assert!(used <= bytes.len() && seen <= used);
                }
            }

            #[test]
            fn mutated_heads_never_panic(
                which in 0..HEADS.len(),
                cut in 0usize..200,
                flips in prop::collection::vec((0usize..200, any::<u8>()), 0..6),
            ) {
                let mut bytes = HEADS[which].to_vec();
                for (at, b) in flips {
                    let i = at % bytes.len();
                    bytes[i] = b;
                }
                bytes.truncate(cut.min(bytes.len()));
                if let Ok(Some(head)) = parse_head(&bytes, which == 2, Keep::default(), &ServerClock::Auto) {
                    prop_assert!(head.len <= bytes.len());
                    let mut decoder = Chunked::default();
                    let _ = decoder.feed(&bytes[head.len..], &mut |_| {});
                }
            }
        }
    }
}
