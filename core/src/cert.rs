//! Server certificate chain verification (docs/protocol.md §2.6).
//!
//! The ServerHello payload is a [`CertChain`]: an intermediate certificate signed
//! by the WhatsApp root key and a leaf certificate, signed by the intermediate,
//! whose key is the server's Noise static key. [`verify_server_cert_chain`] makes
//! every check that whatsmeow makes (the strictest of the three reference
//! clients, validity window included), in this order:
//!
//! 1. both certificates are present, each with details and a 64-byte signature;
//! 2. the intermediate signature verifies (XEdDSA, over the raw details bytes)
//!    with the trusted root key;
//! 3. the intermediate details decode, their `issuerSerial` is 0 (absent counts as
//!    0) and their key is 32 bytes;
//! 4. the leaf signature verifies with the intermediate key;
//! 5. the leaf details decode and `leaf.issuerSerial == intermediate.serial`;
//! 6. the leaf key equals the server static key `rs` (compared in constant time);
//! 7. `notBefore ≤ now ≤ notAfter` for **both** certificates.
//!
//! The trusted root is an argument: [`WA_ROOT_PUBLIC_KEY`] for the real service,
//! a test root for a test server. There is no way to skip verification.
//! [`build_cert_chain`] makes and signs a chain, for test servers.
//!
//! ```
//! use wa_core::cert::{build_cert_chain, verify_server_cert_chain, CertDetails, CertError, CertRole};
//! use wa_core::noise::KeyPair;
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let mut rng = ChaCha20Rng::from_seed([1; 32]);
//! let (root, intermediate, server) =
//!     (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
//! let inter = CertDetails { serial: 3, issuer_serial: 0, key: *intermediate.public_key(), not_before: 100, not_after: 900 };
//! let leaf = CertDetails { serial: 7, issuer_serial: 3, key: *server.public_key(), not_before: 200, not_after: 800 };
//! let chain = build_cert_chain(root.private_key(), &inter, intermediate.private_key(), &leaf, &mut rng);
//!
//! let verified = verify_server_cert_chain(&chain, server.public_key(), root.public_key(), 500)?;
//! assert_eq!(verified.leaf, leaf);
//! assert_eq!(
//!     verify_server_cert_chain(&chain, server.public_key(), root.public_key(), 801),
//!     Err(CertError::Expired { role: CertRole::Leaf, not_after: 800 }),
//! );
//! # Ok::<(), CertError>(())
//! ```

use std::fmt;

use prost::Message as _;
use rand_core::CryptoRng;

use crate::proto::CertChain;
use crate::proto::cert_chain::NoiseCertificate;
use crate::proto::cert_chain::noise_certificate::Details;
use crate::xeddsa;

/// The WhatsApp root (issuer) public key, a Curve25519 key used with XEdDSA
/// (`142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b`; identical
/// in whatsapp-rust, whatsmeow and Baileys).
pub const WA_ROOT_PUBLIC_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// The issuer serial the intermediate certificate must carry: the root's serial.
pub const ROOT_SERIAL: u32 = 0;

/// Which certificate of the chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// The leaf (server static key) certificate.
    Leaf,
    /// The intermediate certificate, signed by the root.
    Intermediate,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertRole::Leaf => "leaf",
            CertRole::Intermediate => "intermediate",
        })
    }
}

