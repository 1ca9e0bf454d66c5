//! XEdDSA signatures on Curve25519 keys, compatible with libsignal
//! (docs/protocol.md §2.6).
//!
//! WhatsApp signs with X25519 key pairs: the server certificate chain, signed
//! prekeys, and the pairing identities. The scheme is Signal's XEdDSA with
//! libsignal's twist: the sign bit of the signer's Edwards public key travels in
//! the top bit of `signature[63]` (always zero in a reduced scalar) instead of
//! being forced to 0 by negating the private key.
//!
//! - **Sign**: `a` = the clamped X25519 private scalar, `A = a·B` (its sign bit is
//!   remembered); `r = SHA-512(FE FF…FF ‖ a ‖ M ‖ Z) mod ℓ` with 64 caller-supplied
//!   random bytes `Z` (the XEdDSA spec's `hash₁` prefix: 0xFE then 31 × 0xFF);
//!   `R = r·B`; `h = SHA-512(R ‖ A ‖ M) mod ℓ`; `s = h·a + r`;
//!   signature = `R ‖ s` with `A`'s sign bit or-ed into bit 7 of byte 63.
//! - **Verify** (strict): take and clear the sign bit, convert the Montgomery key
//!   `u` to the Edwards point with that sign, then check `R == s·B − h·A`
//!   byte for byte. Refused: a non-canonical `u` (≥ p), a `u` that is not on the
//!   curve, a small-order `A` or `R`, a non-canonical `s` (≥ ℓ) and an `R` that
//!   does not decode (it cannot equal the canonical encoding of `s·B − h·A`).
//!
//! The spec-style variant (sign forced to 0) rejects about half of libsignal's
//! signatures; this module accepts them and produces them.
//!
//! ```
//! use wa_core::xeddsa;
//!
//! let private = [0x11; 32];
//! let public = curve25519_dalek::MontgomeryPoint::mul_base_clamped(private).to_bytes();
//! let signature = xeddsa::sign(&private, b"message", &[0x22; 64]);
//! assert_eq!(xeddsa::verify(&public, b"message", &signature), Ok(()));
//! assert!(xeddsa::verify(&public, b"massage", &signature).is_err());
//! ```

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::{Scalar, clamp_integer};
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};

/// Length of an XEdDSA signature.
pub const SIGNATURE_LEN: usize = 64;

/// The XEdDSA spec's `hash₁` prefix: the little-endian encoding of `2²⁵⁶ − 2`.
const HASH1_PREFIX: [u8; 32] = {
    let mut p = [0xFF; 32];
    p[0] = 0xFE;
    p
};

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum XeddsaError {
    /// The public key is not a canonical Curve25519 `u` coordinate of a point of
    /// large order.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// The signature's `R` or `s` is not a valid encoding.
    #[error("malformed signature")]
    MalformedSignature,
    /// The signature does not match the key and message.
    #[error("signature mismatch")]
    BadSignature,
}

/// Signs `message` with an X25519 private key; `random` must be 64 fresh random
/// bytes (they only hide the nonce, so equal inputs give equal signatures, which
/// keeps tests deterministic).
pub fn sign(private_key: &[u8; 32], message: &[u8], random: &[u8; 64]) -> [u8; SIGNATURE_LEN] {
    sign_parts(private_key, &[message], random)
}

/// [`sign`] with 64 random bytes drawn from `rng`.
pub fn sign_with_rng<R: CryptoRng + ?Sized>(
    private_key: &[u8; 32],
    message: &[u8],
    rng: &mut R,
) -> [u8; SIGNATURE_LEN] {
    let mut random = [0u8; 64];
    rng.fill_bytes(&mut random);
    sign(private_key, message, &random)
}

