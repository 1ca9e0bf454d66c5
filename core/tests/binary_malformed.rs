//! The decoder never panics and never trusts a length: every truncation and every
//! single-byte mutation (all 256 values at every position) of realistic stanzas,
//! plain and compressed, gives a typed error or a node; a node that comes out is
//! stable under re-encoding. Plus explicit hostile counts and deep nesting.

mod binary_support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use binary_support::{
    compressed_frame, encode, hb, iq_ping, message_with_enc, pair_device, stream_error, success,
};
use bytes::Bytes;
use wa_core::binary::{Content, DecodeError, Node, decode_frame, decode_node, encode_node};

/// Raw text content comes back as bytes after a round trip; compare through bytes.
fn normalise(node: &Node) -> Node {
    let mut n = node.clone();
    n.content = match &node.content {
        Content::Text(s) => Content::Bytes(Bytes::copy_from_slice(s.as_bytes())),
        Content::Nodes(c) if c.is_empty() => Content::None,
        Content::Nodes(c) => Content::Nodes(c.iter().map(normalise).collect()),
        other => other.clone(),
    };
    n
}

/// Runs `decode` under `catch_unwind`; a node must re-encode and decode to itself.
fn check(what: &str, input: Bytes, decode: fn(&Bytes) -> Result<Node, DecodeError>) -> bool {
    let result = catch_unwind(AssertUnwindSafe(|| decode(&input)));
    match result {
        Err(_) => panic!("{what}: decoder panicked on {}", hex::encode(&input)),
        Ok(Err(e)) => {
            // Typed errors carry a usable message and, mostly, an offset in range.
            assert!(!e.to_string().is_empty());
            if let Some(off) = e.offset() {
                assert!(off <= input.len(), "{what}: offset {off} beyond input: {e}");
            }
            false
        }
        Ok(Ok(node)) => {
            let mut out = Vec::new();
            encode_node(&node, &mut out)
                .unwrap_or_else(|e| panic!("{what}: decoded node does not re-encode: {e}"));
            let again = decode_node(&Bytes::from(out))
                .unwrap_or_else(|e| panic!("{what}: re-encoded node does not decode: {e}"));
            assert_eq!(normalise(&again), normalise(&node), "{what}: unstable");
            true
        }
    }
}

fn sweep(name: &str, valid: &[u8], decode: fn(&Bytes) -> Result<Node, DecodeError>) {
    assert!(
        check(name, Bytes::copy_from_slice(valid), decode),
        "{name} itself"
    );
    for len in 0..valid.len() {
        let ok = check(
            &format!("{name} truncated to {len}"),
            Bytes::copy_from_slice(&valid[..len]),
            decode,
        );
        assert!(!ok, "{name}: a strict prefix ({len} bytes) decoded");
    }
    let mut buf = valid.to_vec();
    let mut decoded = 0usize;
    for pos in 0..valid.len() {
        for value in 0..=255u8 {
            if value == valid[pos] {
                continue;
            }
            buf[pos] = value;
            let what = format!("{name}[{pos}] = {value:#04x}");
            decoded += usize::from(check(&what, Bytes::copy_from_slice(&buf), decode));
        }
        buf[pos] = valid[pos];
    }
    // Sanity: the sweep exercised both outcomes (many mutations of a string byte
    // still decode).
    assert!(decoded > 0, "{name}: no mutation decoded");
}

#[test]
fn sweep_iq_ping() {
    sweep("iq_ping", &encode(&iq_ping()), decode_node);
}

#[test]
fn sweep_success() {
    sweep("success", &encode(&success()), decode_node);
}

#[test]
fn sweep_message_with_enc() {
    sweep(
        "message_with_enc",
        &encode(&message_with_enc()),
        decode_node,
    );
}

#[test]
fn sweep_pair_device() {
    sweep("pair_device", &encode(&pair_device()), decode_node);
}

#[test]
fn sweep_stream_error() {
    sweep("stream_error", &encode(&stream_error()), decode_node);
}

#[test]
fn sweep_frames_plain_and_compressed() {
    let mut plain = vec![0u8];
    plain.extend(encode(&stream_error()));
    sweep("plain frame", &plain, decode_frame);
    let compressed = compressed_frame(&pair_device());
    assert_eq!(
        normalise(&decode_frame(&Bytes::from(compressed.clone())).unwrap()),
        normalise(&pair_device())
    );
    sweep("compressed frame", &compressed, decode_frame);
}

#[test]
fn hostile_counts_are_refused_before_allocating() {
    let cases: [(&str, &str); 8] = [
        // LIST_16 of 65535 attributes with nothing after the tag.
        ("attrs", "f9 ff ff 19"),
        // 65535 children, three bytes left.
        ("children", "f8 02 19 f9 ff ff f8 01 19"),
        // BINARY_32 of 4 GiB.
        ("binary32", "f8 02 19 fe ff ff ff ff 00"),
        // BINARY_20 of 1 MiB.
        ("binary20", "f8 02 19 fd 0f ff ff 00"),
        // A 200-byte raw tag with 2 bytes.
        ("string", "f8 01 fc c8 61 62"),
        // A 127-byte packed string with 1 byte.
        ("packed", "f8 02 19 ff 7f 12"),
        // A list size of 0 as the root.
        ("empty list8", "f8 00"),
        // A child list of LIST_16 count 0 is fine; count 1 with nothing is not.
        ("child missing", "f8 02 19 f9 00 01"),
    ];
    for (name, hex) in cases {
        let r = decode_node(&hb(hex));
        assert!(
            matches!(
                r,
                Err(DecodeError::LengthTooLarge { .. }
                    | DecodeError::UnexpectedEof { .. }
                    | DecodeError::EmptyNode { .. })
            ),
            "{name}: {r:?}"
        );
    }
    assert_eq!(
        decode_node(&hb("f8 02 19 fe ff ff ff ff 00")),
        Err(DecodeError::LengthTooLarge {
            offset: 4,
            len: 0xFFFF_FFFF,
            left: 1
        })
    );
}

#[test]
fn very_deep_nesting_is_refused_without_overflowing_the_stack() {
    let mut b = Vec::new();
    for _ in 0..100_000 {
        b.extend(binary_support::h("f8 02 fc 01 6e f8 01"));
    }
    b.extend(binary_support::h("f8 01 fc 01 6e"));
    let r = decode_node(&Bytes::from(b));
    assert!(matches!(r, Err(DecodeError::TooDeep { .. })), "{r:?}");
}

#[test]
fn nesting_129_is_an_error_and_128_is_not() {
    fn levels(n: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for _ in 1..n {
            b.extend(binary_support::h("f8 02 fc 01 6e f8 01"));
        }
        b.extend(binary_support::h("f8 01 fc 01 6e"));
        b
    }
    assert!(decode_node(&Bytes::from(levels(128))).is_ok());
    let err = decode_node(&Bytes::from(levels(129))).unwrap_err();
    // The offending list is the child list of the 128th node.
    assert_eq!(
        err,
        DecodeError::TooDeep {
            offset: 127 * 7 + 5
        }
    );
}
