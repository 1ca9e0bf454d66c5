//! Behaviour of `wa_core::signal` between two or more parties: sessions in both
//! roles, out-of-order delivery, duplicates, limits, identities, archived
//! states, sender keys, and the promise that a failed operation leaves the
//! record's bytes as they were.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_core::signal::*;

struct Party {
    identity: IdentityKeyPair,
    registration_id: u32,
    signed: SignedPreKeyRecord,
    prekeys: Vec<PreKeyRecord>,
}

impl Party {
    fn new(rng: &mut ChaCha20Rng, registration_id: u32) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let signed = SignedPreKeyRecord::generate(1, &identity, 1_700_000_000_000, rng);
        let prekeys = (1..=5).map(|id| PreKeyRecord::generate(id, rng)).collect();
        Party {
            identity,
            registration_id,
            signed,
            prekeys,
        }
    }

    fn bundle(&self, pre_key: Option<usize>) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            device_id: 0,
            pre_key: pre_key.map(|i| (self.prekeys[i].id(), *self.prekeys[i].public_key())),
            signed_pre_key_id: self.signed.id(),
            signed_pre_key: *self.signed.public_key(),
            signed_pre_key_signature: *self.signed.signature(),
            identity_key: *self.identity.public_key(),
        }
    }

    /// Receives a pkmsg with this party's keys.
    fn receive_pkmsg(
        &self,
        record: &mut SessionRecord,
        bytes: &[u8],
        rng: &mut ChaCha20Rng,
    ) -> Result<PreKeyDecryption, SignalError> {
        let msg = PreKeySignalMessage::deserialize(bytes)?;
        let pre_key = msg
            .pre_key_id()
            .and_then(|id| self.prekeys.iter().find(|k| k.id() == id));
        decrypt_prekey_message(
            record,
            &self.identity,
            self.registration_id,
            &msg,
            Some(&self.signed),
            pre_key,
            None,
            IdentityPolicy::AcceptChanged,
            rng,
        )
    }
}

fn receive(
    party: &Party,
    record: &mut SessionRecord,
    msg: &CiphertextMessage,
    rng: &mut ChaCha20Rng,
) -> Result<Vec<u8>, SignalError> {
    match msg {
        CiphertextMessage::PreKey(b) => party.receive_pkmsg(record, b, rng).map(|d| d.plaintext),
        CiphertextMessage::Signal(b) => decrypt(record, b, rng),
    }
}

/// Alice and Bob with a session Alice started and Bob answered once.
fn established(rng: &mut ChaCha20Rng) -> (Party, SessionRecord, Party, SessionRecord) {
    let alice = Party::new(rng, 1111);
    let bob = Party::new(rng, 2222);
    let mut a = SessionRecord::new();
    process_prekey_bundle(
        &mut a,
        &alice.identity,
        alice.registration_id,
        &bob.bundle(Some(0)),
        None,
        IdentityPolicy::AcceptChanged,
        rng,
    )
    .expect("bundle");
    let first = encrypt(&mut a, b"hello").expect("encrypt");
    assert_eq!(first.enc_type(), "pkmsg");
    let mut b = SessionRecord::new();
    assert_eq!(receive(&bob, &mut b, &first, rng).expect("pkmsg"), b"hello");
    let reply = encrypt(&mut b, b"hi").expect("reply");
    assert_eq!(reply.enc_type(), "msg");
    assert_eq!(receive(&alice, &mut a, &reply, rng).expect("reply"), b"hi");
    (alice, a, bob, b)
}

/// Runs `op` and, when it fails, checks that the record's bytes did not change.
fn unchanged_on_error<T>(
    record: &mut SessionRecord,
    op: impl FnOnce(&mut SessionRecord) -> Result<T, SignalError>,
) -> Result<T, SignalError> {
    let before = record.serialize();
    let result = op(record);
    if result.is_err() {
        assert_eq!(
            record.serialize(),
            before,
            "a failed operation changed the record"
        );
    }
    result
}

