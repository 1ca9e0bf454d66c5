//! [`MemoryStore`]: the reference backend, in process memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use super::batch::{WriteBatch, WriteOp};
use super::error::{StoreError, StoreResult};
use super::traits::{AppSyncStore, DeviceStore, ProtocolStore, SignalStore};
use super::types::{
    AppStateMutationMAC, AppStateSyncKey, Device, DeviceListRecord, HashState, InboxEntry,
    LidPnMappingEntry, TcTokenEntry,
};

/// One app-state collection's MACs: index MAC -> (version, value MAC).
type MacCollection = BTreeMap<Vec<u8>, (u64, Vec<u8>)>;

/// The rows of one device id.
#[derive(Clone, Default)]
struct Tables {
    identities: BTreeMap<String, [u8; 32]>,
    sessions: BTreeMap<String, Bytes>,
    /// id -> (record, uploaded)
    prekeys: BTreeMap<u32, (Bytes, bool)>,
    signed_prekeys: BTreeMap<u32, Vec<u8>>,
    sender_keys: BTreeMap<String, Vec<u8>>,
    sync_keys: BTreeMap<Vec<u8>, AppStateSyncKey>,
    latest_sync_key_id: Option<Vec<u8>>,
    versions: BTreeMap<String, HashState>,
    mutation_macs: BTreeMap<String, MacCollection>,
    /// group -> device JID -> has key
    sender_key_devices: BTreeMap<String, BTreeMap<String, bool>>,
    lid_mappings: BTreeMap<String, LidPnMappingEntry>,
    base_keys: BTreeMap<(String, String), Vec<u8>>,
    device_lists: BTreeMap<String, DeviceListRecord>,
    tc_tokens: BTreeMap<String, TcTokenEntry>,
    /// (chat, message id) -> (payload, sent_at)
    sent_messages: BTreeMap<(String, String), (Vec<u8>, i64)>,
    /// (timestamp, chat, message id) -> entry: the inbox in listing order.
    inbox: BTreeMap<(i64, String, String), InboxEntry>,
    /// (chat, message id) -> timestamp: finds an inbox entry by its key.
    inbox_index: BTreeMap<(String, String), i64>,
    device: Option<Device>,
}

impl Tables {
    const EMPTY: Tables = Tables {
        identities: BTreeMap::new(),
        sessions: BTreeMap::new(),
        prekeys: BTreeMap::new(),
        signed_prekeys: BTreeMap::new(),
        sender_keys: BTreeMap::new(),
        sync_keys: BTreeMap::new(),
        latest_sync_key_id: None,
        versions: BTreeMap::new(),
        mutation_macs: BTreeMap::new(),
        sender_key_devices: BTreeMap::new(),
        lid_mappings: BTreeMap::new(),
        base_keys: BTreeMap::new(),
        device_lists: BTreeMap::new(),
        tc_tokens: BTreeMap::new(),
        sent_messages: BTreeMap::new(),
        inbox: BTreeMap::new(),
        inbox_index: BTreeMap::new(),
        device: None,
    };
}

static EMPTY_TABLES: Tables = Tables::EMPTY;

/// The storage shared by every handle of one [`MemoryStore`].
#[derive(Clone, Default)]
struct Data {
    devices: BTreeMap<i32, Tables>,
    /// Every id a handle was made for or `create` returned; `create` picks
    /// above the largest.
    known_ids: BTreeSet<i32>,
}

struct Snapshot {
    data: Data,
    extra: Option<Vec<u8>>,
}

#[derive(Default)]
struct Shared {
    data: Mutex<Data>,
    snapshots: Mutex<BTreeMap<String, Snapshot>>,
}

