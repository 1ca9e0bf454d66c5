//! XEdDSA: a published libsignal vector, the real certificate signatures, the
//! sign bit in `signature[63]`, and refusal of altered input.

mod noise_support;

use curve25519_dalek::MontgomeryPoint;
use noise_support::*;
use proptest::prelude::*;
use prost::Message;
use wa_core::cert::WA_ROOT_PUBLIC_KEY;
use wa_core::proto::CertChain;
use wa_core::xeddsa::{self, XeddsaError};

fn public_of(private: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint::mul_base_clamped(*private).to_bytes()
}

/// libsignal `rust/core/src/curve/curve25519.rs`, `test_signature`: Alice's
/// identity key signs her serialized ephemeral key (`0x05 ‖ pub`, 33 bytes). The
/// signature's top bit is set, i.e. her Edwards key has sign 1.
struct LibsignalVector {
    private: [u8; 32],
    public: [u8; 32],
    message: Vec<u8>,
    signature: [u8; 64],
}

fn libsignal_vector() -> LibsignalVector {
    LibsignalVector {
        private: h32("c097248412e58bf05df487968205132794178e367637f5818f81e0e6ce73e865"),
        public: h32("ab7e717d4a163b7d9a1d8071dfe9dcf8cdcd1cea3339b6356be84d887e322c64"),
        message: h("05edce9d9c415ca78cb7252e72c2c4a554d3eb29485a0e1d503118d1a82d99fb4a"),
        signature: h("5de88ca9a89b4a115da79109c67c9c7464a3e4180274f1cb8c63c2984e286dfbede82deb9dcd9fae0bfbb821569b3d9001bd8130cd11d486cef047bd60b86e88")
            .try_into()
            .unwrap(),
    }
}

#[test]
fn libsignal_vector_verifies() {
    let v = libsignal_vector();
    assert_eq!(public_of(&v.private), v.public);
    assert_eq!(
        v.signature[63] >> 7,
        1,
        "this vector exercises the sign bit"
    );
    assert_eq!(xeddsa::verify(&v.public, &v.message, &v.signature), Ok(()));
    // The same message given in parts.
    assert_eq!(
        xeddsa::verify_parts(&v.public, &[&v.message[..1], &v.message[1..]], &v.signature),
        Ok(())
    );
}

#[test]
fn every_bit_flip_of_the_libsignal_signature_fails() {
    let v = libsignal_vector();
    for bit in 0..512 {
        let mut sig = v.signature;
        sig[bit / 8] ^= 1 << (bit % 8);
        assert!(
            xeddsa::verify(&v.public, &v.message, &sig).is_err(),
            "bit {bit} accepted"
        );
    }
    for bit in 0..v.message.len() * 8 {
        let mut msg = v.message.clone();
        msg[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            xeddsa::verify(&v.public, &msg, &v.signature),
            Err(XeddsaError::BadSignature),
            "message bit {bit}"
        );
    }
}

#[test]
fn our_signatures_with_the_libsignal_key_verify() {
    let v = libsignal_vector();
    let sig = xeddsa::sign(&v.private, &v.message, &[0x42; 64]);
    assert_eq!(sig[63] >> 7, 1);
    assert_eq!(xeddsa::verify(&v.public, &v.message, &sig), Ok(()));
    // Same R-nonce input, same signature; another random input, another valid one.
    assert_eq!(sig, xeddsa::sign(&v.private, &v.message, &[0x42; 64]));
    let other = xeddsa::sign(&v.private, &v.message, &[0x43; 64]);
    assert_ne!(sig, other);
    assert_eq!(xeddsa::verify(&v.public, &v.message, &other), Ok(()));
    // Signing in parts equals signing the concatenation.
    assert_eq!(
        xeddsa::sign_parts(&v.private, &[&v.message[..1], &v.message[1..]], &[0x42; 64]),
        sig
    );
}

#[test]
fn real_certificate_signatures_verify_with_their_issuers() {
    let chain = CertChain::decode(&real_chain()[..]).unwrap();
    let inter = chain.intermediate.unwrap();
    let leaf = chain.leaf.unwrap();
    let inter_sig: [u8; 64] = inter.signature.unwrap().try_into().unwrap();
    let leaf_sig: [u8; 64] = leaf.signature.unwrap().try_into().unwrap();
    let inter_key = h32("1c51a9ac303994c6c8d0b92ea1878a533476599cc599fbea35997d9aa90cce62");

    assert_eq!(
        xeddsa::verify(
            &WA_ROOT_PUBLIC_KEY,
            inter.details.as_ref().unwrap(),
            &inter_sig
        ),
        Ok(())
    );
    assert_eq!(
        xeddsa::verify(&inter_key, leaf.details.as_ref().unwrap(), &leaf_sig),
        Ok(())
    );
    // Both have the sign bit clear (docs/protocol.md §2.6), so the libsignal vector
    // above is what covers sign 1 with a foreign signature.
    assert_eq!((inter_sig[63] >> 7, leaf_sig[63] >> 7), (0, 0));
    // Crossed issuers fail.
    assert!(xeddsa::verify(&inter_key, inter.details.as_ref().unwrap(), &inter_sig).is_err());
    assert!(
        xeddsa::verify(
            &WA_ROOT_PUBLIC_KEY,
            leaf.details.as_ref().unwrap(),
            &leaf_sig
        )
        .is_err()
    );
}

