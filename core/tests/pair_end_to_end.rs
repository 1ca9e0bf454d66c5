//! Linking end to end on virtual time: a fresh device shows QR codes, the
//! simulated phone scans one, the client verifies and answers the
//! pair-success, the caller persists the device in a `MemoryStore`, the server
//! restarts the stream (515), and a new connection logs in with the stored
//! device. The same through a pair code.

mod pair_support;

use futures_lite::future::block_on;
use pair_support::*;
use wa_core::connection::{Connection, DisconnectReason, Event, Reconnect, StreamError};
use wa_core::pair::{PairCodeRequestError, PairError, is_valid_pair_code};
use wa_core::store::{Device, DeviceStore, MemoryStore};
use wa_core::testing::{Harness, IqReply, PairSuccessVariant, SimulatedPhone, TestServer};
use wa_core::time::Instant;

/// Drives a linked pair through the 515 and returns the events.
fn restart(pair: &mut Harness) -> Vec<Event> {
    pair.server.send_stream_error(Some("515"), None);
    pair.drive();
    pair.take_events()
}

/// Logs in with `device` against a new server; returns the pair after
/// `LoggedIn`.
fn log_in(device: &Device, seed: u8) -> Harness {
    let mut pair = Harness::new(TestServer::new([seed; 32]), device, [seed ^ 0xFF; 32]);
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(
            &events[..],
            [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
        ),
        "expected LoggedIn, got {events:?}"
    );
    pair
}

#[test]
fn qr_link_then_login_with_the_persisted_device() {
    let store = MemoryStore::new();
    let fresh = new_device(60);
    block_on(store.save(&fresh)).unwrap();

    // Connection 1: registration. Let the first QR expire; scan the second.
    let device = block_on(store.load()).unwrap().expect("stored");
    let mut pair = qr_pair(&device, 60);
    let start = pair.now();
    let first = first_qr(&pair.take_events());
    pair.advance(secs(60));
    let events = pair.take_events();
    let (second, expires_at) = qr_codes(&events).pop().expect("second QR");
    assert_eq!(expires_at, start + secs(80));
    assert_ne!(first, second);
    let mut phone = SimulatedPhone::new(60);
    let scanned = phone.scan(second.as_str()).unwrap();
    assert_eq!(scanned.adv_secret, fresh.adv_secret_key);
    let id = phone
        .send_pair_success(&mut pair.server, PairSuccessVariant::Valid)
        .unwrap();
    pair.advance(secs(5));
    let events = pair.take_events();
    let paired = match &events[..] {
        [Event::PairSuccess { device }] => (**device).clone(),
        other => panic!("expected PairSuccess, got {other:?}"),
    };
    phone
        .check_pair_device_sign(&reply_to(&pair, &id).unwrap(), &id)
        .unwrap();
    phone.check_account(&paired).unwrap();

    // The caller persists before anything else.
    block_on(store.save(&paired)).unwrap();

    let events = restart(&mut pair);
    assert!(
        matches!(
            &events[..],
            [Event::Disconnected {
                reason: DisconnectReason::StreamError(StreamError::RestartRequired),
                reconnect: Reconnect::Now,
                ..
            }]
        ),
        "{events:?}"
    );

    // Connection 2: login with what the store gives back.
    let stored = block_on(store.load()).unwrap().expect("stored");
    assert_eq!(stored, paired);
    assert!(stored.is_registered());
    let mut pair = log_in(&stored, 61);
    let payload = pair.server.client_payload().expect("payload");
    assert_eq!(payload.username, Some(15_551_110_060));
    assert_eq!(payload.device, Some(12));
    assert_eq!(payload.device_pairing_data, None);
    assert_eq!(payload.pull, Some(true));
    assert_eq!(payload.lc, Some(stored.login_counter));
    assert_eq!(pair.server.client_static(), Some(&fresh.noise_key.public));
    assert!(pair.client.is_logged_in());
    assert!(
        pair.client
            .request_pair_code(pair.now(), "15551234567", false)
            .is_err()
    );
}

