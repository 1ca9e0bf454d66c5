//! The Noise XX pattern as typed handshake states, without any wire framing.
//!
//! ```text
//! XX:
//!   -> e                 (message 1)
//!   <- e, ee, s, es      (message 2)
//!   -> s, se             (message 3)
//! ```
//!
//! Each state consumes itself and returns the next one, so steps cannot be
//! skipped or repeated. Messages are returned and taken as their parts (a public
//! ephemeral key, an encrypted static key, an encrypted payload); the standard
//! Noise wire format simply concatenates them ([`Message2::to_bytes`],
//! [`Message2::parse`], ...), and WhatsApp puts them in protobuf fields
//! ([`super::ClientHandshake`], [`super::ServerHandshake`]).
//!
//! Message 1 comes in two flavours:
//! - [`Initiator::write_message_1`] / [`Responder::read_message_1`]: standard
//!   Noise, which ends every message with `EncryptAndHash(payload)` — for message
//!   1 (no key yet) that is `MixHash(payload)`, even when the payload is empty.
//! - [`Initiator::write_message_1_without_payload`] /
//!   [`Responder::read_message_1_without_payload`]: the WhatsApp deviation
//!   (docs/protocol.md §2.3a), which mixes `e` and nothing else.
//!
//! Everything after message 1 is standard Noise, including the nonce rule for
//! message 3: the client static is encrypted with the `es` key at nonce 1,
//! because that key already decrypted the message-2 payload at nonce 0
//! (docs/protocol.md §2.3 step 3.1).
//!
//! This module is checked against the cacophony and snow test vectors for
//! `Noise_XX_25519_AESGCM_SHA256` (`tests/noise_standard_vectors.rs`).

use super::symmetric::SymmetricState;
use super::transport::NoiseTransport;
use super::{KeyPair, NoiseError, Role, TAG_LEN};

/// Length of an X25519 public key.
const DH_LEN: usize = 32;
/// Length of an encrypted static key: the key and a tag.
pub const ENCRYPTED_STATIC_LEN: usize = DH_LEN + TAG_LEN;

fn public_key(bytes: &[u8], field: &'static str) -> Result<[u8; DH_LEN], NoiseError> {
    bytes.try_into().map_err(|_| NoiseError::InvalidLength {
        field,
        expected: DH_LEN,
        actual: bytes.len(),
    })
}

/// What a completed handshake yields.
#[derive(Debug)]
pub struct HandshakeOutput {
    /// The peer's static public key, authenticated by the handshake.
    pub remote_static: [u8; 32],
    /// The final handshake hash `h`.
    pub handshake_hash: [u8; 32],
    /// The transport cipher for this side.
    pub transport: NoiseTransport,
}

/// Message 1 (`-> e`): the initiator's ephemeral key and, in standard Noise, a
/// cleartext payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message1 {
    /// The initiator's ephemeral public key.
    pub ephemeral: [u8; 32],
    /// The payload (cleartext: there is no key yet); empty for WhatsApp.
    pub payload: Vec<u8>,
}

impl Message1 {
    /// Standard Noise wire form: `e ‖ payload`.
    pub fn to_bytes(&self) -> Vec<u8> {
        [&self.ephemeral[..], &self.payload].concat()
    }

    /// Parses the standard Noise wire form.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoiseError> {
        if bytes.len() < DH_LEN {
            return Err(NoiseError::InvalidLength {
                field: "message 1",
                expected: DH_LEN,
                actual: bytes.len(),
            });
        }
        let (e, payload) = bytes.split_at(DH_LEN);
        Ok(Self {
            ephemeral: public_key(e, "ephemeral")?,
            payload: payload.to_vec(),
        })
    }
}

/// Message 2 (`<- e, ee, s, es`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message2 {
    /// The responder's ephemeral public key.
    pub ephemeral: [u8; 32],
    /// The responder's static key, encrypted ([`ENCRYPTED_STATIC_LEN`] bytes).
    pub encrypted_static: Vec<u8>,
    /// The encrypted payload (at least a tag).
    pub encrypted_payload: Vec<u8>,
}

impl Message2 {
    /// Standard Noise wire form: `e ‖ enc(s) ‖ enc(payload)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        [
            &self.ephemeral[..],
            &self.encrypted_static,
            &self.encrypted_payload,
        ]
        .concat()
    }

    /// Parses the standard Noise wire form.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoiseError> {
        const MIN: usize = DH_LEN + ENCRYPTED_STATIC_LEN + TAG_LEN;
        if bytes.len() < MIN {
            return Err(NoiseError::InvalidLength {
                field: "message 2",
                expected: MIN,
                actual: bytes.len(),
            });
        }
        let (e, rest) = bytes.split_at(DH_LEN);
        let (s, payload) = rest.split_at(ENCRYPTED_STATIC_LEN);
        Ok(Self {
            ephemeral: public_key(e, "ephemeral")?,
            encrypted_static: s.to_vec(),
            encrypted_payload: payload.to_vec(),
        })
    }
}

