//! QR linking on virtual time (docs/protocol.md §6.1): the ack, the QR string, the
//! 60 s / 20 s rotation, exhaustion, `companion_reg_refresh`, and which
//! stanzas pairing leaves alone.

mod pair_support;

use pair_support::*;
use wa_core::binary::{Jid, Node, Server};
use wa_core::connection::{DisconnectReason, Event, Reconnect};
use wa_core::pair::{QR_DEEP_LINK_PREFIX, QrData};
use wa_core::proto::device_props::PlatformType;
use wa_core::testing::{TestServer, config_for, registered_device};

#[test]
fn pair_device_is_acked_and_the_first_qr_carries_the_device_keys() {
    let device = new_device(1);
    let mut pair = pair_with_refs(&device, &refs(6), 1);
    let events = pair.take_events();
    let qrs = qr_codes(&events);
    assert_eq!(events.len(), 1, "{events:?}");
    let (code, expires_at) = &qrs[0];
    assert_eq!(*expires_at, pair.now() + secs(60));

    // Bare five fields by default.
    assert!(!code.as_str().starts_with("https://"), "{}", code.as_str());
    assert_eq!(code.as_str().split(',').count(), 5);
    let data = QrData::parse(code.as_str()).unwrap();
    assert_eq!(data.pairing_ref, "ref-0");
    assert_eq!(data.noise_public, device.noise_key.public);
    assert_eq!(data.identity_public, device.identity_key.public);
    assert_eq!(data.adv_secret, device.adv_secret_key);
    assert_eq!(data.platform, '9', "UNKNOWN platform is 'other web client'");

    // <iq to=<from> id type="result"/> answered the pair-device.
    let ack = reply_to(&pair, "pd-1").expect("ack");
    assert_eq!(ack.attr_str("type"), Some("result"));
    assert_eq!(
        ack.attr("to").and_then(|v| v.to_jid().ok()),
        Some(Jid::server_jid(Server::Pn))
    );
    assert!(ack.children().is_empty());
}

