//! Linking a new companion device to a phone (docs/protocol.md §6).
//!
//! Pure building blocks, with no state and no I/O; the
//! [`Connection`](crate::connection::Connection) runs the flows with them, and
//! the test server's simulated phone ([`crate::testing`]) uses the same pieces
//! from the other side.
//!
//! - **Identity** — [`Device::generate`](crate::store::Device::generate):
//!   everything a fresh companion needs (Noise static key, identity key,
//!   registration id, signed prekey with its XEdDSA signature, ADV secret).
//! - **QR** ([`QrData`], [`QrCode`]): the `ref,noise,identity,adv,platform`
//!   string (§6.1), optionally behind [`QR_DEEP_LINK_PREFIX`].
//! - **pair-success** ([`PairSuccess`], [`verify_device_identity`]): the HMAC
//!   check, the account signature, our device signature, the
//!   `pair-device-sign` reply and the error replies (§6.2).
//! - **Pair code** ([`is_valid_pair_code`], [`PAIR_CODE_VALIDITY`]; the
//!   crypto stays inside the crate, tests reach it through
//!   `testing::pair_crypto`): phone-number linking (§6.3).
//!
//! Where the reference implementations disagree (docs/protocol.md §8), this module
//! takes the conservative side and says so at the item:
//!
//! | row | topic | choice |
//! |---|---|---|
//! | 9 | which field says "hosted" for the account-signature prefix | the signed inner `ADVDeviceIdentity.deviceType` (whatsmeow, Baileys) |
//! | 10 | device-signature prefix of a hosted account | always `06 01` (whatsmeow, Baileys) |
//! | 11 | `accountSignatureKey` in the `pair-device-sign` reply | stripped (whatsmeow, Baileys); the persisted account keeps it |
//! | 12 | QR string | the bare five fields by default (whatsapp-rust); the deep-link prefix is an option ([`PairingOptions::qr_deep_link`]) |
//! | 20 | registration id range | uniform in `1..=2³¹−1` (whatsapp-rust) |

pub(crate) mod code;
mod identity;
mod qr;
pub(crate) mod success;

pub use code::{
    MAX_PRIMARY_HELLO, PAIR_CODE_ALPHABET, PAIR_CODE_LEN, PAIR_CODE_PBKDF2_ROUNDS,
    PAIR_CODE_VALIDITY, is_valid_pair_code,
};
pub use qr::{FIRST_QR_TTL, NEXT_QR_TTL, QR_DEEP_LINK_PREFIX, QrCode, QrData, QrParseError};
pub use success::{
    ADV_ACCOUNT_SIGNATURE_PREFIX, ADV_DEVICE_SIGNATURE_PREFIX, ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX,
    ADV_HOSTED_DEVICE_SIGNATURE_PREFIX, PairSuccess, SignedDeviceIdentity, verify_device_identity,
};

// The crypto and stanza pieces the connection's pairing flows use. Tests and
// the simulated phone reach the crypto through `testing::pair_crypto`.
pub(crate) use code::{
    KeyBundle, PrimaryHello, WRAPPED_KEY_LEN, companion_finish_iq, companion_hello_iq,
    derive_adv_secret, encrypt_key_bundle, generate_pair_code, normalize_phone_number, unwrap_key,
    wrap_key, x25519,
};
pub(crate) use qr::{platform_display, platform_id};
pub(crate) use success::{apply_pair_success, pair_device_sign, pair_error_reply};

/// Why a pairing step failed. Messages are short and never contain key
/// material.
///
/// For a failed `<pair-success>`, [`PairError::error_reply`] gives the
/// `(code, text)` of the `<error>` the server expects back (docs/protocol.md §6.1
/// step 9).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairError {
    /// A stanza lacks a part or has one that does not decode (a child, an
    /// attribute, a protobuf, a key of the wrong length).
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The pair-success HMAC does not match our ADV secret.
    #[error("pair-success hmac mismatch")]
    HmacMismatch,
    /// The account signature over our identity does not verify.
    #[error("account signature mismatch")]
    SignatureMismatch,
    /// A Diffie-Hellman result was all zeros: the peer sent a low-order key.
    #[error("peer sent a low-order public key")]
    LowOrderKey,
    /// The key bundle of a pair-code exchange did not decrypt.
    #[error("key bundle does not decrypt")]
    KeyBundleDecrypt,
    /// The server answered a pair-code request with an error.
    #[error("pair code request refused: {code} {text}")]
    PairCodeRefused {
        /// The `<error code>`, 0 if absent or not a number.
        code: u16,
        /// The `<error text>`.
        text: String,
    },
}

impl PairError {
    /// The `(code, text)` of the `<iq type="error">` reply to a pair-success
    /// that failed with this error: `(401, "hmac-mismatch")`,
    /// `(401, "signature-mismatch")`, otherwise `(500, "internal-error")`.
    pub fn error_reply(&self) -> (u16, &'static str) {
        match self {
            PairError::HmacMismatch => (401, "hmac-mismatch"),
            PairError::SignatureMismatch => (401, "signature-mismatch"),
            _ => (500, "internal-error"),
        }
    }
}

/// A caller's [`Connection::request_pair_code`](crate::connection::Connection::request_pair_code)
/// that cannot be carried out. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairCodeRequestError {
    /// The phone number is not 7 to 15 digits starting with a non-zero digit
    /// (international format, no trunk prefix).
    #[error("invalid phone number")]
    InvalidPhoneNumber,
    /// The connection is not a pairing connection (the device is registered),
    /// has already paired, or has ended.
    #[error("connection is not pairing")]
    NotPairing,
}

/// Pairing options of a [`Config`](crate::connection::Config).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PairingOptions {
    /// Put [`QR_DEEP_LINK_PREFIX`] in front of the QR string (whatsmeow and
    /// Baileys do; docs/protocol.md §8 row 12).
    ///
    /// **Default `false`**: the bare five fields, as whatsapp-rust and WA Web
    /// render them. The in-app scanner (Settings → Linked devices) reads both
    /// forms; the bare form is 38 characters shorter, so its QR symbol is a
    /// size smaller and scans more reliably when drawn in a terminal. Set it
    /// when users are expected to scan with the phone's own camera app, which
    /// only opens WhatsApp for the deep link.
    pub qr_deep_link: bool,
    /// The OS in the pair-code `companion_platform_display` (`"Browser (OS)"`).
    /// The server refuses a display that does not name a real OS, so it is not
    /// taken from `DeviceProps.os` (which names the client, e.g. `"wa"`).
    /// Default `"Linux"`.
    pub display_os: String,
}

impl Default for PairingOptions {
    fn default() -> PairingOptions {
        PairingOptions {
            qr_deep_link: false,
            display_os: "Linux".to_owned(),
        }
    }
}
