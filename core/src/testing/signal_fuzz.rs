//! The bodies of the Signal fuzz targets, here so that they are type-checked and
//! their seeds run with the crate's tests (the `fuzz/` targets are one-line
//! shims).
//!
//! - [`decrypt_one`]: arbitrary bytes as a pkmsg, msg or skmsg against fixed,
//!   established sessions. No panic; a failed decrypt leaves the record's bytes
//!   unchanged.
//! - [`session_ops`]: a sequence of operations between two parties (sends both
//!   ways, deliveries in any order, duplicates, reloads from bytes, group
//!   messages). Every delivered message decrypts once to what was sent; a
//!   second delivery is refused as a duplicate; every failure leaves the record
//!   unchanged.

use std::sync::OnceLock;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::signal::{
    CiphertextMessage, IdentityKeyPair, IdentityPolicy, PreKeyBundle, PreKeyRecord,
    PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyRecord, SessionRecord, SignalError,
    SignalMessage, SignedPreKeyRecord, create_sender_key_distribution, decrypt,
    decrypt_prekey_message, encrypt, group_decrypt, group_encrypt, process_prekey_bundle,
    process_sender_key_distribution,
};

/// One side of the fuzzed conversations.
#[derive(Clone)]
struct Party {
    identity: IdentityKeyPair,
    registration_id: u32,
    signed: SignedPreKeyRecord,
    one_time: PreKeyRecord,
}

impl Party {
    fn new(rng: &mut ChaCha20Rng, registration_id: u32) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let signed = SignedPreKeyRecord::generate(7, &identity, 0, rng);
        let one_time = PreKeyRecord::generate(100 + registration_id, rng);
        Party {
            identity,
            registration_id,
            signed,
            one_time,
        }
    }

    fn bundle(&self) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            device_id: 0,
            pre_key: Some((self.one_time.id(), *self.one_time.public_key())),
            signed_pre_key_id: self.signed.id(),
            signed_pre_key: *self.signed.public_key(),
            signed_pre_key_signature: *self.signed.signature(),
            identity_key: *self.identity.public_key(),
        }
    }

    fn receive(
        &self,
        record: &mut SessionRecord,
        msg: &[u8],
        prekey: bool,
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<u8>, SignalError> {
        if prekey {
            let parsed = PreKeySignalMessage::deserialize(msg)?;
            decrypt_prekey_message(
                record,
                &self.identity,
                self.registration_id,
                &parsed,
                Some(&self.signed),
                Some(&self.one_time),
                None,
                IdentityPolicy::AcceptChanged,
                rng,
            )
            .map(|d| d.plaintext)
        } else {
            decrypt(record, msg, rng)
        }
    }
}

/// The fixed state [`decrypt_one`] works on.
struct Fixture {
    bob: Party,
    /// Bob's session with Alice, established both ways.
    session: Vec<u8>,
    /// Bob's copy of Alice's sender key.
    sender_key: Vec<u8>,
    /// Valid messages to Bob (msg, pkmsg, skmsg): seeds.
    seeds: Vec<Vec<u8>>,
}

