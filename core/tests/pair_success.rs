//! pair-success against the simulated phone (docs/protocol.md §6.1 steps 7–10,
//! §6.2): the valid ones are signed and answered, every broken one is
//! answered with the protocol's error and never becomes a `PairSuccess`.

mod pair_support;

use pair_support::*;
use prost::Message as _;
use wa_core::connection::{DisconnectReason, Event, Reconnect, StreamError};
use wa_core::pair::{ADV_DEVICE_SIGNATURE_PREFIX, PairError, verify_device_identity};
use wa_core::proto::AdvSignedDeviceIdentity;
use wa_core::testing::{PairSuccessVariant, SimulatedPhone, registered_device};
use wa_core::xeddsa;

/// A QR pair whose first code the phone has scanned.
fn scanned(seed: u8) -> (wa_core::testing::Harness, SimulatedPhone) {
    let mut pair = qr_pair(&new_device(seed), seed);
    let mut phone = SimulatedPhone::new(seed);
    phone.scan(first_qr(&pair.take_events()).as_str()).unwrap();
    (pair, phone)
}

#[test]
fn every_variant_is_accepted_or_refused_as_the_protocol_says() {
    for (n, variant) in PairSuccessVariant::ALL.into_iter().enumerate() {
        let (mut pair, mut phone) = scanned(20 + n as u8);
        let id = phone
            .send_pair_success(&mut pair.server, variant)
            .expect("scanned");
        pair.drive();
        let events = pair.take_events();
        let reply = reply_to(&pair, &id).unwrap_or_else(|| panic!("{variant:?}: no reply"));
        match variant.expected_error() {
            None => {
                phone
                    .check_pair_device_sign(&reply, &id)
                    .unwrap_or_else(|e| panic!("{variant:?}: {e}"));
                assert_eq!(pair_successes(&events).len(), 1, "{variant:?}: {events:?}");
                assert_eq!(events.len(), 1, "{variant:?}: {events:?}");
            }
            Some((code, text)) => {
                assert_eq!(reply.attr_str("type"), Some("error"), "{variant:?}");
                let error = reply.child("error").expect("error child");
                assert_eq!(
                    error.attr_str("code"),
                    Some(&code.to_string()[..]),
                    "{variant:?}"
                );
                assert_eq!(error.attr_str("text"), Some(text), "{variant:?}");
                assert!(
                    matches!(&events[..], [Event::PairingFailed { error }] if error.error_reply() == (code, text)),
                    "{variant:?}: {events:?}"
                );
                assert!(pair.client.disconnect_reason().is_none(), "{variant:?}");
            }
        }
    }
}

#[test]
fn a_refused_pair_success_leaves_pairing_open_for_a_valid_one() {
    let (mut pair, mut phone) = scanned(40);
    for variant in [
        PairSuccessVariant::BadHmac,
        PairSuccessVariant::BadAccountSignature,
        PairSuccessVariant::MissingDevice,
    ] {
        phone.send_pair_success(&mut pair.server, variant);
    }
    pair.drive();
    let failures = pair.take_events();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(pair_successes(&failures).is_empty());
    // The QR rotation goes on meanwhile, and a valid pair-success still links.
    let id = phone
        .send_pair_success(&mut pair.server, PairSuccessVariant::Valid)
        .unwrap();
    pair.drive();
    assert_eq!(pair_successes(&pair.take_events()).len(), 1);
    phone
        .check_pair_device_sign(&reply_to(&pair, &id).unwrap(), &id)
        .unwrap();
}

#[test]
fn the_paired_device_carries_jids_account_platform_and_business_name() {
    let device = new_device(41);
    let mut pair = qr_pair(&device, 41);
    let mut phone = SimulatedPhone::new(41);
    phone.set_business_name(Some("Acme Ltd"));
    phone.set_lid_migrated(true);
    phone.scan(first_qr(&pair.take_events()).as_str()).unwrap();
    phone.send_pair_success(&mut pair.server, PairSuccessVariant::Valid);
    pair.drive();
    let paired = pair_successes(&pair.take_events()).pop().expect("paired");

    assert!(paired.is_registered());
    assert_eq!(
        paired.pn.as_ref().map(ToString::to_string).as_deref(),
        Some(&phone.companion_pn().to_string()[..])
    );
    assert_eq!(
        paired.pn.as_ref().map(ToString::to_string).as_deref(),
        Some("15551110041:12@s.whatsapp.net")
    );
    assert_eq!(
        paired.lid.as_ref().map(ToString::to_string).as_deref(),
        Some("876540041:12@lid")
    );
    assert_eq!(paired.platform.as_deref(), Some("android"));
    assert_eq!(paired.business_name.as_deref(), Some("Acme Ltd"));
    assert!(paired.lid_migrated);
    // Keys and secret untouched.
    assert_eq!(paired.noise_key, device.noise_key);
    assert_eq!(paired.identity_key, device.identity_key);
    assert_eq!(paired.signed_pre_key, device.signed_pre_key);
    assert_eq!(paired.registration_id, device.registration_id);
    assert_eq!(paired.adv_secret_key, device.adv_secret_key);

    // The persisted account keeps the account key (the reply strips it) and
    // carries our device signature.
    let account = AdvSignedDeviceIdentity::decode(&paired.account.unwrap()[..]).unwrap();
    assert_eq!(
        account.account_signature_key.as_deref(),
        Some(&phone.account_public()[..])
    );
    let details = account.details.unwrap();
    let signature: [u8; 64] = account.device_signature.unwrap().try_into().unwrap();
    assert_eq!(
        xeddsa::verify_parts(
            &device.identity_key.public,
            &[
                &ADV_DEVICE_SIGNATURE_PREFIX,
                &details,
                &device.identity_key.public,
                &phone.account_public()
            ],
            &signature
        ),
        Ok(())
    );
}

