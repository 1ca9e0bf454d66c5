//! JID parsing and text form: the `jid_parse_facts` of `binary_other.json` and the
//! rules of docs/protocol.md §4.6.

mod binary_support;

use binary_support::vectors;
use wa_core::binary::{Jid, JidError, Server};

#[test]
fn jid_parse_facts() {
    let all = vectors();
    let facts = all["jid_parse_facts"].as_array().unwrap();
    assert_eq!(facts.len(), 10);
    // Keys of `expect` that this crate has no API for; every other key is checked.
    // `signal_address` is libsignal's ProtocolAddress form, outside the JID type.
    let not_applicable = ["signal_address"];
    for f in facts {
        let text = f["jid"].as_str().unwrap();
        let parsed = text.parse::<Jid>();
        let expect = &f["expect"];
        if let Some(msg) = expect.as_str() {
            assert!(msg.starts_with("error"), "{text}: {msg}");
            assert!(parsed.is_err(), "{text} should not parse: {parsed:?}");
            continue;
        }
        let jid = parsed.unwrap_or_else(|e| panic!("{text}: {e}"));
        for (key, want) in expect.as_object().unwrap() {
            match key.as_str() {
                "user" => assert_eq!(jid.user(), want.as_str().unwrap(), "{text}"),
                "server" => assert_eq!(jid.server().as_str(), want.as_str().unwrap(), "{text}"),
                "agent" => assert_eq!(u64::from(jid.agent()), want.as_u64().unwrap(), "{text}"),
                "device" => assert_eq!(u64::from(jid.device()), want.as_u64().unwrap(), "{text}"),
                "is_ad" => assert_eq!(jid.is_ad(), want.as_bool().unwrap(), "{text}"),
                "is_group" => assert_eq!(jid.is_group(), want.as_bool().unwrap(), "{text}"),
                "to_string" => assert_eq!(jid.to_string(), want.as_str().unwrap(), "{text}"),
                other => assert!(
                    not_applicable.contains(&other),
                    "{text}: unchecked key {other}"
                ),
            }
        }
    }
}

#[test]
fn text_forms() {
    let cases: [(&str, Jid); 9] = [
        ("1234567890@s.whatsapp.net", Jid::pn("1234567890")),
        (
            "1234567890:12@s.whatsapp.net",
            Jid::pn("1234567890").with_device(12),
        ),
        ("987654321.1@lid", Jid::lid("987654321.1")),
        (
            "100000000000001.1:75@lid",
            Jid::lid("100000000000001.1").with_device(75),
        ),
        ("123-456@g.us", Jid::group("123-456")),
        ("status@broadcast", Jid::status_broadcast()),
        ("s.whatsapp.net", Jid::server_jid(Server::Pn)),
        ("g.us", Jid::server_jid(Server::Group)),
        (
            "123.4:5@interop",
            Jid::new("123", Server::Interop)
                .with_agent(4)
                .with_device(5),
        ),
    ];
    for (text, jid) in cases {
        assert_eq!(text.parse::<Jid>().unwrap(), jid, "{text}");
        assert_eq!(jid.to_string(), text);
    }
}

#[test]
fn parse_normalises_legacy_and_zero_device() {
    // Legacy user.device on s.whatsapp.net prints in the modern form.
    let j: Jid = "1234567890.13@s.whatsapp.net".parse().unwrap();
    assert_eq!(j.to_string(), "1234567890:13@s.whatsapp.net");
    // Device 0 is not printed.
    let j: Jid = "123:0@s.whatsapp.net".parse().unwrap();
    assert_eq!(j, Jid::pn("123"));
    assert_eq!(j.to_string(), "123@s.whatsapp.net");
    // The agent is not shown on AD servers.
    assert_eq!(Jid::pn("1").with_agent(3).to_string(), "1@s.whatsapp.net");
    // A non-numeric suffix after a dot stays in the user.
    let j: Jid = "a.b@bot".parse().unwrap();
    assert_eq!((j.user(), j.agent()), ("a.b", 0));
}

