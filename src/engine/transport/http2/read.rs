//! The reading side of a client HTTP/2 connection: each whole frame the server sent, as
//! it changes the connection's `State` (responses' header blocks decoded in order, bodies
//! kept as each stream says, flow-control credit given back, SETTINGS and PING answered,
//! resets and GOAWAY ending their streams). Depends on `frame`, `hpack` and `state`.

use std::task::Waker;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};

use super::frame::{self, Head, code, kind};
use super::hpack::Decoder;
use super::state::{CONN_WINDOW, STREAM_WINDOW, State, StreamError};

/// The largest header block (HEADERS and its CONTINUATIONs) read, as HTTP/1.1's largest
/// head: a server that sends more ends the connection (COMPRESSION_ERROR, as RFC 9113
/// §10.5.1 says of a block not processed), so memory stays bounded.
const MAX_BLOCK: usize = 64 << 10;

/// The largest header list a response may decode to (each field's name and value and 32,
/// RFC 9113 §6.5.2): a small block can reference the dynamic table over and over, so the
/// list is bounded apart from the block; a response over it is malformed. The client's
/// SETTINGS say so (SETTINGS_MAX_HEADER_LIST_SIZE), so a server that reads them keeps under.
pub(super) const MAX_LIST: usize = 64 << 10;

/// What the task keeps between reads: the header decoder, and a header block that goes on
/// in CONTINUATION frames.
#[derive(Default)]
pub(super) struct Reader {
    hpack: Decoder,
    /// (stream, block so far, END_STREAM) of a block awaiting its END_HEADERS.
    block: Option<(u32, Vec<u8>, bool)>,
    /// DATA bytes read since the connection's last WINDOW_UPDATE.
    unacked: u32,
}

fn protocol(why: &str) -> StreamError {
    StreamError::Closed(format!("the server broke HTTP/2: {why}"))
}

impl Reader {
    /// Handles every whole frame in `buf`; `Err` ends the connection.
    pub(super) fn frames(
        &mut self,
        buf: &mut BytesMut,
        state: &mut State,
        at: Instant,
        wakers: &mut Vec<Waker>,
    ) -> Result<(), StreamError> {
        while let Some(head) = Head::parse(buf) {
            if head.length > frame::DEFAULT_MAX_FRAME {
                frame::put_goaway(&mut state.out, 0, code::FRAME_SIZE_ERROR);
                return Err(protocol("a frame larger than the client allows"));
            }
            if buf.len() < 9 + head.length {
                buf.reserve(9 + head.length - buf.len());
                return Ok(());
            }
            let whole = buf.split_to(9 + head.length).freeze();
            let payload = whole.slice(9..);
            if let Err(e) = self.frame(head, payload, state, at, wakers) {
                frame::put_goaway(&mut state.out, 0, e.code);
                return Err(protocol(e.why));
            }
        }
        Ok(())
    }

    fn frame(
        &mut self,
        head: Head,
        payload: Bytes,
        state: &mut State,
        at: Instant,
        wakers: &mut Vec<Waker>,
    ) -> Result<(), frame::FrameError> {
        let bad = |why| frame::FrameError {
            code: code::PROTOCOL_ERROR,
            why,
        };
        if self.block.is_some() && head.kind != kind::CONTINUATION {
            return Err(bad("a header block interrupted"));
        }
        // Frames of the connection come on stream 0, a stream's never (§6).
        let of_connection = matches!(head.kind, kind::SETTINGS | kind::PING | kind::GOAWAY);
        let of_stream = matches!(
            head.kind,
            kind::DATA | kind::HEADERS | kind::CONTINUATION | kind::RST_STREAM | kind::PRIORITY
        );
        if (of_connection && head.stream != 0) || (of_stream && head.stream == 0) {
            return Err(bad("a frame on the wrong stream"));
        }
        match head.kind {
            kind::DATA => self.data(head, &payload, state, wakers)?,
            kind::HEADERS => {
                let range = frame::content(&head, &payload)?;
                let block = payload[range].to_vec();
                let end_stream = head.flags & frame::END_STREAM != 0;
                self.block = Some((head.stream, block, end_stream));
                if head.flags & frame::END_HEADERS != 0 {
                    self.headers(state, at, wakers)?;
                }
            }
            kind::CONTINUATION => {
                let Some((stream, block, _)) = &mut self.block else {
                    return Err(bad("a CONTINUATION without HEADERS"));
                };
                if *stream != head.stream {
                    return Err(bad("a CONTINUATION of another stream"));
                }
                if block.len() + payload.len() > MAX_BLOCK {
                    return Err(frame::FrameError {
                        code: code::COMPRESSION_ERROR,
                        why: "a header block over 64 KiB",
                    });
                }
                block.extend_from_slice(&payload);
                if head.flags & frame::END_HEADERS != 0 {
                    self.headers(state, at, wakers)?;
                }
            }
            kind::RST_STREAM | kind::SETTINGS | kind::PING | kind::GOAWAY | kind::WINDOW_UPDATE => {
                control(head, &payload, state, wakers)?;
            }
            kind::PUSH_PROMISE => return Err(bad("a PUSH_PROMISE, which the client disabled")),
            // PRIORITY, PING and SETTINGS acknowledgements, unknown types: nothing to do.
            _ => {}
        }
        Ok(())
    }

