//! Inputs the fuzz targets in `fuzz/` found failing, kept as regression tests.
//!
//! `jid_parse` (parse → display → parse must give the same JID): the text form
//! dropped a zero agent/device that the parser then read out of the user itself.

use bytes::Bytes;
use wa_core::binary::{Jid, Node, Server, decode_node, encode_node};

/// Parses `text`, checks the parts, and checks that the text form is a fixed point
/// that reads back as the same JID.
fn check(text: &str, user: &str, server: Server, agent: u8, device: u16, shown: &str) {
    let jid: Jid = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(
        (jid.user(), jid.server(), jid.agent(), jid.device()),
        (user, server, agent, device),
        "{text:?}"
    );
    assert_eq!(jid.to_string(), shown, "{text:?}");
    assert_eq!(shown.parse::<Jid>().as_ref(), Ok(&jid), "{shown:?}");
}

#[test]
fn user_holding_a_colon_keeps_its_zero_device() {
    // Found by jid_parse, minimised: `::0@g.us` printed as `:@g.us`, which does not
    // parse (empty device), and `a:1:0@lid` printed as `a:1@lid` (device 1).
    check("::0@g.us", ":", Server::Group, 0, 0, "::0@g.us");
    check("a:1:0@lid", "a:1", Server::Lid, 0, 0, "a:1:0@lid");
    check("x:y:0@bot", "x:y", Server::Bot, 0, 0, "x:y:0@bot");
    // A device is printed anyway; no extra `:0`.
    check("a:1:7@lid", "a:1", Server::Lid, 0, 7, "a:1:7@lid");
}

#[test]
fn user_with_a_numeric_dot_suffix_keeps_its_zero_agent() {
    // Found by jid_parse, minimised: `.1.0@bot` (user `.1`, agent 0) printed as
    // `.1@bot`, which reads as an empty user with agent 1.
    check(".1.0@bot", ".1", Server::Bot, 0, 0, ".1.0@bot");
    check("a.5.0@g.us", "a.5", Server::Group, 0, 0, "a.5.0@g.us");
    // An agent above 255 in the user would not even parse without the `.0`.
    check("a.300.0@bot", "a.300", Server::Bot, 0, 0, "a.300.0@bot");
    // A shown agent already ends the text; no extra `.0`.
    check("a.5.6@bot", "a.5", Server::Bot, 6, 0, "a.5.6@bot");
    // Non-numeric suffixes are never split, so they need nothing.
    check("a.b@bot", "a.b", Server::Bot, 0, 0, "a.b@bot");
}

#[test]
fn pn_user_with_a_numeric_dot_suffix_keeps_its_zero_legacy_device() {
    // Found by jid_parse (`$6.6.0@s.whatsapp.net`): user `$6.6`, device 0 printed as
    // `$6.6@s.whatsapp.net`, which the legacy `user.device` rule reads as device 6.
    check(
        "6.6.0@s.whatsapp.net",
        "6.6",
        Server::Pn,
        0,
        0,
        "6.6.0@s.whatsapp.net",
    );
    // With a device the legacy rule does not apply, so nothing is added.
    check(
        "6.6:3@s.whatsapp.net",
        "6.6",
        Server::Pn,
        0,
        3,
        "6.6:3@s.whatsapp.net",
    );
    // Dots on `lid` belong to the user and are never split.
    check(
        "987654321.1@lid",
        "987654321.1",
        Server::Lid,
        0,
        0,
        "987654321.1@lid",
    );
    // Both at once.
    check(
        "a:b.5.0:0@s.whatsapp.net",
        "a:b.5",
        Server::Pn,
        0,
        0,
        "a:b.5.0:0@s.whatsapp.net",
    );
}

#[test]
fn real_jids_print_as_before() {
    for text in [
        "1234567890@s.whatsapp.net",
        "1234567890:12@s.whatsapp.net",
        "100000000000001.1:75@lid",
        "123-456@g.us",
        "status@broadcast",
        "123.4:5@interop",
        "s.whatsapp.net",
    ] {
        assert_eq!(text.parse::<Jid>().unwrap().to_string(), text);
    }
}

#[test]
fn escaped_text_survives_the_wire_as_a_string_attribute() {
    // A JID no token carries (a device on g.us) is written as its text form; the
    // escaped text reads back as the same JID.
    let jid = Jid::new("a:1", Server::Group).with_device(2);
    let plain = Jid::new("a.5", Server::Bot);
    let node = Node::new("x")
        .with_attr("to", jid.clone())
        .with_attr("from", plain.clone());
    let mut out = Vec::new();
    encode_node(&node, &mut out).unwrap();
    let back = decode_node(&Bytes::from(out)).unwrap();
    assert_eq!(back.attr_str("to"), Some("a:1:2@g.us"));
    assert_eq!(back.attr_jid("to").unwrap(), jid);
    // A JID_PAIR carries the user as is; its text form (logs, JSON) now reads back too.
    assert_eq!(back.attr_jid("from").unwrap(), plain);
    assert_eq!(plain.to_string(), "a.5.0@bot");
    assert_eq!(plain.to_string().parse::<Jid>().unwrap(), plain);
}
