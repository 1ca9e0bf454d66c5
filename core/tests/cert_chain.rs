//! Certificate chain verification against the real chain captured from WhatsApp,
//! and build → verify with a test root.

mod noise_support;

use noise_support::*;
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_core::cert::{
    CertDetails, CertError, CertRole, VerifiedChain, WA_ROOT_PUBLIC_KEY, build_cert_chain,
    sign_certificate, verify_server_cert_chain,
};
use wa_core::noise::KeyPair;
use wa_core::proto::CertChain;
use wa_core::xeddsa::XeddsaError;

fn verify_real(chain: &[u8], now: u64) -> Result<VerifiedChain, CertError> {
    verify_server_cert_chain(chain, &real_server_static(), &WA_ROOT_PUBLIC_KEY, now)
}

#[test]
fn root_key_constant() {
    assert_eq!(
        WA_ROOT_PUBLIC_KEY,
        h32("142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b")
    );
}

#[test]
fn real_chain_verifies_inside_the_leaf_window() {
    let chain = real_chain();
    let verified = verify_real(&chain, INSIDE).expect("the real chain verifies");
    assert_eq!(
        verified.leaf,
        CertDetails {
            serial: 329,
            issuer_serial: 3,
            key: real_server_static(),
            not_before: LEAF_NOT_BEFORE,
            not_after: LEAF_NOT_AFTER,
        }
    );
    assert_eq!(
        verified.intermediate,
        CertDetails {
            serial: 3,
            issuer_serial: 0,
            key: h32("1c51a9ac303994c6c8d0b92ea1878a533476599cc599fbea35997d9aa90cce62"),
            not_before: INTERMEDIATE_NOT_BEFORE,
            not_after: INTERMEDIATE_NOT_AFTER,
        }
    );
    // Both window ends are inclusive.
    assert!(verify_real(&chain, LEAF_NOT_BEFORE).is_ok());
    assert!(verify_real(&chain, LEAF_NOT_AFTER).is_ok());
}

#[test]
fn real_chain_fails_outside_the_windows() {
    let chain = real_chain();
    assert_eq!(
        verify_real(&chain, LEAF_NOT_BEFORE - 1),
        Err(CertError::NotYetValid {
            role: CertRole::Leaf,
            not_before: LEAF_NOT_BEFORE
        })
    );
    assert_eq!(
        verify_real(&chain, LEAF_NOT_AFTER + 1),
        Err(CertError::Expired {
            role: CertRole::Leaf,
            not_after: LEAF_NOT_AFTER
        })
    );
    // Before the intermediate's own window, the intermediate is reported.
    assert_eq!(
        verify_real(&chain, INTERMEDIATE_NOT_BEFORE - 1),
        Err(CertError::NotYetValid {
            role: CertRole::Intermediate,
            not_before: INTERMEDIATE_NOT_BEFORE
        })
    );
    assert_eq!(
        verify_real(&chain, INTERMEDIATE_NOT_AFTER + 1),
        Err(CertError::Expired {
            role: CertRole::Intermediate,
            not_after: INTERMEDIATE_NOT_AFTER
        })
    );
    assert!(verify_real(&chain, 0).is_err());
    assert!(verify_real(&chain, u64::MAX).is_err());
}

#[test]
fn real_chain_fails_with_another_server_static_or_root() {
    let chain = real_chain();
    let mut rs = real_server_static();
    for i in 0..32 {
        rs[i] ^= 0x01;
        assert_eq!(
            verify_server_cert_chain(&chain, &rs, &WA_ROOT_PUBLIC_KEY, INSIDE),
            Err(CertError::LeafKeyMismatch)
        );
        rs[i] ^= 0x01;
    }
    let mut root = WA_ROOT_PUBLIC_KEY;
    root[5] ^= 0x10;
    assert!(matches!(
        verify_server_cert_chain(&chain, &rs, &root, INSIDE),
        Err(CertError::BadSignature {
            role: CertRole::Intermediate,
            ..
        })
    ));
}

/// Re-encodes the chain after `edit` changes one certificate part.
fn edited(edit: impl FnOnce(&mut CertChain)) -> Vec<u8> {
    let mut chain = CertChain::decode(&real_chain()[..]).unwrap();
    edit(&mut chain);
    chain.encode_to_vec()
}

