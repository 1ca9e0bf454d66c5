//! Property tests: `decode(encode(n)) == n` for generated nodes (modulo the documented
//! normalisations), canonical re-encoding, JID text round trips, and arbitrary bytes
//! never panicking the decoder.

mod binary_support;

use bytes::Bytes;
use proptest::prelude::*;
use wa_core::binary::token::{self, DOUBLE_BYTE, SINGLE_BYTE};
use wa_core::binary::{
    Attrs, Content, Jid, Node, PACKED_MAX, Server, Str, Value, decode_frame, decode_node,
    encode_node, unpack,
};

fn token_string() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..236).prop_map(|i| SINGLE_BYTE[i].to_owned()),
        (0usize..4, 0usize..256).prop_map(|(d, i)| DOUBLE_BYTE[d][i].to_owned()),
    ]
}

/// Strings that exercise every wire form: tokens, both packings (around the 127
/// boundary), raw short and long (BINARY_20), unicode, JID-looking text and "".
fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => token_string(),
        2 => "[0-9.-]{0,130}",
        2 => "[0-9A-F]{0,130}",
        2 => "\\PC{0,24}",
        1 => "[a-z0-9]{1,12}(:[0-9]{1,3})?@(s\\.whatsapp\\.net|g\\.us|lid)",
        1 => "[a-z]{250,300}",
        1 => Just(String::new()),
    ]
}

fn non_empty_string() -> impl Strategy<Value = String> {
    any_string().prop_filter("tags are non-empty", |s| !s.is_empty())
}

fn user_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,20}",
        "[0-9]{3,15}\\.[0-9]",
        "[a-z0-9-]{1,12}",
        token_string()
    ]
}

/// A JID whose every part a JID token can carry (see the encoder docs): what comes
/// back from the wire is equal to it.
fn wire_jid() -> impl Strategy<Value = Jid> {
    let server = proptest::sample::select(Server::ALL.to_vec());
    (
        server,
        user_string(),
        any::<u16>(),
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(|(server, user, device, integrator, server_only)| {
            if server_only {
                return Jid::server_jid(server);
            }
            let jid = Jid::new(&user, server);
            match server {
                s if s.domain_type().is_some() => jid.with_device(device % 256),
                Server::Msgr => jid.with_device(device),
                Server::Interop => jid.with_device(device).with_integrator(integrator),
                _ => jid,
            }
        })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => any_string().prop_map(|s| Value::Str(Str::from(s))),
        1 => wire_jid().prop_map(Value::Jid),
    ]
}

fn attrs() -> impl Strategy<Value = Attrs> {
    // Duplicated keys are allowed and kept in order.
    proptest::collection::vec((any_string(), value()), 0..6).prop_map(|pairs| {
        let mut attrs = Attrs::new();
        for (k, v) in pairs {
            attrs.push(k, v);
        }
        attrs
    })
}