/// Why a certificate chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The chain is not a valid `CertChain` protobuf.
    #[error("malformed certificate chain: {0}")]
    Malformed(prost::DecodeError),
    /// A certificate's details are not a valid `Details` protobuf.
    #[error("malformed {role} details: {error}")]
    MalformedDetails {
        /// Which certificate.
        role: CertRole,
        /// The decoder's complaint.
        error: prost::DecodeError,
    },
    /// A certificate is absent.
    #[error("{0} certificate is missing")]
    MissingCertificate(CertRole),
    /// A certificate has no details.
    #[error("{0} certificate has no details")]
    MissingDetails(CertRole),
    /// A certificate has no signature.
    #[error("{0} certificate has no signature")]
    MissingSignature(CertRole),
    /// A signature is not 64 bytes.
    #[error("{role} signature has {len} bytes, expected 64")]
    SignatureLength {
        /// Which certificate.
        role: CertRole,
        /// The length received.
        len: usize,
    },
    /// A signature does not verify with its issuer's key.
    #[error("{role} signature is invalid: {error}")]
    BadSignature {
        /// Which certificate.
        role: CertRole,
        /// What the XEdDSA check found.
        error: xeddsa::XeddsaError,
    },
    /// The intermediate is not issued by the root (serial 0).
    #[error("intermediate issuer serial is {0}, expected 0")]
    IntermediateIssuerSerial(u32),
    /// A certified key is not 32 bytes.
    #[error("{role} key has {len} bytes, expected 32")]
    KeyLength {
        /// Which certificate.
        role: CertRole,
        /// The length received.
        len: usize,
    },
    /// The leaf does not name the intermediate as its issuer.
    #[error(
        "leaf issuer serial {leaf_issuer_serial} is not the intermediate serial {intermediate_serial}"
    )]
    IssuerSerialMismatch {
        /// `leaf.issuerSerial`.
        leaf_issuer_serial: u32,
        /// `intermediate.serial`.
        intermediate_serial: u32,
    },
    /// The leaf key is not the server static key from the handshake.
    #[error("leaf key does not match the server static key")]
    LeafKeyMismatch,
    /// `now` is before a certificate's `notBefore`.
    #[error("{role} certificate is not valid before {not_before}")]
    NotYetValid {
        /// Which certificate.
        role: CertRole,
        /// Its `notBefore`, unix seconds.
        not_before: u64,
    },
    /// `now` is after a certificate's `notAfter`.
    #[error("{role} certificate expired at {not_after}")]
    Expired {
        /// Which certificate.
        role: CertRole,
        /// Its `notAfter`, unix seconds.
        not_after: u64,
    },
}

/// The decoded details of one certificate (absent proto2 fields read as 0).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertDetails {
    /// This certificate's serial.
    pub serial: u32,
    /// The issuer's serial (0 for the root).
    pub issuer_serial: u32,
    /// The certified X25519 public key.
    pub key: [u8; 32],
    /// Start of validity, unix seconds.
    pub not_before: u64,
    /// End of validity (inclusive), unix seconds.
    pub not_after: u64,
}

impl CertDetails {
    /// The serialized `Details` protobuf, the bytes a signature covers.
    pub fn encode(&self) -> Vec<u8> {
        Details {
            serial: Some(self.serial),
            issuer_serial: Some(self.issuer_serial),
            key: Some(self.key.to_vec()),
            not_before: Some(self.not_before),
            not_after: Some(self.not_after),
        }
        .encode_to_vec()
    }

    /// Whether `not_before ≤ now_unix_secs ≤ not_after`.
    pub fn is_valid_at(&self, now_unix_secs: u64) -> bool {
        self.not_before <= now_unix_secs && now_unix_secs <= self.not_after
    }

    fn check_validity(&self, role: CertRole, now_unix_secs: u64) -> Result<(), CertError> {
        if now_unix_secs < self.not_before {
            return Err(CertError::NotYetValid {
                role,
                not_before: self.not_before,
            });
        }
        if now_unix_secs > self.not_after {
            return Err(CertError::Expired {
                role,
                not_after: self.not_after,
            });
        }
        Ok(())
    }
}

/// A chain that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The leaf; its key is the server static key.
    pub leaf: CertDetails,
    /// The intermediate.
    pub intermediate: CertDetails,
}

/// A certificate's raw details and signature, checked for presence and length.
struct RawCert<'a> {
    details: &'a [u8],
    signature: &'a [u8; xeddsa::SIGNATURE_LEN],
}

fn raw_cert(cert: Option<&NoiseCertificate>, role: CertRole) -> Result<RawCert<'_>, CertError> {
    let cert = cert.ok_or(CertError::MissingCertificate(role))?;
    let details = cert
        .details
        .as_deref()
        .ok_or(CertError::MissingDetails(role))?;
    let signature = cert
        .signature
        .as_deref()
        .ok_or(CertError::MissingSignature(role))?;
    let signature = signature
        .try_into()
        .map_err(|_| CertError::SignatureLength {
            role,
            len: signature.len(),
        })?;
    Ok(RawCert { details, signature })
}

