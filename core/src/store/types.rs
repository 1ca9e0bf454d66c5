//! The records the store traits read and write.
//!
//! Every type here is `Serialize + Deserialize` so a backend can encode it
//! (wa-store-redb uses postcard inside a versioned envelope). Types that hold
//! secrets have a hand-written `Debug` that never prints them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::keys::KeyPair;

use crate::binary::Jid;

/// Serde for fixed-size byte arrays larger than serde's built-in 32: encoded as
/// a byte string (one length prefix, then the bytes), decoded from a byte string
/// or a sequence of exactly `N` bytes. A wrong length is a decode error, never a
/// panic.
pub(crate) mod fixed_bytes {
    use std::fmt;

    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        value: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        deserializer.deserialize_bytes(ArrayVisitor::<N>)
    }

    struct ArrayVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "exactly {N} bytes")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            if seq.next_element::<u8>()?.is_some() {
                return Err(de::Error::invalid_length(N + 1, &self));
            }
            Ok(out)
        }
    }
}

use crate::keys::{Hex, Redacted};

/// A byte blob shown by its length only.
struct Len(usize);

impl fmt::Debug for Len {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

// `KeyPair` lives in `crate::keys` (the Noise handshake shares it); its
// stored form, one 64-byte string `private ‖ public`, is defined here with the
// other records.
impl Serialize for KeyPair {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fixed_bytes::serialize(&self.to_bytes(), serializer)
    }
}

impl<'de> Deserialize<'de> for KeyPair {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: [u8; 64] = fixed_bytes::deserialize(deserializer)?;
        Ok(Self::from_bytes(&bytes))
    }
}

/// The WhatsApp Web client version a device announces (`UserAgent.appVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppVersion {
    /// e.g. `2`.
    pub primary: u32,
    /// e.g. `3000`.
    pub secondary: u32,
    /// e.g. `1045368834`.
    pub tertiary: u32,
}

/// One certificate of the server's Noise chain, reduced to what a later IK
/// handshake needs (docs/protocol.md §2.4, §2.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedNoiseCert {
    /// The certified X25519 public key.
    pub key: [u8; 32],
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity, unix seconds.
    pub not_after: i64,
}

/// The server certificate chain cached from the last handshake whose chain was
/// fully verified. Only a verified chain may be stored here: its leaf key is
/// trusted as the server's static key on the next connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedServerCertChain {
    /// The intermediate certificate.
    pub intermediate: CachedNoiseCert,
    /// The leaf certificate; its key is the server's Noise static key.
    pub leaf: CachedNoiseCert,
}

/// The key material a new [`Device`] starts from (docs/protocol.md §7, "created at
/// first start"). Key generation itself lives with the protocol core; this type
/// lets any caller, test or migration tool build a device from keys it already has.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceKeys {
    /// Noise static key pair.
    pub noise_key: KeyPair,
    /// Signal identity key pair.
    pub identity_key: KeyPair,
    /// Signal registration id.
    pub registration_id: u32,
    /// Signed prekey pair.
    pub signed_pre_key: KeyPair,
    /// Signed prekey id (1 in every known client, docs/protocol.md §3.6).
    pub signed_pre_key_id: u32,
    /// XEdDSA signature of the identity key over `0x05 ‖ signed_pre_key.public`.
    pub signed_pre_key_signature: [u8; 64],
    /// The 32-byte ADV secret (QR field 4; keys the pair-success HMAC). Secret.
    pub adv_secret_key: [u8; 32],
}

impl fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKeys")
            .field("noise_key", &self.noise_key)
            .field("identity_key", &self.identity_key)
            .field("registration_id", &self.registration_id)
            .field("signed_pre_key", &self.signed_pre_key)
            .field("signed_pre_key_id", &self.signed_pre_key_id)
            .field(
                "signed_pre_key_signature",
                &Hex(&self.signed_pre_key_signature),
            )
            .field("adv_secret_key", &Redacted)
            .finish()
    }
}