#[test]
fn conversation_both_ways_with_records_saved_every_step() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (alice, a, bob, b) = established(&mut rng);
    let mut a_bytes = a.serialize();
    let mut b_bytes = b.serialize();
    for round in 0..20u32 {
        // A few messages each way, records reloaded from bytes around every call.
        for i in 0..(round % 3 + 1) {
            let text = format!("a{round}.{i}");
            let mut a = SessionRecord::deserialize(&a_bytes).expect("a");
            let msg = encrypt(&mut a, text.as_bytes()).expect("encrypt");
            assert_eq!(msg.enc_type(), "msg");
            a_bytes = a.serialize();
            let mut b = SessionRecord::deserialize(&b_bytes).expect("b");
            assert_eq!(
                receive(&bob, &mut b, &msg, &mut rng).expect("decrypt"),
                text.as_bytes()
            );
            b_bytes = b.serialize();
        }
        let text = format!("b{round}");
        let mut b = SessionRecord::deserialize(&b_bytes).expect("b");
        let msg = encrypt(&mut b, text.as_bytes()).expect("encrypt");
        b_bytes = b.serialize();
        let mut a = SessionRecord::deserialize(&a_bytes).expect("a");
        assert_eq!(
            receive(&alice, &mut a, &msg, &mut rng).expect("decrypt"),
            text.as_bytes()
        );
        a_bytes = a.serialize();
    }
}

#[test]
fn out_of_order_within_and_across_chains() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (_alice, mut a, bob, mut b) = established(&mut rng);
    let first: Vec<_> = (0..5)
        .map(|i| encrypt(&mut a, &[i]).expect("encrypt"))
        .collect();
    // Bob replies, Alice ratchets on the reply, and sends a second chain.
    assert_eq!(receive(&bob, &mut b, &first[4], &mut rng).expect("4"), [4]);
    let reply = encrypt(&mut b, b"r").expect("reply");
    decrypt(&mut a, reply.serialized(), &mut rng).expect("reply");
    let second: Vec<_> = (10..13)
        .map(|i| encrypt(&mut a, &[i]).expect("encrypt"))
        .collect();
    // The second chain arrives first, then the stragglers of the first chain.
    for (msg, want) in second.iter().zip(10..13).rev() {
        assert_eq!(
            receive(&bob, &mut b, msg, &mut rng).expect("second chain"),
            [want]
        );
    }
    for (i, msg) in first.iter().enumerate().take(4).rev() {
        assert_eq!(
            receive(&bob, &mut b, msg, &mut rng).expect("first chain"),
            [i as u8]
        );
    }
}

#[test]
fn duplicates_are_refused_with_their_counter_and_change_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (_alice, mut a, bob, mut b) = established(&mut rng);
    let m0 = encrypt(&mut a, b"zero").expect("0");
    let m1 = encrypt(&mut a, b"one").expect("1");
    receive(&bob, &mut b, &m1, &mut rng).expect("1");
    receive(&bob, &mut b, &m0, &mut rng).expect("0 (stored key)");
    for msg in [&m0, &m1] {
        let err = unchanged_on_error(&mut b, |b| receive(&bob, b, msg, &mut rng)).unwrap_err();
        assert!(
            matches!(err, SignalError::DuplicateMessage { chain_index: 2, .. }),
            "{err:?}"
        );
    }
    let err = unchanged_on_error(&mut b, |b| receive(&bob, b, &m1, &mut rng)).unwrap_err();
    assert_eq!(
        err,
        SignalError::DuplicateMessage {
            chain_index: 2,
            counter: 1
        }
    );
}

#[test]
fn a_jump_past_the_limit_is_refused_and_one_at_the_limit_accepted() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let (_alice, mut a, bob, mut b) = established(&mut rng);
    // Bob's receiving chain for Alice's current ratchet key is at 1 (he read
    // "hello"). Counter 1 + MAX_FORWARD_JUMPS is the furthest he accepts.
    let msgs: Vec<_> = (0..=MAX_FORWARD_JUMPS + 1)
        .map(|i| encrypt(&mut a, &i.to_le_bytes()).expect("encrypt"))
        .collect();
    let too_far = &msgs[(MAX_FORWARD_JUMPS + 1) as usize]; // counter 2 + MAX
    let err = unchanged_on_error(&mut b, |b| receive(&bob, b, too_far, &mut rng)).unwrap_err();
    assert!(matches!(err, SignalError::TooFarAhead { .. }), "{err:?}");
    let at_limit = &msgs[MAX_FORWARD_JUMPS as usize]; // counter 1 + MAX
    assert_eq!(
        receive(&bob, &mut b, at_limit, &mut rng).expect("at the limit"),
        MAX_FORWARD_JUMPS.to_le_bytes()
    );
    // Every skipped key was kept: the earliest one still decrypts.
    assert_eq!(
        receive(&bob, &mut b, &msgs[0], &mut rng).expect("first"),
        0u32.to_le_bytes()
    );
}

