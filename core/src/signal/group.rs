//! Sender keys: one symmetric chain per (group, sender device), handed to the
//! members in [`SenderKeyDistributionMessage`]s, then one signed
//! [`SenderKeyMessage`] per group message.

use std::fmt;

use prost::Message as _;
use rand_core::CryptoRng;
use zeroize::Zeroize;

use super::crypto::{array32, cbc_decrypt, cbc_encrypt, chain_step, sender_message_keys};
use super::keys::{PrivateKey, PublicKey, private_from};
use super::proto::sender_key_state_structure::{
    SenderChainKey, SenderMessageKey, SenderSigningKey,
};
use super::proto::{SenderKeyRecordStructure, SenderKeyStateStructure};
use super::wire::{SenderKeyDistributionMessage, SenderKeyMessage};
use super::{MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS, MAX_SENDER_KEY_STATES, SignalError};

/// The sender-key states of one (group, sender device), newest first. Its bytes
/// are libsignal's `SenderKeyRecordStructure`.
#[derive(Clone, Default, PartialEq)]
pub struct SenderKeyRecord {
    states: Vec<SenderKeyStateStructure>,
}

impl SenderKeyRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a stored record and checks it against the limits.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let record = SenderKeyRecordStructure::decode(bytes)
            .map_err(|_| SignalError::InvalidRecord("sender key record protobuf"))?;
        // Another implementation may keep more: the oldest states and the
        // lowest skipped iterations go first.
        let mut states = record.sender_key_states;
        while states.len() > MAX_SENDER_KEY_STATES {
            if let Some(mut old) = states.pop() {
                wipe_state(&mut old);
            }
        }
        for state in &mut states {
            trim_message_keys(state);
        }
        Ok(SenderKeyRecord { states })
    }

    /// The record's bytes.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for state in &self.states {
            prost::encoding::message::encode(1, state, &mut out);
        }
        out
    }

    /// Whether the record holds no state.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The chain id of the newest state.
    pub fn chain_id(&self) -> Option<u32> {
        self.states.first().map(|s| s.sender_key_id())
    }
}

impl Drop for SenderKeyRecord {
    fn drop(&mut self) {
        for state in &mut self.states {
            wipe_state(state);
        }
    }
}

