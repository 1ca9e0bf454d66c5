//! The four store traits and [`Backend`].
//!
//! Method names and shapes follow the reference Rust implementation
//! (whatsapp-rust's `wacore::store::traits`), so a backend written for it ports
//! with few changes. Where this crate differs, the method's doc says so.
//!
//! # Contracts every backend keeps
//!
//! - A handle addresses one device id; rows written through it are invisible to
//!   handles of other device ids.
//! - Reads of a missing key return `Ok(None)` (or an empty list); deleting a
//!   missing key is `Ok(())`.
//! - A `put`/`store`/`set` of an existing key replaces the whole value.
//! - A method that writes several rows writes all of them or none.
//! - Keys are compared byte for byte: the empty string and any Unicode text
//!   are valid keys, and composite keys never collide (`("a", "b:c")` and
//!   `("a:b", "c")` are different base-key rows).
//! - Timestamps are unix seconds passed in by the caller; the store never reads
//!   a clock. An expiry sweep with cut-off `c` deletes rows stamped **strictly
//!   before** `c`; a row stamped exactly `c` is kept.
//! - Lists come back in a defined order (each method says which), so every
//!   backend answers alike.
//!
//! `store::conformance` (feature `conformance`) checks all of the above.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::error::StoreError;
use super::error::StoreResult;
use super::types::{
    AppStateMutationMAC, AppStateSyncKey, Device, DeviceListRecord, HashState, InboxEntry,
    LidPnMappingEntry, TcTokenEntry,
};

/// Signal protocol state: identities, sessions, prekeys, signed prekeys and
/// sender keys.
///
/// An `address` is a Signal protocol address in text form, `name.device`
/// (e.g. `5511987650001.0`, or a LID user `100000012345678.3`). Sender-key
/// addresses combine a group and a sender (`group_id::name.device`). Records
/// are opaque bytes to the store.
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Stores (or replaces) the identity key of a remote address.
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> StoreResult<()>;

    /// The identity key stored for `address`.
    async fn load_identity(&self, address: &str) -> StoreResult<Option<[u8; 32]>>;

    /// Deletes the identity key of `address`.
    async fn delete_identity(&self, address: &str) -> StoreResult<()>;

    /// The serialized session with `address`.
    async fn get_session(&self, address: &str) -> StoreResult<Option<Bytes>>;

    /// Stores (or replaces) the serialized session with `address`.
    async fn put_session(&self, address: &str, session: &[u8]) -> StoreResult<()>;

    /// Stores many sessions at once, all or none. When an address appears twice
    /// the later entry wins. The default loops over [`SignalStore::put_session`]
    /// (not atomic); a transactional backend overrides it with one transaction.
    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> StoreResult<()> {
        for (address, session) in sessions {
            self.put_session(address, session).await?;
        }
        Ok(())
    }

    /// Deletes the session with `address`.
    async fn delete_session(&self, address: &str) -> StoreResult<()>;

    /// Whether a session with `address` exists. The default reads the session.
    async fn has_session(&self, address: &str) -> StoreResult<bool> {
        Ok(self.get_session(address).await?.is_some())
    }

    /// Stores (or replaces) one-time prekey `id`, with its upload flag.
    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> StoreResult<()>;

    /// Stores many prekeys at once with the same upload flag, all or none; when
    /// an id appears twice the later entry wins. The default loops over
    /// [`SignalStore::store_prekey`] (not atomic); backends override it.
    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], uploaded: bool) -> StoreResult<()> {
        for (id, record) in keys {
            self.store_prekey(*id, record, uploaded).await?;
        }
        Ok(())
    }

    /// The record of prekey `id`.
    async fn load_prekey(&self, id: u32) -> StoreResult<Option<Bytes>>;

    /// The records of the prekeys in `ids` that exist, in the order asked (an id
    /// asked twice appears twice; missing ids are left out). The default loops
    /// over [`SignalStore::load_prekey`]; backends override it with one read.
    async fn load_prekeys_batch(&self, ids: &[u32]) -> StoreResult<Vec<(u32, Bytes)>> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(record) = self.load_prekey(id).await? {
                out.push((id, record));
            }
        }
        Ok(out)
    }

    /// Whether prekey `id` is marked uploaded; `None` when it does not exist.
    ///
    /// Not in the reference trait: it makes the upload flag observable, so the
    /// conformance battery can check [`SignalStore::mark_prekeys_uploaded`].
    async fn is_prekey_uploaded(&self, id: u32) -> StoreResult<Option<bool>>;

    /// Marks the existing prekeys among `ids` as uploaded. Update only: an id
    /// that does not exist (for example a key consumed since the upload began)
    /// stays absent, never recreated.
    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> StoreResult<()>;

    /// Removes prekey `id` (it was consumed by a session).
    async fn remove_prekey(&self, id: u32) -> StoreResult<()>;

    /// The largest prekey id stored, or 0 when there is none.
    async fn get_max_prekey_id(&self) -> StoreResult<u32>;

    /// Stores (or replaces) signed prekey `id`.
    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> StoreResult<()>;

    /// The record of signed prekey `id`.
    async fn load_signed_prekey(&self, id: u32) -> StoreResult<Option<Vec<u8>>>;

    /// Every signed prekey as `(id, record)`, by ascending id.
    async fn load_all_signed_prekeys(&self) -> StoreResult<Vec<(u32, Vec<u8>)>>;

    /// Removes signed prekey `id`.
    async fn remove_signed_prekey(&self, id: u32) -> StoreResult<()>;

    /// Stores (or replaces) a sender-key record.
    async fn put_sender_key(&self, address: &str, record: &[u8]) -> StoreResult<()>;

    /// The sender-key record stored for `address`.
    async fn get_sender_key(&self, address: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Deletes the sender-key record of `address`.
    async fn delete_sender_key(&self, address: &str) -> StoreResult<()>;

    /// Applies every operation of `batch` in one transaction and returns
    /// `Ok(true)`, or returns `Ok(false)` without writing anything when the
    /// backend cannot (the default): [`apply_batch`](super::apply_batch) then
    /// applies the operations one by one, which is not atomic. A backend that
    /// returns `Ok(true)` promises all-or-nothing, also across a crash.
    async fn apply_batch_atomic(&self, batch: &super::WriteBatch) -> StoreResult<bool> {
        let _ = batch;
        Ok(false)
    }
}

