//! Phone-number ("pair code") linking (docs/protocol.md §6.3): the code, the
//! key wrapping, the key bundle, the new ADV secret, and the stanzas.

use std::fmt;
use std::time::Duration;

use aes::Aes256;
use aes::cipher::{KeyIvInit as _, StreamCipher as _};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut as _, KeyInit as _};
use bytes::Bytes;
use curve25519_dalek::MontgomeryPoint;
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::Sha256;

use crate::binary::{Jid, Node, Server};

use super::PairError;

/// The 32 characters of a pair code: Crockford-style base32 without `0`,
/// `I`, `O` and `U` (whatsapp-rust, whatsmeow).
pub const PAIR_CODE_ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";

/// A pair code has 8 characters: 5 random bytes, 5 bits per character.
pub const PAIR_CODE_LEN: usize = 8;

/// PBKDF2-HMAC-SHA256 rounds that turn the code into a wrapping key:
/// 131 072 = 2¹⁷ (whatsmeow writes `2<<16`).
pub const PAIR_CODE_PBKDF2_ROUNDS: u32 = 131_072;

/// How long a code is honoured after it was generated (whatsapp-rust: about
/// 180 s). A `primary_hello` arriving later is ignored.
pub const PAIR_CODE_VALIDITY: Duration = Duration::from_secs(180);

/// How many `primary_hello`s one code answers (whatsapp-rust, after WA Web).
pub const MAX_PRIMARY_HELLO: u32 = 3;

/// A wrapped ephemeral key: `salt(32) ‖ iv(16) ‖ AES-256-CTR(pub)(32)`.
pub const WRAPPED_KEY_LEN: usize = 80;

/// The key bundle: `companion identity ‖ primary identity ‖ random`.
pub const KEY_BUNDLE_LEN: usize = 96;

/// A wrapped key bundle: `salt(32) ‖ iv(12) ‖ AES-256-GCM(bundle)(96 + 16)`.
pub const WRAPPED_KEY_BUNDLE_LEN: usize = 32 + 12 + KEY_BUNDLE_LEN + 16;

/// HKDF info of the key-bundle encryption key.
pub const KEY_BUNDLE_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";

/// HKDF info of the new ADV secret.
pub const ADV_SECRET_INFO: &[u8] = b"adv_secret";

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// The 8-character code for 5 bytes: the 40 bits read most significant
/// first, 5 bits per character of [`PAIR_CODE_ALPHABET`] (RFC 4648 base32
/// bit order, another alphabet).
///
/// ```
/// use wa_core::testing::pair_crypto::encode_pair_code;
/// assert_eq!(encode_pair_code(&[0; 5]), "11111111");
/// assert_eq!(encode_pair_code(&[0xFF; 5]), "ZZZZZZZZ");
/// ```
pub fn encode_pair_code(bytes: &[u8; 5]) -> String {
    let bits = bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    (0..PAIR_CODE_LEN)
        .rev()
        .map(|i| char::from(PAIR_CODE_ALPHABET[((bits >> (5 * i)) & 0x1F) as usize]))
        .collect()
}

/// A fresh code from 5 bytes of `rng`.
pub fn generate_pair_code<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 5];
    rng.fill_bytes(&mut bytes);
    encode_pair_code(&bytes)
}

/// Whether `code` is 8 characters of [`PAIR_CODE_ALPHABET`].
pub fn is_valid_pair_code(code: &str) -> bool {
    code.len() == PAIR_CODE_LEN && code.bytes().all(|b| PAIR_CODE_ALPHABET.contains(&b))
}

/// The digits of a phone number in international format: everything but
/// ASCII digits is dropped (`"+55 (11) 98765-0001"` → `"5511987650001"`,
/// as whatsmeow does); `None` unless 7 to 15 digits (E.164) remain and the
/// first is not `0` (a trunk prefix, not a country code).
pub fn normalize_phone_number(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let ok = (7..=15).contains(&digits.len()) && !digits.starts_with('0');
    ok.then_some(digits)
}

/// PBKDF2-HMAC-SHA256(code, salt, [`PAIR_CODE_PBKDF2_ROUNDS`], 32 bytes).
///
/// This is deliberately slow (tens of milliseconds in a release build): the
/// code has only 40 bits.
pub fn pair_code_key(code: &str, salt: &[u8; 32]) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(code.as_bytes(), salt, PAIR_CODE_PBKDF2_ROUNDS, &mut key);
    key
}