fn leaf_content() -> impl Strategy<Value = Content> {
    prop_oneof![
        2 => Just(Content::None),
        2 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| Content::Bytes(b.into())),
        1 => proptest::collection::vec(any::<u8>(), 256..2000).prop_map(|b| Content::Bytes(b.into())),
        2 => any_string().prop_map(|s| Content::Text(Str::from(s))),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    let leaf =
        (non_empty_string(), attrs(), leaf_content()).prop_map(|(tag, attrs, content)| Node {
            tag: Str::from(tag),
            attrs,
            content,
        });
    leaf.prop_recursive(4, 48, 6, |inner| {
        (
            non_empty_string(),
            attrs(),
            proptest::collection::vec(inner, 0..6),
        )
            .prop_map(|(tag, attrs, children)| Node {
                tag: Str::from(tag),
                attrs,
                content: Content::Nodes(children),
            })
    })
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

/// What a node looks like after a trip over the wire: text content that is neither a
/// token nor packable travels as raw bytes; an empty child list is no content.
fn expected(node: &Node) -> Node {
    let content = match &node.content {
        Content::Text(s) if token::lookup(s).is_none() && !packable(s) => {
            Content::Bytes(Bytes::copy_from_slice(s.as_bytes()))
        }
        Content::Nodes(c) if c.is_empty() => Content::None,
        Content::Nodes(c) => Content::Nodes(c.iter().map(expected).collect()),
        other => other.clone(),
    };
    Node {
        tag: node.tag.clone(),
        attrs: node.attrs.clone(),
        content,
    }
}

fn encode(node: &Node) -> Vec<u8> {
    let mut out = Vec::new();
    encode_node(node, &mut out).expect("generated nodes encode");
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn node_round_trip(n in node()) {
        let bytes = encode(&n);
        let back = decode_node(&Bytes::from(bytes.clone())).expect("decodes");
        prop_assert_eq!(&back, &expected(&n));
        // Encoding is canonical: the decoded node encodes to the same bytes.
        prop_assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn frame_round_trip_compressed(n in node()) {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(vec![0x02], flate2::Compression::fast());
        z.write_all(&encode(&n)).unwrap();
        let frame = Bytes::from(z.finish().unwrap());
        prop_assert_eq!(decode_frame(&frame).expect("decodes"), expected(&n));
    }

    #[test]
    fn jid_text_round_trip(
        server in proptest::sample::select(Server::ALL.to_vec()),
        user in "[0-9a-zA-Z_-]{1,20}",
        lid_suffix in proptest::option::of("\\.[0-9]{1,2}"),
        device in any::<u16>(),
        agent in any::<u8>(),
    ) {
        let mut user = user;
        if matches!(server, Server::Lid | Server::HostedLid) {
            // LID users may carry dots.
            user.push_str(lid_suffix.as_deref().unwrap_or(""));
        }
        let mut jid = Jid::new(&user, server).with_device(device);
        if server.renders_agent() {
            jid = jid.with_agent(agent);
        }
        let text = jid.to_string();
        prop_assert_eq!(text.parse::<Jid>(), Ok(jid.clone()));
        let json = serde_json::to_string(&jid).unwrap();
        prop_assert_eq!(serde_json::from_str::<Jid>(&json).unwrap(), jid);
    }

    #[test]
    fn jid_parse_is_idempotent(s in "[0-9a-z.:_@-]{0,30}(@(s\\.whatsapp\\.net|lid|g\\.us|bot|hosted))?") {
        if let Ok(jid) = s.parse::<Jid>() {
            prop_assert_eq!(jid.to_string().parse::<Jid>(), Ok(jid));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let bytes = Bytes::from(data);
        let _ = decode_node(&bytes);
        let _ = unpack(&bytes);
        let _ = decode_frame(&bytes);
    }

    #[test]
    fn node_shaped_bytes_never_panic(
        head in proptest::sample::select(vec![0xF8u8, 0xF9]),
        body in proptest::collection::vec(
            prop_oneof![any::<u8>(), 236u8..=255, Just(0u8), Just(0xF8u8)], 0..120),
    ) {
        let mut data = vec![head, 4];
        data.extend(body);
        let bytes = Bytes::from(data);
        if let Ok(node) = decode_node(&bytes) {
            // Anything that decodes re-encodes.
            let _ = encode(&node);
        }
    }
}

#[test]
fn jid_values_that_no_token_carries_travel_as_text() {
    let cases = [
        Jid::new("1", Server::Group).with_device(2),
        Jid::new("b", Server::Bot).with_agent(3),
        Jid::pn("5").with_device(256),
        Jid::new("n", Server::Newsletter).with_device(1),
    ];
    for jid in cases {
        let node = Node::new("x").with_attr("to", jid.clone());
        let back = decode_node(&Bytes::from(encode(&node))).unwrap();
        assert_eq!(
            back.attr("to"),
            Some(&Value::Str(Str::from(jid.to_string())))
        );
        assert_eq!(back.attr_jid("to").unwrap(), jid);
    }
}
