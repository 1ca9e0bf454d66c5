//! The Noise symmetric state: handshake hash, chaining key and the one handshake
//! cipher (Noise spec §5.1–5.2; docs/protocol.md §2.1–2.2).

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::transport::NoiseTransport;
use super::{NoiseError, Role, TAG_LEN, nonce};

/// Length of the handshake hash and of the chaining key (SHA-256).
pub const HASH_LEN: usize = 32;

/// HKDF-SHA256 with `salt = chaining_key`, `info = ""` and 64 bytes out, split in
/// two halves (docs/protocol.md §2.1): this is Noise's `HKDF(ck, ikm, 2)`.
fn hkdf2(chaining_key: &[u8; HASH_LEN], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let mut okm = [0u8; 64];
    Hkdf::<Sha256>::new(Some(chaining_key), ikm)
        .expand(&[], &mut okm)
        .expect("64 bytes is a valid HKDF-SHA256 output length");
    let mut first = [0u8; 32];
    let mut second = [0u8; 32];
    first.copy_from_slice(&okm[..32]);
    second.copy_from_slice(&okm[32..]);
    (first, second)
}

/// The Noise `SymmetricState` for `25519_AESGCM_SHA256`.
///
/// It holds the handshake hash `h`, the chaining key `ck` and the single handshake
/// cipher key with its nonce counter, shared by encryption and decryption. Before
/// the first [`mix_key`](Self::mix_key) there is no key and
/// [`encrypt_and_hash`](Self::encrypt_and_hash) passes the plaintext through, as the
/// Noise spec says. (WhatsApp's implementations set the key to `h₀` instead; in XX
/// nothing is encrypted before the first `mix_key`, so the two never differ.)
///
/// This is the generic layer. [`xx`](super::xx) builds the XX pattern on it, and
/// the WhatsApp handshake builds on that; most callers never touch this type.
///
/// ```
/// use wa_core::noise::{SymmetricState, NOISE_XX_PROTOCOL_NAME};
///
/// let mut state = SymmetricState::new(&NOISE_XX_PROTOCOL_NAME);
/// state.mix_hash(&[0x57, 0x41, 0x06, 0x03]); // the prologue, docs/protocol.md §2.2
/// assert_eq!(
///     state.handshake_hash()[..4],
///     [0xff, 0xff, 0x0c, 0x92],
/// );
/// ```
pub struct SymmetricState {
    h: [u8; HASH_LEN],
    ck: [u8; HASH_LEN],
    cipher: Option<Aes256Gcm>,
    n: u32,
}

impl SymmetricState {
    /// `InitializeSymmetric(protocol_name)`: a name of at most 32 bytes is
    /// zero-padded to 32 bytes and used as `h₀`; a longer one is hashed. `ck = h₀`.
    pub fn new(protocol_name: &[u8]) -> Self {
        let mut h = [0u8; HASH_LEN];
        if protocol_name.len() <= HASH_LEN {
            h[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            h.copy_from_slice(&Sha256::digest(protocol_name));
        }
        Self {
            h,
            ck: h,
            cipher: None,
            n: 0,
        }
    }

    /// `MixHash(data)`: `h = SHA-256(h ‖ data)`.
    pub fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h.copy_from_slice(&hasher.finalize());
    }

    /// `MixKey(ikm)`: `(ck, k) = HKDF(ck, ikm)`, and the nonce counter restarts at 0.
    pub fn mix_key(&mut self, input_key_material: &[u8]) {
        let (ck, k) = hkdf2(&self.ck, input_key_material);
        self.ck = ck;
        self.cipher = Some(Aes256Gcm::new(&k.into()));
        self.n = 0;
    }

    /// `EncryptAndHash(plaintext)`: AES-256-GCM with the current nonce and
    /// `aad = h`, then `MixHash(ciphertext)`. Without a key the plaintext is the
    /// ciphertext.
    pub fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let ciphertext = match &self.cipher {
            None => plaintext.to_vec(),
            Some(cipher) => {
                let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
                buf.extend_from_slice(plaintext);
                let tag = cipher
                    .encrypt_inout_detached(&nonce(self.n), &self.h, buf.as_mut_slice().into())
                    .map_err(|_| NoiseError::MessageTooLong)?;
                buf.extend_from_slice(&tag);
                self.n = self.n.checked_add(1).ok_or(NoiseError::CounterExhausted)?;
                buf
            }
        };
        self.mix_hash(&ciphertext);
        Ok(ciphertext)
    }

    /// `DecryptAndHash(ciphertext)`: AES-256-GCM open with the current nonce and
    /// `aad = h`, then `MixHash(ciphertext)` — the hash absorbs the ciphertext, not
    /// the plaintext. Without a key the ciphertext is the plaintext.
    ///
    /// On failure the state is left unchanged; the handshake is over anyway.
    pub fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let plaintext = match &self.cipher {
            None => ciphertext.to_vec(),
            Some(cipher) => {
                let body_len = ciphertext
                    .len()
                    .checked_sub(TAG_LEN)
                    .ok_or(NoiseError::HandshakeDecrypt)?;
                let (body, tag_bytes) = ciphertext.split_at(body_len);
                let mut buf = body.to_vec();
                let mut tag = [0u8; TAG_LEN];
                tag.copy_from_slice(tag_bytes);
                cipher
                    .decrypt_inout_detached(
                        &nonce(self.n),
                        &self.h,
                        buf.as_mut_slice().into(),
                        &tag.into(),
                    )
                    .map_err(|_| NoiseError::HandshakeDecrypt)?;
                self.n = self.n.checked_add(1).ok_or(NoiseError::CounterExhausted)?;
                buf
            }
        };
        self.mix_hash(ciphertext);
        Ok(plaintext)
    }

    /// The handshake hash `h`. It is not secret (Noise exposes it for channel
    /// binding); tests compare it with captured values.
    pub fn handshake_hash(&self) -> &[u8; HASH_LEN] {
        &self.h
    }

    /// Whether a key has been mixed in (`HasKey()`).
    pub fn has_key(&self) -> bool {
        self.cipher.is_some()
    }

    /// `Split()`: `(k₁, k₂) = HKDF(ck, "")`; `k₁` protects initiator → responder
    /// traffic and `k₂` the other direction. `role` says which side this is, so
    /// the transport's write key is `k₁` for the initiator and `k₂` for the
    /// responder.
    pub fn split(self, role: Role) -> NoiseTransport {
        let (k1, k2) = hkdf2(&self.ck, &[]);
        match role {
            Role::Initiator => NoiseTransport::new(&k1, &k2),
            Role::Responder => NoiseTransport::new(&k2, &k1),
        }
    }

    /// The chaining key, for the unit tests that compare it with captured values.
    #[cfg(test)]
    pub(crate) fn chaining_key(&self) -> &[u8; HASH_LEN] {
        &self.ck
    }
}

