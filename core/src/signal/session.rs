//! 1:1 sessions: X3DH in both roles, the double ratchet, and the session record.

use std::fmt;

use prost::Message as _;
use rand_core::CryptoRng;
use zeroize::Zeroize;

use super::crypto::{
    MessageKeys, array32, cbc_decrypt, cbc_encrypt, chain_step, ct_eq, hkdf, ratchet_root, split64,
};
use super::keys::{IdentityKeyPair, PreKeyRecord, PrivateKey, PublicKey, SignedPreKeyRecord};
use super::proto::session_structure::chain::{ChainKey, MessageKey};
use super::proto::session_structure::{Chain, PendingPreKey};
use super::proto::{RecordStructure, SessionStructure};
use super::wire::{PreKeySignalMessage, SignalMessage};
use super::{
    CIPHERTEXT_VERSION, MAX_ARCHIVED_STATES, MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS,
    MAX_RECEIVER_CHAINS, PreKeyBundle, SignalError,
};

/// The X3DH discontinuity bytes that start the master secret.
const DISCONTINUITY: [u8; 32] = [0xFF; 32];

/// What to do when a peer's identity key differs from the one known before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentityPolicy {
    /// Accept the new key and report it as [`IdentityChange::Changed`] (what
    /// WhatsApp clients do: the application shows "security code changed").
    #[default]
    AcceptChanged,
    /// Refuse the new key with [`SignalError::UntrustedIdentity`].
    RefuseChanged,
}

/// How a peer's identity key compares with the one the caller knew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityChange {
    /// No key was known: save this one.
    New,
    /// Same key as before.
    Unchanged,
    /// A different key: save the new one and tell the user.
    Changed {
        /// The key known before.
        previous: PublicKey,
    },
}

fn check_identity(
    known: Option<&PublicKey>,
    theirs: &PublicKey,
    policy: IdentityPolicy,
) -> Result<IdentityChange, SignalError> {
    match known {
        None => Ok(IdentityChange::New),
        Some(k) if ct_eq(k.raw(), theirs.raw()) => Ok(IdentityChange::Unchanged),
        Some(_) if policy == IdentityPolicy::RefuseChanged => Err(SignalError::UntrustedIdentity),
        Some(k) => Ok(IdentityChange::Changed { previous: *k }),
    }
}

/// A session with one peer device: the current double-ratchet state and up to
/// [`MAX_ARCHIVED_STATES`] older ones, still tried when decrypting. Its bytes are
/// libsignal's `RecordStructure`.
#[derive(Clone, Default, PartialEq)]
pub struct SessionRecord {
    current: Option<SessionStructure>,
    previous: Vec<SessionStructure>,
}

