//! Handshake, certificate chain, login and registration payloads, through the
//! Harness (docs/protocol.md §2, §3.4, §5.1).

mod connection_support;

use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use wa_core::binary::{Jid, Node};
use wa_core::cert::{CertError, CertRole, WA_ROOT_PUBLIC_KEY};
use wa_core::connection::{
    Config, ConfigError, Connection, ConnectionError, DEFAULT_APP_VERSION, DisconnectReason, Event,
    SendError,
};
use wa_core::noise::NoiseError;
use wa_core::proto::DeviceProps;
use wa_core::proto::client_payload::user_agent::Platform;
use wa_core::proto::client_payload::{ConnectReason, ConnectType};
use wa_core::proto::device_props::PlatformType;
use wa_core::store::AppVersion;
use wa_core::testing::{
    ChainFault, Direction, Fate, Harness, LoginReply, ServerOptions, TEST_UNIX_TIME, TestServer,
    config_for, fresh_device, registered_device, test_wall_clock,
};
use wa_core::time::Instant;
use wa_core::xeddsa;

use connection_support::{secs, single_disconnect};

const DAY: u64 = 86_400;

#[test]
fn login_succeeds_and_logged_in_carries_server_time_and_lid() {
    let device = registered_device(1);
    let mut pair = Harness::new(TestServer::new([1; 32]), &device, [2; 32]);
    pair.advance(Duration::from_secs(5));
    let events = pair.take_events();
    match &events[..] {
        [
            Event::DeviceChanged { device: changed },
            Event::LoggedIn {
                server_time,
                lid,
                stanza,
            },
        ] => {
            // Before the login is reported: the login counter went up and the
            // LID from <success> was adopted.
            assert_eq!(changed.login_counter, device.login_counter + 1);
            assert_eq!(changed.lid, Some(Jid::lid("98765000000001").with_device(7)));
            assert_eq!(*server_time, Some(TEST_UNIX_TIME));
            assert_eq!(
                lid.as_ref(),
                Some(&Jid::lid("98765000000001").with_device(7))
            );
            assert_eq!(stanza.tag, "success");
        }
        other => panic!("expected LoggedIn, got {other:?}"),
    }
    assert!(pair.client.is_logged_in());
    assert!(pair.client.is_established());
    assert_eq!(pair.server.client_static(), Some(&device.noise_key.public));
}

#[test]
fn login_payload_fields() {
    let mut device = registered_device(1);
    device.lid_migrated = true;
    let mut pair = Harness::new(TestServer::new([1; 32]), &device, [2; 32]);
    pair.drive();
    let p = pair
        .server
        .client_payload()
        .expect("payload decoded")
        .clone();
    assert_eq!(p.username, Some(15_550_000_001));
    assert_eq!(p.device, Some(7));
    assert_eq!(p.passive, Some(false));
    assert_eq!(p.pull, Some(true));
    assert_eq!(p.lc, Some(3));
    assert_eq!(p.lid_db_migrated, Some(true));
    assert!(p.device_pairing_data.is_none());
    assert!(p.push_name.is_none());
    assert_eq!(p.connect_type, Some(ConnectType::WifiUnknown as i32));
    assert_eq!(p.connect_reason, Some(ConnectReason::UserActivated as i32));
    let ua = p.user_agent.expect("user agent");
    assert_eq!(ua.platform, Some(Platform::Web as i32));
    let v = ua.app_version.expect("app version");
    assert_eq!(
        (v.primary, v.secondary, v.tertiary),
        (Some(2), Some(3000), Some(1_045_649_367))
    );
    assert_eq!(ua.mcc.as_deref(), Some("000"));
    assert_eq!(ua.device.as_deref(), Some("Desktop"));
    assert_eq!(ua.os_version.as_deref(), Some("0.1"));
    assert_eq!(ua.locale_language_iso6391.as_deref(), Some("en"));
    assert_eq!(ua.locale_country_iso31661_alpha2.as_deref(), Some("US"));
    assert!(ua.phone_id.is_none());
    assert_eq!(p.web_info.expect("web info").web_sub_platform, Some(0));
}