#[test]
fn refs_rotate_after_60_then_20_seconds_and_running_out_ends_the_connection() {
    let mut pair = pair_with_refs(&new_device(2), &refs(6), 2);
    let start = pair.now();
    let mut shown = Vec::new();
    // First QR: 60 s. Nothing happens one second before each deadline.
    let deadlines = [60, 80, 100, 120, 140, 160];
    for (i, deadline) in deadlines.iter().enumerate() {
        let events = pair.take_events();
        let qrs = qr_codes(&events);
        assert_eq!(qrs.len(), 1, "QR {i}: {events:?}");
        let (code, expires_at) = &qrs[0];
        assert_eq!(*expires_at, start + secs(*deadline), "QR {i}");
        shown.push(QrData::parse(code.as_str()).unwrap().pairing_ref);
        pair.advance_to(start + secs(deadline - 1));
        assert!(
            pair.take_events().is_empty(),
            "early event before QR {i} expired"
        );
        assert!(pair.client.disconnect_reason().is_none());
        pair.advance_to(start + secs(*deadline));
    }
    assert_eq!(shown, refs(6));
    // 60 + 5 × 20 = 160 s: the refs are used up.
    let events = pair.take_events();
    assert!(
        matches!(
            &events[..],
            [
                Event::QrExhausted,
                Event::Disconnected {
                    reason: DisconnectReason::PairingExpired,
                    reconnect: Reconnect::Never
                }
            ]
        ),
        "{events:?}"
    );
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn the_deep_link_prefix_is_an_option() {
    let device = new_device(3);
    let server = TestServer::new([3; 32]);
    let mut config = config_for(&server, [53; 32]);
    config.pairing.qr_deep_link = true;
    let mut pair = silent_pair(&device, Some(config), 3);
    pair.server.send_node(&pair_device_iq("pd-1", &refs(1)));
    pair.drive();
    let code = first_qr(&pair.take_events());
    let rest = code
        .as_str()
        .strip_prefix(QR_DEEP_LINK_PREFIX)
        .expect("prefixed");
    assert!(rest.starts_with("ref-0,"), "{rest}");
    assert_eq!(
        QrData::parse(code.as_str()).unwrap().adv_secret,
        device.adv_secret_key
    );
}

#[test]
fn the_platform_character_follows_the_device_props() {
    for (platform, id) in [
        (PlatformType::Chrome, '1'),
        (PlatformType::Firefox, '3'),
        (PlatformType::Desktop, '7'),
    ] {
        let server = TestServer::new([4; 32]);
        let mut config = config_for(&server, [54; 32]);
        config.profile.device_props.platform_type = Some(platform as i32);
        let mut pair = silent_pair(&new_device(4), Some(config), 4);
        pair.server.send_node(&pair_device_iq("pd-1", &refs(1)));
        pair.drive();
        let code = first_qr(&pair.take_events());
        assert_eq!(QrData::parse(code.as_str()).unwrap().platform, id);
    }
}

#[test]
fn unusable_refs_are_skipped_and_a_flood_of_refs_is_capped() {
    let mut odd = vec![String::new(), "a,b".to_owned(), "x".repeat(600)];
    odd.extend(refs(2));
    let mut pair = pair_with_refs(&new_device(5), &odd, 5);
    let first = first_qr(&pair.take_events());
    assert_eq!(QrData::parse(first.as_str()).unwrap().pairing_ref, "ref-0");
    pair.advance(secs(60));
    let second = first_qr(&pair.take_events());
    assert_eq!(QrData::parse(second.as_str()).unwrap().pairing_ref, "ref-1");
    pair.advance(secs(20));
    assert!(matches!(
        pair.take_events()[..],
        [Event::QrExhausted, Event::Disconnected { .. }]
    ));

    // 1000 refs: at most 32 are shown, so the sequence ends after 60 + 31 × 20 s.
    let mut pair = pair_with_refs(&new_device(5), &refs(1000), 6);
    let start = pair.now();
    pair.advance(secs(60 + 31 * 20 - 1));
    assert!(pair.client.disconnect_reason().is_none());
    pair.advance(secs(1));
    let events = pair.take_events();
    assert_eq!(qr_codes(&events).len(), 32, "{events:?}");
    assert_eq!(
        pair.client.disconnect_reason(),
        Some(&DisconnectReason::PairingExpired)
    );
    assert_eq!(pair.now(), start + secs(680));
}

#[test]
fn a_pair_device_without_refs_ends_pairing_at_once() {
    let mut pair = pair_with_refs(&new_device(6), &[], 7);
    let events = pair.take_events();
    assert!(
        matches!(
            &events[..],
            [
                Event::QrExhausted,
                Event::Disconnected {
                    reason: DisconnectReason::PairingExpired,
                    ..
                }
            ]
        ),
        "{events:?}"
    );
    // It was still acknowledged.
    assert!(reply_to(&pair, "pd-1").is_some());
}

#[test]
fn a_second_pair_device_restarts_the_sequence_with_its_refs() {
    let mut pair = pair_with_refs(&new_device(7), &refs(2), 8);
    pair.take_events();
    pair.advance(secs(30));
    pair.server.send_node(&pair_device_iq(
        "pd-2",
        &["new-a".to_owned(), "new-b".to_owned()],
    ));
    pair.drive();
    let events = pair.take_events();
    let qrs = qr_codes(&events);
    assert_eq!(qrs.len(), 1);
    assert_eq!(qrs[0].1, pair.now() + secs(60));
    assert_eq!(
        QrData::parse(qrs[0].0.as_str()).unwrap().pairing_ref,
        "new-a"
    );
    assert!(reply_to(&pair, "pd-2").is_some());
}

#[test]
fn companion_reg_refresh_rotates_the_adv_secret_and_restarts_the_qr() {
    let device = new_device(8);
    let mut pair = pair_with_refs(&device, &refs(6), 9);
    pair.take_events();
    pair.advance(secs(70)); // second ref on screen
    let second = first_qr(&pair.take_events());
    assert_eq!(QrData::parse(second.as_str()).unwrap().pairing_ref, "ref-1");

    let refresh = Node::new("notification")
        .with_attr("from", Jid::server_jid(Server::Pn))
        .with_attr("type", "companion_reg_refresh")
        .with_attr("id", "n-1")
        .with_children([Node::new("companion_reg_refresh")]);
    pair.server.send_node(&refresh);
    pair.drive();
    let events = pair.take_events();
    let rotated = match &events[..] {
        [
            Event::DeviceChanged { device: rotated },
            Event::Qr { code, expires_at },
        ] => {
            let data = QrData::parse(code.as_str()).unwrap();
            assert_eq!(data.pairing_ref, "ref-1", "the current ref, re-rendered");
            assert_eq!(data.adv_secret, rotated.adv_secret_key);
            assert_eq!(*expires_at, pair.now() + secs(60));
            rotated.clone()
        }
        other => panic!("{other:?}"),
    };
    assert_ne!(rotated.adv_secret_key, device.adv_secret_key);
    assert_eq!(rotated.identity_key, device.identity_key);
    assert_eq!(rotated.noise_key, device.noise_key);
    // The notification was acked (the caller never sees it).
    let ack = pair.server.received().last().unwrap().clone();
    assert_eq!(ack.tag, "ack");
    assert_eq!(ack.attr_str("class"), Some("notification"));
    assert_eq!(ack.attr_str("id"), Some("n-1"));
    assert_eq!(ack.attr_str("type"), Some("companion_reg_refresh"));

    // The same notification with the other accepted child works too; one with
    // neither is acked and ignored.
    let rotate_qr = Node::new("notification")
        .with_attr("from", Jid::server_jid(Server::Pn))
        .with_attr("type", "companion_reg_refresh")
        .with_attr("id", "n-2")
        .with_children([Node::new("pair-device-rotate-qr")]);
    pair.server.send_node(&rotate_qr);
    let empty = Node::new("notification")
        .with_attr("from", Jid::server_jid(Server::Pn))
        .with_attr("type", "companion_reg_refresh")
        .with_attr("id", "n-3");
    pair.server.send_node(&empty);
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(&events[..], [Event::DeviceChanged { .. }, Event::Qr { .. }]),
        "{events:?}"
    );
    let acks = pair
        .server
        .received()
        .iter()
        .filter(|n| n.tag == "ack")
        .count();
    assert_eq!(acks, 3);
}