/// Recovers the guard of a poisoned lock: every critical section below leaves
/// the data consistent before anything that could panic, so the data is usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The reference in-memory backend: all four store traits on maps behind one
/// mutex. Nothing survives the process.
///
/// - **Devices.** [`MemoryStore::new`] gives a handle for device id
///   [`MemoryStore::DEFAULT_DEVICE_ID`]; [`MemoryStore::for_device`] gives a
///   handle for another id on the same storage. Rows are isolated by device id.
///   [`DeviceStore::create`] reserves an id above every id in use.
/// - **Concurrency.** Every call takes the mutex once, does its work without
///   awaiting and releases it, so each call (batches included) is atomic and
///   `take_sent_message` hands a message to exactly one caller.
/// - **Snapshots.** [`DeviceStore::snapshot_db`] copies the whole storage (all
///   devices) and the extra blob into memory under the given name (a later
///   snapshot with the same name replaces it). Read them back with
///   [`MemoryStore::snapshot_names`], [`MemoryStore::snapshot_extra`] and
///   [`MemoryStore::open_snapshot`]; they live until
///   [`MemoryStore::delete_snapshot`] or until the last handle is dropped, and
///   their memory is not bounded by the store.
///
/// ```
/// use wa_core::store::{DeviceStore, MemoryStore, SignalStore};
///
/// smol::block_on(async {
///     let a = MemoryStore::new();
///     let id = a.create().await?;
///     let b = a.for_device(id);
///     a.put_identity("5511987650001.0", [7; 32]).await?;
///     assert_eq!(b.load_identity("5511987650001.0").await?, None);
///     Ok::<_, wa_core::store::StoreError>(())
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
    device_id: i32,
}

impl MemoryStore {
    /// The device id of the handle [`MemoryStore::new`] returns.
    pub const DEFAULT_DEVICE_ID: i32 = 1;

    /// An empty store; the handle addresses [`MemoryStore::DEFAULT_DEVICE_ID`].
    pub fn new() -> Self {
        let shared = Arc::new(Shared::default());
        lock(&shared.data).known_ids.insert(Self::DEFAULT_DEVICE_ID);
        Self {
            shared,
            device_id: Self::DEFAULT_DEVICE_ID,
        }
    }

    /// A handle on the same storage that addresses `device_id`.
    pub fn for_device(&self, device_id: i32) -> Self {
        lock(&self.shared.data).known_ids.insert(device_id);
        Self {
            shared: Arc::clone(&self.shared),
            device_id,
        }
    }

    /// The device id this handle addresses.
    pub fn device_id(&self) -> i32 {
        self.device_id
    }

    /// The names of the snapshots taken so far, ascending.
    pub fn snapshot_names(&self) -> Vec<String> {
        lock(&self.shared.snapshots).keys().cloned().collect()
    }

    /// The extra blob passed with snapshot `name`: `None` when there is no such
    /// snapshot, `Some(None)` when it was taken without one.
    pub fn snapshot_extra(&self, name: &str) -> Option<Option<Vec<u8>>> {
        lock(&self.shared.snapshots)
            .get(name)
            .map(|s| s.extra.clone())
    }

    /// A new, independent store holding a copy of snapshot `name`, with a
    /// handle for this handle's device id. Writes to it touch neither this store
    /// nor the snapshot.
    pub fn open_snapshot(&self, name: &str) -> Option<MemoryStore> {
        let mut data = lock(&self.shared.snapshots).get(name)?.data.clone();
        data.known_ids.insert(self.device_id);
        Some(MemoryStore {
            shared: Arc::new(Shared {
                data: Mutex::new(data),
                snapshots: Mutex::default(),
            }),
            device_id: self.device_id,
        })
    }

    /// Drops snapshot `name`; returns whether it existed.
    pub fn delete_snapshot(&self, name: &str) -> bool {
        lock(&self.shared.snapshots).remove(name).is_some()
    }

    /// Runs `f` on this device's rows for reading.
    fn read<R>(&self, f: impl FnOnce(&Tables) -> R) -> R {
        let data = lock(&self.shared.data);
        f(data.devices.get(&self.device_id).unwrap_or(&EMPTY_TABLES))
    }

