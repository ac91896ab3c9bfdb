//! Reading an HTTP/1.1 response body by its framing (a length, chunks, or until the server
//! closes), out of the session's reused read buffer, into a `Sink` that counts every byte
//! and keeps only what the step asked for.
//!
//! Depends on `codec` (framing, the chunked decoder), `dial` (the connection), `contract`
//! (`Keep`), `failure` and `metrics` (error classes). Invariants: no allocation per
//! response beyond the kept body (the buffer is stepped past in place, never split off,
//! except until-close pieces); a failure here is class `body`, with the status and the
//! bytes counted so far.

use bytes::{Buf, BufMut, BytesMut};

use super::codec::{Chunked, Framing, Malformed};
use crate::engine::transport::contract::Keep;
use crate::engine::transport::dial::Io;
use crate::engine::transport::failure::{Failure, Progress};
use crate::metrics::ErrorClass;

/// Where a response's body goes: every byte counted in `progress`, the first `max_body`
/// kept when the step reads the body.
pub struct Sink<'p> {
    keep: Keep,
    kept: BytesMut,
    cut: bool,
    progress: &'p mut Progress,
}

impl<'p> Sink<'p> {
    /// A sink for a body framed by `framing`: room for the whole kept body at once when its
    /// length is known (growing by doubling would hold up to twice `max_body` while it
    /// copies); nothing allocated when the step keeps no body.
    pub fn new(keep: Keep, framing: Framing, progress: &'p mut Progress) -> Self {
        let mut kept = BytesMut::new();
        if keep.body
            && let Framing::Length(n) = framing
        {
            kept.reserve(usize::try_from(n).unwrap_or(usize::MAX).min(keep.max_body));
        }
        Self {
            keep,
            kept,
            cut: false,
            progress,
        }
    }

    /// Counts `data`, and keeps what fits.
    #[inline]
    fn take(&mut self, data: &[u8]) {
        self.progress.bytes += data.len() as u64;
        if self.keep.body {
            let room = self.keep.max_body.saturating_sub(self.kept.len());
            self.kept.put_slice(&data[..data.len().min(room)]);
            self.cut |= data.len() > room;
        }
    }

    /// The body failed to arrive whole.
    fn failed(&self, why: String) -> Failure {
        self.progress.fail(ErrorClass::Body, why)
    }

    /// The kept body, and whether it is only the first part of a longer one.
    pub fn finish(self) -> (bytes::Bytes, bool) {
        (self.kept.freeze(), self.cut)
    }
}

/// Reads the body framed by `framing` from `buf` and then `io` into `sink`; returns whether
/// the framing lets the connection carry another request (`keep_alive`, from the head,
/// unless the body ends at the close).
pub async fn read_body(
    io: &mut Io,
    buf: &mut BytesMut,
    framing: Framing,
    keep_alive: bool,
    sink: &mut Sink<'_>,
) -> Result<bool, Failure> {
    match framing {
        Framing::None => Ok(keep_alive),
        Framing::Length(n) => read_length(io, buf, n, sink).await.map(|()| keep_alive),
        Framing::Chunked => read_chunked(io, buf, sink).await.map(|()| keep_alive),
        Framing::UntilClose => read_until_close(io, buf, sink).await.map(|()| false),
    }
}

/// Exactly `n` bytes.
async fn read_length(
    io: &mut Io,
    buf: &mut BytesMut,
    n: u64,
    sink: &mut Sink<'_>,
) -> Result<(), Failure> {
    let mut left = n;
    loop {
        let have = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if have > 0 {
            // Read and step past in place: `split_to` would turn the buffer into a shared
            // one, an allocation per response.
            sink.take(&buf[..have]);
            buf.advance(have);
            left -= have as u64;
        }
        if left == 0 {
            return Ok(());
        }
        match io.read_buf(buf).await {
            Ok(0) => {
                let why = format!("connection closed with {left} of {n} body bytes unread");
                return Err(sink.failed(why));
            }
            Ok(_) => {}
            Err(e) => return Err(sink.failed(format!("reading the body: {e}"))),
        }
    }
}

/// `transfer-encoding: chunked`, up to the end of its trailers.
async fn read_chunked(io: &mut Io, buf: &mut BytesMut, sink: &mut Sink<'_>) -> Result<(), Failure> {
    let mut decoder = Chunked::default();
    loop {
        let fed = decoder.feed(buf, &mut |d| sink.take(d));
        let used = fed.map_err(|Malformed(why)| sink.failed(why))?;
        buf.advance(used);
        if decoder.is_done() {
            return Ok(());
        }
        match io.read_buf(buf).await {
            Ok(0) => {
                return Err(sink.failed("connection closed inside a chunked body".into()));
            }
            Ok(_) => {}
            Err(e) => return Err(sink.failed(format!("reading the body: {e}"))),
        }
    }
}

/// Everything until the server closes the connection.
async fn read_until_close(
    io: &mut Io,
    buf: &mut BytesMut,
    sink: &mut Sink<'_>,
) -> Result<(), Failure> {
    loop {
        if !buf.is_empty() {
            let piece = buf.split();
            sink.take(&piece);
        }
        match io.read_buf(buf).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            // Many TLS servers close without close_notify; for a body that ends at the
            // close, that close is its end (as curl and browsers take it).
            Err(e) if io.is_tls() && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(());
            }
            Err(e) => return Err(sink.failed(format!("reading the body: {e}"))),
        }
    }
}