/// Alice (registration 1) and Bob (2), and Alice's session started from
/// Bob's bundle (nothing sent yet).
fn alice_to_bob(rng: &mut ChaCha20Rng) -> (Party, Party, SessionRecord) {
    let alice = Party::new(rng, 1);
    let bob = Party::new(rng, 2);
    let mut a = SessionRecord::new();
    process_prekey_bundle(
        &mut a,
        &alice.identity,
        1,
        &bob.bundle(),
        None,
        IdentityPolicy::AcceptChanged,
        rng,
    )
    .expect("fixture bundle");
    (alice, bob, a)
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(0x5157_4e41);
        let (_alice, bob, mut a) = alice_to_bob(&mut rng);
        let mut b = SessionRecord::new();
        let first = encrypt(&mut a, b"first").expect("fixture encrypt");
        let pkmsg = first.serialized().to_vec();
        bob.receive(&mut b, &pkmsg, true, &mut rng)
            .expect("fixture pkmsg");
        let reply = encrypt(&mut b, b"reply").expect("fixture reply");
        decrypt(&mut a, reply.serialized(), &mut rng).expect("fixture reply");
        let msgs: Vec<_> = (0..3u8)
            .map(|i| {
                encrypt(&mut a, &[i; 20])
                    .expect("fixture msg")
                    .serialized()
                    .to_vec()
            })
            .collect();
        let mut own = SenderKeyRecord::new();
        let dist = create_sender_key_distribution(&mut own, &mut rng).expect("fixture dist");
        let mut theirs = SenderKeyRecord::new();
        process_sender_key_distribution(&mut theirs, &dist);
        let skmsg = group_encrypt(&mut own, b"group", &mut rng)
            .expect("fixture skmsg")
            .serialized()
            .to_vec();
        let mut seeds = vec![
            [&[0u8][..], &msgs[0]].concat(),
            [&[0u8][..], &msgs[2]].concat(),
        ];
        seeds.push([&[1u8][..], &pkmsg].concat());
        seeds.push([&[2u8][..], &skmsg].concat());
        seeds.push([&[3u8][..], dist.serialized()].concat());
        Fixture {
            bob,
            session: b.serialize(),
            sender_key: theirs.serialize(),
            seeds,
        }
    })
}

/// Seeds for [`decrypt_one`]: valid messages of each kind.
pub fn decrypt_seeds() -> Vec<Vec<u8>> {
    fixture().seeds.clone()
}

/// Fuzz body: `data[0] % 4` picks msg, pkmsg, skmsg or a distribution message;
/// the rest is the message. Panics only if a property breaks.
pub fn decrypt_one(data: &[u8]) {
    let Some((&kind, msg)) = data.split_first() else {
        return;
    };
    let fx = fixture();
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(kind));
    match kind % 4 {
        0 | 1 => {
            let mut record = SessionRecord::deserialize(&fx.session).expect("fixture record");
            if let Err(e) = fx.bob.receive(&mut record, msg, kind % 4 == 1, &mut rng) {
                assert_eq!(
                    record.serialize(),
                    fx.session,
                    "failed decrypt changed the record: {e}"
                );
            }
            let _ = SignalMessage::deserialize(msg);
        }
        2 => {
            let mut record = SenderKeyRecord::deserialize(&fx.sender_key).expect("fixture record");
            if let Err(e) = group_decrypt(&mut record, msg) {
                assert_eq!(
                    record.serialize(),
                    fx.sender_key,
                    "failed decrypt changed the record: {e}"
                );
            }
        }
        _ => {
            if let Ok(dist) = SenderKeyDistributionMessage::deserialize(msg) {
                let mut record = SenderKeyRecord::deserialize(&fx.sender_key).expect("fixture");
                process_sender_key_distribution(&mut record, &dist);
                let again = SenderKeyRecord::deserialize(&record.serialize()).expect("re-read");
                assert_eq!(again.serialize(), record.serialize());
            }
            // Records from bytes: any bytes either parse or are refused.
            if let Ok(mut r) = SessionRecord::deserialize(msg) {
                let _ = encrypt(&mut r, b"x");
            }
            let _ = SenderKeyRecord::deserialize(msg);
            let _ = PreKeyRecord::deserialize(msg);
            let _ = SignedPreKeyRecord::deserialize(msg);
            let _ = IdentityKeyPair::deserialize(msg);
        }
    }
}

/// A message in flight in [`session_ops`].
struct Sent {
    bytes: Vec<u8>,
    prekey: bool,
    plaintext: Vec<u8>,
    delivered: bool,
    /// The sender's ratchet key (pairwise messages).
    ratchet: Option<[u8; 33]>,
}

/// What one side of [`session_ops`] holds.
struct Side {
    party: Party,
    session: SessionRecord,
    /// Ratchet keys of the other side in the order this side first decrypted
    /// them (a receiving chain is kept for the last five).
    chains_seen: Vec<[u8; 33]>,
    inbox: Vec<Sent>,
}