impl fmt::Debug for SenderKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyRecord")
            .field(
                "chain_ids",
                &self
                    .states
                    .iter()
                    .map(|s| s.sender_key_id)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn wipe_state(state: &mut SenderKeyStateStructure) {
    if let Some(chain) = &mut state.sender_chain_key {
        chain.seed.zeroize();
    }
    if let Some(signing) = &mut state.sender_signing_key {
        signing.private.zeroize();
    }
    for key in &mut state.sender_message_keys {
        key.seed.zeroize();
    }
}

/// Our own sender key for a group, as a distribution message for the members:
/// the record's newest state, created (random 31-bit chain id, random chain key,
/// new signing key) when the record is empty.
pub fn create_sender_key_distribution<R: CryptoRng + ?Sized>(
    record: &mut SenderKeyRecord,
    rng: &mut R,
) -> Result<SenderKeyDistributionMessage, SignalError> {
    if record.states.is_empty() {
        let mut id = [0u8; 4];
        rng.fill_bytes(&mut id);
        let chain_id = u32::from_le_bytes(id) >> 1;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let signing = PrivateKey::generate(rng);
        record.states.push(SenderKeyStateStructure {
            sender_key_id: Some(chain_id),
            sender_chain_key: Some(SenderChainKey {
                iteration: Some(0),
                seed: seed.to_vec(),
            }),
            sender_signing_key: Some(SenderSigningKey {
                public: signing.public_key().serialize().to_vec(),
                private: signing.bytes().to_vec(),
            }),
            sender_message_keys: Vec::new(),
        });
        seed.zeroize();
    }
    let state = &record.states[0];
    let (iteration, seed) = chain_of(state)?;
    let signing = signing_public(state)?;
    Ok(SenderKeyDistributionMessage::new(
        state.sender_key_id(),
        iteration,
        seed,
        signing,
    ))
}

/// Adds a member's sender key (from their distribution message) to the record of
/// (group, that member). A distribution of a chain the record already has with
/// the same signing key keeps the existing state (and its position in the chain).
pub fn process_sender_key_distribution(
    record: &mut SenderKeyRecord,
    distribution: &SenderKeyDistributionMessage,
) {
    let id = distribution.chain_id();
    let signing = distribution.signing_key().serialize();
    let existing = record.states.iter().position(|s| {
        s.sender_key_id() == id
            && s.sender_signing_key
                .as_ref()
                .is_some_and(|k| k.public == signing)
    });
    let state = match existing {
        Some(pos) => record.states.remove(pos),
        None => SenderKeyStateStructure {
            sender_key_id: Some(id),
            sender_chain_key: Some(SenderChainKey {
                iteration: Some(distribution.iteration()),
                seed: distribution.chain_key().to_vec(),
            }),
            sender_signing_key: Some(SenderSigningKey {
                public: signing.to_vec(),
                private: Vec::new(),
            }),
            sender_message_keys: Vec::new(),
        },
    };
    // A chain id names one chain: a different key under the same id replaces it.
    record.states.retain_mut(|s| {
        let keep = s.sender_key_id() != id;
        if !keep {
            wipe_state(s);
        }
        keep
    });
    record.states.insert(0, state);
    while record.states.len() > MAX_SENDER_KEY_STATES {
        if let Some(mut old) = record.states.pop() {
            wipe_state(&mut old);
        }
    }
}

/// Keeps the [`MAX_MESSAGE_KEYS`] highest iterations of a state (by
/// iteration, not by position: other implementations keep other orders).
fn trim_message_keys(state: &mut SenderKeyStateStructure) {
    let keys = &mut state.sender_message_keys;
    if keys.len() <= MAX_MESSAGE_KEYS {
        return;
    }
    keys.sort_by_key(|k| k.iteration());
    let excess = keys.len() - MAX_MESSAGE_KEYS;
    for mut old in keys.drain(..excess) {
        old.seed.zeroize();
    }
}

fn chain_of(state: &SenderKeyStateStructure) -> Result<(u32, [u8; 32]), SignalError> {
    let chain = state
        .sender_chain_key
        .as_ref()
        .ok_or(SignalError::InvalidRecord("no sender chain key"))?;
    let seed = array32(&chain.seed).ok_or(SignalError::InvalidRecord("sender chain key length"))?;
    Ok((chain.iteration(), seed))
}

fn signing_public(state: &SenderKeyStateStructure) -> Result<PublicKey, SignalError> {
    let signing = state
        .sender_signing_key
        .as_ref()
        .ok_or(SignalError::InvalidRecord("no sender signing key"))?;
    PublicKey::deserialize(&signing.public).map_err(|_| SignalError::InvalidRecord("signing key"))
}

/// Encrypts a group message with our newest sender key and signs it; the chain
/// moves one step.
pub fn group_encrypt<R: CryptoRng + ?Sized>(
    record: &mut SenderKeyRecord,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<SenderKeyMessage, SignalError> {
    let state = record.states.first_mut().ok_or(SignalError::NoSession)?;
    let (iteration, seed) = chain_of(state)?;
    let next_iteration = iteration
        .checked_add(1)
        .ok_or(SignalError::InvalidRecord("sender chain exhausted"))?;
    let private = state
        .sender_signing_key
        .as_ref()
        .filter(|k| !k.private.is_empty())
        .ok_or(SignalError::InvalidRecord("no private signing key"))?;
    let private = private_from(&private.private)?;

    let (mut message_seed, mut next) = chain_step(&seed);
    let (iv, mut key) = sender_message_keys(&message_seed);
    message_seed.zeroize();
    let ciphertext = cbc_encrypt(&key, &iv, plaintext);
    key.zeroize();
    let message = SenderKeyMessage::signed(state.sender_key_id(), iteration, ciphertext, |data| {
        private.sign(data, rng)
    });
    if let Some(chain) = &mut state.sender_chain_key {
        chain.seed.copy_from_slice(&next);
        chain.iteration = Some(next_iteration);
    }
    next.zeroize();
    Ok(message)
}

/// Decrypts a group message from the sender whose record this is. The
/// signature is checked first; a failure leaves the record unchanged.
pub fn group_decrypt(record: &mut SenderKeyRecord, message: &[u8]) -> Result<Vec<u8>, SignalError> {
    let message = SenderKeyMessage::deserialize(message)?;
    let chain_id = message.chain_id();
    let pos = record
        .states
        .iter()
        .position(|s| s.sender_key_id() == chain_id)
        .ok_or(SignalError::NoSenderKey { chain_id })?;
    let state = &record.states[pos];
    message.verify(&signing_public(state)?)?;

    let (index, seed) = chain_of(state)?;
    let counter = message.iteration();
    enum Step {
        Stored(usize),
        Advance {
            skipped: Vec<SenderMessageKey>,
            next: [u8; 32],
        },
    }
    let (mut message_seed, step) = if counter < index {
        let Some(k) = state
            .sender_message_keys
            .iter()
            .position(|k| k.iteration() == counter)
        else {
            return Err(SignalError::DuplicateMessage {
                chain_index: index,
                counter,
            });
        };
        let stored = array32(&state.sender_message_keys[k].seed)
            .ok_or(SignalError::InvalidRecord("sender message key length"))?;
        (stored, Step::Stored(k))
    } else {
        if counter - index > MAX_FORWARD_JUMPS {
            return Err(SignalError::TooFarAhead {
                chain_index: index,
                counter,
            });
        }
        let mut skipped = Vec::with_capacity((counter - index) as usize);
        let mut chain = seed;
        for i in index..counter {
            let (s, next) = chain_step(&chain);
            skipped.push(SenderMessageKey {
                iteration: Some(i),
                seed: s.to_vec(),
            });
            chain.zeroize();
            chain = next;
        }
        let (s, next) = chain_step(&chain);
        chain.zeroize();
        (s, Step::Advance { skipped, next })
    };
    let (iv, mut key) = sender_message_keys(&message_seed);
    message_seed.zeroize();
    let result = cbc_decrypt(&key, &iv, message.ciphertext());
    key.zeroize();
    let plaintext = match result {
        Ok(p) => p,
        Err(e) => {
            if let Step::Advance {
                mut skipped,
                mut next,
            } = step
            {
                skipped.iter_mut().for_each(|k| k.seed.zeroize());
                next.zeroize();
            }
            return Err(e);
        }
    };

    let state = &mut record.states[pos];
    match step {
        Step::Stored(k) => {
            let mut used = state.sender_message_keys.remove(k);
            used.seed.zeroize();
        }
        Step::Advance { skipped, mut next } => {
            state.sender_message_keys.extend(skipped);
            trim_message_keys(state);
            if let Some(chain) = &mut state.sender_chain_key {
                chain.seed.copy_from_slice(&next);
                chain.iteration = Some(counter.wrapping_add(1));
            }
            next.zeroize();
        }
    }
    Ok(plaintext)
}
