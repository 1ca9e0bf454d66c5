//! Plugging your own transport and your own store into wa-core.
//!
//! Written only against the public API, this program
//!
//! 1. implements [`Transport`] + [`TransportFactory`] as an in-process loopback
//!    that echoes every sent chunk back as [`TransportEvent::DataReceived`]
//!    (`Connected` first, exactly one `Disconnected` last);
//! 2. implements the four store traits as [`KvStore`], a store with its own
//!    layout: one ordered byte-key map, one key prefix per device and table,
//!    order-preserving key encoding so range scans answer prefix queries, and
//!    postcard values that decode to `StoreError::Corrupt` instead of panicking;
//! 3. wires them together: opens a transport, sends bytes, reads the echo,
//!    keeps the echoed bytes in a `Device` and saves/loads it through
//!    `Arc<dyn Backend>`;
//! 4. runs the public conformance battery against `KvStore`.
//!
//! Code written against whatsapp-rust's transport and custom-backend guides
//! takes this shape with the changes listed in `docs/porting.md`; CI compiles
//! this program with every change to the crate.
//!
//! Run: `cargo run -p wa-core --example custom_backend --features conformance`

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::{Context, bail};
use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wa_core::net::{Transport, TransportCloseReason, TransportEvent, TransportFactory};
use wa_core::store::conformance::{self, StorePair};
use wa_core::store::{
    AppStateMutationMAC, AppStateSyncKey, AppSyncStore, Backend, Device, DeviceKeys,
    DeviceListRecord, DeviceStore, HashState, KeyPair, LidPnMappingEntry, ProtocolStore,
    SignalStore, StoreError, StoreResult, TcTokenEntry,
};

// ---------------------------------------------------------------------------
// A loopback transport
// ---------------------------------------------------------------------------

/// Room in the event channel; one slot is always kept for `Disconnected`.
const EVENT_CAPACITY: usize = 64;

/// Echoes every `send` back as a `DataReceived` event.
struct LoopbackTransport {
    /// `None` once disconnected. Sends and the final `Disconnected` happen under
    /// this lock, so no data event can follow `Disconnected`.
    events: Mutex<Option<async_channel::Sender<TransportEvent>>>,
}

#[async_trait]
impl Transport for LoopbackTransport {
    async fn send(&self, data: Bytes) -> anyhow::Result<()> {
        let guard = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(events) = guard.as_ref() else {
            bail!("loopback transport is disconnected");
        };
        // Bounded: refuse rather than grow when the reader falls behind, and
        // keep the last slot for `Disconnected`.
        if events.len() >= EVENT_CAPACITY - 1 {
            bail!("loopback buffer full: the event receiver is not reading");
        }
        events
            .try_send(TransportEvent::DataReceived(data))
            .map_err(|_| anyhow::anyhow!("loopback event receiver was dropped"))
    }

    async fn disconnect(&self) {
        let taken = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(events) = taken {
            // A slot is always free (see `send`), so this cannot be lost to a full channel.
            let _ = events.try_send(TransportEvent::Disconnected(TransportCloseReason::Unknown));
            events.close();
        }
    }
}

/// Opens loopback transports.
struct LoopbackFactory {
    opened: AtomicBool,
}

#[async_trait]
impl TransportFactory for LoopbackFactory {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        self.opened.store(true, Ordering::Relaxed);
        let (tx, rx) = async_channel::bounded(EVENT_CAPACITY);
        tx.try_send(TransportEvent::Connected)
            .context("a fresh channel has room")?;
        let transport = LoopbackTransport {
            events: Mutex::new(Some(tx)),
        };
        Ok((Arc::new(transport), rx))
    }
}

// ---------------------------------------------------------------------------
// A custom store: one ordered key-value map
// ---------------------------------------------------------------------------