#[test]
fn stanzas_that_are_not_the_servers_pairing_stanzas_are_left_to_the_caller() {
    let mut pair = silent_pair(&new_device(9), None, 10);
    // From someone other than the server.
    let mut foreign = pair_device_iq("pd-x", &refs(1));
    foreign.attrs.insert("from", Jid::pn("123"));
    pair.server.send_node(&foreign);
    // Without an id it cannot be acknowledged.
    let mut no_id = pair_device_iq("pd-y", &refs(1));
    no_id.attrs.remove("id");
    pair.server.send_node(&no_id);
    // Another notification type.
    pair.server.send_node(
        &Node::new("notification")
            .with_attr("from", Jid::server_jid(Server::Pn))
            .with_attr("type", "devices")
            .with_attr("id", "n-9"),
    );
    pair.drive();
    let events = pair.take_events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events.iter().all(|e| matches!(e, Event::Stanza(_))));
    assert!(reply_to(&pair, "pd-x").is_none());
}

#[test]
fn a_registered_device_does_not_pair() {
    let mut pair = silent_pair(&registered_device(11), None, 11);
    pair.server.send_node(&pair_device_iq("pd-1", &refs(6)));
    pair.drive();
    let events = pair.take_events();
    assert!(matches!(&events[..], [Event::Stanza(_)]), "{events:?}");
    assert!(reply_to(&pair, "pd-1").is_none());
    assert_eq!(
        pair.client
            .request_pair_code(pair.now(), "15551234567", true),
        Err(wa_core::pair::PairCodeRequestError::NotPairing)
    );
}

#[test]
fn debug_output_of_qr_events_hides_the_adv_secret() {
    let device = new_device(12);
    let mut pair = pair_with_refs(&device, &refs(1), 12);
    let events = pair.take_events();
    let shown = format!("{events:?}");
    let qr = first_qr(&events);
    let adv_b64 = qr.as_str().split(',').nth(3).unwrap().to_owned();
    assert!(!shown.contains(&adv_b64), "{shown}");
    assert!(!shown.contains(qr.as_str()), "{shown}");
    let hex: String = device.adv_secret_key[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!shown.contains(&hex));
}