#[test]
fn altered_messages_fail_with_typed_errors_and_change_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (_alice, mut a, _bob, mut b) = established(&mut rng);
    let msg = encrypt(&mut a, b"payload").expect("encrypt");
    let bytes = msg.serialized().to_vec();
    let last = bytes.len() - 1;
    let mut mac = bytes.clone();
    mac[last] ^= 1;
    assert_eq!(
        unchanged_on_error(&mut b, |b| decrypt(b, &mac, &mut rng)),
        Err(SignalError::BadMac)
    );
    let mut version = bytes.clone();
    version[0] = 0x23;
    assert_eq!(
        unchanged_on_error(&mut b, |b| decrypt(b, &version, &mut rng)),
        Err(SignalError::UnsupportedVersion(2))
    );
    version[0] = 0x43;
    assert_eq!(
        unchanged_on_error(&mut b, |b| decrypt(b, &version, &mut rng)),
        Err(SignalError::UnsupportedVersion(4))
    );
    // Every single-bit flip anywhere: an error (never a panic), nothing changed.
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1 << bit;
            let result = unchanged_on_error(&mut b, |b| decrypt(b, &flipped, &mut rng));
            assert!(result.is_err(), "flip at {i}.{bit} decrypted");
        }
    }
    assert_eq!(
        decrypt(&mut b, &bytes, &mut rng).expect("the original"),
        b"payload"
    );
}

#[test]
fn bundles_with_bad_signatures_or_changed_identities() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let alice = Party::new(&mut rng, 1);
    let bob = Party::new(&mut rng, 2);
    let mut record = SessionRecord::new();
    let mut bad = bob.bundle(Some(0));
    bad.signed_pre_key_signature[5] ^= 1;
    let r = process_prekey_bundle(
        &mut record,
        &alice.identity,
        1,
        &bad,
        None,
        IdentityPolicy::AcceptChanged,
        &mut rng,
    );
    assert_eq!(r, Err(SignalError::BadSignature));
    assert_eq!(record.serialize(), SessionRecord::new().serialize());

    let old_identity = *Party::new(&mut rng, 3).identity.public_key();
    let refused = process_prekey_bundle(
        &mut record,
        &alice.identity,
        1,
        &bob.bundle(None),
        Some(&old_identity),
        IdentityPolicy::RefuseChanged,
        &mut rng,
    );
    assert_eq!(refused, Err(SignalError::UntrustedIdentity));
    assert!(!record.has_current_session());
    let accepted = process_prekey_bundle(
        &mut record,
        &alice.identity,
        1,
        &bob.bundle(None),
        Some(&old_identity),
        IdentityPolicy::AcceptChanged,
        &mut rng,
    );
    assert_eq!(
        accepted,
        Ok(IdentityChange::Changed {
            previous: old_identity
        })
    );
    assert_eq!(record.remote_identity(), Some(*bob.identity.public_key()));

    // Without a one-time prekey the session works as well.
    let msg = encrypt(&mut record, b"no one-time key").expect("encrypt");
    let mut b = SessionRecord::new();
    let got = bob
        .receive_pkmsg(&mut b, msg.serialized(), &mut rng)
        .expect("pkmsg");
    assert_eq!(got.used_pre_key_id, None);
    assert_eq!(got.plaintext, b"no one-time key");
}

