//! Pair-code key material (docs/protocol.md §6.3): known answers computed with an
//! independent implementation (OpenSSL through Python's `hashlib` and
//! `cryptography`: PBKDF2-HMAC-SHA256, AES-256-CTR, HKDF-SHA256,
//! AES-256-GCM), round trips, and both sides deriving the same ADV secret.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_core::noise::KeyPair;
use wa_core::pair::{PAIR_CODE_ALPHABET, PairError, is_valid_pair_code};
use wa_core::testing::pair_crypto::{
    KeyBundle, WRAPPED_KEY_BUNDLE_LEN, decrypt_key_bundle, derive_adv_secret, encrypt_key_bundle,
    generate_pair_code, pair_code_key, unwrap_key, wrap_key, x25519,
};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

const CODE: &str = "ABCD1234";

fn salt() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

fn iv() -> [u8; 16] {
    std::array::from_fn(|i| 0xF0 + i as u8)
}

#[test]
fn code_key_is_pbkdf2_hmac_sha256_with_131072_rounds() {
    // hashlib.pbkdf2_hmac("sha256", b"ABCD1234", bytes(range(32)), 131072, 32)
    assert_eq!(
        pair_code_key(CODE, &salt()).to_vec(),
        unhex("b04d4d0e43ffa6d1a3b2226d4ee58ba2900a470c09bcf39fb5257512a55c08bc")
    );
}

#[test]
fn wrapping_matches_aes_256_ctr_with_a_128_bit_big_endian_counter() {
    // The IV f0…ff makes the counter carry into byte 14 on the second block, so
    // a 64-bit or little-endian counter would give other bytes.
    let wrapped = wrap_key(CODE, &[0x42; 32], &salt(), &iv());
    assert_eq!(
        wrapped.to_vec(),
        unhex(
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
             f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\
             177d1713559cb1d2839c9ff3ec708299b3954400d1525e671222fe099bf9147c"
        )
    );
    assert_eq!(unwrap_key(CODE, &wrapped), Ok([0x42; 32]));
}

#[test]
fn unwrapping_with_another_code_gives_another_key_and_bad_lengths_are_refused() {
    let wrapped = wrap_key(CODE, &[0x42; 32], &salt(), &iv());
    let other = unwrap_key("ABCD1235", &wrapped).expect("any code unwraps");
    assert_ne!(other, [0x42; 32]);
    for len in [0, 79, 81, 160] {
        assert_eq!(
            unwrap_key(CODE, &vec![0; len]),
            Err(PairError::Malformed("wrapped ephemeral key")),
            "{len}"
        );
    }
}

#[test]
fn key_bundle_matches_hkdf_and_aes_256_gcm() {
    let bundle = KeyBundle {
        companion_identity: [1; 32],
        primary_identity: [2; 32],
        random: [3; 32],
    };
    let wrapped = encrypt_key_bundle(&[0x11; 32], &bundle, &[0x22; 32], &[0x33; 12]);
    assert_eq!(wrapped.len(), WRAPPED_KEY_BUNDLE_LEN);
    assert_eq!(
        wrapped,
        unhex(
            "2222222222222222222222222222222222222222222222222222222222222222\
             333333333333333333333333\
             00fd4f66f6aa5642f3e3e64959a203b7ec574022096c3cfb8e89af2805e29e9b\
             539eff22dd26eaea7075330c1e3e806511196ad8c22259de55f37eb0754124c7\
             c8b783784e66136ca4d7dcaceb13f5d543e8a352b44a51769eed84341036c44e\
             a32b39b9a50bb7bd9784219d06c3e534"
        )
    );
    assert_eq!(decrypt_key_bundle(&[0x11; 32], &wrapped), Ok(bundle));
}

#[test]
fn altered_or_misaddressed_key_bundles_are_refused() {
    let bundle = KeyBundle {
        companion_identity: [1; 32],
        primary_identity: [2; 32],
        random: [3; 32],
    };
    let wrapped = encrypt_key_bundle(&[0x11; 32], &bundle, &[0x22; 32], &[0x33; 12]);
    // Every single bit flip anywhere (salt, iv, ciphertext, tag) is caught.
    for byte in 0..wrapped.len() {
        for bit in [0x01, 0x80] {
            let mut altered = wrapped.clone();
            altered[byte] ^= bit;
            assert_eq!(
                decrypt_key_bundle(&[0x11; 32], &altered),
                Err(PairError::KeyBundleDecrypt),
                "byte {byte} bit {bit:#x}"
            );
        }
    }
    assert_eq!(
        decrypt_key_bundle(&[0x12; 32], &wrapped),
        Err(PairError::KeyBundleDecrypt)
    );
    assert_eq!(
        decrypt_key_bundle(&[0x11; 32], &wrapped[..wrapped.len() - 1]),
        Err(PairError::Malformed("wrapped key bundle"))
    );
}

