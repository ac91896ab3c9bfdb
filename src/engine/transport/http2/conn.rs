//! One client HTTP/2 connection, driven by one task that owns its socket.
//!
//! A user opens a stream (`Conn::exchange`): under the connection's lock the stream takes
//! the next id, its request's frames (encoded once for a literal step) go into the write
//! buffer, and the task is woken. The task writes everything queued in one write, reads
//! what the server sent, decodes the header blocks in their order (HPACK's table is the
//! connection's), and ends streams, waking their users. So a request costs one lock, a
//! copy of its frames and two wakes, and the users of a connection share its reads and
//! writes, as h2load's do. The task also answers SETTINGS and PING, gives flow-control
//! credit back as DATA is read, pings a server that has been silent for `KEEP_ALIVE` while
//! streams wait (and ends the connection when the ping is not answered in as long), and
//! when the connection ends, ends every stream on it with the reason.
//!
//! Streams never exceed the server's SETTINGS_MAX_CONCURRENT_STREAMS: a user beyond it
//! waits for a stream to end. A stream the user gives up on (its deadline) is reset
//! (RST_STREAM CANCEL). Depends on `frame`, `hpack`, the contract's `Keep` and the
//! engine's clock.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::frame::{self, code, setting};
use super::read::{MAX_LIST, Reader};
use super::state::{CONN_WINDOW, STREAM_WINDOW, State};
pub use super::state::{Partial, Request, Response, StreamError};
use crate::engine::clock::now;

/// A silence after which a connection with open streams is pinged, and the time the ping
/// has to be answered before the connection counts as dead.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// A handle to a connection; clones share it.
#[derive(Clone)]
pub struct Conn {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Conn {
    /// Starts the connection over `io`: its preface and settings are queued, and its task
    /// spawned. `ended` runs when the task ends, with whether the server closed it
    /// gracefully (GOAWAY NO_ERROR).
    pub fn start<IO>(io: IO, ended: impl FnOnce(bool) + Send + 'static) -> Conn
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(frame::PREFACE);
        let settings = [
            (setting::ENABLE_PUSH, 0),
            (setting::INITIAL_WINDOW_SIZE, STREAM_WINDOW),
            (setting::MAX_HEADER_LIST_SIZE, MAX_LIST as u32),
        ];
        frame::put_settings(&mut out, &settings, false);
        frame::put_window_update(&mut out, 0, CONN_WINDOW - 65_535);
        let state = State {
            out,
            next_id: 1,
            // Until the server's SETTINGS say, at most 100 streams (RFC 9113 §5.1.2).
            max_open: 100,
            send_window: 65_535,
            initial_send_window: 65_535,
            max_frame: frame::DEFAULT_MAX_FRAME,
            ..State::default()
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            wake: Notify::new(),
        });
        let task = Arc::clone(&shared);
        tokio::spawn(async move {
            // Should the task end any other way (a panic), its streams still end.
            let _ends = EndsStreams(Arc::clone(&task));
            let graceful = drive(io, &task).await;
            ended(graceful);
        });
        Conn { shared }
    }

    /// Whether the connection takes new streams.
    pub fn is_open(&self) -> bool {
        let state = lock(&self.shared);
        state.ended.is_none() && state.goaway.is_none()
    }

    /// Whether the server's GOAWAY says it processed streams of this connection: a server
    /// that refuses some requests while it serves others is making progress.
    pub fn served_before_goaway(&self) -> bool {
        lock(&self.shared).goaway.is_some_and(|(last, _)| last > 0)
    }

    /// Sends `req` on a new stream and waits for its whole response. Returns, with it or
    /// its error, the instant the request was handed to the connection. Dropped before the
    /// end (the deadline), the stream is reset and `partial` says what of the response had
    /// come (the user's deadline is outside, so the status read before it is not lost).
    pub async fn exchange(
        &self,
        req: Request<'_>,
        partial: &mut Partial,
    ) -> (Option<Instant>, Result<Response, (StreamError, Response)>) {
        let opened = std::future::poll_fn(|cx| {
            let mut state = lock(&self.shared);
            // Never sent: the transport sends it on a new connection.
            if state.ended.is_some() || state.goaway.is_some() || state.next_id > 0x7fff_ffff {
                return Poll::Ready(Err(StreamError::NotSent));
            }
            if state.open >= state.max_open {
                state.waiting.push(cx.waker().clone());
                return Poll::Pending;
            }
            Poll::Ready(Ok(state.open_stream(&req)))
        })
        .await;
        let id = match opened {
            Ok(id) => id,
            Err(e) => return (None, Err((e, Response::default()))),
        };
        let handed = now();
        self.shared.wake.notify_one();
        let mut guard = Guard {
            shared: &self.shared,
            id,
            done: false,
            partial,
        };
        let end = std::future::poll_fn(|cx| {
            let mut state = lock(&self.shared);
            let Some(stream) = state.streams.get_mut(&id) else {
                let lost = StreamError::Closed("the stream was lost".into());
                return Poll::Ready(Err((lost, Response::default())));
            };
            match stream.end.take() {
                Some(end) => {
                    // On an error too: the status and bytes read before it.
                    let response = std::mem::take(&mut stream.response);
                    state.streams.remove(&id);
                    Poll::Ready(match end {
                        Ok(()) => Ok(response),
                        Err(e) => Err((e, response)),
                    })
                }
                None => {
                    match &stream.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => stream.waker = Some(cx.waker().clone()),
                    }
                    Poll::Pending
                }
            }
        })
        .await;
        guard.done = true;
        (Some(handed), end)
    }
}