#[test]
fn pkmsg_with_missing_prekeys_or_refused_identity_changes_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let alice = Party::new(&mut rng, 1);
    let bob = Party::new(&mut rng, 2);
    let mut a = SessionRecord::new();
    process_prekey_bundle(
        &mut a,
        &alice.identity,
        1,
        &bob.bundle(Some(2)),
        None,
        IdentityPolicy::AcceptChanged,
        &mut rng,
    )
    .expect("bundle");
    let pkmsg = encrypt(&mut a, b"x").expect("encrypt");
    let msg = PreKeySignalMessage::deserialize(pkmsg.serialized()).expect("parse");
    let mut b = SessionRecord::new();
    let missing_one_time = unchanged_on_error(&mut b, |b| {
        decrypt_prekey_message(
            b,
            &bob.identity,
            2,
            &msg,
            Some(&bob.signed),
            Some(&bob.prekeys[0]),
            None,
            IdentityPolicy::AcceptChanged,
            &mut rng,
        )
    });
    assert_eq!(
        missing_one_time,
        Err(SignalError::UnknownPreKeyId(bob.prekeys[2].id()))
    );
    let other_signed = SignedPreKeyRecord::generate(9, &bob.identity, 0, &mut rng);
    let missing_signed = unchanged_on_error(&mut b, |b| {
        decrypt_prekey_message(
            b,
            &bob.identity,
            2,
            &msg,
            Some(&other_signed),
            Some(&bob.prekeys[2]),
            None,
            IdentityPolicy::AcceptChanged,
            &mut rng,
        )
    });
    assert_eq!(missing_signed, Err(SignalError::UnknownSignedPreKeyId(1)));
    let stranger = *Party::new(&mut rng, 4).identity.public_key();
    let refused = unchanged_on_error(&mut b, |b| {
        decrypt_prekey_message(
            b,
            &bob.identity,
            2,
            &msg,
            Some(&bob.signed),
            Some(&bob.prekeys[2]),
            Some(&stranger),
            IdentityPolicy::RefuseChanged,
            &mut rng,
        )
    });
    assert_eq!(refused, Err(SignalError::UntrustedIdentity));
    assert!(!b.has_current_session());
    let ok = bob
        .receive_pkmsg(&mut b, pkmsg.serialized(), &mut rng)
        .expect("pkmsg");
    assert_eq!(ok.used_pre_key_id, Some(bob.prekeys[2].id()));
    // The same pkmsg again is a duplicate of the session it created.
    let again = unchanged_on_error(&mut b, |b| {
        bob.receive_pkmsg(b, pkmsg.serialized(), &mut rng)
    });
    assert!(
        matches!(again, Err(SignalError::DuplicateMessage { .. })),
        "{again:?}"
    );
}

#[test]
fn archived_states_still_decrypt_and_are_promoted() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let (alice, mut a, bob, mut b) = established(&mut rng);
    // Bob sends in the old session; meanwhile Alice starts a new one.
    let old = encrypt(&mut b, b"old session").expect("old");
    process_prekey_bundle(
        &mut a,
        &alice.identity,
        alice.registration_id,
        &bob.bundle(Some(1)),
        None,
        IdentityPolicy::AcceptChanged,
        &mut rng,
    )
    .expect("new bundle");
    assert_eq!(a.state_count(), 2);
    let new = encrypt(&mut a, b"new session").expect("new");
    assert_eq!(new.enc_type(), "pkmsg");
    // Alice reads the old session's message from the archive.
    assert_eq!(
        receive(&alice, &mut a, &old, &mut rng).expect("old"),
        b"old session"
    );
    // Bob takes the new session, and both continue in it.
    assert_eq!(
        receive(&bob, &mut b, &new, &mut rng).expect("new"),
        b"new session"
    );
    let reply = encrypt(&mut b, b"in the new one").expect("reply");
    assert_eq!(
        receive(&alice, &mut a, &reply, &mut rng).expect("reply"),
        b"in the new one"
    );
    let next = encrypt(&mut a, b"settled").expect("next");
    assert_eq!(next.enc_type(), "msg");
    assert_eq!(
        receive(&bob, &mut b, &next, &mut rng).expect("next"),
        b"settled"
    );
}

