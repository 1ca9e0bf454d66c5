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
        .attr("id", "12.34-5")
        .attr("xmlns", "w:p")
        .attr("type", "get")
        .attr("to", Jid::server_jid(Server::Pn))
}

/// An IQ ping with a `<ping/>` child (Baileys' form).
pub fn iq_ping() -> Node {
    keepalive().children([Node::new("ping")])
}

/// A `<success>` like the one in the decode vector.
pub fn success() -> Node {
    Node::new("success")
        .attr("t", "1752021890")
        .attr("props", "27")
        .attr("location", "frc")
        .attr("lid", Jid::lid("100000000000001").with_device(42))
        .attr("abprops", "10")
        .attr("creation", "1752020041")
        .attr(
            "companion_enc_static",
            "d5Yb5WxL+k5UKQHVI6buFRGQEj0GZA5evz8b6V2xkdw=",
        )
}

/// A `<message>` with a 256-byte `<enc>` (the benchmark shape).
pub fn message_with_enc() -> Node {
    Node::new("message")
        .attr("to", Jid::pn("5511987650001").with_device(3))
        .attr("id", "3EB0C5A2F4D1B8E7A6C3")
        .attr("type", "text")
        .attr("t", 1_712_345_678u64)
        .children([Node::new("enc")
            .attr("v", "2")
            .attr("type", "msg")
            .bytes(pattern(256, 7))])
}

/// A group fan-out message with 8 `<to jid><enc>` children.
pub fn group_fanout() -> Node {
    let participants = (0..8).map(|i| {
        Node::new("to")
            .attr(
                "jid",
                Jid::lid(&format!("1000000000000{i:02}")).with_device(i + 1),
            )
            .children([Node::new("enc")
                .attr("v", "2")
                .attr("type", "pkmsg")
                .bytes(pattern(256, i as u8))])
    });
    Node::new("message")
        .attr("to", Jid::group("120363025246125486"))
        .attr("id", "3EB0AABBCCDDEEFF0011")
        .attr("type", "text")
        .children([
            Node::new("participants").children(participants),
            Node::new("enc")
                .attr("v", "2")
                .attr("type", "skmsg")
                .bytes(pattern(120, 9)),
        ])
}

/// A `<iq><pair-device>` with three `<ref>`s.
pub fn pair_device() -> Node {
    let refs = ["2@AbCdEf+GhIjKl==", "2@MnOpQr/StUvWx==", "2@YzAbCdEfGhIj=="]
        .into_iter()
        .map(|r| Node::new("ref").text(r));
    Node::new("iq")
        .attr("from", Jid::server_jid(Server::Pn))
        .attr("type", "set")
        .attr("id", "1234567890")
        .attr("xmlns", "md")
        .children([Node::new("pair-device").children(refs)])
}

/// A `<stream:error>` with a `<conflict type="replaced"/>`.
pub fn stream_error() -> Node {
    Node::new("stream:error")
        .attr("code", "409")
        .children([Node::new("conflict").attr("type", "replaced")])
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