/// Message 3 (`-> s, se`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message3 {
    /// The initiator's static key, encrypted ([`ENCRYPTED_STATIC_LEN`] bytes).
    pub encrypted_static: Vec<u8>,
    /// The encrypted payload (at least a tag).
    pub encrypted_payload: Vec<u8>,
}

impl Message3 {
    /// Standard Noise wire form: `enc(s) ‖ enc(payload)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        [&self.encrypted_static[..], &self.encrypted_payload].concat()
    }

    /// Parses the standard Noise wire form.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoiseError> {
        const MIN: usize = ENCRYPTED_STATIC_LEN + TAG_LEN;
        if bytes.len() < MIN {
            return Err(NoiseError::InvalidLength {
                field: "message 3",
                expected: MIN,
                actual: bytes.len(),
            });
        }
        let (s, payload) = bytes.split_at(ENCRYPTED_STATIC_LEN);
        Ok(Self {
            encrypted_static: s.to_vec(),
            encrypted_payload: payload.to_vec(),
        })
    }
}

/// Decrypts an encrypted static key and checks that it is 32 bytes.
fn read_static(
    state: &mut SymmetricState,
    encrypted: &[u8],
    field: &'static str,
) -> Result<[u8; 32], NoiseError> {
    if encrypted.len() != ENCRYPTED_STATIC_LEN {
        return Err(NoiseError::InvalidLength {
            field,
            expected: ENCRYPTED_STATIC_LEN,
            actual: encrypted.len(),
        });
    }
    let plain = state.decrypt_and_hash(encrypted)?;
    public_key(&plain, field)
}

// ---------------------------------------------------------------- initiator

/// The initiator before message 1.
#[derive(Debug)]
pub struct Initiator {
    state: SymmetricState,
    s: KeyPair,
    e: KeyPair,
}

impl Initiator {
    /// `Initialize(XX, initiator, prologue, s, e)`: the symmetric state for
    /// `protocol_name`, then `MixHash(prologue)`.
    pub fn new(protocol_name: &[u8], prologue: &[u8], s: KeyPair, e: KeyPair) -> Self {
        let mut state = SymmetricState::new(protocol_name);
        state.mix_hash(prologue);
        Self { state, s, e }
    }

    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        self.state.handshake_hash()
    }

    /// Standard Noise message 1: `MixHash(e.pub)`, then `EncryptAndHash(payload)`
    /// (with no key yet: `MixHash(payload)`, payload in clear).
    pub fn write_message_1(
        mut self,
        payload: &[u8],
    ) -> Result<(ExpectMessage2, Message1), NoiseError> {
        let ephemeral = *self.e.public_key();
        self.state.mix_hash(&ephemeral);
        let payload = self.state.encrypt_and_hash(payload)?;
        Ok((
            self.into_expect_message_2(),
            Message1 { ephemeral, payload },
        ))
    }

    /// WhatsApp message 1 (docs/protocol.md §2.3a): `MixHash(e.pub)` and nothing else.
    /// Returns the ephemeral public key to send.
    pub fn write_message_1_without_payload(mut self) -> (ExpectMessage2, [u8; 32]) {
        let ephemeral = *self.e.public_key();
        self.state.mix_hash(&ephemeral);
        (self.into_expect_message_2(), ephemeral)
    }

    fn into_expect_message_2(self) -> ExpectMessage2 {
        ExpectMessage2 {
            state: self.state,
            s: self.s,
            e: self.e,
        }
    }
}

/// The initiator after message 1, expecting message 2.
#[derive(Debug)]
pub struct ExpectMessage2 {
    state: SymmetricState,
    s: KeyPair,
    e: KeyPair,
}

impl ExpectMessage2 {
    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        self.state.handshake_hash()
    }

    /// Reads message 2 from its parts: `MixHash(re)`, `MixKey(DH(e, re))`,
    /// `rs = DecryptAndHash(enc_s)`, `MixKey(DH(e, rs))`,
    /// `payload = DecryptAndHash(enc_payload)`.
    ///
    /// Returns the next state, the responder's static key `rs` (not yet trusted:
    /// the caller authenticates it, e.g. with a certificate in the payload) and
    /// the decrypted payload.
    pub fn read_message_2(
        mut self,
        ephemeral: &[u8],
        encrypted_static: &[u8],
        encrypted_payload: &[u8],
    ) -> Result<(SendMessage3, [u8; 32], Vec<u8>), NoiseError> {
        let re = public_key(ephemeral, "ephemeral")?;
        self.state.mix_hash(&re);
        self.state.mix_key(&self.e.dh(&re)?);
        let rs = read_static(&mut self.state, encrypted_static, "static")?;
        self.state.mix_key(&self.e.dh(&rs)?);
        let payload = self.state.decrypt_and_hash(encrypted_payload)?;
        Ok((
            SendMessage3 {
                state: self.state,
                s: self.s,
                re,
                rs,
            },
            rs,
            payload,
        ))
    }
}

/// The initiator after message 2, ready to send message 3.
#[derive(Debug)]
pub struct SendMessage3 {
    state: SymmetricState,
    s: KeyPair,
    re: [u8; 32],
    rs: [u8; 32],
}