#[test]
fn real_chain_re_encodes_identically() {
    // The edits below re-encode the chain; make sure an unedited re-encoding is
    // the original, so every failure is caused by the edit alone.
    assert_eq!(edited(|_| {}), real_chain());
}

type Part = fn(&mut CertChain) -> &mut Vec<u8>;

fn leaf_details(c: &mut CertChain) -> &mut Vec<u8> {
    c.leaf.as_mut().unwrap().details.as_mut().unwrap()
}
fn leaf_signature(c: &mut CertChain) -> &mut Vec<u8> {
    c.leaf.as_mut().unwrap().signature.as_mut().unwrap()
}
fn intermediate_details(c: &mut CertChain) -> &mut Vec<u8> {
    c.intermediate.as_mut().unwrap().details.as_mut().unwrap()
}
fn intermediate_signature(c: &mut CertChain) -> &mut Vec<u8> {
    c.intermediate.as_mut().unwrap().signature.as_mut().unwrap()
}

/// Flips every bit of one part in turn; each flipped chain must be refused.
/// Returns how many flips were tried. (One test per part, so they run in
/// parallel: a verification is slow in unoptimized builds.)
fn sweep(part: Part) -> usize {
    let len = part(&mut CertChain::decode(&real_chain()[..]).unwrap()).len();
    for bit in 0..len * 8 {
        let chain = edited(|c| part(c)[bit / 8] ^= 1 << (bit % 8));
        assert!(verify_real(&chain, INSIDE).is_err(), "bit {bit} accepted");
    }
    len * 8
}

#[test]
fn every_bit_flip_of_the_leaf_details_fails() {
    assert_eq!(sweep(leaf_details), 51 * 8);
}

#[test]
fn every_bit_flip_of_the_leaf_signature_fails() {
    assert_eq!(sweep(leaf_signature), 64 * 8);
}

#[test]
fn every_bit_flip_of_the_intermediate_details_fails() {
    assert_eq!(sweep(intermediate_details), 50 * 8);
}

#[test]
fn every_bit_flip_of_the_intermediate_signature_fails() {
    assert_eq!(sweep(intermediate_signature), 64 * 8);
}

#[test]
fn every_bit_flip_of_the_protobuf_framing_fails() {
    // The four sweeps above cover the bytes of the details and signatures (an
    // edit re-encodes to exactly the flipped bytes, see
    // `real_chain_re_encodes_identically`); this one flips every remaining bit of
    // the encoded chain: the tags and lengths.
    let chain = real_chain();
    let mut decoded = CertChain::decode(&chain[..]).unwrap();
    let mut covered = vec![false; chain.len()];
    for part in [
        leaf_details,
        leaf_signature,
        intermediate_details,
        intermediate_signature,
    ] {
        let bytes = part(&mut decoded).clone();
        let at = chain
            .windows(bytes.len())
            .position(|w| w == &bytes[..])
            .unwrap();
        covered[at..at + bytes.len()]
            .iter_mut()
            .for_each(|c| *c = true);
    }
    let framing: Vec<usize> = (0..chain.len()).filter(|&i| !covered[i]).collect();
    assert_eq!(framing.len(), 241 - (51 + 64 + 50 + 64));
    for &byte in &framing {
        for bit in 0..8 {
            let mut bad = chain.clone();
            bad[byte] ^= 1 << bit;
            assert!(
                verify_real(&bad, INSIDE).is_err(),
                "byte {byte} bit {bit} accepted"
            );
        }
    }
}

#[test]
fn signature_flips_are_reported_as_bad_signatures_of_the_right_certificate() {
    // The lowest bit of s: still a canonical scalar, just the wrong one.
    let chain = edited(|c| c.leaf.as_mut().unwrap().signature.as_mut().unwrap()[32] ^= 1);
    assert_eq!(
        verify_real(&chain, INSIDE),
        Err(CertError::BadSignature {
            role: CertRole::Leaf,
            error: XeddsaError::BadSignature
        })
    );
    // A bit of R: R either no longer decodes or is the wrong point.
    let chain = edited(|c| c.leaf.as_mut().unwrap().signature.as_mut().unwrap()[10] ^= 4);
    assert!(matches!(
        verify_real(&chain, INSIDE),
        Err(CertError::BadSignature {
            role: CertRole::Leaf,
            error: XeddsaError::BadSignature | XeddsaError::MalformedSignature
        })
    ));
    // The top bit of byte 63 is the Edwards sign bit: flipping it picks the other
    // point for the key, which must fail too.
    let chain =
        edited(|c| c.intermediate.as_mut().unwrap().signature.as_mut().unwrap()[63] ^= 0x80);
    assert!(matches!(
        verify_real(&chain, INSIDE),
        Err(CertError::BadSignature {
            role: CertRole::Intermediate,
            ..
        })
    ));
}