#[test]
fn registration_payload_for_a_fresh_device() {
    let device = fresh_device(5);
    let mut pair = Harness::new(TestServer::new([5; 32]), &device, [6; 32]);
    pair.drive();
    let p = pair
        .server
        .client_payload()
        .expect("payload decoded")
        .clone();
    assert!(p.username.is_none() && p.device.is_none());
    assert_eq!(p.passive, Some(false));
    assert_eq!(p.pull, Some(false));
    assert!(p.lc.is_none());
    let reg = p.device_pairing_data.expect("registration data");
    assert_eq!(
        reg.e_regid.as_deref(),
        Some(&device.registration_id.to_be_bytes()[..])
    );
    assert_eq!(reg.e_keytype.as_deref(), Some(&[5u8][..]));
    assert_eq!(
        reg.e_ident.as_deref(),
        Some(&device.identity_key.public[..])
    );
    assert_eq!(reg.e_skey_id.as_deref(), Some(&[0u8, 0, 1][..]));
    assert_eq!(
        reg.e_skey_val.as_deref(),
        Some(&device.signed_pre_key.public[..])
    );
    let sig: [u8; 64] = reg.e_skey_sig.expect("sig").try_into().expect("64 bytes");
    let mut signed = vec![5u8];
    signed.extend_from_slice(&device.signed_pre_key.public);
    assert!(xeddsa::verify(&device.identity_key.public, &signed, &sig).is_ok());
    // MD5("2.3000.1045649367"), computed independently.
    assert_eq!(
        hex::encode(reg.build_hash.expect("build hash")),
        "9fa53af9421567b114e33c9bb1ef7db2"
    );
    let props = DeviceProps::decode(&reg.device_props.expect("props")[..]).expect("props decode");
    assert_eq!(props.os.as_deref(), Some("wa"));
    assert_eq!(props.platform_type, Some(PlatformType::Unknown as i32));
    assert_eq!(props.require_full_sync, Some(false));
}

#[test]
fn pair_device_starts_the_qr_sequence_and_ends_the_handshake_timer() {
    let mut pair = Harness::new(TestServer::new([5; 32]), &fresh_device(5), [6; 32]);
    pair.drive();
    let events = pair.take_events();
    // Pairing consumes the pair-device (acked, first of six refs shown for
    // 60 s; see the pair_qr tests for the whole sequence).
    assert!(
        matches!(&events[..], [Event::Qr { expires_at, .. }] if *expires_at == pair.now() + secs(60)),
        "expected one QR event, got {events:?}"
    );
    let ack = pair.server.received().last().expect("the pair-device ack");
    assert_eq!(ack.attr_str("type"), Some("result"));
    assert!(!pair.client.is_logged_in());
    // Past the 20 s handshake timeout, within the first QR's 60 s: the
    // connection holds.
    pair.advance(secs(45));
    assert!(pair.take_events().is_empty());
    assert!(pair.client.disconnect_reason().is_none());
}

#[test]
fn push_name_is_sent_at_registration_when_known() {
    let mut device = fresh_device(5);
    device.push_name = "Alice".to_owned();
    let mut pair = Harness::new(TestServer::new([5; 32]), &device, [6; 32]);
    pair.drive();
    let p = pair.server.client_payload().expect("payload");
    assert_eq!(p.push_name.as_deref(), Some("Alice"));
}

#[test]
fn app_version_stored_in_the_device_wins() {
    let mut device = fresh_device(5);
    device.app_version = Some(AppVersion {
        primary: 2,
        secondary: 3000,
        tertiary: 1,
    });
    let mut pair = Harness::new(TestServer::new([5; 32]), &device, [6; 32]);
    pair.drive();
    let p = pair.server.client_payload().expect("payload").clone();
    let v = p.user_agent.and_then(|ua| ua.app_version).expect("version");
    assert_eq!(v.tertiary, Some(1));
    let hash = p
        .device_pairing_data
        .and_then(|d| d.build_hash)
        .expect("hash");
    assert_eq!(hex::encode(hash), "236487c02d95b982c2cdc3c6e961e0e3");
    assert_ne!(DEFAULT_APP_VERSION.tertiary, 1);
}

