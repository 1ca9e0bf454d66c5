//! The primitives under the ratchet: key derivations, AES-256-CBC, the message
//! MAC and X25519 (described in `docs/signal.md`).

use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::SignalError;

type HmacSha256 = Hmac<Sha256>;

/// The seed-derivation byte of a chain step (message key seed).
const MESSAGE_KEY_SEED: u8 = 0x01;
/// The chain-advance byte of a chain step.
const CHAIN_KEY_SEED: u8 = 0x02;

/// X25519 of our private key and their public key; the all-zero result of a
/// low-order key is refused.
pub(crate) fn agree(private: &[u8; 32], their_public: &[u8; 32]) -> Result<[u8; 32], SignalError> {
    crate::keys::x25519(private, their_public).ok_or(SignalError::LowOrderKey)
}

/// HMAC-SHA256 keyed with 32 zero bytes: HKDF's extract step without a salt.
/// Keying costs two SHA-256 blocks; this does it once.
static ZERO_SALT: std::sync::LazyLock<HmacSha256> = std::sync::LazyLock::new(|| hmac(&[0u8; 32]));

/// HKDF-SHA256 into `out` (salt `None` is 32 zero bytes).
pub(crate) fn hkdf(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], out: &mut [u8]) {
    let expanded = match salt {
        Some(salt) => Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, out),
        None => {
            let mut extract = ZERO_SALT.clone();
            extract.update(ikm);
            let mut prk: [u8; 32] = extract.finalize().into_bytes().into();
            let result = match Hkdf::<Sha256>::from_prk(&prk) {
                Ok(hkdf) => hkdf.expand(info, out),
                Err(_) => unreachable!("a SHA-256 PRK is 32 bytes"),
            };
            prk.zeroize();
            result
        }
    };
    // The output lengths used here (48, 64, 80) are far below HKDF's limit.
    if expanded.is_err() {
        out.fill(0);
    }
}

/// A keyed HMAC-SHA256, ready to be cloned for several messages.
pub(crate) fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts every key length"),
    }
}

/// One step of a chain (ratchet chains and sender-key chains alike): the
/// message-key seed of `chain_key` and the next chain key.
pub(crate) fn chain_step(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let keyed = hmac(chain_key);
    let mut seed_mac = keyed.clone();
    seed_mac.update(&[MESSAGE_KEY_SEED]);
    let mut next_mac = keyed;
    next_mac.update(&[CHAIN_KEY_SEED]);
    (
        seed_mac.finalize().into_bytes().into(),
        next_mac.finalize().into_bytes().into(),
    )
}

/// The keys of one ratchet message.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKeys {
    pub(crate) cipher_key: [u8; 32],
    pub(crate) mac_key: [u8; 32],
    pub(crate) iv: [u8; 16],
}

impl MessageKeys {
    /// `HKDF(seed, "WhisperMessageKeys", 80)` → cipher key ‖ MAC key ‖ IV.
    pub(crate) fn derive(seed: &[u8; 32]) -> Self {
        let mut okm = [0u8; 80];
        hkdf(None, seed, b"WhisperMessageKeys", &mut okm);
        let mut keys = MessageKeys {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        keys.cipher_key.copy_from_slice(&okm[..32]);
        keys.mac_key.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..]);
        okm.zeroize();
        keys
    }
}

/// `HKDF(seed, "WhisperGroup", 48)` → IV 16 ‖ cipher key 32.
pub(crate) fn sender_message_keys(seed: &[u8; 32]) -> ([u8; 16], [u8; 32]) {
    let mut okm = [0u8; 48];
    hkdf(None, seed, b"WhisperGroup", &mut okm);
    let mut iv = [0u8; 16];
    let mut key = [0u8; 32];
    iv.copy_from_slice(&okm[..16]);
    key.copy_from_slice(&okm[16..]);
    okm.zeroize();
    (iv, key)
}

/// `HKDF(salt = root, DH, "WhisperRatchet", 64)` → new root key ‖ chain key.
pub(crate) fn ratchet_root(root_key: &[u8], shared: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let mut okm = [0u8; 64];
    hkdf(Some(root_key), shared, b"WhisperRatchet", &mut okm);
    split64(okm)
}

/// Splits 64 derived bytes into two keys and wipes the source.
pub(crate) fn split64(mut okm: [u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..]);
    okm.zeroize();
    (a, b)
}

/// AES-256-CBC with PKCS#7 padding.
pub(crate) fn cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    let padded = plaintext.len() / 16 * 16 + 16;
    let mut buf = vec![0u8; padded];
    buf[..plaintext.len()].copy_from_slice(plaintext);
    let encryptor = cbc::Encryptor::<Aes256>::new(key.into(), iv.into());
    match encryptor.encrypt_padded::<Pkcs7>(&mut buf, plaintext.len()) {
        Ok(_) => buf,
        Err(_) => unreachable!("the buffer holds the padded plaintext"),
    }
}

/// AES-256-CBC decryption; a length that is not a positive multiple of 16 or a
/// bad padding is an error.
pub(crate) fn cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SignalError> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(SignalError::InvalidMessage("ciphertext length"));
    }
    let mut buf = ciphertext.to_vec();
    let decryptor = cbc::Decryptor::<Aes256>::new(key.into(), iv.into());
    let len = match decryptor.decrypt_padded::<Pkcs7>(&mut buf) {
        Ok(plain) => plain.len(),
        Err(_) => {
            buf.zeroize();
            return Err(SignalError::InvalidMessage("bad padding"));
        }
    };
    buf.truncate(len);
    Ok(buf)
}

/// The 8-byte MAC of a ratchet message: HMAC-SHA256(mac key, sender identity ‖
/// receiver identity ‖ serialized message), truncated.
pub(crate) fn message_mac(
    mac_key: &[u8; 32],
    sender_identity: &[u8],
    receiver_identity: &[u8],
    serialized: &[u8],
) -> [u8; 8] {
    let mut mac = hmac(mac_key);
    mac.update(sender_identity);
    mac.update(receiver_identity);
    mac.update(serialized);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 8];
    out.copy_from_slice(&full[..8]);
    out
}

/// Equality without an early exit.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A 32-byte array from a slice of that length.
pub(crate) fn array32(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}