    /// A DATA frame: its bytes counted (and kept as the stream's `keep` says), its flow
    /// control credit given back once half a window was read.
    fn data(
        &mut self,
        head: Head,
        payload: &Bytes,
        state: &mut State,
        wakers: &mut Vec<Waker>,
    ) -> Result<(), frame::FrameError> {
        let range = frame::content(&head, payload)?;
        let length = head.length as u32;
        self.unacked += length;
        if self.unacked >= CONN_WINDOW / 2 {
            frame::put_window_update(&mut state.out, 0, self.unacked);
            self.unacked = 0;
        }
        let end = head.flags & frame::END_STREAM != 0;
        let Some(stream) = state.streams.get_mut(&head.stream) else {
            return Ok(());
        };
        if stream.end.is_some() {
            return Ok(());
        }
        let data = &payload[range];
        let r = &mut stream.response;
        r.bytes += data.len() as u64;
        let keep = stream.keep.for_status(r.status);
        if keep.body {
            let room = keep.max_body.saturating_sub(r.body.len());
            r.body.put_slice(&data[..data.len().min(room)]);
            r.cut |= data.len() > room;
        }
        stream.unacked += length;
        if !end && stream.unacked >= STREAM_WINDOW / 2 {
            frame::put_window_update(&mut state.out, head.stream, stream.unacked);
            stream.unacked = 0;
        }
        if end {
            state.end_stream(head.stream, Ok(()), wakers);
        }
        Ok(())
    }

    /// A whole header block: decoded (always: the table is the connection's), its status
    /// and fields given to its stream.
    fn headers(
        &mut self,
        state: &mut State,
        at: Instant,
        wakers: &mut Vec<Waker>,
    ) -> Result<(), frame::FrameError> {
        let Some((id, block, end)) = self.block.take() else {
            return Ok(());
        };
        let mut stream = state.streams.get_mut(&id).filter(|s| s.end.is_none());
        let mut status = None;
        let mut fields = Vec::new();
        let want = stream.as_ref().is_some_and(|s| !s.headed);
        let keep_fields = stream.as_ref().map(|s| (s.fields_wanted, s.keep));
        let mut listed = 0;
        let decoded = self.hpack.decode(&block, |name, value| {
            listed += name.len() + value.len() + 32;
            if !want || listed > MAX_LIST {
                return;
            }
            if name == b":status" {
                status = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok());
                return;
            }
            let Some((wanted, keep)) = keep_fields else {
                return;
            };
            let keeps = wanted || status.is_some_and(|s| keep.for_status(s).headers);
            if keeps {
                fields.push((Bytes::copy_from_slice(name), Bytes::copy_from_slice(value)));
            }
        });
        decoded.map_err(|e| frame::FrameError {
            code: code::COMPRESSION_ERROR,
            why: e.0,
        })?;
        if want && listed > MAX_LIST {
            malformed(state, id, end, "a header list over 64 KiB", wakers);
            return Ok(());
        }
        if let Some(s) = stream.as_mut() {
            match status {
                // 1xx: informational, the final status is still to come.
                Some(code) if (100..200).contains(&code) && !end => {}
                Some(code) => {
                    s.headed = true;
                    s.response.status = code;
                    s.response.fields = fields;
                    s.response.first_byte = Some(at);
                }
                None if !s.headed => {
                    malformed(state, id, end, "a response without :status", wakers);
                    return Ok(());
                }
                None => {}
            }
        }
        if end {
            state.end_stream(id, Ok(()), wakers);
        }
        Ok(())
    }
}