impl SessionRecord {
    /// An empty record (no session yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a stored record and checks it against the limits.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let RecordStructure {
            current_session,
            previous_sessions,
        } = RecordStructure::decode(bytes)
            .map_err(|_| SignalError::InvalidRecord("session record protobuf"))?;
        let mut record = SessionRecord {
            current: current_session,
            previous: previous_sessions,
        };
        record.truncate_archive();
        for state in record.current.iter_mut().chain(record.previous.iter_mut()) {
            trim_state(state);
        }
        Ok(record)
    }

    /// The record's bytes (libsignal's `RecordStructure`).
    pub fn serialize(&self) -> Vec<u8> {
        // One pass: prost sizes each state as it writes it.
        let mut out = Vec::with_capacity(1024);
        if let Some(current) = &self.current {
            prost::encoding::message::encode(1, current, &mut out);
        }
        for state in &self.previous {
            prost::encoding::message::encode(2, state, &mut out);
        }
        out
    }

    /// Whether there is a current state to encrypt with.
    pub fn has_current_session(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| s.sender_chain.is_some())
    }

    /// The peer's identity key in the current state.
    pub fn remote_identity(&self) -> Option<PublicKey> {
        PublicKey::deserialize(&self.current.as_ref()?.remote_identity_public).ok()
    }

    /// The peer's registration id in the current state.
    pub fn remote_registration_id(&self) -> Option<u32> {
        Some(self.current.as_ref()?.remote_registration_id())
    }

    /// Our registration id in the current state.
    pub fn local_registration_id(&self) -> Option<u32> {
        Some(self.current.as_ref()?.local_registration_id())
    }

    /// Whether the current state was set up by us and not answered yet (our
    /// messages are still pkmsgs).
    pub fn has_unacknowledged_prekey_message(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| s.pending_pre_key.is_some())
    }

    /// Whether some state (current or archived) was set up with this base key:
    /// a pkmsg carrying it continues that session and needs no prekeys.
    pub fn has_session_with_base_key(&self, base_key: &PublicKey) -> bool {
        self.find_base_key(&base_key.serialize()).is_some()
    }

    /// Moves the current state to the archive (the next send starts a new
    /// session; incoming messages of the old one still decrypt).
    pub fn archive_current_state(&mut self) {
        if let Some(state) = self.current.take() {
            self.previous.insert(0, state);
            self.truncate_archive();
        }
    }

    /// Number of states (current plus archived).
    pub fn state_count(&self) -> usize {
        usize::from(self.current.is_some()) + self.previous.len()
    }

    fn promote(&mut self, state: SessionStructure) {
        self.archive_current_state();
        self.current = Some(state);
    }

    fn truncate_archive(&mut self) {
        while self.previous.len() > MAX_ARCHIVED_STATES {
            if let Some(mut old) = self.previous.pop() {
                wipe_state(&mut old);
            }
        }
    }

    /// Index of the state with `base_key`: `None` for none, `Some(None)` for the
    /// current state, `Some(Some(i))` for archived state `i`.
    fn find_base_key(&self, base_key: &[u8]) -> Option<Option<usize>> {
        let matches = |s: &SessionStructure| {
            s.session_version() == u32::from(CIPHERTEXT_VERSION) && s.alice_base_key == base_key
        };
        if self.current.as_ref().is_some_and(matches) {
            return Some(None);
        }
        self.previous.iter().position(matches).map(Some)
    }
}

impl Drop for SessionRecord {
    fn drop(&mut self) {
        if let Some(state) = &mut self.current {
            wipe_state(state);
        }
        for state in &mut self.previous {
            wipe_state(state);
        }
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("has_current_session", &self.has_current_session())
            .field("archived_states", &self.previous.len())
            .field("remote_identity", &self.remote_identity())
            .finish_non_exhaustive()
    }
}

/// Brings a state read from bytes within the limits (another implementation
/// may keep more): the oldest receiving chains and the lowest skipped counters
/// go first.
fn trim_state(state: &mut SessionStructure) {
    while state.receiver_chains.len() > MAX_RECEIVER_CHAINS {
        let mut old = state.receiver_chains.remove(0);
        wipe_chain(&mut old);
    }
    for chain in state
        .sender_chain
        .iter_mut()
        .chain(state.receiver_chains.iter_mut())
    {
        trim_message_keys(chain);
    }
}

/// Wipes every secret of a state.
fn wipe_state(state: &mut SessionStructure) {
    state.root_key.zeroize();
    for chain in state
        .sender_chain
        .iter_mut()
        .chain(state.receiver_chains.iter_mut())
    {
        wipe_chain(chain);
    }
    if let Some(pending) = &mut state.pending_key_exchange {
        pending.local_base_key_private.zeroize();
        pending.local_ratchet_key_private.zeroize();
        pending.local_identity_key_private.zeroize();
    }
}

fn wipe_chain(chain: &mut Chain) {
    chain.sender_ratchet_key_private.zeroize();
    if let Some(key) = &mut chain.chain_key {
        key.key.zeroize();
    }
    for key in &mut chain.message_keys {
        wipe_message_key(key);
    }
}

fn wipe_message_key(key: &mut MessageKey) {
    key.cipher_key.zeroize();
    key.mac_key.zeroize();
    key.iv.zeroize();
}

