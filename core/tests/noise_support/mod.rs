//! Shared fixtures for the noise/cert/xeddsa tests: the vector file and small
//! helpers. Each test crate uses only part of it.
#![allow(dead_code)]

use serde_json::Value;

/// `tests/data/noise_xx.json`, a verbatim copy of `shared/vectors/noise_xx.json`.
pub fn vectors() -> Value {
    serde_json::from_str(include_str!("../data/noise_xx.json")).expect("vector file parses")
}

/// `wa_vectors.test_full_handshake_flow_with_go_data`.
pub fn wa_flow() -> Value {
    vectors()["wa_vectors"]["test_full_handshake_flow_with_go_data"].clone()
}

/// Decodes the hex string at `v[key]`.
pub fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    let s = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key} missing"));
    hex::decode(s).unwrap_or_else(|e| panic!("vector field {key}: {e}"))
}

/// Decodes the hex string at `v[key]` into 32 bytes.
pub fn hex32(v: &Value, key: &str) -> [u8; 32] {
    hex_field(v, key)
        .try_into()
        .unwrap_or_else(|_| panic!("{key} is not 32 bytes"))
}

/// Decodes a hex literal.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex literal")
}

/// Decodes a 32-byte hex literal.
pub fn h32(s: &str) -> [u8; 32] {
    h(s).try_into().expect("32-byte hex literal")
}

/// The real certificate chain captured from WhatsApp (`plaintext_from_decrypt_2`).
pub fn real_chain() -> Vec<u8> {
    hex_field(&wa_flow(), "plaintext_from_decrypt_2")
}

/// The server static key of the same transcript (`plaintext_from_decrypt_1`),
/// which the real chain's leaf certifies.
pub fn real_server_static() -> [u8; 32] {
    hex32(&wa_flow(), "plaintext_from_decrypt_1")
}

/// Leaf validity of the real chain: 2025-03-24T21:00Z ..= 2025-07-28T21:00Z.
pub const LEAF_NOT_BEFORE: u64 = 1_742_850_000;
/// See [`LEAF_NOT_BEFORE`].
pub const LEAF_NOT_AFTER: u64 = 1_753_736_400;
/// Intermediate validity of the real chain: 2025-03-08T00:00Z ..= 2027-03-07T23:59:59Z.
pub const INTERMEDIATE_NOT_BEFORE: u64 = 1_741_392_000;
/// See [`INTERMEDIATE_NOT_BEFORE`].
pub const INTERMEDIATE_NOT_AFTER: u64 = 1_804_463_999;
/// A time inside both windows: 2025-05-01T00:00Z.
pub const INSIDE: u64 = 1_746_057_600;
