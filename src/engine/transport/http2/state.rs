//! The state of a client HTTP/2 connection, behind its lock: its streams (what each will
//! keep of its response, what it read, how it ended, its flow-control windows, the body
//! it still has to send), the frames queued to write, the server's limits, and how the
//! connection ended. `conn`'s users open and end streams here; `read` changes it as frames
//! arrive. Depends on `frame` and the contract's `Keep`.

use std::collections::HashMap;
use std::task::Waker;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::frame::{self, code, setting};
use crate::engine::transport::contract::Keep;

/// Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE), larger than the
/// protocol's 64 KiB so a large body is not held back on a fast network.
pub(super) const STREAM_WINDOW: u32 = 4 << 20;
/// The connection's receive window.
pub(super) const CONN_WINDOW: u32 = 8 << 20;
/// How a stream ended, when it did not end with a whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// The server never processed it (above a graceful GOAWAY's last stream, or the
    /// connection was ending when it came): it may be sent again, on a new connection.
    Unprocessed,
    /// It was never sent: the connection had ended or had been told GOAWAY when it came.
    NotSent,
    /// The server refused it (RST_STREAM REFUSED_STREAM, RFC 9113 §8.7): it may be sent
    /// again.
    Refused,
    /// The response broke the protocol (no `:status`).
    Malformed(&'static str),
    /// The server reset it (RST_STREAM with this code).
    Reset(u32),
    /// The server's GOAWAY with an error code ended it.
    GoAway(u32),
    /// The connection ended (closed, or a protocol error), with why.
    Closed(String),
    /// The server stopped answering (the keep-alive ping went unanswered).
    Stalled,
}

/// A response as the connection read it.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    /// Its header fields, when the stream wanted them: (name, value) in order.
    pub fields: Vec<(Bytes, Bytes)>,
    pub body: BytesMut,
    pub bytes: u64,
    pub cut: bool,
    /// When its header block was read.
    pub first_byte: Option<Instant>,
}

/// What had come of a response when its user gave up on it (the deadline): the status,
/// once its header block was read, and the body bytes so far.
#[derive(Debug, Default, Clone, Copy)]
pub struct Partial {
    pub status: Option<u16>,
    pub bytes: u64,
}

/// A request for `Conn::exchange`.
pub struct Request<'a> {
    /// Its HEADERS frame (and CONTINUATIONs), stream id 0, written in here.
    pub frames: &'a frame::RequestFrame,
    pub body: Option<Bytes>,
    pub keep: Keep,
    /// Keep every header field (the server's time is read from them).
    pub fields: bool,
}

#[derive(Default)]
pub(super) struct State {
    /// Frames to write.
    pub(super) out: Vec<u8>,
    pub(super) next_id: u32,
    pub(super) open: usize,
    pub(super) max_open: usize,
    pub(super) streams: HashMap<u32, Stream>,
    /// Users waiting for a stream below the server's limit.
    pub(super) waiting: Vec<Waker>,
    pub(super) send_window: i64,
    pub(super) initial_send_window: i64,
    pub(super) max_frame: usize,
    /// Why the connection takes no new stream.
    pub(super) ended: Option<StreamError>,
    /// The server's GOAWAY: its last stream id and code.
    pub(super) goaway: Option<(u32, u32)>,
}

#[derive(Default)]
pub(super) struct Stream {
    pub(super) keep: Keep,
    pub(super) fields_wanted: bool,
    pub(super) waker: Option<Waker>,
    pub(super) response: Response,
    /// Headers read (a final status).
    pub(super) headed: bool,
    pub(super) unacked: u32,
    pub(super) send_window: i64,
    /// Body bytes still to send (flow control held them back).
    pub(super) pending: Option<Bytes>,
    pub(super) end: Option<Result<(), StreamError>>,
}

impl State {
    /// A new stream for `req`: its frames queued, what flow control allows of its body too.
    pub(super) fn open_stream(&mut self, req: &Request<'_>) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        self.open += 1;
        req.frames.put(&mut self.out, id);
        let mut stream = Stream {
            keep: req.keep,
            fields_wanted: req.fields,
            send_window: self.initial_send_window,
            pending: req.body.clone().filter(|b| !b.is_empty()),
            ..Stream::default()
        };
        self.send_body(id, &mut stream);
        self.streams.insert(id, stream);
        id
    }

