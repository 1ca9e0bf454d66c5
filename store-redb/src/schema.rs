//! The on-disk format, schema version 2: tables, key layout, the value
//! envelope and the frozen v1 record shapes.
//!
//! Everything here is part of the file format. Changing a record shape means a
//! new envelope version with a decoder kept for the old one; changing a key
//! layout means a new table name (`*_v2`) and a migration.
//!
//! # Schema versions
//!
//! - **1**: every family but the inbox.
//! - **2**: adds the inbox, [`INBOX`] and [`INBOX_INDEX`]. Nothing else
//!   changed, so upgrading a version-1 file creates the two (empty) tables and
//!   records version 2, in one transaction (see `init_schema` in `lib.rs`).

use std::fmt::Write as _;

use redb::TableDefinition;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use wa_core::store::StoreError;

/// The newest schema version this build reads and the one it writes. A file
/// of an older version is upgraded when it is opened; a newer one is refused.
pub const SCHEMA_VERSION: u32 = 2;

/// The leading byte of every record value written by schema version 1.
pub(crate) const ENVELOPE_V1: u8 = 1;

/// Every table holds raw bytes: keys as laid out below, values as envelopes.
pub(crate) type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// The `meta` table: file-level facts, values in a fixed little-endian layout
/// (no envelope, so every future version can read them).
pub(crate) const META: Def = TableDefinition::new("meta");
/// `meta` key of the schema version (u32 LE).
pub(crate) const META_SCHEMA_VERSION: &[u8] = b"schema_version";
/// `meta` key of the largest device id `create` returned (i32 LE).
pub(crate) const META_LAST_DEVICE_ID: &[u8] = b"last_device_id";