/// The record families, each a key prefix byte after the device id.
#[derive(Clone, Copy, Debug)]
#[repr(u8)]
enum Table {
    Identity = 1,
    Session,
    PreKey,
    SignedPreKey,
    SenderKey,
    SyncKey,
    LatestSyncKey,
    Version,
    Mac,
    SenderKeyDevice,
    LidMapping,
    /// phone ‖ lid → (), the index behind `get_pn_mapping`.
    PhoneIndex,
    BaseKey,
    DeviceList,
    TcToken,
    SentMessage,
    OwnDevice,
}

/// Appends one key component so that (a) no encoded component is a prefix of
/// another and (b) byte order of encodings equals byte order of the raw
/// components: every 0x00 becomes 0x00 0xFF, and 0x00 0x01 ends the component.
fn push_component(key: &mut Vec<u8>, part: &[u8]) {
    for &b in part {
        key.push(b);
        if b == 0 {
            key.push(0xFF);
        }
    }
    key.extend_from_slice(&[0x00, 0x01]);
}

/// Splits encoded components back out; `None` for a malformed key.
fn split_components(mut rest: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut parts = Vec::new();
    while !rest.is_empty() {
        let mut part = Vec::new();
        loop {
            match rest {
                [0x00, 0xFF, tail @ ..] => {
                    part.push(0);
                    rest = tail;
                }
                [0x00, 0x01, tail @ ..] => {
                    rest = tail;
                    break;
                }
                [0x00, ..] | [] => return None,
                [b, tail @ ..] => {
                    part.push(*b);
                    rest = tail;
                }
            }
        }
        parts.push(part);
    }
    Some(parts)
}

/// A stored prekey.
#[derive(serde::Serialize, serde::Deserialize)]
struct PreKeyRow {
    record: Vec<u8>,
    uploaded: bool,
}