/// X3DH as the initiator ("Alice"): starts a session from a peer's published
/// bundle. The signed prekey's signature is verified first; the peer's identity
/// is compared with `known_identity` (what the caller stored for this address)
/// under `policy`. On success the new session is the record's current state (an
/// older one is archived) and the caller saves the identity if it is new or
/// changed.
#[allow(clippy::too_many_arguments)]
pub fn process_prekey_bundle<R: CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    identity: &IdentityKeyPair,
    local_registration_id: u32,
    bundle: &PreKeyBundle,
    known_identity: Option<&PublicKey>,
    policy: IdentityPolicy,
    rng: &mut R,
) -> Result<IdentityChange, SignalError> {
    bundle.identity_key.verify(
        &bundle.signed_pre_key.serialize(),
        &bundle.signed_pre_key_signature,
    )?;
    let change = check_identity(known_identity, &bundle.identity_key, policy)?;

    let base = PrivateKey::generate(rng);
    let base_public = base.public_key();
    let their_signed = &bundle.signed_pre_key;
    let (root, receiving_chain) = x3dh_initiator(
        identity.private_key(),
        &base,
        &bundle.identity_key,
        their_signed,
        bundle.pre_key.as_ref().map(|(_, k)| k),
    )?;

    let sending = PrivateKey::generate(rng);
    let (root, sending_chain) = ratchet_root(&root, &sending.agree(their_signed)?);

    let state = SessionStructure {
        session_version: Some(u32::from(CIPHERTEXT_VERSION)),
        local_identity_public: identity.public_key().serialize().to_vec(),
        remote_identity_public: bundle.identity_key.serialize().to_vec(),
        root_key: root.to_vec(),
        previous_counter: Some(0),
        sender_chain: Some(sending_chain_of(
            &sending.public_key(),
            &sending,
            sending_chain,
        )),
        receiver_chains: vec![Chain {
            sender_ratchet_key: their_signed.serialize().to_vec(),
            sender_ratchet_key_private: Vec::new(),
            chain_key: Some(ChainKey {
                index: Some(0),
                key: receiving_chain.to_vec(),
            }),
            message_keys: Vec::new(),
        }],
        pending_key_exchange: None,
        pending_pre_key: Some(PendingPreKey {
            pre_key_id: bundle.pre_key.as_ref().map(|(id, _)| *id),
            base_key: base_public.serialize().to_vec(),
            signed_pre_key_id: Some(bundle.signed_pre_key_id as i32),
        }),
        remote_registration_id: Some(bundle.registration_id),
        local_registration_id: Some(local_registration_id),
        needs_refresh: Some(false),
        alice_base_key: base_public.serialize().to_vec(),
    };
    record.promote(state);
    Ok(change)
}

/// `HKDF(0×32, 0xFF×32 ‖ DH…, "WhisperText", 64)` → root key ‖ chain key.
fn derive_initial(secret: &mut Vec<u8>) -> ([u8; 32], [u8; 32]) {
    let mut okm = [0u8; 64];
    hkdf(None, secret, b"WhisperText", &mut okm);
    secret.zeroize();
    split64(okm)
}

/// X3DH as the initiator: DH(IKa, SPKb) ‖ DH(EKa, IKb) ‖ DH(EKa, SPKb)
/// [‖ DH(EKa, OPKb)] → (root key, the chain key of the responder's first
/// sending chain).
pub(crate) fn x3dh_initiator(
    identity: &PrivateKey,
    base: &PrivateKey,
    their_identity: &PublicKey,
    their_signed: &PublicKey,
    their_one_time: Option<&PublicKey>,
) -> Result<([u8; 32], [u8; 32]), SignalError> {
    let mut secret = Vec::with_capacity(32 * 5);
    secret.extend_from_slice(&DISCONTINUITY);
    secret.extend_from_slice(&identity.agree(their_signed)?);
    secret.extend_from_slice(&base.agree(their_identity)?);
    secret.extend_from_slice(&base.agree(their_signed)?);
    if let Some(one_time) = their_one_time {
        secret.extend_from_slice(&base.agree(one_time)?);
    }
    Ok(derive_initial(&mut secret))
}