#[test]
fn parse_errors() {
    assert_eq!("".parse::<Jid>(), Err(JidError::Empty));
    assert_eq!(
        "invalidjid".parse::<Jid>(),
        Err(JidError::UnknownServer("invalidjid".into()))
    );
    assert_eq!(
        "user@server:device".parse::<Jid>(),
        Err(JidError::UnknownServer("server:device".into()))
    );
    assert_eq!(
        "a@b@s.whatsapp.net".parse::<Jid>(),
        Err(JidError::UnknownServer("b@s.whatsapp.net".into()))
    );
    assert_eq!("@s.whatsapp.net".parse::<Jid>(), Err(JidError::EmptyUser));
    assert_eq!(":3@lid".parse::<Jid>(), Err(JidError::EmptyUser));
    assert_eq!(
        "1:x@s.whatsapp.net".parse::<Jid>(),
        Err(JidError::InvalidDevice("x".into()))
    );
    assert_eq!(
        "1:@lid".parse::<Jid>(),
        Err(JidError::InvalidDevice("".into()))
    );
    assert_eq!(
        "1:+3@lid".parse::<Jid>(),
        Err(JidError::InvalidDevice("+3".into()))
    );
    assert_eq!(
        "1.300@g.us".parse::<Jid>(),
        Err(JidError::InvalidAgent("300".into()))
    );
    // Error messages are short and lower-case.
    assert_eq!(
        JidError::UnknownServer("x".into()).to_string(),
        "unknown jid server \"x\""
    );
}

#[test]
fn servers() {
    for s in Server::ALL {
        assert_eq!(s.as_str().parse::<Server>().unwrap(), s);
        assert_eq!(Server::from_name(s.as_str()), Some(s));
        assert_eq!(Jid::server_jid(s).to_string(), s.as_str());
        assert_eq!(s.as_str().parse::<Jid>().unwrap(), Jid::server_jid(s));
        assert_eq!(s.renders_agent(), s.domain_type().is_none());
        if let Some(d) = s.domain_type() {
            assert_eq!(Server::from_domain_type(d), Some(s));
        }
    }
    assert_eq!(Server::from_name("example.com"), None);
    assert_eq!(Server::Cus.as_str(), "c.us");
    assert_eq!(Server::from_domain_type(2), None);
}

#[test]
fn helpers() {
    let dev: Jid = "5511:7@s.whatsapp.net".parse().unwrap();
    assert!(dev.is_ad() && dev.is_pn() && !dev.is_lid() && !dev.is_group());
    assert_eq!(dev.to_non_ad(), Jid::pn("5511"));
    assert_eq!(
        (dev.user(), dev.device(), dev.server()),
        ("5511", 7, Server::Pn)
    );
    let lid: Jid = "99:1@lid".parse().unwrap();
    assert!(lid.is_lid() && lid.is_ad());
    assert!(!"99:1@g.us".parse::<Jid>().unwrap().is_ad());
    assert!(Jid::status_broadcast().is_status_broadcast());
    assert!(Jid::status_broadcast().is_broadcast());
    assert!(!Jid::new("list1", Server::Broadcast).is_status_broadcast());
    assert!(Jid::new("1", Server::Newsletter).is_newsletter());
    assert!(Jid::server_jid(Server::Pn).is_server_only());
    let interop = Jid::new("1", Server::Interop).with_integrator(5);
    assert_eq!(interop.integrator(), 5);
    assert_eq!(format!("{interop:?}"), "Jid(1@interop, integrator 5)");
}

#[test]
fn serde_uses_the_text_form() {
    let j = Jid::lid("100000000000001").with_device(42);
    let json = serde_json::to_string(&j).unwrap();
    assert_eq!(json, "\"100000000000001:42@lid\"");
    assert_eq!(serde_json::from_str::<Jid>(&json).unwrap(), j);
    assert!(serde_json::from_str::<Jid>("\"nope\"").is_err());
    assert!(serde_json::from_str::<Jid>("12").is_err());
    assert_eq!(serde_json::to_string(&Server::Group).unwrap(), "\"g.us\"");
    assert_eq!(
        serde_json::from_str::<Server>("\"lid\"").unwrap(),
        Server::Lid
    );
}