    /// Sends what the windows allow of `stream`'s pending body.
    pub(super) fn send_body(&mut self, id: u32, stream: &mut Stream) {
        let Some(body) = stream.pending.take() else {
            return;
        };
        let room = stream.send_window.min(self.send_window).max(0) as usize;
        let n = room.min(body.len());
        let last = n == body.len();
        if n > 0 || last {
            frame::put_data(&mut self.out, id, &body[..n], last, self.max_frame);
            stream.send_window -= n as i64;
            self.send_window -= n as i64;
        }
        if !last {
            stream.pending = Some(body.slice(n..));
        }
    }

    /// Ends stream `id` (if it is open) with `end`; its user and a waiting one are woken.
    pub(super) fn end_stream(
        &mut self,
        id: u32,
        end: Result<(), StreamError>,
        wakers: &mut Vec<Waker>,
    ) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        if stream.end.is_some() {
            return;
        }
        let ok = end.is_ok();
        stream.end = Some(end);
        // A response that came before the whole body went: the rest is not sent, and the
        // server is told the stream is done with.
        if stream.pending.take().is_some() && ok && self.ended.is_none() {
            frame::put_rst_stream(&mut self.out, id, code::CANCEL);
        }
        wakers.extend(stream.waker.take());
        self.open -= 1;
        // Every waiting user tries again (a waiter that gave up left its waker behind: waking
        // one alone could wake only that one).
        wakers.append(&mut self.waiting);
    }

    /// Ends the connection: no new stream, and every open one ends with why (those a
    /// graceful GOAWAY left unprocessed, or above an error GOAWAY's last id, as it says).
    pub(super) fn end_all(&mut self, why: StreamError, wakers: &mut Vec<Waker>) {
        if self.ended.is_none() {
            self.ended = Some(why.clone());
        }
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            let end = match self.goaway {
                Some((last, code)) if id > last && code == code::NO_ERROR => {
                    StreamError::Unprocessed
                }
                Some((_, code)) if code != code::NO_ERROR => StreamError::GoAway(code),
                _ => why.clone(),
            };
            self.end_stream(id, Err(end), wakers);
        }
        wakers.append(&mut self.waiting);
    }
}

impl State {
    pub(super) fn setting(
        &mut self,
        id: u16,
        value: u32,
        wakers: &mut Vec<Waker>,
    ) -> Result<(), frame::FrameError> {
        match id {
            setting::MAX_CONCURRENT_STREAMS => {
                let more = value as usize > self.max_open;
                self.max_open = value as usize;
                if more {
                    wakers.append(&mut self.waiting);
                }
            }
            setting::INITIAL_WINDOW_SIZE => {
                if value > 0x7fff_ffff {
                    return Err(frame::FrameError {
                        code: code::FLOW_CONTROL_ERROR,
                        why: "an initial window over 2^31-1",
                    });
                }
                let delta = i64::from(value) - self.initial_send_window;
                self.initial_send_window = i64::from(value);
                let ids: Vec<u32> = self.streams.keys().copied().collect();
                for id in ids {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.send_window += delta;
                        // §6.9.2: a change that takes a window past 2^31-1.
                        if s.send_window > frame::MAX_WINDOW {
                            return Err(frame::FrameError {
                                code: code::FLOW_CONTROL_ERROR,
                                why: "a stream's window past 2^31-1",
                            });
                        }
                    }
                    self.resume_body(id);
                }
            }
            setting::MAX_FRAME_SIZE => {
                if !(16_384..=16_777_215).contains(&value) {
                    return Err(frame::FrameError {
                        code: code::PROTOCOL_ERROR,
                        why: "a max frame size out of range",
                    });
                }
                self.max_frame = value as usize;
            }
            _ => {}
        }
        Ok(())
    }

    /// Sends more of stream `id`'s held-back body, if the windows opened.
    pub(super) fn resume_body(&mut self, id: u32) {
        if let Some(mut stream) = self.streams.remove(&id) {
            if stream.end.is_none() {
                self.send_body(id, &mut stream);
            }
            self.streams.insert(id, stream);
        }
    }
}
