//! The four store traits on [`RedbStore`].
//!
//! Reads open a read transaction on the caller's thread. Writes build their
//! keys and encoded values on the caller's thread too, then hand a closure to
//! the writer (see `writer.rs`); each trait method is exactly one closure,
//! hence one transaction.

use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{
    ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, Table, WriteTransaction,
};
use wa_core::store::{
    AppStateMutationMAC, AppStateSyncKey, AppSyncStore, Device, DeviceListRecord, DeviceStore,
    HashState, InboxEntry, LidPnMappingEntry, ProtocolStore, SignalStore, StoreError, StoreResult,
    TcTokenEntry, WriteBatch, WriteOp,
};

use crate::RedbStore;
use crate::convert;
use crate::error;
use crate::schema::{
    self, APP_STATE_VERSIONS, BASE_KEYS, Blob, DEVICE_LISTS, DEVICES, Def, Family, HashStateV1,
    IDENTITIES, INBOX, INBOX_INDEX, InboxV1, KeyBuf, LID_MAPPINGS, LidMappingV1, META,
    META_LAST_DEVICE_ID, MUTATION_MACS, MacV1, PN_INDEX, PREKEYS, PrekeyV1, SENDER_KEY_DEVICES,
    SENDER_KEYS, SENT_MESSAGES, SESSIONS, SIGNED_PREKEYS, SYNC_KEY_LATEST, SYNC_KEYS,
    SentMessageV1, SyncKeyV1, TC_TOKENS, TcTokenV1, decode, encode,
};

/// Extension: redb results into store results.
pub(crate) trait OrStore<T> {
    fn or_store(self) -> StoreResult<T>;
}

impl<T> OrStore<T> for Result<T, redb::StorageError> {
    fn or_store(self) -> StoreResult<T> {
        self.map_err(error::storage)
    }
}

impl<T> OrStore<T> for Result<T, redb::TableError> {
    fn or_store(self) -> StoreResult<T> {
        self.map_err(error::table)
    }
}

impl<T> OrStore<T> for Result<T, redb::TransactionError> {
    fn or_store(self) -> StoreResult<T> {
        self.map_err(error::transaction)
    }
}

/// The `Corrupt` error of the record at `key` in `family`.
pub(crate) fn corrupt(family: Family, key: &[u8], detail: impl Into<String>) -> StoreError {
    StoreError::corrupt(family.name, schema::key_label(family.key, key), detail)
}

/// A read-only table, or `None` when the table does not exist.
pub(crate) fn open_read(
    txn: &ReadTransaction,
    def: Def,
) -> StoreResult<Option<ReadOnlyTable<&'static [u8], &'static [u8]>>> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(error::table(e)),
    }
}

fn open_write<'t>(
    txn: &'t WriteTransaction,
    family: Family,
) -> StoreResult<Table<'t, &'static [u8], &'static [u8]>> {
    txn.open_table(family.def).or_store()
}

/// The key range of every key starting with `prefix`.
pub(crate) fn prefix_bounds<'a>(
    prefix: &'a [u8],
    end: &'a Option<Vec<u8>>,
) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (
        Bound::Included(prefix),
        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
    )
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Decodes a value that is one byte string.
fn blob(value: &[u8]) -> Result<Blob<'_>, String> {
    decode::<Blob<'_>>(value)
}

impl RedbStore {
    fn key(&self, capacity: usize) -> KeyBuf {
        KeyBuf::new(self.device_id, capacity)
    }

    fn key_raw(&self, last: &[u8]) -> Vec<u8> {
        self.key(last.len()).raw(last).into_vec()
    }

    fn key_pair(&self, first: &str, last: &[u8]) -> Vec<u8> {
        self.key(first.len() + 2 + last.len())
            .escaped(first.as_bytes())
            .raw(last)
            .into_vec()
    }

    fn key_prefix(&self, first: &str) -> Vec<u8> {
        self.key(first.len() + 2)
            .escaped(first.as_bytes())
            .into_vec()
    }

    fn device_key(&self) -> Vec<u8> {
        self.key(0).into_vec()
    }