/// App-state sync: sync keys, collection versions and the mutation MACs that
/// back each collection's LTHash. A collection is named by its patch name
/// (`critical_block`, `regular_high`, ...).
#[async_trait]
pub trait AppSyncStore: Send + Sync {
    /// The sync key with id `key_id`.
    async fn get_sync_key(&self, key_id: &[u8]) -> StoreResult<Option<AppStateSyncKey>>;

    /// Stores (or replaces) a sync key; `key_id` becomes the latest key id.
    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> StoreResult<()>;

    /// The `key_id` of the most recent [`AppSyncStore::set_sync_key`] call, or
    /// `None` when no key was ever set.
    async fn get_latest_sync_key_id(&self) -> StoreResult<Option<Vec<u8>>>;

    /// The state of collection `name`; `None` means it never synced (the next
    /// sync asks for a snapshot), which is different from a synced, empty
    /// collection at version 0.
    async fn get_version(&self, name: &str) -> StoreResult<Option<HashState>>;

    /// Stores (or replaces) the state of collection `name`.
    async fn set_version(&self, name: &str, state: HashState) -> StoreResult<()>;

    /// Forgets the state of collection `name`, returning it to "never synced".
    async fn delete_version(&self, name: &str) -> StoreResult<()>;

    /// Stores the value MACs of one patch or snapshot of collection `name` at
    /// `version`, all or none; an index MAC already present is replaced.
    async fn put_mutation_macs(
        &self,
        name: &str,
        version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> StoreResult<()>;

    /// The value MAC stored for `index_mac` in collection `name`.
    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> StoreResult<Option<Vec<u8>>>;

    /// Deletes the given index MACs from collection `name`, all or none;
    /// missing ones are ignored.
    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> StoreResult<()>;

    /// Deletes every MAC of collection `name` (before applying a snapshot).
    /// Other collections, including ones whose name starts with `name`, are
    /// untouched.
    async fn clear_mutation_macs(&self, name: &str) -> StoreResult<()>;
}

/// WhatsApp protocol bookkeeping: sender-key distribution per group, LID ↔ PN
/// mappings, retry base keys, device lists, trusted-contact tokens, sent
/// messages kept for retries and the inbox of decrypted messages.
///
/// # The inbox
///
/// The inbox holds decrypted incoming messages ([`InboxEntry`]) until the
/// application acknowledges them. The messaging layer writes an entry in the
/// same [`WriteBatch`](super::WriteBatch) that advances the Signal session
/// ([`WriteOp::PutInbox`](super::WriteOp::PutInbox)) and removes it when the
/// application acknowledges the message; after a crash or a restart,
/// [`ProtocolStore::list_inbox`] returns what is still there, to be delivered
/// again. Delivery is therefore at least once, and the application recognises a
/// repeat by `(chat, id)`.
///
/// The three inbox methods have default implementations that return
/// [`StoreError::Unsupported`] ([`StoreError::no_inbox`]), so a backend written
/// before the inbox existed still compiles and works. With such a backend the
/// client cannot promise at-least-once delivery across a crash: a message whose
/// session advanced but that the application had not yet taken is lost.
#[async_trait]
pub trait ProtocolStore: Send + Sync {
    /// Every device tracked for `group_jid` as `(device_jid, has_sender_key)`,
    /// by ascending device JID.
    async fn get_sender_key_devices(&self, group_jid: &str) -> StoreResult<Vec<(String, bool)>>;

