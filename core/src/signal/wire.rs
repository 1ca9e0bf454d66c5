//! The four wire messages: a version byte (`0x33`: message version 3 in the high
//! nibble, current version 3 in the low one), a protobuf, and for
//! [`SignalMessage`] an 8-byte MAC, for [`SenderKeyMessage`] a 64-byte signature.

use prost::Message as _;

use super::crypto::{array32, ct_eq, message_mac};
use super::keys::PublicKey;
use super::{CIPHERTEXT_VERSION, SignalError, proto};

/// The version byte every message starts with.
pub(crate) const VERSION_BYTE: u8 = (CIPHERTEXT_VERSION << 4) | CIPHERTEXT_VERSION;
/// Length of a ratchet message's MAC.
pub(crate) const MAC_LEN: usize = 8;
/// Length of a sender-key message's signature.
const SIGNATURE_LEN: usize = 64;

/// Checks the version byte: the message version must be 3.
fn check_version(byte: u8) -> Result<(), SignalError> {
    let version = byte >> 4;
    if version != CIPHERTEXT_VERSION {
        return Err(SignalError::UnsupportedVersion(version));
    }
    Ok(())
}

/// Splits off the version byte and checks it.
fn versioned(bytes: &[u8], trailer: usize) -> Result<&[u8], SignalError> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(SignalError::InvalidMessage("empty message"));
    };
    check_version(version)?;
    if rest.len() < trailer {
        return Err(SignalError::InvalidMessage("message too short"));
    }
    Ok(&rest[..rest.len() - trailer])
}

fn prefixed(body: &[u8], trailer: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + body.len() + trailer);
    out.push(VERSION_BYTE);
    out.extend_from_slice(body);
    out
}