/// X3DH as the responder, the mirror of [`x3dh_initiator`].
pub(crate) fn x3dh_responder(
    identity: &PrivateKey,
    signed: &PrivateKey,
    one_time: Option<&PrivateKey>,
    their_identity: &PublicKey,
    their_base: &PublicKey,
) -> Result<([u8; 32], [u8; 32]), SignalError> {
    let mut secret = Vec::with_capacity(32 * 5);
    secret.extend_from_slice(&DISCONTINUITY);
    secret.extend_from_slice(&signed.agree(their_identity)?);
    secret.extend_from_slice(&identity.agree(their_base)?);
    secret.extend_from_slice(&signed.agree(their_base)?);
    if let Some(one_time) = one_time {
        secret.extend_from_slice(&one_time.agree(their_base)?);
    }
    Ok(derive_initial(&mut secret))
}

fn sending_chain_of(public: &PublicKey, key: &PrivateKey, chain_key: [u8; 32]) -> Chain {
    Chain {
        sender_ratchet_key: public.serialize().to_vec(),
        sender_ratchet_key_private: key.bytes().to_vec(),
        chain_key: Some(ChainKey {
            index: Some(0),
            key: chain_key.to_vec(),
        }),
        message_keys: Vec::new(),
    }
}

/// An encrypted message for one peer device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiphertextMessage {
    /// A session-starting message (`<enc type="pkmsg">`): sent until the peer
    /// answers.
    PreKey(Vec<u8>),
    /// A ratchet message (`<enc type="msg">`).
    Signal(Vec<u8>),
}

impl CiphertextMessage {
    /// The bytes to send.
    pub fn serialized(&self) -> &[u8] {
        match self {
            CiphertextMessage::PreKey(b) | CiphertextMessage::Signal(b) => b,
        }
    }

    /// The `type` attribute of WhatsApp's `<enc>` element.
    pub fn enc_type(&self) -> &'static str {
        match self {
            CiphertextMessage::PreKey(_) => "pkmsg",
            CiphertextMessage::Signal(_) => "msg",
        }
    }
}

/// Encrypts `plaintext` with the current state and advances the sending chain.
pub fn encrypt(
    record: &mut SessionRecord,
    plaintext: &[u8],
) -> Result<CiphertextMessage, SignalError> {
    let state = record.current.as_mut().ok_or(SignalError::NoSession)?;
    let chain = state.sender_chain.as_mut().ok_or(SignalError::NoSession)?;
    let chain_key = chain
        .chain_key
        .as_mut()
        .ok_or(SignalError::InvalidRecord("no chain key"))?;
    let key = array32(&chain_key.key).ok_or(SignalError::InvalidRecord("chain key length"))?;
    let index = chain_key.index();
    let next_index = index
        .checked_add(1)
        .ok_or(SignalError::InvalidRecord("sending chain exhausted"))?;
    let ratchet_key = PublicKey::deserialize(&chain.sender_ratchet_key)
        .map_err(|_| SignalError::InvalidRecord("ratchet key"))?;

    let (mut seed, mut next) = chain_step(&key);
    let keys = MessageKeys::derive(&seed);
    seed.zeroize();
    let ciphertext = cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let message = SignalMessage::new(
        &keys.mac_key,
        ratchet_key,
        index,
        state.previous_counter(),
        ciphertext,
        &state.local_identity_public,
        &state.remote_identity_public,
    );

    let out = match &state.pending_pre_key {
        Some(pending) => {
            let base_key = PublicKey::deserialize(&pending.base_key)
                .map_err(|_| SignalError::InvalidRecord("pending base key"))?;
            let identity = PublicKey::deserialize(&state.local_identity_public)
                .map_err(|_| SignalError::InvalidRecord("local identity"))?;
            let pkmsg = PreKeySignalMessage::new(
                state.local_registration_id(),
                pending.pre_key_id,
                pending.signed_pre_key_id() as u32,
                base_key,
                identity,
                message,
            );
            CiphertextMessage::PreKey(pkmsg.serialized().to_vec())
        }
        None => CiphertextMessage::Signal(message.serialized().to_vec()),
    };
    // Nothing can fail past this point: advance the chain.
    let chain_key = state
        .sender_chain
        .as_mut()
        .and_then(|c| c.chain_key.as_mut())
        .ok_or(SignalError::InvalidRecord("no chain key"))?;
    chain_key.key.copy_from_slice(&next);
    chain_key.index = Some(next_index);
    next.zeroize();
    Ok(out)
}