/// How a table's key is laid out after the 4-byte device-id prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyShape {
    /// Nothing after the device id.
    Device,
    /// One UTF-8 string, raw (it is the last component).
    Str(&'static str),
    /// One byte string, raw.
    Bytes(&'static str),
    /// A u32, big-endian (so keys sort by id).
    U32(&'static str),
    /// An escaped UTF-8 string, then a raw UTF-8 string.
    StrStr(&'static str, &'static str),
    /// An escaped UTF-8 string, then raw bytes.
    StrBytes(&'static str, &'static str),
    /// Escaped phone, `updated_at` (i64, order-preserving), raw LID.
    PnIndex,
    /// `timestamp` (i64, order-preserving), escaped chat, raw message id.
    Inbox,
}

/// What a table's values are (the v1 payload inside the envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// A 32-byte identity key.
    Identity,
    /// Opaque bytes.
    Blob {
        /// Whether the bytes are secret (redacted by `export`).
        secret: bool,
    },
    /// [`PrekeyV1`].
    Prekey,
    /// [`SyncKeyV1`].
    SyncKey,
    /// [`HashStateV1`].
    HashState,
    /// [`MacV1`].
    Mac,
    /// A bool.
    Flag,
    /// [`LidMappingV1`].
    LidMapping,
    /// Empty payload (an index row).
    Empty,
    /// [`DeviceListV1`].
    DeviceList,
    /// [`TcTokenV1`].
    TcToken,
    /// [`SentMessageV1`].
    SentMessage,
    /// [`DeviceV1`].
    Device,
    /// [`InboxV1`].
    Inbox,
    /// An i64: the timestamp of the inbox entry an index row points to.
    InboxIndex,
}

/// One record family: one table.
#[derive(Clone, Copy)]
pub(crate) struct Family {
    /// The table's name, e.g. `sessions_v1`.
    pub name: &'static str,
    /// The table's definition.
    pub def: Def,
    /// The key layout.
    pub key: KeyShape,
    /// The value payload.
    pub value: ValueKind,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

macro_rules! family {
    ($ident:ident, $name:literal, $key:expr, $value:expr) => {
        pub(crate) const $ident: Family = Family {
            name: $name,
            def: TableDefinition::new($name),
            key: $key,
            value: $value,
        };
    };
}

family!(
    IDENTITIES,
    "identities_v1",
    KeyShape::Str("address"),
    ValueKind::Identity
);
family!(
    SESSIONS,
    "sessions_v1",
    KeyShape::Str("address"),
    ValueKind::Blob { secret: true }
);
family!(
    PREKEYS,
    "prekeys_v1",
    KeyShape::U32("id"),
    ValueKind::Prekey
);
family!(
    SIGNED_PREKEYS,
    "signed_prekeys_v1",
    KeyShape::U32("id"),
    ValueKind::Blob { secret: true }
);
family!(
    SENDER_KEYS,
    "sender_keys_v1",
    KeyShape::Str("address"),
    ValueKind::Blob { secret: true }
);
family!(
    SYNC_KEYS,
    "sync_keys_v1",
    KeyShape::Bytes("key_id"),
    ValueKind::SyncKey
);
family!(
    SYNC_KEY_LATEST,
    "sync_key_latest_v1",
    KeyShape::Device,
    ValueKind::Blob { secret: false }
);
family!(
    APP_STATE_VERSIONS,
    "app_state_versions_v1",
    KeyShape::Str("collection"),
    ValueKind::HashState
);
family!(
    MUTATION_MACS,
    "mutation_macs_v1",
    KeyShape::StrBytes("collection", "index_mac"),
    ValueKind::Mac
);
family!(
    SENDER_KEY_DEVICES,
    "sender_key_devices_v1",
    KeyShape::StrStr("group", "device"),
    ValueKind::Flag
);
family!(
    LID_MAPPINGS,
    "lid_mappings_v1",
    KeyShape::Str("lid"),
    ValueKind::LidMapping
);
family!(
    PN_INDEX,
    "lid_pn_index_v1",
    KeyShape::PnIndex,
    ValueKind::Empty
);
family!(
    BASE_KEYS,
    "base_keys_v1",
    KeyShape::StrStr("address", "message_id"),
    ValueKind::Blob { secret: false }
);
family!(
    DEVICE_LISTS,
    "device_lists_v1",
    KeyShape::Str("user"),
    ValueKind::DeviceList
);
family!(
    TC_TOKENS,
    "tc_tokens_v1",
    KeyShape::Str("jid"),
    ValueKind::TcToken
);
family!(
    SENT_MESSAGES,
    "sent_messages_v1",
    KeyShape::StrStr("chat", "message_id"),
    ValueKind::SentMessage
);
family!(DEVICES, "devices_v1", KeyShape::Device, ValueKind::Device);

// The inbox (schema version 2) is two tables kept in step by every write:
//
// - `inbox_v1`, keyed `dev ‖ ordered_i64(timestamp) ‖ esc(chat) ‖ id`, holds
//   the entries ([`InboxV1`]: sender and payload). Its byte order is the order
//   `list_inbox` promises, (timestamp, chat, id), so listing the first `limit`
//   entries is one range scan over the device's prefix that stops after
//   `limit` rows, however large the inbox.
// - `inbox_index_v1`, keyed `dev ‖ esc(chat) ‖ id` (the entry's identity),
//   holds the entry's timestamp, so `put_inbox` (which must replace the entry
//   with the same chat and id whatever its old timestamp) and `remove_inbox`
//   find the entry's key with one point read instead of a scan.
//
// A single table keyed by (chat, id) would make every listing read and sort
// the whole inbox; a single table keyed by timestamp would make every removal
// a scan. Two rows per entry is the price; `check` verifies that they agree.
family!(INBOX, "inbox_v1", KeyShape::Inbox, ValueKind::Inbox);
family!(
    INBOX_INDEX,
    "inbox_index_v1",
    KeyShape::StrStr("chat", "id"),
    ValueKind::InboxIndex
);

/// Every record family of the current schema version, in a fixed order.
pub(crate) const FAMILIES: &[Family] = &[
    IDENTITIES,
    SESSIONS,
    PREKEYS,
    SIGNED_PREKEYS,
    SENDER_KEYS,
    SYNC_KEYS,
    SYNC_KEY_LATEST,
    APP_STATE_VERSIONS,
    MUTATION_MACS,
    SENDER_KEY_DEVICES,
    LID_MAPPINGS,
    PN_INDEX,
    BASE_KEYS,
    DEVICE_LISTS,
    TC_TOKENS,
    SENT_MESSAGES,
    DEVICES,
    INBOX,
    INBOX_INDEX,
];

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// The 4-byte key prefix of a device id: big-endian with the sign bit flipped,
/// so byte order equals numeric order (negative ids sort first).
pub(crate) fn device_prefix(id: i32) -> [u8; 4] {
    ((id as u32) ^ 0x8000_0000).to_be_bytes()
}

/// The device id a key starts with, if it has four bytes.
pub(crate) fn device_of(key: &[u8]) -> Option<i32> {
    let head: [u8; 4] = key.get(..4)?.try_into().ok()?;
    Some((u32::from_be_bytes(head) ^ 0x8000_0000) as i32)
}

/// `i64` as 8 bytes whose byte order equals numeric order.
pub(crate) fn ordered_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn i64_from_ordered(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// Builds keys: the device prefix, then components.
///
/// A string that is not the last component is escaped (`00` becomes `00 ff`)
/// and terminated with `00 01`, so composite keys never collide, keep byte
/// order, and `prefix(dev, a)` selects exactly the rows whose first component
/// is `a`.
#[derive(Debug, Clone)]
pub(crate) struct KeyBuf(Vec<u8>);

impl KeyBuf {
    pub(crate) fn new(device: i32, capacity: usize) -> Self {
        let mut v = Vec::with_capacity(4 + capacity);
        v.extend_from_slice(&device_prefix(device));
        Self(v)
    }

    /// Appends a last component as raw bytes.
    pub(crate) fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }

    /// Appends a non-last string component, escaped and terminated.
    pub(crate) fn escaped(mut self, s: &[u8]) -> Self {
        for &b in s {
            self.0.push(b);
            if b == 0 {
                self.0.push(0xff);
            }
        }
        self.0.extend_from_slice(&[0, 1]);
        self
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

/// The smallest byte string greater than every string starting with `prefix`,
/// or `None` when there is none (all bytes `ff`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Splits an escaped component off the front of `rest`.
fn take_escaped(rest: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let b = *rest.get(i)?;
        if b == 0 {
            match *rest.get(i + 1)? {
                0xff => out.push(0),
                1 => return Some((out, &rest[i + 2..])),
                _ => return None,
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
}

/// One decoded key component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyPart {
    Str(String),
    Bytes(Vec<u8>),
    U32(u32),
    I64(i64),
}

/// A key split into its device id and named components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedKey {
    pub device: i32,
    pub parts: Vec<(&'static str, KeyPart)>,
}

fn utf8(field: &str, bytes: Vec<u8>) -> Result<KeyPart, String> {
    String::from_utf8(bytes)
        .map(KeyPart::Str)
        .map_err(|_| format!("key component {field} is not UTF-8"))
}

/// Splits a raw key of `shape`.
pub(crate) fn decode_key(shape: KeyShape, key: &[u8]) -> Result<DecodedKey, String> {
    let device = device_of(key).ok_or("key shorter than its 4-byte device id")?;
    let rest = &key[4..];
    let parts = match shape {
        KeyShape::Device => {
            if !rest.is_empty() {
                return Err("trailing bytes after the device id".into());
            }
            vec![]
        }
        KeyShape::Str(f) => vec![(f, utf8(f, rest.to_vec())?)],
        KeyShape::Bytes(f) => vec![(f, KeyPart::Bytes(rest.to_vec()))],
        KeyShape::U32(f) => {
            let b: [u8; 4] = rest.try_into().map_err(|_| format!("{f} is not 4 bytes"))?;
            vec![(f, KeyPart::U32(u32::from_be_bytes(b)))]
        }
        KeyShape::StrStr(f1, f2) => {
            let (a, b) = take_escaped(rest).ok_or(format!("bad escaping in {f1}"))?;
            vec![(f1, utf8(f1, a)?), (f2, utf8(f2, b.to_vec())?)]
        }
        KeyShape::StrBytes(f1, f2) => {
            let (a, b) = take_escaped(rest).ok_or(format!("bad escaping in {f1}"))?;
            vec![(f1, utf8(f1, a)?), (f2, KeyPart::Bytes(b.to_vec()))]
        }
        KeyShape::Inbox => {
            let (timestamp, chat, id) = split_inbox_key(rest)?;
            vec![
                ("timestamp", KeyPart::I64(timestamp)),
                ("chat", utf8("chat", chat)?),
                ("id", utf8("id", id.to_vec())?),
            ]
        }
        KeyShape::PnIndex => {
            let (phone, rest) = take_escaped(rest).ok_or("bad escaping in phone")?;
            let ts: [u8; 8] = rest
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or("updated_at is not 8 bytes")?;
            vec![
                ("phone", utf8("phone", phone)?),
                ("updated_at", KeyPart::I64(i64_from_ordered(ts))),
                ("lid", utf8("lid", rest[8..].to_vec())?),
            ]
        }
    };
    Ok(DecodedKey { device, parts })
}

/// Splits the part of an inbox key after the device id into its timestamp,
/// (unescaped) chat and id bytes.
pub(crate) fn split_inbox_key(rest: &[u8]) -> Result<(i64, Vec<u8>, &[u8]), String> {
    let ts: [u8; 8] = rest
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("timestamp is not 8 bytes")?;
    let (chat, id) = take_escaped(&rest[8..]).ok_or("bad escaping in chat")?;
    Ok((i64_from_ordered(ts), chat, id))
}

/// The inbox key of the entry whose index key is `index_key`
/// (`dev ‖ esc(chat) ‖ id`) and whose timestamp is `timestamp`:
/// `dev ‖ ordered_i64(timestamp) ‖ esc(chat) ‖ id`. An index key shorter than
/// a device id (never built by the store) yields a key no entry has.
pub(crate) fn inbox_key(index_key: &[u8], timestamp: i64) -> Vec<u8> {
    let split = index_key.len().min(4);
    let mut key = Vec::with_capacity(index_key.len() + 8);
    key.extend_from_slice(&index_key[..split]);
    key.extend_from_slice(&ordered_i64(timestamp));
    key.extend_from_slice(&index_key[split..]);
    key
}

/// A printable form of a raw key, for error messages and reports:
/// `device 1, address "5511987650001.0"`; an undecodable key is shown in hex.
pub(crate) fn key_label(shape: KeyShape, key: &[u8]) -> String {
    match decode_key(shape, key) {
        Ok(k) => {
            let mut s = format!("device {}", k.device);
            for (name, part) in &k.parts {
                let _ = match part {
                    KeyPart::Str(v) => write!(s, ", {name} {v:?}"),
                    KeyPart::Bytes(v) => write!(s, ", {name} 0x{}", hex::encode(v)),
                    KeyPart::U32(v) => write!(s, ", {name} {v}"),
                    KeyPart::I64(v) => write!(s, ", {name} {v}"),
                };
            }
            s
        }
        Err(_) => format!("raw key 0x{}", hex::encode(key)),
    }
}

// ---------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------

/// Wraps a v1 payload: `[ENVELOPE_V1] ‖ postcard(payload)`.
pub(crate) fn encode<T: Serialize + ?Sized>(payload: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![ENVELOPE_V1];
    postcard::to_io(payload, &mut out)?;
    Ok(out)
}

/// Unwraps an envelope and decodes its payload, rejecting an unknown version
/// and trailing bytes. The error is the detail of a `Corrupt` error.
pub(crate) fn decode<'a, T: Deserialize<'a>>(value: &'a [u8]) -> Result<T, String> {
    let (&version, body) = value.split_first().ok_or("empty record")?;
    match version {
        ENVELOPE_V1 => {
            let (payload, rest) =
                postcard::take_from_bytes::<T>(body).map_err(|e| format!("postcard: {e}"))?;
            if rest.is_empty() {
                Ok(payload)
            } else {
                Err(format!("{} trailing bytes after the record", rest.len()))
            }
        }
        other => Err(format!("unknown record version {other}")),
    }
}

// ---------------------------------------------------------------------------
// v1 record shapes (frozen: never edit, add v2 shapes instead)
// ---------------------------------------------------------------------------

/// A borrowed byte string, encoded as one (postcard: varint length, bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blob<'a>(pub &'a [u8]);

impl Serialize for Blob<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Blob<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a [u8]>::deserialize(d).map(Blob)
    }
}

impl<'a> Blob<'a> {
    /// Exactly `N` bytes, or a decode error naming `what`.
    pub(crate) fn fixed<const N: usize>(self, what: &str) -> Result<[u8; N], String> {
        self.0
            .try_into()
            .map_err(|_| format!("{what} has {} bytes, want {N}", self.0.len()))
    }
}

/// A one-time prekey: its record and upload flag.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PrekeyV1<'a> {
    #[serde(borrow)]
    pub record: Blob<'a>,
    pub uploaded: bool,
}

/// An app-state sync key.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SyncKeyV1<'a> {
    #[serde(borrow)]
    pub key_data: Blob<'a>,
    #[serde(borrow)]
    pub fingerprint: Blob<'a>,
    pub timestamp: i64,
}

/// A collection's version and 128-byte LTHash.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HashStateV1<'a> {
    pub version: u64,
    #[serde(borrow)]
    pub hash: Blob<'a>,
}

