//! Every vector in `shared/vectors/binary_other.json` (copied to
//! `tests/data/binary_other.json`), each byte-level fact turned into concrete checks,
//! and the docs/protocol.md §4.5 worked example.

mod binary_support;

use binary_support::{encode, h, hb, keepalive, vectors};
use bytes::Bytes;
use wa_core::binary::{
    Content, DecodeError, Jid, Node, Server, Value, decode_frame, decode_node, encode_node,
    marshal, unpack,
};

fn json_hex(v: &serde_json::Value) -> Bytes {
    hb(v.as_str().expect("hex string"))
}

/// Decodes vector bytes, stripping the flags byte when the vector has one.
fn decode_vector(v: &serde_json::Value) -> Result<Node, DecodeError> {
    let bytes = json_hex(&v["hex"]);
    if v["has_flags_byte"].as_bool().expect("has_flags_byte") {
        decode_frame(&bytes)
    } else {
        decode_node(&bytes)
    }
}

// ---- §4.5 worked example ---------------------------------------------------------

#[test]
fn worked_example_keepalive_bytes() {
    let expected = h("00 | F8 09 | 19 | 08 FF 84 12 B3 4A 5F | 16 57 | 04 29 | 11 FA 00 03");
    assert_eq!(marshal(&keepalive()).unwrap(), expected);
    let back = decode_frame(&Bytes::from(expected)).unwrap();
    assert_eq!(back, keepalive());
    assert_eq!(back.attr_jid("to").unwrap(), Jid::server_jid(Server::Pn));
}

#[test]
fn encode_node_appends_without_flags() {
    let mut out = vec![0xAA];
    encode_node(&keepalive(), &mut out).unwrap();
    assert_eq!(out[0], 0xAA);
    assert_eq!(&out[1..], &marshal(&keepalive()).unwrap()[1..]);
}

// ---- decode_vectors -----------------------------------------------------------------

#[test]
fn decode_vectors() {
    let all = vectors();
    let list = all["decode_vectors"].as_array().unwrap();
    assert_eq!(list.len(), 1, "new decode vectors need checks here");
    for v in list {
        let name = v["name"].as_str().unwrap();
        let node = decode_vector(v).unwrap_or_else(|e| panic!("{name}: {e}"));
        let exp = &v["expected"];
        assert!(exp["ok"].as_bool().unwrap());
        assert_eq!(node.tag, exp["tag"].as_str().unwrap(), "{name}");
        for (k, want) in exp["attrs_subset"].as_object().unwrap() {
            assert_eq!(
                node.attr_str(k),
                Some(want.as_str().unwrap()),
                "{name}: {k}"
            );
        }
        // Baileys' full decoding agrees attribute by attribute (text form), in order.
        let baileys = &v["baileys_decoded"];
        assert_eq!(node.tag, baileys["tag"].as_str().unwrap());
        let attrs = baileys["attrs"].as_object().unwrap();
        assert_eq!(node.attrs.len(), attrs.len(), "{name}: attribute count");
        for (k, want) in attrs {
            let got = node.attr(k).unwrap_or_else(|| panic!("{name}: no {k}"));
            assert_eq!(got.to_text(), want.as_str().unwrap(), "{name}: {k}");
        }
        assert!(baileys["content"].is_null());
        assert_eq!(node.content, Content::None);
        // The `lid` attribute arrives as an AD_JID and stays typed.
        assert_eq!(
            node.attr("lid").and_then(Value::as_jid),
            Some(&Jid::lid("100000000000001").with_device(42))
        );
        // Re-encoding reproduces the input byte for byte (Baileys agrees: reencode_equal).
        assert!(v["baileys_reencode_equal"].as_bool().unwrap());
        assert_eq!(
            encode(&node),
            json_hex(&v["hex"]).to_vec(),
            "{name}: re-encode"
        );
    }
}

// ---- encode_vectors -----------------------------------------------------------------

