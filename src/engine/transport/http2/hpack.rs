//! HPACK (RFC 7541): the header blocks of HTTP/2.
//!
//! `Decoder` reads a server's blocks (the static table, a dynamic table of the size the
//! client allows, Huffman strings) and hands each field to a callback without allocating
//! for names or values it already holds. `Encoder` writes the client's request blocks as
//! literals that are never indexed: a request's block then depends on nothing but the
//! request, so a literal step's block is encoded once and sent as it is on every stream.
//! Depends on `huffman`.

use std::collections::VecDeque;

use super::huffman;

/// The static table (Appendix A), 1-based in the protocol.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The dynamic table's size the client allows (SETTINGS_HEADER_TABLE_SIZE's default).
pub const TABLE_SIZE: usize = 4096;

/// The largest integer a block may hold (a length or an index): far above any real one,
/// below any overflow.
const MAX_INT: usize = 1 << 24;

/// Why a header block could not be read: a connection error (COMPRESSION_ERROR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpackError(pub &'static str);

/// A server's header blocks, read in the order they come (the dynamic table is the
/// connection's).
#[derive(Debug)]
pub struct Decoder {
    /// Newest first, as the protocol numbers them (index 62 is the front).
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// The entries' size (RFC 7541 §4.1: each name, value and 32).
    size: usize,
    /// The size the server last chose, at most `limit`.
    max: usize,
    /// The size the client allows.
    limit: usize,
    /// Huffman strings decoded into here, one field at a time.
    scratch: (Vec<u8>, Vec<u8>),
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(TABLE_SIZE)
    }
}

/// Where a field's name or value is: in the block, in a table, or decoded into scratch.
#[derive(Clone, Copy)]
enum Text {
    Block(usize, usize),
    Static(usize),
    Dynamic(usize),
    Scratch,
}

impl Decoder {
    /// A decoder whose dynamic table is at most `limit` (the client's
    /// SETTINGS_HEADER_TABLE_SIZE).
    pub fn new(limit: usize) -> Self {
        Self {
            table: VecDeque::new(),
            size: 0,
            max: limit,
            limit,
            scratch: (Vec::new(), Vec::new()),
        }
    }

    /// The dynamic table's size now (§4.1).
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Reads `block`, handing each field (name, value) to `field` in order.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let mut at = 0;
        let mut fields_seen = false;
        while at < block.len() {
            let first = block[at];
            if first & 0x80 != 0 {
                // Indexed field.
                let index = integer(block, &mut at, 7)?;
                let (name, value) = self.entry(index)?;
                field(name, value);
                fields_seen = true;
            } else if first & 0xe0 == 0x20 {
                // A dynamic table size update, only before the block's first field.
                if fields_seen {
                    return Err(HpackError("a table size update after a field"));
                }
                let size = integer(block, &mut at, 5)?;
                if size > self.limit {
                    return Err(HpackError("a table size above the client's setting"));
                }
                self.max = size;
                self.evict(0);
            } else {
                // A literal: with incremental indexing (01), without (0000), never (0001).
                let (prefix, indexing) = match first & 0xc0 == 0x40 {
                    true => (6, true),
                    false => (4, false),
                };
                let index = integer(block, &mut at, prefix)?;
                let name = match index {
                    0 => self.string(block, &mut at, false)?,
                    i => self.name_at(i)?,
                };
                let value = self.string(block, &mut at, true)?;
                {
                    let n = self.text(block, name, false);
                    let v = self.text(block, value, true);
                    field(n, v);
                }
                if indexing {
                    let n = self.text(block, name, false).to_vec();
                    let v = self.text(block, value, true).to_vec();
                    self.insert(n, v);
                }
                fields_seen = true;
            }
        }
        Ok(())
    }

    /// The field at `index` (1-based: static, then dynamic).
    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), HpackError> {
        match index {
            0 => Err(HpackError("index 0")),
            i if i <= STATIC.len() => {
                let (n, v) = STATIC[i - 1];
                Ok((n.as_bytes(), v.as_bytes()))
            }
            i => (self.table.get(i - STATIC.len() - 1))
                .map(|(n, v)| (n.as_slice(), v.as_slice()))
                .ok_or(HpackError("an index past the tables")),
        }
    }

    /// Where the name of the field at `index` is.
    fn name_at(&self, index: usize) -> Result<Text, HpackError> {
        self.entry(index)?;
        Ok(match index {
            i if i <= STATIC.len() => Text::Static(i - 1),
            i => Text::Dynamic(i - STATIC.len() - 1),
        })
    }

    /// Reads a string literal at `at`: its place in the block, or decoded into scratch.
    fn string(&mut self, block: &[u8], at: &mut usize, value: bool) -> Result<Text, HpackError> {
        let huffman = block.get(*at).ok_or(HpackError("a block cut short"))? & 0x80 != 0;
        let len = integer(block, at, 7)?;
        let start = *at;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= block.len())
            .ok_or(HpackError("a string past the block's end"))?;
        *at = end;
        if !huffman {
            return Ok(Text::Block(start, end));
        }
        let out = match value {
            true => &mut self.scratch.1,
            false => &mut self.scratch.0,
        };
        out.clear();
        huffman::decode(&block[start..end], out).map_err(|_| HpackError("a bad Huffman string"))?;
        Ok(Text::Scratch)
    }

    fn text<'a>(&'a self, block: &'a [u8], text: Text, value: bool) -> &'a [u8] {
        match text {
            Text::Block(s, e) => &block[s..e],
            Text::Static(i) => STATIC[i].0.as_bytes(),
            Text::Dynamic(i) => self.table.get(i).map_or(&[][..], |(n, _)| n.as_slice()),
            Text::Scratch if value => &self.scratch.1,
            Text::Scratch => &self.scratch.0,
        }
    }

    /// Adds an entry at the front, evicting from the back to make room (§4.4: an entry
    /// larger than the table empties it and is not added).
    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = name.len() + value.len() + 32;
        self.evict(size);
        if size <= self.max {
            self.size += size;
            self.table.push_front((name, value));
        }
    }

    /// Evicts the oldest entries until `room` more fits.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => break,
            }
        }
    }
}