/// A mutation's value MAC and the collection version that wrote it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct MacV1<'a> {
    pub version: u64,
    #[serde(borrow)]
    pub value_mac: Blob<'a>,
}

/// A LID ↔ phone-number mapping.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LidMappingV1<'a> {
    pub lid: &'a str,
    pub phone_number: &'a str,
    pub created_at: i64,
    pub updated_at: i64,
    pub learning_source: &'a str,
}

/// One device of a device list.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DeviceInfoV1 {
    pub device_id: u16,
    pub key_index: Option<u32>,
    pub is_hosted: bool,
}

/// A user's device list.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DeviceListV1<'a> {
    pub user: &'a str,
    pub devices: Vec<DeviceInfoV1>,
    pub timestamp: i64,
    pub phash: Option<&'a str>,
    pub raw_id: Option<u32>,
}

/// A trusted-contact token.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TcTokenV1<'a> {
    #[serde(borrow)]
    pub token: Blob<'a>,
    pub token_timestamp: i64,
    pub sender_timestamp: Option<i64>,
}

/// A sent message kept for retries.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SentMessageV1<'a> {
    #[serde(borrow)]
    pub payload: Blob<'a>,
    pub sent_at: i64,
}

/// One certificate of the cached server chain.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CertV1<'a> {
    #[serde(borrow)]
    pub key: Blob<'a>,
    pub not_before: i64,
    pub not_after: i64,
}