#[test]
fn only_the_first_pair_success_counts_and_then_515_asks_for_a_reconnect() {
    let (mut pair, mut phone) = scanned(42);
    phone.send_pair_success(&mut pair.server, PairSuccessVariant::Valid);
    pair.drive();
    assert_eq!(pair_successes(&pair.take_events()).len(), 1);
    // No more QR codes after linking.
    pair.advance(secs(200));
    assert!(pair.take_events().is_empty());

    let id = phone
        .send_pair_success(&mut pair.server, PairSuccessVariant::Valid)
        .unwrap();
    pair.drive();
    assert!(pair.take_events().is_empty());
    let reply = reply_to(&pair, &id).unwrap();
    assert_eq!(reply.attr_str("type"), Some("error"));
    assert_eq!(reply.child("error").unwrap().attr_str("code"), Some("500"));

    pair.server.send_stream_error(Some("515"), None);
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(
            &events[..],
            [Event::Disconnected {
                reason: DisconnectReason::StreamError(StreamError::RestartRequired),
                reconnect: Reconnect::Now
            }]
        ),
        "{events:?}"
    );
}

#[test]
fn a_pair_success_on_a_login_connection_is_left_to_the_caller() {
    let mut pair = silent_pair(&registered_device(43), None, 43);
    let mut phone = SimulatedPhone::new(43);
    // The phone "scans" a QR of some other device.
    let other = new_device(44);
    let qr = wa_core::pair::QrData::for_device("r", &other, '9').encode(false);
    phone.scan(qr.as_str()).unwrap();
    let id = phone
        .send_pair_success(&mut pair.server, PairSuccessVariant::Valid)
        .unwrap();
    pair.drive();
    assert!(matches!(&pair.take_events()[..], [Event::Stanza(_)]));
    assert!(reply_to(&pair, &id).is_none());
}

#[test]
fn verification_without_a_connection_matches_the_phone() {
    // The pure function, directly: the phone's bytes verify for the scanned
    // device and for no other.
    let device = new_device(45);
    let mut phone = SimulatedPhone::new(45);
    phone
        .scan(
            wa_core::pair::QrData::for_device("r", &device, '9')
                .encode(false)
                .as_str(),
        )
        .unwrap();
    let iq = phone.pair_success_iq(PairSuccessVariant::Valid).unwrap();
    let bytes = iq
        .child("pair-success")
        .and_then(|p| p.child("device-identity"))
        .and_then(|d| d.content_bytes())
        .unwrap()
        .clone();
    let signed = verify_device_identity(&device, &bytes, &[1; 64]).unwrap();
    assert_eq!(signed.key_index, phone.key_index());
    assert_eq!(signed.account_signature_key, phone.account_public());
    // Same inputs, same signature: the RNG is the only source of variation.
    assert_eq!(
        verify_device_identity(&device, &bytes, &[1; 64]).unwrap(),
        signed
    );
    let mut other = new_device(46);
    assert_eq!(
        verify_device_identity(&other, &bytes, &[1; 64]),
        Err(PairError::HmacMismatch)
    );
    // The right secret on the wrong identity: the account signature fails.
    other.adv_secret_key = device.adv_secret_key;
    assert_eq!(
        verify_device_identity(&other, &bytes, &[1; 64]),
        Err(PairError::SignatureMismatch)
    );
    // Every single bit flip of the bytes is refused.
    for i in 0..bytes.len() {
        let mut flipped = bytes.to_vec();
        flipped[i] ^= 0x04;
        assert!(
            verify_device_identity(&device, &flipped, &[1; 64]).is_err(),
            "flip at byte {i} accepted"
        );
    }
}