/// Most operations one input runs (keeps every skip below the forward limit
/// and every stored-key list below its cap).
const MAX_OPS: usize = 512;

/// What one run of [`session_ops`] did (so tests can check it did something).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpsStats {
    /// Pairwise messages decrypted.
    pub delivered: usize,
    /// Redeliveries refused as duplicates.
    pub duplicates: usize,
    /// Group messages decrypted.
    pub group_delivered: usize,
}

/// Fuzz body: each byte is an operation on two parties (see the module docs).
/// Panics only if a property breaks.
pub fn session_ops(data: &[u8]) -> OpsStats {
    let mut stats = OpsStats::default();
    let mut rng = ChaCha20Rng::seed_from_u64(data.len() as u64);
    // The parties and their first state are the same for every input (built
    // once: key generation would dominate a run).
    let start = ops_fixture();
    let mut sides = [
        Side {
            party: start.alice.clone(),
            session: SessionRecord::deserialize(&start.alice_session).expect("fixture record"),
            chains_seen: Vec::new(),
            inbox: Vec::new(),
        },
        Side {
            party: start.bob.clone(),
            session: SessionRecord::new(),
            chains_seen: Vec::new(),
            inbox: Vec::new(),
        },
    ];
    let mut group_own = SenderKeyRecord::deserialize(&start.group_own).expect("fixture record");
    let mut group_theirs =
        SenderKeyRecord::deserialize(&start.group_theirs).expect("fixture record");
    let mut group_inbox: Vec<Sent> = Vec::new();
    let mut counter = 0u32;

    let mut bytes = data.iter().copied().take(MAX_OPS);
    while let Some(op) = bytes.next() {
        let arg = usize::from(bytes.next().unwrap_or(0));
        let who = usize::from(op & 1);
        match (op >> 1) % 6 {
            // Send a pairwise message to the other side.
            0 | 1 => {
                counter += 1;
                let plaintext = format!("{who}:{counter}").into_bytes();
                let msg = encrypt(&mut sides[who].session, &plaintext);
                let msg = match msg {
                    Ok(m) => m,
                    // Bob has nothing to send with until Alice's first message arrives.
                    Err(SignalError::NoSession) if who == 1 => continue,
                    Err(e) => panic!("encrypt failed: {e}"),
                };
                let prekey = matches!(msg, CiphertextMessage::PreKey(_));
                let bytes = msg.serialized().to_vec();
                let ratchet = if prekey {
                    PreKeySignalMessage::deserialize(&bytes)
                        .ok()
                        .map(|m| m.message().ratchet_key().serialize())
                } else {
                    SignalMessage::deserialize(&bytes)
                        .ok()
                        .map(|m| m.ratchet_key().serialize())
                };
                sides[1 - who].inbox.push(Sent {
                    bytes,
                    prekey,
                    plaintext,
                    delivered: false,
                    ratchet,
                });
            }
            // Deliver a message (possibly again) to `who`.
            2 | 3 => {
                let side = &mut sides[who];
                if side.inbox.is_empty() {
                    continue;
                }
                let i = arg % side.inbox.len();
                let before = side.session.serialize();
                let result = side.party.receive(
                    &mut side.session,
                    &side.inbox[i].bytes,
                    side.inbox[i].prekey,
                    &mut rng,
                );
                let sent = &mut side.inbox[i];
                match result {
                    Ok(plain) => {
                        assert!(!sent.delivered, "a message decrypted twice");
                        assert_eq!(plain, sent.plaintext, "decrypted to something else");
                        sent.delivered = true;
                        stats.delivered += 1;
                        if let Some(r) = sent.ratchet
                            && !side.chains_seen.contains(&r)
                        {
                            side.chains_seen.push(r);
                        }
                    }
                    Err(e) => {
                        assert_eq!(
                            side.session.serialize(),
                            before,
                            "failed decrypt changed the record"
                        );
                        if sent.delivered {
                            assert!(
                                matches!(e, SignalError::DuplicateMessage { .. }),
                                "redelivery gave {e}"
                            );
                            stats.duplicates += 1;
                        } else {
                            // Only a message of a receiving chain that was dropped
                            // (more than five newer ones) may fail.
                            let evicted = sent.ratchet.is_some_and(|r| {
                                side.chains_seen
                                    .iter()
                                    .position(|c| *c == r)
                                    .is_some_and(|p| {
                                        side.chains_seen.len() - p
                                            > crate::signal::MAX_RECEIVER_CHAINS
                                    })
                            });
                            assert!(evicted, "first delivery failed: {e}");
                        }
                    }
                }
            }
            // Reload the record from its bytes.
            4 => {
                let bytes = sides[who].session.serialize();
                sides[who].session = SessionRecord::deserialize(&bytes).expect("own bytes parse");
                assert_eq!(sides[who].session.serialize(), bytes);
            }
            // Groups: Alice sends, or Bob receives.
            _ => {
                if who == 0 {
                    counter += 1;
                    let plaintext = format!("g:{counter}").into_bytes();
                    let msg =
                        group_encrypt(&mut group_own, &plaintext, &mut rng).expect("group encrypt");
                    group_inbox.push(Sent {
                        bytes: msg.serialized().to_vec(),
                        prekey: false,
                        plaintext,
                        delivered: false,
                        ratchet: None,
                    });
                } else if !group_inbox.is_empty() {
                    let i = arg % group_inbox.len();
                    let before = group_theirs.serialize();
                    let sent = &mut group_inbox[i];
                    match group_decrypt(&mut group_theirs, &sent.bytes) {
                        Ok(plain) => {
                            assert!(!sent.delivered, "a group message decrypted twice");
                            assert_eq!(plain, sent.plaintext);
                            sent.delivered = true;
                            stats.group_delivered += 1;
                        }
                        Err(e) => {
                            assert_eq!(
                                group_theirs.serialize(),
                                before,
                                "failed group decrypt changed the record"
                            );
                            assert!(
                                sent.delivered && matches!(e, SignalError::DuplicateMessage { .. }),
                                "group delivery failed: {e}"
                            );
                        }
                    }
                }
            }
        }
    }
    stats
}