/// Resets a stream its user gave up on, and keeps what of its response had come.
struct Guard<'a, 'p> {
    shared: &'a Shared,
    id: u32,
    done: bool,
    partial: &'p mut Partial,
}

impl Drop for Guard<'_, '_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut wakers = Vec::new();
        {
            let mut state = lock(self.shared);
            if let Some(s) = state.streams.get(&self.id)
                && s.response.first_byte.is_some()
            {
                *self.partial = Partial {
                    status: Some(s.response.status),
                    bytes: s.response.bytes,
                };
            }
            let open = (state.streams.get(&self.id)).is_some_and(|s| s.end.is_none());
            if open && state.ended.is_none() {
                frame::put_rst_stream(&mut state.out, self.id, code::CANCEL);
                state.end_stream(self.id, Err(StreamError::Unprocessed), &mut wakers);
            }
            state.streams.remove(&self.id);
        }
        self.shared.wake.notify_one();
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// Ends every stream of a connection whose task ended without `finish` (a panic): no
/// user waits on a connection nothing drives.
struct EndsStreams(Arc<Shared>);

impl Drop for EndsStreams {
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        {
            let mut state = lock(&self.0);
            if state.ended.is_none() {
                let why = StreamError::Closed("the connection's task ended".into());
                state.end_all(why, &mut wakers);
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The connection's task: writes what is queued, reads and handles frames, pings a silent
/// server. Returns whether the server ended the connection gracefully.
async fn drive<IO>(mut io: IO, shared: &Shared) -> bool
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut reader = Reader::default();
    let mut spare: Vec<u8> = Vec::with_capacity(4096);
    let mut rbuf = BytesMut::with_capacity(64 << 10);
    let mut heard = now();
    let mut pinged: Option<Instant> = None;
    let why = loop {
        match flush(&mut io, shared, &mut spare).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(why) => break why,
        }
        let (open, going) = {
            let state = lock(shared);
            (state.open, state.goaway.is_some())
        };
        // The server said GOAWAY and its last streams ended: the client closes.
        if going && open == 0 {
            break StreamError::Closed("the server closed the connection (GOAWAY)".into());
        }
        let alarm = match pinged {
            Some(at) => at + KEEP_ALIVE,
            None => heard + KEEP_ALIVE,
        };
        tokio::select! {
            read = io.read_buf(&mut rbuf) => match read {
                Ok(0) => break StreamError::Closed("the server closed the connection".into()),
                Ok(_) => {
                    heard = now();
                    pinged = None;
                    let mut wakers = Vec::new();
                    let handled = {
                        let mut state = lock(shared);
                        reader.frames(&mut rbuf, &mut state, heard, &mut wakers)
                    };
                    wakers.into_iter().for_each(Waker::wake);
                    if let Err(why) = handled {
                        break why;
                    }
                }
                Err(e) => break StreamError::Closed(format!("reading: {e}")),
            },
            () = shared.wake.notified() => {
                // A user queued a request, and the users woken with it are about to queue
                // theirs: let them, so that one write carries them all (as h2load's event
                // loop does), instead of one write per request.
                tokio::task::yield_now().await;
            }
            () = tokio::time::sleep_until(alarm.into()), if open > 0 => {
                if pinged.is_some() {
                    break StreamError::Stalled;
                }
                pinged = Some(now());
                frame::put_ping(&mut lock(shared).out, *b"stampede", false);
            }
        }
    };
    finish(io, shared, why).await
}

/// Writes what the streams queued, in one write; `Ok(false)` when nothing was.
async fn flush<IO>(io: &mut IO, shared: &Shared, spare: &mut Vec<u8>) -> Result<bool, StreamError>
where
    IO: AsyncWrite + Unpin,
{
    let mut bytes = {
        let mut state = lock(shared);
        if state.out.is_empty() {
            return Ok(false);
        }
        std::mem::replace(&mut state.out, std::mem::take(spare))
    };
    let wrote = async {
        io.write_all(&bytes).await?;
        io.flush().await
    };
    // A server that takes nothing (its window full, its reading stopped) is as silent as
    // one that answers no ping.
    match tokio::time::timeout(KEEP_ALIVE * 2, wrote).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(StreamError::Closed(format!("writing: {e}"))),
        Err(_) => return Err(StreamError::Stalled),
    }
    bytes.clear();
    *spare = bytes;
    Ok(true)
}

/// Ends the connection with `why` (its last frames, a GOAWAY after a protocol error,
/// written if they can be): every stream ends, and whether the server closed it
/// gracefully is returned.
async fn finish<IO>(mut io: IO, shared: &Shared, why: StreamError) -> bool
where
    IO: AsyncWrite + Unpin,
{
    let mut wakers = Vec::new();
    let graceful = {
        let mut state = lock(shared);
        let graceful = state.goaway.is_some_and(|(_, c)| c == code::NO_ERROR);
        state.end_all(why, &mut wakers);
        graceful
    };
    wakers.into_iter().for_each(Waker::wake);
    // A stalled server may not read them: a second at most.
    let last = async {
        let _ = flush(&mut io, shared, &mut Vec::new()).await;
        let _ = io.shutdown().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), last).await;
    graceful
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