/// The cached server certificate chain.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CertChainV1<'a> {
    #[serde(borrow)]
    pub intermediate: CertV1<'a>,
    #[serde(borrow)]
    pub leaf: CertV1<'a>,
}

/// The device's own record. Key pairs are 64 bytes, `private ‖ public`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DeviceV1<'a> {
    #[serde(borrow)]
    pub noise_key: Blob<'a>,
    #[serde(borrow)]
    pub identity_key: Blob<'a>,
    pub registration_id: u32,
    #[serde(borrow)]
    pub signed_pre_key: Blob<'a>,
    pub signed_pre_key_id: u32,
    #[serde(borrow)]
    pub signed_pre_key_signature: Blob<'a>,
    #[serde(borrow)]
    pub adv_secret_key: Blob<'a>,
    #[serde(borrow)]
    pub account: Option<Blob<'a>>,
    pub pn: Option<&'a str>,
    pub lid: Option<&'a str>,
    pub push_name: &'a str,
    pub business_name: Option<&'a str>,
    pub platform: Option<&'a str>,
    #[serde(borrow)]
    pub edge_routing_info: Option<Blob<'a>>,
    #[serde(borrow)]
    pub server_cert_chain: Option<CertChainV1<'a>>,
    pub login_counter: i32,
    pub lid_migrated: bool,
    pub app_version: Option<(u32, u32, u32)>,
    pub app_version_last_fetched_ms: i64,
    pub props_hash: Option<&'a str>,
    pub next_pre_key_id: u32,
    pub first_unupload_pre_key_id: u32,
    pub server_has_prekeys: bool,
    pub last_signed_pre_key_rotation_ms: i64,
}