    /// Sets the sender-key status of several devices of `group_jid`, all or
    /// none; later entries for the same device win.
    async fn set_sender_key_status(
        &self,
        group_jid: &str,
        entries: &[(&str, bool)],
    ) -> StoreResult<()>;

    /// Forgets every device tracked for `group_jid` (on sender-key rotation).
    async fn clear_sender_key_devices(&self, group_jid: &str) -> StoreResult<()>;

    /// The mapping whose LID is `lid`.
    async fn get_lid_mapping(&self, lid: &str) -> StoreResult<Option<LidPnMappingEntry>>;

    /// The newest mapping whose phone number is `phone`: the one with the
    /// largest `updated_at`, ties broken by the larger `lid` (byte order), so
    /// every backend picks the same one whatever the write order.
    async fn get_pn_mapping(&self, phone: &str) -> StoreResult<Option<LidPnMappingEntry>>;

    /// Stores a mapping keyed by its LID, replacing the previous mapping of
    /// that LID (which then no longer answers for its old phone number).
    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> StoreResult<()>;

    /// Stores many mappings, all or none; later entries for the same LID win.
    /// The default loops over [`ProtocolStore::put_lid_mapping`] (not atomic);
    /// backends override it.
    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> StoreResult<()> {
        for entry in entries {
            self.put_lid_mapping(entry).await?;
        }
        Ok(())
    }

    /// Every mapping, by ascending LID.
    async fn get_all_lid_mappings(&self) -> StoreResult<Vec<LidPnMappingEntry>>;

    /// Records the base key seen for `(address, message_id)` during retry
    /// collision detection, replacing any earlier one.
    async fn save_base_key(
        &self,
        address: &str,
        message_id: &str,
        base_key: &[u8],
    ) -> StoreResult<()>;

    /// Whether a base key was saved for `(address, message_id)` and equals
    /// `current_base_key`.
    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> StoreResult<bool>;

    /// Deletes the base key of `(address, message_id)`.
    async fn delete_base_key(&self, address: &str, message_id: &str) -> StoreResult<()>;

    /// Stores (or replaces) the device list of `record.user`.
    async fn update_device_list(&self, record: DeviceListRecord) -> StoreResult<()>;

    /// The device list stored for `user`.
    async fn get_devices(&self, user: &str) -> StoreResult<Option<DeviceListRecord>>;

    /// Deletes the device list of `user`, forcing a fetch next time.
    async fn delete_devices(&self, user: &str) -> StoreResult<()>;

    /// The trusted-contact token stored for `jid`.
    async fn get_tc_token(&self, jid: &str) -> StoreResult<Option<TcTokenEntry>>;

    /// Stores (or replaces) the trusted-contact token of `jid`.
    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> StoreResult<()>;

    /// Deletes the trusted-contact token of `jid`.
    async fn delete_tc_token(&self, jid: &str) -> StoreResult<()>;

    /// Every JID holding a token, ascending.
    async fn get_all_tc_token_jids(&self) -> StoreResult<Vec<String>>;

