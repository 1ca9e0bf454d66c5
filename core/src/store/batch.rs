//! [`WriteBatch`]: the writes of one unit of work, across every record family,
//! applied together.
//!
//! Messaging makes several writes per message (a session, a consumed prekey,
//! an identity, a sent message, the decrypted message for the inbox …) that
//! must land together: a crash between
//! them would leave, say, a session advanced past a message whose decryption
//! was never recorded. A backend that can apply a batch in one transaction
//! overrides [`SignalStore::apply_batch_atomic`] and returns `Ok(true)`;
//! [`MemoryStore`](super::MemoryStore) and `wa-store-redb` do. For other
//! backends (written against the trait methods only) [`apply_batch`] falls back
//! to applying the operations one by one, in order, which is **not atomic**: a
//! crash can leave a prefix of the batch applied.
//!
//! ```
//! use wa_core::store::{MemoryStore, SignalStore, WriteBatch, apply_batch};
//!
//! smol::block_on(async {
//!     let store = MemoryStore::new();
//!     let mut batch = WriteBatch::new();
//!     batch.put_session("15550001@c.us.0", vec![1, 2, 3]);
//!     batch.remove_prekey(17);
//!     batch.put_identity("15550001@c.us.0", [9; 32]);
//!     let atomic = apply_batch(&store, &batch).await?;
//!     assert!(atomic);
//!     assert_eq!(store.load_identity("15550001@c.us.0").await?, Some([9; 32]));
//!     Ok::<_, wa_core::store::StoreError>(())
//! })
//! .unwrap();
//! ```

use bytes::Bytes;

use super::error::StoreResult;
use super::traits::Backend;
use super::types::{Device, DeviceListRecord, InboxEntry, LidPnMappingEntry};

/// One write of a [`WriteBatch`]. Each has the meaning of the store method it
/// is named after.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WriteOp {
    /// `SignalStore::put_session`.
    PutSession {
        /// Signal address.
        address: String,
        /// Session record bytes.
        record: Bytes,
    },
    /// `SignalStore::delete_session`.
    DeleteSession {
        /// Signal address.
        address: String,
    },
    /// `SignalStore::put_identity`.
    PutIdentity {
        /// Signal address.
        address: String,
        /// The identity key.
        key: [u8; 32],
    },
    /// `SignalStore::store_prekeys_batch`.
    StorePreKeys {
        /// (id, record) pairs.
        keys: Vec<(u32, Bytes)>,
        /// Whether they are already on the server.
        uploaded: bool,
    },
    /// `SignalStore::mark_prekeys_uploaded`.
    MarkPreKeysUploaded {
        /// The ids.
        ids: Vec<u32>,
    },
    /// `SignalStore::remove_prekey`.
    RemovePreKey {
        /// The id.
        id: u32,
    },
    /// `SignalStore::store_signed_prekey`.
    StoreSignedPreKey {
        /// The id.
        id: u32,
        /// Record bytes.
        record: Bytes,
    },
    /// `SignalStore::put_sender_key`.
    PutSenderKey {
        /// Sender-key name (group and sender address).
        name: String,
        /// Record bytes.
        record: Bytes,
    },
    /// `SignalStore::delete_sender_key`.
    DeleteSenderKey {
        /// Sender-key name.
        name: String,
    },
    /// `ProtocolStore::store_sent_message`.
    StoreSentMessage {
        /// Chat JID.
        chat: String,
        /// Message id.
        id: String,
        /// Payload.
        payload: Bytes,
        /// Unix seconds.
        sent_at: i64,
    },
    /// `ProtocolStore::update_device_list`.
    UpdateDeviceList(DeviceListRecord),
    /// `ProtocolStore::put_lid_mapping`.
    PutLidMapping(LidPnMappingEntry),
    /// `ProtocolStore::set_sender_key_status`.
    SetSenderKeyStatus {
        /// Group JID.
        group: String,
        /// (device JID, has key) pairs.
        entries: Vec<(String, bool)>,
    },
    /// `DeviceStore::save`.
    SaveDevice(Box<Device>),
    /// Raises the saved device's `next_pre_key_id` to at least `next` (never
    /// lowers it); nothing happens when no device is saved.
    AdvancePreKeyCounter {
        /// The lowest id not yet handed out.
        next: u32,
    },
    /// Replaces the saved device's signed prekey and its rotation time —
    /// only while the saved device still has `identity` as its identity key
    /// (a device wiped or linked anew meanwhile is left alone); nothing
    /// happens when no device is saved.
    SetSignedPreKey(Box<SignedPreKeyUpdate>),
    /// `ProtocolStore::put_inbox`: a decrypted message, stored with the session
    /// write that decrypted it.
    PutInbox(InboxEntry),
    /// `ProtocolStore::remove_inbox`.
    RemoveInbox {
        /// Chat JID.
        chat: String,
        /// Message id.
        id: String,
    },
}

