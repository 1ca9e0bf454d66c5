//! The Noise layer: the WhatsApp XX handshake and the transport cipher
//! (docs/protocol.md §2).
//!
//! # Layers
//!
//! - [`SymmetricState`]: the generic Noise symmetric state for
//!   `Noise_XX_25519_AESGCM_SHA256` (MixHash, MixKey with HKDF-SHA256,
//!   EncryptAndHash / DecryptAndHash with AES-256-GCM and `aad = h`, Split).
//! - [`xx`]: the XX pattern as typed states for both sides, without wire framing.
//!   Checked against the standard cacophony/snow vectors.
//! - [`ClientHandshake`] / [`ServerHandshake`]: the WhatsApp handshake — protobuf
//!   [`HandshakeMessage`](crate::proto::HandshakeMessage)s, the message-1
//!   deviation, and the certificate chain check ([`crate::cert`]).
//! - [`NoiseTransport`]: the transport cipher after Split.
//!
//! # The client flow
//!
//! ```text
//! h = ck = "Noise_XX_25519_AESGCM_SHA256\0\0\0\0"; MixHash(57 41 06 03)
//! ClientHello   → MixHash(e)                                   (no MixHash of an empty payload: §2.3a)
//! ServerHello   ← MixHash(re); MixKey(DH(e,re)); rs = DecryptAndHash(static);
//!                 MixKey(DH(e,rs)); cert = DecryptAndHash(payload); verify cert against rs
//! ClientFinish  → EncryptAndHash(s) [nonce 1]; MixKey(DH(s,re)); EncryptAndHash(ClientPayload)
//! Split         → client writes with k₁, reads with k₂; counters from 0, AAD empty
//! ```
//!
//! Every state is named after what it expects next and consumes itself
//! ([`ExpectServerHello`] → [`SendClientFinish`] → [`NoiseTransport`]), so the
//! steps cannot be reordered. Nothing here reads a clock or the OS random source:
//! key pairs come from the caller ([`KeyPair::generate`] takes the RNG) and the
//! certificate check takes the time as an argument.
//!
//! All peer input is checked: any malformed, truncated or altered message yields
//! a [`NoiseError`], never a panic.

mod handshake;
mod symmetric;
mod transport;
pub mod xx;

use crate::cert::CertError;

pub use handshake::{
    ClientFinished, ClientHandshake, ExpectClientFinish, ExpectClientHello, ExpectServerHello,
    SendClientFinish, ServerHandshake,
};
pub use symmetric::{HASH_LEN, SymmetricState};
pub use transport::{CipherBuffer, NoiseTransport};

/// `"Noise_XX_25519_AESGCM_SHA256"` padded with 4 NUL bytes to 32 bytes: the
/// protocol name, and therefore `h₀` and `ck₀` (docs/protocol.md §2.1).
pub const NOISE_XX_PROTOCOL_NAME: [u8; 32] = *b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

/// Length of an AES-GCM tag.
pub const TAG_LEN: usize = 16;

/// The 12-byte AES-GCM nonce for counter `n`: 8 zero bytes, then `n` as a
/// big-endian u32 (docs/protocol.md §2.5). For every `n < 2³²` this equals the Noise
/// spec's 4 zero bytes plus a big-endian u64. Shared by the handshake's
/// symmetric state and the transport cipher, below both.
pub(crate) fn nonce(n: u32) -> aes_gcm::aead::Nonce<aes_gcm::Aes256Gcm> {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&n.to_be_bytes());
    iv.into()
}

/// Which side of the handshake a state belongs to; decides which split key
/// writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that sends message 1 (the client).
    Initiator,
    /// The side that answers (the server).
    Responder,
}

/// Errors of the Noise layer. Messages are short and never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// A handshake message is not a valid protobuf.
    #[error("malformed handshake message: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// The message is not the one the state expects.
    #[error("unexpected handshake message, expected {expected}")]
    UnexpectedMessage {
        /// The message the state waited for.
        expected: &'static str,
    },
    /// A required field is absent.
    #[error("{0} is missing")]
    MissingField(&'static str),
    /// A field is present that this side does not support (e.g. an IK ClientHello).
    #[error("{0} is not supported")]
    UnexpectedField(&'static str),
    /// A field or message has the wrong length.
    #[error("{field} has {actual} bytes, expected {expected}")]
    InvalidLength {
        /// Which field.
        field: &'static str,
        /// The required length (or minimum, for whole messages).
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// A Diffie-Hellman result was all zeros: the peer sent a low-order point.
    #[error("peer sent a low-order public key")]
    LowOrderKey,
    /// A handshake ciphertext failed to authenticate.
    #[error("handshake decryption failed")]
    HandshakeDecrypt,
    /// The server certificate chain was rejected.
    #[error("server certificate rejected: {0}")]
    Cert(#[from] CertError),
    /// A transport frame failed to authenticate.
    #[error("frame decryption failed")]
    Decrypt,
    /// A transport frame is shorter than the tag.
    #[error("ciphertext of {len} bytes is shorter than the tag")]
    CiphertextTooShort {
        /// The length received.
        len: usize,
    },
    /// The nonce counter of this direction is used up; the connection must be
    /// replaced (a nonce is never reused).
    #[error("nonce counter exhausted")]
    CounterExhausted,
    /// The plaintext is longer than AES-GCM can encrypt in one message.
    #[error("message too long to encrypt")]
    MessageTooLong,
}

pub use crate::keys::KeyPair;

impl KeyPair {
    /// X25519 with `their_public`; an all-zero result (a low-order peer key) is
    /// refused.
    pub(crate) fn dh(&self, their_public: &[u8; 32]) -> Result<[u8; 32], NoiseError> {
        crate::keys::x25519(&self.private, their_public).ok_or(NoiseError::LowOrderKey)
    }
}