#[test]
fn every_truncation_of_the_chain_fails() {
    let chain = real_chain();
    for len in 0..chain.len() {
        assert!(
            verify_real(&chain[..len], INSIDE).is_err(),
            "truncation to {len} accepted"
        );
    }
}

#[test]
fn structural_defects_have_their_own_errors() {
    use CertRole::{Intermediate, Leaf};
    let cases: Vec<(Vec<u8>, CertError)> = vec![
        (
            edited(|c| c.leaf = None),
            CertError::MissingCertificate(Leaf),
        ),
        (
            edited(|c| c.intermediate = None),
            CertError::MissingCertificate(Intermediate),
        ),
        (
            edited(|c| c.leaf.as_mut().unwrap().details = None),
            CertError::MissingDetails(Leaf),
        ),
        (
            edited(|c| c.intermediate.as_mut().unwrap().signature = None),
            CertError::MissingSignature(Intermediate),
        ),
        (
            edited(|c| {
                c.leaf.as_mut().unwrap().signature.as_mut().unwrap().pop();
            }),
            CertError::SignatureLength {
                role: Leaf,
                len: 63,
            },
        ),
        (
            edited(|c| {
                c.intermediate
                    .as_mut()
                    .unwrap()
                    .signature
                    .as_mut()
                    .unwrap()
                    .push(0)
            }),
            CertError::SignatureLength {
                role: Intermediate,
                len: 65,
            },
        ),
    ];
    for (chain, expected) in cases {
        assert_eq!(verify_real(&chain, INSIDE), Err(expected));
    }
    assert!(matches!(
        verify_real(&[0x0A, 0xFF], INSIDE),
        Err(CertError::Malformed(_))
    ));
}

// ------------------------------------------------------------ built chains

struct Keys {
    root: KeyPair,
    inter: KeyPair,
    server: KeyPair,
}

fn keys(seed: u8) -> (Keys, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let keys = Keys {
        root: KeyPair::generate(&mut rng),
        inter: KeyPair::generate(&mut rng),
        server: KeyPair::generate(&mut rng),
    };
    (keys, rng)
}

fn details(k: &Keys) -> (CertDetails, CertDetails) {
    (
        CertDetails {
            serial: 3,
            issuer_serial: 0,
            key: *k.inter.public_key(),
            not_before: 1_000,
            not_after: 9_000,
        },
        CertDetails {
            serial: 77,
            issuer_serial: 3,
            key: *k.server.public_key(),
            not_before: 2_000,
            not_after: 8_000,
        },
    )
}

#[test]
fn built_chain_verifies_and_round_trips_its_details() {
    let (k, mut rng) = keys(1);
    let (inter, leaf) = details(&k);
    let chain = build_cert_chain(
        k.root.private_key(),
        &inter,
        k.inter.private_key(),
        &leaf,
        &mut rng,
    );
    let verified =
        verify_server_cert_chain(&chain, k.server.public_key(), k.root.public_key(), 5_000)
            .unwrap();
    assert_eq!(
        verified,
        VerifiedChain {
            leaf: leaf.clone(),
            intermediate: inter.clone()
        }
    );
    // The real root does not accept it.
    assert!(matches!(
        verify_server_cert_chain(&chain, k.server.public_key(), &WA_ROOT_PUBLIC_KEY, 5_000),
        Err(CertError::BadSignature {
            role: CertRole::Intermediate,
            ..
        })
    ));
    // Windows of a built chain.
    assert!(matches!(
        verify_server_cert_chain(&chain, k.server.public_key(), k.root.public_key(), 1_999),
        Err(CertError::NotYetValid {
            role: CertRole::Leaf,
            not_before: 2_000
        })
    ));
    assert!(matches!(
        verify_server_cert_chain(&chain, k.server.public_key(), k.root.public_key(), 999),
        Err(CertError::NotYetValid {
            role: CertRole::Intermediate,
            not_before: 1_000
        })
    ));
    assert!(leaf.is_valid_at(2_000) && leaf.is_valid_at(8_000) && !leaf.is_valid_at(8_001));
}