#[test]
fn pair_code_link_then_login() {
    let device = new_device(62);
    let mut server = TestServer::new([62; 32]);
    let mut phone = SimulatedPhone::new(62);
    phone.serve_pair_code(&mut server);
    let config = wa_core::testing::config_for(&server, [162; 32]);
    let client = Connection::new(config, &device, Instant::ZERO).unwrap();
    let mut pair = Harness::from_parts(client, server, Instant::ZERO);
    // Asked before the server's pair-device: queued until it arrives.
    pair.client
        .request_pair_code(pair.now(), "+1 555 123-4567", true)
        .unwrap();
    pair.drive();

    // companion_hello as §6.3 step 5 describes it.
    let hello = pair
        .server
        .received()
        .iter()
        .find_map(|n| n.child("link_code_companion_reg").cloned())
        .expect("companion_hello");
    assert_eq!(hello.attr_str("stage"), Some("companion_hello"));
    assert_eq!(
        hello.attr("jid").map(|j| j.to_text().into_owned()),
        Some("15551234567@s.whatsapp.net".to_owned())
    );
    assert_eq!(
        hello.attr_str("should_show_push_notification"),
        Some("true")
    );
    let bytes = |tag: &str| {
        hello
            .child(tag)
            .and_then(|c| c.content_bytes())
            .unwrap()
            .to_vec()
    };
    assert_eq!(
        bytes("link_code_pairing_wrapped_companion_ephemeral_pub").len(),
        80
    );
    assert_eq!(
        bytes("companion_server_auth_key_pub"),
        device.noise_key.public
    );
    assert_eq!(bytes("companion_platform_id"), b"9");
    assert_eq!(bytes("companion_platform_display"), b"Chrome (Linux)");
    assert_eq!(bytes("link_code_pairing_nonce"), [0]);

    let events = pair.take_events();
    let code = events
        .iter()
        .find_map(|e| match e {
            Event::PairCode { code, expires_at } => {
                assert_eq!(*expires_at, Instant::ZERO + secs(180));
                Some(code.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no PairCode in {events:?}"));
    assert!(is_valid_pair_code(&code), "{code}");
    // The QR sequence runs alongside.
    assert_eq!(qr_codes(&events).len(), 1);

    // The user types the code on the phone.
    phone.enter_pair_code(&mut pair.server, &code).unwrap();
    pair.drive();
    assert!(pair.take_events().is_empty());
    phone.finish_pair_code(&pair.server).unwrap();
    let id = phone
        .send_pair_success(&mut pair.server, PairSuccessVariant::Valid)
        .unwrap();
    pair.drive();
    let paired = pair_successes(&pair.take_events())
        .pop()
        .expect("PairSuccess");
    phone
        .check_pair_device_sign(&reply_to(&pair, &id).unwrap(), &id)
        .unwrap();
    phone.check_account(&paired).unwrap();
    // The ADV secret is the one both sides derived, not the QR one.
    assert_ne!(paired.adv_secret_key, device.adv_secret_key);
    assert_eq!(Some(paired.adv_secret_key), phone.companion_adv_secret());
    assert_eq!(
        paired.pn.as_ref().map(ToString::to_string).as_deref(),
        Some("15551110062:12@s.whatsapp.net")
    );

    assert!(matches!(
        &restart(&mut pair)[..],
        [Event::Disconnected {
            reconnect: Reconnect::Now,
            ..
        }]
    ));
    let pair = log_in(&paired, 63);
    assert_eq!(
        pair.server.client_payload().unwrap().username,
        Some(15_551_110_062)
    );
}

/// A pairing pair with a pair code requested and shown; returns the code
/// and the QR on screen.
fn code_shown(seed: u8, phone: &SimulatedPhone) -> (Harness, String, wa_core::pair::QrCode) {
    let mut server = TestServer::new([seed; 32]);
    phone.serve_pair_code(&mut server);
    let config = wa_core::testing::config_for(&server, [seed ^ 0xAA; 32]);
    let client = Connection::new(config, &new_device(seed), Instant::ZERO).unwrap();
    let mut pair = Harness::from_parts(client, server, Instant::ZERO);
    pair.drive();
    pair.client
        .request_pair_code(pair.now(), "15551234567", false)
        .unwrap();
    pair.drive();
    let events = pair.take_events();
    let code = events
        .iter()
        .find_map(|e| match e {
            Event::PairCode { code, .. } => Some(code.clone()),
            _ => None,
        })
        .expect("PairCode");
    (pair, code, first_qr(&events))
}

#[test]
fn a_mistyped_code_cannot_link() {
    let mut phone = SimulatedPhone::new(64);
    let (mut pair, code, _) = code_shown(64, &phone);
    let wrong = if code == "ZZZZZZZZ" {
        "YYYYYYYY"
    } else {
        "ZZZZZZZZ"
    };
    phone.enter_pair_code(&mut pair.server, wrong).unwrap();
    pair.drive();
    // The companion cannot tell (CTR is unauthenticated) and answers, but the
    // phone cannot open the bundle: no shared secret, no pair-success.
    assert!(
        phone.finish_pair_code(&pair.server).is_err(),
        "a wrong code opened the bundle"
    );
    assert_eq!(
        phone.send_pair_success(&mut pair.server, PairSuccessVariant::Valid),
        None
    );
}

#[test]
fn a_primary_hello_for_another_ref_is_refused_before_any_key_work() {
    let phone = SimulatedPhone::new(65);
    let (mut pair, _, _) = code_shown(65, &phone);
    pair.server
        .send_node(&wa_core::testing::pair_crypto::primary_hello_notification(
            "n-1",
            b"some-other-ref",
            &[7; 80],
            &[9; 32],
        ));
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(
            &events[..],
            [Event::PairingFailed {
                error: PairError::Malformed("link_code_pairing_ref")
            }]
        ),
        "{events:?}"
    );
    // Acked, and no companion_finish went out.
    let received = pair.server.received();
    assert!(received.iter().any(|n| n.tag == "ack"));
    assert!(!received.iter().any(|n| {
        n.child("link_code_companion_reg")
            .is_some_and(|r| r.attr_str("stage") == Some("companion_finish"))
    }));
}

#[test]
fn a_refused_companion_hello_is_reported() {
    let mut server = TestServer::new([66; 32]);
    server.set_iq_handler(|_| IqReply::Error {
        code: 400,
        text: "bad-request".to_owned(),
    });
    let mut pair = Harness::new(server, &new_device(66), [166; 32]);
    pair.drive();
    pair.take_events();
    pair.client
        .request_pair_code(pair.now(), "15551234567", true)
        .unwrap();
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(
            &events[..],
            [Event::PairingFailed {
                error: PairError::PairCodeRefused { code: 400, text }
            }] if text == "bad-request"
        ),
        "{events:?}"
    );
}

#[test]
fn bad_phone_numbers_are_refused_without_sending() {
    let mut pair = qr_pair(&new_device(67), 67);
    pair.take_events();
    let sent = pair.server.received().len();
    for phone in ["", "12345", "0044 20 7946 0000", "1234567890123456"] {
        assert_eq!(
            pair.client.request_pair_code(pair.now(), phone, true),
            Err(PairCodeRequestError::InvalidPhoneNumber),
            "{phone}"
        );
    }
    pair.drive();
    assert_eq!(pair.server.received().len(), sent);
}

#[test]
fn a_live_pair_code_keeps_the_connection_after_the_refs_run_out() {
    let phone = SimulatedPhone::new(68);
    let (mut pair, _, _) = code_shown(68, &phone);
    // Six refs: 160 s. The code lives 180 s from the request.
    pair.advance_to(Instant::ZERO + secs(170));
    let events = pair.take_events();
    assert!(events.contains(&Event::QrExhausted), "{events:?}");
    assert!(pair.client.disconnect_reason().is_none());
    pair.advance_to(Instant::ZERO + secs(181));
    assert_eq!(
        pair.client.disconnect_reason(),
        Some(&DisconnectReason::PairingExpired)
    );
}

#[test]
fn the_qr_of_a_pair_code_connection_still_links() {
    // QR and pair code share one connection; a scan wins if it comes first.
    let (mut pair, _, qr) = code_shown(69, &SimulatedPhone::new(69));
    let mut scanner = SimulatedPhone::new(70);
    assert_eq!(
        scanner.scan(qr.as_str()).unwrap().adv_secret,
        new_device(69).adv_secret_key
    );
    scanner.send_pair_success(&mut pair.server, PairSuccessVariant::Valid);
    pair.drive();
    assert_eq!(pair_successes(&pair.take_events()).len(), 1);
}
