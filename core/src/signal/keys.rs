//! Keys and key records: identity key pairs, one-time prekeys, signed prekeys
//! and the bundle a peer publishes.

use std::fmt;

use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::clamp_integer;
use prost::Message as _;
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::SignalError;
use super::crypto::{agree, array32};
use super::proto;
use crate::xeddsa;

use crate::keys::DJB_KEY_TYPE;

/// A Curve25519 public key (the X25519 `u` coordinate).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// A key from its 32 raw bytes (as WhatsApp's IQs carry them).
    pub const fn from_raw(bytes: [u8; 32]) -> Self {
        PublicKey(bytes)
    }

    /// Parses the 33-byte form (`0x05` ‖ key), as in Signal messages and records.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        match bytes {
            [DJB_KEY_TYPE, rest @ ..] => {
                array32(rest).map(PublicKey).ok_or(SignalError::InvalidKey)
            }
            _ => Err(SignalError::InvalidKey),
        }
    }

    /// The 33-byte form (`0x05` ‖ key).
    pub fn serialize(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = DJB_KEY_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// The raw 32 bytes.
    pub fn raw(&self) -> &[u8; 32] {
        &self.0
    }

    /// Verifies an XEdDSA signature by this key over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), SignalError> {
        xeddsa::verify(&self.0, message, signature).map_err(|_| SignalError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicKey")
            .field(&crate::keys::Hex(&self.0))
            .finish()
    }
}

/// A Curve25519 private key, zeroized on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey([u8; 32]);

impl PrivateKey {
    /// A key from 32 bytes (used as given; X25519 clamps when it multiplies).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PrivateKey(bytes)
    }

    /// A fresh key from `rng`, clamped as libsignal stores it.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let key = PrivateKey(clamp_integer(bytes));
        bytes.zeroize();
        key
    }

    /// The raw bytes, for persisting.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The public key of this private key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(MontgomeryPoint::mul_base_clamped(self.0).to_bytes())
    }

    /// X25519 with `their`; a low-order `their` is refused.
    pub fn agree(&self, their: &PublicKey) -> Result<[u8; 32], SignalError> {
        agree(&self.0, their.raw())
    }

    /// An XEdDSA signature of `message` (64 random bytes from `rng` hide the nonce).
    pub fn sign<R: CryptoRng + ?Sized>(&self, message: &[u8], rng: &mut R) -> [u8; 64] {
        xeddsa::sign_with_rng(&self.0, message, rng)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// Parses a public key stored in a record: the 33-byte form, or the 32 raw
/// bytes some implementations store for prekeys.
pub(crate) fn public_from_record(bytes: &[u8]) -> Result<PublicKey, SignalError> {
    match array32(bytes) {
        Some(raw) => Ok(PublicKey(raw)),
        None => PublicKey::deserialize(bytes).map_err(|_| SignalError::InvalidRecord("public key")),
    }
}

/// Parses a 32-byte private key from a record.
pub(crate) fn private_from(bytes: &[u8]) -> Result<PrivateKey, SignalError> {
    array32(bytes)
        .map(PrivateKey)
        .ok_or(SignalError::InvalidRecord("private key length"))
}

/// A long-term identity key pair.
#[derive(Clone)]
pub struct IdentityKeyPair {
    public: PublicKey,
    private: PrivateKey,
}

impl IdentityKeyPair {
    /// A fresh identity.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_private_key(PrivateKey::generate(rng))
    }

    /// The identity of a stored private key (the public key is computed).
    pub fn from_private_key(private: PrivateKey) -> Self {
        IdentityKeyPair {
            public: private.public_key(),
            private,
        }
    }

    /// An identity from both halves as stored (not checked against each other:
    /// a mismatched pair makes every peer's MAC check fail, never panics).
    pub fn from_parts(public: PublicKey, private: PrivateKey) -> Self {
        IdentityKeyPair { public, private }
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The private half.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private
    }

    /// libsignal's `IdentityKeyPairStructure` bytes.
    pub fn serialize(&self) -> Vec<u8> {
        proto::IdentityKeyPairStructure {
            public_key: self.public.serialize().to_vec(),
            private_key: self.private.0.to_vec(),
        }
        .encode_to_vec()
    }

    /// Parses [`IdentityKeyPair::serialize`]'s bytes.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let mut msg = proto::IdentityKeyPairStructure::decode(bytes)
            .map_err(|_| SignalError::InvalidRecord("identity key pair"))?;
        let public = public_from_record(&msg.public_key)?;
        let private = private_from(&msg.private_key);
        msg.private_key.zeroize();
        Ok(IdentityKeyPair {
            public,
            private: private?,
        })
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A one-time prekey and its id.
#[derive(Clone)]
pub struct PreKeyRecord {
    id: u32,
    public: PublicKey,
    private: PrivateKey,
}

impl PreKeyRecord {
    /// A fresh prekey with `id` (ids come from one persistent counter; never
    /// reuse one).
    pub fn generate<R: CryptoRng + ?Sized>(id: u32, rng: &mut R) -> Self {
        let private = PrivateKey::generate(rng);
        PreKeyRecord {
            id,
            public: private.public_key(),
            private,
        }
    }

    /// A prekey from stored parts.
    pub fn from_parts(id: u32, public: PublicKey, private: PrivateKey) -> Self {
        PreKeyRecord {
            id,
            public,
            private,
        }
    }

    /// The id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private
    }

    /// libsignal's `PreKeyRecordStructure` bytes.
    pub fn serialize(&self) -> Vec<u8> {
        proto::PreKeyRecordStructure {
            id: Some(self.id),
            public_key: self.public.serialize().to_vec(),
            private_key: self.private.0.to_vec(),
        }
        .encode_to_vec()
    }

    /// Parses [`PreKeyRecord::serialize`]'s bytes.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let mut msg = proto::PreKeyRecordStructure::decode(bytes)
            .map_err(|_| SignalError::InvalidRecord("prekey record"))?;
        let public = public_from_record(&msg.public_key);
        let private = private_from(&msg.private_key);
        msg.private_key.zeroize();
        Ok(PreKeyRecord {
            id: msg.id(),
            public: public?,
            private: private?,
        })
    }
}

