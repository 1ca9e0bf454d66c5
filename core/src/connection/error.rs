//! The connection's error types, one per failure domain.

use crate::binary;
use crate::frame;
use crate::noise::NoiseError;

/// A fatal error that ended a connection: the peer's bytes did not parse or
/// broke the protocol, or the nonce space ran out. Reported once, inside
/// [`DisconnectReason::Error`](super::DisconnectReason::Error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The byte stream is not a valid frame sequence.
    #[error("bad frame: {0}")]
    Frame(#[from] frame::FrameDecodeError),
    /// The ServerHello was refused (malformed, does not decrypt, or its
    /// certificate chain failed verification: [`NoiseError::Cert`]).
    #[error("handshake failed: {0}")]
    Handshake(NoiseError),
    /// A transport frame did not decrypt (or was too short to).
    #[error("transport frame rejected: {0}")]
    Decrypt(NoiseError),
    /// A decrypted frame is not a valid node.
    #[error("bad stanza: {0}")]
    Decode(#[from] binary::DecodeError),
    /// The write or read nonce counter is used up; a nonce is never reused, so
    /// the connection is replaced.
    #[error("nonce counter exhausted")]
    NonceExhausted,
}

impl ConnectionError {
    /// A refused certificate chain is not retried automatically: it means a
    /// wrong clock, a wrong trusted root, or someone in the middle.
    pub fn should_reconnect(&self) -> bool {
        !matches!(self, ConnectionError::Handshake(NoiseError::Cert(_)))
    }
}

/// The [`Config`](super::Config) or the [`Device`](crate::store::Device) given
/// to [`Connection::new`](super::Connection::new) cannot make a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `Device::pn` is not a phone-number JID with a numeric user.
    #[error("device pn is not a valid phone-number jid: {0:?}")]
    InvalidPn(String),
    /// The signed prekey id does not fit the 3 bytes of `eSkeyId`.
    #[error("signed prekey id {0} does not fit 3 bytes")]
    SignedPreKeyId(u32),
    /// The ClientPayload built from the device and profile is absurdly large
    /// (over 1 MiB; a real one is a few hundred bytes).
    #[error("client payload too large: {len} bytes")]
    ClientPayloadTooLarge {
        /// Its serialized length.
        len: usize,
    },
    /// The stored edge-routing info does not fit a pre-intro.
    #[error("edge routing info: {0}")]
    EdgeRouting(frame::FrameEncodeError),
}

/// A command could not be queued. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The handshake has not finished; nodes can be sent once the ClientFinish
    /// is out (in practice: after [`Event::LoggedIn`](super::Event::LoggedIn),
    /// or when pairing starts).
    #[error("handshake not finished")]
    Handshaking,
    /// The connection has ended.
    #[error("connection closed")]
    Closed,
    /// [`Connection::logout`](super::Connection::logout) before the server
    /// accepted the login (or for a device without a phone-number JID).
    #[error("not logged in")]
    NotLoggedIn,
    /// The node cannot be encoded.
    #[error("cannot encode node: {0}")]
    Encode(#[from] binary::EncodeError),
    /// The encoded node does not fit one frame (16 MiB).
    #[error("node too large for one frame: {len} bytes")]
    TooLarge {
        /// The frame payload length it would need.
        len: usize,
    },
    /// Encryption failed for a reason other than an exhausted counter.
    #[error("cannot encrypt: {0}")]
    Encrypt(NoiseError),
    /// `send_iq` was given a node that is not an `<iq>`.
    #[error("not an iq: <{0}>")]
    NotAnIq(String),
    /// `send_iq` was given an `id` that a pending request already uses.
    #[error("iq id {0:?} is already pending")]
    DuplicateIqId(String),
}

/// Why [`StanzaCodec::write_node`](super::StanzaCodec::write_node) could not
/// write a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The node cannot be encoded (nothing was written).
    #[error("cannot encode node: {0}")]
    Encode(#[from] binary::EncodeError),
    /// The frame payload would be 16 MiB or more (nothing was written).
    #[error("frame payload too large: {len} bytes")]
    TooLarge {
        /// The payload length it would need.
        len: usize,
    },
    /// Encryption failed: the write counter is exhausted (the connection must
    /// be replaced).
    #[error("{0}")]
    Noise(#[from] NoiseError),
}