/// Decrypts a ratchet message (`<enc type="msg">`). The current state is tried
/// first, then the archived ones (a state that decrypts becomes current). A
/// duplicate is reported as [`SignalError::DuplicateMessage`] at once.
pub fn decrypt<R: CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    message: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SignalError> {
    let message = SignalMessage::deserialize(message)?;
    decrypt_message(record, &message, rng)
}

/// [`decrypt`] of a parsed message.
pub fn decrypt_message<R: CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    message: &SignalMessage,
    rng: &mut R,
) -> Result<Vec<u8>, SignalError> {
    let mut first_error = None;
    if let Some(state) = &mut record.current {
        match plan_decrypt(state, message, rng) {
            Ok(plan) => return Ok(plan.apply(state)),
            Err(e @ SignalError::DuplicateMessage { .. }) => return Err(e),
            Err(e) => first_error = Some(e),
        }
    }
    for i in 0..record.previous.len() {
        match plan_decrypt(&record.previous[i], message, rng) {
            Ok(plan) => {
                let mut state = record.previous.remove(i);
                let plaintext = plan.apply(&mut state);
                record.promote(state);
                return Ok(plaintext);
            }
            Err(e @ SignalError::DuplicateMessage { .. }) => return Err(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(SignalError::NoSession))
}

/// What [`decrypt_prekey_message`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyDecryption {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The one-time prekey this message consumed: remove it from the store in
    /// the same write as the session. `None` when the message continued a
    /// session that already existed.
    pub used_pre_key_id: Option<u32>,
    /// How the sender's identity compares with `known_identity`.
    pub identity: IdentityChange,
}

/// Decrypts a session-starting message (`<enc type="pkmsg">`), X3DH as the
/// responder ("Bob"). If a state with the message's base key already exists (the
/// initiator sent several pkmsgs before our first answer) that state continues
/// and no prekey is needed; otherwise `signed_pre_key` (and `pre_key`, when the
/// message names one) must be the ones the message names, loaded by the caller
/// from [`PreKeySignalMessage::signed_pre_key_id`] and
/// [`PreKeySignalMessage::pre_key_id`].
#[allow(clippy::too_many_arguments)]
pub fn decrypt_prekey_message<R: CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    identity: &IdentityKeyPair,
    local_registration_id: u32,
    message: &PreKeySignalMessage,
    signed_pre_key: Option<&SignedPreKeyRecord>,
    pre_key: Option<&PreKeyRecord>,
    known_identity: Option<&PublicKey>,
    policy: IdentityPolicy,
    rng: &mut R,
) -> Result<PreKeyDecryption, SignalError> {
    let change = check_identity(known_identity, message.identity_key(), policy)?;
    let base_key = message.base_key().serialize();

    if let Some(found) = record.find_base_key(&base_key) {
        let plaintext = match found {
            None => {
                let Some(state) = record.current.as_mut() else {
                    return Err(SignalError::NoSession);
                };
                let plan = plan_decrypt(state, message.message(), rng)?;
                plan.apply(state)
            }
            Some(i) => {
                let plan = plan_decrypt(&record.previous[i], message.message(), rng)?;
                let mut state = record.previous.remove(i);
                let plaintext = plan.apply(&mut state);
                record.promote(state);
                plaintext
            }
        };
        return Ok(PreKeyDecryption {
            plaintext,
            used_pre_key_id: None,
            identity: change,
        });
    }

    let signed = signed_pre_key
        .filter(|k| k.id() == message.signed_pre_key_id())
        .ok_or(SignalError::UnknownSignedPreKeyId(
            message.signed_pre_key_id(),
        ))?;
    let one_time = match message.pre_key_id() {
        Some(id) => Some(
            pre_key
                .filter(|k| k.id() == id)
                .ok_or(SignalError::UnknownPreKeyId(id))?,
        ),
        None => None,
    };

    let (root, sending_chain) = x3dh_responder(
        identity.private_key(),
        signed.private_key(),
        one_time.map(|k| k.private_key()),
        message.identity_key(),
        message.base_key(),
    )?;

    let mut state = SessionStructure {
        session_version: Some(u32::from(CIPHERTEXT_VERSION)),
        local_identity_public: identity.public_key().serialize().to_vec(),
        remote_identity_public: message.identity_key().serialize().to_vec(),
        root_key: root.to_vec(),
        previous_counter: Some(0),
        sender_chain: Some(sending_chain_of(
            signed.public_key(),
            signed.private_key(),
            sending_chain,
        )),
        receiver_chains: Vec::new(),
        pending_key_exchange: None,
        pending_pre_key: None,
        remote_registration_id: Some(message.registration_id()),
        local_registration_id: Some(local_registration_id),
        needs_refresh: Some(false),
        alice_base_key: base_key.to_vec(),
    };
    let plaintext = match plan_decrypt(&state, message.message(), rng) {
        Ok(plan) => plan.apply(&mut state),
        Err(e) => {
            wipe_state(&mut state);
            return Err(e);
        }
    };
    record.promote(state);
    Ok(PreKeyDecryption {
        plaintext,
        used_pre_key_id: message.pre_key_id(),
        identity: change,
    })
}

