//! HPACK's Huffman code (RFC 7541 Appendix B), for the strings a server's header blocks
//! send compressed. The code is canonical: codes are given in order of length, then of
//! symbol, so the table is the 257 code lengths alone, and decoding walks the lengths
//! (`Canonical`). Decoding only: the client's own header blocks are sent as they are
//! (`hpack::Encoder`), which costs a few bytes and no CPU per request.

/// The code length in bits of each symbol: bytes 0..=255, then EOS (256).
#[rustfmt::skip]
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,         // ' ' .. '/'
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,              // '0' .. '?'
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,                // '@' .. 'O'
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,             // 'P' .. '_'
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,                // '`' .. 'o'
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,            // 'p' .. 127
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240
    30,                                                             // EOS
];

/// The longest code.
const MAX_LEN: usize = 30;
/// The symbol that ends the code's padding, never a byte of the string.
const EOS: u16 = 256;

/// The canonical code's decoding tables: for each length, the first code of that length and
/// where its symbols begin in `symbols` (sorted by length, then by value).
struct Canonical {
    first: [u32; MAX_LEN + 1],
    count: [u32; MAX_LEN + 1],
    start: [u32; MAX_LEN + 1],
    symbols: [u16; 257],
}

const fn canonical() -> Canonical {
    let mut c = Canonical {
        first: [0; MAX_LEN + 1],
        count: [0; MAX_LEN + 1],
        start: [0; MAX_LEN + 1],
        symbols: [0; 257],
    };
    let mut s = 0;
    while s < 257 {
        c.count[LENGTHS[s] as usize] += 1;
        s += 1;
    }
    let (mut code, mut at, mut len) = (0u32, 0u32, 1);
    while len <= MAX_LEN {
        code = (code + c.count[len - 1]) << 1;
        c.first[len] = code;
        c.start[len] = at;
        // The symbols of this length, in order of value.
        let mut s = 0;
        while s < 257 {
            if LENGTHS[s] as usize == len {
                c.symbols[at as usize] = s as u16;
                at += 1;
            }
            s += 1;
        }
        len += 1;
    }
    c
}

static CODE: Canonical = canonical();

/// Why a Huffman string could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    /// The string held the EOS symbol, or a code no symbol has.
    BadCode,
    /// The last bits were not a prefix of EOS, or were 8 or more.
    BadPadding,
}

/// Appends the bytes `input` encodes to `out`.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let (mut code, mut len) = (0u32, 0usize);
    for &byte in input {
        for bit in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> bit) & 1);
            len += 1;
            let offset = code.wrapping_sub(CODE.first[len]);
            if offset < CODE.count[len] {
                let symbol = CODE.symbols[(CODE.start[len] + offset) as usize];
                if symbol == EOS {
                    return Err(HuffmanError::BadCode);
                }
                out.push(symbol as u8);
                (code, len) = (0, 0);
            } else if len == MAX_LEN {
                return Err(HuffmanError::BadCode);
            }
        }
    }
    // Padding: fewer than 8 bits, all ones (the start of EOS).
    if len >= 8 || code != (1 << len) - 1 {
        return Err(HuffmanError::BadPadding);
    }
    Ok(())
}

/// Encodes `input` (for tests: the client never sends Huffman strings).
#[cfg(test)]
pub fn encode(input: &[u8]) -> Vec<u8> {
    let code_of = |s: usize| {
        let len = LENGTHS[s] as usize;
        let rank = (0..s).filter(|&t| LENGTHS[t] as usize == len).count() as u32;
        (CODE.first[len] + rank, len)
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u64, 0usize);
    for &b in input {
        let (code, len) = code_of(b as usize);
        acc = (acc << len) | u64::from(code);
        bits += len;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        let pad = 8 - bits;
        out.push(((acc << pad) as u8) | ((1u8 << pad) - 1));
    }
    out
}

/// Bytes written as hex, spaces and line breaks ignored (the RFC's examples), for tests.
#[cfg(test)]
pub fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lengths make a complete prefix code, and the codes derived from them are the
    /// RFC's (a sample of its table, across every length class).
    #[test]
    fn the_canonical_code_is_the_rfcs() {
        let kraft: f64 = LENGTHS.iter().map(|&l| 0.5f64.powi(i32::from(l))).sum();
        assert!((kraft - 1.0).abs() < 1e-12, "{kraft}");
        let code = |s: usize| {
            let len = LENGTHS[s] as usize;
            let rank = (0..s).filter(|&t| LENGTHS[t] as usize == len).count() as u32;
            CODE.first[len] + rank
        };
        for (symbol, expected) in [
            (0, 0x1ff8),
            (1, 0x7f_ffd8),
            (9, 0xff_ffea),
            (10, 0x3fff_fffc),
            (b' ' as usize, 0x14),
            (b'0' as usize, 0x0),
            (b':' as usize, 0x5c),
            (b'<' as usize, 0x7ffc),
            (b'a' as usize, 0x3),
            (b'z' as usize, 0x7b),
            (127, 0xfff_fffc),
            (128, 0xf_ffe6),
            (199, 0x1ff_ffec),
            (255, 0x3ff_ffee),
            (256, 0x3fff_ffff),
        ] {
            assert_eq!(code(symbol), expected, "symbol {symbol}");
        }
    }

    /// RFC 7541 Appendix C.4 and C.6's Huffman strings.
    #[test]
    fn the_rfcs_examples_decode() {
        for (encoded, text) in [
            ("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"),
            ("a8eb 1064 9cbf", "no-cache"),
            ("25a8 49e9 5ba9 7d7f", "custom-key"),
            ("25a8 49e9 5bb8 e8b4 bf", "custom-value"),
            ("6402", "302"),
            ("aec3 771a 4b", "private"),
            (
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
                "Mon, 21 Oct 2013 20:13:21 GMT",
            ),
            (
                "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
                "https://www.example.com",
            ),
        ] {
            let mut out = Vec::new();
            decode(&hex(encoded), &mut out).expect(text);
            assert_eq!(out, text.as_bytes());
            assert_eq!(encode(text.as_bytes()), hex(encoded), "{text}");
        }
    }

    #[test]
    fn every_byte_round_trips_and_bad_input_is_refused() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        decode(&encode(&all), &mut out).expect("all bytes");
        assert_eq!(out, all);
        // EOS itself (30 ones) in the string.
        let mut out = Vec::new();
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
            Err(HuffmanError::BadCode)
        );
        // Padding that is not all ones: 'a' (00011) then 000.
        assert_eq!(decode(&[0x18], &mut out), Err(HuffmanError::BadPadding));
        // A whole byte of padding.
        assert_eq!(
            decode(&[0x1f, 0xff], &mut out),
            Err(HuffmanError::BadPadding)
        );
    }
}
