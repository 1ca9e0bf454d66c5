//! Shared fixtures for the binary-codec and JID tests: the vector file, hex helpers and
//! a set of realistic stanzas. Each test crate uses only part of it.
#![allow(dead_code)]

use bytes::Bytes;
use serde_json::Value as Json;
use wa_core::binary::{Jid, Node, Server, marshal};

/// `tests/data/binary_other.json`, a verbatim copy of `shared/vectors/binary_other.json`.
pub fn vectors() -> Json {
    serde_json::from_str(include_str!("../data/binary_other.json")).expect("vector file parses")
}

/// Decodes a hex literal.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '|'], "")).expect("hex literal")
}

/// Decodes a hex literal into `Bytes`.
pub fn hb(s: &str) -> Bytes {
    Bytes::from(h(s))
}

/// A deterministic byte pattern (no RNG needed for fixtures).
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The §4.5 keepalive `<iq id="12.34-5" xmlns="w:p" type="get" to="s.whatsapp.net"/>`.
pub fn keepalive() -> Node {
    Node::new("iq")
        .with_attr("id", "12.34-5")
        .with_attr("xmlns", "w:p")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid(Server::Pn))
}

/// An IQ ping with a `<ping/>` child (Baileys' form).
pub fn iq_ping() -> Node {
    keepalive().with_children([Node::new("ping")])
}

/// A `<success>` like the one in the decode vector.
pub fn success() -> Node {
    Node::new("success")
        .with_attr("t", "1752021890")
        .with_attr("props", "27")
        .with_attr("location", "frc")
        .with_attr("lid", Jid::lid("100000000000001").with_device(42))
        .with_attr("abprops", "10")
        .with_attr("creation", "1752020041")
        .with_attr(
            "companion_enc_static",
            "d5Yb5WxL+k5UKQHVI6buFRGQEj0GZA5evz8b6V2xkdw=",
        )
}

/// A `<message>` with a 256-byte `<enc>` (the benchmark shape).
pub fn message_with_enc() -> Node {
    Node::new("message")
        .with_attr("to", Jid::pn("5511987650001").with_device(3))
        .with_attr("id", "3EB0C5A2F4D1B8E7A6C3")
        .with_attr("type", "text")
        .with_attr("t", 1_712_345_678u64)
        .with_children([Node::new("enc")
            .with_attr("v", "2")
            .with_attr("type", "msg")
            .with_bytes(pattern(256, 7))])
}

/// A group fan-out message with 8 `<to jid><enc>` children.
pub fn group_fanout() -> Node {
    let participants = (0..8).map(|i| {
        Node::new("to")
            .with_attr(
                "jid",
                Jid::lid(&format!("1000000000000{i:02}")).with_device(i + 1),
            )
            .with_children([Node::new("enc")
                .with_attr("v", "2")
                .with_attr("type", "pkmsg")
                .with_bytes(pattern(256, i as u8))])
    });
    Node::new("message")
        .with_attr("to", Jid::group("120363025246125486"))
        .with_attr("id", "3EB0AABBCCDDEEFF0011")
        .with_attr("type", "text")
        .with_children([
            Node::new("participants").with_children(participants),
            Node::new("enc")
                .with_attr("v", "2")
                .with_attr("type", "skmsg")
                .with_bytes(pattern(120, 9)),
        ])
}

/// A `<iq><pair-device>` with three `<ref>`s.
pub fn pair_device() -> Node {
    let refs = ["2@AbCdEf+GhIjKl==", "2@MnOpQr/StUvWx==", "2@YzAbCdEfGhIj=="]
        .into_iter()
        .map(|r| Node::new("ref").with_text(r));
    Node::new("iq")
        .with_attr("from", Jid::server_jid(Server::Pn))
        .with_attr("type", "set")
        .with_attr("id", "1234567890")
        .with_attr("xmlns", "md")
        .with_children([Node::new("pair-device").with_children(refs)])
}

/// A `<stream:error>` with a `<conflict type="replaced"/>`.
pub fn stream_error() -> Node {
    Node::new("stream:error")
        .with_attr("code", "409")
        .with_children([Node::new("conflict").with_attr("type", "replaced")])
}

/// Every realistic stanza above, by name.
pub fn stanzas() -> Vec<(&'static str, Node)> {
    vec![
        ("keepalive", keepalive()),
        ("iq_ping", iq_ping()),
        ("success", success()),
        ("message_with_enc", message_with_enc()),
        ("group_fanout", group_fanout()),
        ("pair_device", pair_device()),
        ("stream_error", stream_error()),
    ]
}

/// `marshal` without the flags byte.
pub fn encode(node: &Node) -> Vec<u8> {
    marshal(node).expect("encodes")[1..].to_vec()
}

/// A frame plaintext with flags 0x02 and the node zlib-compressed.
pub fn compressed_frame(node: &Node) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(vec![0x02], flate2::Compression::default());
    z.write_all(&encode(node)).expect("compress");
    z.finish().expect("compress")
}