    /// Runs `f` on this device's rows for writing.
    fn write<R>(&self, f: impl FnOnce(&mut Tables) -> R) -> R {
        let mut data = lock(&self.shared.data);
        f(data.devices.entry(self.device_id).or_default())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (devices, has_device) = {
            let data = lock(&self.shared.data);
            let has = data
                .devices
                .get(&self.device_id)
                .is_some_and(|t| t.device.is_some());
            (data.devices.len(), has)
        };
        f.debug_struct("MemoryStore")
            .field("device_id", &self.device_id)
            .field("device_saved", &has_device)
            .field("device_ids_with_rows", &devices)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SignalStore for MemoryStore {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> StoreResult<()> {
        self.write(|t| t.identities.insert(address.to_owned(), key));
        Ok(())
    }

    async fn load_identity(&self, address: &str) -> StoreResult<Option<[u8; 32]>> {
        Ok(self.read(|t| t.identities.get(address).copied()))
    }

    async fn delete_identity(&self, address: &str) -> StoreResult<()> {
        self.write(|t| t.identities.remove(address));
        Ok(())
    }

    async fn get_session(&self, address: &str) -> StoreResult<Option<Bytes>> {
        Ok(self.read(|t| t.sessions.get(address).cloned()))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> StoreResult<()> {
        let session = Bytes::copy_from_slice(session);
        self.write(|t| t.sessions.insert(address.to_owned(), session));
        Ok(())
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> StoreResult<()> {
        self.write(|t| {
            for (address, session) in sessions {
                t.sessions.insert(address.to_string(), session.clone());
            }
        });
        Ok(())
    }

    async fn delete_session(&self, address: &str) -> StoreResult<()> {
        self.write(|t| t.sessions.remove(address));
        Ok(())
    }

    async fn has_session(&self, address: &str) -> StoreResult<bool> {
        Ok(self.read(|t| t.sessions.contains_key(address)))
    }

    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> StoreResult<()> {
        let record = Bytes::copy_from_slice(record);
        self.write(|t| t.prekeys.insert(id, (record, uploaded)));
        Ok(())
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], uploaded: bool) -> StoreResult<()> {
        self.write(|t| {
            for (id, record) in keys {
                t.prekeys.insert(*id, (record.clone(), uploaded));
            }
        });
        Ok(())
    }

    async fn load_prekey(&self, id: u32) -> StoreResult<Option<Bytes>> {
        Ok(self.read(|t| t.prekeys.get(&id).map(|(r, _)| r.clone())))
    }

    async fn load_prekeys_batch(&self, ids: &[u32]) -> StoreResult<Vec<(u32, Bytes)>> {
        Ok(self.read(|t| {
            ids.iter()
                .filter_map(|id| t.prekeys.get(id).map(|(r, _)| (*id, r.clone())))
                .collect()
        }))
    }

    async fn is_prekey_uploaded(&self, id: u32) -> StoreResult<Option<bool>> {
        Ok(self.read(|t| t.prekeys.get(&id).map(|(_, up)| *up)))
    }

    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> StoreResult<()> {
        self.write(|t| {
            for id in ids {
                if let Some((_, uploaded)) = t.prekeys.get_mut(id) {
                    *uploaded = true;
                }
            }
        });
        Ok(())
    }

    async fn remove_prekey(&self, id: u32) -> StoreResult<()> {
        self.write(|t| t.prekeys.remove(&id));
        Ok(())
    }

    async fn get_max_prekey_id(&self) -> StoreResult<u32> {
        Ok(self.read(|t| t.prekeys.keys().next_back().copied().unwrap_or(0)))
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> StoreResult<()> {
        let record = record.to_vec();
        self.write(|t| t.signed_prekeys.insert(id, record));
        Ok(())
    }

    async fn load_signed_prekey(&self, id: u32) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.read(|t| t.signed_prekeys.get(&id).cloned()))
    }

    async fn load_all_signed_prekeys(&self) -> StoreResult<Vec<(u32, Vec<u8>)>> {
        Ok(self.read(|t| {
            t.signed_prekeys
                .iter()
                .map(|(id, r)| (*id, r.clone()))
                .collect()
        }))
    }

    async fn remove_signed_prekey(&self, id: u32) -> StoreResult<()> {
        self.write(|t| t.signed_prekeys.remove(&id));
        Ok(())
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> StoreResult<()> {
        let record = record.to_vec();
        self.write(|t| t.sender_keys.insert(address.to_owned(), record));
        Ok(())
    }

    async fn get_sender_key(&self, address: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.read(|t| t.sender_keys.get(address).cloned()))
    }

    async fn apply_batch_atomic(&self, batch: &WriteBatch) -> StoreResult<bool> {
        // Every operation below is infallible on maps, and the lock is held
        // for the whole batch: no reader sees a part of it.
        self.write(|t| {
            for op in batch.ops() {
                apply_op(t, op);
            }
        });
        Ok(true)
    }

    async fn delete_sender_key(&self, address: &str) -> StoreResult<()> {
        self.write(|t| t.sender_keys.remove(address));
        Ok(())
    }
}

#[async_trait]
impl AppSyncStore for MemoryStore {
    async fn get_sync_key(&self, key_id: &[u8]) -> StoreResult<Option<AppStateSyncKey>> {
        Ok(self.read(|t| t.sync_keys.get(key_id).cloned()))
    }

    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> StoreResult<()> {
        self.write(|t| {
            t.sync_keys.insert(key_id.to_vec(), key);
            t.latest_sync_key_id = Some(key_id.to_vec());
        });
        Ok(())
    }

    async fn get_latest_sync_key_id(&self) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.read(|t| t.latest_sync_key_id.clone()))
    }

