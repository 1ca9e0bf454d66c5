//! `peer` — a small, synchronous, byte-oriented facade over the crates.io crate
//! `wacore-libsignal` 0.7.0 (whatsapp-rust's fork of libsignal).
//!
//! Test/bench-only scaffolding: it exists so differential tests and criterion
//! benches can drive a reference Signal implementation with plain bytes on one
//! side and our own `wa_core::signal` on the other. None of this code (nor any
//! of wacore-libsignal's) is meant to end up in the product.
//!
//! # Conventions
//!
//! * Addresses: a remote/own address string `s` maps to
//!   `ProtocolAddress::new(s, DeviceId(DEVICE_ID))` with [`DEVICE_ID`] = **1**.
//!   The device id is never mixed into any key derivation or MAC in
//!   wacore-libsignal; it only keys the stores (and is echoed in [`Bundle::device_id`]).
//! * Sender keys are stored under `SenderKeyName::new(group_id, "<address>.1")`
//!   (i.e. `ProtocolAddress::as_str()`); again, store key only, no crypto effect.
//! * All async store traits are driven with `futures_lite::future::block_on`.
//!   The stores here are in-memory and never return `Pending`, so no runtime
//!   (Tokio or otherwise) is involved.
//! * Counter leases are **waived** on every record that enters a store (see
//!   `SessionRecord::waive_counter_lease`). Consequently exported record bytes
//!   are plain `RecordStructure` / `SenderKeyRecordStructure` protobufs without
//!   wacore's local field 100 (reservation) / 101 (incarnation), and importing
//!   bytes never fast-forwards the sending chain. Bytes produced by *another*
//!   implementation that happen to carry field 100 are still honoured once on
//!   import (wacore fast-forwards past it and then waives).
//! * One-time prekeys are removed after a successful pkmsg decrypt that consumed
//!   them (wacore itself only *reports* the consumed id; the caller deletes it).
//! * Identity trust is "always trusted" (TOFU bookkeeping is kept so
//!   [`Party::remote_identity`] works, but a changed identity is accepted).

use std::collections::HashMap;

use async_trait::async_trait;
use futures_lite::future::block_on;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng};
use wacore_libsignal::protocol::error::Result as SigResult;
use wacore_libsignal::protocol::{
    CiphertextMessage, DeviceId, Direction, GenericSignedPreKey, IdentityChange, IdentityKey,
    IdentityKeyPair, IdentityKeyStore, KeyPair, PreKeyBundle, PreKeyId, PreKeyRecord,
    PreKeySignalMessage, PreKeyStore, ProtocolAddress, PublicKey, SenderKeyDistributionMessage,
    SenderKeyName, SenderKeyRecord, SenderKeyStore, SessionRecord, SessionStore, SignalMessage,
    SignalProtocolError, SignedPreKeyId, SignedPreKeyRecord, SignedPreKeyStore, Timestamp,
    UsePQRatchet, create_sender_key_distribution_message, group_decrypt, group_encrypt,
    message_decrypt, message_encrypt, process_prekey_bundle,
    process_sender_key_distribution_message,
};

/// Re-export so callers can name the reference crate without adding it themselves.
pub use wacore_libsignal;

/// The RNG type every facade function accepts (rand_core 0.10 `Rng + CryptoRng`,
/// which is what wacore-libsignal 0.7 requires via `rand` 0.10).
pub type PeerRng = ChaCha20Rng;

/// Device id used for every `ProtocolAddress` built by this facade.
pub const DEVICE_ID: u32 = 1;

/// Fixed timestamp written into signed-prekey records (ms since epoch), so
/// records are byte-for-byte reproducible from a seed.
pub const SIGNED_PREKEY_TIMESTAMP_MS: u64 = 1_700_000_000_000;

/// Deterministic RNG from a `u64` seed.
pub fn rng_from_seed(seed: u64) -> PeerRng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn addr(name: &str) -> ProtocolAddress {
    ProtocolAddress::new(name, DeviceId::new(DEVICE_ID))
}

fn sk_name(group_id: &str, sender: &str) -> SenderKeyName {
    SenderKeyName::new(group_id.to_owned(), addr(sender).as_str().to_owned())
}

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

fn key33(pk: &PublicKey) -> [u8; 33] {
    pk.serialize()
}

// ---------------------------------------------------------------------------
// Public data types
// ---------------------------------------------------------------------------

/// Whether a 1:1 wire message is a `pkmsg` (PreKeySignalMessage, wire type 3)
/// or a `msg` (SignalMessage, wire type 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `pkmsg` — PreKeyWhisperMessage.
    PreKey,
    /// `msg` — WhisperMessage.
    Whisper,
}

