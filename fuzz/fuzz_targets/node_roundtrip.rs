//! Binary node decoding of hostile bytes, and the round trips of whatever decodes.
//!
//! The input is tried twice: as a bare node (`decode_node`) and as a decrypted frame
//! plaintext whose first byte is the flags byte (`decode_frame`, zlib when
//! `flags & 0x02`). For every node that decodes:
//! - wire round trip: `n2 = decode(encode(n))` equals `n` up to the documented
//!   normalisations (text content that is neither a token nor packable travels as raw
//!   bytes; an empty child list is no content), and `encode(n2) == encode(n)`: the
//!   re-encoding is byte-stable; `marshal` + `decode_frame` gives `n2` too;
//! - `Display` (`{}` and `{:#}`) does not panic;
//! - JSON round trip: `Node` → JSON → `Node` gives `n` back, except where the JSON form
//!   documents a loss: a JID value is written as its text form, so it comes back as
//!   the text form parsed again (and the whole read fails if that text does not parse,
//!   e.g. a user holding `@`); and serde_json's default recursion limit (127 nested
//!   arrays/objects) refuses deeper documents.
//!
//! For an uncompressed frame (`flags & 0x02 == 0`) `decode_frame` must also give
//! exactly the result of `decode_node` on the bytes after the flags byte.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wa_core::binary::{
    Attrs, Content, FLAG_COMPRESSED, Jid, Node, PACKED_MAX, Value, decode_frame, decode_node,
    encode_node, marshal,
};

/// serde_json's default recursion limit: the 128th nested array/object is refused.
const JSON_MAX_NESTING: usize = 127;

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);

    let as_node = decode_node(&input);
    if let Ok(node) = &as_node {
        check(node);
    }

    let as_frame = decode_frame(&input);
    if let Ok(node) = &as_frame {
        check(node);
    }
    if let Some(&flags) = data.first()
        && flags & FLAG_COMPRESSED == 0
    {
        assert_eq!(
            as_frame,
            decode_node(&input.slice(1..)),
            "an uncompressed frame decodes like its node bytes"
        );
    }
});

fn check(node: &Node) {
    // Wire round trip.
    let mut first = Vec::new();
    encode_node(node, &mut first).expect("a decoded node re-encodes");
    let again = decode_node(&Bytes::from(first.clone())).expect("a re-encoded node decodes");
    assert_eq!(again, after_wire(node), "decode(encode(n)) differs from n");
    let mut second = Vec::new();
    encode_node(&again, &mut second).expect("re-encodes");
    assert_eq!(first, second, "re-encoding is not byte-stable");
    let framed = marshal(&again).expect("marshals");
    assert_eq!(framed[0], 0, "marshal writes the uncompressed flags byte");
    assert_eq!(&framed[1..], &first[..], "marshal and encode_node differ");
    assert_eq!(
        decode_frame(&Bytes::from(framed)).as_ref(),
        Ok(&again),
        "marshal then decode_frame"
    );

    // Text form.
    let line = node.to_string();
    let pretty = format!("{node:#}");
    assert!(line.starts_with('<') && pretty.starts_with('<'));

    // JSON round trip.
    let json = serde_json::to_string(node).expect("a node serialises");
    let back = serde_json::from_str::<Node>(&json);
    match (after_json(node), json_nesting(node) <= JSON_MAX_NESTING) {
        (Some(expected), true) => {
            let back = back.unwrap_or_else(|e| panic!("JSON does not read back: {e}\n{json}"));
            assert_eq!(back, expected, "JSON round trip differs");
        }
        (Some(_), false) => {
            let e = back.expect_err("JSON deeper than the recursion limit read back");
            assert!(e.to_string().starts_with("recursion limit exceeded"), "{e}");
        }
        (None, _) => assert!(back.is_err(), "a JID that fails to parse read back"),
    }
}

fn packable(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= PACKED_MAX
        && (s
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b'-' || c == b'.')
            || s.bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c)))
}

/// What `node` looks like after a trip over the wire (the encoder's documented
/// normalisations).
fn after_wire(node: &Node) -> Node {
    let content = match &node.content {
        Content::Text(s) if s.token().is_none() && !packable(s) => {
            Content::Bytes(Bytes::copy_from_slice(s.as_bytes()))
        }
        Content::Nodes(c) if c.is_empty() => Content::None,
        Content::Nodes(c) => Content::Nodes(c.iter().map(after_wire).collect()),
        other => other.clone(),
    };
    Node {
        tag: node.tag.clone(),
        attrs: node.attrs.clone(),
        content,
    }
}

/// What `node` looks like after a trip through JSON: each JID value is its text form
/// parsed again; `None` if one of those texts does not parse.
fn after_json(node: &Node) -> Option<Node> {
    let mut attrs = Attrs::with_capacity(node.attrs.len());
    for attr in node.attrs.iter() {
        let value = match &attr.value {
            Value::Jid(j) => Value::Jid(j.to_string().parse::<Jid>().ok()?),
            v @ Value::Str(_) => v.clone(),
        };
        attrs.push(attr.key.clone(), value);
    }
    let content = match &node.content {
        Content::Nodes(c) => Content::Nodes(c.iter().map(after_json).collect::<Option<_>>()?),
        other => other.clone(),
    };
    Some(Node {
        tag: node.tag.clone(),
        attrs,
        content,
    })
}

/// How deeply the JSON form of `node` nests arrays and objects.
fn json_nesting(node: &Node) -> usize {
    let attrs = if node.attrs.iter().any(|a| matches!(a.value, Value::Jid(_))) {
        2 // {"attrs": {"k": {"jid": …}}}
    } else {
        1
    };
    let content = match &node.content {
        Content::None => 0,
        Content::Bytes(_) | Content::Text(_) => 1,
        Content::Nodes(c) => 1 + c.iter().map(json_nesting).max().unwrap_or(0),
    };
    1 + attrs.max(content)
}