#[test]
fn encode_vectors() {
    let all = vectors();
    let list = all["encode_vectors"].as_array().unwrap();
    assert_eq!(list.len(), 2, "new encode vectors need checks here");
    for v in list {
        let name = v["name"].as_str().unwrap();
        let n = &v["node"];
        assert!(n["attrs"].as_object().unwrap().is_empty());
        let node = Node::new(n["tag"].as_str().unwrap()).with_text(n["content"].as_str().unwrap());
        let bytes = marshal(&node).unwrap();
        assert_eq!(bytes, h(v["expected_hex"].as_str().unwrap()), "{name}");
        assert_eq!(
            bytes,
            h(v["baileys_hex"].as_str().unwrap()),
            "{name} (baileys)"
        );
        // And back: token and packed content decode as text.
        let back = decode_frame(&Bytes::from(bytes)).unwrap();
        assert_eq!(back, node, "{name}: decode");
    }
}

// ---- malformed_inputs and whatsmeow seeds ------------------------------------------

#[test]
fn malformed_inputs_are_errors() {
    let all = vectors();
    let list = all["malformed_inputs"].as_array().unwrap();
    assert_eq!(list.len(), 22);
    for v in list {
        let name = v["name"].as_str().unwrap();
        assert_eq!(v["expected"], "error");
        let result = std::panic::catch_unwind(|| decode_vector(v));
        match result {
            Ok(Err(_)) => {}
            Ok(Ok(node)) => panic!("{name}: decoded {node}"),
            Err(_) => panic!("{name}: panicked"),
        }
    }
}

#[test]
fn malformed_inputs_give_the_specific_error() {
    let all = vectors();
    let err = |name: &str| -> DecodeError {
        let v = all["malformed_inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no vector {name}"));
        decode_vector(v).unwrap_err()
    };
    use DecodeError::*;
    assert_eq!(err("wm_node_tag_nil"), EmptyTag { offset: 2 });
    assert_eq!(
        err("wm_empty_packed_string_tag"),
        InvalidPackedLength { offset: 3 }
    );
    assert!(matches!(
        err("wm_jidpair_user_is_list"),
        UnexpectedTag { tag: 248, .. }
    ));
    assert!(matches!(
        err("wm_jidpair_server_is_list"),
        UnexpectedTag { tag: 248, .. }
    ));
    assert!(matches!(
        err("wm_adjid_user_is_list"),
        UnexpectedTag { tag: 248, .. }
    ));
    assert!(matches!(
        err("wm_fbjid_user_is_list"),
        UnexpectedTag { tag: 248, .. }
    ));
    assert!(matches!(
        err("wm_interopjid_user_is_list"),
        UnexpectedTag { tag: 248, .. }
    ));
    assert_eq!(err("wm_truncated_empty"), UnexpectedEof { offset: 0 });
    assert_eq!(
        err("wm_truncated_list8_without_size"),
        UnexpectedEof { offset: 1 }
    );
    assert_eq!(
        err("wm_truncated_node_without_content"),
        UnexpectedEof { offset: 5 }
    );
    assert!(matches!(
        err("wm_truncated_tag_shorter_than_declared"),
        LengthTooLarge {
            len: 3,
            left: 1,
            ..
        }
    ));
    assert!(matches!(
        err("wm_truncated_packed_tag"),
        UnexpectedEof { .. }
    ));
    assert_eq!(
        err("wm_truncated_jidpair_without_server"),
        UnexpectedEof { offset: 9 }
    );
    assert_eq!(
        err("war_bad_nibble_12_short"),
        InvalidNibble {
            offset: 5,
            value: 15
        }
    );
    assert!(matches!(
        err("war_bad_nibble_13_short"),
        InvalidNibble { offset: 5, .. }
    ));
    assert!(matches!(
        err("war_bad_nibble_14_short"),
        InvalidNibble { offset: 5, .. }
    ));
    assert_eq!(
        err("war_bad_nibble_in_20_byte_run"),
        InvalidNibble {
            offset: 10,
            value: 15
        }
    );
    assert_eq!(
        err("war_attr_truncated_after_key"),
        UnexpectedEof { offset: 8 }
    );
    // One attribute needs two bytes and one is left: refused before reading the key.
    assert!(matches!(
        err("war_attr_non_string_key"),
        LengthTooLarge {
            len: 3,
            left: 1,
            ..
        }
    ));
    // With enough bytes, a null key is refused as such.
    assert_eq!(
        decode_node(&hb("f8 03 19 00 08")),
        Err(UnexpectedTag {
            offset: 3,
            tag: 0,
            expected: "an attribute key"
        })
    );
    assert!(matches!(
        err("war_attr_overlong_count"),
        LengthTooLarge { len: 9, .. }
    ));
    assert_eq!(err("war_list_size_zero"), EmptyNode { offset: 0 });
    assert!(matches!(
        err("war_list8_size_exceeds_data"),
        LengthTooLarge { len: 10, .. }
    ));
}