impl Kind {
    /// WhatsApp `<enc type=…>` string.
    pub fn wa_type(self) -> &'static str {
        match self {
            Kind::PreKey => "pkmsg",
            Kind::Whisper => "msg",
        }
    }
    /// Parse a WhatsApp `<enc type=…>` string.
    pub fn from_wa_type(s: &str) -> Option<Kind> {
        match s {
            "pkmsg" => Some(Kind::PreKey),
            "msg" => Some(Kind::Whisper),
            _ => None,
        }
    }
}

/// A prekey bundle as plain bytes. Keys are the 33-byte `0x05`-prefixed form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub registration_id: u32,
    pub device_id: u32,
    pub identity_key: [u8; 33],
    pub signed_prekey_id: u32,
    pub signed_prekey_public: [u8; 33],
    pub signed_prekey_signature: [u8; 64],
    pub prekey_id: Option<u32>,
    pub prekey_public: Option<[u8; 33]>,
}

/// Key-generation knobs for [`Party::with_config`].
#[derive(Clone, Debug)]
pub struct PartyConfig {
    pub seed: u64,
    pub signed_prekey_id: u32,
    /// Id of the first one-time prekey; the rest are consecutive.
    pub first_prekey_id: u32,
    pub prekey_count: u32,
}

impl PartyConfig {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            signed_prekey_id: 1,
            first_prekey_id: 1,
            prekey_count: 10,
        }
    }
}

// ---------------------------------------------------------------------------
// In-memory stores (all futures are immediately ready)
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct IdStore {
    pair: IdentityKeyPair,
    registration_id: u32,
    known: HashMap<ProtocolAddress, IdentityKey>,
}

#[async_trait]
impl IdentityKeyStore for IdStore {
    async fn get_identity_key_pair(&self) -> SigResult<IdentityKeyPair> {
        Ok(self.pair.clone())
    }
    async fn get_local_registration_id(&self) -> SigResult<u32> {
        Ok(self.registration_id)
    }
    async fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> SigResult<IdentityChange> {
        let changed = self.known.get(address).is_some_and(|k| k != identity);
        self.known.insert(address.clone(), *identity);
        Ok(IdentityChange::from_changed(changed))
    }
    async fn is_trusted_identity(
        &self,
        _address: &ProtocolAddress,
        _identity: &IdentityKey,
        _direction: Direction,
    ) -> SigResult<bool> {
        Ok(true)
    }
    async fn get_identity(&self, address: &ProtocolAddress) -> SigResult<Option<IdentityKey>> {
        Ok(self.known.get(address).copied())
    }
}

#[derive(Clone, Default)]
struct SessStore(HashMap<ProtocolAddress, SessionRecord>);

#[async_trait]
impl SessionStore for SessStore {
    async fn load_session(&self, address: &ProtocolAddress) -> SigResult<Option<SessionRecord>> {
        Ok(self.0.get(address).cloned())
    }
    async fn has_session(&self, address: &ProtocolAddress) -> SigResult<bool> {
        Ok(self.0.contains_key(address))
    }
    async fn store_session(
        &mut self,
        address: &ProtocolAddress,
        mut record: SessionRecord,
    ) -> SigResult<()> {
        record.waive_counter_lease();
        self.0.insert(address.clone(), record);
        Ok(())
    }
}

#[derive(Clone, Default)]
struct PkStore(HashMap<u32, PreKeyRecord>);

#[async_trait]
impl PreKeyStore for PkStore {
    async fn get_pre_key(&self, prekey_id: PreKeyId) -> SigResult<PreKeyRecord> {
        self.0
            .get(&u32::from(prekey_id))
            .cloned()
            .ok_or(SignalProtocolError::InvalidPreKeyId)
    }
    async fn save_pre_key(&mut self, prekey_id: PreKeyId, record: &PreKeyRecord) -> SigResult<()> {
        self.0.insert(prekey_id.into(), record.clone());
        Ok(())
    }
    async fn remove_pre_key(&mut self, prekey_id: PreKeyId) -> SigResult<()> {
        self.0.remove(&u32::from(prekey_id));
        Ok(())
    }
}

#[derive(Clone, Default)]
struct SpkStore(HashMap<u32, SignedPreKeyRecord>);

#[async_trait]
impl SignedPreKeyStore for SpkStore {
    async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> SigResult<SignedPreKeyRecord> {
        self.0
            .get(&u32::from(id))
            .cloned()
            .ok_or(SignalProtocolError::InvalidSignedPreKeyId)
    }
    async fn save_signed_pre_key(
        &mut self,
        id: SignedPreKeyId,
        record: &SignedPreKeyRecord,
    ) -> SigResult<()> {
        self.0.insert(id.into(), record.clone());
        Ok(())
    }
}

#[derive(Clone, Default)]
struct SkStore(HashMap<SenderKeyName, SenderKeyRecord>);