/// A stored sent message.
#[derive(serde::Serialize, serde::Deserialize)]
struct SentRow {
    sent_at: i64,
    payload: Vec<u8>,
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// A named copy of the whole map and the blob saved with it.
type Snapshot = (Map, Option<Vec<u8>>);

#[derive(Default)]
struct Kv {
    map: Mutex<Map>,
    ids: Mutex<BTreeSet<i32>>,
    /// Named copies of the whole map, with their extra blob.
    snapshots: Mutex<BTreeMap<String, Snapshot>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A multi-device store on one ordered map (think of an LSM tree or a
/// single-table database): key = device id (4 bytes, big endian) ‖ table byte ‖
/// encoded components.
#[derive(Clone)]
struct KvStore {
    kv: Arc<Kv>,
    device: i32,
}

impl KvStore {
    fn new() -> Self {
        let kv = Arc::new(Kv::default());
        lock(&kv.ids).insert(1);
        Self { kv, device: 1 }
    }

    fn for_device(&self, device: i32) -> Self {
        lock(&self.kv.ids).insert(device);
        Self {
            kv: Arc::clone(&self.kv),
            device,
        }
    }

    fn key(&self, table: Table, parts: &[&[u8]]) -> Vec<u8> {
        let mut key = Vec::with_capacity(8 + parts.iter().map(|p| p.len() + 2).sum::<usize>());
        key.extend_from_slice(&self.device.to_be_bytes());
        key.push(table as u8);
        for part in parts {
            push_component(&mut key, part);
        }
        key
    }

    /// Every `(key, value)` under `prefix`, in key order.
    fn scan<'m>(map: &'m Map, prefix: &[u8]) -> impl Iterator<Item = (&'m Vec<u8>, &'m Vec<u8>)> {
        map.range(prefix.to_vec()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// The components after the 5-byte device/table header.
    fn parts_of(table: Table, key: &[u8]) -> StoreResult<Vec<Vec<u8>>> {
        split_components(&key[5.min(key.len())..])
            .ok_or_else(|| StoreError::corrupt(format!("{table:?}"), hex(key), "malformed key"))
    }

    fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
        Ok(postcard::to_allocvec(value)?)
    }

    fn decode<T: DeserializeOwned>(table: Table, key: &[u8], bytes: &[u8]) -> StoreResult<T> {
        postcard::from_bytes(bytes)
            .map_err(|e| StoreError::corrupt(format!("{table:?}"), hex(key), e.to_string()))
    }

    fn text(table: Table, key: &[u8], bytes: Vec<u8>) -> StoreResult<String> {
        String::from_utf8(bytes)
            .map_err(|_| StoreError::corrupt(format!("{table:?}"), hex(key), "key is not UTF-8"))
    }

    fn get(&self, table: Table, parts: &[&[u8]]) -> Option<Vec<u8>> {
        lock(&self.kv.map).get(&self.key(table, parts)).cloned()
    }

    fn put(&self, table: Table, parts: &[&[u8]], value: Vec<u8>) {
        lock(&self.kv.map).insert(self.key(table, parts), value);
    }

    fn del(&self, table: Table, parts: &[&[u8]]) -> Option<Vec<u8>> {
        lock(&self.kv.map).remove(&self.key(table, parts))
    }

    fn get_decoded<T: DeserializeOwned>(
        &self,
        table: Table,
        parts: &[&[u8]],
    ) -> StoreResult<Option<T>> {
        let key = self.key(table, parts);
        match lock(&self.kv.map).get(&key) {
            Some(bytes) => Self::decode(table, &key, bytes).map(Some),
            None => Ok(None),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl SignalStore for KvStore {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> StoreResult<()> {
        self.put(Table::Identity, &[address.as_bytes()], key.to_vec());
        Ok(())
    }

    async fn load_identity(&self, address: &str) -> StoreResult<Option<[u8; 32]>> {
        let Some(bytes) = self.get(Table::Identity, &[address.as_bytes()]) else {
            return Ok(None);
        };
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            StoreError::corrupt(
                "Identity",
                address,
                format!("{} bytes, expected 32", bytes.len()),
            )
        })?;
        Ok(Some(key))
    }

    async fn delete_identity(&self, address: &str) -> StoreResult<()> {
        self.del(Table::Identity, &[address.as_bytes()]);
        Ok(())
    }

    async fn get_session(&self, address: &str) -> StoreResult<Option<Bytes>> {
        Ok(self
            .get(Table::Session, &[address.as_bytes()])
            .map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> StoreResult<()> {
        self.put(Table::Session, &[address.as_bytes()], session.to_vec());
        Ok(())
    }

    // One lock for the whole batch: all rows land together.
    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> StoreResult<()> {
        let rows: Vec<_> = sessions
            .iter()
            .map(|(a, s)| (self.key(Table::Session, &[a.as_bytes()]), s.to_vec()))
            .collect();
        lock(&self.kv.map).extend(rows);
        Ok(())
    }

    async fn delete_session(&self, address: &str) -> StoreResult<()> {
        self.del(Table::Session, &[address.as_bytes()]);
        Ok(())
    }

    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> StoreResult<()> {
        let row = Self::encode(&PreKeyRow {
            record: record.to_vec(),
            uploaded,
        })?;
        self.put(Table::PreKey, &[&id.to_be_bytes()], row);
        Ok(())
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], uploaded: bool) -> StoreResult<()> {
        let mut rows = Vec::with_capacity(keys.len());
        for (id, record) in keys {
            let row = Self::encode(&PreKeyRow {
                record: record.to_vec(),
                uploaded,
            })?;
            rows.push((self.key(Table::PreKey, &[&id.to_be_bytes()]), row));
        }
        lock(&self.kv.map).extend(rows);
        Ok(())
    }

    async fn load_prekey(&self, id: u32) -> StoreResult<Option<Bytes>> {
        let row: Option<PreKeyRow> = self.get_decoded(Table::PreKey, &[&id.to_be_bytes()])?;
        Ok(row.map(|r| Bytes::from(r.record)))
    }

    async fn is_prekey_uploaded(&self, id: u32) -> StoreResult<Option<bool>> {
        let row: Option<PreKeyRow> = self.get_decoded(Table::PreKey, &[&id.to_be_bytes()])?;
        Ok(row.map(|r| r.uploaded))
    }

    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> StoreResult<()> {
        let mut map = lock(&self.kv.map);
        for id in ids {
            let key = self.key(Table::PreKey, &[&id.to_be_bytes()]);
            // Update in place only; a missing key stays missing.
            if let Some(bytes) = map.get_mut(&key) {
                let mut row: PreKeyRow = Self::decode(Table::PreKey, &key, bytes)?;
                row.uploaded = true;
                *bytes = Self::encode(&row)?;
            }
        }
        Ok(())
    }

    async fn remove_prekey(&self, id: u32) -> StoreResult<()> {
        self.del(Table::PreKey, &[&id.to_be_bytes()]);
        Ok(())
    }

    async fn get_max_prekey_id(&self) -> StoreResult<u32> {
        let prefix = self.key(Table::PreKey, &[]);
        let map = lock(&self.kv.map);
        // Big-endian ids sort numerically, so the last key is the largest id.
        let Some((key, _)) = Self::scan(&map, &prefix).last() else {
            return Ok(0);
        };
        let parts = Self::parts_of(Table::PreKey, key)?;
        let id: [u8; 4] = parts
            .first()
            .and_then(|p| p.as_slice().try_into().ok())
            .ok_or_else(|| StoreError::corrupt("PreKey", hex(key), "id is not 4 bytes"))?;
        Ok(u32::from_be_bytes(id))
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> StoreResult<()> {
        self.put(Table::SignedPreKey, &[&id.to_be_bytes()], record.to_vec());
        Ok(())
    }

    async fn load_signed_prekey(&self, id: u32) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.get(Table::SignedPreKey, &[&id.to_be_bytes()]))
    }

    async fn load_all_signed_prekeys(&self) -> StoreResult<Vec<(u32, Vec<u8>)>> {
        let prefix = self.key(Table::SignedPreKey, &[]);
        let map = lock(&self.kv.map);
        Self::scan(&map, &prefix)
            .map(|(key, value)| {
                let parts = Self::parts_of(Table::SignedPreKey, key)?;
                let id: [u8; 4] = parts
                    .first()
                    .and_then(|p| p.as_slice().try_into().ok())
                    .ok_or_else(|| {
                        StoreError::corrupt("SignedPreKey", hex(key), "id is not 4 bytes")
                    })?;
                Ok((u32::from_be_bytes(id), value.clone()))
            })
            .collect()
    }

    async fn remove_signed_prekey(&self, id: u32) -> StoreResult<()> {
        self.del(Table::SignedPreKey, &[&id.to_be_bytes()]);
        Ok(())
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> StoreResult<()> {
        self.put(Table::SenderKey, &[address.as_bytes()], record.to_vec());
        Ok(())
    }

    async fn get_sender_key(&self, address: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.get(Table::SenderKey, &[address.as_bytes()]))
    }

    async fn delete_sender_key(&self, address: &str) -> StoreResult<()> {
        self.del(Table::SenderKey, &[address.as_bytes()]);
        Ok(())
    }
}

#[async_trait]
impl AppSyncStore for KvStore {
    async fn get_sync_key(&self, key_id: &[u8]) -> StoreResult<Option<AppStateSyncKey>> {
        self.get_decoded(Table::SyncKey, &[key_id])
    }

    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> StoreResult<()> {
        let row = Self::encode(&key)?;
        let mut map = lock(&self.kv.map);
        map.insert(self.key(Table::SyncKey, &[key_id]), row);
        map.insert(self.key(Table::LatestSyncKey, &[]), key_id.to_vec());
        Ok(())
    }

    async fn get_latest_sync_key_id(&self) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.get(Table::LatestSyncKey, &[]))
    }

    async fn get_version(&self, name: &str) -> StoreResult<Option<HashState>> {
        self.get_decoded(Table::Version, &[name.as_bytes()])
    }

    async fn set_version(&self, name: &str, state: HashState) -> StoreResult<()> {
        self.put(Table::Version, &[name.as_bytes()], Self::encode(&state)?);
        Ok(())
    }

    async fn delete_version(&self, name: &str) -> StoreResult<()> {
        self.del(Table::Version, &[name.as_bytes()]);
        Ok(())
    }

    async fn put_mutation_macs(
        &self,
        name: &str,
        version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> StoreResult<()> {
        let mut rows = Vec::with_capacity(mutations.len());
        for m in mutations {
            let key = self.key(Table::Mac, &[name.as_bytes(), &m.index_mac]);
            rows.push((key, Self::encode(&(version, &m.value_mac))?));
        }
        lock(&self.kv.map).extend(rows);
        Ok(())
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let row: Option<(u64, Vec<u8>)> =
            self.get_decoded(Table::Mac, &[name.as_bytes(), index_mac])?;
        Ok(row.map(|(_, mac)| mac))
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> StoreResult<()> {
        let mut map = lock(&self.kv.map);
        for index_mac in index_macs {
            map.remove(&self.key(Table::Mac, &[name.as_bytes(), index_mac]));
        }
        Ok(())
    }

    async fn clear_mutation_macs(&self, name: &str) -> StoreResult<()> {
        // The encoded name is prefix-free, so this prefix is exactly this collection.
        let prefix = self.key(Table::Mac, &[name.as_bytes()]);
        let mut map = lock(&self.kv.map);
        let doomed: Vec<Vec<u8>> = Self::scan(&map, &prefix).map(|(k, _)| k.clone()).collect();
        for key in doomed {
            map.remove(&key);
        }
        Ok(())
    }
}

/// Picks the newest mapping: largest `updated_at`, then largest LID.
fn is_newer(candidate: &LidPnMappingEntry, best: &LidPnMappingEntry) -> bool {
    (candidate.updated_at, candidate.lid.as_bytes()) > (best.updated_at, best.lid.as_bytes())
}

impl KvStore {
    /// Writes one mapping and keeps the phone index in step, under `map`'s lock.
    fn put_mapping_locked(&self, map: &mut Map, entry: &LidPnMappingEntry) -> StoreResult<()> {
        let key = self.key(Table::LidMapping, &[entry.lid.as_bytes()]);
        if let Some(old) = map.get(&key) {
            let old: LidPnMappingEntry = Self::decode(Table::LidMapping, &key, old)?;
            map.remove(&self.key(
                Table::PhoneIndex,
                &[old.phone_number.as_bytes(), old.lid.as_bytes()],
            ));
        }
        map.insert(key, Self::encode(entry)?);
        map.insert(
            self.key(
                Table::PhoneIndex,
                &[entry.phone_number.as_bytes(), entry.lid.as_bytes()],
            ),
            Vec::new(),
        );
        Ok(())
    }
}

#[async_trait]
impl ProtocolStore for KvStore {
    async fn get_sender_key_devices(&self, group_jid: &str) -> StoreResult<Vec<(String, bool)>> {
        let prefix = self.key(Table::SenderKeyDevice, &[group_jid.as_bytes()]);
        let map = lock(&self.kv.map);
        Self::scan(&map, &prefix)
            .map(|(key, value)| {
                let mut parts = Self::parts_of(Table::SenderKeyDevice, key)?;
                let device = parts.pop().unwrap_or_default();
                Ok((
                    Self::text(Table::SenderKeyDevice, key, device)?,
                    value.first() == Some(&1),
                ))
            })
            .collect()
    }

    async fn set_sender_key_status(
        &self,
        group_jid: &str,
        entries: &[(&str, bool)],
    ) -> StoreResult<()> {
        let rows: Vec<_> = entries
            .iter()
            .map(|(device, has)| {
                let key = self.key(
                    Table::SenderKeyDevice,
                    &[group_jid.as_bytes(), device.as_bytes()],
                );
                (key, vec![u8::from(*has)])
            })
            .collect();
        lock(&self.kv.map).extend(rows);
        Ok(())
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> StoreResult<()> {
        let prefix = self.key(Table::SenderKeyDevice, &[group_jid.as_bytes()]);
        let mut map = lock(&self.kv.map);
        let doomed: Vec<Vec<u8>> = Self::scan(&map, &prefix).map(|(k, _)| k.clone()).collect();
        for key in doomed {
            map.remove(&key);
        }
        Ok(())
    }

    async fn get_lid_mapping(&self, lid: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        self.get_decoded(Table::LidMapping, &[lid.as_bytes()])
    }

    async fn get_pn_mapping(&self, phone: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        let prefix = self.key(Table::PhoneIndex, &[phone.as_bytes()]);
        let map = lock(&self.kv.map);
        let mut best: Option<LidPnMappingEntry> = None;
        for (key, _) in Self::scan(&map, &prefix) {
            let lid = Self::parts_of(Table::PhoneIndex, key)?
                .pop()
                .unwrap_or_default();
            let mapping_key = self.key(Table::LidMapping, &[&lid]);
            let bytes = map.get(&mapping_key).ok_or_else(|| {
                StoreError::corrupt("PhoneIndex", hex(key), "points to a missing LID mapping")
            })?;
            let entry: LidPnMappingEntry = Self::decode(Table::LidMapping, &mapping_key, bytes)?;
            if best.as_ref().is_none_or(|b| is_newer(&entry, b)) {
                best = Some(entry);
            }
        }
        Ok(best)
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> StoreResult<()> {
        let mut map = lock(&self.kv.map);
        self.put_mapping_locked(&mut map, entry)
    }

    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> StoreResult<()> {
        // All or none: work on a copy, publish it only when every entry succeeded.
        let mut map = lock(&self.kv.map);
        let mut staged = map.clone();
        for entry in entries {
            self.put_mapping_locked(&mut staged, entry)?;
        }
        *map = staged;
        Ok(())
    }

    async fn get_all_lid_mappings(&self) -> StoreResult<Vec<LidPnMappingEntry>> {
        let prefix = self.key(Table::LidMapping, &[]);
        let map = lock(&self.kv.map);
        Self::scan(&map, &prefix)
            .map(|(key, value)| Self::decode(Table::LidMapping, key, value))
            .collect()
    }

    async fn save_base_key(
        &self,
        address: &str,
        message_id: &str,
        base_key: &[u8],
    ) -> StoreResult<()> {
        self.put(
            Table::BaseKey,
            &[address.as_bytes(), message_id.as_bytes()],
            base_key.to_vec(),
        );
        Ok(())
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current: &[u8],
    ) -> StoreResult<bool> {
        let saved = self.get(Table::BaseKey, &[address.as_bytes(), message_id.as_bytes()]);
        Ok(saved.is_some_and(|s| s == current))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> StoreResult<()> {
        self.del(Table::BaseKey, &[address.as_bytes(), message_id.as_bytes()]);
        Ok(())
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> StoreResult<()> {
        self.put(
            Table::DeviceList,
            &[record.user.as_bytes()],
            Self::encode(&record)?,
        );
        Ok(())
    }

    async fn get_devices(&self, user: &str) -> StoreResult<Option<DeviceListRecord>> {
        self.get_decoded(Table::DeviceList, &[user.as_bytes()])
    }

    async fn delete_devices(&self, user: &str) -> StoreResult<()> {
        self.del(Table::DeviceList, &[user.as_bytes()]);
        Ok(())
    }

    async fn get_tc_token(&self, jid: &str) -> StoreResult<Option<TcTokenEntry>> {
        self.get_decoded(Table::TcToken, &[jid.as_bytes()])
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> StoreResult<()> {
        self.put(Table::TcToken, &[jid.as_bytes()], Self::encode(entry)?);
        Ok(())
    }

    async fn delete_tc_token(&self, jid: &str) -> StoreResult<()> {
        self.del(Table::TcToken, &[jid.as_bytes()]);
        Ok(())
    }

    async fn get_all_tc_token_jids(&self) -> StoreResult<Vec<String>> {
        let prefix = self.key(Table::TcToken, &[]);
        let map = lock(&self.kv.map);
        Self::scan(&map, &prefix)
            .map(|(key, _)| {
                let jid = Self::parts_of(Table::TcToken, key)?
                    .pop()
                    .unwrap_or_default();
                Self::text(Table::TcToken, key, jid)
            })
            .collect()
    }

    async fn delete_expired_tc_tokens(
        &self,
        token_cutoff: i64,
        sender_cutoff: i64,
    ) -> StoreResult<u32> {
        let prefix = self.key(Table::TcToken, &[]);
        let mut map = lock(&self.kv.map);
        let mut doomed = Vec::new();
        for (key, value) in Self::scan(&map, &prefix) {
            let e: TcTokenEntry = Self::decode(Table::TcToken, key, value)?;
            let token_live = !e.token.is_empty() && e.token_timestamp >= token_cutoff;
            let sender_live = e.sender_timestamp.is_some_and(|s| s >= sender_cutoff);
            if !token_live && !sender_live {
                doomed.push(key.clone());
            }
        }
        for key in &doomed {
            map.remove(key);
        }
        Ok(u32::try_from(doomed.len()).unwrap_or(u32::MAX))
    }

    async fn store_sent_message(
        &self,
        chat: &str,
        id: &str,
        payload: &[u8],
        sent_at: i64,
    ) -> StoreResult<()> {
        let row = Self::encode(&SentRow {
            sent_at,
            payload: payload.to_vec(),
        })?;
        self.put(Table::SentMessage, &[chat.as_bytes(), id.as_bytes()], row);
        Ok(())
    }

    async fn take_sent_message(&self, chat: &str, id: &str) -> StoreResult<Option<Vec<u8>>> {
        // `remove` under the map lock: one taker gets the row.
        let key = self.key(Table::SentMessage, &[chat.as_bytes(), id.as_bytes()]);
        let Some(bytes) = lock(&self.kv.map).remove(&key) else {
            return Ok(None);
        };
        let row: SentRow = Self::decode(Table::SentMessage, &key, &bytes)?;
        Ok(Some(row.payload))
    }

    async fn delete_expired_sent_messages(&self, cutoff: i64) -> StoreResult<u32> {
        let prefix = self.key(Table::SentMessage, &[]);
        let mut map = lock(&self.kv.map);
        let mut doomed = Vec::new();
        for (key, value) in Self::scan(&map, &prefix) {
            let row: SentRow = Self::decode(Table::SentMessage, key, value)?;
            if row.sent_at < cutoff {
                doomed.push(key.clone());
            }
        }
        for key in &doomed {
            map.remove(key);
        }
        Ok(u32::try_from(doomed.len()).unwrap_or(u32::MAX))
    }
}

#[async_trait]
impl DeviceStore for KvStore {
    async fn save(&self, device: &Device) -> StoreResult<()> {
        self.put(Table::OwnDevice, &[], Self::encode(device)?);
        Ok(())
    }

    async fn load(&self) -> StoreResult<Option<Device>> {
        self.get_decoded(Table::OwnDevice, &[])
    }

    async fn exists(&self) -> StoreResult<bool> {
        Ok(self.get(Table::OwnDevice, &[]).is_some())
    }

    async fn create(&self) -> StoreResult<i32> {
        let mut ids = lock(&self.kv.ids);
        let id = ids
            .last()
            .copied()
            .unwrap_or(0)
            .max(0)
            .checked_add(1)
            .ok_or_else(|| StoreError::InvalidInput("no device id left".into()))?;
        ids.insert(id);
        Ok(id)
    }

    /// Keeps a named copy of the whole map, in memory, with the extra blob.
    async fn snapshot_db(&self, name: &str, extra: Option<&[u8]>) -> StoreResult<()> {
        let copy = lock(&self.kv.map).clone();
        lock(&self.kv.snapshots).insert(name.to_owned(), (copy, extra.map(<[u8]>::to_vec)));
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------

async fn run() -> anyhow::Result<()> {
    // 1. The transport: Connected, echoes, exactly one Disconnected.
    let factory = LoopbackFactory {
        opened: AtomicBool::new(false),
    };
    let (transport, events) = factory.create_transport().await?;
    println!(
        "transport: opened (factory used: {})",
        factory.opened.load(Ordering::Relaxed)
    );
    match events.recv().await? {
        TransportEvent::Connected => println!("transport: Connected"),
        other => bail!("expected Connected first, got {other:?}"),
    }
    let chunks: [&[u8]; 3] = [b"WA\x06\x03", b"hello", b"loopback"];
    let mut echoed = Vec::new();
    for chunk in chunks {
        transport.send(Bytes::copy_from_slice(chunk)).await?;
        match events.recv().await? {
            TransportEvent::DataReceived(data) if data.as_ref() == chunk => {
                println!("transport: sent {} bytes, echo received", chunk.len());
                echoed.extend_from_slice(&data);
            }
            other => bail!("expected the echo of {chunk:?}, got {other:?}"),
        }
    }
    transport.disconnect().await;
    transport.disconnect().await; // a second call adds nothing
    match events.recv().await? {
        TransportEvent::Disconnected(reason) => println!("transport: Disconnected ({reason})"),
        other => bail!("expected Disconnected, got {other:?}"),
    }
    if events.recv().await.is_ok() {
        bail!("an event followed Disconnected");
    }
    if transport.send(Bytes::from_static(b"late")).await.is_ok() {
        bail!("send after disconnect should fail");
    }
    println!("transport: stream closed after exactly one Disconnected; late send refused");

    // 2. The backend, used the way a client holds it.
    let store = KvStore::new();
    let backend: Arc<dyn Backend> = Arc::new(store.clone());
    // Fixed demo key material; real devices get theirs from a CSPRNG.
    let kp = |b: u8| KeyPair {
        private: [b; 32],
        public: [b ^ 0x5a; 32],
    };
    let mut device = Device::from_keys(DeviceKeys {
        noise_key: kp(1),
        identity_key: kp(2),
        registration_id: 4242,
        signed_pre_key: kp(3),
        signed_pre_key_id: 1,
        signed_pre_key_signature: [7; 64],
        adv_secret_key: [9; 32],
    });
    device.push_name = "custom backend demo".into();
    device.edge_routing_info = Some(echoed);
    if backend.exists().await? {
        bail!("a fresh store should hold no device");
    }
    backend.save(&device).await?;
    let loaded = backend
        .load()
        .await?
        .context("the saved device is missing")?;
    if loaded != device {
        bail!("the loaded device differs from the saved one");
    }
    println!("backend: saved and loaded {loaded:?}");
    backend
        .store_sent_message("123@g.us", "3EB0", b"payload", 1_700_000_000)
        .await?;
    let first = backend.take_sent_message("123@g.us", "3EB0").await?;
    let second = backend.take_sent_message("123@g.us", "3EB0").await?;
    println!(
        "backend: sent message taken once ({:?}, then {:?})",
        first.map(|p| p.len()),
        second
    );
    let id = backend.create().await?;
    let other = store.for_device(id);
    println!(
        "backend: created device id {id}; its handle holds a device: {}",
        other.exists().await?
    );

    // 3. The public conformance battery against this store.
    conformance::run_all(|| async {
        let primary = KvStore::new();
        let id = primary.create().await.expect("create a second device id");
        let secondary = primary.for_device(id);
        StorePair { primary, secondary }
    })
    .await;
    println!("conformance: every check passed for KvStore");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    smol::block_on(run())
}