    /// Deletes the token rows with nothing live left and returns how many.
    ///
    /// A row's received token is live when it is non-empty and
    /// `token_timestamp >= token_cutoff`; its sender side is live when
    /// `sender_timestamp` is set and `>= sender_cutoff`. A row is deleted when
    /// neither is live (so a row stamped exactly at a cut-off is kept).
    async fn delete_expired_tc_tokens(
        &self,
        token_cutoff: i64,
        sender_cutoff: i64,
    ) -> StoreResult<u32>;

    /// Keeps the serialized payload of a message we sent, for answering retry
    /// receipts; replaces an earlier payload with the same key.
    ///
    /// Differs from the reference trait: the caller passes `sent_at` (unix
    /// seconds) because the store never reads a clock; it is what
    /// [`ProtocolStore::delete_expired_sent_messages`] compares.
    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
        sent_at: i64,
    ) -> StoreResult<()>;

    /// Removes and returns a sent message's payload, atomically: when several
    /// callers take the same message at once, exactly one gets it.
    async fn take_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
    ) -> StoreResult<Option<Vec<u8>>>;

    /// Deletes sent messages with `sent_at < cutoff` and returns how many.
    async fn delete_expired_sent_messages(&self, cutoff: i64) -> StoreResult<u32>;

    /// Puts a decrypted message in the inbox, keyed by `(entry.chat, entry.id)`.
    /// An entry with the same key is replaced whole (its sender, payload and
    /// timestamp, hence its place in [`ProtocolStore::list_inbox`]'s order). A
    /// persistent backend keeps entries across restarts until
    /// [`ProtocolStore::remove_inbox`].
    ///
    /// Not in the reference trait. The default returns
    /// [`StoreError::no_inbox`] and writes nothing; see the
    /// [trait docs](ProtocolStore#the-inbox) for what that costs.
    async fn put_inbox(&self, entry: &InboxEntry) -> StoreResult<()> {
        let _ = entry;
        Err(StoreError::no_inbox())
    }

    /// Removes the inbox entry `(chat, id)` (the application acknowledged the
    /// message). Removing an entry that is not there is `Ok(())`, so an
    /// acknowledgement can be repeated.
    ///
    /// Not in the reference trait. The default returns
    /// [`StoreError::no_inbox`].
    async fn remove_inbox(&self, chat: &str, id: &str) -> StoreResult<()> {
        let _ = (chat, id);
        Err(StoreError::no_inbox())
    }

    /// The first `limit` inbox entries in ascending `(timestamp, chat, id)`
    /// order (strings compared byte for byte), without removing them; fewer
    /// when the inbox holds fewer, none when `limit` is 0. To page through a
    /// large inbox, deliver and remove the entries returned, then list again.
    ///
    /// Not in the reference trait. The default returns
    /// [`StoreError::no_inbox`]; `list_inbox(0)` is a cheap way to ask a
    /// backend whether it has an inbox.
    async fn list_inbox(&self, limit: usize) -> StoreResult<Vec<InboxEntry>> {
        let _ = limit;
        Err(StoreError::no_inbox())
    }
}

/// The device's own record and store-level operations.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Stores (or replaces) this handle's device.
    async fn save(&self, device: &Device) -> StoreResult<()>;

    /// This handle's device, if one was saved.
    async fn load(&self) -> StoreResult<Option<Device>>;

    /// Whether a device was saved for this handle.
    async fn exists(&self) -> StoreResult<bool>;

    /// Reserves a new device id in the underlying storage and returns it. The
    /// id is positive, differs from every id an earlier `create` returned, and
    /// no rows exist under it yet. It saves no device (no handle's
    /// [`DeviceStore::exists`] changes). How to get a handle for the id is the
    /// backend's own API (e.g. `for_device(id)`).
    async fn create(&self) -> StoreResult<i32>;

    /// Takes a consistent snapshot of the whole storage labelled `name`, with
    /// an optional related blob (e.g. the input that triggered a failure), for
    /// later inspection. Where the snapshot lives is the backend's choice and
    /// is documented by it; a later snapshot with the same name replaces the
    /// earlier one; the live store is unchanged.
    async fn snapshot_db(&self, name: &str, extra: Option<&[u8]>) -> StoreResult<()>;
}

/// A complete store: all four traits. Implemented automatically for every
/// type that implements them; the client holds an `Arc<dyn Backend>`.
pub trait Backend: SignalStore + AppSyncStore + ProtocolStore + DeviceStore + Send + Sync {}

impl<T> Backend for T where T: SignalStore + AppSyncStore + ProtocolStore + DeviceStore + Send + Sync
{}