#[test]
fn adv_secret_is_hkdf_of_both_shared_secrets_and_the_random() {
    // HKDF(SHA256, salt=None, info=b"adv_secret").derive(11…11 ‖ 44…44 ‖ 03…03)
    assert_eq!(
        derive_adv_secret(&[0x11; 32], &[0x44; 32], &[3; 32]).to_vec(),
        unhex("0a2146d9ce320392c06228dcbdf87d3b28b6d7689875a691c842bbc8aa0e83e9")
    );
    assert_ne!(
        derive_adv_secret(&[0x11; 32], &[0x44; 32], &[4; 32]),
        derive_adv_secret(&[0x11; 32], &[0x44; 32], &[3; 32])
    );
}

#[test]
fn companion_and_primary_derive_the_same_adv_secret() {
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let code = generate_pair_code(&mut rng);
    assert!(is_valid_pair_code(&code), "{code}");
    let companion_eph = KeyPair::generate(&mut rng);
    let companion_identity = KeyPair::generate(&mut rng);
    let primary_eph = KeyPair::generate(&mut rng);
    let primary_identity = KeyPair::generate(&mut rng);

    // Each side wraps its ephemeral key with the code; the other unwraps it.
    let companion_wrapped = wrap_key(&code, companion_eph.public_key(), &[5; 32], &[6; 16]);
    let primary_wrapped = wrap_key(&code, primary_eph.public_key(), &[7; 32], &[8; 16]);
    let seen_by_primary = unwrap_key(&code, &companion_wrapped).unwrap();
    let seen_by_companion = unwrap_key(&code, &primary_wrapped).unwrap();
    assert_eq!(&seen_by_primary, companion_eph.public_key());
    assert_eq!(&seen_by_companion, primary_eph.public_key());

    // Companion: DH, bundle, secret.
    let eph_shared = x25519(companion_eph.private_key(), &seen_by_companion).unwrap();
    let id_shared = x25519(
        companion_identity.private_key(),
        primary_identity.public_key(),
    )
    .unwrap();
    let bundle = KeyBundle {
        companion_identity: *companion_identity.public_key(),
        primary_identity: *primary_identity.public_key(),
        random: [0x5A; 32],
    };
    let wrapped_bundle = encrypt_key_bundle(&eph_shared, &bundle, &[1; 32], &[2; 12]);
    let companion_secret = derive_adv_secret(&eph_shared, &id_shared, &bundle.random);

    // Primary: the same DH from its side, opens the bundle, same secret.
    let p_eph_shared = x25519(primary_eph.private_key(), &seen_by_primary).unwrap();
    let opened = decrypt_key_bundle(&p_eph_shared, &wrapped_bundle).unwrap();
    assert_eq!(&opened.primary_identity, primary_identity.public_key());
    let p_id_shared = x25519(primary_identity.private_key(), &opened.companion_identity).unwrap();
    assert_eq!(
        derive_adv_secret(&p_eph_shared, &p_id_shared, &opened.random),
        companion_secret
    );
}

#[test]
fn generated_codes_use_the_whole_alphabet() {
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let mut seen = [false; 32];
    for _ in 0..200 {
        let code = generate_pair_code(&mut rng);
        assert!(is_valid_pair_code(&code), "{code}");
        for b in code.bytes() {
            let i = PAIR_CODE_ALPHABET.iter().position(|&a| a == b).unwrap();
            seen[i] = true;
        }
    }
    assert!(seen.iter().all(|&s| s), "{seen:?}");
}

#[test]
fn debug_of_a_key_bundle_hides_the_random() {
    let bundle = KeyBundle {
        companion_identity: [0x01; 32],
        primary_identity: [0x02; 32],
        random: [0xAB; 32],
    };
    let shown = format!("{bundle:?}");
    assert!(!shown.to_lowercase().contains("abab"), "{shown}");
    assert!(!shown.contains("171, 171"), "{shown}");
    assert!(shown.contains("0101"), "{shown}");
}