impl WriteOp {
    /// Whether the operation writes the inbox, which not every backend has
    /// (see [`ProtocolStore`](super::ProtocolStore#the-inbox)).
    pub fn is_inbox(&self) -> bool {
        matches!(self, WriteOp::PutInbox(_) | WriteOp::RemoveInbox { .. })
    }
}

/// The writes of one unit of work, in order. Build it with the methods below,
/// apply it with [`apply_batch`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Appends an operation.
    pub fn push(&mut self, op: WriteOp) {
        self.ops.push(op);
    }

    /// Appends all of `other`'s operations.
    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }

    /// Adds a session write.
    pub fn put_session(&mut self, address: impl Into<String>, record: impl Into<Bytes>) {
        self.push(WriteOp::PutSession {
            address: address.into(),
            record: record.into(),
        });
    }

    /// Adds an identity write.
    pub fn put_identity(&mut self, address: impl Into<String>, key: [u8; 32]) {
        self.push(WriteOp::PutIdentity {
            address: address.into(),
            key,
        });
    }

    /// Adds a prekey removal.
    pub fn remove_prekey(&mut self, id: u32) {
        self.push(WriteOp::RemovePreKey { id });
    }

    /// Adds a sender-key write.
    pub fn put_sender_key(&mut self, name: impl Into<String>, record: impl Into<Bytes>) {
        self.push(WriteOp::PutSenderKey {
            name: name.into(),
            record: record.into(),
        });
    }

    /// Adds a device save.
    pub fn save_device(&mut self, device: Device) {
        self.push(WriteOp::SaveDevice(Box::new(device)));
    }

    /// Adds an inbox write (replacing an entry with the same chat and id).
    pub fn put_inbox(&mut self, entry: InboxEntry) {
        self.push(WriteOp::PutInbox(entry));
    }

    /// Adds an inbox removal.
    pub fn remove_inbox(&mut self, chat: impl Into<String>, id: impl Into<String>) {
        self.push(WriteOp::RemoveInbox {
            chat: chat.into(),
            id: id.into(),
        });
    }

    /// Applies the operations one by one through the trait methods (not
    /// atomic: a failure or a crash can leave a prefix applied).
    ///
    /// When the batch writes the inbox, the backend is first asked whether it
    /// has one (`list_inbox(0)`), so a backend without an inbox fails with
    /// [`StoreError::Unsupported`](super::StoreError::Unsupported) before
    /// anything is written rather than after the operations ahead of the
    /// inbox write.
    pub async fn apply_each(&self, store: &(impl Backend + ?Sized)) -> StoreResult<()> {
        if self.ops.iter().any(WriteOp::is_inbox) {
            store.list_inbox(0).await?;
        }
        for op in &self.ops {
            match op {
                WriteOp::PutSession { address, record } => {
                    store.put_session(address, record).await?
                }
                WriteOp::DeleteSession { address } => store.delete_session(address).await?,
                WriteOp::PutIdentity { address, key } => store.put_identity(address, *key).await?,
                WriteOp::StorePreKeys { keys, uploaded } => {
                    store.store_prekeys_batch(keys, *uploaded).await?
                }
                WriteOp::MarkPreKeysUploaded { ids } => store.mark_prekeys_uploaded(ids).await?,
                WriteOp::RemovePreKey { id } => store.remove_prekey(*id).await?,
                WriteOp::StoreSignedPreKey { id, record } => {
                    store.store_signed_prekey(*id, record).await?
                }
                WriteOp::PutSenderKey { name, record } => {
                    store.put_sender_key(name, record).await?
                }
                WriteOp::DeleteSenderKey { name } => store.delete_sender_key(name).await?,
                WriteOp::StoreSentMessage {
                    chat,
                    id,
                    payload,
                    sent_at,
                } => {
                    store
                        .store_sent_message(chat, id, payload, *sent_at)
                        .await?
                }
                WriteOp::UpdateDeviceList(record) => {
                    store.update_device_list(record.clone()).await?
                }
                WriteOp::PutLidMapping(entry) => store.put_lid_mapping(entry).await?,
                WriteOp::SetSenderKeyStatus { group, entries } => {
                    let entries: Vec<(&str, bool)> =
                        entries.iter().map(|(d, k)| (d.as_str(), *k)).collect();
                    store.set_sender_key_status(group, &entries).await?
                }
                WriteOp::SaveDevice(device) => store.save(device).await?,
                WriteOp::AdvancePreKeyCounter { next } => {
                    if let Some(mut device) = store.load().await?
                        && device.next_pre_key_id < *next
                    {
                        device.next_pre_key_id = *next;
                        store.save(&device).await?;
                    }
                }
                WriteOp::SetSignedPreKey(update) => {
                    if let Some(mut device) = store.load().await?
                        && update.apply(&mut device)
                    {
                        store.save(&device).await?;
                    }
                }
                WriteOp::PutInbox(entry) => store.put_inbox(entry).await?,
                WriteOp::RemoveInbox { chat, id } => store.remove_inbox(chat, id).await?,
            }
        }
        Ok(())
    }
}

