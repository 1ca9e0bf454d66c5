//! [`Pending`]: the writes of finished jobs whose batch is not committed yet,
//! as later jobs' reads must see them. With it a driver can run a burst of jobs
//! (an offline backlog) and commit them in one durable transaction: each job's
//! [`Need`] is loaded from the store and then overlaid with the pending writes,
//! the outcomes' batches are concatenated, and the stanzas of the whole group
//! leave after its commit ("commit before receipt" holds for every message).

use std::collections::HashMap;

use bytes::Bytes;

use super::{Job, Need, Outcome, Records, SentPayload, Step};
use crate::store::{Backend, DeviceListRecord, StoreResult, WriteBatch, WriteOp};

/// Uncommitted writes, by what reads would see (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Pending {
    batch: WriteBatch,
    sessions: HashMap<String, Option<Bytes>>,
    identities: HashMap<String, [u8; 32]>,
    prekeys: HashMap<u32, Option<Bytes>>,
    signed_prekeys: HashMap<u32, Bytes>,
    sender_keys: HashMap<String, Option<Bytes>>,
    device_lists: HashMap<String, DeviceListRecord>,
    lid_of: HashMap<String, String>,
    sent_messages: HashMap<(String, String), SentPayload>,
}

impl Pending {
    /// Nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Adds a finished job's batch (in job order).
    pub fn add(&mut self, batch: &WriteBatch) {
        for op in batch.ops() {
            self.note(op);
        }
        self.batch.extend(batch.clone());
    }

    fn note(&mut self, op: &WriteOp) {
        match op {
            WriteOp::PutSession { address, record } => {
                self.sessions.insert(address.clone(), Some(record.clone()));
            }
            WriteOp::DeleteSession { address } => {
                self.sessions.insert(address.clone(), None);
            }
            WriteOp::PutIdentity { address, key } => {
                self.identities.insert(address.clone(), *key);
            }
            WriteOp::StorePreKeys { keys, .. } => {
                for (id, record) in keys {
                    self.prekeys.insert(*id, Some(record.clone()));
                }
            }
            WriteOp::RemovePreKey { id } => {
                self.prekeys.insert(*id, None);
            }
            WriteOp::StoreSignedPreKey { id, record } => {
                self.signed_prekeys.insert(*id, record.clone());
            }
            WriteOp::PutSenderKey { name, record } => {
                self.sender_keys.insert(name.clone(), Some(record.clone()));
            }
            WriteOp::DeleteSenderKey { name } => {
                self.sender_keys.insert(name.clone(), None);
            }
            WriteOp::StoreSentMessage {
                chat,
                id,
                payload,
                sent_at,
            } => {
                self.sent_messages
                    .insert((chat.clone(), id.clone()), (payload.to_vec(), *sent_at));
            }
            WriteOp::UpdateDeviceList(record) => {
                self.device_lists
                    .insert(record.user.clone(), record.clone());
            }
            WriteOp::PutLidMapping(entry) => {
                self.lid_of
                    .insert(entry.phone_number.clone(), entry.lid.clone());
            }
            // Nothing a job reads through `Need`.
            WriteOp::MarkPreKeysUploaded { .. }
            | WriteOp::SetSenderKeyStatus { .. }
            | WriteOp::SaveDevice(_)
            | WriteOp::AdvancePreKeyCounter { .. }
            | WriteOp::SetSignedPreKey(_)
            | WriteOp::PutInbox(_)
            | WriteOp::RemoveInbox { .. } => {}
        }
    }

    /// Loads `need` from `store` and overlays the pending writes.
    pub async fn load(&self, need: &Need, store: &(impl Backend + ?Sized)) -> StoreResult<Records> {
        // Sent messages only pending are not taken from the store (the Need is
        // copied only then: receive jobs never ask for sent messages).
        let mut records = if need
            .sent_messages
            .iter()
            .any(|k| self.sent_messages.contains_key(k))
        {
            let mut from_store = need.clone();
            from_store
                .sent_messages
                .retain(|k| !self.sent_messages.contains_key(k));
            from_store.load(store).await?
        } else {
            need.load(store).await?
        };
        for a in &need.sessions {
            if let Some(v) = self.sessions.get(a) {
                records.sessions.insert(a.clone(), v.clone());
            }
        }
        for a in &need.identities {
            if let Some(k) = self.identities.get(a) {
                records.identities.insert(a.clone(), Some(*k));
            }
        }
        for id in &need.prekeys {
            if let Some(v) = self.prekeys.get(id) {
                records.prekeys.insert(*id, v.clone());
            }
        }
        for id in &need.signed_prekeys {
            if let Some(v) = self.signed_prekeys.get(id) {
                records.signed_prekeys.insert(*id, Some(v.clone()));
            }
        }
        for n in &need.sender_keys {
            if let Some(v) = self.sender_keys.get(n) {
                records.sender_keys.insert(n.clone(), v.clone());
            }
        }
        for u in &need.device_lists {
            if let Some(v) = self.device_lists.get(u) {
                records.device_lists.insert(u.clone(), Some(v.clone()));
            }
        }
        for u in &need.lid_of {
            if let Some(l) = self.lid_of.get(u) {
                records.lid_of.insert(u.clone(), Some(l.clone()));
            }
        }
        for k in &need.sent_messages {
            if let Some(v) = self.sent_messages.get(k) {
                records.sent_messages.insert(k.clone(), Some(v.clone()));
            }
        }
        Ok(records)
    }

    /// Runs `job` inside this group: its loads read through the group's
    /// writes, its batches join the group, and a query (which a receive never
    /// makes) is answered with an error. Returns its outcome, whose batch is
    /// already part of the group: commit [`take`](Self::take) before sending
    /// the outcome's stanzas. The caller still passes the outcome to
    /// [`Messenger::observe`](super::Messenger::observe).
    pub async fn run(
        &mut self,
        mut job: Job,
        store: &(impl Backend + ?Sized),
    ) -> StoreResult<Outcome> {
        loop {
            match job.step() {
                Step::Load(need) => job.provide(self.load(&need, store).await?),
                Step::Query(_) => job.answer(Err("no queries inside a group".into())),
                Step::Commit(batch) => {
                    self.add(&batch);
                    job.committed();
                }
                Step::Done(outcome) => {
                    self.add(&outcome.batch);
                    return Ok(outcome);
                }
            }
        }
    }

    /// Takes the concatenated batch to commit, leaving nothing pending.
    pub fn take(&mut self) -> WriteBatch {
        let batch = std::mem::take(&mut self.batch);
        *self = Pending::default();
        batch
    }
}