#[test]
fn unpack_of_empty_input_is_an_error() {
    let all = vectors();
    let w = &all["whatsmeow_unpack_empty"];
    for input in w["inputs_hex"].as_array().unwrap() {
        let bytes = json_hex(input);
        assert_eq!(unpack(&bytes), Err(DecodeError::EmptyFrame));
        assert_eq!(decode_frame(&bytes), Err(DecodeError::EmptyFrame));
    }
}

#[test]
fn whatsmeow_fuzz_seeds_never_panic() {
    let all = vectors();
    let seeds = &all["whatsmeow_fuzz_seeds"];
    for s in seeds["unmarshal_seeds_hex"].as_array().unwrap() {
        let bytes = json_hex(s);
        let r = std::panic::catch_unwind(|| decode_node(&bytes));
        // Every unmarshal seed is malformed: an error, not a value, and no panic.
        assert!(matches!(r, Ok(Err(_))), "seed {s}: {r:?}");
    }
    let unpack_seeds: Vec<Bytes> = seeds["unpack_seeds_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(json_hex)
        .collect();
    let results: Vec<_> = unpack_seeds
        .iter()
        .map(|b| std::panic::catch_unwind(|| unpack(b)).expect("no panic"))
        .collect();
    assert_eq!(results[0], Err(DecodeError::EmptyFrame)); // ""
    assert_eq!(results[1], Ok(Bytes::new())); // "00": flags only
    assert_eq!(results[2], Ok(Bytes::new())); // "01": bit 0 is not compression
    assert!(matches!(
        results[3],
        Err(DecodeError::InvalidCompressed { .. })
    )); // "02 010203"
    assert!(matches!(
        results[4],
        Err(DecodeError::InvalidCompressed { .. })
    )); // "03 0405"
    for b in &unpack_seeds {
        let r = std::panic::catch_unwind(|| decode_frame(b)).expect("no panic");
        assert!(r.is_err());
    }
}

// ---- byte_level_facts, one test per fact ------------------------------------------

#[test]
fn byte_level_facts_are_all_covered() {
    // Each fact below has its own test (fact_00 .. fact_17); this guards the count.
    assert_eq!(vectors()["byte_level_facts"].as_array().unwrap().len(), 18);
}

/// A node with `n` string attributes `a0`..: keys are not tokens.
fn node_with_attrs(n: usize, content: Option<Content>) -> Node {
    let mut node = Node::new("n");
    for i in 0..n {
        node.attrs.push(format!("k{i}"), "v");
    }
    if let Some(c) = content {
        node.content = c;
    }
    node
}

#[test]
fn fact_00_list_size_boundaries() {
    // list size 255 -> f8 ff (127 attributes: 1 + 254)
    let b = encode(&node_with_attrs(127, None));
    assert_eq!(&b[..2], &[0xF8, 0xFF]);
    assert_eq!(decode_node(&Bytes::from(b)).unwrap().attrs.len(), 127);
    // 256 -> f9 01 00 (127 attributes and content)
    let b = encode(&node_with_attrs(
        127,
        Some(Content::Bytes(Bytes::from_static(b"x"))),
    ));
    assert_eq!(&b[..3], &[0xF9, 0x01, 0x00]);
    assert_eq!(decode_node(&Bytes::from(b)).unwrap().attrs.len(), 127);
    // The same boundaries for child lists.
    let kids = |n| Node::new("p").with_children((0..n).map(|_| Node::new("c")));
    assert_eq!(&encode(&kids(255))[..5], &[0xF8, 0x02, 0xFC, 0x01, b'p']);
    let b = encode(&kids(255));
    assert_eq!(&b[5..7], &[0xF8, 0xFF]);
    let b = encode(&kids(256));
    assert_eq!(&b[5..8], &[0xF9, 0x01, 0x00]);
    assert_eq!(decode_node(&Bytes::from(b)).unwrap().children().len(), 256);
    // 0 -> 00 (LIST_EMPTY): accepted as "no content" when decoding.
    let node = decode_node(&hb("f8 02 19 00")).unwrap();
    assert_eq!(node, Node::new("iq"));
}

#[test]
fn fact_01_binary_length_boundaries() {
    let b = encode(&Node::new("iq").with_bytes(vec![7u8; 255]));
    assert_eq!(&b[3..5], &[0xFC, 0xFF]);
    assert_eq!(b.len(), 5 + 255);
    let b = encode(&Node::new("iq").with_bytes(vec![7u8; 256]));
    assert_eq!(&b[3..7], &[0xFD, 0x00, 0x01, 0x00]);
    assert_eq!(b.len(), 7 + 256);
    let back = decode_node(&Bytes::from(b)).unwrap();
    assert_eq!(back.content_bytes().unwrap().len(), 256);
    // 2^20 bytes need BINARY_32.
    let b = encode(&Node::new("iq").with_bytes(vec![1u8; 1 << 20]));
    assert_eq!(&b[3..8], &[0xFE, 0x00, 0x10, 0x00, 0x00]);
    let b = encode(&Node::new("iq").with_bytes(vec![1u8; (1 << 20) - 1]));
    assert_eq!(&b[3..7], &[0xFD, 0x0F, 0xFF, 0xFF]);
}

/// The encoded form of `s` as an attribute value (after `f8 03 19 08`).
fn value_bytes(s: &str) -> Vec<u8> {
    let b = encode(&Node::new("iq").with_attr("id", s));
    assert_eq!(&b[..4], &[0xF8, 0x03, 0x19, 0x08]);
    b[4..].to_vec()
}

#[test]
fn fact_02_packing_alphabets() {
    assert_eq!(value_bytes("ABCDEF"), h("fb 03 ab cd ef"));
    assert_eq!(value_bytes("0123456789ABCDEF")[0], 0xFB);
    // Lower case is not packed.
    assert_eq!(value_bytes("abcdef"), h("fc 06 616263646566"));
    assert_eq!(value_bytes("0-1.2"), h("ff 83 0a 1b 2f"));
    // A mix of nibble-only and hex-only characters packs neither way.
    assert_eq!(value_bytes("1-A")[0], 0xFC);
    assert_eq!(value_bytes(""), h("fc 00"));
}

#[test]
fn fact_03_packed_max_boundary() {
    let d127 = "1".repeat(127);
    let b = value_bytes(&d127);
    assert_eq!(&b[..2], &[0xFF, 0x80 | 64]);
    assert_eq!(b.len(), 2 + 64);
    let d128 = "1".repeat(128);
    let b = value_bytes(&d128);
    assert_eq!(&b[..2], &[0xFC, 0x80]);
    assert_eq!(&b[2..], d128.as_bytes());
    for s in [d127, d128] {
        let node = Node::new("iq").with_attr("id", s.as_str());
        let back = decode_node(&Bytes::from(encode(&node))).unwrap();
        assert_eq!(back.attr_str("id"), Some(s.as_str()));
    }
}

#[test]
fn fact_04_empty_strings() {
    assert_eq!(value_bytes(""), h("fc 00"));
    let node = Node::new("iq").with_attr("id", "");
    let back = decode_node(&Bytes::from(encode(&node))).unwrap();
    assert_eq!(back.attr_str("id"), Some(""));
    // String content "" is written as BINARY_8 0 and decodes as empty bytes.
    let b = encode(&Node::new("iq").with_text(""));
    assert_eq!(b, h("f8 02 19 fc 00"));
    let back = decode_node(&Bytes::from(b)).unwrap();
    assert_eq!(back.content, Content::Bytes(Bytes::new()));
    assert_eq!(back.content_text(), Some(""));
}

#[test]
fn fact_05_jid_looking_strings() {
    // We follow whatsmeow (docs/protocol.md §8 #13): a string is written as a string even
    // if it looks like a JID; whatsapp-rust would write `fa …` here. A typed JID is a
    // JID_PAIR.
    let s = "user@s.whatsapp.net";
    assert_eq!(value_bytes(s)[0], 0xFC);
    let typed = encode(&Node::new("iq").with_attr("id", Jid::pn("abc")));
    assert_eq!(&typed[4..], &h("fa fc 03 616263 03")[..]);
    // A 315-byte "xxx…@s.whatsapp.net" is raw BINARY_20 for everyone.
    let long = format!("{}@s.whatsapp.net", "x".repeat(300));
    assert_eq!(long.len(), 315);
    let b = value_bytes(&long);
    assert_eq!(&b[..4], &[0xFD, 0x00, 0x01, 0x3B]);
}

#[test]
fn fact_06_odd_jid_strings_round_trip_unchanged() {
    for s in ["foo:bar@s.whatsapp.net", "hello_world@s.whatsapp.net"] {
        let node = Node::new("iq").with_attr("jid", s);
        let back = decode_node(&Bytes::from(encode(&node))).unwrap();
        assert_eq!(back.attr_str("jid"), Some(s));
        assert_eq!(back, node);
    }
    // As text they are: not a JID (bad device), and a plain user.
    assert!("foo:bar@s.whatsapp.net".parse::<Jid>().is_err());
    assert_eq!(
        "hello_world@s.whatsapp.net".parse::<Jid>().unwrap().user(),
        "hello_world"
    );
}

fn jid_bytes(j: &str) -> Vec<u8> {
    let jid: Jid = j.parse().unwrap();
    let b = encode(&Node::new("iq").with_attr("to", jid.clone()));
    let back = decode_node(&Bytes::from(b.clone())).unwrap();
    assert_eq!(back.attr_jid("to").unwrap(), jid, "{j} round trip");
    b[4..].to_vec()
}

#[test]
fn fact_07_ad_jid_layout() {
    let b = jid_bytes("236395184570386:39@lid");
    assert_eq!(&b[..3], &[0xF7, 0x01, 0x27]);
    // 15 digits: 8 bytes, odd (0x80 | 8), padded with 0xF.
    assert_eq!(&b[3..], &h("ff 88 23 63 95 18 45 70 38 6f")[..]);
    let b = jid_bytes("551199887766:33@s.whatsapp.net");
    assert_eq!(&b[..3], &[0xF7, 0x00, 0x21]);
    assert_eq!(&jid_bytes("5511:2@hosted")[..3], &[0xF7, 0x80, 0x02]);
    assert_eq!(&jid_bytes("5511:2@hosted.lid")[..3], &[0xF7, 0x81, 0x02]);
    // Device 0 is a JID_PAIR, hosted included (docs/protocol.md §8 #14: WR/BL).
    assert_eq!(jid_bytes("5511@hosted")[0], 0xFA);
    assert_eq!(jid_bytes("5511@s.whatsapp.net")[0], 0xFA);
}

#[test]
fn fact_08_no_ad_jid_for_other_servers() {
    let b = jid_bytes("867051314767696:0@bot");
    assert_eq!(b[0], 0xFA);
    for j in ["1203630@g.us", "status@broadcast", "1203630@newsletter"] {
        assert_eq!(jid_bytes(j)[0], 0xFA, "{j}");
    }
    // With a device no JID token can carry it: written as its text, not lossy.
    let jid: Jid = "867051314767696:5@bot".parse().unwrap();
    let b = encode(&Node::new("iq").with_attr("to", jid.clone()));
    assert_eq!(b[4], 0xFC);
    let back = decode_node(&Bytes::from(b)).unwrap();
    assert_eq!(back.attr_str("to"), Some("867051314767696:5@bot"));
    assert_eq!(back.attr_jid("to").unwrap(), jid);
}

#[test]
fn fact_09_ad_jid_domain_bytes() {
    // tag iq, attr to = AD_JID(domain, device 1, user token "id")
    let with_domain = |d: u8| hb(&format!("f8 03 19 11 f7 {d:02x} 01 08"));
    assert_eq!(
        decode_node(&with_domain(2)),
        Err(DecodeError::InvalidDomainType {
            offset: 5,
            value: 2
        })
    );
    for (d, server) in [
        (0, Server::Pn),
        (1, Server::Lid),
        (128, Server::Hosted),
        (129, Server::HostedLid),
        // WA Web's reader (whatsapp-rust mirrors it): even values with bit 7 are hosted.
        (130, Server::Hosted),
        (254, Server::Hosted),
    ] {
        let node = decode_node(&with_domain(d)).unwrap();
        assert_eq!(node.attr_jid("to").unwrap().server(), server, "domain {d}");
    }
    for d in [3u8, 127, 131, 255] {
        assert!(matches!(
            decode_node(&with_domain(d)),
            Err(DecodeError::InvalidDomainType { .. })
        ));
    }
}

fn content_text(hex: &str) -> Result<Node, DecodeError> {
    decode_node(&hb(&format!("f8 02 19 {hex}")))
}

#[test]
fn fact_10_packed_decoding() {
    assert_eq!(
        content_text("fb 03 ab cd ef").unwrap().content_text(),
        Some("ABCDEF")
    );
    assert_eq!(
        content_text("ff 82 12 3f").unwrap().content_text(),
        Some("123")
    );
    assert_eq!(content_text("ff 00").unwrap().content_text(), Some(""));
    assert_eq!(content_text("fb 00").unwrap().content_text(), Some(""));
    // An odd HEX_8 drops its last nibble too.
    assert_eq!(
        content_text("fb 82 ab cf").unwrap().content_text(),
        Some("ABC")
    );
}

#[test]
fn fact_11_nibble_values() {
    for bad in [0xC, 0xD, 0xE] {
        let r = content_text(&format!("ff 01 1{bad:x}"));
        assert_eq!(
            r,
            Err(DecodeError::InvalidNibble {
                offset: 5,
                value: bad
            })
        );
        // Also in the high half.
        let r = content_text(&format!("ff 01 {bad:x}1"));
        assert_eq!(
            r,
            Err(DecodeError::InvalidNibble {
                offset: 5,
                value: bad
            })
        );
    }
    assert_eq!(content_text("ff 01 ab").unwrap().content_text(), Some("-."));
    // 15 is padding: fine as the dropped last nibble of an odd value, an error elsewhere.
    assert_eq!(content_text("ff 81 1f").unwrap().content_text(), Some("1"));
    assert!(content_text("ff 01 1f").is_err());
    assert!(content_text("ff 82 f1 2f").is_err());
}

#[test]
fn fact_12_u20_lengths() {
    for (len_hex, len) in [
        ("00 00 00", 0usize),
        ("00 01 00", 256),
        ("01 00 00", 65536),
        ("0f ff ff", 1_048_575),
    ] {
        let mut b = h(&format!("f8 02 19 fd {len_hex}"));
        b.extend(std::iter::repeat_n(0x5A, len));
        let node = decode_node(&Bytes::from(b)).unwrap();
        assert_eq!(node.content_bytes().unwrap().len(), len);
    }
    // Only the low 20 bits count: a high nibble in the first byte is masked.
    let mut b = h("f8 02 19 fd f0 00 02");
    b.extend([1, 2]);
    assert_eq!(
        decode_node(&Bytes::from(b))
            .unwrap()
            .content_bytes()
            .unwrap()[..],
        [1, 2]
    );
}

fn nested(depth: usize) -> Node {
    let mut node = Node::new("n");
    for _ in 1..depth {
        node = Node::new("n").with_children([node]);
    }
    node
}

#[test]
fn fact_13_nesting_limit() {
    // whatsapp-rust stops at 127 levels; the brief for this crate (and docs/protocol.md
    // §4.1's "nesting to 128 levels") puts the limit at 128: 128 decode, 129 do not.
    let ok = encode(&nested(128));
    assert_eq!(decode_node(&Bytes::from(ok)).unwrap(), nested(128));
    // The encoder refuses 129 levels, so build the bytes by hand: 129 × "f8 02 fc 01 6e",
    // then "f8 01 fc 01 6e" innermost.
    let mut b = Vec::new();
    for _ in 0..128 {
        b.extend(h("f8 02 fc 01 6e f8 01"));
    }
    b.extend(h("f8 01 fc 01 6e"));
    let err = decode_node(&Bytes::from(b)).unwrap_err();
    assert!(matches!(err, DecodeError::TooDeep { .. }), "{err:?}");
    assert_eq!(
        marshal(&nested(129)),
        Err(wa_core::binary::EncodeError::TooDeep)
    );
}

#[test]
fn fact_14_trailing_bytes() {
    let mut b = marshal(&Node::new("test")).unwrap()[1..].to_vec();
    let end = b.len();
    b.extend([1, 2, 3]);
    assert_eq!(
        decode_node(&Bytes::from(b)),
        Err(DecodeError::TrailingBytes {
            offset: end,
            count: 3
        })
    );
}

#[test]
fn fact_15_documented_normalisations() {
    // "@"-strings stay strings here (see fact_05). Non-token, non-packable string
    // content is written raw and decodes as bytes.
    let node = Node::new("body").with_text("hello world");
    let back = decode_node(&Bytes::from(encode(&node))).unwrap();
    assert_eq!(
        back.content,
        Content::Bytes(Bytes::from_static(b"hello world"))
    );
    assert_eq!(back.content_text(), Some("hello world"));
    // Token and packable content stays text.
    let node = Node::new("body").with_text("12345");
    let back = decode_node(&Bytes::from(encode(&node))).unwrap();
    assert_eq!(back, node);
}

#[test]
fn fact_16_device_and_agent_ranges() {
    // whatsapp-rust's string heuristic keeps a device only if it fits u8. For typed
    // JIDs: a device above 255 on an AD server cannot be an AD_JID, so it is written as
    // text instead of being truncated.
    let jid = Jid::pn("5511").with_device(300);
    let b = encode(&Node::new("iq").with_attr("to", jid.clone()));
    assert_eq!(b[4], 0xFC);
    let back = decode_node(&Bytes::from(b)).unwrap();
    assert_eq!(back.attr_jid("to").unwrap(), jid);
    // An agent is shown (and so written as text) only on non-AD servers.
    let bot = Jid::new("123", Server::Bot).with_agent(7);
    assert_eq!(bot.to_string(), "123.7@bot");
    let back = decode_node(&Bytes::from(encode(
        &Node::new("iq").with_attr("to", bot.clone()),
    )))
    .unwrap();
    assert_eq!(back.attr_jid("to").unwrap(), bot);
    assert!("123.256@bot".parse::<Jid>().is_err());
    assert!("123:70000@s.whatsapp.net".parse::<Jid>().is_err());
}

#[test]
fn fact_17_flags_byte_and_typed_jids() {
    let b = marshal(&Node::new("iq").with_attr("to", "123@s.whatsapp.net")).unwrap();
    assert_eq!(b[0], 0x00);
    assert_eq!(b[5], 0xFC, "a string attribute is never JID-parsed");
    let b = marshal(&Node::new("iq").with_attr("to", Jid::pn("123"))).unwrap();
    assert_eq!(b[5], 0xFA);
}

// ---- jid-form round trips not covered by the facts ---------------------------------

#[test]
fn fb_and_interop_jids() {
    let msgr = Jid::new("100001", Server::Msgr).with_device(7);
    let b = encode(&Node::new("iq").with_attr("to", msgr.clone()));
    assert_eq!(b[4], 0xF6);
    let back = decode_node(&Bytes::from(b)).unwrap();
    assert_eq!(back.attr("to").and_then(Value::as_jid), Some(&msgr));

    let interop = Jid::new("4477", Server::Interop)
        .with_device(2)
        .with_integrator(9);
    let b = encode(&Node::new("iq").with_attr("to", interop.clone()));
    assert_eq!(b[4], 0xF5);
    // user, u16 device, u16 integrator, then the server "interop" (not a token).
    assert!(b.ends_with(&h("00 02 00 09 fc 07 696e7465726f70")));
    let back = decode_node(&Bytes::from(b)).unwrap();
    assert_eq!(back.attr("to").and_then(Value::as_jid), Some(&interop));

    // Without device/integrator: plain JID_PAIR.
    assert_eq!(
        encode(&Node::new("iq").with_attr("to", Jid::new("1", Server::Msgr)))[4],
        0xFA
    );
    // A wrong server after FB_JID / INTEROP_JID is rejected.
    assert!(matches!(
        decode_node(&hb("f8 03 19 11 f6 08 00 01 03")),
        Err(DecodeError::InvalidJidServer {
            expected: "msgr",
            ..
        })
    ));
    assert!(matches!(
        decode_node(&hb("f8 03 19 11 f5 08 00 01 00 02 03")),
        Err(DecodeError::InvalidJidServer {
            expected: "interop",
            ..
        })
    ));
}

#[test]
fn jid_pair_with_unknown_server_is_kept_as_text() {
    // to = JID_PAIR("id", raw "example.com")
    let b = hb("f8 03 19 11 fa 08 fc 0b 6578616d706c652e636f6d");
    let node = decode_node(&b).unwrap();
    assert_eq!(node.attr_str("to"), Some("id@example.com"));
    assert!(node.attr_jid("to").is_err());
    // A JID inside a JID is refused (no unbounded recursion).
    assert!(matches!(
        decode_node(&hb("f8 03 19 11 fa fa 00 03 03")),
        Err(DecodeError::UnexpectedTag { tag: 0xFA, .. })
    ));
}

#[test]
fn jid_content_decodes_as_text() {
    let node = decode_node(&hb("f8 02 19 fa fc 03 313233 03")).unwrap();
    assert_eq!(node.content_text(), Some("123@s.whatsapp.net"));
    // So re-encoding writes it as a plain string, not as the JID_PAIR it came
    // in (only attribute JIDs keep their token), and that string reads back as
    // byte content.
    let again = encode(&node);
    assert!(!again.contains(&0xFA), "{again:02x?}");
    let back = decode_node(&Bytes::from(again)).unwrap();
    assert_eq!(
        back.content_bytes().map(|b| &b[..]),
        Some(&b"123@s.whatsapp.net"[..])
    );
}

#[test]
fn unknown_tag_bytes_are_errors() {
    for t in 240u8..=244 {
        let r = decode_node(&hb(&format!("f8 01 {t:02x}")));
        assert_eq!(r, Err(DecodeError::UnknownTag { offset: 2, tag: t }));
        let r = decode_node(&hb(&format!("f8 02 19 {t:02x}")));
        assert_eq!(r, Err(DecodeError::UnknownTag { offset: 3, tag: t }));
    }
}

#[test]
fn invalid_utf8_is_an_error() {
    assert_eq!(
        decode_node(&hb("f8 01 fc 02 61 ff")),
        Err(DecodeError::InvalidUtf8 { offset: 5 })
    );
    // In byte content it is just bytes.
    let node = decode_node(&hb("f8 02 19 fc 02 61 ff")).unwrap();
    assert_eq!(node.content_bytes().unwrap()[..], [0x61, 0xFF]);
}

#[test]
fn zero_copy_content() {
    let input = Bytes::from(encode(&binary_support::message_with_enc()));
    let node = decode_node(&input).unwrap();
    let enc = node.child("enc").unwrap().content_bytes().unwrap();
    let range = input.as_ptr_range();
    assert!(
        range.contains(&enc.as_ptr()),
        "content is a slice of the input"
    );
}
