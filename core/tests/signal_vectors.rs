//! Whole v3 messages from libsignal-protocol-javascript's two-party test vectors,
//! reproduced byte for byte through the public API: Alice's pkmsgs, Bob's
//! replies, and Alice's message after the DH ratchet step. The "random" keys the
//! vectors used are fed in through a scripted RNG, so our encryptions must equal
//! the published bytes exactly, and our decryptions must give the published
//! plaintexts.

use std::collections::VecDeque;
use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use wa_core::signal::*;

/// An "RNG" that hands out the given bytes, then zeros.
struct Scripted(VecDeque<u8>);

impl Scripted {
    fn new(keys: &[[u8; 32]]) -> Self {
        Scripted(keys.iter().flatten().copied().collect())
    }
}

impl TryRng for Scripted {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.0.pop_front().unwrap_or(0);
        }
        Ok(())
    }
}

impl TryCryptoRng for Scripted {}

fn vectors() -> serde_json::Value {
    let text = include_str!("data/signal_vectors.json");
    serde_json::from_str::<serde_json::Value>(text).expect("json")["two_party"].clone()
}

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn private32(v: &serde_json::Value) -> [u8; 32] {
    bytes(&v["private_32"]).try_into().expect("32 bytes")
}

fn public(v: &serde_json::Value) -> PublicKey {
    PublicKey::deserialize(&bytes(&v["public_33"])).expect("key")
}

fn message(v: &serde_json::Value, name: &str) -> (Vec<u8>, Vec<u8>) {
    let m = v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["name"] == name)
        .expect("message");
    (bytes(&m["raw"]), bytes(&m["plaintext"]))
}

#[test]
fn two_party_vectors_byte_for_byte() {
    let v = vectors();
    let alice_identity =
        IdentityKeyPair::from_private_key(PrivateKey::from_bytes(private32(&v["alice_identity"])));
    assert_eq!(*alice_identity.public_key(), public(&v["alice_identity"]));
    let bob_identity =
        IdentityKeyPair::from_private_key(PrivateKey::from_bytes(private32(&v["bob_identity"])));
    let signed_id = v["bob_signed_prekey_id"].as_u64().expect("id") as u32;
    let one_time_id = v["bob_one_time_prekey_id"].as_u64().expect("id") as u32;
    let signature: [u8; 64] = bytes(&v["bob_signed_prekey_signature"])
        .try_into()
        .expect("64 bytes");
    let bob_signed = SignedPreKeyRecord::from_parts(
        signed_id,
        public(&v["bob_signed_prekey"]),
        PrivateKey::from_bytes(private32(&v["bob_signed_prekey"])),
        signature,
        0,
    );
    let bob_one_time = PreKeyRecord::from_parts(
        one_time_id,
        public(&v["bob_one_time_prekey"]),
        PrivateKey::from_bytes(private32(&v["bob_one_time_prekey"])),
    );
    let bundle = PreKeyBundle {
        registration_id: v["bob_registration_id"].as_u64().expect("id") as u32,
        device_id: 1,
        pre_key: Some((one_time_id, *bob_one_time.public_key())),
        signed_pre_key_id: signed_id,
        signed_pre_key: *bob_signed.public_key(),
        signed_pre_key_signature: signature,
        identity_key: *bob_identity.public_key(),
    };
    let alice_registration = v["alice_registration_id"].as_u64().expect("id") as u32;

    // Alice: the base key, then her first sending ratchet key, then (on Bob's
    // reply) her second one.
    let mut alice_rng = Scripted::new(&[
        private32(&v["alice_base"]),
        private32(&v["alice_ratchet_1"]),
        private32(&v["alice_ratchet_2"]),
    ]);
    let mut alice = SessionRecord::new();
    let change = process_prekey_bundle(
        &mut alice,
        &alice_identity,
        alice_registration,
        &bundle,
        None,
        IdentityPolicy::AcceptChanged,
        &mut alice_rng,
    )
    .expect("the published bundle verifies");
    assert_eq!(change, IdentityChange::New);

    let (raw_a, plain_a) = message(&v, "A");
    let (raw_b, plain_b) = message(&v, "B");
    let sent_a = encrypt(&mut alice, &plain_a).expect("encrypt A");
    assert_eq!(
        sent_a,
        CiphertextMessage::PreKey(raw_a.clone()),
        "A differs"
    );
    let sent_b = encrypt(&mut alice, &plain_b).expect("encrypt B");
    assert_eq!(
        sent_b,
        CiphertextMessage::PreKey(raw_b.clone()),
        "B differs"
    );

    // Bob: his sending ratchet key for the replies.
    let mut bob_rng = Scripted::new(&[private32(&v["bob_ratchet_1"]), [0x40; 32]]);
    let mut bob = SessionRecord::new();
    let pkmsg_a = PreKeySignalMessage::deserialize(&raw_a).expect("parse A");
    assert_eq!(pkmsg_a.pre_key_id(), Some(one_time_id));
    assert_eq!(pkmsg_a.signed_pre_key_id(), signed_id);
    assert_eq!(pkmsg_a.registration_id(), alice_registration);
    let got = decrypt_prekey_message(
        &mut bob,
        &bob_identity,
        bundle.registration_id,
        &pkmsg_a,
        Some(&bob_signed),
        Some(&bob_one_time),
        None,
        IdentityPolicy::AcceptChanged,
        &mut bob_rng,
    )
    .expect("decrypt A");
    assert_eq!(got.plaintext, plain_a);
    assert_eq!(got.used_pre_key_id, Some(one_time_id));
    // B continues the same session: no prekeys needed any more.
    let pkmsg_b = PreKeySignalMessage::deserialize(&raw_b).expect("parse B");
    assert!(bob.has_session_with_base_key(pkmsg_b.base_key()));
    let got = decrypt_prekey_message(
        &mut bob,
        &bob_identity,
        bundle.registration_id,
        &pkmsg_b,
        None,
        None,
        Some(alice_identity.public_key()),
        IdentityPolicy::RefuseChanged,
        &mut bob_rng,
    )
    .expect("decrypt B");
    assert_eq!(got.plaintext, plain_b);
    assert_eq!(got.used_pre_key_id, None);
    assert_eq!(got.identity, IdentityChange::Unchanged);

    let (raw_c, plain_c) = message(&v, "C");
    let (raw_d, plain_d) = message(&v, "D");
    assert_eq!(
        encrypt(&mut bob, &plain_c).expect("C"),
        CiphertextMessage::Signal(raw_c.clone())
    );
    assert_eq!(
        encrypt(&mut bob, &plain_d).expect("D"),
        CiphertextMessage::Signal(raw_d.clone())
    );

    // Alice reads them (out of order) and ratchets; her next message is E.
    assert_eq!(
        decrypt(&mut alice, &raw_d, &mut alice_rng).expect("D"),
        plain_d
    );
    assert_eq!(
        decrypt(&mut alice, &raw_c, &mut alice_rng).expect("C"),
        plain_c
    );
    assert!(!alice.has_unacknowledged_prekey_message());
    let (raw_e, plain_e) = message(&v, "E");
    assert_eq!(
        encrypt(&mut alice, &plain_e).expect("E"),
        CiphertextMessage::Signal(raw_e.clone())
    );
    assert_eq!(
        decrypt(&mut bob, &raw_e, &mut bob_rng).expect("E at Bob"),
        plain_e
    );
}