/// The start of every [`session_ops`] run.
struct OpsFixture {
    alice: Party,
    bob: Party,
    /// Alice's session with Bob, from his bundle, before any message.
    alice_session: Vec<u8>,
    /// Alice's sender key, and Bob's copy of it.
    group_own: Vec<u8>,
    group_theirs: Vec<u8>,
}

fn ops_fixture() -> &'static OpsFixture {
    static FIXTURE: OnceLock<OpsFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(0x6f70_7321);
        let (alice, bob, a) = alice_to_bob(&mut rng);
        let mut own = SenderKeyRecord::new();
        let dist = create_sender_key_distribution(&mut own, &mut rng).expect("fixture dist");
        let mut theirs = SenderKeyRecord::new();
        process_sender_key_distribution(&mut theirs, &dist);
        OpsFixture {
            alice,
            bob,
            alice_session: a.serialize(),
            group_own: own.serialize(),
            group_theirs: theirs.serialize(),
        }
    })
}

/// Seeds for [`session_ops`].
pub fn session_ops_seeds() -> Vec<Vec<u8>> {
    vec![
        vec![0, 0, 3, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 1, 3, 0, 3, 1],
        vec![0, 0, 0, 0, 0, 0, 3, 2, 3, 0, 3, 1, 9, 0, 8, 0, 1, 0, 2, 0],
        vec![
            10, 0, 10, 0, 11, 1, 11, 0, 11, 1, 0, 0, 3, 0, 1, 0, 2, 0, 0, 0, 3, 1, 3, 0,
        ],
        (0..200u8).map(|i| i.wrapping_mul(37)).collect(),
    ]
}
