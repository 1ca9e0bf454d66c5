//! The generic Noise layer against the standard `Noise_XX_25519_AESGCM_SHA256`
//! vectors in `tests/data/noise_xx.json` → `standard_vectors` (cacophony, and
//! snow's own vector file).
//!
//! An initiator and a responder, both built from [`wa_core::noise::xx`] with the
//! vector's fixed keys and prologue, run the handshake against each other. Every
//! handshake ciphertext each side produces must equal the vector byte for byte,
//! each side must read the other's messages back to the vector payloads, the
//! final handshake hash must match where the vector has one, and the transport
//! messages that follow (alternating directions, counters from 0) must match too.

mod noise_support;

use noise_support::*;
use serde_json::Value;
use wa_core::noise::xx::{Initiator, Message1, Message2, Message3, Responder};
use wa_core::noise::{KeyPair, NoiseError, NoiseTransport};

fn key(v: &Value, field: &str) -> KeyPair {
    KeyPair::from_private_key(hex32(v, field))
}

struct Run {
    messages_checked: usize,
}

fn run_vector(v: &Value) -> Run {
    assert_eq!(v["protocol_name"], "Noise_XX_25519_AESGCM_SHA256");
    let name = v["protocol_name"].as_str().unwrap().as_bytes();
    let messages = v["messages"].as_array().unwrap();
    let payload = |i: usize| hex_field(&messages[i], "payload");
    let ciphertext = |i: usize| hex_field(&messages[i], "ciphertext");

    let initiator = Initiator::new(
        name,
        &hex_field(v, "init_prologue"),
        key(v, "init_static"),
        key(v, "init_ephemeral"),
    );
    let responder = Responder::new(
        name,
        &hex_field(v, "resp_prologue"),
        key(v, "resp_static"),
        key(v, "resp_ephemeral"),
    );

    // Message 1 (initiator): e, then the payload in clear, mixed into h.
    let (initiator, m1) = initiator.write_message_1(&payload(0)).unwrap();
    assert_eq!(m1.to_bytes(), ciphertext(0), "message 0");
    let m1 = Message1::parse(&ciphertext(0)).unwrap();
    let (responder, p) = responder
        .read_message_1(&m1.ephemeral, &m1.payload)
        .unwrap();
    assert_eq!(p, payload(0));
    assert_eq!(initiator.handshake_hash(), responder.handshake_hash());

    // Message 2 (responder): e, ee, s, es, encrypted payload.
    let (responder, m2) = responder.write_message_2(&payload(1)).unwrap();
    assert_eq!(m2.to_bytes(), ciphertext(1), "message 1");
    let m2 = Message2::parse(&ciphertext(1)).unwrap();
    let (initiator, rs, p) = initiator
        .read_message_2(&m2.ephemeral, &m2.encrypted_static, &m2.encrypted_payload)
        .unwrap();
    assert_eq!(p, payload(1));
    assert_eq!(&rs, key(v, "resp_static").public_key());

    // Message 3 (initiator): s (nonce 1 of the es key), se, encrypted payload.
    let (m3, init_out) = initiator.write_message_3(&payload(2)).unwrap();
    assert_eq!(m3.to_bytes(), ciphertext(2), "message 2");
    let m3 = Message3::parse(&ciphertext(2)).unwrap();
    let (resp_out, p) = responder
        .read_message_3(&m3.encrypted_static, &m3.encrypted_payload)
        .unwrap();
    assert_eq!(p, payload(2));
    assert_eq!(&resp_out.remote_static, key(v, "init_static").public_key());
    assert_eq!(init_out.handshake_hash, resp_out.handshake_hash);
    if v.get("handshake_hash").is_some() {
        assert_eq!(
            init_out.handshake_hash,
            hex32(v, "handshake_hash"),
            "handshake hash"
        );
    }

    // Transport: even messages initiator → responder, odd ones back (the vector's
    // convention); each direction's counter starts at 0.
    let mut init_t: NoiseTransport = init_out.transport;
    let mut resp_t: NoiseTransport = resp_out.transport;
    for i in 3..messages.len() {
        let (sender, receiver) = if i % 2 == 0 {
            (&mut init_t, &mut resp_t)
        } else {
            (&mut resp_t, &mut init_t)
        };
        let sealed = sender.encrypt(&payload(i)).unwrap();
        assert_eq!(sealed, ciphertext(i), "message {i}");
        assert_eq!(
            receiver.decrypt(&ciphertext(i)).unwrap(),
            payload(i),
            "message {i}"
        );
    }
    Run {
        messages_checked: messages.len(),
    }
}

#[test]
fn cacophony_xx_25519_aesgcm_sha256() {
    let v = &vectors()["standard_vectors"][0];
    assert!(v["source"].as_str().unwrap().contains("cacophony"));
    assert_eq!(run_vector(v).messages_checked, 6);
}

#[test]
fn snow_xx_25519_aesgcm_sha256() {
    let v = &vectors()["standard_vectors"][1];
    assert!(v["source"].as_str().unwrap().contains("snow"));
    assert_eq!(run_vector(v).messages_checked, 5);
}

#[test]
fn altered_vector_ciphertexts_are_refused() {
    // Flip one bit in the encrypted static of message 2 and in the payload of
    // message 3: the reading side must refuse, not produce other plaintext.
    let v = &vectors()["standard_vectors"][0];
    let name = b"Noise_XX_25519_AESGCM_SHA256";
    let messages = v["messages"].as_array().unwrap();
    let prologue = hex_field(v, "init_prologue");

    let initiator = Initiator::new(
        name,
        &prologue,
        key(v, "init_static"),
        key(v, "init_ephemeral"),
    );
    let (initiator, _) = initiator
        .write_message_1(&hex_field(&messages[0], "payload"))
        .unwrap();
    let mut m2 = hex_field(&messages[1], "ciphertext");
    m2[40] ^= 0x01; // inside the encrypted static
    let m2 = Message2::parse(&m2).unwrap();
    let err = initiator
        .read_message_2(&m2.ephemeral, &m2.encrypted_static, &m2.encrypted_payload)
        .unwrap_err();
    assert_eq!(err, NoiseError::HandshakeDecrypt);

    let responder = Responder::new(
        name,
        &prologue,
        key(v, "resp_static"),
        key(v, "resp_ephemeral"),
    );
    let m1 = Message1::parse(&hex_field(&messages[0], "ciphertext")).unwrap();
    let (responder, _) = responder
        .read_message_1(&m1.ephemeral, &m1.payload)
        .unwrap();
    let (responder, _) = responder
        .write_message_2(&hex_field(&messages[1], "payload"))
        .unwrap();
    let mut m3 = hex_field(&messages[2], "ciphertext");
    let last = m3.len() - 1;
    m3[last] ^= 0x80; // the payload's tag
    let m3 = Message3::parse(&m3).unwrap();
    let err = responder
        .read_message_3(&m3.encrypted_static, &m3.encrypted_payload)
        .unwrap_err();
    assert_eq!(err, NoiseError::HandshakeDecrypt);
}

#[test]
fn short_standard_messages_are_refused() {
    assert!(matches!(
        Message1::parse(&[0; 31]),
        Err(NoiseError::InvalidLength { .. })
    ));
    assert!(matches!(
        Message2::parse(&[0; 95]),
        Err(NoiseError::InvalidLength { .. })
    ));
    assert!(matches!(
        Message3::parse(&[0; 63]),
        Err(NoiseError::InvalidLength { .. })
    ));
    assert!(Message2::parse(&[0; 96]).is_ok());
}