#[test]
fn simultaneous_initiation_converges() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let alice = Party::new(&mut rng, 1);
    let bob = Party::new(&mut rng, 2);
    let (mut a, mut b) = (SessionRecord::new(), SessionRecord::new());
    process_prekey_bundle(
        &mut a,
        &alice.identity,
        1,
        &bob.bundle(Some(0)),
        None,
        IdentityPolicy::AcceptChanged,
        &mut rng,
    )
    .expect("a");
    process_prekey_bundle(
        &mut b,
        &bob.identity,
        2,
        &alice.bundle(Some(0)),
        None,
        IdentityPolicy::AcceptChanged,
        &mut rng,
    )
    .expect("b");
    let from_a = encrypt(&mut a, b"from a").expect("a");
    let from_b = encrypt(&mut b, b"from b").expect("b");
    assert_eq!(
        receive(&bob, &mut b, &from_a, &mut rng).expect("at b"),
        b"from a"
    );
    assert_eq!(
        receive(&alice, &mut a, &from_b, &mut rng).expect("at a"),
        b"from b"
    );
    // Each now uses the other's session; messages keep flowing both ways.
    for i in 0..4u8 {
        let m = encrypt(&mut a, &[i]).expect("a");
        assert_eq!(receive(&bob, &mut b, &m, &mut rng).expect("b"), [i]);
        let m = encrypt(&mut b, &[i + 100]).expect("b");
        assert_eq!(receive(&alice, &mut a, &m, &mut rng).expect("a"), [i + 100]);
    }
}

#[test]
fn no_session_errors() {
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let mut empty = SessionRecord::new();
    assert_eq!(encrypt(&mut empty, b"x"), Err(SignalError::NoSession));
    let (_alice, mut a, _bob, _b) = established(&mut rng);
    let msg = encrypt(&mut a, b"x").expect("x");
    assert_eq!(
        decrypt(&mut empty, msg.serialized(), &mut rng),
        Err(SignalError::NoSession)
    );
}

#[test]
fn records_round_trip_and_hide_secrets() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (alice, a, _bob, _b) = established(&mut rng);
    let bytes = a.serialize();
    assert_eq!(
        SessionRecord::deserialize(&bytes)
            .expect("session")
            .serialize(),
        bytes
    );
    let id = IdentityKeyPair::deserialize(&alice.identity.serialize()).expect("identity");
    assert_eq!(id.public_key(), alice.identity.public_key());
    assert_eq!(
        id.private_key().bytes(),
        alice.identity.private_key().bytes()
    );
    let pk = PreKeyRecord::deserialize(&alice.prekeys[0].serialize()).expect("prekey");
    assert_eq!(pk.serialize(), alice.prekeys[0].serialize());
    let spk = SignedPreKeyRecord::deserialize(&alice.signed.serialize()).expect("signed");
    assert_eq!(spk.serialize(), alice.signed.serialize());
    assert_eq!(spk.timestamp(), 1_700_000_000_000);

    let secret = hex::encode(alice.identity.private_key().bytes());
    for text in [
        format!("{:?}", alice.identity),
        format!("{:?}", alice.prekeys[0]),
        format!("{:?}", alice.signed),
        format!("{:?}", a),
        format!("{:?}", alice.identity.private_key()),
    ] {
        assert!(!text.contains(&secret), "secret printed: {text}");
        assert!(!text.contains(&secret[..16]), "secret printed: {text}");
    }
}

#[test]
fn records_that_are_damaged_are_errors_or_usable_never_panics() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let (_alice, mut a, _bob, _b) = established(&mut rng);
    let msg = encrypt(&mut a, b"after").expect("x");
    let bytes = a.serialize();
    for len in 0..bytes.len() {
        if let Ok(mut r) = SessionRecord::deserialize(&bytes[..len]) {
            let _ = encrypt(&mut r, b"x");
            let _ = decrypt(&mut r, msg.serialized(), &mut rng);
        }
    }
    for i in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x41;
        if let Ok(mut r) = SessionRecord::deserialize(&damaged) {
            let _ = encrypt(&mut r, b"x");
            let _ = unchanged_on_error(&mut r, |r| decrypt(r, msg.serialized(), &mut rng));
        }
    }
    assert!(SessionRecord::deserialize(&[0xFF, 0xFF, 0xFF]).is_err());
    assert!(PreKeyRecord::deserialize(&[0x12, 0x03, 1, 2, 3]).is_err());
    assert!(SignedPreKeyRecord::deserialize(b"").is_err());
    assert!(IdentityKeyPair::deserialize(&[0x0A, 0x01, 0x05]).is_err());
}

// ---- sender keys ----