/// A ratchet message (`<enc type="msg">`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalMessage {
    ratchet_key: PublicKey,
    counter: u32,
    previous_counter: u32,
    ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SignalMessage {
    /// Builds and MACs a message (the sender's identity first, then the
    /// receiver's, both 33 bytes).
    pub(crate) fn new(
        mac_key: &[u8; 32],
        ratchet_key: PublicKey,
        counter: u32,
        previous_counter: u32,
        ciphertext: Vec<u8>,
        sender_identity: &[u8],
        receiver_identity: &[u8],
    ) -> Self {
        let body = proto::SignalMessage {
            ratchet_key: Some(ratchet_key.serialize().to_vec()),
            counter: Some(counter),
            previous_counter: Some(previous_counter),
            ciphertext: Some(ciphertext),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len() + MAC_LEN);
        serialized.push(VERSION_BYTE);
        // Writing into a Vec cannot run out of room.
        let _ = body.encode(&mut serialized);
        let mac = message_mac(mac_key, sender_identity, receiver_identity, &serialized);
        serialized.extend_from_slice(&mac);
        let ciphertext = body.ciphertext.unwrap_or_default();
        SignalMessage {
            ratchet_key,
            counter,
            previous_counter,
            ciphertext,
            serialized,
        }
    }

    /// Parses a serialized message (the MAC is checked later, with the keys).
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let body = versioned(bytes, MAC_LEN)?;
        let msg = proto::SignalMessage::decode(body)
            .map_err(|_| SignalError::InvalidMessage("SignalMessage protobuf"))?;
        let (Some(ratchet_key), Some(counter), Some(ciphertext)) =
            (msg.ratchet_key, msg.counter, msg.ciphertext)
        else {
            return Err(SignalError::InvalidMessage("SignalMessage field missing"));
        };
        Ok(SignalMessage {
            ratchet_key: PublicKey::deserialize(&ratchet_key)?,
            counter,
            previous_counter: msg.previous_counter.unwrap_or(0),
            ciphertext,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender's ratchet key.
    pub fn ratchet_key(&self) -> &PublicKey {
        &self.ratchet_key
    }

    /// The message's counter in its chain.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The length of the sender's previous chain.
    pub fn previous_counter(&self) -> u32 {
        self.previous_counter
    }

    /// The ciphertext.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The whole message as sent.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Checks the MAC with the keys of this message.
    pub(crate) fn verify_mac(
        &self,
        mac_key: &[u8; 32],
        sender_identity: &[u8],
        receiver_identity: &[u8],
    ) -> bool {
        let split = self.serialized.len() - MAC_LEN;
        let expected = message_mac(
            mac_key,
            sender_identity,
            receiver_identity,
            &self.serialized[..split],
        );
        ct_eq(&expected, &self.serialized[split..])
    }
}

/// A session-starting message (`<enc type="pkmsg">`): X3DH parameters around a
/// first [`SignalMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    registration_id: u32,
    pre_key_id: Option<u32>,
    signed_pre_key_id: u32,
    base_key: PublicKey,
    identity_key: PublicKey,
    message: SignalMessage,
    serialized: Vec<u8>,
}

impl PreKeySignalMessage {
    pub(crate) fn new(
        registration_id: u32,
        pre_key_id: Option<u32>,
        signed_pre_key_id: u32,
        base_key: PublicKey,
        identity_key: PublicKey,
        message: SignalMessage,
    ) -> Self {
        let body = proto::PreKeySignalMessage {
            pre_key_id,
            base_key: Some(base_key.serialize().to_vec()),
            identity_key: Some(identity_key.serialize().to_vec()),
            message: Some(message.serialized.clone()),
            registration_id: Some(registration_id),
            signed_pre_key_id: Some(signed_pre_key_id),
        }
        .encode_to_vec();
        PreKeySignalMessage {
            registration_id,
            pre_key_id,
            signed_pre_key_id,
            base_key,
            identity_key,
            message,
            serialized: prefixed(&body, 0),
        }
    }

    /// Parses a serialized message.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let body = versioned(bytes, 0)?;
        let msg = proto::PreKeySignalMessage::decode(body)
            .map_err(|_| SignalError::InvalidMessage("PreKeySignalMessage protobuf"))?;
        let (Some(signed_pre_key_id), Some(base_key), Some(identity_key), Some(message)) = (
            msg.signed_pre_key_id,
            msg.base_key,
            msg.identity_key,
            msg.message,
        ) else {
            return Err(SignalError::InvalidMessage(
                "PreKeySignalMessage field missing",
            ));
        };
        Ok(PreKeySignalMessage {
            registration_id: msg.registration_id.unwrap_or(0),
            pre_key_id: msg.pre_key_id,
            signed_pre_key_id,
            base_key: PublicKey::deserialize(&base_key)?,
            identity_key: PublicKey::deserialize(&identity_key)?,
            message: SignalMessage::deserialize(&message)?,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender's registration id.
    pub fn registration_id(&self) -> u32 {
        self.registration_id
    }

    /// The one-time prekey the sender used, if any.
    pub fn pre_key_id(&self) -> Option<u32> {
        self.pre_key_id
    }

    /// The signed prekey the sender used.
    pub fn signed_pre_key_id(&self) -> u32 {
        self.signed_pre_key_id
    }

    /// The sender's base key (it identifies the session).
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }

    /// The sender's identity key.
    pub fn identity_key(&self) -> &PublicKey {
        &self.identity_key
    }

    /// The first ratchet message inside.
    pub fn message(&self) -> &SignalMessage {
        &self.message
    }

    /// The whole message as sent.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// A group message (`<enc type="skmsg">`), signed by the sender's signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderKeyMessage {
    chain_id: u32,
    iteration: u32,
    ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SenderKeyMessage {
    pub(crate) fn signed(
        chain_id: u32,
        iteration: u32,
        ciphertext: Vec<u8>,
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Self {
        let body = proto::SenderKeyMessage {
            id: Some(chain_id),
            iteration: Some(iteration),
            ciphertext: Some(ciphertext),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len() + SIGNATURE_LEN);
        serialized.push(VERSION_BYTE);
        let _ = body.encode(&mut serialized);
        let signature = sign(&serialized);
        serialized.extend_from_slice(&signature);
        SenderKeyMessage {
            chain_id,
            iteration,
            ciphertext: body.ciphertext.unwrap_or_default(),
            serialized,
        }
    }

    /// Parses a serialized message (the signature is checked later, with the
    /// sender's key).
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let body = versioned(bytes, SIGNATURE_LEN)?;
        let msg = proto::SenderKeyMessage::decode(body)
            .map_err(|_| SignalError::InvalidMessage("SenderKeyMessage protobuf"))?;
        let (Some(chain_id), Some(iteration), Some(ciphertext)) =
            (msg.id, msg.iteration, msg.ciphertext)
        else {
            return Err(SignalError::InvalidMessage(
                "SenderKeyMessage field missing",
            ));
        };
        Ok(SenderKeyMessage {
            chain_id,
            iteration,
            ciphertext,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender-key chain id.
    pub fn chain_id(&self) -> u32 {
        self.chain_id
    }

    /// The message's iteration.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The ciphertext.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The whole message as sent.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Checks the signature with the sender's signing key.
    pub(crate) fn verify(&self, signing_key: &PublicKey) -> Result<(), SignalError> {
        let split = self.serialized.len() - SIGNATURE_LEN;
        let signature: [u8; 64] = self.serialized[split..]
            .try_into()
            .map_err(|_| SignalError::InvalidMessage("signature length"))?;
        signing_key.verify(&self.serialized[..split], &signature)
    }
}

/// A sender key handed to one group member (inside a pairwise message's
/// `senderKeyDistributionMessage`).
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    chain_id: u32,
    iteration: u32,
    chain_key: [u8; 32],
    signing_key: PublicKey,
    serialized: Vec<u8>,
}

impl SenderKeyDistributionMessage {
    pub(crate) fn new(
        chain_id: u32,
        iteration: u32,
        chain_key: [u8; 32],
        signing_key: PublicKey,
    ) -> Self {
        let body = proto::SenderKeyDistributionMessage {
            id: Some(chain_id),
            iteration: Some(iteration),
            chain_key: Some(chain_key.to_vec()),
            signing_key: Some(signing_key.serialize().to_vec()),
        }
        .encode_to_vec();
        let serialized = prefixed(&body, 0);
        SenderKeyDistributionMessage {
            chain_id,
            iteration,
            chain_key,
            signing_key,
            serialized,
        }
    }

    /// Parses a serialized distribution message.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let body = versioned(bytes, 0)?;
        let msg = proto::SenderKeyDistributionMessage::decode(body)
            .map_err(|_| SignalError::InvalidMessage("SenderKeyDistributionMessage protobuf"))?;
        let (Some(chain_id), Some(iteration), Some(chain_key), Some(signing_key)) =
            (msg.id, msg.iteration, msg.chain_key, msg.signing_key)
        else {
            return Err(SignalError::InvalidMessage(
                "SenderKeyDistributionMessage field missing",
            ));
        };
        Ok(SenderKeyDistributionMessage {
            chain_id,
            iteration,
            chain_key: array32(&chain_key)
                .ok_or(SignalError::InvalidMessage("chain key length"))?,
            signing_key: PublicKey::deserialize(&signing_key)?,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender-key chain id.
    pub fn chain_id(&self) -> u32 {
        self.chain_id
    }

    /// The iteration of the chain key.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The sender's signing key.
    pub fn signing_key(&self) -> &PublicKey {
        &self.signing_key
    }

    pub(crate) fn chain_key(&self) -> &[u8; 32] {
        &self.chain_key
    }

    /// The whole message as sent.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

impl std::fmt::Debug for SenderKeyDistributionMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderKeyDistributionMessage")
            .field("chain_id", &self.chain_id)
            .field("iteration", &self.iteration)
            .field("signing_key", &self.signing_key)
            .finish_non_exhaustive()
    }
}

impl Drop for SenderKeyDistributionMessage {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.chain_key);
    }
}