/// Wraps an ephemeral public key with the code (docs/protocol.md §6.3 step 4):
/// `salt ‖ iv ‖ AES-256-CTR(pair_code_key(code, salt), iv, public)`, the
/// counter being the whole 16-byte IV, big-endian.
pub fn wrap_key(code: &str, public: &[u8; 32], salt: &[u8; 32], iv: &[u8; 16]) -> [u8; 80] {
    let key = pair_code_key(code, salt);
    let mut out = [0u8; WRAPPED_KEY_LEN];
    out[..32].copy_from_slice(salt);
    out[32..48].copy_from_slice(iv);
    out[48..].copy_from_slice(public);
    Aes256Ctr::new(&key.into(), &(*iv).into()).apply_keystream(&mut out[48..]);
    out
}

/// Unwraps a key wrapped with [`wrap_key`] (with the peer's own salt and IV).
/// Anything but 80 bytes is [`PairError::Malformed`]. CTR has no
/// authentication: a wrong code gives a wrong key, which later fails the
/// key-bundle or HMAC check.
pub fn unwrap_key(code: &str, wrapped: &[u8]) -> Result<[u8; 32], PairError> {
    let wrapped: &[u8; WRAPPED_KEY_LEN] = wrapped
        .try_into()
        .map_err(|_| PairError::Malformed("wrapped ephemeral key"))?;
    let (salt, rest) = wrapped.split_at(32);
    let (iv, ciphertext) = rest.split_at(16);
    let salt: &[u8; 32] = salt.try_into().map_err(|_| PairError::Malformed("salt"))?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| PairError::Malformed("iv"))?;
    let mut public: [u8; 32] = ciphertext
        .try_into()
        .map_err(|_| PairError::Malformed("wrapped ephemeral key"))?;
    let key = pair_code_key(code, salt);
    Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut public);
    Ok(public)
}

/// X25519(private, public); an all-zero result (a low-order peer key) is
/// [`PairError::LowOrderKey`].
pub fn x25519(private: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32], PairError> {
    let shared = MontgomeryPoint(*public).mul_clamped(*private).to_bytes();
    let any = shared.iter().fold(0u8, |acc, b| acc | b);
    if std::hint::black_box(any) == 0 {
        return Err(PairError::LowOrderKey);
    }
    Ok(shared)
}

fn hkdf_32(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// The plaintext of `link_code_pairing_wrapped_key_bundle`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBundle {
    /// The companion's identity public key.
    pub companion_identity: [u8; 32],
    /// The primary's identity public key, as the companion received it.
    pub primary_identity: [u8; 32],
    /// The companion's random input to the ADV secret. Secret.
    pub random: [u8; 32],
}

impl fmt::Debug for KeyBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyBundle")
            .field(
                "companion_identity",
                &crate::keys::Hex(&self.companion_identity),
            )
            .field(
                "primary_identity",
                &crate::keys::Hex(&self.primary_identity),
            )
            .field("random", &"<redacted>")
            .finish()
    }
}

/// Encrypts the key bundle (docs/protocol.md §6.3 step 9): AES-256-GCM, empty
/// AAD, key HKDF-SHA256(IKM = `ephemeral_shared`, `salt`,
/// [`KEY_BUNDLE_INFO`]); returns `salt ‖ iv ‖ ciphertext ‖ tag`
/// ([`WRAPPED_KEY_BUNDLE_LEN`] bytes).
pub fn encrypt_key_bundle(
    ephemeral_shared: &[u8; 32],
    bundle: &KeyBundle,
    salt: &[u8; 32],
    iv: &[u8; 12],
) -> Vec<u8> {
    let key = hkdf_32(Some(salt), ephemeral_shared, KEY_BUNDLE_INFO);
    let mut out = Vec::with_capacity(WRAPPED_KEY_BUNDLE_LEN);
    out.extend_from_slice(salt);
    out.extend_from_slice(iv);
    out.extend_from_slice(&bundle.companion_identity);
    out.extend_from_slice(&bundle.primary_identity);
    out.extend_from_slice(&bundle.random);
    let tag = Aes256Gcm::new(&key.into())
        .encrypt_inout_detached(&(*iv).into(), &[], (&mut out[44..]).into())
        .expect("a 96-byte message is far below the AES-GCM limit");
    out.extend_from_slice(&tag);
    out
}