/// Everything a companion device persists about itself (docs/protocol.md §7).
///
/// A device is *registered* (linked to a phone) once [`Device::pn`] is set.
/// Fields may be added in later versions, so the type is `#[non_exhaustive]`:
/// build one with [`Device::from_keys`] and then set the public fields.
///
/// `Debug` never prints a private key or the ADV secret.
///
/// ```
/// use wa_core::store::{Device, DeviceKeys, KeyPair};
///
/// let kp = |b| KeyPair { private: [b; 32], public: [b ^ 0xff; 32] };
/// let mut device = Device::from_keys(DeviceKeys {
///     noise_key: kp(1),
///     identity_key: kp(2),
///     registration_id: 12345,
///     signed_pre_key: kp(3),
///     signed_pre_key_id: 1,
///     signed_pre_key_signature: [4; 64],
///     adv_secret_key: [5; 32],
/// });
/// assert!(!device.is_registered());
/// device.pn = Some("5511987650001:7@s.whatsapp.net".parse()?);
/// assert!(device.is_registered());
/// # Ok::<(), wa_core::binary::JidError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Device {
    /// Noise static key pair (the `s` of the handshake; QR field 2).
    pub noise_key: KeyPair,
    /// Signal identity key pair (QR field 3; ADV signatures).
    pub identity_key: KeyPair,
    /// Signal registration id (sent as `eRegid`).
    pub registration_id: u32,
    /// Signed prekey pair.
    pub signed_pre_key: KeyPair,
    /// Signed prekey id.
    pub signed_pre_key_id: u32,
    /// Identity-key signature over the signed prekey.
    #[serde(with = "fixed_bytes")]
    pub signed_pre_key_signature: [u8; 64],
    /// ADV secret (QR field 4; pair-success HMAC key). Secret.
    pub adv_secret_key: [u8; 32],
    /// The serialized `ADVSignedDeviceIdentity` received at pair-success (with
    /// our device signature); `None` until linked.
    pub account: Option<Vec<u8>>,
    /// Own phone-number JID, `phone:device@s.whatsapp.net`; set at pair-success.
    /// Stored as its text form.
    pub pn: Option<Jid>,
    /// Own LID JID, `lid:device@lid`. Stored as its text form.
    pub lid: Option<Jid>,
    /// Display name.
    pub push_name: String,
    /// Business name, for business accounts.
    pub business_name: Option<String>,
    /// The primary device's platform as reported at pairing.
    pub platform: Option<String>,
    /// Edge routing info from the server, sent as a pre-intro on reconnect
    /// (docs/protocol.md §1.3).
    pub edge_routing_info: Option<Vec<u8>>,
    /// The last fully verified server certificate chain.
    pub server_cert_chain: Option<CachedServerCertChain>,
    /// Login counter sent as `ClientPayload.lc` (docs/protocol.md §3.7).
    pub login_counter: i32,
    /// Whether the account's chats are LID-migrated
    /// (`ClientPairingProps.isChatDbLidMigrated`). Never reverts once set.
    pub lid_migrated: bool,
    /// The client version last fetched; `None` means "use the configured default".
    pub app_version: Option<AppVersion>,
    /// When [`Device::app_version`] was fetched, unix milliseconds (0 = never).
    pub app_version_last_fetched_ms: i64,
    /// Hash of the last A/B props fetch, for delta fetches.
    pub props_hash: Option<String>,
    /// Next one-time prekey id to generate; only ever increases.
    pub next_pre_key_id: u32,
    /// First generated but not yet uploaded one-time prekey id (0 = unset).
    pub first_unupload_pre_key_id: u32,
    /// Whether the server is known to hold our prekeys.
    pub server_has_prekeys: bool,
    /// Unix milliseconds of the last signed-prekey rotation (0 = never).
    pub last_signed_pre_key_rotation_ms: i64,
}

impl Device {
    /// A fresh, unregistered device holding the given key material.
    ///
    /// Every other field starts empty: no account, no JIDs, `next_pre_key_id = 1`,
    /// counters and timestamps at 0 (the caller stamps times; this crate never
    /// reads a clock).
    pub fn from_keys(keys: DeviceKeys) -> Self {
        Self {
            noise_key: keys.noise_key,
            identity_key: keys.identity_key,
            registration_id: keys.registration_id,
            signed_pre_key: keys.signed_pre_key,
            signed_pre_key_id: keys.signed_pre_key_id,
            signed_pre_key_signature: keys.signed_pre_key_signature,
            adv_secret_key: keys.adv_secret_key,
            account: None,
            pn: None,
            lid: None,
            push_name: String::new(),
            business_name: None,
            platform: None,
            edge_routing_info: None,
            server_cert_chain: None,
            login_counter: 0,
            lid_migrated: false,
            app_version: None,
            app_version_last_fetched_ms: 0,
            props_hash: None,
            next_pre_key_id: 1,
            first_unupload_pre_key_id: 0,
            server_has_prekeys: false,
            last_signed_pre_key_rotation_ms: 0,
        }
    }

