//! HTTP/2 frames (RFC 9113 §4 and §6): the 9-byte head, the payloads a client reads
//! (padding and priority fields taken off), and the frames it writes, appended to one
//! buffer so that a connection sends what its streams queued in one write. A literal
//! step's HEADERS frame is encoded once (`RequestFrame`) and sent with each stream's id
//! written in. Depends on nothing else in the transport.

/// Frame types (§6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

/// The client's connection preface (§3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The largest flow-control window (§6.9.1).
pub const MAX_WINDOW: i64 = 0x7fff_ffff;

/// The frame size every peer accepts (§4.2), the largest this client sends.
pub const DEFAULT_MAX_FRAME: usize = 16_384;

/// Settings identifiers (§6.5.2).
pub mod setting {
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// Error codes (§7).
pub mod code {
    pub const NO_ERROR: u32 = 0x0;
    pub const PROTOCOL_ERROR: u32 = 0x1;
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    pub const FRAME_SIZE_ERROR: u32 = 0x6;
    pub const REFUSED_STREAM: u32 = 0x7;
    pub const CANCEL: u32 = 0x8;
    pub const COMPRESSION_ERROR: u32 = 0x9;
}

/// A frame's head (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub length: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl Head {
    /// The head at the start of `bytes`, if 9 bytes are there.
    pub fn parse(bytes: &[u8]) -> Option<Head> {
        let b: &[u8; 9] = bytes.get(..9)?.try_into().ok()?;
        Some(Head {
            length: (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        let len = self.length as u32;
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.push(self.kind);
        out.push(self.flags);
        out.extend_from_slice(&(self.stream & 0x7fff_ffff).to_be_bytes());
    }
}

/// Why a frame could not be read: a connection error with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    pub code: u32,
    pub why: &'static str,
}

const fn protocol(why: &'static str) -> FrameError {
    FrameError {
        code: code::PROTOCOL_ERROR,
        why,
    }
}

/// A DATA or HEADERS payload without its padding (and, for HEADERS, its priority fields).
pub fn content(head: &Head, payload: &[u8]) -> Result<std::ops::Range<usize>, FrameError> {
    let mut start = 0;
    let mut end = payload.len();
    if head.flags & PADDED != 0 {
        let pad = usize::from(
            *payload
                .first()
                .ok_or(protocol("a padded frame without padding"))?,
        );
        start = 1;
        end = end
            .checked_sub(pad)
            .filter(|&e| e >= start)
            .ok_or(protocol("padding longer than the frame"))?;
    }
    if head.kind == kind::HEADERS && head.flags & PRIORITY_FLAG != 0 {
        start += 5;
        if start > end {
            return Err(protocol("a HEADERS frame shorter than its priority"));
        }
    }
    Ok(start..end)
}

/// A SETTINGS payload's (identifier, value) pairs.
pub fn settings(payload: &[u8]) -> Result<Vec<(u16, u32)>, FrameError> {
    if !payload.len().is_multiple_of(6) {
        return Err(FrameError {
            code: code::FRAME_SIZE_ERROR,
            why: "a SETTINGS frame not a multiple of 6 bytes",
        });
    }
    Ok(payload
        .chunks_exact(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect())
}

/// A 4-byte payload's number (WINDOW_UPDATE's increment, RST_STREAM's code), or the first
/// two of GOAWAY's (last stream id, code).
pub fn word(payload: &[u8], at: usize) -> Result<u32, FrameError> {
    let b = payload.get(at..at + 4).ok_or(FrameError {
        code: code::FRAME_SIZE_ERROR,
        why: "a frame shorter than its fields",
    })?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Appends a SETTINGS frame (an ACK when `values` is empty and `ack`).
pub fn put_settings(out: &mut Vec<u8>, values: &[(u16, u32)], ack: bool) {
    let head = Head {
        length: values.len() * 6,
        kind: kind::SETTINGS,
        flags: if ack { ACK } else { 0 },
        stream: 0,
    };
    head.write(out);
    for (id, value) in values {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Appends a WINDOW_UPDATE frame.
pub fn put_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    let head = Head {
        length: 4,
        kind: kind::WINDOW_UPDATE,
        flags: 0,
        stream,
    };
    head.write(out);
    out.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
}

/// Appends a PING frame (or its ACK).
pub fn put_ping(out: &mut Vec<u8>, data: [u8; 8], ack: bool) {
    let head = Head {
        length: 8,
        kind: kind::PING,
        flags: if ack { ACK } else { 0 },
        stream: 0,
    };
    head.write(out);
    out.extend_from_slice(&data);
}

/// Appends a RST_STREAM frame.
pub fn put_rst_stream(out: &mut Vec<u8>, stream: u32, code: u32) {
    let head = Head {
        length: 4,
        kind: kind::RST_STREAM,
        flags: 0,
        stream,
    };
    head.write(out);
    out.extend_from_slice(&code.to_be_bytes());
}

/// Appends a GOAWAY frame.
pub fn put_goaway(out: &mut Vec<u8>, last_stream: u32, code: u32) {
    let head = Head {
        length: 8,
        kind: kind::GOAWAY,
        flags: 0,
        stream: 0,
    };
    head.write(out);
    out.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
}

/// Appends DATA frames carrying `data` (split at `max_frame`), the last with END_STREAM
/// when `end`.
pub fn put_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end: bool, max_frame: usize) {
    let mut chunks = data.chunks(max_frame.max(1)).peekable();
    if chunks.peek().is_none() {
        let flags = if end { END_STREAM } else { 0 };
        let head = Head {
            length: 0,
            kind: kind::DATA,
            flags,
            stream,
        };
        head.write(out);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let head = Head {
            length: chunk.len(),
            kind: kind::DATA,
            flags: if last && end { END_STREAM } else { 0 },
            stream,
        };
        head.write(out);
        out.extend_from_slice(chunk);
    }
}

/// A request's HEADERS frame (and CONTINUATION frames for a block over `max_frame`),
/// encoded once; `put` writes it for a stream. END_STREAM is set when the request has no
/// body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrame {
    bytes: Vec<u8>,
    /// Where each frame's stream id is, to write it in.
    ids: Vec<usize>,
}

impl RequestFrame {
    /// The frames of header `block`.
    pub fn new(block: &[u8], end_stream: bool, max_frame: usize) -> Self {
        let mut bytes = Vec::with_capacity(block.len() + 9);
        let mut ids = Vec::new();
        let mut chunks = block.chunks(max_frame.max(1)).peekable();
        let mut first = true;
        loop {
            let chunk = chunks.next().unwrap_or_default();
            let last = chunks.peek().is_none();
            let mut flags = if last { END_HEADERS } else { 0 };
            if first && end_stream {
                flags |= END_STREAM;
            }
            let head = Head {
                length: chunk.len(),
                kind: if first {
                    kind::HEADERS
                } else {
                    kind::CONTINUATION
                },
                flags,
                stream: 0,
            };
            ids.push(bytes.len() + 5);
            head.write(&mut bytes);
            bytes.extend_from_slice(chunk);
            first = false;
            if last {
                break;
            }
        }
        Self { bytes, ids }
    }

    /// Appends the frames for `stream`.
    pub fn put(&self, out: &mut Vec<u8>, stream: u32) {
        let at = out.len();
        out.extend_from_slice(&self.bytes);
        let id = (stream & 0x7fff_ffff).to_be_bytes();
        for &i in &self.ids {
            out[at + i..at + i + 4].copy_from_slice(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip_and_the_reserved_bit_is_ignored() {
        let mut out = Vec::new();
        put_window_update(&mut out, 3, 65_535);
        assert_eq!(out, [0, 0, 4, 8, 0, 0, 0, 0, 3, 0, 0, 0xff, 0xff]);
        let head = Head::parse(&out).expect("a head");
        assert_eq!(
            head,
            Head {
                length: 4,
                kind: kind::WINDOW_UPDATE,
                flags: 0,
                stream: 3
            }
        );
        assert_eq!(word(&out[9..], 0), Ok(65_535));
        let reserved = [0, 0, 0, 0, 0, 0x80, 0, 0, 1];
        assert_eq!(Head::parse(&reserved).map(|h| h.stream), Some(1));
        assert_eq!(Head::parse(&reserved[..8]), None);
    }

    #[test]
    fn padding_and_priority_are_taken_off() {
        // HEADERS, padded (2) and with priority: pad length, 5 priority bytes, block, pad.
        let payload = [2, 0, 0, 0, 0, 16, 0x88, 0, 0];
        let head = Head {
            length: payload.len(),
            kind: kind::HEADERS,
            flags: PADDED | PRIORITY_FLAG | END_HEADERS,
            stream: 1,
        };
        assert_eq!(
            content(&head, &payload).map(|r| &payload[r]),
            Ok(&[0x88][..])
        );
        let data = Head {
            length: 3,
            kind: kind::DATA,
            flags: PADDED,
            stream: 1,
        };
        assert!(
            content(&data, &[5, b'a', b'b']).is_err(),
            "padding past the end"
        );
        assert_eq!(content(&data, &[1, b'a', 0]).map(|r| r.len()), Ok(1));
    }

    #[test]
    fn settings_read_and_write() {
        let mut out = Vec::new();
        let values = [
            (setting::ENABLE_PUSH, 0),
            (setting::INITIAL_WINDOW_SIZE, 1 << 22),
        ];
        put_settings(&mut out, &values, false);
        let head = Head::parse(&out).expect("head");
        assert_eq!(
            (head.kind, head.length, head.flags),
            (kind::SETTINGS, 12, 0)
        );
        assert_eq!(settings(&out[9..]), Ok(values.to_vec()));
        assert!(settings(&[0; 5]).is_err());
        let mut ack = Vec::new();
        put_settings(&mut ack, &[], true);
        assert_eq!(ack, [0, 0, 0, 4, ACK, 0, 0, 0, 0]);
    }

    #[test]
    fn a_request_frame_is_encoded_once_and_sent_on_any_stream() {
        let block: Vec<u8> = (0..40).collect();
        let frame = RequestFrame::new(&block, true, 16);
        let mut out = Vec::new();
        frame.put(&mut out, 1);
        frame.put(&mut out, 0x7fff_ffff);
        // Three frames each time (16 + 16 + 8): HEADERS, then two CONTINUATIONs.
        let mut at = 0;
        let mut seen = Vec::new();
        while let Some(head) = Head::parse(&out[at..]) {
            seen.push((head.kind, head.flags, head.stream, head.length));
            at += 9 + head.length;
        }
        let one = |s| {
            vec![
                (kind::HEADERS, END_STREAM, s, 16),
                (kind::CONTINUATION, 0, s, 16),
                (kind::CONTINUATION, END_HEADERS, s, 8),
            ]
        };
        assert_eq!(seen, [one(1), one(0x7fff_ffff)].concat());
        let small = RequestFrame::new(&[0x82], false, DEFAULT_MAX_FRAME);
        let mut out = Vec::new();
        small.put(&mut out, 5);
        assert_eq!(out, [0, 0, 1, kind::HEADERS, END_HEADERS, 0, 0, 0, 5, 0x82]);
    }

    #[test]
    fn data_is_split_at_the_frame_size() {
        let mut out = Vec::new();
        put_data(&mut out, 3, &[7; 10], true, 4);
        let mut at = 0;
        let mut lengths = Vec::new();
        while let Some(head) = Head::parse(&out[at..]) {
            lengths.push((head.length, head.flags));
            at += 9 + head.length;
        }
        assert_eq!(lengths, [(4, 0), (4, 0), (2, END_STREAM)]);
        let mut empty = Vec::new();
        put_data(&mut empty, 3, &[], true, 4);
        assert_eq!(empty, [0, 0, 0, kind::DATA, END_STREAM, 0, 0, 0, 3]);
        let mut other = Vec::new();
        put_rst_stream(&mut other, 9, code::CANCEL);
        put_goaway(&mut other, 7, code::NO_ERROR);
        put_ping(&mut other, [1; 8], true);
        let kinds: Vec<u8> = [0, 13, 30].iter().map(|&i| other[i + 3]).collect();
        assert_eq!(kinds, [kind::RST_STREAM, kind::GOAWAY, kind::PING]);
    }
}