impl SendMessage3 {
    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        self.state.handshake_hash()
    }

    /// The responder's static key received in message 2.
    pub fn remote_static(&self) -> &[u8; 32] {
        &self.rs
    }

    /// Writes message 3: `EncryptAndHash(s.pub)` (nonce 1 of the `es` key),
    /// `MixKey(DH(s, re))`, `EncryptAndHash(payload)`, then `Split`.
    pub fn write_message_3(
        mut self,
        payload: &[u8],
    ) -> Result<(Message3, HandshakeOutput), NoiseError> {
        let encrypted_static = self.state.encrypt_and_hash(self.s.public_key())?;
        self.state.mix_key(&self.s.dh(&self.re)?);
        let encrypted_payload = self.state.encrypt_and_hash(payload)?;
        let handshake_hash = *self.state.handshake_hash();
        let output = HandshakeOutput {
            remote_static: self.rs,
            handshake_hash,
            transport: self.state.split(Role::Initiator),
        };
        Ok((
            Message3 {
                encrypted_static,
                encrypted_payload,
            },
            output,
        ))
    }
}

// ---------------------------------------------------------------- responder

/// The responder before message 1.
#[derive(Debug)]
pub struct Responder {
    state: SymmetricState,
    s: KeyPair,
    e: KeyPair,
}

impl Responder {
    /// `Initialize(XX, responder, prologue, s, e)`.
    pub fn new(protocol_name: &[u8], prologue: &[u8], s: KeyPair, e: KeyPair) -> Self {
        let mut state = SymmetricState::new(protocol_name);
        state.mix_hash(prologue);
        Self { state, s, e }
    }

    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        self.state.handshake_hash()
    }

    /// Standard Noise message 1: `MixHash(re)`, then `DecryptAndHash(payload)`
    /// (no key yet: the payload is in clear and mixed into `h`).
    pub fn read_message_1(
        mut self,
        ephemeral: &[u8],
        payload: &[u8],
    ) -> Result<(SendMessage2, Vec<u8>), NoiseError> {
        let re = public_key(ephemeral, "ephemeral")?;
        self.state.mix_hash(&re);
        let payload = self.state.decrypt_and_hash(payload)?;
        Ok((
            SendMessage2 {
                state: self.state,
                s: self.s,
                e: self.e,
                re,
            },
            payload,
        ))
    }

    /// WhatsApp message 1 (docs/protocol.md §2.3a): `MixHash(re)` and nothing else.
    pub fn read_message_1_without_payload(
        mut self,
        ephemeral: &[u8],
    ) -> Result<SendMessage2, NoiseError> {
        let re = public_key(ephemeral, "ephemeral")?;
        self.state.mix_hash(&re);
        Ok(SendMessage2 {
            state: self.state,
            s: self.s,
            e: self.e,
            re,
        })
    }
}

/// The responder after message 1, ready to send message 2.
#[derive(Debug)]
pub struct SendMessage2 {
    state: SymmetricState,
    s: KeyPair,
    e: KeyPair,
    re: [u8; 32],
}

impl SendMessage2 {
    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        self.state.handshake_hash()
    }

    /// Writes message 2: `MixHash(e.pub)`, `MixKey(DH(e, re))`,
    /// `EncryptAndHash(s.pub)`, `MixKey(DH(s, re))`, `EncryptAndHash(payload)`.
    pub fn write_message_2(
        mut self,
        payload: &[u8],
    ) -> Result<(ExpectMessage3, Message2), NoiseError> {
        let ephemeral = *self.e.public_key();
        self.state.mix_hash(&ephemeral);
        self.state.mix_key(&self.e.dh(&self.re)?);
        let encrypted_static = self.state.encrypt_and_hash(self.s.public_key())?;
        self.state.mix_key(&self.s.dh(&self.re)?);
        let encrypted_payload = self.state.encrypt_and_hash(payload)?;
        Ok((
            ExpectMessage3 {
                state: self.state,
                e: self.e,
            },
            Message2 {
                ephemeral,
                encrypted_static,
                encrypted_payload,
            },
        ))
    }
}

/// The responder after message 2, expecting message 3.
#[derive(Debug)]
pub struct ExpectMessage3 {
    state: SymmetricState,
    e: KeyPair,
}

impl ExpectMessage3 {
    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        self.state.handshake_hash()
    }

    /// Reads message 3: `rs = DecryptAndHash(enc_s)`, `MixKey(DH(e, rs))`,
    /// `payload = DecryptAndHash(enc_payload)`, then `Split`.
    pub fn read_message_3(
        mut self,
        encrypted_static: &[u8],
        encrypted_payload: &[u8],
    ) -> Result<(HandshakeOutput, Vec<u8>), NoiseError> {
        let rs = read_static(&mut self.state, encrypted_static, "static")?;
        self.state.mix_key(&self.e.dh(&rs)?);
        let payload = self.state.decrypt_and_hash(encrypted_payload)?;
        let handshake_hash = *self.state.handshake_hash();
        let output = HandshakeOutput {
            remote_static: rs,
            handshake_hash,
            transport: self.state.split(Role::Responder),
        };
        Ok((output, payload))
    }
}