/// A decrypted message waiting in the inbox (schema version 2). Its chat, id
/// and timestamp are in its key.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InboxV1<'a> {
    pub sender: &'a str,
    #[serde(borrow)]
    pub payload: Blob<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_prefix_orders_like_numbers() {
        let ids = [i32::MIN, -5, -1, 0, 1, 2, 300, i32::MAX];
        for w in ids.windows(2) {
            assert!(device_prefix(w[0]) < device_prefix(w[1]), "{w:?}");
        }
        for id in ids {
            assert_eq!(device_of(&device_prefix(id)), Some(id));
        }
    }

    #[test]
    fn escaped_components_never_collide_and_keep_order() {
        let k = |a: &str, b: &str| {
            KeyBuf::new(1, 0)
                .escaped(a.as_bytes())
                .raw(b.as_bytes())
                .into_vec()
        };
        assert_ne!(k("a", "b:c"), k("a:b", "c"));
        assert_ne!(k("a", "\0b"), k("a\0", "b"));
        let firsts = ["", "\0", "\0\0", "a", "a\0", "a\u{1}", "ab", "b"];
        for w in firsts.windows(2) {
            assert!(k(w[0], "zzz") < k(w[1], ""), "{w:?}");
        }
        for a in firsts {
            let key = k(a, "rest");
            let d = decode_key(KeyShape::StrStr("x", "y"), &key).unwrap();
            assert_eq!(d.parts[0].1, KeyPart::Str(a.into()));
            assert_eq!(d.parts[1].1, KeyPart::Str("rest".into()));
            let prefix = KeyBuf::new(1, 0).escaped(a.as_bytes()).into_vec();
            for b in firsts {
                assert_eq!(k(b, "").starts_with(&prefix), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }

    #[test]
    fn envelope_round_trips_and_rejects_garbage() {
        let v = encode(&Blob(b"abc")).unwrap();
        assert_eq!(v, [ENVELOPE_V1, 3, b'a', b'b', b'c']);
        assert_eq!(decode::<Blob<'_>>(&v).unwrap().0, b"abc");
        assert!(decode::<Blob<'_>>(&[]).unwrap_err().contains("empty"));
        assert!(
            decode::<Blob<'_>>(&[9, 0])
                .unwrap_err()
                .contains("version 9")
        );
        assert!(decode::<Blob<'_>>(&[1, 5, 1]).is_err());
        assert!(
            decode::<Blob<'_>>(&[1, 1, 1, 7])
                .unwrap_err()
                .contains("trailing")
        );
    }

    #[test]
    fn inbox_keys_sort_by_timestamp_chat_id_and_come_from_index_keys() {
        let index = |chat: &str, id: &str| {
            KeyBuf::new(3, 0)
                .escaped(chat.as_bytes())
                .raw(id.as_bytes())
                .into_vec()
        };
        let keys: Vec<(i64, &str, &str)> = vec![
            (i64::MIN, "z", "z"),
            (-256, "b", ""),
            (-1, "", "9"),
            (0, "", ""),
            (0, "a", ""),
            (0, "a", "\0"),
            (0, "a", "1"),
            (0, "a\0", ""),
            (0, "a\u{1}", ""),
            (0, "ab", ""),
            (1, "", ""),
            (255, "", ""),
            (256, "", ""),
            (i64::MAX, "", ""),
        ];
        let raw: Vec<Vec<u8>> = keys
            .iter()
            .map(|(ts, chat, id)| inbox_key(&index(chat, id), *ts))
            .collect();
        for w in raw.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
        for ((ts, chat, id), key) in keys.iter().zip(&raw) {
            let d = decode_key(KeyShape::Inbox, key).unwrap();
            assert_eq!(d.device, 3);
            assert_eq!(
                d.parts,
                vec![
                    ("timestamp", KeyPart::I64(*ts)),
                    ("chat", KeyPart::Str((*chat).into())),
                    ("id", KeyPart::Str((*id).into())),
                ]
            );
        }
        assert!(decode_key(KeyShape::Inbox, &[0x80, 0, 0, 1, 0]).is_err());
        assert!(decode_key(KeyShape::Inbox, &inbox_key(&index("a", "b"), 0)[..14]).is_err());
        assert_eq!(inbox_key(&[1, 2], 0).len(), 10);
    }

    #[test]
    fn key_labels_name_fields() {
        let key = KeyBuf::new(7, 0).raw(b"5511987650001.0").into_vec();
        assert_eq!(
            key_label(SESSIONS.key, &key),
            "device 7, address \"5511987650001.0\""
        );
        let key = KeyBuf::new(2, 0).raw(&42u32.to_be_bytes()).into_vec();
        assert_eq!(key_label(PREKEYS.key, &key), "device 2, id 42");
        assert_eq!(key_label(PREKEYS.key, &[1, 2]), "raw key 0x0102");
    }
}