    async fn get_version(&self, name: &str) -> StoreResult<Option<HashState>> {
        Ok(self.read(|t| t.versions.get(name).cloned()))
    }

    async fn set_version(&self, name: &str, state: HashState) -> StoreResult<()> {
        self.write(|t| t.versions.insert(name.to_owned(), state));
        Ok(())
    }

    async fn delete_version(&self, name: &str) -> StoreResult<()> {
        self.write(|t| t.versions.remove(name));
        Ok(())
    }

    async fn put_mutation_macs(
        &self,
        name: &str,
        version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> StoreResult<()> {
        if mutations.is_empty() {
            return Ok(());
        }
        self.write(|t| {
            let collection = t.mutation_macs.entry(name.to_owned()).or_default();
            for m in mutations {
                collection.insert(m.index_mac.clone(), (version, m.value_mac.clone()));
            }
        });
        Ok(())
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.read(|t| {
            t.mutation_macs
                .get(name)
                .and_then(|c| c.get(index_mac))
                .map(|(_, mac)| mac.clone())
        }))
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> StoreResult<()> {
        self.write(|t| {
            if let Some(collection) = t.mutation_macs.get_mut(name) {
                for index_mac in index_macs {
                    collection.remove(index_mac);
                }
                if collection.is_empty() {
                    t.mutation_macs.remove(name);
                }
            }
        });
        Ok(())
    }

    async fn clear_mutation_macs(&self, name: &str) -> StoreResult<()> {
        self.write(|t| t.mutation_macs.remove(name));
        Ok(())
    }
}

/// The newest of several mappings: largest `updated_at`, then largest LID.
fn newest<'a>(
    mappings: impl Iterator<Item = &'a LidPnMappingEntry>,
) -> Option<&'a LidPnMappingEntry> {
    mappings.max_by(|a, b| {
        a.updated_at
            .cmp(&b.updated_at)
            .then_with(|| a.lid.as_bytes().cmp(b.lid.as_bytes()))
    })
}

#[async_trait]
impl ProtocolStore for MemoryStore {
    async fn get_sender_key_devices(&self, group_jid: &str) -> StoreResult<Vec<(String, bool)>> {
        Ok(self.read(|t| {
            t.sender_key_devices
                .get(group_jid)
                .map(|m| m.iter().map(|(d, k)| (d.clone(), *k)).collect())
                .unwrap_or_default()
        }))
    }

