//! HPACK against RFC 7541 Appendix C (each example's fields and the table's size after it),
//! the encoder read back by the decoder, and blocks that must be refused.

use super::*;
use crate::engine::transport::http2::huffman::hex;

fn fields(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, HpackError> {
    let mut out = Vec::new();
    d.decode(block, |n, v| {
        out.push((
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ));
    })?;
    Ok(out)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// C.2: one representation of each kind.
#[test]
fn each_kind_of_field_decodes() {
    let mut d = Decoder::default();
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(
        fields(&mut d, &block),
        Ok(pairs(&[("custom-key", "custom-header")]))
    );
    assert_eq!(d.size(), 55);
    let mut d = Decoder::default();
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(
        fields(&mut d, &block),
        Ok(pairs(&[(":path", "/sample/path")]))
    );
    assert_eq!(d.size(), 0);
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(fields(&mut d, &block), Ok(pairs(&[("password", "secret")])));
    assert_eq!(d.size(), 0);
    assert_eq!(fields(&mut d, &[0x82]), Ok(pairs(&[(":method", "GET")])));
}

/// C.3 and C.4: three requests on one connection, without and with Huffman strings.
#[test]
fn the_rfcs_requests_decode_with_the_dynamic_table() {
    let blocks = [
        [
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ],
        [
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ],
    ];
    let base = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    for requests in blocks {
        let mut d = Decoder::default();
        assert_eq!(fields(&mut d, &hex(requests[0])), Ok(pairs(&base)));
        assert_eq!(d.size(), 57);
        let mut second = base.to_vec();
        second.push(("cache-control", "no-cache"));
        assert_eq!(fields(&mut d, &hex(requests[1])), Ok(pairs(&second)));
        assert_eq!(d.size(), 110);
        let third = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ];
        assert_eq!(fields(&mut d, &hex(requests[2])), Ok(pairs(&third)));
        assert_eq!(d.size(), 164);
    }
}

/// C.5 and C.6: three responses with a 256-byte table, so entries are evicted.
#[test]
fn the_rfcs_responses_decode_with_eviction() {
    let blocks = [
        [
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
             6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
             3d31",
        ],
        [
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ],
    ];
    let date = "Mon, 21 Oct 2013 20:13:21 GMT";
    let location = "https://www.example.com";
    for responses in blocks {
        let mut d = Decoder::new(256);
        let first = [
            (":status", "302"),
            ("cache-control", "private"),
            ("date", date),
            ("location", location),
        ];
        assert_eq!(fields(&mut d, &hex(responses[0])), Ok(pairs(&first)));
        assert_eq!(d.size(), 222);
        let mut second = first;
        second[0] = (":status", "307");
        assert_eq!(fields(&mut d, &hex(responses[1])), Ok(pairs(&second)));
        assert_eq!(d.size(), 222);
        let third = [
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ("location", location),
            ("content-encoding", "gzip"),
            (
                "set-cookie",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ];
        assert_eq!(fields(&mut d, &hex(responses[2])), Ok(pairs(&third)));
        assert_eq!(d.size(), 215);
    }
}

#[test]
fn the_encoders_blocks_read_back_and_leave_no_table() {
    let mut block = Vec::new();
    let long = "x".repeat(300);
    Encoder::request(
        &mut block,
        "DELETE",
        "https",
        "127.0.0.1:8443",
        "/users/7?full=1",
        [
            ("user-agent", b"stampede/0.1".as_slice()),
            ("x-long", long.as_bytes()),
        ],
    );
    let mut d = Decoder::default();
    let expected = pairs(&[
        (":method", "DELETE"),
        (":scheme", "https"),
        (":authority", "127.0.0.1:8443"),
        (":path", "/users/7?full=1"),
        ("user-agent", "stampede/0.1"),
        ("x-long", &long),
    ]);
    assert_eq!(fields(&mut d, &block), Ok(expected));
    assert_eq!(
        d.size(),
        0,
        "never indexed: the server's table is left alone"
    );
    let mut get = Vec::new();
    Encoder::request(&mut get, "GET", "http", "a", "/", []);
    assert_eq!(get, [0x20, 0x82, 0x86, 0x11, 0x01, b'a', 0x84]);
}

#[test]
fn bad_blocks_are_refused() {
    let bad = [
        &[0x80][..],                           // index 0
        &[0xff, 0x80, 0x01],                   // an index past both tables
        &[0x40, 0x05, b'a'],                   // a name cut short
        &[0x82, 0x20],                         // a size update after a field
        &[0x3f, 0xe2, 0x1f],                   // a size above the client's setting (4097)
        &[0x0f, 0xff, 0xff, 0xff, 0xff, 0x7f], // an integer too large
        &[
            0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ], // a long one
        &[0x00, 0x81, 0x18, 0x00],             // a Huffman name with bad padding
    ];
    for block in bad {
        let mut d = Decoder::default();
        assert!(fields(&mut d, block).is_err(), "{block:02x?}");
    }
    // A size update to 0 empties the table.
    let mut d = Decoder::default();
    fields(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    )
    .expect("C.2.1");
    assert_eq!(fields(&mut d, &[0x20]), Ok(Vec::new()));
    assert_eq!(d.size(), 0);
    assert!(fields(&mut d, &[0xbe]).is_err(), "index 62 is gone");
}

proptest::proptest! {
    /// Whatever a server sends, the decoder answers (a field list or an error), and its
    /// table stays within the client's limit.
    #[test]
    fn arbitrary_blocks_never_panic(
        blocks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..120), 1..4),
    ) {
        let mut d = Decoder::new(256);
        for block in &blocks {
            let _ = d.decode(block, |_, _| {});
            proptest::prop_assert!(d.size() <= 256);
        }
    }
}