    /// Runs `f` in a read transaction on the caller's thread.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> StoreResult<T>,
    ) -> StoreResult<T> {
        error::guard(|| {
            let txn = self.inner.db.begin_read().or_store()?;
            f(&txn)
        })
    }

    /// Reads and decodes one record.
    fn get<T>(
        &self,
        family: Family,
        key: &[u8],
        dec: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> StoreResult<Option<T>> {
        self.read(|txn| {
            let Some(table) = open_read(txn, family.def)? else {
                return Ok(None);
            };
            match table.get(key).or_store()? {
                None => Ok(None),
                Some(guard) => dec(guard.value())
                    .map(Some)
                    .map_err(|d| corrupt(family, key, d)),
            }
        })
    }

    /// Whether a record exists (its value is not decoded).
    fn contains(&self, family: Family, key: &[u8]) -> StoreResult<bool> {
        self.read(|txn| {
            let Some(table) = open_read(txn, family.def)? else {
                return Ok(false);
            };
            Ok(table.get(key).or_store()?.is_some())
        })
    }

    /// Decodes every record whose key starts with `prefix`, in key order.
    fn scan<T>(
        &self,
        family: Family,
        prefix: &[u8],
        mut dec: impl FnMut(&[u8], &[u8]) -> Result<T, String>,
    ) -> StoreResult<Vec<T>> {
        self.read(|txn| {
            let Some(table) = open_read(txn, family.def)? else {
                return Ok(Vec::new());
            };
            let end = schema::prefix_end(prefix);
            let mut out = Vec::new();
            for row in table
                .range::<&[u8]>(prefix_bounds(prefix, &end))
                .or_store()?
            {
                let (k, v) = row.or_store()?;
                let item = dec(&k.value()[prefix.len()..], v.value())
                    .map_err(|d| corrupt(family, k.value(), d))?;
                out.push(item);
            }
            Ok(out)
        })
    }

    /// Queues a write operation and awaits its commit.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    {
        self.inner.writer.submit(f).await
    }

    /// Inserts prepared rows into one table, in order, in one transaction.
    async fn put_rows(&self, family: Family, rows: Vec<(Vec<u8>, Vec<u8>)>) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write(move |txn| {
            let mut t = open_write(txn, family)?;
            for (k, v) in &rows {
                t.insert(k.as_slice(), v.as_slice()).or_store()?;
            }
            Ok(())
        })
        .await
    }

    async fn put_row(&self, family: Family, key: Vec<u8>, value: Vec<u8>) -> StoreResult<()> {
        self.put_rows(family, vec![(key, value)]).await
    }

    /// Removes rows from one table in one transaction; missing keys are fine.
    async fn remove_rows(&self, family: Family, keys: Vec<Vec<u8>>) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.write(move |txn| {
            let mut t = open_write(txn, family)?;
            for k in &keys {
                t.remove(k.as_slice()).or_store()?;
            }
            Ok(())
        })
        .await
    }

    /// Removes every row whose key starts with `prefix`.
    async fn remove_prefix(&self, family: Family, prefix: Vec<u8>) -> StoreResult<()> {
        self.write(move |txn| {
            let mut t = open_write(txn, family)?;
            let end = schema::prefix_end(&prefix);
            t.retain_in::<&[u8], _>(prefix_bounds(&prefix, &end), |_, _| false)
                .or_store()
        })
        .await
    }
}

// ---------------------------------------------------------------------------
// SignalStore
// ---------------------------------------------------------------------------

#[async_trait]
impl SignalStore for RedbStore {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> StoreResult<()> {
        let value = encode(&Blob(&key))?;
        self.put_row(IDENTITIES, self.key_raw(address.as_bytes()), value)
            .await
    }

    async fn load_identity(&self, address: &str) -> StoreResult<Option<[u8; 32]>> {
        self.get(IDENTITIES, &self.key_raw(address.as_bytes()), |v| {
            blob(v)?.fixed::<32>("identity key")
        })
    }

    async fn delete_identity(&self, address: &str) -> StoreResult<()> {
        self.remove_rows(IDENTITIES, vec![self.key_raw(address.as_bytes())])
            .await
    }

