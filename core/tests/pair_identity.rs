//! `Device::generate`: key consistency, the signed-prekey XEdDSA signature,
//! the registration id range, determinism, and a `Debug` that hides secrets.

use curve25519_dalek::MontgomeryPoint;
use curve25519_dalek::scalar::clamp_integer;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_core::connection::{ClientProfile, client_payload};
use wa_core::store::{Device, DeviceKeys};
use wa_core::xeddsa::{self, XeddsaError};

fn generated(seed: u8) -> Device {
    Device::generate(&mut ChaCha20Rng::from_seed([seed; 32]))
}

fn public_of(private: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint::mul_base_clamped(*private).to_bytes()
}

#[test]
fn generated_keys_are_consistent_clamped_pairs() {
    for seed in 0..8 {
        let d = generated(seed);
        for (name, kp) in [
            ("noise", &d.noise_key),
            ("identity", &d.identity_key),
            ("signed prekey", &d.signed_pre_key),
        ] {
            assert_eq!(public_of(&kp.private), kp.public, "{name} of seed {seed}");
            assert_eq!(clamp_integer(kp.private), kp.private, "{name} not clamped");
        }
        // Three independent keys and a secret that is none of them.
        assert_ne!(d.noise_key.private, d.identity_key.private);
        assert_ne!(d.identity_key.private, d.signed_pre_key.private);
        assert_ne!(d.adv_secret_key, [0; 32]);
        assert_ne!(d.adv_secret_key, d.identity_key.private);
        assert_eq!(d.signed_pre_key_id, 1);
        assert!(!d.is_registered());
        assert_eq!(d.account, None);
        assert_eq!(d.next_pre_key_id, 1);
    }
}

#[test]
fn signed_prekey_signature_is_xeddsa_over_0x05_and_the_public_key() {
    for seed in 0..8 {
        let d = generated(seed);
        assert_eq!(d.verify_signed_pre_key(), Ok(()));
        // The same check spelled out against the xeddsa module.
        let mut message = vec![0x05];
        message.extend_from_slice(&d.signed_pre_key.public);
        assert_eq!(
            xeddsa::verify(
                &d.identity_key.public,
                &message,
                &d.signed_pre_key_signature
            ),
            Ok(())
        );
        // Not over the bare key, not by another key, not with a flipped bit.
        assert_eq!(
            xeddsa::verify(
                &d.identity_key.public,
                &d.signed_pre_key.public,
                &d.signed_pre_key_signature
            ),
            Err(XeddsaError::BadSignature)
        );
        assert!(
            xeddsa::verify(&d.noise_key.public, &message, &d.signed_pre_key_signature).is_err()
        );
        let mut flipped = d.clone();
        flipped.signed_pre_key_signature[10] ^= 0x01;
        assert!(flipped.verify_signed_pre_key().is_err());
    }
}

#[test]
fn identity_key_signs_and_verifies_with_the_xeddsa_module() {
    // Cross-check: what the generated identity key signs verifies with its
    // public key, and the other way round for a signature of the module.
    let d = generated(3);
    let signature = xeddsa::sign(&d.identity_key.private, b"pairing", &[9; 64]);
    assert_eq!(
        xeddsa::verify(&d.identity_key.public, b"pairing", &signature),
        Ok(())
    );
    assert!(xeddsa::verify(&d.identity_key.public, b"pairinG", &signature).is_err());
    // A device built from the same keys by hand signs identically.
    let keys = DeviceKeys {
        noise_key: d.noise_key.clone(),
        identity_key: d.identity_key.clone(),
        registration_id: d.registration_id,
        signed_pre_key: d.signed_pre_key.clone(),
        signed_pre_key_id: 1,
        signed_pre_key_signature: d.signed_pre_key_signature,
        adv_secret_key: d.adv_secret_key,
    };
    assert_eq!(Device::from_keys(keys), d);
}

#[test]
fn generation_is_deterministic_per_seed_and_differs_across_seeds() {
    assert_eq!(generated(5), generated(5));
    assert_ne!(generated(5).identity_key, generated(6).identity_key);
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let first = Device::generate(&mut rng);
    let second = Device::generate(&mut rng);
    assert_ne!(first.noise_key, second.noise_key);
    assert_ne!(first.adv_secret_key, second.adv_secret_key);
}

#[test]
fn registration_ids_are_in_1_to_2_pow_31_minus_1() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let mut high_half = 0;
    for _ in 0..200 {
        let id = DeviceKeys::generate(&mut rng).registration_id;
        assert!((1..=0x7FFF_FFFF).contains(&id), "{id}");
        if id >= 0x4000_0000 {
            high_half += 1;
        }
    }
    // Uniform over 31 bits: about half land in the upper half (the 14-bit ids
    // of Baileys never would).
    assert!((60..=140).contains(&high_half), "{high_half}");
}

#[test]
fn rotating_the_adv_secret_changes_only_the_secret() {
    let before = generated(4);
    let mut after = before.clone();
    after.rotate_adv_secret(&mut ChaCha20Rng::from_seed([40; 32]));
    assert_ne!(after.adv_secret_key, before.adv_secret_key);
    after.adv_secret_key = before.adv_secret_key;
    assert_eq!(after, before);
}

/// Hex (both cases) and decimal-array spellings of the first 4 bytes.
fn spellings(secret: &[u8; 32]) -> Vec<String> {
    let window = &secret[..4];
    let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
    let decimal = window
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    vec![hex.clone(), hex.to_uppercase(), decimal]
}

#[test]
fn debug_of_a_generated_device_hides_private_keys_and_the_adv_secret() {
    for seed in 0..4 {
        let d = generated(seed);
        let keys = DeviceKeys::generate(&mut ChaCha20Rng::from_seed([seed; 32]));
        for shown in [
            format!("{d:?}"),
            format!("{d:#?}"),
            format!("{keys:?}"),
            format!("{keys:#?}"),
        ] {
            for secret in [
                &d.noise_key.private,
                &d.identity_key.private,
                &d.signed_pre_key.private,
                &d.adv_secret_key,
            ] {
                for spelling in spellings(secret) {
                    assert!(!shown.contains(&spelling), "{spelling} leaked: {shown}");
                }
            }
            // The public identity is shown, so the check above can fail.
            let public: String = d.identity_key.public[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(shown.contains(&public), "{shown}");
        }
    }
}

#[test]
fn a_generated_device_registers_with_its_own_keys() {
    let d = generated(2);
    let payload = client_payload(&ClientProfile::default(), &d).expect("payload");
    let reg = payload.device_pairing_data.expect("registration data");
    assert_eq!(
        reg.e_regid.as_deref(),
        Some(&d.registration_id.to_be_bytes()[..])
    );
    assert_eq!(reg.e_ident.as_deref(), Some(&d.identity_key.public[..]));
    assert_eq!(reg.e_skey_id.as_deref(), Some(&[0, 0, 1][..]));
    assert_eq!(
        reg.e_skey_val.as_deref(),
        Some(&d.signed_pre_key.public[..])
    );
    let sig: [u8; 64] = reg.e_skey_sig.as_deref().unwrap().try_into().unwrap();
    let mut message = vec![0x05];
    message.extend_from_slice(reg.e_skey_val.as_deref().unwrap());
    assert_eq!(
        xeddsa::verify(
            reg.e_ident.as_deref().unwrap().try_into().unwrap(),
            &message,
            &sig
        ),
        Ok(())
    );
}