#[test]
fn built_chains_that_break_a_rule_are_refused() {
    let (k, mut rng) = keys(2);
    let (inter, leaf) = details(&k);
    let build =
        |inter: &CertDetails, inter_priv: &[u8; 32], leaf: &CertDetails, rng: &mut ChaCha20Rng| {
            let chain = build_cert_chain(k.root.private_key(), inter, inter_priv, leaf, rng);
            verify_server_cert_chain(&chain, k.server.public_key(), k.root.public_key(), 5_000)
        };

    let mut bad_issuer = inter.clone();
    bad_issuer.issuer_serial = 1;
    assert_eq!(
        build(&bad_issuer, k.inter.private_key(), &leaf, &mut rng),
        Err(CertError::IntermediateIssuerSerial(1))
    );

    let mut bad_link = leaf.clone();
    bad_link.issuer_serial = 4;
    assert_eq!(
        build(&inter, k.inter.private_key(), &bad_link, &mut rng),
        Err(CertError::IssuerSerialMismatch {
            leaf_issuer_serial: 4,
            intermediate_serial: 3
        })
    );

    // The leaf signed by a key other than the one the intermediate certifies.
    let other = KeyPair::generate(&mut rng);
    assert!(matches!(
        build(&inter, other.private_key(), &leaf, &mut rng),
        Err(CertError::BadSignature {
            role: CertRole::Leaf,
            ..
        })
    ));

    let mut other_leaf_key = leaf.clone();
    other_leaf_key.key = *other.public_key();
    assert_eq!(
        build(&inter, k.inter.private_key(), &other_leaf_key, &mut rng),
        Err(CertError::LeafKeyMismatch)
    );

    assert!(build(&inter, k.inter.private_key(), &leaf, &mut rng).is_ok());
}

#[test]
fn absent_fields_count_as_zero_and_short_keys_are_refused() {
    use wa_core::proto::cert_chain::noise_certificate::Details;
    let (k, mut rng) = keys(3);
    let (_, leaf) = details(&k);
    // An intermediate whose issuerSerial and serial are absent (both read as 0),
    // so the leaf must name issuer 0.
    let inter_details = Details {
        key: Some(k.inter.public_key().to_vec()),
        not_before: Some(0),
        not_after: Some(10_000),
        ..Default::default()
    }
    .encode_to_vec();
    let inter_sig = wa_core::xeddsa::sign_with_rng(k.root.private_key(), &inter_details, &mut rng);
    let leaf0 = CertDetails {
        issuer_serial: 0,
        ..leaf
    };
    let chain = CertChain {
        intermediate: Some(wa_core::proto::cert_chain::NoiseCertificate {
            details: Some(inter_details),
            signature: Some(inter_sig.to_vec()),
        }),
        leaf: Some(sign_certificate(k.inter.private_key(), &leaf0, &mut rng)),
    }
    .encode_to_vec();
    let verified =
        verify_server_cert_chain(&chain, k.server.public_key(), k.root.public_key(), 5_000)
            .unwrap();
    assert_eq!(
        (
            verified.intermediate.serial,
            verified.intermediate.issuer_serial
        ),
        (0, 0)
    );

    // A 31-byte intermediate key, properly signed, is refused for its length.
    let short = Details {
        key: Some(vec![1; 31]),
        ..Default::default()
    }
    .encode_to_vec();
    let sig = wa_core::xeddsa::sign_with_rng(k.root.private_key(), &short, &mut rng);
    let chain = CertChain {
        intermediate: Some(wa_core::proto::cert_chain::NoiseCertificate {
            details: Some(short),
            signature: Some(sig.to_vec()),
        }),
        leaf: Some(sign_certificate(k.inter.private_key(), &leaf0, &mut rng)),
    }
    .encode_to_vec();
    assert_eq!(
        verify_server_cert_chain(&chain, k.server.public_key(), k.root.public_key(), 5_000),
        Err(CertError::KeyLength {
            role: CertRole::Intermediate,
            len: 31
        })
    );
}

#[test]
fn error_messages_are_short_and_lower_case() {
    let e = CertError::Expired {
        role: CertRole::Leaf,
        not_after: 5,
    };
    assert_eq!(e.to_string(), "leaf certificate expired at 5");
    assert_eq!(
        CertError::LeafKeyMismatch.to_string(),
        "leaf key does not match the server static key"
    );
}