fn group_pair(rng: &mut ChaCha20Rng) -> (SenderKeyRecord, SenderKeyRecord) {
    let mut own = SenderKeyRecord::new();
    let dist = create_sender_key_distribution(&mut own, rng).expect("create");
    let bytes = dist.serialized().to_vec();
    let mut theirs = SenderKeyRecord::new();
    let parsed = SenderKeyDistributionMessage::deserialize(&bytes).expect("parse");
    assert_eq!(parsed.chain_id(), own.chain_id().expect("id"));
    assert_eq!(parsed.iteration(), 0);
    process_sender_key_distribution(&mut theirs, &parsed);
    (own, theirs)
}

fn unchanged_group<T>(
    record: &mut SenderKeyRecord,
    op: impl FnOnce(&mut SenderKeyRecord) -> Result<T, SignalError>,
) -> Result<T, SignalError> {
    let before = record.serialize();
    let result = op(record);
    if result.is_err() {
        assert_eq!(
            record.serialize(),
            before,
            "a failed group operation changed the record"
        );
    }
    result
}

#[test]
fn group_messages_in_order_out_of_order_and_duplicated() {
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let (mut own, mut theirs) = group_pair(&mut rng);
    let msgs: Vec<_> = (0..10u8)
        .map(|i| group_encrypt(&mut own, &[i; 40], &mut rng).expect("encrypt"))
        .collect();
    for i in [3usize, 0, 9, 1, 2, 8, 4, 5, 7, 6] {
        let got = group_decrypt(&mut theirs, msgs[i].serialized()).expect("decrypt");
        assert_eq!(got, [i as u8; 40]);
    }
    let dup = unchanged_group(&mut theirs, |r| group_decrypt(r, msgs[4].serialized()));
    assert_eq!(
        dup,
        Err(SignalError::DuplicateMessage {
            chain_index: 10,
            counter: 4
        })
    );
    // Records survive a round trip through bytes on both sides.
    let mut own = SenderKeyRecord::deserialize(&own.serialize()).expect("own");
    let mut theirs = SenderKeyRecord::deserialize(&theirs.serialize()).expect("theirs");
    let m = group_encrypt(&mut own, b"later", &mut rng).expect("later");
    assert_eq!(
        group_decrypt(&mut theirs, m.serialized()).expect("later"),
        b"later"
    );
}

#[test]
fn group_failures_change_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let (mut own, mut theirs) = group_pair(&mut rng);
    let msg = group_encrypt(&mut own, b"signed", &mut rng).expect("encrypt");
    let bytes = msg.serialized().to_vec();
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x10;
        assert!(
            unchanged_group(&mut theirs, |r| group_decrypt(r, &flipped)).is_err(),
            "flip {i}"
        );
    }
    let mut sig = bytes.clone();
    let last = sig.len() - 2;
    sig[last] ^= 1;
    assert_eq!(
        unchanged_group(&mut theirs, |r| group_decrypt(r, &sig)),
        Err(SignalError::BadSignature)
    );
    // Too far ahead.
    let mut far = own.clone();
    let mut last_msg = None;
    for _ in 0..=MAX_FORWARD_JUMPS + 1 {
        last_msg = Some(group_encrypt(&mut far, b"f", &mut rng).expect("encrypt"));
    }
    let far_msg = last_msg.expect("message");
    let err = unchanged_group(&mut theirs, |r| group_decrypt(r, far_msg.serialized())).unwrap_err();
    assert!(matches!(err, SignalError::TooFarAhead { .. }), "{err:?}");
    // A stranger's chain.
    let (mut stranger, _) = group_pair(&mut rng);
    let foreign = group_encrypt(&mut stranger, b"?", &mut rng).expect("encrypt");
    let err = unchanged_group(&mut theirs, |r| group_decrypt(r, foreign.serialized())).unwrap_err();
    assert!(matches!(err, SignalError::NoSenderKey { .. }), "{err:?}");
    assert_eq!(
        group_decrypt(&mut theirs, &bytes).expect("original"),
        b"signed"
    );
    // Without a state there is nothing to encrypt with.
    assert_eq!(
        group_encrypt(&mut SenderKeyRecord::new(), b"x", &mut rng).map(|_| ()),
        Err(SignalError::NoSession)
    );
    // A receiver's record cannot encrypt (no private signing key).
    assert!(group_encrypt(&mut theirs, b"x", &mut rng).is_err());
}

