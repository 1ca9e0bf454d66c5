//! JID parsing of arbitrary text, and the round trips of whatever parses.
//!
//! For arbitrary UTF-8 `s` (other bytes are skipped), `s.parse::<Jid>()` must not
//! panic. When it gives a JID:
//! - its text form parses back to an equal JID, and printing that gives the same text
//!   (the text form is a fixed point even when `s` was a legacy or denormal spelling);
//! - the helpers agree with the parts (`is_*`, `to_non_ad`, `is_server_only`), and
//!   `to_non_ad` keeps the user and server and drops device and agent;
//! - serde (JSON) writes the text form and reads it back equal;
//! - as an attribute value of a node it survives the wire: decoded as an equal JID
//!   when a JID token can carry it, otherwise (the encoder's documented fallback) as
//!   its text form, a plain string; `attr_jid` gives an equal JID either way.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use wa_core::binary::{Jid, Node, Server, Value, decode_node, encode_node};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(jid) = text.parse::<Jid>() else {
        return;
    };

    // Text form: parse(display(j)) == j, and display is a fixed point.
    let shown = jid.to_string();
    let reparsed = shown
        .parse::<Jid>()
        .unwrap_or_else(|e| panic!("{text:?} -> {shown:?} does not parse: {e}"));
    assert_eq!(reparsed, jid, "{text:?} -> {shown:?}");
    assert_eq!(reparsed.to_string(), shown);
    assert_eq!(jid.integrator(), 0, "text has no integrator");

    // Helpers.
    let server = jid.server();
    assert_eq!(jid.is_server_only(), jid.user().is_empty());
    assert_eq!(jid.is_group(), server == Server::Group);
    assert_eq!(jid.is_lid(), server == Server::Lid);
    assert_eq!(jid.is_pn(), server == Server::Pn);
    assert_eq!(jid.is_broadcast(), server == Server::Broadcast);
    assert_eq!(jid.is_newsletter(), server == Server::Newsletter);
    assert_eq!(
        jid.is_status_broadcast(),
        server == Server::Broadcast && jid.user() == "status"
    );
    assert_eq!(
        jid.is_ad(),
        jid.device() > 0 && server.domain_type().is_some()
    );
    if !server.renders_agent() {
        assert_eq!(jid.agent(), 0, "no agent is parsed on AD servers");
    }
    let base = jid.to_non_ad();
    assert_eq!(
        (base.user(), base.server(), base.device(), base.agent()),
        (jid.user(), server, 0, 0)
    );
    assert!(!base.is_ad());
    assert_eq!(base.to_non_ad(), base);
    let _ = format!("{jid:?} {base:?}");

    // Serde.
    let json = serde_json::to_string(&jid).expect("serialises");
    assert_eq!(json, serde_json::to_string(&shown).unwrap());
    assert_eq!(serde_json::from_str::<Jid>(&json).ok().as_ref(), Some(&jid));

    // The wire, as an attribute value.
    let node = Node::new("x").with_attr("jid", jid.clone());
    let mut wire = Vec::new();
    encode_node(&node, &mut wire).expect("a node with a JID encodes");
    let back = decode_node(&Bytes::from(wire)).expect("decodes");
    let value = back.attr("jid").expect("the attribute survives");
    if token_carries(&jid) {
        assert_eq!(value, &Value::Jid(jid.clone()), "{text:?} as a JID token");
    } else {
        assert_eq!(value.as_str(), Some(shown.as_str()), "{text:?} as text");
    }
    assert_eq!(back.attr_jid("jid").as_ref(), Ok(&jid));
});

/// Whether a JID token carries every part of a parsed JID (the encoder's documented
/// rules): AD servers up to device 255, `msgr` and `interop` with any device, other
/// servers only without a device or a shown agent. Parsed JIDs have no integrator.
fn token_carries(jid: &Jid) -> bool {
    let server = jid.server();
    if jid.user().is_empty() {
        return true;
    }
    if server.domain_type().is_some() {
        return jid.device() <= 255;
    }
    if jid.agent() > 0 {
        return false;
    }
    matches!(server, Server::Msgr | Server::Interop) || jid.device() == 0
}
