//! Curve25519 key pairs and the Signal key-type byte: the one [`KeyPair`]
//! type that the Noise handshake, pairing and the stored [`Device`](crate::store::Device)
//! share. Below every other module; it imports none of them.

use std::fmt;

use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::clamp_integer;
use rand_core::CryptoRng;

/// The Signal "DJB" key type byte that prefixes a Curve25519 public key where
/// the protocol says which kind it is (`eKeytype` in the ClientPayload, the
/// signed-prekey signature input).
pub const DJB_KEY_TYPE: u8 = 0x05;

/// X25519 of `private` (clamped) and `their_public`; `None` for the all-zero
/// result of a low-order peer key. The check folds every byte, so its timing
/// does not depend on the value.
pub(crate) fn x25519(private: &[u8; 32], their_public: &[u8; 32]) -> Option<[u8; 32]> {
    let shared = MontgomeryPoint(*their_public)
        .mul_clamped(*private)
        .to_bytes();
    let any = shared.iter().fold(0u8, |acc, b| acc | b);
    (std::hint::black_box(any) != 0).then_some(shared)
}

/// An X25519 key pair: a Noise static or ephemeral key, a Signal identity or
/// signed prekey.
///
/// Stored as one 64-byte string `private ‖ public` (see
/// [`to_bytes`](Self::to_bytes)). The fields are public so a stored pair can be
/// rebuilt as it was saved; [`from_private_key`](Self::from_private_key)
/// computes the public half instead. `Debug` shows the public key only:
///
/// ```
/// use wa_core::keys::KeyPair;
/// let kp = KeyPair::from_private_key([0x42; 32]);
/// assert!(!format!("{kp:?}").contains("4242"));
/// assert_eq!(KeyPair::from_private_key(kp.private).public, kp.public);
/// let stored = KeyPair { private: [0xAB; 32], public: [0x01; 32] };
/// let shown = format!("{stored:?}");
/// assert!(shown.contains("0101") && !shown.to_lowercase().contains("abab"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The private scalar (secret), as stored (clamped when generated here).
    pub private: [u8; 32],
    /// The public key, raw 32 bytes.
    pub public: [u8; 32],
}

impl KeyPair {
    /// The key pair of a private key; the public key is computed (X25519 of the
    /// clamped scalar and the base point). The private bytes are kept as given.
    pub fn from_private_key(private: [u8; 32]) -> Self {
        let public = MontgomeryPoint::mul_base_clamped(private).to_bytes();
        Self { private, public }
    }

    /// A fresh key pair from `rng` (32 random bytes, clamped as libsignal stores
    /// them).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut private = [0u8; 32];
        rng.fill_bytes(&mut private);
        Self::from_private_key(clamp_integer(private))
    }

    /// The public key, raw 32 bytes.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// The private key bytes.
    pub fn private_key(&self) -> &[u8; 32] {
        &self.private
    }

    /// The 64-byte stored form: `private ‖ public`.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.private);
        out[32..].copy_from_slice(&self.public);
        out
    }

    /// Splits the 64-byte stored form `private ‖ public`.
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        let mut private = [0u8; 32];
        let mut public = [0u8; 32];
        private.copy_from_slice(&bytes[..32]);
        public.copy_from_slice(&bytes[32..]);
        Self { private, public }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &Hex(&self.public))
            .field("private", &Redacted)
            .finish()
    }
}

/// Lower-case hex for `Debug` output of public values.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Stands in for a secret in `Debug` output.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