/// Signs the concatenation of `parts` without building it (for example
/// `[&[0x05], &signed_prekey_pub]`).
pub fn sign_parts(
    private_key: &[u8; 32],
    parts: &[&[u8]],
    random: &[u8; 64],
) -> [u8; SIGNATURE_LEN] {
    let clamped = clamp_integer(*private_key);
    let a = Scalar::from_bytes_mod_order(clamped);
    let big_a = EdwardsPoint::mul_base(&a).compress();
    let sign_bit = big_a.as_bytes()[31] & 0x80;

    let mut nonce_hash = Sha512::new();
    nonce_hash.update(HASH1_PREFIX);
    nonce_hash.update(clamped);
    for part in parts {
        nonce_hash.update(part);
    }
    nonce_hash.update(random);
    let r = Scalar::from_hash(nonce_hash);
    let big_r = EdwardsPoint::mul_base(&r).compress();

    let h = challenge(&big_r, &big_a, parts);
    let s = h * a + r;

    let mut signature = [0u8; SIGNATURE_LEN];
    signature[..32].copy_from_slice(big_r.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    // s < ℓ < 2²⁵³, so bit 7 of its last byte is free for the sign bit.
    signature[63] |= sign_bit;
    signature
}

/// Verifies a libsignal-style XEdDSA signature by the X25519 key `public_key`.
pub fn verify(
    public_key: &[u8; 32],
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), XeddsaError> {
    verify_parts(public_key, &[message], signature)
}

/// [`verify`] over the concatenation of `parts`.
pub fn verify_parts(
    public_key: &[u8; 32],
    parts: &[&[u8]],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), XeddsaError> {
    if !is_canonical_u(public_key) {
        return Err(XeddsaError::InvalidPublicKey);
    }
    let sign = signature[63] >> 7;
    let big_a = MontgomeryPoint(*public_key)
        .to_edwards(sign)
        .ok_or(XeddsaError::InvalidPublicKey)?;
    if big_a.is_small_order() {
        return Err(XeddsaError::InvalidPublicKey);
    }

    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    s_bytes[31] &= 0x7F;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))
        .ok_or(XeddsaError::MalformedSignature)?;
    let big_r = CompressedEdwardsY(r_bytes);
    let h = challenge(&big_r, &big_a.compress(), parts);
    let expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &-big_a, &s);
    // R is not decompressed (that costs a square root): the canonical
    // encoding of the expected point must equal R's bytes, which refuses an R
    // that does not decode or is not canonical just the same. Everything
    // compared here is public, so a plain comparison is fine.
    if expected.compress().as_bytes() != big_r.as_bytes() {
        return Err(XeddsaError::BadSignature);
    }
    if expected.is_small_order() {
        return Err(XeddsaError::MalformedSignature);
    }
    Ok(())
}

/// `h = SHA-512(R ‖ A ‖ M) mod ℓ`.
fn challenge(big_r: &CompressedEdwardsY, big_a: &CompressedEdwardsY, parts: &[&[u8]]) -> Scalar {
    let mut hash = Sha512::new();
    hash.update(big_r.as_bytes());
    hash.update(big_a.as_bytes());
    for part in parts {
        hash.update(part);
    }
    Scalar::from_hash(hash)
}

/// Whether `u` (little-endian) is below `p = 2²⁵⁵ − 19`: bit 255 clear and not
/// one of the 19 values `p ..= 2²⁵⁵ − 1`.
fn is_canonical_u(u: &[u8; 32]) -> bool {
    if u[31] & 0x80 != 0 {
        return false;
    }
    let in_top_range = u[31] == 0x7F && u[1..31].iter().all(|&b| b == 0xFF) && u[0] >= 0xED;
    !in_top_range
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_u_boundaries() {
        let mut p = [0xFF; 32];
        p[0] = 0xED;
        p[31] = 0x7F;
        assert!(!is_canonical_u(&p));
        let mut below = p;
        below[0] = 0xEC;
        assert!(is_canonical_u(&below));
        let mut high_bit = [0u8; 32];
        high_bit[31] = 0x80;
        assert!(!is_canonical_u(&high_bit));
        assert!(is_canonical_u(&[0u8; 32]));
    }
}