/// The first seed byte whose key has the Edwards sign bit `sign`.
fn key_with_sign(sign: u8) -> [u8; 32] {
    (0u8..=255)
        .map(|seed| [seed; 32])
        .find(|private| xeddsa::sign(private, b"probe", &[0; 64])[63] >> 7 == sign)
        .expect("about half of all keys have each sign")
}

#[test]
fn keys_of_both_signs_round_trip_and_the_sign_bit_matters() {
    for sign in [0, 1] {
        let private = key_with_sign(sign);
        let public = public_of(&private);
        for (i, message) in [&b""[..], b"a", &[0xAA; 200]].into_iter().enumerate() {
            let sig = xeddsa::sign(&private, message, &[i as u8; 64]);
            assert_eq!(sig[63] >> 7, sign);
            assert_eq!(xeddsa::verify(&public, message, &sig), Ok(()));
            let mut flipped = sig;
            flipped[63] ^= 0x80;
            assert!(xeddsa::verify(&public, message, &flipped).is_err());
        }
    }
}

#[test]
fn unclamped_and_clamped_private_keys_sign_alike() {
    // X25519 clamps the scalar, so both forms are the same key.
    let raw = [0xFF; 32];
    let clamped = curve25519_dalek::scalar::clamp_integer(raw);
    assert_eq!(public_of(&raw), public_of(&clamped));
    assert_eq!(
        xeddsa::sign(&raw, b"m", &[1; 64]),
        xeddsa::sign(&clamped, b"m", &[1; 64])
    );
}

#[test]
fn invalid_keys_and_encodings_are_refused() {
    let private = key_with_sign(0);
    let public = public_of(&private);
    let sig = xeddsa::sign(&private, b"m", &[9; 64]);

    // u = 0 and u = 1: points of small order.
    for small in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        assert_eq!(
            xeddsa::verify(&small, b"m", &sig),
            Err(XeddsaError::InvalidPublicKey)
        );
    }
    // Bit 255 set: the same u for X25519, but not a canonical encoding.
    let mut high = public;
    high[31] |= 0x80;
    assert_eq!(
        xeddsa::verify(&high, b"m", &sig),
        Err(XeddsaError::InvalidPublicKey)
    );
    // p itself (non-canonical zero).
    let mut p = [0xFF; 32];
    p[0] = 0xED;
    p[31] = 0x7F;
    assert_eq!(
        xeddsa::verify(&p, b"m", &sig),
        Err(XeddsaError::InvalidPublicKey)
    );

    // s ≥ ℓ: add ℓ to a valid s. The result is below 2²⁵⁴, so the top bit stays
    // free; libsignal's own check (bits 253–254 clear) lets many such values
    // through, the canonical-scalar check refuses them all.
    let ell: [u8; 32] = h32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig[32..]);
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(ell[i]) + carry;
        s[i] = sum as u8;
        carry = sum >> 8;
    }
    let mut big_s = sig;
    big_s[32..].copy_from_slice(&s);
    assert_eq!(
        xeddsa::verify(&public, b"m", &big_s),
        Err(XeddsaError::MalformedSignature)
    );

    // R = the identity point (small order).
    let mut small_r = sig;
    small_r[..32].copy_from_slice(&h32(
        "0100000000000000000000000000000000000000000000000000000000000000",
    ));
    // Refused: it cannot equal the expected R (a small-order R that did
    // equal it would be refused as malformed).
    assert!(matches!(
        xeddsa::verify(&public, b"m", &small_r),
        Err(XeddsaError::BadSignature | XeddsaError::MalformedSignature)
    ));

    assert_eq!(xeddsa::verify(&public, b"m", &sig), Ok(()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_keys_and_messages_round_trip(
        private in any::<[u8; 32]>(),
        random in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut z = [0u8; 64];
        z[..32].copy_from_slice(&random);
        let sig = xeddsa::sign(&private, &message, &z);
        prop_assert_eq!(xeddsa::verify(&public_of(&private), &message, &sig), Ok(()));
    }

    #[test]
    fn random_signatures_do_not_verify(sig in proptest::collection::vec(any::<u8>(), 64)) {
        let v = libsignal_vector();
        let sig: [u8; 64] = sig.try_into().unwrap();
        prop_assert!(xeddsa::verify(&v.public, &v.message, &sig).is_err());
    }
}