/// Decrypts a key bundle made by [`encrypt_key_bundle`] (the primary's side).
/// A wrong length is [`PairError::Malformed`]; a failed tag check is
/// [`PairError::KeyBundleDecrypt`].
#[cfg(feature = "testing")]
pub fn decrypt_key_bundle(
    ephemeral_shared: &[u8; 32],
    wrapped: &[u8],
) -> Result<KeyBundle, PairError> {
    let wrapped: &[u8; WRAPPED_KEY_BUNDLE_LEN] = wrapped
        .try_into()
        .map_err(|_| PairError::Malformed("wrapped key bundle"))?;
    let (salt, rest) = wrapped.split_at(32);
    let (iv, rest) = rest.split_at(12);
    let (ciphertext, tag) = rest.split_at(KEY_BUNDLE_LEN);
    let key = hkdf_32(Some(salt), ephemeral_shared, KEY_BUNDLE_INFO);
    let iv: [u8; 12] = iv.try_into().map_err(|_| PairError::KeyBundleDecrypt)?;
    let tag: [u8; 16] = tag.try_into().map_err(|_| PairError::KeyBundleDecrypt)?;
    let mut plain = [0u8; KEY_BUNDLE_LEN];
    plain.copy_from_slice(ciphertext);
    Aes256Gcm::new(&key.into())
        .decrypt_inout_detached(&iv.into(), &[], (&mut plain[..]).into(), &tag.into())
        .map_err(|_| PairError::KeyBundleDecrypt)?;
    let part = |i: usize| {
        let mut out = [0u8; 32];
        out.copy_from_slice(&plain[32 * i..32 * (i + 1)]);
        out
    };
    Ok(KeyBundle {
        companion_identity: part(0),
        primary_identity: part(1),
        random: part(2),
    })
}

/// The new ADV secret of a pair-code link (docs/protocol.md §6.3 step 10):
/// HKDF-SHA256(IKM = `ephemeral_shared ‖ identity_shared ‖ random`, no salt,
/// [`ADV_SECRET_INFO`], 32 bytes).
pub fn derive_adv_secret(
    ephemeral_shared: &[u8; 32],
    identity_shared: &[u8; 32],
    random: &[u8; 32],
) -> [u8; 32] {
    let mut ikm = [0u8; 96];
    ikm[..32].copy_from_slice(ephemeral_shared);
    ikm[32..64].copy_from_slice(identity_shared);
    ikm[64..].copy_from_slice(random);
    hkdf_32(None, &ikm, ADV_SECRET_INFO)
}

fn md_iq(id: &str, registration: Node) -> Node {
    Node::new("iq")
        .with_attr("xmlns", "md")
        .with_attr("type", "set")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_attr("id", id)
        .with_children([registration])
}

/// Stage 1 (docs/protocol.md §6.3 step 5):
/// `<iq xmlns="md" type="set" to="s.whatsapp.net" id><link_code_companion_reg
/// jid="<phone>@s.whatsapp.net" stage="companion_hello"
/// should_show_push_notification>` with the wrapped ephemeral key, our Noise
/// public key, the platform id and display, and the one-byte nonce `00`.
#[allow(clippy::too_many_arguments)]
pub fn companion_hello_iq(
    id: &str,
    phone: &str,
    wrapped_ephemeral: &[u8; WRAPPED_KEY_LEN],
    noise_public: &[u8; 32],
    platform_id: char,
    platform_display: &str,
    show_push_notification: bool,
) -> Node {
    let registration = Node::new("link_code_companion_reg")
        .with_attr("jid", Jid::pn(phone))
        .with_attr("stage", "companion_hello")
        .with_attr(
            "should_show_push_notification",
            if show_push_notification {
                "true"
            } else {
                "false"
            },
        )
        .with_children([
            Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                .with_bytes(wrapped_ephemeral.to_vec()),
            Node::new("companion_server_auth_key_pub").with_bytes(noise_public.to_vec()),
            Node::new("companion_platform_id").with_bytes(platform_id.to_string().into_bytes()),
            Node::new("companion_platform_display")
                .with_bytes(platform_display.as_bytes().to_vec()),
            Node::new("link_code_pairing_nonce").with_bytes(vec![0u8]),
        ]);
    md_iq(id, registration)
}

/// Stage 3 (docs/protocol.md §6.3 step 11): `<link_code_companion_reg
/// stage="companion_finish">` with the wrapped key bundle, our identity
/// public key and the pairing ref.
pub fn companion_finish_iq(
    id: &str,
    phone: &str,
    wrapped_key_bundle: &[u8],
    identity_public: &[u8; 32],
    pairing_ref: &[u8],
) -> Node {
    let registration = Node::new("link_code_companion_reg")
        .with_attr("jid", Jid::pn(phone))
        .with_attr("stage", "companion_finish")
        .with_children([
            Node::new("link_code_pairing_wrapped_key_bundle")
                .with_bytes(wrapped_key_bundle.to_vec()),
            Node::new("companion_identity_public").with_bytes(identity_public.to_vec()),
            Node::new("link_code_pairing_ref").with_bytes(pairing_ref.to_vec()),
        ]);
    md_iq(id, registration)
}

/// Stage 2 as the companion receives it (docs/protocol.md §6.3 step 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryHello {
    /// `link_code_pairing_ref`: must match the ref of stage 1.
    pub pairing_ref: Bytes,
    /// `link_code_pairing_wrapped_primary_ephemeral_pub` (80 bytes).
    pub wrapped_primary_ephemeral: Bytes,
    /// `primary_identity_pub`.
    pub primary_identity: [u8; 32],
}