impl fmt::Debug for SymmetricState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymmetricState")
            .field("handshake_hash", &crate::keys::Hex(&self.h))
            .field("chaining_key", &"<redacted>")
            .field("has_key", &self.cipher.is_some())
            .field("nonce", &self.n)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    //! Chaining-key values of the captured WhatsApp transcript; they need private
    //! access, the rest of the vector is checked in `tests/noise_wa_vectors.rs`.

    use super::*;

    fn hexv(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hex32(s: &str) -> [u8; 32] {
        hexv(s).try_into().unwrap()
    }

    fn dh(private: &str, public: &str) -> [u8; 32] {
        x25519_dalek::x25519(hex32(private), hex32(public))
    }

    #[test]
    fn wa_transcript_chaining_keys() {
        // tests/data/noise_xx.json → wa_vectors → test_full_handshake_flow_with_go_data
        let client_eph_priv = "b8de0b5ebad3e7879fa659c0d27baa6c3e3f32a10f7c4cb2613cb4182fe83047";
        let client_eph_pub = "8537e1daadfb8e9ff8491896f5733008bad4967c2ba97670f69cf3053762ea4d";
        let server_eph_pub = "27692cf5d6a08e51f2d601f2e475378456bda16f96255c5121d081d0aa4a815d";
        let server_static = "5854d333d8e13975abd6597bbaddd49d6935ced25c93a44bd3ade508f2bec330";

        let mut s = SymmetricState::new(&super::super::NOISE_XX_PROTOCOL_NAME);
        assert_eq!(s.chaining_key(), &super::super::NOISE_XX_PROTOCOL_NAME);
        s.mix_hash(&[0x57, 0x41, 0x06, 0x03]);
        s.mix_hash(&hex32(client_eph_pub));
        s.mix_hash(&hex32(server_eph_pub));
        s.mix_key(&dh(client_eph_priv, server_eph_pub));
        assert_eq!(
            s.chaining_key(),
            &hex32("a505e995a2068e7103a582be6f6ba9d6b447a80db4e679209b2f7cc6da633709"),
            "salt_after_mix_1"
        );
        s.mix_key(&dh(client_eph_priv, server_static));
        assert_eq!(
            s.chaining_key(),
            &hex32("5092572187a71abe8044010b9c8419633272b45b2babf4ca316966edc3eb9bde"),
            "salt_after_mix_2"
        );
    }

    #[test]
    fn wa_server_static_decryption_chaining_key() {
        // wa_vectors → test_server_static_key_decryption_with_go_values
        let mut s = SymmetricState::new(&super::super::NOISE_XX_PROTOCOL_NAME);
        s.mix_key(&dh(
            "58a49f1c633f3d5161f6b7854c13d4b28ba4b6b5fe91644a5fc3c09fd623e07d",
            "9d9b8241572937f6672ce07221c143bc1cb1266334333f33797a592669523733",
        ));
        assert_eq!(
            s.chaining_key(),
            &hex32("cf20e4a2d076541a3f45609407f6501d9f20d55f40b06ff32af4573c44ab1595"),
            "go_salt_after_mix"
        );
    }

    #[test]
    fn wa_live_decryption_with_a_derived_key() {
        // wa_vectors → test_live_decryption_with_go_values: a handshake key and
        // h taken from a live run; nonce 0.
        let mut s = SymmetricState::new(&super::super::NOISE_XX_PROTOCOL_NAME);
        s.h = hex32("78b3c79d1c15cf84ec402678ac0478106a6f201a77e4d2364de1e096d65c7bfe");
        s.cipher = Some(Aes256Gcm::new(
            &hex32("0e34efece6dc4516c05c53bb7e0c2128bc66c053da4e0b18afb0afe8e648c05d").into(),
        ));
        let ciphertext = hexv(concat!(
            "920d8096b1c0e4376e0667c877d746fb2697c72b940beb73e89f87cc79e43aae",
            "6a23ed5c5ec7a4e37f04a9c4a9a25f02"
        ));
        let plain = s.decrypt_and_hash(&ciphertext).expect("decrypts");
        assert_eq!(
            plain,
            hex32("5854d333d8e13975abd6597bbaddd49d6935ced25c93a44bd3ade508f2bec330")
        );
        assert_eq!(s.n, 1);
    }

    #[test]
    fn debug_redacts_the_chaining_key() {
        let mut s = SymmetricState::new(b"x");
        s.mix_key(b"secret");
        let shown = format!("{s:?}");
        let ck: String = s
            .chaining_key()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!shown.contains(&ck));
        assert!(shown.contains("redacted"));
    }
}