/// Reads an integer with an `prefix`-bit prefix at `at` (§5.1).
fn integer(block: &[u8], at: &mut usize, prefix: u32) -> Result<usize, HpackError> {
    let cut = HpackError("a block cut short");
    let mask = (1usize << prefix) - 1;
    let first = *block.get(*at).ok_or(cut.clone())? as usize & mask;
    *at += 1;
    if first < mask {
        return Ok(first);
    }
    let (mut value, mut shift) = (mask, 0);
    loop {
        let byte = *block.get(*at).ok_or(cut.clone())? as usize;
        *at += 1;
        if shift > 21 {
            return Err(HpackError("an integer too large"));
        }
        value += (byte & 0x7f) << shift;
        if value > MAX_INT {
            return Err(HpackError("an integer too large"));
        }
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// Writes `value` with an `prefix`-bit prefix, the first byte's other bits `flags`.
fn put_integer(out: &mut Vec<u8>, flags: u8, prefix: u32, value: usize) {
    let mask = (1usize << prefix) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// The client's request blocks: each field a literal never indexed (so blocks do not depend
/// on each other), its name from the static table when it is there; `:method GET` and
/// `POST`, `:scheme` and `:path /` as their static entries.
pub struct Encoder;

impl Encoder {
    /// Appends the block of a request to `out`: the pseudo-header fields, then `headers`
    /// (names lowercase, as HTTP/2 requires).
    pub fn request<'h>(
        out: &mut Vec<u8>,
        method: &str,
        scheme: &str,
        authority: &str,
        path: &str,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) {
        // A table size update to 0 first: the client's blocks use no dynamic table, and a
        // server that lowered its SETTINGS_HEADER_TABLE_SIZE is told so, as it must be.
        out.push(0x20);
        match method {
            "GET" => out.push(0x82),
            "POST" => out.push(0x83),
            m => Self::field(out, ":method", m.as_bytes()),
        }
        match scheme {
            "http" => out.push(0x86),
            "https" => out.push(0x87),
            s => Self::field(out, ":scheme", s.as_bytes()),
        }
        Self::field(out, ":authority", authority.as_bytes());
        match path {
            "/" => out.push(0x84),
            p => Self::field(out, ":path", p.as_bytes()),
        }
        for (name, value) in headers {
            Self::field(out, name, value);
        }
    }

    /// One field as a literal never indexed (§6.2.3).
    pub fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        match STATIC.iter().position(|(n, _)| *n == name) {
            Some(i) => put_integer(out, 0x10, 4, i + 1),
            None => {
                out.push(0x10);
                put_integer(out, 0, 7, name.len());
                out.extend_from_slice(name.as_bytes());
            }
        }
        put_integer(out, 0, 7, value.len());
        out.extend_from_slice(value);
    }
}

#[cfg(test)]
#[path = "hpack_tests.rs"]
mod tests;