impl RawCert<'_> {
    fn verify(&self, role: CertRole, issuer_key: &[u8; 32]) -> Result<(), CertError> {
        xeddsa::verify(issuer_key, self.details, self.signature)
            .map_err(|error| CertError::BadSignature { role, error })
    }

    fn decode(&self, role: CertRole) -> Result<CertDetails, CertError> {
        let details = Details::decode(self.details)
            .map_err(|error| CertError::MalformedDetails { role, error })?;
        let key = details.key.as_deref().unwrap_or_default();
        let key = key.try_into().map_err(|_| CertError::KeyLength {
            role,
            len: key.len(),
        })?;
        Ok(CertDetails {
            serial: details.serial(),
            issuer_serial: details.issuer_serial(),
            key,
            not_before: details.not_before(),
            not_after: details.not_after(),
        })
    }
}

/// Equality of two keys without an early exit, so timing says nothing about
/// where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Verifies a serialized [`CertChain`] from a ServerHello (all checks listed in
/// the [module docs](self)).
///
/// - `server_static`: the static key `rs` decrypted from the same ServerHello;
/// - `trusted_root`: [`WA_ROOT_PUBLIC_KEY`], or a test root;
/// - `now_unix_secs`: the current wall-clock time, supplied by the caller.
pub fn verify_server_cert_chain(
    chain_bytes: &[u8],
    server_static: &[u8; 32],
    trusted_root: &[u8; 32],
    now_unix_secs: u64,
) -> Result<VerifiedChain, CertError> {
    use CertRole::{Intermediate, Leaf};

    let chain = CertChain::decode(chain_bytes).map_err(CertError::Malformed)?;
    let leaf_raw = raw_cert(chain.leaf.as_ref(), Leaf)?;
    let intermediate_raw = raw_cert(chain.intermediate.as_ref(), Intermediate)?;

    intermediate_raw.verify(Intermediate, trusted_root)?;
    let intermediate = intermediate_raw.decode(Intermediate)?;
    if intermediate.issuer_serial != ROOT_SERIAL {
        return Err(CertError::IntermediateIssuerSerial(
            intermediate.issuer_serial,
        ));
    }

    leaf_raw.verify(Leaf, &intermediate.key)?;
    let leaf = leaf_raw.decode(Leaf)?;
    if leaf.issuer_serial != intermediate.serial {
        return Err(CertError::IssuerSerialMismatch {
            leaf_issuer_serial: leaf.issuer_serial,
            intermediate_serial: intermediate.serial,
        });
    }
    if !constant_time_eq(&leaf.key, server_static) {
        return Err(CertError::LeafKeyMismatch);
    }

    intermediate.check_validity(Intermediate, now_unix_secs)?;
    leaf.check_validity(Leaf, now_unix_secs)?;
    Ok(VerifiedChain { leaf, intermediate })
}

/// Signs `details` with the issuer's X25519 private key.
pub fn sign_certificate<R: CryptoRng + ?Sized>(
    issuer_private_key: &[u8; 32],
    details: &CertDetails,
    rng: &mut R,
) -> NoiseCertificate {
    let details = details.encode();
    let signature = xeddsa::sign_with_rng(issuer_private_key, &details, rng);
    NoiseCertificate {
        details: Some(details),
        signature: Some(signature.to_vec()),
    }
}

/// Builds and signs a serialized [`CertChain`], for test servers: the
/// intermediate is signed with `root_private_key`, the leaf with
/// `intermediate_private_key`.
///
/// The details are used as given, so a chain that must verify needs
/// `intermediate.key` = the public key of `intermediate_private_key`,
/// `intermediate.issuer_serial` = 0, `leaf.issuer_serial` = `intermediate.serial`
/// and `leaf.key` = the server's static public key. Anything else builds a chain
/// that [`verify_server_cert_chain`] refuses, which is useful in tests.
pub fn build_cert_chain<R: CryptoRng + ?Sized>(
    root_private_key: &[u8; 32],
    intermediate: &CertDetails,
    intermediate_private_key: &[u8; 32],
    leaf: &CertDetails,
    rng: &mut R,
) -> Vec<u8> {
    CertChain {
        intermediate: Some(sign_certificate(root_private_key, intermediate, rng)),
        leaf: Some(sign_certificate(intermediate_private_key, leaf, rng)),
    }
    .encode_to_vec()
}
