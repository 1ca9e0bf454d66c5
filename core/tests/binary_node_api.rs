//! `Node` building and reading, typed attribute errors, `Display` and the JSON shape.

mod binary_support;

use binary_support::{group_fanout, keepalive, message_with_enc, pair_device, pattern, success};
use bytes::Bytes;
use wa_core::binary::{
    Attrs, Content, EncodeError, Jid, Node, NodeError, Server, Str, Value, decode_node, marshal,
};

#[test]
fn building_and_reading() {
    let node = pair_device();
    assert_eq!(node.tag, "iq");
    assert_eq!(node.require_attr_str("type").unwrap(), "set");
    assert_eq!(node.attr_str("xmlns"), Some("md"));
    assert_eq!(node.attr_str("nope"), None);
    assert_eq!(node.attr_jid("from").unwrap(), Jid::server_jid(Server::Pn));
    assert_eq!(node.attr_u64("id").unwrap(), 1_234_567_890);
    let pd = node.require_child("pair-device").unwrap();
    let refs: Vec<_> = pd
        .children_by_tag("ref")
        .map(|r| r.content_text().unwrap())
        .collect();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs[0], "2@AbCdEf+GhIjKl==");
    assert!(node.child("missing").is_none());
    assert!(pd.child("ref").is_some());
    assert_eq!(node.children().len(), 1);
    assert!(Node::new("x").children().is_empty());
}

#[test]
fn attr_replaces_and_attrs_keep_order() {
    let node = Node::new("iq")
        .with_attr("a", "1")
        .with_attr("b", "2")
        .with_attr("a", "3");
    let keys: Vec<&str> = node.attrs.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(node.attr_str("a"), Some("3"));

    let mut attrs: Attrs = [("x", "1"), ("y", "2")].into_iter().collect();
    attrs.push("x", "dup");
    assert_eq!(attrs.len(), 3);
    assert_eq!(attrs.get("x"), Some(&Value::from("1")));
    assert_eq!(attrs.remove("x"), Some(Value::from("1")));
    assert_eq!(attrs.len(), 1, "remove drops every attribute of that name");
    assert!(attrs.get("x").is_none());
}