#[test]
fn a_late_distribution_starts_at_its_iteration_and_a_repeat_keeps_progress() {
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let (mut own, mut early) = group_pair(&mut rng);
    let m0 = group_encrypt(&mut own, b"0", &mut rng).expect("0");
    let m1 = group_encrypt(&mut own, b"1", &mut rng).expect("1");
    // A member who joins now gets the key at iteration 2.
    let dist = create_sender_key_distribution(&mut own, &mut rng).expect("dist");
    assert_eq!(dist.iteration(), 2);
    let mut late = SenderKeyRecord::new();
    process_sender_key_distribution(&mut late, &dist);
    let m2 = group_encrypt(&mut own, b"2", &mut rng).expect("2");
    assert!(matches!(
        group_decrypt(&mut late, m1.serialized()),
        Err(SignalError::DuplicateMessage { .. })
    ));
    assert_eq!(group_decrypt(&mut late, m2.serialized()).expect("2"), b"2");
    // The early member reads everything; the repeated distribution does not
    // rewind its chain.
    assert_eq!(group_decrypt(&mut early, m0.serialized()).expect("0"), b"0");
    assert_eq!(group_decrypt(&mut early, m2.serialized()).expect("2"), b"2");
    process_sender_key_distribution(&mut early, &dist);
    assert!(matches!(
        group_decrypt(&mut early, m2.serialized()),
        Err(SignalError::DuplicateMessage { .. })
    ));
    assert_eq!(group_decrypt(&mut early, m1.serialized()).expect("1"), b"1");
}

#[test]
fn prekey_records_with_raw_32_byte_public_keys_are_read() {
    use prost::Message as _;
    let mut rng = ChaCha20Rng::seed_from_u64(30);
    let key = PreKeyRecord::generate(12, &mut rng);
    let raw = wa_core::signal::proto::PreKeyRecordStructure {
        id: Some(12),
        public_key: key.public_key().raw().to_vec(),
        private_key: key.private_key().bytes().to_vec(),
    }
    .encode_to_vec();
    let read = PreKeyRecord::deserialize(&raw).expect("32-byte public key");
    assert_eq!(read.public_key(), key.public_key());
    // Written back in the 33-byte form.
    assert_eq!(read.serialize(), key.serialize());
}

#[test]
fn zero_indexes_and_ids_are_written() {
    use prost::Message as _;
    use wa_core::signal::proto::{PreKeyRecordStructure, RecordStructure};
    let mut rng = ChaCha20Rng::seed_from_u64(31);
    // A fresh initiator record: its sending chain key is at index 0, which
    // other implementations require to be present.
    let alice = Party::new(&mut rng, 1);
    let bob = Party::new(&mut rng, 2);
    let mut record = SessionRecord::new();
    process_prekey_bundle(
        &mut record,
        &alice.identity,
        1,
        &bob.bundle(None),
        None,
        IdentityPolicy::AcceptChanged,
        &mut rng,
    )
    .expect("bundle");
    let parsed = RecordStructure::decode(&record.serialize()[..]).expect("decode");
    let state = parsed.current_session.expect("current");
    let chain_key = state
        .sender_chain
        .and_then(|c| c.chain_key)
        .expect("chain key");
    assert_eq!(chain_key.index, Some(0));
    assert_eq!(state.previous_counter, Some(0));
    let zero = PreKeyRecord::generate(0, &mut rng);
    let parsed = PreKeyRecordStructure::decode(&zero.serialize()[..]).expect("decode");
    assert_eq!(parsed.id, Some(0));
}