#[async_trait]
impl SenderKeyStore for SkStore {
    async fn store_sender_key(
        &mut self,
        name: &SenderKeyName,
        mut record: SenderKeyRecord,
    ) -> SigResult<()> {
        record.waive_counter_lease()?;
        self.0.insert(name.clone(), record);
        Ok(())
    }
    async fn load_sender_key(&self, name: &SenderKeyName) -> SigResult<Option<SenderKeyRecord>> {
        Ok(self.0.get(name).cloned())
    }
}

fn session_from_bytes(bytes: &[u8]) -> Result<SessionRecord, String> {
    let mut r = SessionRecord::deserialize(bytes).map_err(e)?;
    r.waive_counter_lease();
    Ok(r)
}

fn sender_key_from_bytes(bytes: &[u8]) -> Result<SenderKeyRecord, String> {
    let mut r = SenderKeyRecord::deserialize(bytes).map_err(e)?;
    r.waive_counter_lease().map_err(e)?;
    Ok(r)
}

fn parse_wire(kind: Kind, bytes: &[u8]) -> Result<CiphertextMessage, String> {
    Ok(match kind {
        Kind::PreKey => {
            CiphertextMessage::PreKeySignalMessage(PreKeySignalMessage::try_from(bytes).map_err(e)?)
        }
        Kind::Whisper => {
            CiphertextMessage::SignalMessage(SignalMessage::try_from(bytes).map_err(e)?)
        }
    })
}

fn kind_of(msg: &CiphertextMessage) -> Result<Kind, String> {
    match msg {
        CiphertextMessage::PreKeySignalMessage(_) => Ok(Kind::PreKey),
        CiphertextMessage::SignalMessage(_) => Ok(Kind::Whisper),
        other => Err(format!(
            "unexpected ciphertext type {:?}",
            other.message_type()
        )),
    }
}

fn bundle_to_lib(b: &Bundle) -> Result<PreKeyBundle, String> {
    let pre_key = match (b.prekey_id, b.prekey_public) {
        (Some(id), Some(pk)) => Some((PreKeyId::from(id), PublicKey::deserialize(&pk).map_err(e)?)),
        (None, None) => None,
        _ => {
            return Err(
                "bundle: prekey_id and prekey_public must both be set or both unset".into(),
            );
        }
    };
    PreKeyBundle::new(
        b.registration_id,
        DeviceId::new(b.device_id),
        pre_key,
        SignedPreKeyId::from(b.signed_prekey_id),
        PublicKey::deserialize(&b.signed_prekey_public).map_err(e)?,
        b.signed_prekey_signature.to_vec(),
        IdentityKey::decode(&b.identity_key).map_err(e)?,
    )
    .map_err(e)
}

// ---------------------------------------------------------------------------
// Party: a stateful client with in-memory stores
// ---------------------------------------------------------------------------

/// One Signal client (identity + prekeys + sessions + sender keys), in memory.
#[derive(Clone)]
pub struct Party {
    rng: PeerRng,
    identity: IdStore,
    sessions: SessStore,
    prekeys: PkStore,
    signed_prekeys: SpkStore,
    sender_keys: SkStore,
    signed_prekey_id: u32,
}

impl Party {
    /// `PartyConfig::new(seed)`: signed prekey id 1, one-time prekeys 1..=10.
    pub fn new(seed: u64) -> Self {
        Self::with_config(PartyConfig::new(seed))
    }

    /// Generation order from the seeded ChaCha20 RNG: identity key pair,
    /// registration id (`next_u32() % 16380 + 1`), signed prekey pair,
    /// signed-prekey signature (XEdDSA consumes 64 random bytes), then each
    /// one-time prekey pair in id order.
    pub fn with_config(cfg: PartyConfig) -> Self {
        let mut rng = rng_from_seed(cfg.seed);
        let pair = IdentityKeyPair::generate(&mut rng);
        let registration_id = rng.next_u32() % 16380 + 1;

        let spk = KeyPair::generate(&mut rng);
        let sig = pair
            .private_key()
            .calculate_signature(&spk.public_key.serialize(), &mut rng)
            .expect("signing the signed prekey");
        let spk_rec = <SignedPreKeyRecord as GenericSignedPreKey>::new(
            SignedPreKeyId::from(cfg.signed_prekey_id),
            Timestamp::from_epoch_millis(SIGNED_PREKEY_TIMESTAMP_MS),
            &spk,
            &sig,
        );
        let mut signed_prekeys = SpkStore::default();
        signed_prekeys.0.insert(cfg.signed_prekey_id, spk_rec);

        let mut prekeys = PkStore::default();
        for i in 0..cfg.prekey_count {
            let id = cfg.first_prekey_id + i;
            let kp = KeyPair::generate(&mut rng);
            prekeys
                .0
                .insert(id, PreKeyRecord::new(PreKeyId::from(id), &kp));
        }

        Party {
            rng,
            identity: IdStore {
                pair,
                registration_id,
                known: HashMap::new(),
            },
            sessions: SessStore::default(),
            prekeys,
            signed_prekeys,
            sender_keys: SkStore::default(),
            signed_prekey_id: cfg.signed_prekey_id,
        }
    }