/// A decryption computed on a read-only state, applied only on success.
struct Plan {
    plaintext: Vec<u8>,
    step: Step,
}

enum Step {
    /// The key was stored when the message was skipped.
    Stored { chain: usize, key: usize },
    /// An existing receiving chain moves forward.
    Advance {
        chain: usize,
        next: ChainKey,
        skipped: Vec<MessageKey>,
    },
    /// The peer ratcheted: a new receiving chain and a new sending chain.
    NewChain {
        receiving: Chain,
        root_key: [u8; 32],
        sending: Chain,
        previous_counter: u32,
    },
}

impl Step {
    /// Wipes the keys of a plan that will not be applied.
    fn wipe(mut self) {
        match &mut self {
            Step::Stored { .. } => {}
            Step::Advance { next, skipped, .. } => {
                next.key.zeroize();
                skipped.iter_mut().for_each(wipe_message_key);
            }
            Step::NewChain {
                receiving,
                root_key,
                sending,
                ..
            } => {
                wipe_chain(receiving);
                wipe_chain(sending);
                root_key.zeroize();
            }
        }
    }
}

impl Plan {
    fn apply(self, state: &mut SessionStructure) -> Vec<u8> {
        match self.step {
            Step::Stored { chain, key } => {
                if let Some(chain) = state.receiver_chains.get_mut(chain)
                    && key < chain.message_keys.len()
                {
                    let mut used = chain.message_keys.remove(key);
                    wipe_message_key(&mut used);
                }
            }
            Step::Advance {
                chain,
                next,
                skipped,
            } => {
                if let Some(chain) = state.receiver_chains.get_mut(chain) {
                    if let Some(mut old) = chain.chain_key.replace(next) {
                        old.key.zeroize();
                    }
                    add_skipped(chain, skipped);
                }
            }
            Step::NewChain {
                receiving,
                root_key,
                sending,
                previous_counter,
            } => {
                state.receiver_chains.push(receiving);
                while state.receiver_chains.len() > MAX_RECEIVER_CHAINS {
                    let mut old = state.receiver_chains.remove(0);
                    wipe_chain(&mut old);
                }
                state.root_key.zeroize();
                state.root_key = root_key.to_vec();
                state.previous_counter = Some(previous_counter);
                if let Some(mut old) = state.sender_chain.replace(sending) {
                    wipe_chain(&mut old);
                }
            }
        }
        state.pending_pre_key = None;
        self.plaintext
    }
}

/// Adds skipped keys (oldest first in `skipped`) newest first, as libsignal keeps
/// them, then drops the lowest counters beyond the limit (by counter, not by
/// position: other implementations keep the list in other orders).
fn add_skipped(chain: &mut Chain, skipped: Vec<MessageKey>) {
    if !skipped.is_empty() {
        chain.message_keys.splice(0..0, skipped.into_iter().rev());
    }
    trim_message_keys(chain);
}