#[test]
fn over_limit_records_are_trimmed_by_counter_not_refused() {
    use prost::Message as _;
    use wa_core::signal::proto::RecordStructure;
    let mut rng = ChaCha20Rng::seed_from_u64(32);
    let (_alice, mut a, bob, mut b) = established(&mut rng);
    // Bob skips 1,500 keys, then we store them oldest first (as some
    // implementations do) and add 600 more by hand: 2,100 in all.
    let msgs: Vec<_> = (0..1600u32)
        .map(|i| encrypt(&mut a, &i.to_le_bytes()).expect("encrypt"))
        .collect();
    receive(&bob, &mut b, &msgs[1500], &mut rng).expect("1500");
    let mut parsed = RecordStructure::decode(&b.serialize()[..]).expect("decode");
    let chain = parsed
        .current_session
        .as_mut()
        .and_then(|s| {
            s.receiver_chains
                .iter_mut()
                .find(|c| c.message_keys.len() == 1500)
        })
        .expect("the chain with skipped keys");
    chain.message_keys.sort_by_key(|k| k.index());
    let template = chain.message_keys[0].clone();
    for i in 0..600u32 {
        let mut fake = template.clone();
        fake.index = Some(100_000 + i);
        chain.message_keys.push(fake);
    }
    let mut trimmed =
        SessionRecord::deserialize(&parsed.encode_to_vec()).expect("trimmed, not refused");
    // The 100 lowest counters (1..=100; 0 was read) went; 101 and later stayed.
    assert!(matches!(
        receive(&bob, &mut trimmed, &msgs[50], &mut rng),
        Err(SignalError::DuplicateMessage { .. })
    ));
    assert_eq!(
        receive(&bob, &mut trimmed, &msgs[1499], &mut rng).expect("1499"),
        1499u32.to_le_bytes()
    );
    assert_eq!(
        receive(&bob, &mut trimmed, &msgs[150], &mut rng).expect("150"),
        150u32.to_le_bytes()
    );
}

/// Every truncation and every single-bit flip of each wire message and record
/// kind: a typed error or a value, never a panic; and a failed decrypt leaves
/// the record's bytes unchanged.
#[test]
fn malformed_input_sweep_over_every_message_and_record() {
    let mut rng = ChaCha20Rng::seed_from_u64(40);
    let alice = Party::new(&mut rng, 1);
    let bob = Party::new(&mut rng, 2);
    let mut a = SessionRecord::new();
    process_prekey_bundle(
        &mut a,
        &alice.identity,
        1,
        &bob.bundle(Some(0)),
        None,
        IdentityPolicy::AcceptChanged,
        &mut rng,
    )
    .expect("bundle");
    let pkmsg = encrypt(&mut a, b"sweep")
        .expect("pkmsg")
        .serialized()
        .to_vec();
    let mut own = SenderKeyRecord::new();
    let dist = create_sender_key_distribution(&mut own, &mut rng).expect("dist");
    let mut theirs = SenderKeyRecord::new();
    process_sender_key_distribution(&mut theirs, &dist);
    let skmsg = group_encrypt(&mut own, b"group sweep", &mut rng)
        .expect("skmsg")
        .serialized()
        .to_vec();

    let variants = |bytes: &[u8]| -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut v = bytes.to_vec();
                v[i] ^= 1 << bit;
                out.push(v);
            }
        }
        out
    };

    // pkmsg into an empty record at Bob.
    for v in variants(&pkmsg) {
        let mut b = SessionRecord::new();
        if bob.receive_pkmsg(&mut b, &v, &mut rng).is_err() {
            assert_eq!(b.serialize(), SessionRecord::new().serialize());
        }
    }
    // skmsg into the receiver's sender-key record.
    let before = theirs.serialize();
    for v in variants(&skmsg) {
        let mut r = SenderKeyRecord::deserialize(&before).expect("record");
        if group_decrypt(&mut r, &v).is_err() {
            assert_eq!(r.serialize(), before);
        }
    }
    // Distribution messages.
    for v in variants(dist.serialized()) {
        if let Ok(d) = SenderKeyDistributionMessage::deserialize(&v) {
            let mut r = SenderKeyRecord::new();
            process_sender_key_distribution(&mut r, &d);
        }
    }
    // Records of every kind.
    for v in variants(&a.serialize()) {
        if let Ok(mut r) = SessionRecord::deserialize(&v) {
            let _ = encrypt(&mut r, b"x");
        }
    }
    for v in variants(&own.serialize()) {
        if let Ok(mut r) = SenderKeyRecord::deserialize(&v) {
            let _ = group_encrypt(&mut r, b"x", &mut rng);
        }
    }
    for v in variants(&bob.prekeys[0].serialize()) {
        let _ = PreKeyRecord::deserialize(&v);
    }
    for v in variants(&bob.signed.serialize()) {
        let _ = SignedPreKeyRecord::deserialize(&v);
    }
    for v in variants(&bob.identity.serialize()) {
        let _ = IdentityKeyPair::deserialize(&v);
    }
}