    /// True once the device is linked to a phone, i.e. its own phone-number JID
    /// ([`Device::pn`]) is known.
    pub fn is_registered(&self) -> bool {
        self.pn.is_some()
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("pn", &self.pn)
            .field("lid", &self.lid)
            .field("registration_id", &self.registration_id)
            .field("noise_key", &self.noise_key)
            .field("identity_key", &self.identity_key)
            .field("signed_pre_key", &self.signed_pre_key)
            .field("signed_pre_key_id", &self.signed_pre_key_id)
            .field(
                "signed_pre_key_signature",
                &Hex(&self.signed_pre_key_signature),
            )
            .field("adv_secret_key", &Redacted)
            .field("account", &self.account.as_ref().map(|a| Len(a.len())))
            .field("push_name", &self.push_name)
            .field("business_name", &self.business_name)
            .field("platform", &self.platform)
            .field(
                "edge_routing_info",
                &self.edge_routing_info.as_ref().map(|e| Len(e.len())),
            )
            .field("server_cert_chain", &self.server_cert_chain)
            .field("login_counter", &self.login_counter)
            .field("lid_migrated", &self.lid_migrated)
            .field("app_version", &self.app_version)
            .field(
                "app_version_last_fetched_ms",
                &self.app_version_last_fetched_ms,
            )
            .field("props_hash", &self.props_hash)
            .field("next_pre_key_id", &self.next_pre_key_id)
            .field("first_unupload_pre_key_id", &self.first_unupload_pre_key_id)
            .field("server_has_prekeys", &self.server_has_prekeys)
            .field(
                "last_signed_pre_key_rotation_ms",
                &self.last_signed_pre_key_rotation_ms,
            )
            .finish()
    }
}

/// An app-state sync key shared by the primary device (`AppStateSyncKeyShare`).
/// `Debug` hides [`AppStateSyncKey::key_data`].
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStateSyncKey {
    /// The key itself (secret).
    pub key_data: Vec<u8>,
    /// The serialized key fingerprint.
    pub fingerprint: Vec<u8>,
    /// When the key was created, unix milliseconds as sent by the phone.
    pub timestamp: i64,
}

impl fmt::Debug for AppStateSyncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppStateSyncKey")
            .field("key_data", &Redacted)
            .field("fingerprint", &Hex(&self.fingerprint))
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

/// The state of one app-state collection: its version and its 128-byte LTHash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashState {
    /// The collection version; only increases.
    pub version: u64,
    /// The LTHash (16-bit lanes, 128 bytes) over the collection's value MACs.
    #[serde(with = "fixed_bytes")]
    pub hash: [u8; 128],
}

impl Default for HashState {
    fn default() -> Self {
        Self {
            version: 0,
            hash: [0; 128],
        }
    }
}

impl fmt::Debug for HashState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashState")
            .field("version", &self.version)
            .field("hash", &Hex(&self.hash))
            .finish()
    }
}

/// The value MAC recorded for one index MAC of an app-state collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStateMutationMAC {
    /// The index MAC (the mutation's key).
    pub index_mac: Vec<u8>,
    /// The value MAC of the last `SET` for that index.
    pub value_mac: Vec<u8>,
}

/// One LID ↔ phone-number mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LidPnMappingEntry {
    /// The LID user part, e.g. `100000012345678`.
    pub lid: String,
    /// The phone-number user part, e.g. `5511987650001`.
    pub phone_number: String,
    /// When the mapping was first learned, unix seconds.
    pub created_at: i64,
    /// When the mapping was last confirmed, unix seconds. The phone-number
    /// lookup returns the mapping with the largest value.
    pub updated_at: i64,
    /// Where the mapping came from (e.g. `usync`, `peer_pn_message`).
    pub learning_source: String,
}