/// Keeps the [`MAX_MESSAGE_KEYS`] highest counters of a chain.
fn trim_message_keys(chain: &mut Chain) {
    if chain.message_keys.len() <= MAX_MESSAGE_KEYS {
        return;
    }
    chain
        .message_keys
        .sort_by_key(|k| std::cmp::Reverse(k.index()));
    for mut old in chain.message_keys.drain(MAX_MESSAGE_KEYS..) {
        wipe_message_key(&mut old);
    }
}

/// Steps a chain from `(index, key)` to `counter`, returning the message keys at
/// `counter`, the skipped keys before it and the next chain key.
fn advance_chain(
    index: u32,
    key: [u8; 32],
    counter: u32,
) -> Result<(MessageKeys, Vec<MessageKey>, ChainKey), SignalError> {
    if counter - index > MAX_FORWARD_JUMPS {
        return Err(SignalError::TooFarAhead {
            chain_index: index,
            counter,
        });
    }
    let mut skipped = Vec::with_capacity((counter - index) as usize);
    let mut key = key;
    for i in index..counter {
        let (mut seed, next) = chain_step(&key);
        let keys = MessageKeys::derive(&seed);
        seed.zeroize();
        skipped.push(MessageKey {
            index: Some(i),
            cipher_key: keys.cipher_key.to_vec(),
            mac_key: keys.mac_key.to_vec(),
            iv: keys.iv.to_vec(),
        });
        key.zeroize();
        key = next;
    }
    let (mut seed, mut next) = chain_step(&key);
    key.zeroize();
    let keys = MessageKeys::derive(&seed);
    seed.zeroize();
    let next_key = ChainKey {
        index: Some(counter.wrapping_add(1)),
        key: next.to_vec(),
    };
    next.zeroize();
    Ok((keys, skipped, next_key))
}

fn stored_keys(key: &MessageKey) -> Result<MessageKeys, SignalError> {
    let bad = || SignalError::InvalidRecord("message key length");
    Ok(MessageKeys {
        cipher_key: array32(&key.cipher_key).ok_or_else(bad)?,
        mac_key: array32(&key.mac_key).ok_or_else(bad)?,
        iv: key.iv.as_slice().try_into().map_err(|_| bad())?,
    })
}