    async fn get_session(&self, address: &str) -> StoreResult<Option<Bytes>> {
        self.get(SESSIONS, &self.key_raw(address.as_bytes()), |v| {
            Ok(Bytes::copy_from_slice(blob(v)?.0))
        })
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> StoreResult<()> {
        let value = encode(&Blob(session))?;
        self.put_row(SESSIONS, self.key_raw(address.as_bytes()), value)
            .await
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> StoreResult<()> {
        let rows = sessions
            .iter()
            .map(|(a, s)| Ok((self.key_raw(a.as_bytes()), encode(&Blob(s))?)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.put_rows(SESSIONS, rows).await
    }

    async fn delete_session(&self, address: &str) -> StoreResult<()> {
        self.remove_rows(SESSIONS, vec![self.key_raw(address.as_bytes())])
            .await
    }

    async fn has_session(&self, address: &str) -> StoreResult<bool> {
        self.contains(SESSIONS, &self.key_raw(address.as_bytes()))
    }

    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> StoreResult<()> {
        let value = encode(&PrekeyV1 {
            record: Blob(record),
            uploaded,
        })?;
        self.put_row(PREKEYS, self.key_raw(&id.to_be_bytes()), value)
            .await
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], uploaded: bool) -> StoreResult<()> {
        let rows = keys
            .iter()
            .map(|(id, record)| {
                let value = encode(&PrekeyV1 {
                    record: Blob(record),
                    uploaded,
                })?;
                Ok((self.key_raw(&id.to_be_bytes()), value))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.put_rows(PREKEYS, rows).await
    }

    async fn load_prekey(&self, id: u32) -> StoreResult<Option<Bytes>> {
        self.get(PREKEYS, &self.key_raw(&id.to_be_bytes()), |v| {
            Ok(Bytes::copy_from_slice(decode::<PrekeyV1<'_>>(v)?.record.0))
        })
    }

    async fn load_prekeys_batch(&self, ids: &[u32]) -> StoreResult<Vec<(u32, Bytes)>> {
        self.read(|txn| {
            let Some(table) = open_read(txn, PREKEYS.def)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::with_capacity(ids.len());
            let mut key = self.key_raw(&0u32.to_be_bytes());
            for &id in ids {
                key[4..].copy_from_slice(&id.to_be_bytes());
                if let Some(guard) = table.get(key.as_slice()).or_store()? {
                    let p = decode::<PrekeyV1<'_>>(guard.value())
                        .map_err(|d| corrupt(PREKEYS, &key, d))?;
                    out.push((id, Bytes::copy_from_slice(p.record.0)));
                }
            }
            Ok(out)
        })
    }

    async fn is_prekey_uploaded(&self, id: u32) -> StoreResult<Option<bool>> {
        self.get(PREKEYS, &self.key_raw(&id.to_be_bytes()), |v| {
            Ok(decode::<PrekeyV1<'_>>(v)?.uploaded)
        })
    }

    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<Vec<u8>> = ids
            .iter()
            .map(|id| self.key_raw(&id.to_be_bytes()))
            .collect();
        self.write(move |txn| keys.iter().try_for_each(|k| mark_uploaded(txn, k)))
            .await
    }

    async fn remove_prekey(&self, id: u32) -> StoreResult<()> {
        self.remove_rows(PREKEYS, vec![self.key_raw(&id.to_be_bytes())])
            .await
    }

    async fn get_max_prekey_id(&self) -> StoreResult<u32> {
        let prefix = self.device_key();
        self.read(|txn| {
            let Some(table) = open_read(txn, PREKEYS.def)? else {
                return Ok(0);
            };
            let end = schema::prefix_end(&prefix);
            let last = table
                .range::<&[u8]>(prefix_bounds(&prefix, &end))
                .or_store()?
                .next_back();
            match last {
                None => Ok(0),
                Some(row) => {
                    let (k, _) = row.or_store()?;
                    let id: [u8; 4] = k.value()[4..]
                        .try_into()
                        .map_err(|_| corrupt(PREKEYS, k.value(), "id is not 4 bytes"))?;
                    Ok(u32::from_be_bytes(id))
                }
            }
        })
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> StoreResult<()> {
        let value = encode(&Blob(record))?;
        self.put_row(SIGNED_PREKEYS, self.key_raw(&id.to_be_bytes()), value)
            .await
    }

    async fn load_signed_prekey(&self, id: u32) -> StoreResult<Option<Vec<u8>>> {
        self.get(SIGNED_PREKEYS, &self.key_raw(&id.to_be_bytes()), |v| {
            Ok(blob(v)?.0.to_vec())
        })
    }

    async fn load_all_signed_prekeys(&self) -> StoreResult<Vec<(u32, Vec<u8>)>> {
        self.scan(SIGNED_PREKEYS, &self.device_key(), |k, v| {
            let id: [u8; 4] = k.try_into().map_err(|_| "id is not 4 bytes")?;
            Ok((u32::from_be_bytes(id), blob(v)?.0.to_vec()))
        })
    }

    async fn remove_signed_prekey(&self, id: u32) -> StoreResult<()> {
        self.remove_rows(SIGNED_PREKEYS, vec![self.key_raw(&id.to_be_bytes())])
            .await
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> StoreResult<()> {
        let value = encode(&Blob(record))?;
        self.put_row(SENDER_KEYS, self.key_raw(address.as_bytes()), value)
            .await
    }

    async fn get_sender_key(&self, address: &str) -> StoreResult<Option<Vec<u8>>> {
        self.get(SENDER_KEYS, &self.key_raw(address.as_bytes()), |v| {
            Ok(blob(v)?.0.to_vec())
        })
    }

    async fn delete_sender_key(&self, address: &str) -> StoreResult<()> {
        self.remove_rows(SENDER_KEYS, vec![self.key_raw(address.as_bytes())])
            .await
    }

    async fn apply_batch_atomic(&self, batch: &WriteBatch) -> StoreResult<bool> {
        let rows = self.batch_rows(batch)?;
        let device = self.device_id;
        self.write(move |txn| {
            apply_rows(txn, device, &rows)?;
            Ok(true)
        })
        .await
    }
}

/// Applies prepared row writes of device `device`, in order, inside `txn`.
fn apply_rows(txn: &WriteTransaction, device: i32, rows: &[RowOp]) -> StoreResult<()> {
    for row in rows {
        match row {
            RowOp::Put(family, k, v) => {
                open_write(txn, *family)?
                    .insert(k.as_slice(), v.as_slice())
                    .or_store()?;
            }
            RowOp::Remove(family, k) => {
                open_write(txn, *family)?.remove(k.as_slice()).or_store()?;
            }
            RowOp::MarkUploaded(k) => mark_uploaded(txn, k)?,
            RowOp::Mappings(rows) => put_mappings(txn, device, rows)?,
            RowOp::AdvanceCounter(k, next) => update_device(txn, k, |d| {
                let raise = d.next_pre_key_id < *next;
                d.next_pre_key_id = d.next_pre_key_id.max(*next);
                raise
            })?,
            RowOp::SignedPreKey(k, update) => update_device(txn, k, |d| update.apply(d))?,
            RowOp::InboxPut(row) => inbox_put(txn, row)?,
            RowOp::InboxRemove(index_key) => inbox_remove(txn, index_key)?,
        }
    }
    Ok(())
}

/// One row-level write of a [`WriteBatch`], keys and values prepared.
enum RowOp {
    Put(Family, Vec<u8>, Vec<u8>),
    Remove(Family, Vec<u8>),
    MarkUploaded(Vec<u8>),
    Mappings(Vec<MappingRow>),
    AdvanceCounter(Vec<u8>, u32),
    SignedPreKey(Vec<u8>, Box<wa_core::store::SignedPreKeyUpdate>),
    InboxPut(InboxRow),
    /// The index key of the entry to remove.
    InboxRemove(Vec<u8>),
}

impl RedbStore {
    /// Encodes a batch's operations into row writes, on the caller's thread.
    fn batch_rows(&self, batch: &WriteBatch) -> StoreResult<Vec<RowOp>> {
        let mut rows = Vec::with_capacity(batch.len());
        for op in batch.ops() {
            match op {
                WriteOp::PutSession { address, record } => rows.push(RowOp::Put(
                    SESSIONS,
                    self.key_raw(address.as_bytes()),
                    encode(&Blob(record))?,
                )),
                WriteOp::DeleteSession { address } => {
                    rows.push(RowOp::Remove(SESSIONS, self.key_raw(address.as_bytes())))
                }
                WriteOp::PutIdentity { address, key } => rows.push(RowOp::Put(
                    IDENTITIES,
                    self.key_raw(address.as_bytes()),
                    encode(&Blob(key))?,
                )),
                WriteOp::StorePreKeys { keys, uploaded } => {
                    for (id, record) in keys {
                        let value = encode(&PrekeyV1 {
                            record: Blob(record),
                            uploaded: *uploaded,
                        })?;
                        rows.push(RowOp::Put(PREKEYS, self.key_raw(&id.to_be_bytes()), value));
                    }
                }
                WriteOp::MarkPreKeysUploaded { ids } => {
                    for id in ids {
                        rows.push(RowOp::MarkUploaded(self.key_raw(&id.to_be_bytes())));
                    }
                }
                WriteOp::RemovePreKey { id } => {
                    rows.push(RowOp::Remove(PREKEYS, self.key_raw(&id.to_be_bytes())))
                }
                WriteOp::StoreSignedPreKey { id, record } => rows.push(RowOp::Put(
                    SIGNED_PREKEYS,
                    self.key_raw(&id.to_be_bytes()),
                    encode(&Blob(record))?,
                )),
                WriteOp::PutSenderKey { name, record } => rows.push(RowOp::Put(
                    SENDER_KEYS,
                    self.key_raw(name.as_bytes()),
                    encode(&Blob(record))?,
                )),
                WriteOp::DeleteSenderKey { name } => {
                    rows.push(RowOp::Remove(SENDER_KEYS, self.key_raw(name.as_bytes())))
                }
                WriteOp::StoreSentMessage {
                    chat,
                    id,
                    payload,
                    sent_at,
                } => rows.push(RowOp::Put(
                    SENT_MESSAGES,
                    self.key_pair(chat, id.as_bytes()),
                    encode(&SentMessageV1 {
                        payload: Blob(payload),
                        sent_at: *sent_at,
                    })?,
                )),
                WriteOp::UpdateDeviceList(record) => rows.push(RowOp::Put(
                    DEVICE_LISTS,
                    self.key_raw(record.user.as_bytes()),
                    convert::encode_device_list(record)?,
                )),
                WriteOp::PutLidMapping(e) => rows.push(RowOp::Mappings(vec![MappingRow {
                    key: self.key_raw(e.lid.as_bytes()),
                    value: convert::encode_lid_mapping(e)?,
                    index_key: pn_index_key(self.device_id, &e.phone_number, e.updated_at, &e.lid),
                }])),
                WriteOp::SetSenderKeyStatus { group, entries } => {
                    for (device, has) in entries {
                        rows.push(RowOp::Put(
                            SENDER_KEY_DEVICES,
                            self.key_pair(group, device.as_bytes()),
                            encode(has)?,
                        ));
                    }
                }
                WriteOp::SaveDevice(device) => rows.push(RowOp::Put(
                    DEVICES,
                    self.device_key(),
                    convert::encode_device(device)?,
                )),
                WriteOp::AdvancePreKeyCounter { next } => {
                    rows.push(RowOp::AdvanceCounter(self.device_key(), *next))
                }
                WriteOp::SetSignedPreKey(update) => {
                    rows.push(RowOp::SignedPreKey(self.device_key(), update.clone()))
                }
                WriteOp::PutInbox(entry) => rows.push(RowOp::InboxPut(self.inbox_row(entry)?)),
                WriteOp::RemoveInbox { chat, id } => {
                    rows.push(RowOp::InboxRemove(self.inbox_index_key(chat, id)))
                }
                other => {
                    return Err(StoreError::Backend(
                        format!("write operation not supported by this version: {other:?}").into(),
                    ));
                }
            }
        }
        Ok(rows)
    }
}

/// Changes the saved device in place with `change` (which says whether it
/// changed anything); a missing device is left missing.
fn update_device(
    txn: &WriteTransaction,
    k: &[u8],
    change: impl FnOnce(&mut wa_core::store::Device) -> bool,
) -> StoreResult<()> {
    let mut t = open_write(txn, DEVICES)?;
    let updated = match t.get(k).or_store()? {
        None => None,
        Some(guard) => {
            let v1 = decode::<schema::DeviceV1<'_>>(guard.value())
                .map_err(|d| corrupt(DEVICES, k, d))?;
            let mut device = convert::device_from_v1(&v1).map_err(|d| corrupt(DEVICES, k, d))?;
            if change(&mut device) {
                Some(convert::encode_device(&device)?)
            } else {
                None
            }
        }
    };
    if let Some(v) = updated {
        t.insert(k, v.as_slice()).or_store()?;
    }
    Ok(())
}

/// Marks one prekey row uploaded (a missing row is fine).
fn mark_uploaded(txn: &WriteTransaction, k: &[u8]) -> StoreResult<()> {
    let mut t = open_write(txn, PREKEYS)?;
    let updated = match t.get(k).or_store()? {
        None => None,
        Some(guard) => {
            let p = decode::<PrekeyV1<'_>>(guard.value()).map_err(|d| corrupt(PREKEYS, k, d))?;
            if p.uploaded {
                None
            } else {
                Some(encode(&PrekeyV1 {
                    record: p.record,
                    uploaded: true,
                })?)
            }
        }
    };
    if let Some(v) = updated {
        t.insert(k, v.as_slice()).or_store()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// AppSyncStore
// ---------------------------------------------------------------------------

#[async_trait]
impl AppSyncStore for RedbStore {
    async fn get_sync_key(&self, key_id: &[u8]) -> StoreResult<Option<AppStateSyncKey>> {
        self.get(SYNC_KEYS, &self.key_raw(key_id), |v| {
            Ok(convert::sync_key_from_v1(&decode::<SyncKeyV1<'_>>(v)?))
        })
    }

    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> StoreResult<()> {
        let k = self.key_raw(key_id);
        let v = convert::encode_sync_key(&key)?;
        let latest_k = self.device_key();
        let latest_v = encode(&Blob(key_id))?;
        self.write(move |txn| {
            open_write(txn, SYNC_KEYS)?
                .insert(k.as_slice(), v.as_slice())
                .or_store()?;
            open_write(txn, SYNC_KEY_LATEST)?
                .insert(latest_k.as_slice(), latest_v.as_slice())
                .or_store()?;
            Ok(())
        })
        .await
    }

    async fn get_latest_sync_key_id(&self) -> StoreResult<Option<Vec<u8>>> {
        self.get(SYNC_KEY_LATEST, &self.device_key(), |v| {
            Ok(blob(v)?.0.to_vec())
        })
    }

    async fn get_version(&self, name: &str) -> StoreResult<Option<HashState>> {
        self.get(APP_STATE_VERSIONS, &self.key_raw(name.as_bytes()), |v| {
            convert::hash_state_from_v1(&decode::<HashStateV1<'_>>(v)?)
        })
    }

    async fn set_version(&self, name: &str, state: HashState) -> StoreResult<()> {
        let value = convert::encode_hash_state(&state)?;
        self.put_row(APP_STATE_VERSIONS, self.key_raw(name.as_bytes()), value)
            .await
    }

    async fn delete_version(&self, name: &str) -> StoreResult<()> {
        self.remove_rows(APP_STATE_VERSIONS, vec![self.key_raw(name.as_bytes())])
            .await
    }

    async fn put_mutation_macs(
        &self,
        name: &str,
        version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> StoreResult<()> {
        let rows = mutations
            .iter()
            .map(|m| {
                let value = encode(&MacV1 {
                    version,
                    value_mac: Blob(&m.value_mac),
                })?;
                Ok((self.key_pair(name, &m.index_mac), value))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.put_rows(MUTATION_MACS, rows).await
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.get(MUTATION_MACS, &self.key_pair(name, index_mac), |v| {
            Ok(decode::<MacV1<'_>>(v)?.value_mac.0.to_vec())
        })
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> StoreResult<()> {
        let keys = index_macs.iter().map(|m| self.key_pair(name, m)).collect();
        self.remove_rows(MUTATION_MACS, keys).await
    }

    async fn clear_mutation_macs(&self, name: &str) -> StoreResult<()> {
        self.remove_prefix(MUTATION_MACS, self.key_prefix(name))
            .await
    }
}

// ---------------------------------------------------------------------------
// ProtocolStore
// ---------------------------------------------------------------------------

fn utf8_suffix(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} in the key is not UTF-8"))
}

/// Decodes a LID mapping and checks it belongs under its key's LID.
fn lid_mapping(value: &[u8], lid: &[u8]) -> Result<LidPnMappingEntry, String> {
    let m = decode::<LidMappingV1<'_>>(value)?;
    if m.lid.as_bytes() != lid {
        return Err(format!("record's lid {:?} differs from its key", m.lid));
    }
    Ok(convert::lid_mapping_from_v1(&m))
}

/// The index row of a mapping: `dev ‖ esc(phone) ‖ updated_at ‖ lid`.
fn pn_index_key(device: i32, phone: &str, updated_at: i64, lid: &str) -> Vec<u8> {
    KeyBuf::new(device, phone.len() + lid.len() + 10)
        .escaped(phone.as_bytes())
        .raw(&schema::ordered_i64(updated_at))
        .raw(lid.as_bytes())
        .into_vec()
}

/// Prepared writes of one LID mapping.
struct MappingRow {
    key: Vec<u8>,
    value: Vec<u8>,
    index_key: Vec<u8>,
}

/// Stores mappings in order, keeping the phone-number index in step.
fn put_mappings(txn: &WriteTransaction, device: i32, rows: &[MappingRow]) -> StoreResult<()> {
    let mut mappings = open_write(txn, LID_MAPPINGS)?;
    let mut index = open_write(txn, PN_INDEX)?;
    let empty = encode(&())?;
    for row in rows {
        let old_index = match mappings.get(row.key.as_slice()).or_store()? {
            None => None,
            Some(guard) => {
                let m = decode::<LidMappingV1<'_>>(guard.value())
                    .map_err(|d| corrupt(LID_MAPPINGS, &row.key, d))?;
                Some(pn_index_key(device, m.phone_number, m.updated_at, m.lid))
            }
        };
        if let Some(old) = old_index {
            index.remove(old.as_slice()).or_store()?;
        }
        mappings
            .insert(row.key.as_slice(), row.value.as_slice())
            .or_store()?;
        index
            .insert(row.index_key.as_slice(), empty.as_slice())
            .or_store()?;
    }
    Ok(())
}

/// Deletes the rows of `family` under `prefix` whose decoded value `expired`
/// says so; returns how many.
fn sweep(
    txn: &WriteTransaction,
    family: Family,
    prefix: &[u8],
    mut expired: impl FnMut(&[u8]) -> Result<bool, String>,
) -> StoreResult<u32> {
    let mut table = open_write(txn, family)?;
    let end = schema::prefix_end(prefix);
    let mut doomed = Vec::new();
    for row in table
        .range::<&[u8]>(prefix_bounds(prefix, &end))
        .or_store()?
    {
        let (k, v) = row.or_store()?;
        if expired(v.value()).map_err(|d| corrupt(family, k.value(), d))? {
            doomed.push(k.value().to_vec());
        }
    }
    for k in &doomed {
        table.remove(k.as_slice()).or_store()?;
    }
    Ok(count(doomed.len()))
}

/// Prepared writes of one inbox entry: its index key (`dev ‖ esc(chat) ‖ id`),
/// timestamp and encoded [`InboxV1`] value.
struct InboxRow {
    index_key: Vec<u8>,
    timestamp: i64,
    value: Vec<u8>,
}

impl RedbStore {
    /// The inbox index key of `(chat, id)`: `dev ‖ esc(chat) ‖ id`.
    fn inbox_index_key(&self, chat: &str, id: &str) -> Vec<u8> {
        self.key_pair(chat, id.as_bytes())
    }

    fn inbox_row(&self, entry: &InboxEntry) -> StoreResult<InboxRow> {
        Ok(InboxRow {
            index_key: self.inbox_index_key(&entry.chat, &entry.id),
            timestamp: entry.timestamp,
            value: encode(&InboxV1 {
                sender: &entry.sender,
                payload: Blob(&entry.payload),
            })?,
        })
    }
}

/// Removes the inbox entry whose index key is `index_key` and its index row;
/// a missing entry is fine. An index row that does not decode fails the
/// operation (nothing is guessed; the transaction is dropped).
fn inbox_remove(txn: &WriteTransaction, index_key: &[u8]) -> StoreResult<()> {
    let timestamp = {
        let mut index = open_write(txn, INBOX_INDEX)?;
        let Some(guard) = index.remove(index_key).or_store()? else {
            return Ok(());
        };
        decode::<i64>(guard.value()).map_err(|d| corrupt(INBOX_INDEX, index_key, d))?
    };
    open_write(txn, INBOX)?
        .remove(schema::inbox_key(index_key, timestamp).as_slice())
        .or_store()?;
    Ok(())
}

/// Stores an inbox entry, replacing the one with the same chat and id (found
/// through the index, whatever its timestamp), and its index row.
fn inbox_put(txn: &WriteTransaction, row: &InboxRow) -> StoreResult<()> {
    inbox_remove(txn, &row.index_key)?;
    open_write(txn, INBOX)?
        .insert(
            schema::inbox_key(&row.index_key, row.timestamp).as_slice(),
            row.value.as_slice(),
        )
        .or_store()?;
    open_write(txn, INBOX_INDEX)?
        .insert(row.index_key.as_slice(), encode(&row.timestamp)?.as_slice())
        .or_store()?;
    Ok(())
}

/// Decodes one `inbox_v1` row; `rest` is the key after the device id.
fn inbox_entry(rest: &[u8], value: &[u8]) -> Result<InboxEntry, String> {
    let (timestamp, chat, id) = schema::split_inbox_key(rest)?;
    let v = decode::<InboxV1<'_>>(value)?;
    Ok(InboxEntry {
        chat: String::from_utf8(chat).map_err(|_| "chat in the key is not UTF-8")?,
        id: utf8_suffix(id, "id")?,
        sender: v.sender.to_owned(),
        timestamp,
        payload: v.payload.0.to_vec(),
    })
}

#[async_trait]
impl ProtocolStore for RedbStore {
    async fn get_sender_key_devices(&self, group_jid: &str) -> StoreResult<Vec<(String, bool)>> {
        self.scan(SENDER_KEY_DEVICES, &self.key_prefix(group_jid), |k, v| {
            Ok((utf8_suffix(k, "device")?, decode::<bool>(v)?))
        })
    }

    async fn set_sender_key_status(
        &self,
        group_jid: &str,
        entries: &[(&str, bool)],
    ) -> StoreResult<()> {
        let rows = entries
            .iter()
            .map(|(device, has)| Ok((self.key_pair(group_jid, device.as_bytes()), encode(has)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.put_rows(SENDER_KEY_DEVICES, rows).await
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> StoreResult<()> {
        self.remove_prefix(SENDER_KEY_DEVICES, self.key_prefix(group_jid))
            .await
    }

    async fn get_lid_mapping(&self, lid: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        self.get(LID_MAPPINGS, &self.key_raw(lid.as_bytes()), |v| {
            lid_mapping(v, lid.as_bytes())
        })
    }

    async fn get_pn_mapping(&self, phone: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        let prefix = self.key_prefix(phone);
        self.read(|txn| {
            let (Some(index), Some(mappings)) = (
                open_read(txn, PN_INDEX.def)?,
                open_read(txn, LID_MAPPINGS.def)?,
            ) else {
                return Ok(None);
            };
            let end = schema::prefix_end(&prefix);
            // Index keys sort by (updated_at, lid): the last one is the newest.
            let Some(row) = index
                .range::<&[u8]>(prefix_bounds(&prefix, &end))
                .or_store()?
                .next_back()
            else {
                return Ok(None);
            };
            let (k, _) = row.or_store()?;
            let index_key = k.value();
            let bad = |d: &str| corrupt(PN_INDEX, index_key, d);
            let rest = &index_key[prefix.len()..];
            if rest.len() < 8 {
                return Err(bad("updated_at is not 8 bytes"));
            }
            let lid = &rest[8..];
            let mapping_key = self.key_raw(lid);
            let guard = mappings
                .get(mapping_key.as_slice())
                .or_store()?
                .ok_or_else(|| bad("index row points to a missing mapping"))?;
            let m = lid_mapping(guard.value(), lid)
                .map_err(|d| corrupt(LID_MAPPINGS, &mapping_key, d))?;
            if m.phone_number != phone || schema::ordered_i64(m.updated_at) != rest[..8] {
                return Err(bad("index row disagrees with its mapping"));
            }
            Ok(Some(m))
        })
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> StoreResult<()> {
        self.put_lid_mappings(std::slice::from_ref(entry)).await
    }

    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let device = self.device_id;
        let rows = entries
            .iter()
            .map(|e| {
                Ok(MappingRow {
                    key: self.key_raw(e.lid.as_bytes()),
                    value: convert::encode_lid_mapping(e)?,
                    index_key: pn_index_key(device, &e.phone_number, e.updated_at, &e.lid),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.write(move |txn| put_mappings(txn, device, &rows))
            .await
    }

    async fn get_all_lid_mappings(&self) -> StoreResult<Vec<LidPnMappingEntry>> {
        self.scan(LID_MAPPINGS, &self.device_key(), |k, v| lid_mapping(v, k))
    }

    async fn save_base_key(
        &self,
        address: &str,
        message_id: &str,
        base_key: &[u8],
    ) -> StoreResult<()> {
        let value = encode(&Blob(base_key))?;
        self.put_row(
            BASE_KEYS,
            self.key_pair(address, message_id.as_bytes()),
            value,
        )
        .await
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> StoreResult<bool> {
        let same = self.get(
            BASE_KEYS,
            &self.key_pair(address, message_id.as_bytes()),
            |v| Ok(blob(v)?.0 == current_base_key),
        )?;
        Ok(same == Some(true))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> StoreResult<()> {
        self.remove_rows(
            BASE_KEYS,
            vec![self.key_pair(address, message_id.as_bytes())],
        )
        .await
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> StoreResult<()> {
        let value = convert::encode_device_list(&record)?;
        self.put_row(DEVICE_LISTS, self.key_raw(record.user.as_bytes()), value)
            .await
    }

    async fn get_devices(&self, user: &str) -> StoreResult<Option<DeviceListRecord>> {
        self.get(DEVICE_LISTS, &self.key_raw(user.as_bytes()), |v| {
            let r = decode::<schema::DeviceListV1<'_>>(v)?;
            if r.user != user {
                return Err(format!("record's user {:?} differs from its key", r.user));
            }
            Ok(convert::device_list_from_v1(&r))
        })
    }

    async fn delete_devices(&self, user: &str) -> StoreResult<()> {
        self.remove_rows(DEVICE_LISTS, vec![self.key_raw(user.as_bytes())])
            .await
    }

    async fn get_tc_token(&self, jid: &str) -> StoreResult<Option<TcTokenEntry>> {
        self.get(TC_TOKENS, &self.key_raw(jid.as_bytes()), |v| {
            Ok(convert::tc_token_from_v1(&decode::<TcTokenV1<'_>>(v)?))
        })
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> StoreResult<()> {
        let value = convert::encode_tc_token(entry)?;
        self.put_row(TC_TOKENS, self.key_raw(jid.as_bytes()), value)
            .await
    }

    async fn delete_tc_token(&self, jid: &str) -> StoreResult<()> {
        self.remove_rows(TC_TOKENS, vec![self.key_raw(jid.as_bytes())])
            .await
    }

    async fn get_all_tc_token_jids(&self) -> StoreResult<Vec<String>> {
        self.scan(TC_TOKENS, &self.device_key(), |k, _| utf8_suffix(k, "jid"))
    }

    async fn delete_expired_tc_tokens(
        &self,
        token_cutoff: i64,
        sender_cutoff: i64,
    ) -> StoreResult<u32> {
        let prefix = self.device_key();
        self.write(move |txn| {
            sweep(txn, TC_TOKENS, &prefix, |v| {
                let t = decode::<TcTokenV1<'_>>(v)?;
                let token_live = !t.token.0.is_empty() && t.token_timestamp >= token_cutoff;
                let sender_live = t.sender_timestamp.is_some_and(|s| s >= sender_cutoff);
                Ok(!(token_live || sender_live))
            })
        })
        .await
    }

    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
        sent_at: i64,
    ) -> StoreResult<()> {
        let value = encode(&SentMessageV1 {
            payload: Blob(payload),
            sent_at,
        })?;
        self.put_row(
            SENT_MESSAGES,
            self.key_pair(chat_jid, message_id.as_bytes()),
            value,
        )
        .await
    }

    async fn take_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
    ) -> StoreResult<Option<Vec<u8>>> {
        let key = self.key_pair(chat_jid, message_id.as_bytes());
        self.write(move |txn| {
            let mut t = open_write(txn, SENT_MESSAGES)?;
            let Some(guard) = t.remove(key.as_slice()).or_store()? else {
                return Ok(None);
            };
            // A corrupt record fails this operation alone; its transaction is
            // dropped, so the record stays for inspection.
            let m = decode::<SentMessageV1<'_>>(guard.value())
                .map_err(|d| corrupt(SENT_MESSAGES, &key, d))?;
            Ok(Some(m.payload.0.to_vec()))
        })
        .await
    }

    async fn delete_expired_sent_messages(&self, cutoff: i64) -> StoreResult<u32> {
        let prefix = self.device_key();
        self.write(move |txn| {
            sweep(txn, SENT_MESSAGES, &prefix, |v| {
                Ok(decode::<SentMessageV1<'_>>(v)?.sent_at < cutoff)
            })
        })
        .await
    }

    /// One transaction: the index row finds the entry this one replaces,
    /// which is removed before the entry and its index row are written.
    async fn put_inbox(&self, entry: &InboxEntry) -> StoreResult<()> {
        let row = self.inbox_row(entry)?;
        self.write(move |txn| inbox_put(txn, &row)).await
    }

    async fn remove_inbox(&self, chat: &str, id: &str) -> StoreResult<()> {
        let index_key = self.inbox_index_key(chat, id);
        self.write(move |txn| inbox_remove(txn, &index_key)).await
    }

    /// One range scan of `inbox_v1` over this device's prefix, stopping after
    /// `limit` rows.
    async fn list_inbox(&self, limit: usize) -> StoreResult<Vec<InboxEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let prefix = self.device_key();
        self.read(|txn| {
            let Some(table) = open_read(txn, INBOX.def)? else {
                return Ok(Vec::new());
            };
            let end = schema::prefix_end(&prefix);
            let mut out = Vec::new();
            for row in table
                .range::<&[u8]>(prefix_bounds(&prefix, &end))
                .or_store()?
                .take(limit)
            {
                let (k, v) = row.or_store()?;
                let entry = inbox_entry(&k.value()[prefix.len()..], v.value())
                    .map_err(|d| corrupt(INBOX, k.value(), d))?;
                out.push(entry);
            }
            Ok(out)
        })
    }
}

// ---------------------------------------------------------------------------
// DeviceStore
// ---------------------------------------------------------------------------

#[async_trait]
impl DeviceStore for RedbStore {
    async fn save(&self, device: &Device) -> StoreResult<()> {
        let value = convert::encode_device(device)?;
        self.put_row(DEVICES, self.device_key(), value).await
    }

    async fn load(&self) -> StoreResult<Option<Device>> {
        self.get(DEVICES, &self.device_key(), |v| {
            convert::device_from_v1(&decode::<schema::DeviceV1<'_>>(v)?)
        })
    }

    async fn exists(&self) -> StoreResult<bool> {
        self.contains(DEVICES, &self.device_key())
    }

    /// Returns an id above 1, above every id `create` returned before (kept in
    /// the `meta` table) and above every device id that has rows.
    async fn create(&self) -> StoreResult<i32> {
        self.write(|txn| {
            let mut meta = txn.open_table(META).or_store()?;
            let mut top = RedbStore::DEFAULT_DEVICE_ID;
            if let Some(g) = meta.get(META_LAST_DEVICE_ID).or_store()? {
                let b: [u8; 4] = g.value().try_into().map_err(|_| {
                    StoreError::corrupt("meta", "last_device_id", "not a 4-byte id")
                })?;
                top = top.max(i32::from_le_bytes(b));
            }
            for family in schema::FAMILIES {
                let t = open_write(txn, *family)?;
                if let Some((k, _)) = t.last().or_store()?
                    && let Some(id) = schema::device_of(k.value())
                {
                    top = top.max(id);
                }
            }
            let id = top.checked_add(1).ok_or_else(|| {
                StoreError::InvalidInput("no device id left: the largest id is in use".into())
            })?;
            meta.insert(META_LAST_DEVICE_ID, &id.to_le_bytes()[..])
                .or_store()?;
            Ok(id)
        })
        .await
    }

    async fn snapshot_db(&self, name: &str, extra: Option<&[u8]>) -> StoreResult<()> {
        self.take_snapshot(name, extra).await
    }
}

// ---------------------------------------------------------------------------
// Import (wa-store import-whatsapp-rust)
// ---------------------------------------------------------------------------

/// Everything an import writes for one device id.
#[cfg(feature = "import-whatsapp-rust")]
#[derive(Default)]
pub(crate) struct DeviceImport {
    pub(crate) device_id: i32,
    /// Writes the trait batch can express.
    pub(crate) batch: WriteBatch,
    /// App-state sync keys by key id.
    pub(crate) sync_keys: Vec<(Vec<u8>, AppStateSyncKey)>,
    /// The key id `get_latest_sync_key_id` should answer.
    pub(crate) latest_sync_key: Option<Vec<u8>>,
    /// App-state versions by collection name.
    pub(crate) versions: Vec<(String, HashState)>,
    /// Mutation MACs: (collection, version, MAC).
    pub(crate) macs: Vec<(String, u64, AppStateMutationMAC)>,
    /// Trusted-contact tokens by JID.
    pub(crate) tc_tokens: Vec<(String, TcTokenEntry)>,
}

#[cfg(feature = "import-whatsapp-rust")]
impl RedbStore {
    /// Writes every device's records in **one** write transaction, after
    /// checking in that same transaction that the store holds no record at
    /// all (any device). Blocks the calling thread.
    pub(crate) fn import_blocking(&self, devices: &[DeviceImport]) -> StoreResult<()> {
        let mut all = Vec::with_capacity(devices.len());
        for d in devices {
            let h = self.for_device(d.device_id);
            let mut rows = h.batch_rows(&d.batch)?;
            for (id, key) in &d.sync_keys {
                rows.push(RowOp::Put(
                    SYNC_KEYS,
                    h.key_raw(id),
                    convert::encode_sync_key(key)?,
                ));
            }
            if let Some(id) = &d.latest_sync_key {
                rows.push(RowOp::Put(
                    SYNC_KEY_LATEST,
                    h.device_key(),
                    encode(&Blob(id))?,
                ));
            }
            for (name, state) in &d.versions {
                rows.push(RowOp::Put(
                    APP_STATE_VERSIONS,
                    h.key_raw(name.as_bytes()),
                    convert::encode_hash_state(state)?,
                ));
            }
            for (name, version, m) in &d.macs {
                rows.push(RowOp::Put(
                    MUTATION_MACS,
                    h.key_pair(name, &m.index_mac),
                    encode(&MacV1 {
                        version: *version,
                        value_mac: Blob(&m.value_mac),
                    })?,
                ));
            }
            for (jid, entry) in &d.tc_tokens {
                rows.push(RowOp::Put(
                    TC_TOKENS,
                    h.key_raw(jid.as_bytes()),
                    convert::encode_tc_token(entry)?,
                ));
            }
            all.push((d.device_id, rows));
        }
        self.inner.writer.submit_blocking(move |txn| {
            for family in schema::FAMILIES {
                let t = open_write(txn, *family)?;
                if t.first().or_store()?.is_some() {
                    return Err(StoreError::InvalidInput(format!(
                        "the redb file already holds records (table {}); \
                         import only into a new or empty file",
                        family.name
                    )));
                }
            }
            for (device, rows) in &all {
                apply_rows(txn, *device, rows)?;
            }
            Ok(())
        })
    }
}