/// One device of a user's device list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device number: 0 is the phone, 1 and up are companions.
    pub device_id: u16,
    /// The ADV key index, when known.
    pub key_index: Option<u32>,
    /// Whether the device is in the hosted address space.
    #[serde(default)]
    pub is_hosted: bool,
}

impl DeviceInfo {
    /// A non-hosted device entry.
    pub const fn new(device_id: u16, key_index: Option<u32>) -> Self {
        Self {
            device_id,
            key_index,
            is_hosted: false,
        }
    }

    /// The same entry with the hosted flag set as given.
    pub const fn with_hosting(mut self, is_hosted: bool) -> Self {
        self.is_hosted = is_hosted;
        self
    }
}

/// A user's known device list, as last fetched with usync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceListRecord {
    /// The user part of the JID (phone number or LID). This is the record's key.
    pub user: String,
    /// The devices.
    pub devices: Vec<DeviceInfo>,
    /// When the list was fetched, unix seconds.
    pub timestamp: i64,
    /// The participant hash from usync, if any.
    pub phash: Option<String>,
    /// The ADV `raw_id`; a change means the user's identity changed.
    #[serde(default)]
    pub raw_id: Option<u32>,
}

/// A trusted-contact privacy token for one contact. `Debug` shows only the
/// token's length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcTokenEntry {
    /// The token bytes received from the server; empty for a placeholder row
    /// that only records [`TcTokenEntry::sender_timestamp`].
    pub token: Vec<u8>,
    /// When the token was received, unix seconds.
    pub token_timestamp: i64,
    /// When we last issued our own token to this contact, unix seconds.
    pub sender_timestamp: Option<i64>,
}

impl fmt::Debug for TcTokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcTokenEntry")
            .field("token", &Len(self.token.len()))
            .field("token_timestamp", &self.token_timestamp)
            .field("sender_timestamp", &self.sender_timestamp)
            .finish()
    }
}

/// A decrypted incoming message waiting in the durable inbox until the
/// application acknowledges it (see [`ProtocolStore::put_inbox`]).
///
/// An entry is identified by `(chat, id)`; the inbox lists entries by
/// `(timestamp, chat, id)`. The payload is opaque to the store: the messaging
/// layer chooses its encoding. It is the decrypted message, so `Debug` shows
/// only its length:
///
/// ```
/// use wa_core::store::InboxEntry;
/// let e = InboxEntry {
///     chat: "5511987650001@s.whatsapp.net".into(),
///     id: "3EB0A1".into(),
///     sender: "5511987650001:7@s.whatsapp.net".into(),
///     timestamp: 1_700_000_000,
///     payload: b"hello there".to_vec(),
/// };
/// let shown = format!("{e:?}");
/// assert!(shown.contains("3EB0A1") && shown.contains("<11 bytes>"));
/// assert!(!shown.contains("104, 101") && !shown.contains("hello"));
/// ```
///
/// [`ProtocolStore::put_inbox`]: super::ProtocolStore::put_inbox
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// The chat JID (the contact's or the group's).
    pub chat: String,
    /// The message id.
    pub id: String,
    /// The sending device's JID.
    pub sender: String,
    /// The message's timestamp, unix seconds.
    pub timestamp: i64,
    /// The decrypted message in the messaging layer's encoding (opaque to the
    /// store).
    pub payload: Vec<u8>,
}