fn plan_decrypt<R: CryptoRng + ?Sized>(
    state: &SessionStructure,
    message: &SignalMessage,
    rng: &mut R,
) -> Result<Plan, SignalError> {
    let Some(sender_chain) = &state.sender_chain else {
        return Err(SignalError::NoSession);
    };
    if state.session_version() != u32::from(CIPHERTEXT_VERSION) {
        return Err(SignalError::UnsupportedVersion(
            u8::try_from(state.session_version()).unwrap_or(u8::MAX),
        ));
    }
    let their = message.ratchet_key().serialize();
    let counter = message.counter();

    let chain_pos = state
        .receiver_chains
        .iter()
        .position(|c| c.sender_ratchet_key == their);
    let (keys, step) = match chain_pos {
        Some(pos) => {
            let chain = &state.receiver_chains[pos];
            let chain_key = chain
                .chain_key
                .as_ref()
                .ok_or(SignalError::InvalidRecord("no chain key"))?;
            if counter < chain_key.index() {
                let Some(k) = chain.message_keys.iter().position(|k| k.index() == counter) else {
                    return Err(SignalError::DuplicateMessage {
                        chain_index: chain_key.index(),
                        counter,
                    });
                };
                (
                    stored_keys(&chain.message_keys[k])?,
                    Step::Stored { chain: pos, key: k },
                )
            } else {
                let key = array32(&chain_key.key)
                    .ok_or(SignalError::InvalidRecord("chain key length"))?;
                let (keys, skipped, next) = advance_chain(chain_key.index(), key, counter)?;
                (
                    keys,
                    Step::Advance {
                        chain: pos,
                        next,
                        skipped,
                    },
                )
            }
        }
        None => {
            if counter > MAX_FORWARD_JUMPS {
                return Err(SignalError::TooFarAhead {
                    chain_index: 0,
                    counter,
                });
            }
            let our_private = PrivateKey::from_bytes(
                array32(&sender_chain.sender_ratchet_key_private)
                    .ok_or(SignalError::InvalidRecord("ratchet private key length"))?,
            );
            let sending_index = sender_chain.chain_key.as_ref().map_or(0, |k| k.index());
            let (root, receiving_key) =
                ratchet_root(&state.root_key, &our_private.agree(message.ratchet_key())?);
            let new_sending = PrivateKey::generate(rng);
            let (root, sending_key) =
                ratchet_root(&root, &new_sending.agree(message.ratchet_key())?);
            let (keys, skipped, next) = advance_chain(0, receiving_key, counter)?;
            let mut receiving = Chain {
                sender_ratchet_key: their.to_vec(),
                sender_ratchet_key_private: Vec::new(),
                chain_key: Some(next),
                message_keys: Vec::new(),
            };
            add_skipped(&mut receiving, skipped);
            let step = Step::NewChain {
                receiving,
                root_key: root,
                sending: sending_chain_of(&new_sending.public_key(), &new_sending, sending_key),
                previous_counter: sending_index.max(1) - 1,
            };
            (keys, step)
        }
    };

    let result = if message.verify_mac(
        &keys.mac_key,
        &state.remote_identity_public,
        &state.local_identity_public,
    ) {
        cbc_decrypt(&keys.cipher_key, &keys.iv, message.ciphertext())
    } else {
        Err(SignalError::BadMac)
    };
    match result {
        Ok(plaintext) => Ok(Plan { plaintext, step }),
        Err(e) => {
            step.wipe();
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::crypto::{MessageKeys, chain_step};

    fn hex32(v: &serde_json::Value) -> [u8; 32] {
        let bytes = hex::decode(v.as_str().expect("hex string")).expect("hex");
        bytes.try_into().expect("32 bytes")
    }

    fn public(v: &serde_json::Value) -> PublicKey {
        PublicKey::deserialize(&hex::decode(v["public_33"].as_str().expect("hex")).expect("hex"))
            .expect("33-byte key")
    }

    fn private(v: &serde_json::Value) -> PrivateKey {
        PrivateKey::from_bytes(hex32(&v["private_32"]))
    }

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/data/signal_vectors.json")).expect("json")
    }

    /// libsignal's `test_chain_key_derivation` (V3).
    #[test]
    fn chain_key_derivation_matches_libsignal() {
        let v = &vectors()["chain_key"];
        let (seed, next) = chain_step(&hex32(&v["key"]));
        let keys = MessageKeys::derive(&seed);
        assert_eq!(keys.cipher_key, hex32(&v["cipher_key"]));
        assert_eq!(keys.mac_key, hex32(&v["mac_key"]));
        assert_eq!(hex::encode(keys.iv), v["iv"].as_str().expect("iv"));
        assert_eq!(next, hex32(&v["next_chain_key"]));
    }

    /// libsignal's `test_ratcheting_session_as_bob` / `_as_alice` (3 DHs, no
    /// one-time prekey): both roles derive the same chain key, the one upstream
    /// asserts.
    #[test]
    fn x3dh_matches_libsignal_in_both_roles() {
        let v = &vectors()["x3dh"];
        let expected = hex32(&v["expected_chain_key"]);
        let (root_a, chain_a) = x3dh_initiator(
            &private(&v["alice_identity"]),
            &private(&v["alice_base"]),
            &public(&v["bob_identity"]),
            &public(&v["bob_signed_prekey"]),
            None,
        )
        .expect("alice");
        let (root_b, chain_b) = x3dh_responder(
            &private(&v["bob_identity"]),
            &private(&v["bob_signed_prekey"]),
            None,
            &public(&v["alice_identity"]),
            &public(&v["alice_base"]),
        )
        .expect("bob");
        assert_eq!(chain_a, expected);
        assert_eq!(chain_b, expected);
        assert_eq!(root_a, root_b);
        assert_eq!(root_a, hex32(&v["computed_root_key"]));
    }
}