/// Ends stream `id` as a malformed response, a stream error (RFC 9113 §8.1.1): unless the
/// server ended the stream itself (`end`), it is told (RST_STREAM PROTOCOL_ERROR), so that
/// its side of the stream, and the stream's place under its limit, is freed too.
fn malformed(state: &mut State, id: u32, end: bool, why: &'static str, wakers: &mut Vec<Waker>) {
    let reset = (!end).then_some(code::PROTOCOL_ERROR);
    stream_error(state, id, reset, why, wakers);
}

/// A stream error (§5.4.2): the stream ends as malformed, and the server is told with
/// RST_STREAM `reset` (when given, and the connection still runs).
fn stream_error(
    state: &mut State,
    id: u32,
    reset: Option<u32>,
    why: &'static str,
    wakers: &mut Vec<Waker>,
) {
    if let Some(c) = reset
        && state.ended.is_none()
    {
        frame::put_rst_stream(&mut state.out, id, c);
    }
    state.end_stream(id, Err(StreamError::Malformed(why)), wakers);
}

/// A frame about the connection or a stream's course rather than a response: a reset,
/// the server's settings and pings (answered), its GOAWAY, flow-control credit.
fn control(
    head: Head,
    payload: &Bytes,
    state: &mut State,
    wakers: &mut Vec<Waker>,
) -> Result<(), frame::FrameError> {
    match head.kind {
        kind::RST_STREAM => {
            let reset = frame::word(payload, 0)?;
            let end = match reset {
                code::REFUSED_STREAM => StreamError::Refused,
                c => StreamError::Reset(c),
            };
            state.end_stream(head.stream, Err(end), wakers);
        }
        kind::SETTINGS if head.flags & frame::ACK == 0 => {
            for (id, value) in frame::settings(payload)? {
                state.setting(id, value, wakers)?;
            }
            frame::put_settings(&mut state.out, &[], true);
        }
        kind::PING if head.flags & frame::ACK == 0 => {
            let data: [u8; 8] = payload[..].try_into().map_err(|_| frame::FrameError {
                code: code::FRAME_SIZE_ERROR,
                why: "a PING not of 8 bytes",
            })?;
            frame::put_ping(&mut state.out, data, true);
        }
        kind::GOAWAY => {
            let last = frame::word(payload, 0)? & 0x7fff_ffff;
            let error = frame::word(payload, 4)?;
            state.goaway = Some((last, error));
            let refused: Vec<u32> = state
                .streams
                .keys()
                .copied()
                .filter(|&id| id > last)
                .collect();
            for id in refused {
                let end = match error {
                    code::NO_ERROR => StreamError::Unprocessed,
                    c => StreamError::GoAway(c),
                };
                state.end_stream(id, Err(end), wakers);
            }
            wakers.append(&mut state.waiting);
        }
        kind::WINDOW_UPDATE => window_update(head, payload, state, wakers)?,
        _ => {}
    }
    Ok(())
}

/// Flow-control credit from the server (§6.9): for the connection (stream 0) or a stream.
/// An increment of 0 is a protocol error, and a window past 2^31-1 a flow-control one: of
/// the connection on stream 0, of the stream otherwise.
fn window_update(
    head: Head,
    payload: &Bytes,
    state: &mut State,
    wakers: &mut Vec<Waker>,
) -> Result<(), frame::FrameError> {
    let increment = i64::from(frame::word(payload, 0)? & 0x7fff_ffff);
    if head.stream == 0 {
        if increment == 0 {
            return Err(frame::FrameError {
                code: code::PROTOCOL_ERROR,
                why: "a WINDOW_UPDATE of 0",
            });
        }
        if state.send_window + increment > frame::MAX_WINDOW {
            return Err(frame::FrameError {
                code: code::FLOW_CONTROL_ERROR,
                why: "the connection's window past 2^31-1",
            });
        }
        state.send_window += increment;
        let ids: Vec<u32> = (state.streams.iter())
            .filter(|(_, s)| s.pending.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            state.resume_body(id);
        }
        return Ok(());
    }
    let Some(s) = state
        .streams
        .get_mut(&head.stream)
        .filter(|s| s.end.is_none())
    else {
        return Ok(());
    };
    if increment == 0 {
        let reset = Some(code::PROTOCOL_ERROR);
        stream_error(state, head.stream, reset, "a WINDOW_UPDATE of 0", wakers);
    } else if s.send_window + increment > frame::MAX_WINDOW {
        let reset = Some(code::FLOW_CONTROL_ERROR);
        stream_error(
            state,
            head.stream,
            reset,
            "a stream's window past 2^31-1",
            wakers,
        );
    } else {
        s.send_window += increment;
        state.resume_body(head.stream);
    }
    Ok(())
}