    /// Our identity public key, 33 bytes (`0x05 || X25519`).
    pub fn identity_public(&self) -> [u8; 33] {
        self.identity.pair.identity_key().serialize()
    }

    /// Our registration id.
    pub fn registration_id(&self) -> u32 {
        self.identity.registration_id
    }

    /// Set our registration id (e.g. after importing an identity).
    pub fn set_registration_id(&mut self, id: u32) {
        self.identity.registration_id = id;
    }

    /// The signed prekey id [`Party::bundle`] advertises.
    pub fn signed_prekey_id(&self) -> u32 {
        self.signed_prekey_id
    }

    /// Ids of the one-time prekeys still held, sorted.
    pub fn prekey_ids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.prekeys.0.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Our bundle. `prekey_id = Some(id)` includes that one-time prekey (panics
    /// if we do not hold it); `None` yields a signed-prekey-only bundle.
    pub fn bundle(&self, prekey_id: Option<u32>) -> Bundle {
        let spk = self
            .signed_prekeys
            .0
            .get(&self.signed_prekey_id)
            .expect("signed prekey present");
        let signature: [u8; 64] = spk
            .signature()
            .expect("signature")
            .as_slice()
            .try_into()
            .expect("64-byte signature");
        let (prekey_id, prekey_public) = match prekey_id {
            None => (None, None),
            Some(id) => {
                let rec = self
                    .prekeys
                    .0
                    .get(&id)
                    .unwrap_or_else(|| panic!("no one-time prekey with id {id}"));
                (
                    Some(id),
                    Some(key33(&rec.public_key().expect("prekey public"))),
                )
            }
        };
        Bundle {
            registration_id: self.identity.registration_id,
            device_id: DEVICE_ID,
            identity_key: self.identity_public(),
            signed_prekey_id: self.signed_prekey_id,
            signed_prekey_public: key33(&spk.public_key().expect("spk public")),
            signed_prekey_signature: signature,
            prekey_id,
            prekey_public,
        }
    }

    /// X3DH as the initiator ("Alice"): verify the bundle signature and create
    /// a session for `remote`. Subsequent [`Party::encrypt`] calls produce
    /// `pkmsg`s until the remote's first reply is decrypted.
    pub fn process_bundle(&mut self, remote: &str, bundle: &Bundle) -> Result<(), String> {
        let b = bundle_to_lib(bundle)?;
        let a = addr(remote);
        block_on(process_prekey_bundle(
            &a,
            &mut self.sessions,
            &mut self.identity,
            &b,
            &mut self.rng,
            UsePQRatchet::No,
        ))
        .map(|_| ())
        .map_err(e)
    }

    /// Encrypt for `remote`; returns the wire kind and serialized message.
    pub fn encrypt(&mut self, remote: &str, plaintext: &[u8]) -> Result<(Kind, Vec<u8>), String> {
        let a = addr(remote);
        let msg = block_on(message_encrypt(
            plaintext,
            &a,
            &mut self.sessions,
            &mut self.identity,
        ))
        .map_err(e)?;
        Ok((kind_of(&msg)?, msg.serialize().to_vec()))
    }

    /// Decrypt a `pkmsg` or `msg` from `remote`. A one-time prekey consumed by a
    /// pkmsg is deleted afterwards.
    pub fn decrypt(&mut self, remote: &str, kind: Kind, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let a = addr(remote);
        let msg = parse_wire(kind, bytes)?;
        let res = block_on(message_decrypt(
            &msg,
            &a,
            &mut self.sessions,
            &mut self.identity,
            &mut self.prekeys,
            &self.signed_prekeys,
            &mut self.rng,
            UsePQRatchet::No,
        ))
        .map_err(e)?;
        if let Some(id) = res.consumed_prekey_id {
            self.prekeys.0.remove(&u32::from(id));
        }
        Ok(res.plaintext)
    }

    /// Whether a session with `remote` exists.
    pub fn has_session(&self, remote: &str) -> bool {
        self.sessions.0.contains_key(&addr(remote))
    }

    /// Identity key we have recorded for `remote` (33 bytes), if any.
    pub fn remote_identity(&self, remote: &str) -> Option<[u8; 33]> {
        self.identity
            .known
            .get(&addr(remote))
            .map(|k| k.serialize())
    }

    // ----- record exchange ------------------------------------------------

    /// Serialized session record (`RecordStructure` protobuf) for `remote`.
    pub fn session_record_bytes(&self, remote: &str) -> Option<Vec<u8>> {
        self.sessions
            .0
            .get(&addr(remote))
            .map(|r| r.serialize().expect("session serialize"))
    }

    /// Replace the session record for `remote` with `bytes` (`RecordStructure`).
    pub fn set_session_record_bytes(&mut self, remote: &str, bytes: &[u8]) -> Result<(), String> {
        let r = session_from_bytes(bytes)?;
        self.sessions.0.insert(addr(remote), r);
        Ok(())
    }

    /// Delete the session with `remote`.
    pub fn delete_session(&mut self, remote: &str) {
        self.sessions.0.remove(&addr(remote));
    }

    /// Serialized sender-key record (`SenderKeyRecordStructure`) for
    /// (`group_id`, `sender`).
    pub fn sender_key_record_bytes(&self, group_id: &str, sender: &str) -> Option<Vec<u8>> {
        self.sender_keys
            .0
            .get(&sk_name(group_id, sender))
            .map(|r| r.serialize().expect("sender key serialize"))
    }

    /// Replace the sender-key record for (`group_id`, `sender`).
    pub fn set_sender_key_record_bytes(
        &mut self,
        group_id: &str,
        sender: &str,
        bytes: &[u8],
    ) -> Result<(), String> {
        let r = sender_key_from_bytes(bytes)?;
        self.sender_keys.0.insert(sk_name(group_id, sender), r);
        Ok(())
    }

    /// Serialized one-time prekey (`PreKeyRecordStructure`; public key stored
    /// as raw 32 bytes, see notes).
    pub fn prekey_record_bytes(&self, id: u32) -> Option<Vec<u8>> {
        self.prekeys
            .0
            .get(&id)
            .map(|r| r.serialize().expect("prekey serialize"))
    }

    /// Insert/replace a one-time prekey from `PreKeyRecordStructure` bytes; the
    /// id is taken from the record. Returns that id.
    pub fn set_prekey_record_bytes(&mut self, bytes: &[u8]) -> Result<u32, String> {
        let r = PreKeyRecord::deserialize(bytes).map_err(e)?;
        r.key_pair().map_err(e)?; // validate
        let id: u32 = r.id().map_err(e)?.into();
        self.prekeys.0.insert(id, r);
        Ok(id)
    }

    /// Drop all one-time prekeys (e.g. before importing another implementation's).
    pub fn clear_prekeys(&mut self) {
        self.prekeys.0.clear();
    }

    /// Serialized signed prekey (`SignedPreKeyRecordStructure`).
    pub fn signed_prekey_record_bytes(&self, id: u32) -> Option<Vec<u8>> {
        self.signed_prekeys
            .0
            .get(&id)
            .map(|r| GenericSignedPreKey::serialize(r).expect("spk serialize"))
    }

    /// Insert/replace a signed prekey from `SignedPreKeyRecordStructure` bytes
    /// and make it the one [`Party::bundle`] advertises. Returns its id.
    pub fn set_signed_prekey_record_bytes(&mut self, bytes: &[u8]) -> Result<u32, String> {
        let r = <SignedPreKeyRecord as GenericSignedPreKey>::deserialize(bytes).map_err(e)?;
        r.key_pair().map_err(e)?; // validate
        let id: u32 = r.id().map_err(e)?.into();
        self.signed_prekeys.0.insert(id, r);
        self.signed_prekey_id = id;
        Ok(id)
    }

    /// Identity key pair as `IdentityKeyPairStructure` protobuf
    /// (field 1 = 33-byte public, field 2 = 32-byte private).
    pub fn identity_key_pair_bytes(&self) -> Vec<u8> {
        self.identity.pair.serialize().into_vec()
    }

    /// Replace our identity key pair from `IdentityKeyPairStructure` bytes.
    pub fn set_identity_key_pair_bytes(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.identity.pair = IdentityKeyPair::try_from(bytes).map_err(e)?;
        Ok(())
    }

    /// Raw private identity key (32 bytes, clamped scalar as stored).
    pub fn identity_private(&self) -> [u8; 32] {
        *self.identity.pair.private_key().serialize()
    }

    // ----- sender keys ----------------------------------------------------

    /// Create (or re-export) our sender key for `group_id` and return the
    /// serialized `SenderKeyDistributionMessage` (version byte `0x33` + protobuf).
    pub fn create_distribution(&mut self, group_id: &str, own: &str) -> Result<Vec<u8>, String> {
        let name = sk_name(group_id, own);
        let skdm = block_on(create_sender_key_distribution_message(
            &name,
            &mut self.sender_keys,
            &mut self.rng,
        ))
        .map_err(e)?;
        Ok(skdm.serialized().to_vec())
    }

    /// Install a sender's distribution message.
    pub fn process_distribution(
        &mut self,
        group_id: &str,
        sender: &str,
        bytes: &[u8],
    ) -> Result<(), String> {
        let name = sk_name(group_id, sender);
        let skdm = SenderKeyDistributionMessage::try_from(bytes).map_err(e)?;
        block_on(process_sender_key_distribution_message(
            &name,
            &skdm,
            &mut self.sender_keys,
        ))
        .map_err(e)
    }

    /// Encrypt to the group with our sender key; returns the serialized
    /// `SenderKeyMessage` (version byte + protobuf + 64-byte XEdDSA signature).
    pub fn group_encrypt(
        &mut self,
        group_id: &str,
        own: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, String> {
        let name = sk_name(group_id, own);
        let skm = block_on(group_encrypt(
            &mut self.sender_keys,
            &name,
            plaintext,
            &mut self.rng,
        ))
        .map_err(e)?;
        Ok(skm.serialized().to_vec())
    }

    /// Decrypt a `SenderKeyMessage` from `sender`.
    pub fn group_decrypt(
        &mut self,
        group_id: &str,
        sender: &str,
        bytes: &[u8],
    ) -> Result<Vec<u8>, String> {
        let name = sk_name(group_id, sender);
        block_on(group_decrypt(bytes, &mut self.sender_keys, &name)).map_err(e)
    }

    /// Build the store-backed identity view of this party (for [`stored`]).
    pub fn local_identity(&self) -> stored::LocalIdentity {
        stored::LocalIdentity {
            pair: self.identity.pair.clone(),
            registration_id: self.identity.registration_id,
        }
    }
}

// ---------------------------------------------------------------------------
// Store-backed mode: record bytes in -> one operation -> record bytes out
// ---------------------------------------------------------------------------

/// "Store-backed" one-shot operations for benchmarks: every call performs
/// exactly one protocol operation against throwaway stores that hold record
/// *bytes*, as a persistent store does: each load wacore makes parses the bytes
/// (nothing is kept in memory or cloned), each store serializes the record back
/// — i.e. what a client with a byte-oriented persistent store pays per message.
/// The local identity is parsed once up front ([`LocalIdentity`]) because real
/// clients cache it.
pub mod stored {
    use super::*;

    /// Parsed local identity (key pair + registration id).
    #[derive(Clone)]
    pub struct LocalIdentity {
        pub(crate) pair: IdentityKeyPair,
        pub(crate) registration_id: u32,
    }

    impl LocalIdentity {
        /// From `IdentityKeyPairStructure` bytes and a registration id.
        pub fn from_bytes(identity_key_pair: &[u8], registration_id: u32) -> Result<Self, String> {
            Ok(Self {
                pair: IdentityKeyPair::try_from(identity_key_pair).map_err(e)?,
                registration_id,
            })
        }
    }

    fn id_store(local: &LocalIdentity) -> IdStore {
        IdStore {
            pair: local.pair.clone(),
            registration_id: local.registration_id,
            known: HashMap::new(),
        }
    }

    /// A session store over one record's bytes, as a persistent store backs it:
    /// `load_session` parses the bytes (no in-memory record is kept or cloned),
    /// `store_session` serializes the record back into them.
    struct ByteSession {
        address: ProtocolAddress,
        bytes: Option<Vec<u8>>,
    }

    impl ByteSession {
        fn new(address: &ProtocolAddress, bytes: Option<&[u8]>) -> Self {
            Self {
                address: address.clone(),
                bytes: bytes.map(<[u8]>::to_vec),
            }
        }

        fn into_bytes(self) -> Result<Vec<u8>, String> {
            self.bytes
                .ok_or_else(|| "no session after operation".to_string())
        }
    }

    #[async_trait]
    impl SessionStore for ByteSession {
        async fn load_session(
            &self,
            address: &ProtocolAddress,
        ) -> SigResult<Option<SessionRecord>> {
            match &self.bytes {
                Some(b) if *address == self.address => {
                    let mut r = SessionRecord::deserialize(b)?;
                    r.waive_counter_lease();
                    Ok(Some(r))
                }
                _ => Ok(None),
            }
        }
        async fn has_session(&self, address: &ProtocolAddress) -> SigResult<bool> {
            Ok(*address == self.address && self.bytes.is_some())
        }
        async fn store_session(
            &mut self,
            address: &ProtocolAddress,
            mut record: SessionRecord,
        ) -> SigResult<()> {
            if *address != self.address {
                return Err(SignalProtocolError::InvalidArgument(
                    "one-record store: other address".into(),
                ));
            }
            record.waive_counter_lease();
            self.bytes = Some(record.serialize()?);
            Ok(())
        }
    }

    /// A signed-prekey store over one record's bytes (parsed on every load).
    struct ByteSignedPreKey(Vec<u8>);

    #[async_trait]
    impl SignedPreKeyStore for ByteSignedPreKey {
        async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> SigResult<SignedPreKeyRecord> {
            let r = <SignedPreKeyRecord as GenericSignedPreKey>::deserialize(&self.0)?;
            if r.id()? != id {
                return Err(SignalProtocolError::InvalidSignedPreKeyId);
            }
            Ok(r)
        }
        async fn save_signed_pre_key(
            &mut self,
            _id: SignedPreKeyId,
            record: &SignedPreKeyRecord,
        ) -> SigResult<()> {
            self.0 = GenericSignedPreKey::serialize(record)?;
            Ok(())
        }
    }

    /// A one-time-prekey store over (at most) one record's bytes (parsed on every load).
    struct BytePreKey(Option<Vec<u8>>);

    #[async_trait]
    impl PreKeyStore for BytePreKey {
        async fn get_pre_key(&self, prekey_id: PreKeyId) -> SigResult<PreKeyRecord> {
            let bytes = self
                .0
                .as_ref()
                .ok_or(SignalProtocolError::InvalidPreKeyId)?;
            let r = PreKeyRecord::deserialize(bytes)?;
            if r.id()? != prekey_id {
                return Err(SignalProtocolError::InvalidPreKeyId);
            }
            Ok(r)
        }
        async fn save_pre_key(
            &mut self,
            _prekey_id: PreKeyId,
            record: &PreKeyRecord,
        ) -> SigResult<()> {
            self.0 = Some(record.serialize()?);
            Ok(())
        }
        async fn remove_pre_key(&mut self, _prekey_id: PreKeyId) -> SigResult<()> {
            self.0 = None;
            Ok(())
        }
    }

    /// A sender-key store over one record's bytes (parsed on load, serialized on store).
    struct ByteSenderKey {
        name: SenderKeyName,
        bytes: Option<Vec<u8>>,
    }

    impl ByteSenderKey {
        fn new(name: SenderKeyName, bytes: Option<&[u8]>) -> Self {
            Self {
                name,
                bytes: bytes.map(<[u8]>::to_vec),
            }
        }

        fn into_bytes(self) -> Result<Vec<u8>, String> {
            self.bytes
                .ok_or_else(|| "no sender key after operation".to_string())
        }
    }

    #[async_trait]
    impl SenderKeyStore for ByteSenderKey {
        async fn store_sender_key(
            &mut self,
            name: &SenderKeyName,
            mut record: SenderKeyRecord,
        ) -> SigResult<()> {
            if *name != self.name {
                return Err(SignalProtocolError::InvalidArgument(
                    "one-record store: other sender key name".into(),
                ));
            }
            record.waive_counter_lease()?;
            self.bytes = Some(record.serialize()?);
            Ok(())
        }
        async fn load_sender_key(
            &self,
            name: &SenderKeyName,
        ) -> SigResult<Option<SenderKeyRecord>> {
            match &self.bytes {
                Some(b) if *name == self.name => {
                    let mut r = SenderKeyRecord::deserialize(b)?;
                    r.waive_counter_lease()?;
                    Ok(Some(r))
                }
                _ => Ok(None),
            }
        }
    }

    /// X3DH initiator from a bundle: returns the new session record bytes.
    /// `existing_session` (if any) is archived as usual.
    pub fn process_bundle(
        local: &LocalIdentity,
        remote: &str,
        existing_session: Option<&[u8]>,
        bundle: &Bundle,
        rng: &mut PeerRng,
    ) -> Result<Vec<u8>, String> {
        let a = addr(remote);
        let mut sessions = ByteSession::new(&a, existing_session);
        let mut ids = id_store(local);
        let b = bundle_to_lib(bundle)?;
        block_on(process_prekey_bundle(
            &a,
            &mut sessions,
            &mut ids,
            &b,
            rng,
            UsePQRatchet::No,
        ))
        .map_err(e)?;
        sessions.into_bytes()
    }

    /// Encrypt one message: `(kind, wire bytes, updated session record bytes)`.
    pub fn encrypt(
        local: &LocalIdentity,
        remote: &str,
        session: &[u8],
        plaintext: &[u8],
    ) -> Result<(Kind, Vec<u8>, Vec<u8>), String> {
        let a = addr(remote);
        let mut sessions = ByteSession::new(&a, Some(session));
        let mut ids = id_store(local);
        let msg = block_on(message_encrypt(plaintext, &a, &mut sessions, &mut ids)).map_err(e)?;
        Ok((
            kind_of(&msg)?,
            msg.serialize().to_vec(),
            sessions.into_bytes()?,
        ))
    }

    /// Decrypt a `msg`: `(plaintext, updated session record bytes)`.
    pub fn decrypt_msg(
        local: &LocalIdentity,
        remote: &str,
        session: &[u8],
        wire: &[u8],
        rng: &mut PeerRng,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let a = addr(remote);
        let mut sessions = ByteSession::new(&a, Some(session));
        let mut ids = id_store(local);
        let msg = parse_wire(Kind::Whisper, wire)?;
        let res = block_on(message_decrypt(
            &msg,
            &a,
            &mut sessions,
            &mut ids,
            &mut BytePreKey(None),
            &ByteSignedPreKey(Vec::new()),
            rng,
            UsePQRatchet::No,
        ))
        .map_err(e)?;
        Ok((res.plaintext, sessions.into_bytes()?))
    }

    /// Result of [`decrypt_pkmsg`].
    #[derive(Debug, Clone)]
    pub struct PkmsgOutcome {
        pub plaintext: Vec<u8>,
        pub session: Vec<u8>,
        /// One-time prekey id the message consumed (caller should delete it).
        pub consumed_prekey_id: Option<u32>,
    }

    /// Decrypt a `pkmsg` given the (optional) existing session record, the
    /// signed prekey record and the (optional) one-time prekey record bytes.
    pub fn decrypt_pkmsg(
        local: &LocalIdentity,
        remote: &str,
        session: Option<&[u8]>,
        signed_prekey_record: &[u8],
        prekey_record: Option<&[u8]>,
        wire: &[u8],
        rng: &mut PeerRng,
    ) -> Result<PkmsgOutcome, String> {
        let a = addr(remote);
        let mut sessions = ByteSession::new(&a, session);
        let mut ids = id_store(local);
        let spks = ByteSignedPreKey(signed_prekey_record.to_vec());
        let mut pks = BytePreKey(prekey_record.map(<[u8]>::to_vec));
        let msg = parse_wire(Kind::PreKey, wire)?;
        let res = block_on(message_decrypt(
            &msg,
            &a,
            &mut sessions,
            &mut ids,
            &mut pks,
            &spks,
            rng,
            UsePQRatchet::No,
        ))
        .map_err(e)?;
        Ok(PkmsgOutcome {
            plaintext: res.plaintext,
            session: sessions.into_bytes()?,
            consumed_prekey_id: res.consumed_prekey_id.map(u32::from),
        })
    }

    /// Create our sender key (if `record` is `None`) or re-export it:
    /// `(SKDM bytes, sender-key record bytes)`.
    pub fn create_distribution(
        group_id: &str,
        own: &str,
        record: Option<&[u8]>,
        rng: &mut PeerRng,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let name = sk_name(group_id, own);
        let mut store = ByteSenderKey::new(name.clone(), record);
        let skdm = block_on(create_sender_key_distribution_message(
            &name, &mut store, rng,
        ))
        .map_err(e)?;
        Ok((skdm.serialized().to_vec(), store.into_bytes()?))
    }

    /// Apply a sender's SKDM to an (optional) existing record; returns the record.
    pub fn process_distribution(
        group_id: &str,
        sender: &str,
        record: Option<&[u8]>,
        skdm: &[u8],
    ) -> Result<Vec<u8>, String> {
        let name = sk_name(group_id, sender);
        let mut store = ByteSenderKey::new(name.clone(), record);
        let m = SenderKeyDistributionMessage::try_from(skdm).map_err(e)?;
        block_on(process_sender_key_distribution_message(
            &name, &m, &mut store,
        ))
        .map_err(e)?;
        store.into_bytes()
    }

    /// Group-encrypt once: `(SenderKeyMessage bytes, updated record bytes)`.
    pub fn group_encrypt(
        group_id: &str,
        own: &str,
        record: &[u8],
        plaintext: &[u8],
        rng: &mut PeerRng,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let name = sk_name(group_id, own);
        let mut store = ByteSenderKey::new(name.clone(), Some(record));
        let skm = block_on(wacore_libsignal::protocol::group_encrypt(
            &mut store, &name, plaintext, rng,
        ))
        .map_err(e)?;
        Ok((skm.serialized().to_vec(), store.into_bytes()?))
    }

    /// Group-decrypt once: `(plaintext, updated record bytes)`.
    pub fn group_decrypt(
        group_id: &str,
        sender: &str,
        record: &[u8],
        wire: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let name = sk_name(group_id, sender);
        let mut store = ByteSenderKey::new(name.clone(), Some(record));
        let pt = block_on(wacore_libsignal::protocol::group_decrypt(
            wire, &mut store, &name,
        ))
        .map_err(e)?;
        Ok((pt, store.into_bytes()?))
    }
}