impl PrimaryHello {
    /// Reads a `<link_code_companion_reg stage="primary_hello">` node. A
    /// missing child or a wrong length is [`PairError::Malformed`].
    pub fn from_node(registration: &Node) -> Result<PrimaryHello, PairError> {
        if registration.attr_str("stage") != Some("primary_hello") {
            return Err(PairError::Malformed("primary_hello stage"));
        }
        let bytes_of = |tag: &'static str| {
            registration
                .child(tag)
                .and_then(Node::content_bytes)
                .cloned()
                .ok_or(PairError::Malformed(tag))
        };
        let pairing_ref = bytes_of("link_code_pairing_ref")?;
        let wrapped = bytes_of("link_code_pairing_wrapped_primary_ephemeral_pub")?;
        if wrapped.len() != WRAPPED_KEY_LEN {
            return Err(PairError::Malformed(
                "link_code_pairing_wrapped_primary_ephemeral_pub",
            ));
        }
        let primary_identity = bytes_of("primary_identity_pub")?[..]
            .try_into()
            .map_err(|_| PairError::Malformed("primary_identity_pub"))?;
        Ok(PrimaryHello {
            pairing_ref,
            wrapped_primary_ephemeral: wrapped,
            primary_identity,
        })
    }
}

/// Stage 2 as the server delivers it (for test servers and simulated
/// phones): `<notification type="link_code_companion_reg" from id>
/// <link_code_companion_reg stage="primary_hello">…`.
#[cfg(feature = "testing")]
pub fn primary_hello_notification(
    id: &str,
    pairing_ref: &[u8],
    wrapped_primary_ephemeral: &[u8; WRAPPED_KEY_LEN],
    primary_identity: &[u8; 32],
) -> Node {
    Node::new("notification")
        .with_attr("from", Jid::server_jid(Server::Pn))
        .with_attr("type", "link_code_companion_reg")
        .with_attr("id", id)
        .with_children([Node::new("link_code_companion_reg")
            .with_attr("stage", "primary_hello")
            .with_children([
                Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                    .with_bytes(wrapped_primary_ephemeral.to_vec()),
                Node::new("primary_identity_pub").with_bytes(primary_identity.to_vec()),
                Node::new("link_code_pairing_ref").with_bytes(pairing_ref.to_vec()),
            ])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_encoding_reads_bits_most_significant_first() {
        // 0x08 0x86 0x42 0x98 0xE8 = 00001 00010 00011 00100 00101 00110 00111 01000
        assert_eq!(
            encode_pair_code(&[0x08, 0x86, 0x42, 0x98, 0xE8]),
            "23456789"
        );
        // 31 in the last group only.
        assert_eq!(encode_pair_code(&[0, 0, 0, 0, 0x1F]), "1111111Z");
        assert!(is_valid_pair_code("ABCD1234"));
        for bad in [
            "ABCD123",
            "ABCD12345",
            "ABCD0123",
            "ABCDOIJK",
            "abcd1234",
            "ABCDU123",
        ] {
            assert!(!is_valid_pair_code(bad), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_are_normalized_to_digits() {
        assert_eq!(
            normalize_phone_number("+55 (11) 98765-0001").as_deref(),
            Some("5511987650001")
        );
        assert_eq!(
            normalize_phone_number("1234567").as_deref(),
            Some("1234567")
        );
        for bad in ["", "123456", "0123456789", "1234567890123456", "+-()"] {
            assert_eq!(normalize_phone_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn x25519_refuses_low_order_points() {
        assert_eq!(x25519(&[1; 32], &[0; 32]), Err(PairError::LowOrderKey));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(x25519(&[1; 32], &one), Err(PairError::LowOrderKey));
    }

    #[test]
    fn primary_hello_needs_every_child() {
        let full = primary_hello_notification("n1", b"ref", &[7; 80], &[9; 32]);
        let registration = full.child("link_code_companion_reg").unwrap();
        let hello = PrimaryHello::from_node(registration).unwrap();
        assert_eq!(&hello.pairing_ref[..], b"ref");
        assert_eq!(hello.primary_identity, [9; 32]);
        for drop in 0..3 {
            let mut partial = registration.clone();
            if let crate::binary::Content::Nodes(children) = &mut partial.content {
                children.remove(drop);
            }
            assert!(PrimaryHello::from_node(&partial).is_err(), "{drop}");
        }
        let mut short = registration.clone();
        if let crate::binary::Content::Nodes(children) = &mut short.content {
            children[1] = Node::new("primary_identity_pub").with_bytes(vec![9; 31]);
        }
        assert_eq!(
            PrimaryHello::from_node(&short),
            Err(PairError::Malformed("primary_identity_pub"))
        );
    }
}