/// Applies `batch`: in one transaction when the backend can
/// ([`SignalStore::apply_batch_atomic`](super::SignalStore::apply_batch_atomic)),
/// otherwise operation by operation. Returns whether it was atomic.
pub async fn apply_batch(store: &(impl Backend + ?Sized), batch: &WriteBatch) -> StoreResult<bool> {
    if batch.is_empty() {
        return Ok(true);
    }
    if store.apply_batch_atomic(batch).await? {
        return Ok(true);
    }
    batch.apply_each(store).await?;
    Ok(false)
}

/// A new signed prekey for the saved device ([`WriteOp::SetSignedPreKey`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SignedPreKeyUpdate {
    /// The identity key the saved device must still have.
    pub identity: [u8; 32],
    /// The signed prekey's id.
    pub id: u32,
    /// Its key pair.
    pub key: crate::keys::KeyPair,
    /// The identity key's signature of its public key.
    pub signature: [u8; 64],
    /// When it was last rotated (unix ms).
    pub rotated_at_ms: i64,
}

impl SignedPreKeyUpdate {
    /// The update of `device`'s current signed prekey.
    pub fn of(device: &Device) -> Self {
        SignedPreKeyUpdate {
            identity: device.identity_key.public,
            id: device.signed_pre_key_id,
            key: device.signed_pre_key.clone(),
            signature: device.signed_pre_key_signature,
            rotated_at_ms: device.last_signed_pre_key_rotation_ms,
        }
    }

    /// Applies it to `device`; `false` (nothing changed) when the device has
    /// another identity.
    pub fn apply(&self, device: &mut Device) -> bool {
        if device.identity_key.public != self.identity {
            return false;
        }
        device.signed_pre_key_id = self.id;
        device.signed_pre_key = self.key.clone();
        device.signed_pre_key_signature = self.signature;
        device.last_signed_pre_key_rotation_ms = self.rotated_at_ms;
        true
    }
}