#[test]
fn client_hello_is_the_header_then_one_frame() {
    let pair = Harness::new(TestServer::new([1; 32]), &registered_device(1), [2; 32]);
    let mut client = pair.client;
    let hello = client.poll_transmit().expect("client hello queued by new");
    assert_eq!(hello.len(), 43);
    assert_eq!(
        hello[..11],
        [0x57, 0x41, 0x06, 0x03, 0, 0, 0x24, 0x12, 0x22, 0x0A, 0x20]
    );
    assert!(client.poll_transmit().is_none());
}

#[test]
fn edge_routing_pre_intro_is_sent_when_the_device_has_routing_info() {
    let mut device = registered_device(1);
    device.edge_routing_info = Some(b"routing-token".to_vec());
    let mut pair = Harness::new(TestServer::new([1; 32]), &device, [2; 32]);
    pair.drive();
    let first = &pair.client_transmits()[0];
    assert_eq!(first[..7], [b'E', b'D', 0, 1, 0, 0, 13]);
    assert_eq!(&first[7..20], b"routing-token");
    assert_eq!(first[20..24], *b"WA\x06\x03");
    assert_eq!(pair.server.edge_routing(), Some(&b"routing-token"[..]));
    assert!(matches!(
        pair.take_events()[..],
        [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
    ));
}

#[test]
fn devices_that_cannot_connect_are_refused_by_new() {
    let mut device = registered_device(1);
    device.pn = Some("not-a-number@s.whatsapp.net".parse().unwrap());
    let server = TestServer::new([1; 32]);
    let err = Connection::new(config_for(&server, [2; 32]), &device, Instant::ZERO).unwrap_err();
    assert_eq!(
        err,
        ConfigError::InvalidPn("not-a-number@s.whatsapp.net".to_owned())
    );

    let mut device = fresh_device(1);
    device.signed_pre_key_id = 0x0100_0000;
    let err = Connection::new(config_for(&server, [2; 32]), &device, Instant::ZERO).unwrap_err();
    assert_eq!(err, ConfigError::SignedPreKeyId(0x0100_0000));

    let mut device = fresh_device(1);
    device.push_name = "x".repeat(2 << 20);
    let err = Connection::new(config_for(&server, [2; 32]), &device, Instant::ZERO).unwrap_err();
    assert!(
        matches!(err, ConfigError::ClientPayloadTooLarge { .. }),
        "{err:?}"
    );
}

fn refused(
    options: ServerOptions,
    config: impl FnOnce(&TestServer) -> Config,
) -> (DisconnectReason, bool) {
    let server = TestServer::with_options(options);
    let config = config(&server);
    let mut pair = Harness::with_config(server, config, &registered_device(1));
    pair.advance(secs(1));
    let (reason, reconnect, logged_out) = single_disconnect(pair.events());
    assert!(!logged_out);
    assert!(!pair.server.is_established(), "no ClientFinish may be sent");
    (reason, reconnect)
}

fn cert_error(reason: &DisconnectReason) -> &CertError {
    match reason {
        DisconnectReason::Error(ConnectionError::Handshake(NoiseError::Cert(e))) => e,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[test]
fn a_chain_signed_by_the_wrong_root_is_refused() {
    let mut options = ServerOptions::new([1; 32]);
    options.chain_fault = ChainFault::WrongRoot;
    let (reason, reconnect) = refused(options, |s| config_for(s, [2; 32]));
    assert!(matches!(
        cert_error(&reason),
        CertError::BadSignature {
            role: CertRole::Intermediate,
            ..
        }
    ));
    assert!(!reconnect, "a refused chain is not retried automatically");
}

#[test]
fn the_default_root_is_whatsapps_and_refuses_a_test_chain() {
    let (reason, _) = refused(ServerOptions::new([1; 32]), |_| {
        let config = Config::new([2; 32], test_wall_clock());
        assert_eq!(config.trusted_root, WA_ROOT_PUBLIC_KEY);
        config
    });
    assert!(matches!(
        cert_error(&reason),
        CertError::BadSignature {
            role: CertRole::Intermediate,
            ..
        }
    ));
}

#[test]
fn an_expired_leaf_is_refused() {
    let mut options = ServerOptions::new([1; 32]);
    options.leaf_validity = (TEST_UNIX_TIME - 100 * DAY, TEST_UNIX_TIME - DAY);
    let (reason, _) = refused(options, |s| config_for(s, [2; 32]));
    assert_eq!(
        cert_error(&reason),
        &CertError::Expired {
            role: CertRole::Leaf,
            not_after: TEST_UNIX_TIME - DAY
        }
    );
}

#[test]
fn a_leaf_not_yet_valid_is_refused() {
    let mut options = ServerOptions::new([1; 32]);
    options.leaf_validity = (TEST_UNIX_TIME + DAY, TEST_UNIX_TIME + 100 * DAY);
    let (reason, _) = refused(options, |s| config_for(s, [2; 32]));
    assert_eq!(
        cert_error(&reason),
        &CertError::NotYetValid {
            role: CertRole::Leaf,
            not_before: TEST_UNIX_TIME + DAY
        }
    );
}

#[test]
fn an_expired_intermediate_is_refused() {
    let mut options = ServerOptions::new([1; 32]);
    options.intermediate_validity = (TEST_UNIX_TIME - 100 * DAY, TEST_UNIX_TIME - DAY);
    let (reason, _) = refused(options, |s| config_for(s, [2; 32]));
    assert!(matches!(
        cert_error(&reason),
        CertError::Expired {
            role: CertRole::Intermediate,
            ..
        }
    ));
}

#[test]
fn a_leaf_key_other_than_the_server_static_is_refused() {
    let mut options = ServerOptions::new([1; 32]);
    options.chain_fault = ChainFault::LeafKeyMismatch;
    let (reason, _) = refused(options, |s| config_for(s, [2; 32]));
    assert_eq!(cert_error(&reason), &CertError::LeafKeyMismatch);
}

#[test]
fn the_validity_check_uses_the_wall_clock_given_as_data() {
    // A client whose wall clock says 2030 refuses the chain...
    let (reason, _) = refused(ServerOptions::new([1; 32]), |s| {
        let mut config = config_for(s, [2; 32]);
        config.wall_clock = test_wall_clock() + Duration::from_secs(4 * 365 * DAY);
        config
    });
    assert!(matches!(cert_error(&reason), CertError::Expired { .. }));

    // ...and accepts it once `set_wall_clock` corrects the clock, with the
    // monotonic time since the correction added.
    let server = TestServer::new([1; 32]);
    let mut config = config_for(&server, [2; 32]);
    config.wall_clock = test_wall_clock() + Duration::from_secs(4 * 365 * DAY);
    let mut pair = Harness::with_config(server, config, &registered_device(1));
    pair.client.set_wall_clock(Instant::ZERO, test_wall_clock());
    pair.advance(secs(3));
    assert!(matches!(
        pair.events()[..],
        [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
    ));
    pair.client.handle_timeout(pair.now()); // brings the client's clock to now
    assert_eq!(pair.client.unix_time(), TEST_UNIX_TIME + 3);
}

#[test]
fn every_tampered_byte_of_the_server_hello_is_refused() {
    // Find the ServerHello's size with a clean run.
    let mut clean = Harness::new(TestServer::new([1; 32]), &registered_device(1), [2; 32]);
    clean.drive();
    assert!(matches!(
        clean.events()[..],
        [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
    ));
    let hello_len = {
        let mut server = TestServer::new([1; 32]);
        for t in clean.client_transmits().iter().take(1) {
            server.handle_input(t);
        }
        server.poll_transmit().expect("server hello").len()
    };

    for pos in 0..hello_len {
        let mut pair = Harness::new(TestServer::new([1; 32]), &registered_device(1), [2; 32]);
        pair.set_hook(Direction::ToClient, move |seg| {
            if seg.index != 0 {
                return Fate::Deliver;
            }
            let mut bytes = seg.bytes.to_vec();
            bytes[pos] ^= 0x04;
            Fate::Replace(Bytes::from(bytes))
        });
        pair.advance(secs(30));
        let (reason, _, _) = single_disconnect(pair.events());
        if pos < 3 {
            // A changed length: the frame never completes, or ends early.
            assert!(
                matches!(
                    reason,
                    DisconnectReason::HandshakeTimeout
                        | DisconnectReason::Error(ConnectionError::Handshake(_))
                        | DisconnectReason::Error(ConnectionError::Frame(_))
                ),
                "byte {pos}: {reason:?}"
            );
        } else {
            assert!(
                matches!(
                    reason,
                    DisconnectReason::Error(ConnectionError::Handshake(_))
                ),
                "byte {pos}: {reason:?}"
            );
        }
        assert!(!pair.server.is_established(), "byte {pos}");
    }
}

#[test]
fn a_silent_server_times_the_handshake_out_after_20_s() {
    let mut server = TestServer::new([1; 32]);
    server.set_silent(true);
    let mut pair = Harness::new(server, &registered_device(1), [2; 32]);
    pair.advance(Duration::from_millis(19_999));
    assert!(pair.events().is_empty());
    pair.advance(Duration::from_millis(1));
    let (reason, reconnect, _) = single_disconnect(pair.events());
    assert_eq!(reason, DisconnectReason::HandshakeTimeout);
    assert!(reconnect);
}

#[test]
fn a_server_silent_after_the_handshake_times_out_too() {
    let mut server = TestServer::new([1; 32]);
    server.set_login_reply(LoginReply::Silent);
    let mut pair = Harness::new(server, &registered_device(1), [2; 32]);
    pair.advance(secs(19));
    assert!(pair.server.is_established());
    assert!(pair.events().is_empty());
    pair.advance(secs(1));
    assert_eq!(
        single_disconnect(pair.events()).0,
        DisconnectReason::HandshakeTimeout
    );
}

#[test]
fn stanzas_other_than_the_login_answer_do_not_end_the_login_deadline() {
    let mut server = TestServer::new([1; 32]);
    server.set_login_reply(LoginReply::Silent);
    let mut pair = Harness::new(server, &registered_device(1), [2; 32]);
    pair.advance(secs(5));
    assert!(pair.server.is_established());
    // A server that talks but never logs the connection in.
    pair.server
        .send_node(&Node::new("ib").with_children([Node::new("dirty")]));
    pair.server
        .send_node(&Node::new("notification").with_attr("id", "n-1"));
    pair.advance(secs(14));
    assert!(
        matches!(pair.events(), [Event::Stanza(_), Event::Stanza(_)]),
        "{:?}",
        pair.events()
    );
    pair.advance(secs(1));
    let (reason, reconnect, _) = single_disconnect(pair.events());
    assert_eq!(reason, DisconnectReason::HandshakeTimeout);
    assert!(reconnect);
    assert!(!pair.client.is_logged_in());
}

#[test]
fn a_late_success_after_other_stanzas_ends_the_login_deadline() {
    let mut server = TestServer::new([1; 32]);
    server.set_login_reply(LoginReply::Silent);
    let mut pair = Harness::new(server, &registered_device(1), [2; 32]);
    pair.advance(secs(5));
    pair.server.send_node(&Node::new("ib"));
    pair.advance(secs(10));
    pair.server
        .send_node(&Node::new("success").with_attr("t", "1700000000"));
    pair.advance(secs(60));
    assert!(pair.client.is_logged_in());
    assert!(pair.disconnects().is_empty(), "{:?}", pair.events());
}

#[test]
fn sending_is_refused_before_the_handshake_and_after_the_end() {
    let mut pair = Harness::new(TestServer::new([1; 32]), &registered_device(1), [2; 32]);
    let node = wa_core::binary::Node::new("presence");
    assert_eq!(
        pair.client.send_node(pair.now(), &node),
        Err(SendError::Handshaking)
    );
    pair.drive();
    assert_eq!(pair.client.send_node(pair.now(), &node), Ok(()));
    pair.client.close(pair.now());
    assert_eq!(
        pair.client.send_node(pair.now(), &node),
        Err(SendError::Closed)
    );
    pair.drive();
    assert_eq!(single_disconnect(pair.events()).0, DisconnectReason::Closed);
}