#[test]
fn typed_getter_errors_name_the_tag_and_attribute() {
    let node = Node::new("message")
        .with_attr("t", "soon")
        .with_attr("from", "not a jid")
        .with_attr("to", Jid::pn("1"));
    assert_eq!(
        node.require_attr_str("id"),
        Err(NodeError::MissingAttr {
            tag: "message".into(),
            key: "id".into()
        })
    );
    let e = node.attr_u64("t").unwrap_err();
    assert_eq!(
        e,
        NodeError::InvalidAttr {
            tag: "message".into(),
            key: "t".into(),
            expected: "u64",
            value: "soon".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "<message> attribute \"t\" is not a valid u64: \"soon\""
    );
    assert!(matches!(
        node.attr_jid("from"),
        Err(NodeError::InvalidAttr {
            expected: "jid",
            ..
        })
    ));
    // A JID value is not a string; its text form is available through the value.
    assert!(matches!(
        node.require_attr_str("to"),
        Err(NodeError::InvalidAttr {
            expected: "string",
            ..
        })
    ));
    assert_eq!(node.attr("to").unwrap().to_text(), "1@s.whatsapp.net");
    assert!(*node.attr("to").unwrap() == "1@s.whatsapp.net");
    // A string that parses as a JID is accepted by attr_jid.
    let n = Node::new("x").with_attr("jid", "5:2@lid");
    assert_eq!(n.attr_jid("jid").unwrap(), Jid::lid("5").with_device(2));
    assert_eq!(n.attr_jid_opt("other"), Ok(None));
    assert_eq!(
        n.require_child("c").unwrap_err().to_string(),
        "<x> has no child <c>"
    );
    assert!(n.attr_parse::<u8>("jid").is_err());
    let t = Node::new("x").with_attr("n", 42u32);
    assert_eq!(t.attr_parse::<u32>("n"), Ok(42));
}

#[test]
fn str_behaves_like_str() {
    let a = Str::new("iq");
    let b = Str::from(String::from("iq"));
    assert_eq!(a, b);
    assert_eq!(a, "iq");
    assert_eq!("iq", a);
    assert_eq!(a.len(), 2);
    assert_eq!(a.token(), Some(wa_core::binary::Token::Single(25)));
    assert_eq!(Str::from_static("some-static-text").token(), None);
    let long = "x".repeat(100);
    assert_eq!(Str::from(long.clone()).as_str(), long);
    let mut set = std::collections::HashSet::new();
    set.insert(Str::new("iq"));
    assert!(set.contains("iq"));
    assert_eq!(format!("{:?}", Str::new("a\"b")), "\"a\\\"b\"");
}

#[test]
fn encode_errors() {
    assert_eq!(marshal(&Node::new("")), Err(EncodeError::EmptyTag));
    let mut too_many = Node::new("x");
    for i in 0..40_000 {
        too_many.attrs.push(format!("k{i}"), "v");
    }
    assert!(matches!(
        marshal(&too_many),
        Err(EncodeError::TooManyAttrs { count: 40_000, .. })
    ));
    let wide = Node::new("x").with_children((0..70_000).map(|_| Node::new("c")));
    assert!(matches!(
        marshal(&wide),
        Err(EncodeError::TooManyChildren { count: 70_000, .. })
    ));
    // On error the output buffer is left as it was.
    let mut out = vec![1, 2, 3];
    let bad = Node::new("ok").with_children([Node::new("")]);
    assert_eq!(
        wa_core::binary::encode_node(&bad, &mut out),
        Err(EncodeError::EmptyTag)
    );
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn display_one_line_and_pretty() {
    assert_eq!(
        keepalive().to_string(),
        r#"<iq id="12.34-5" xmlns="w:p" type="get" to="s.whatsapp.net"/>"#
    );
    let node = Node::new("iq")
        .with_attr("q", "a<b & \"c\"")
        .with_children([
            Node::new("x").with_bytes(vec![0xde, 0xad]),
            Node::new("y").with_text("t"),
        ]);
    assert_eq!(
        node.to_string(),
        r#"<iq q="a&lt;b &amp; &quot;c&quot;"><x>dead</x><y>t</y></iq>"#
    );
    assert_eq!(
        format!("{node:#}"),
        "<iq q=\"a&lt;b &amp; &quot;c&quot;\">\n  <x>dead</x>\n  <y>t</y>\n</iq>"
    );
}

#[test]
fn display_truncates_long_content() {
    let s = message_with_enc().to_string();
    let hex64: String = pattern(256, 7)[..64]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        s.contains(&format!(
            "<enc v=\"2\" type=\"msg\">{hex64}…(256 bytes)</enc>"
        )),
        "{s}"
    );
    assert!(s.starts_with(r#"<message to="5511987650001:3@s.whatsapp.net" id="3EB0C5A2F4D1B8E7A6C3" type="text" t="1712345678">"#));
    let text = "é".repeat(300);
    let s = Node::new("body").with_text(text.as_str()).to_string();
    assert_eq!(s, format!("<body>{}…(300 chars)</body>", "é".repeat(256)));
}

#[test]
fn json_shape() {
    let node = Node::new("iq")
        .with_attr("id", "1")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_children([
            Node::new("a").with_bytes(vec![0x0a, 0xff]),
            Node::new("b").with_text("hi"),
            Node::new("c"),
        ]);
    let json = serde_json::to_value(&node).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "tag": "iq",
            "attrs": {"id": "1", "to": {"jid": "s.whatsapp.net"}},
            "content": [
                {"tag": "a", "attrs": {}, "content": {"bytes_hex": "0aff"}},
                {"tag": "b", "attrs": {}, "content": {"text": "hi"}},
                {"tag": "c", "attrs": {}, "content": null}
            ]
        })
    );
    let back: Node = serde_json::from_value(json).unwrap();
    assert_eq!(back, node);
    // attrs and content are optional; attribute order is kept; upper-case hex is fine.
    let n: Node = serde_json::from_str(
        r#"{"tag":"x","attrs":{"z":"1","a":{"jid":"1@g.us"}},"content":{"bytes_hex":"0AFF"}}"#,
    )
    .unwrap();
    let keys: Vec<&str> = n.attrs.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["z", "a"]);
    assert_eq!(n.attr_jid("a").unwrap(), Jid::group("1"));
    assert_eq!(n.content, Content::Bytes(Bytes::from_static(&[0x0a, 0xff])));
    assert_eq!(
        serde_json::from_str::<Node>(r#"{"tag":"x"}"#).unwrap(),
        Node::new("x")
    );
    // Malformed shapes are rejected.
    for bad in [
        r#"{"attrs":{}}"#,
        r#"{"tag":"x","extra":1}"#,
        r#"{"tag":"x","content":{"bytes_hex":"abc"}}"#,
        r#"{"tag":"x","content":{"bytes_hex":"zz"}}"#,
        r#"{"tag":"x","content":{"other":"a"}}"#,
        r#"{"tag":"x","content":{"text":"a","bytes_hex":"00"}}"#,
        r#"{"tag":"x","attrs":{"a":{"jid":"bad"}}}"#,
        r#"{"tag":"x","attrs":{"a":{"nope":"1@g.us"}}}"#,
        r#"{"tag":"x","attrs":{"a":1}}"#,
        r#"{"tag":"x","tag":"y"}"#,
    ] {
        assert!(serde_json::from_str::<Node>(bad).is_err(), "{bad}");
    }
}

#[test]
fn json_round_trips_realistic_stanzas() {
    for (name, node) in binary_support::stanzas() {
        let json = serde_json::to_string(&node).unwrap();
        let back: Node = serde_json::from_str(&json).unwrap();
        assert_eq!(back, node, "{name}");
        // And the JSON of a decoded node reproduces the same wire bytes.
        let wire = marshal(&node).unwrap();
        let decoded = decode_node(&Bytes::from(wire[1..].to_vec())).unwrap();
        let again: Node = serde_json::from_str(&serde_json::to_string(&decoded).unwrap()).unwrap();
        assert_eq!(marshal(&again).unwrap(), wire, "{name}");
    }
}

#[test]
fn realistic_stanzas_round_trip() {
    for (name, node) in binary_support::stanzas() {
        let wire = marshal(&node).unwrap();
        let back = decode_node(&Bytes::from(wire[1..].to_vec())).unwrap();
        // Raw (non-token, non-packable) text content comes back as bytes; compare the
        // text view for those and everything else exactly.
        assert_eq!(normalise(&back), normalise(&node), "{name}");
        assert_eq!(marshal(&back).unwrap(), wire, "{name}: re-encode");
    }
    assert!(marshal(&group_fanout()).unwrap().len() > 2000);
    // The `success` fixture is exactly the decode vector's stanza.
    let v = binary_support::vectors();
    let hex = v["decode_vectors"][0]["hex"].as_str().unwrap();
    assert_eq!(
        marshal(&success()).unwrap()[1..],
        binary_support::h(hex)[..]
    );
}

fn normalise(node: &Node) -> Node {
    let mut n = node.clone();
    n.content = match &node.content {
        Content::Text(s) => Content::Bytes(Bytes::copy_from_slice(s.as_bytes())),
        Content::Nodes(c) => Content::Nodes(c.iter().map(normalise).collect()),
        other => other.clone(),
    };
    n
}