    async fn set_sender_key_status(
        &self,
        group_jid: &str,
        entries: &[(&str, bool)],
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(|t| {
            let group = t
                .sender_key_devices
                .entry(group_jid.to_owned())
                .or_default();
            for (device, has_key) in entries {
                group.insert((*device).to_owned(), *has_key);
            }
        });
        Ok(())
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> StoreResult<()> {
        self.write(|t| t.sender_key_devices.remove(group_jid));
        Ok(())
    }

    async fn get_lid_mapping(&self, lid: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        Ok(self.read(|t| t.lid_mappings.get(lid).cloned()))
    }

    async fn get_pn_mapping(&self, phone: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        // A scan: fine for the reference backend, whose tables are small.
        Ok(self
            .read(|t| newest(t.lid_mappings.values().filter(|m| m.phone_number == phone)).cloned()))
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> StoreResult<()> {
        let entry = entry.clone();
        self.write(|t| t.lid_mappings.insert(entry.lid.clone(), entry));
        Ok(())
    }

    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> StoreResult<()> {
        self.write(|t| {
            for entry in entries {
                t.lid_mappings.insert(entry.lid.clone(), entry.clone());
            }
        });
        Ok(())
    }

    async fn get_all_lid_mappings(&self) -> StoreResult<Vec<LidPnMappingEntry>> {
        Ok(self.read(|t| t.lid_mappings.values().cloned().collect()))
    }

    async fn save_base_key(
        &self,
        address: &str,
        message_id: &str,
        base_key: &[u8],
    ) -> StoreResult<()> {
        let key = (address.to_owned(), message_id.to_owned());
        let base_key = base_key.to_vec();
        self.write(|t| t.base_keys.insert(key, base_key));
        Ok(())
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> StoreResult<bool> {
        let key = (address.to_owned(), message_id.to_owned());
        Ok(self.read(|t| {
            t.base_keys
                .get(&key)
                .is_some_and(|saved| saved.as_slice() == current_base_key)
        }))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> StoreResult<()> {
        let key = (address.to_owned(), message_id.to_owned());
        self.write(|t| t.base_keys.remove(&key));
        Ok(())
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> StoreResult<()> {
        self.write(|t| t.device_lists.insert(record.user.clone(), record));
        Ok(())
    }

    async fn get_devices(&self, user: &str) -> StoreResult<Option<DeviceListRecord>> {
        Ok(self.read(|t| t.device_lists.get(user).cloned()))
    }

    async fn delete_devices(&self, user: &str) -> StoreResult<()> {
        self.write(|t| t.device_lists.remove(user));
        Ok(())
    }

    async fn get_tc_token(&self, jid: &str) -> StoreResult<Option<TcTokenEntry>> {
        Ok(self.read(|t| t.tc_tokens.get(jid).cloned()))
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> StoreResult<()> {
        let entry = entry.clone();
        self.write(|t| t.tc_tokens.insert(jid.to_owned(), entry));
        Ok(())
    }

    async fn delete_tc_token(&self, jid: &str) -> StoreResult<()> {
        self.write(|t| t.tc_tokens.remove(jid));
        Ok(())
    }

    async fn get_all_tc_token_jids(&self) -> StoreResult<Vec<String>> {
        Ok(self.read(|t| t.tc_tokens.keys().cloned().collect()))
    }

    async fn delete_expired_tc_tokens(
        &self,
        token_cutoff: i64,
        sender_cutoff: i64,
    ) -> StoreResult<u32> {
        self.write(|t| {
            let before = t.tc_tokens.len();
            t.tc_tokens.retain(|_, e| {
                let token_live = !e.token.is_empty() && e.token_timestamp >= token_cutoff;
                let sender_live = e.sender_timestamp.is_some_and(|s| s >= sender_cutoff);
                token_live || sender_live
            });
            count(before - t.tc_tokens.len())
        })
    }

    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
        sent_at: i64,
    ) -> StoreResult<()> {
        let key = (chat_jid.to_owned(), message_id.to_owned());
        let value = (payload.to_vec(), sent_at);
        self.write(|t| t.sent_messages.insert(key, value));
        Ok(())
    }

    async fn take_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
    ) -> StoreResult<Option<Vec<u8>>> {
        let key = (chat_jid.to_owned(), message_id.to_owned());
        Ok(self.write(|t| t.sent_messages.remove(&key)).map(|(p, _)| p))
    }

    async fn delete_expired_sent_messages(&self, cutoff: i64) -> StoreResult<u32> {
        self.write(|t| {
            let before = t.sent_messages.len();
            t.sent_messages.retain(|_, (_, sent_at)| *sent_at >= cutoff);
            count(before - t.sent_messages.len())
        })
    }

    async fn put_inbox(&self, entry: &InboxEntry) -> StoreResult<()> {
        self.write(|t| t.put_inbox(entry));
        Ok(())
    }

    async fn remove_inbox(&self, chat: &str, id: &str) -> StoreResult<()> {
        self.write(|t| t.remove_inbox(chat, id));
        Ok(())
    }

    async fn list_inbox(&self, limit: usize) -> StoreResult<Vec<InboxEntry>> {
        Ok(self.read(|t| t.inbox.values().take(limit).cloned().collect()))
    }
}

impl Tables {
    /// `ProtocolStore::put_inbox` on these rows.
    fn put_inbox(&mut self, entry: &InboxEntry) {
        let key = (entry.chat.clone(), entry.id.clone());
        if let Some(old) = self.inbox_index.insert(key, entry.timestamp) {
            self.inbox
                .remove(&(old, entry.chat.clone(), entry.id.clone()));
        }
        self.inbox.insert(
            (entry.timestamp, entry.chat.clone(), entry.id.clone()),
            entry.clone(),
        );
    }

    /// `ProtocolStore::remove_inbox` on these rows.
    fn remove_inbox(&mut self, chat: &str, id: &str) {
        let key = (chat.to_owned(), id.to_owned());
        if let Some(timestamp) = self.inbox_index.remove(&key) {
            let (chat, id) = key;
            self.inbox.remove(&(timestamp, chat, id));
        }
    }
}

/// One batch operation on a device's rows, with the meaning of the trait
/// method it is named after.
fn apply_op(t: &mut Tables, op: &WriteOp) {
    match op {
        WriteOp::PutSession { address, record } => {
            t.sessions.insert(address.clone(), record.clone());
        }
        WriteOp::DeleteSession { address } => {
            t.sessions.remove(address);
        }
        WriteOp::PutIdentity { address, key } => {
            t.identities.insert(address.clone(), *key);
        }
        WriteOp::StorePreKeys { keys, uploaded } => {
            for (id, record) in keys {
                t.prekeys.insert(*id, (record.clone(), *uploaded));
            }
        }
        WriteOp::MarkPreKeysUploaded { ids } => {
            for id in ids {
                if let Some((_, uploaded)) = t.prekeys.get_mut(id) {
                    *uploaded = true;
                }
            }
        }
        WriteOp::RemovePreKey { id } => {
            t.prekeys.remove(id);
        }
        WriteOp::StoreSignedPreKey { id, record } => {
            t.signed_prekeys.insert(*id, record.to_vec());
        }
        WriteOp::PutSenderKey { name, record } => {
            t.sender_keys.insert(name.clone(), record.to_vec());
        }
        WriteOp::DeleteSenderKey { name } => {
            t.sender_keys.remove(name);
        }
        WriteOp::StoreSentMessage {
            chat,
            id,
            payload,
            sent_at,
        } => {
            t.sent_messages
                .insert((chat.clone(), id.clone()), (payload.to_vec(), *sent_at));
        }
        WriteOp::UpdateDeviceList(record) => {
            t.device_lists.insert(record.user.clone(), record.clone());
        }
        WriteOp::PutLidMapping(entry) => {
            t.lid_mappings.insert(entry.lid.clone(), entry.clone());
        }
        WriteOp::SetSenderKeyStatus { group, entries } => {
            if !entries.is_empty() {
                let group = t.sender_key_devices.entry(group.clone()).or_default();
                for (device, has_key) in entries {
                    group.insert(device.clone(), *has_key);
                }
            }
        }
        WriteOp::SaveDevice(device) => t.device = Some((**device).clone()),
        WriteOp::AdvancePreKeyCounter { next } => {
            if let Some(device) = &mut t.device {
                device.next_pre_key_id = device.next_pre_key_id.max(*next);
            }
        }
        WriteOp::SetSignedPreKey(update) => {
            if let Some(device) = &mut t.device {
                update.apply(device);
            }
        }
        WriteOp::PutInbox(entry) => t.put_inbox(entry),
        WriteOp::RemoveInbox { chat, id } => t.remove_inbox(chat, id),
    }
}

/// A deleted-row count as the traits return it (saturating; no table holds
/// four billion rows in memory).
fn count(n: usize) -> StoreResult<u32> {
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn save(&self, device: &Device) -> StoreResult<()> {
        let device = device.clone();
        self.write(|t| t.device = Some(device));
        Ok(())
    }

    async fn load(&self) -> StoreResult<Option<Device>> {
        Ok(self.read(|t| t.device.clone()))
    }

    async fn exists(&self) -> StoreResult<bool> {
        Ok(self.read(|t| t.device.is_some()))
    }

    async fn create(&self) -> StoreResult<i32> {
        let mut data = lock(&self.shared.data);
        let last = data.known_ids.last().copied().unwrap_or(0).max(0);
        let id = last.checked_add(1).ok_or_else(|| {
            StoreError::InvalidInput("no device id left: the largest id is in use".into())
        })?;
        data.known_ids.insert(id);
        Ok(id)
    }

    async fn snapshot_db(&self, name: &str, extra: Option<&[u8]>) -> StoreResult<()> {
        let data = lock(&self.shared.data).clone();
        let snapshot = Snapshot {
            data,
            extra: extra.map(<[u8]>::to_vec),
        };
        lock(&self.shared.snapshots).insert(name.to_owned(), snapshot);
        Ok(())
    }
}