impl fmt::Debug for InboxEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxEntry")
            .field("chat", &self.chat)
            .field("id", &self.id)
            .field("sender", &self.sender)
            .field("timestamp", &self.timestamp)
            .field("payload", &Len(self.payload.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct, recognisable secret bytes: 0xc0.. for the noise key and so on.
    fn secret(base: u8) -> [u8; 32] {
        std::array::from_fn(|i| base.wrapping_add(i as u8))
    }

    fn device() -> Device {
        let mut d = Device::from_keys(DeviceKeys {
            noise_key: KeyPair {
                private: secret(0xc0),
                public: [0x11; 32],
            },
            identity_key: KeyPair {
                private: secret(0x60),
                public: [0x22; 32],
            },
            registration_id: 0x7fff_fff0,
            signed_pre_key: KeyPair {
                private: secret(0x90),
                public: [0x33; 32],
            },
            signed_pre_key_id: 1,
            signed_pre_key_signature: [0x44; 64],
            adv_secret_key: secret(0x20),
        });
        d.account = Some(vec![1, 2, 3]);
        d.pn = Some("5511987650001:7@s.whatsapp.net".parse().unwrap());
        d.lid = Some("100000012345678:7@lid".parse().unwrap());
        d.push_name = "Zoë 🙂".into();
        d.business_name = Some("Shop".into());
        d.platform = Some("android".into());
        d.edge_routing_info = Some(vec![9; 10]);
        d.server_cert_chain = Some(CachedServerCertChain {
            intermediate: CachedNoiseCert {
                key: [5; 32],
                not_before: 1,
                not_after: 2,
            },
            leaf: CachedNoiseCert {
                key: [6; 32],
                not_before: 3,
                not_after: 4,
            },
        });
        d.login_counter = 9;
        d.lid_migrated = true;
        d.app_version = Some(AppVersion {
            primary: 2,
            secondary: 3000,
            tertiary: 1_045_368_834,
        });
        d.app_version_last_fetched_ms = 1_700_000_000_123;
        d.props_hash = Some("abc".into());
        d.next_pre_key_id = 813;
        d.first_unupload_pre_key_id = 800;
        d.server_has_prekeys = true;
        d.last_signed_pre_key_rotation_ms = 1_700_000_000_456;
        d
    }

    /// Every spelling of the secret bytes that a formatter could produce.
    fn spellings(secret: &[u8; 32]) -> Vec<String> {
        let window = &secret[..4];
        let hex_lower: String = window.iter().map(|b| format!("{b:02x}")).collect();
        let decimal = window
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        vec![hex_lower.clone(), hex_lower.to_uppercase(), decimal]
    }

    #[test]
    fn device_debug_never_prints_private_keys_or_adv_secret() {
        let d = device();
        let shown = format!("{d:?}");
        let pretty = format!("{d:#?}");
        for s in [
            &d.noise_key.private,
            &d.identity_key.private,
            &d.signed_pre_key.private,
            &d.adv_secret_key,
        ] {
            for spelling in spellings(s) {
                assert!(!shown.contains(&spelling), "{spelling} leaked in {shown}");
                assert!(!pretty.contains(&spelling), "{spelling} leaked in {pretty}");
            }
        }
        // The public parts are still there to help debugging.
        assert!(shown.contains(&"11".repeat(32)), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("5511987650001:7@s.whatsapp.net"));
    }

    #[test]
    fn device_keys_and_sync_key_debug_hide_secrets() {
        let keys = DeviceKeys {
            noise_key: KeyPair {
                private: secret(0xc0),
                public: [0; 32],
            },
            identity_key: KeyPair {
                private: secret(0x60),
                public: [0; 32],
            },
            registration_id: 1,
            signed_pre_key: KeyPair {
                private: secret(0x90),
                public: [0; 32],
            },
            signed_pre_key_id: 1,
            signed_pre_key_signature: [0; 64],
            adv_secret_key: secret(0x20),
        };
        let shown = format!("{keys:?}");
        for s in [
            &keys.noise_key.private,
            &keys.identity_key.private,
            &keys.signed_pre_key.private,
            &keys.adv_secret_key,
        ] {
            for spelling in spellings(s) {
                assert!(!shown.contains(&spelling), "{spelling} leaked in {shown}");
            }
        }
        let sk = AppStateSyncKey {
            key_data: secret(0xd0).to_vec(),
            fingerprint: vec![1],
            timestamp: 5,
        };
        let shown = format!("{sk:?}");
        for spelling in spellings(&secret(0xd0)) {
            assert!(!shown.contains(&spelling), "{spelling} leaked in {shown}");
        }
        let tc = TcTokenEntry {
            token: secret(0xe0).to_vec(),
            token_timestamp: 1,
            sender_timestamp: None,
        };
        let shown = format!("{tc:?}");
        for spelling in spellings(&secret(0xe0)) {
            assert!(!shown.contains(&spelling), "{spelling} leaked in {shown}");
        }
        assert!(shown.contains("<32 bytes>"), "{shown}");
    }

    #[test]
    fn inbox_entry_debug_hides_the_payload_and_round_trips() {
        let e = InboxEntry {
            chat: "120363021033254949@g.us".into(),
            id: "3EB0FF".into(),
            sender: "5511987650001:7@s.whatsapp.net".into(),
            timestamp: -5,
            payload: secret(0xa0).to_vec(),
        };
        for shown in [format!("{e:?}"), format!("{e:#?}")] {
            for spelling in spellings(&secret(0xa0)) {
                assert!(!shown.contains(&spelling), "{spelling} leaked in {shown}");
            }
            assert!(shown.contains("<32 bytes>"), "{shown}");
            assert!(shown.contains("3EB0FF"), "{shown}");
        }
        let bytes = postcard::to_allocvec(&e).unwrap();
        assert_eq!(postcard::from_bytes::<InboxEntry>(&bytes).unwrap(), e);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<InboxEntry>(&json).unwrap(), e);
    }

    #[test]
    fn device_round_trips_through_postcard_and_json() {
        let d = device();
        let bytes = postcard::to_allocvec(&d).unwrap();
        assert_eq!(postcard::from_bytes::<Device>(&bytes).unwrap(), d);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Device>(&json).unwrap(), d);
        let fresh = Device::from_keys(DeviceKeys {
            noise_key: d.noise_key.clone(),
            identity_key: d.identity_key.clone(),
            registration_id: 1,
            signed_pre_key: d.signed_pre_key.clone(),
            signed_pre_key_id: 1,
            signed_pre_key_signature: [0; 64],
            adv_secret_key: [0; 32],
        });
        let bytes = postcard::to_allocvec(&fresh).unwrap();
        assert_eq!(postcard::from_bytes::<Device>(&bytes).unwrap(), fresh);
        assert!(!fresh.is_registered());
        assert_eq!(fresh.next_pre_key_id, 1);
    }

    #[test]
    fn key_pair_is_stored_as_private_then_public() {
        let kp = KeyPair {
            private: [1; 32],
            public: [2; 32],
        };
        let bytes = postcard::to_allocvec(&kp).unwrap();
        // postcard byte string: varint length 64, then the bytes.
        assert_eq!(bytes[0], 64);
        assert_eq!(&bytes[1..33], &[1; 32]);
        assert_eq!(&bytes[33..], &[2; 32]);
        assert_eq!(KeyPair::from_bytes(&kp.to_bytes()), kp);
    }

    #[test]
    fn wrong_length_arrays_are_decode_errors_not_panics() {
        let short = postcard::to_allocvec(&vec![7u8; 63]).unwrap();
        assert!(postcard::from_bytes::<KeyPair>(&short).is_err());
        let long = postcard::to_allocvec(&vec![7u8; 129]).unwrap();
        assert!(
            postcard::from_bytes::<HashState>(&{
                let mut v = postcard::to_allocvec(&3u64).unwrap();
                v.extend_from_slice(&long);
                v
            })
            .is_err()
        );
        assert!(serde_json::from_str::<KeyPair>("[1,2,3]").is_err());
        let too_long = format!("[{}]", vec!["1"; 65].join(","));
        assert!(serde_json::from_str::<KeyPair>(&too_long).is_err());
        let exact = format!("[{}]", vec!["1"; 64].join(","));
        assert_eq!(
            serde_json::from_str::<KeyPair>(&exact).unwrap().public,
            [1; 32]
        );
    }

    #[test]
    fn hash_state_round_trips_and_defaults_to_zero() {
        let h = HashState {
            version: 42,
            hash: std::array::from_fn(|i| i as u8),
        };
        let bytes = postcard::to_allocvec(&h).unwrap();
        assert_eq!(postcard::from_bytes::<HashState>(&bytes).unwrap(), h);
        assert_eq!(
            HashState::default(),
            HashState {
                version: 0,
                hash: [0; 128]
            }
        );
    }

    #[test]
    fn device_info_hosted_flag_defaults_to_false() {
        let d: DeviceInfo = serde_json::from_str(r#"{"device_id":7,"key_index":3}"#).unwrap();
        assert_eq!(d, DeviceInfo::new(7, Some(3)));
        assert!(DeviceInfo::new(1, None).with_hosting(true).is_hosted);
        let r: DeviceListRecord =
            serde_json::from_str(r#"{"user":"1","devices":[],"timestamp":0,"phash":null}"#)
                .unwrap();
        assert_eq!(r.raw_id, None);
    }
}
