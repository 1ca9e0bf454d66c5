//! The Signal protocol (libsignal message version 3, no post-quantum keys), as
//! WhatsApp speaks it: pure, synchronous and store-free.
//!
//! Records are plain values you load from bytes and save back to bytes; the
//! operations are functions on `&mut` records with an injected RNG. Nothing here
//! reads a store, a clock or the OS random source, so the same inputs and the
//! same RNG seed always give the same bytes.
//!
//! | what | functions |
//! |---|---|
//! | keys | [`IdentityKeyPair`], [`PreKeyRecord`], [`SignedPreKeyRecord`], [`PreKeyBundle`] |
//! | 1:1 sessions | [`process_prekey_bundle`] (X3DH as the initiator), [`encrypt`], [`decrypt`], [`decrypt_prekey_message`] (X3DH as the responder) |
//! | groups | [`SenderKeyRecord`], [`create_sender_key_distribution`], [`process_sender_key_distribution`], [`group_encrypt`], [`group_decrypt`] |
//! | wire messages | [`SignalMessage`], [`PreKeySignalMessage`], [`SenderKeyMessage`], [`SenderKeyDistributionMessage`] |
//!
//! Every record serializes as libsignal's storage protobuf (`RecordStructure`,
//! `SenderKeyRecordStructure`, …), so sessions move between this crate and other
//! libsignal-based clients. Records read from bytes are checked (key lengths,
//! the limits below) before use: a damaged record is an error, never a panic.
//!
//! **A failed operation leaves its record unchanged**: decryption is computed on
//! a read-only view and applied only once the MAC and the padding checked out.
//! Private keys, chain keys and message keys are zeroized when dropped and never
//! appear in `Debug` output.
//!
//! ```
//! use rand_core::SeedableRng;
//! use wa_core::signal::*;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! // Bob publishes a bundle.
//! let bob_identity = IdentityKeyPair::generate(&mut rng);
//! let bob_signed = SignedPreKeyRecord::generate(1, &bob_identity, 0, &mut rng);
//! let bob_prekey = PreKeyRecord::generate(31, &mut rng);
//! let bundle = PreKeyBundle {
//!     registration_id: 42,
//!     device_id: 0,
//!     pre_key: Some((bob_prekey.id(), *bob_prekey.public_key())),
//!     signed_pre_key_id: bob_signed.id(),
//!     signed_pre_key: *bob_signed.public_key(),
//!     signed_pre_key_signature: *bob_signed.signature(),
//!     identity_key: *bob_identity.public_key(),
//! };
//!
//! // Alice starts a session from it and encrypts.
//! let alice_identity = IdentityKeyPair::generate(&mut rng);
//! let mut alice = SessionRecord::new();
//! process_prekey_bundle(&mut alice, &alice_identity, 7, &bundle, None, IdentityPolicy::AcceptChanged, &mut rng)?;
//! let CiphertextMessage::PreKey(pkmsg) = encrypt(&mut alice, b"hi Bob")? else { unreachable!() };
//!
//! // Bob answers from his prekeys.
//! let message = PreKeySignalMessage::deserialize(&pkmsg)?;
//! let mut bob = SessionRecord::new();
//! let got = decrypt_prekey_message(
//!     &mut bob, &bob_identity, 42, &message, Some(&bob_signed), Some(&bob_prekey),
//!     None, IdentityPolicy::AcceptChanged, &mut rng,
//! )?;
//! assert_eq!(got.plaintext, b"hi Bob");
//! assert_eq!(got.used_pre_key_id, Some(31)); // remove it from the store
//!
//! // From now on both sides use plain ratchet messages.
//! let CiphertextMessage::Signal(msg) = encrypt(&mut bob, b"hi Alice")? else { unreachable!() };
//! assert_eq!(decrypt(&mut alice, &msg, &mut rng)?, b"hi Alice");
//! let bytes = alice.serialize(); // save it
//! assert_eq!(SessionRecord::deserialize(&bytes)?.serialize(), bytes);
//! # Ok::<(), SignalError>(())
//! ```

mod crypto;
mod group;
mod keys;
pub mod proto;
mod session;
mod wire;

pub use group::{
    SenderKeyRecord, create_sender_key_distribution, group_decrypt, group_encrypt,
    process_sender_key_distribution,
};
pub use keys::{
    IdentityKeyPair, PreKeyBundle, PreKeyRecord, PrivateKey, PublicKey, SignedPreKeyRecord,
};
pub use session::{
    CiphertextMessage, IdentityChange, IdentityPolicy, PreKeyDecryption, SessionRecord, decrypt,
    decrypt_message, decrypt_prekey_message, encrypt, process_prekey_bundle,
};
pub use wire::{
    PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage, SignalMessage,
};

/// The message version this crate speaks (3: Curve25519, no post-quantum keys).
pub const CIPHERTEXT_VERSION: u8 = 3;
/// Most message keys a receiving chain (or a sender-key state) may skip in one
/// step; a message further ahead is refused as [`SignalError::TooFarAhead`].
pub const MAX_FORWARD_JUMPS: u32 = 2_000;
/// Most skipped message keys kept per chain (oldest dropped first).
pub const MAX_MESSAGE_KEYS: usize = 2_000;
/// Most receiving chains kept per session state (oldest dropped first).
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// Most archived session states kept per record (oldest dropped first).
pub const MAX_ARCHIVED_STATES: usize = 40;
/// Most sender-key states kept per (group, sender) (oldest dropped first).
pub const MAX_SENDER_KEY_STATES: usize = 5;

/// Why a Signal operation failed. The record it was given is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// There is no session (or sender key) to encrypt with or decrypt for.
    #[error("no session")]
    NoSession,
    /// No sender-key state with the message's chain id.
    #[error("no sender key state for chain {chain_id}")]
    NoSenderKey {
        /// The chain id the message names.
        chain_id: u32,
    },
    /// A message is malformed (missing field, bad length, bad key).
    #[error("invalid message: {0}")]
    InvalidMessage(&'static str),
    /// A stored record does not decode or breaks an invariant.
    #[error("invalid record: {0}")]
    InvalidRecord(&'static str),
    /// A key is not 33 bytes with the `0x05` type byte (or not 32 bytes raw).
    #[error("invalid key")]
    InvalidKey,
    /// The message's key was already used: a duplicate or a replay.
    #[error("duplicate message: counter {counter}, chain already at {chain_index}")]
    DuplicateMessage {
        /// Where the receiving chain is.
        chain_index: u32,
        /// The counter (or iteration) of the message.
        counter: u32,
    },
    /// The message skips more keys than [`MAX_FORWARD_JUMPS`].
    #[error("message too far ahead: counter {counter}, chain at {chain_index}")]
    TooFarAhead {
        /// Where the receiving chain is.
        chain_index: u32,
        /// The counter (or iteration) of the message.
        counter: u32,
    },
    /// The pkmsg names a one-time prekey the caller did not provide.
    #[error("unknown prekey id {0}")]
    UnknownPreKeyId(u32),
    /// The pkmsg names a signed prekey the caller did not provide.
    #[error("unknown signed prekey id {0}")]
    UnknownSignedPreKeyId(u32),
    /// The message MAC does not match.
    #[error("bad MAC")]
    BadMac,
    /// A signature (signed prekey, sender-key message) does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The remote identity changed and the policy refuses changes.
    #[error("untrusted identity")]
    UntrustedIdentity,
    /// The message has a version other than 3.
    #[error("unsupported message version {0}")]
    UnsupportedVersion(u8),
    /// A key agreement produced the all-zero secret (a low-order public key).
    #[error("key agreement with a low-order key")]
    LowOrderKey,
}