impl fmt::Debug for PreKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreKeyRecord")
            .field("id", &self.id)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A signed prekey: a medium-term key signed by the identity key.
#[derive(Clone)]
pub struct SignedPreKeyRecord {
    id: u32,
    public: PublicKey,
    private: PrivateKey,
    signature: [u8; 64],
    timestamp: u64,
}

impl SignedPreKeyRecord {
    /// A fresh signed prekey; `timestamp` is the creation time in ms since the
    /// Unix epoch (data, not read from a clock).
    pub fn generate<R: CryptoRng + ?Sized>(
        id: u32,
        identity: &IdentityKeyPair,
        timestamp: u64,
        rng: &mut R,
    ) -> Self {
        let private = PrivateKey::generate(rng);
        let public = private.public_key();
        let signature = identity.private.sign(&public.serialize(), rng);
        SignedPreKeyRecord {
            id,
            public,
            private,
            signature,
            timestamp,
        }
    }

    /// A signed prekey from stored parts.
    pub fn from_parts(
        id: u32,
        public: PublicKey,
        private: PrivateKey,
        signature: [u8; 64],
        timestamp: u64,
    ) -> Self {
        SignedPreKeyRecord {
            id,
            public,
            private,
            signature,
            timestamp,
        }
    }

    /// The id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private
    }

    /// The identity's signature over the 33-byte public key.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// Creation time, ms since the Unix epoch.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// libsignal's `SignedPreKeyRecordStructure` bytes.
    pub fn serialize(&self) -> Vec<u8> {
        proto::SignedPreKeyRecordStructure {
            id: Some(self.id),
            public_key: self.public.serialize().to_vec(),
            private_key: self.private.0.to_vec(),
            signature: self.signature.to_vec(),
            timestamp: Some(self.timestamp),
        }
        .encode_to_vec()
    }

    /// Parses [`SignedPreKeyRecord::serialize`]'s bytes.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SignalError> {
        let mut msg = proto::SignedPreKeyRecordStructure::decode(bytes)
            .map_err(|_| SignalError::InvalidRecord("signed prekey record"))?;
        let public = public_from_record(&msg.public_key);
        let private = private_from(&msg.private_key);
        msg.private_key.zeroize();
        let signature: [u8; 64] = msg
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| SignalError::InvalidRecord("signature length"))?;
        Ok(SignedPreKeyRecord {
            id: msg.id(),
            public: public?,
            private: private?,
            signature,
            timestamp: msg.timestamp(),
        })
    }
}

impl fmt::Debug for SignedPreKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKeyRecord")
            .field("id", &self.id)
            .field("public", &self.public)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// What a peer publishes so others can start a session with it without a round
/// trip: its identity, a signed prekey and (usually) a one-time prekey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The peer's registration id.
    pub registration_id: u32,
    /// The peer's device id (not used by the cryptography).
    pub device_id: u32,
    /// The one-time prekey handed out, if any: (id, key).
    pub pre_key: Option<(u32, PublicKey)>,
    /// The signed prekey's id.
    pub signed_pre_key_id: u32,
    /// The signed prekey.
    pub signed_pre_key: PublicKey,
    /// The identity's XEdDSA signature over the signed prekey's 33-byte form.
    pub signed_pre_key_signature: [u8; 64],
    /// The peer's identity key.
    pub identity_key: PublicKey,
}
