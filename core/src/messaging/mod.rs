//! Messaging jobs: the core decides, the driver executes.
//!
//! A unit of messaging work (an incoming `<message>`, a send, a prekey refill)
//! is a **job**. A job never touches a store or a socket. It asks the driver for
//! what it needs, one [`Step`] at a time:
//!
//! - [`Step::Load`]: read these records ([`Need`]) and hand them back with
//!   [`Job::provide`] (`Need::load` does it for any [`Backend`]);
//! - [`Step::Query`]: send this IQ and hand back the answer with
//!   [`Job::answer`];
//! - [`Step::Commit`]: make this [`WriteBatch`] durable, then call
//!   [`Job::committed`] (used when something must be on disk before the job
//!   goes on, e.g. new prekeys before they are uploaded);
//! - [`Step::Done`]: commit the [`Outcome`]'s batch, **then** send its stanzas,
//!   **then** emit its events. Nothing leaves before the state that produced it
//!   is durable ("writes before wire"), and no receipt leaves before the
//!   decrypted message is stored.
//!
//! Jobs that touch the same Signal address must not run at the same time; the
//! simplest driver runs jobs one after another.
//!
//! ```
//! # use wa_core::messaging::{Job, Step};
//! # async fn drive(mut job: Job, store: &dyn wa_core::store::Backend) -> Result<(), Box<dyn std::error::Error>> {
//! loop {
//!     match job.step() {
//!         Step::Load(need) => job.provide(need.load(store).await?),
//!         Step::Query(_iq) => job.answer(Err("no network in this example".into())),
//!         Step::Commit(batch) => {
//!             wa_core::store::apply_batch(store, &batch).await?;
//!             job.committed();
//!         }
//!         Step::Done(outcome) => {
//!             wa_core::store::apply_batch(store, &outcome.batch).await?;
//!             // send outcome.stanzas, then emit outcome.events
//!             return Ok(());
//!         }
//!     }
//! }
//! # }
//! ```

mod pending;
mod prekeys;
mod receive;
mod retry;
mod send;

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::binary::{Jid, Node};
use crate::message::{Message, MessageId};
use crate::signal::{IdentityKeyPair, PrivateKey, PublicKey, SignedPreKeyRecord};
use crate::store::{Backend, Device, DeviceListRecord, StoreResult, WriteBatch};

pub use pending::Pending;
pub use prekeys::{DigestCheck, MIN_SERVER_PREKEYS, PREKEY_BATCH, SIGNED_PREKEY_ROTATION_MS};
pub use receive::ReceivedMessage;
pub use retry::MAX_RETRIES;

/// Our own device, as the jobs need it.
#[derive(Clone)]
pub struct OwnDevice {
    /// Our device JID (phone-number form, with device).
    pub jid: Jid,
    /// Our LID device JID, if known.
    pub lid: Option<Jid>,
    /// Identity key pair.
    pub identity: IdentityKeyPair,
    /// Registration id.
    pub registration_id: u32,
    /// The current signed prekey.
    pub signed_pre_key: SignedPreKeyRecord,
    /// Our account-signed device identity (`<device-identity>` content).
    pub device_identity: Vec<u8>,
    /// The next one-time prekey id (from the persistent counter).
    pub next_pre_key_id: u32,
}

impl OwnDevice {
    /// The messaging view of a registered [`Device`]; `None` before pairing
    /// (no JID or account).
    pub fn from_device(device: &Device) -> Option<Self> {
        let jid: Jid = device.pn.clone()?;
        let lid = device.lid.clone();
        let identity = IdentityKeyPair::from_parts(
            PublicKey::from_raw(device.identity_key.public),
            PrivateKey::from_bytes(device.identity_key.private),
        );
        let signed_pre_key = SignedPreKeyRecord::from_parts(
            device.signed_pre_key_id,
            PublicKey::from_raw(device.signed_pre_key.public),
            PrivateKey::from_bytes(device.signed_pre_key.private),
            device.signed_pre_key_signature,
            0,
        );
        Some(OwnDevice {
            jid,
            lid,
            identity,
            registration_id: device.registration_id,
            signed_pre_key,
            device_identity: device.account.clone()?,
            next_pre_key_id: device.next_pre_key_id.max(1),
        })
    }
}

impl fmt::Debug for OwnDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnDevice")
            .field("jid", &self.jid)
            .field("lid", &self.lid)
            .field("registration_id", &self.registration_id)
            .finish_non_exhaustive()
    }
}

/// Records a job asks for. Keys are Signal addresses (sessions, identities),
/// prekey ids, sender-key names and users (device lists, by user part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Need {
    /// Session records.
    pub sessions: Vec<String>,
    /// Identity keys.
    pub identities: Vec<String>,
    /// One-time prekeys.
    pub prekeys: Vec<u32>,
    /// Signed prekeys (other than the current one, which the job has).
    pub signed_prekeys: Vec<u32>,
    /// Sender-key records.
    pub sender_keys: Vec<String>,
    /// Device lists, by user part.
    pub device_lists: Vec<String>,
    /// LID users of these phone-number users (from the stored mappings).
    pub lid_of: Vec<String>,
    /// Messages we sent, by (chat, id). Loading **takes** them out of the store
    /// (the store has no plain read for them); the job's outcome puts them back.
    pub sent_messages: Vec<(String, String)>,
    /// Which devices hold our sender key, by group JID. ([`Pending`] does not
    /// overlay these: only sends, which run alone, ask for them.)
    pub sender_key_devices: Vec<String>,
    /// Group participants, by group JID. The store keeps no group metadata:
    /// [`Need::load`] answers "unknown"; a driver with a group cache answers
    /// from it (a miss makes the job ask the server).
    pub groups: Vec<String>,
}

impl Need {
    /// Loads everything from `store`.
    pub async fn load(&self, store: &(impl Backend + ?Sized)) -> StoreResult<Records> {
        let mut r = Records::default();
        for a in &self.sessions {
            r.sessions.insert(a.clone(), store.get_session(a).await?);
        }
        for a in &self.identities {
            r.identities
                .insert(a.clone(), store.load_identity(a).await?);
        }
        for id in &self.prekeys {
            r.prekeys.insert(*id, store.load_prekey(*id).await?);
        }
        for id in &self.signed_prekeys {
            r.signed_prekeys
                .insert(*id, store.load_signed_prekey(*id).await?.map(Bytes::from));
        }
        for n in &self.sender_keys {
            r.sender_keys
                .insert(n.clone(), store.get_sender_key(n).await?.map(Bytes::from));
        }
        for u in &self.device_lists {
            r.device_lists
                .insert(u.clone(), store.get_devices(u).await?);
        }
        for user in &self.lid_of {
            r.lid_of.insert(
                user.clone(),
                store.get_pn_mapping(user).await?.map(|m| m.lid),
            );
        }
        for group in &self.groups {
            r.groups.insert(group.clone(), None);
        }
        for group in &self.sender_key_devices {
            r.sender_key_devices
                .insert(group.clone(), store.get_sender_key_devices(group).await?);
        }
        for (chat, id) in &self.sent_messages {
            // The time is not kept by `take_sent_message`; the job stores the
            // payload back stamped with the time it ran.
            let taken = store.take_sent_message(chat, id).await?;
            r.sent_messages
                .insert((chat.clone(), id.clone()), taken.map(|p| (p, 0)));
        }
        Ok(r)
    }

    /// Whether nothing is needed.
    pub fn is_empty(&self) -> bool {
        *self == Need::default()
    }
}

/// A sent message's payload and sent time (0 when unknown).
pub type SentPayload = (Vec<u8>, i64);

/// What the driver loaded for a [`Need`]; absent keys read as missing.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// Session records by address.
    pub sessions: HashMap<String, Option<Bytes>>,
    /// Identity keys by address.
    pub identities: HashMap<String, Option<[u8; 32]>>,
    /// Prekey records by id.
    pub prekeys: HashMap<u32, Option<Bytes>>,
    /// Signed prekey records by id.
    pub signed_prekeys: HashMap<u32, Option<Bytes>>,
    /// Sender-key records by name.
    pub sender_keys: HashMap<String, Option<Bytes>>,
    /// Device lists by user.
    pub device_lists: HashMap<String, Option<DeviceListRecord>>,
    /// LID user of phone-number users, where a mapping is stored.
    pub lid_of: HashMap<String, Option<String>>,
    /// Sent messages by (chat, id): payload and sent time (0 when unknown).
    pub sent_messages: HashMap<(String, String), Option<SentPayload>>,
    /// Devices and whether they hold our sender key, by group JID.
    pub sender_key_devices: HashMap<String, Vec<(String, bool)>>,
    /// Participants (user JIDs) by group JID, where known.
    pub groups: HashMap<String, Option<Vec<Jid>>>,
}

impl Records {
    fn session(&self, address: &str) -> Option<&Bytes> {
        self.sessions.get(address).and_then(Option::as_ref)
    }

    /// The LID form of a phone-number device, when its user's mapping is
    /// known; other JIDs as they are.
    fn lid_form(&self, device: &Jid) -> Jid {
        if device.is_pn()
            && let Some(Some(lid)) = self.lid_of.get(device.user())
        {
            return Jid::lid(lid).with_device(device.device());
        }
        device.clone()
    }

    fn identity(&self, address: &str) -> Option<PublicKey> {
        self.identities
            .get(address)
            .copied()
            .flatten()
            .map(PublicKey::from_raw)
    }
}

/// What the application hears from messaging jobs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MessagingEvent {
    /// A message arrived (from someone, or from another of our devices).
    Message(Box<ReceivedMessage>),
    /// A contact's identity key changed ("security code changed").
    IdentityChanged {
        /// The device whose key changed.
        device: Jid,
    },
    /// A message could not be decrypted; a retry receipt was sent.
    Undecryptable {
        /// The message id.
        id: MessageId,
        /// The sending device.
        sender: Jid,
        /// Why.
        reason: String,
    },
    /// The server took our message (its ack arrived).
    Sent {
        /// The message id.
        id: MessageId,
    },
    /// A send could not be completed.
    SendFailed {
        /// The message id.
        id: MessageId,
        /// Why.
        reason: String,
    },
}

/// The end of a job: commit `batch`, then send `stanzas`, then emit `events`.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Writes, all or nothing.
    pub batch: WriteBatch,
    /// Stanzas to send once the batch is durable.
    pub stanzas: Vec<Node>,
    /// Events for the application, after the stanzas.
    pub events: Vec<MessagingEvent>,
    /// For [`Messenger::observe`]: what a send went out to.
    pub sent: Option<SentRecord>,
    /// A group's participants as the server listed them (for a group cache).
    pub group: Option<(Jid, Vec<Jid>)>,
}

/// What a send went out to, kept until the server's ack to check its phash.
#[derive(Debug, Clone, PartialEq)]
pub struct SentRecord {
    /// The message id.
    pub id: String,
    /// The chat.
    pub to: Jid,
    /// The message.
    pub message: Message,
    /// Every device it was encrypted for.
    pub devices: Vec<Jid>,
    /// Their phash.
    pub phash: String,
    /// Whether this already was the follow-up of a stale device list.
    pub refreshed: bool,
    /// For a group send: the devices that got our sender key in it, marked
    /// as holding it once the server acks the message.
    pub distributed: Vec<Jid>,
}

/// What a job wants next.
#[derive(Debug)]
pub enum Step {
    /// Load these records, then [`Job::provide`].
    Load(Need),
    /// Send this IQ, then [`Job::answer`].
    Query(Node),
    /// Make this batch durable, then [`Job::committed`].
    Commit(WriteBatch),
    /// Finished.
    Done(Outcome),
}

/// An IQ answer as a job takes it: the result stanza, or why there is none.
pub type IqAnswer = Result<Node, String>;

/// A messaging job (see the module docs).
#[derive(Debug)]
pub enum Job {
    /// An incoming message.
    Receive(Box<receive::ReceiveJob>),
    /// A send.
    Send(Box<send::SendJob>),
    /// A prekey check and refill.
    PreKeys(Box<prekeys::PreKeyJob>),
    /// A retry receipt to answer.
    Retry(Box<retry::RetryJob>),
    /// Writes only (e.g. the sender-key marks after a group send's ack).
    Write(Box<WriteBatch>),
}

impl Job {
    /// The next step. Call again after answering the previous one.
    pub fn step(&mut self) -> Step {
        match self {
            Job::Receive(j) => j.step(),
            Job::Send(j) => j.step(),
            Job::PreKeys(j) => j.step(),
            Job::Retry(j) => j.step(),
            Job::Write(batch) => Step::Done(Outcome {
                batch: std::mem::take(&mut **batch),
                ..Outcome::default()
            }),
        }
    }

    /// The records asked for by [`Step::Load`].
    pub fn provide(&mut self, records: Records) {
        match self {
            Job::Receive(j) => j.provide(records),
            Job::Send(j) => j.provide(records),
            Job::Retry(j) => j.provide(records),
            Job::PreKeys(j) => j.provide(records),
            Job::Write(_) => {}
        }
    }

    /// The answer to [`Step::Query`].
    pub fn answer(&mut self, answer: IqAnswer) {
        match self {
            Job::Receive(_) | Job::Write(_) => {}
            Job::Send(j) => j.answer(answer),
            Job::PreKeys(j) => j.answer(answer),
            Job::Retry(j) => j.answer(answer),
        }
    }

    /// The batch of [`Step::Commit`] is durable.
    pub fn committed(&mut self) {
        if let Job::PreKeys(j) = self {
            j.committed();
        }
    }
}

/// Starts jobs. Holds our device and the job RNG; cheap to keep for the life
/// of a connection.
pub struct Messenger {
    own: OwnDevice,
    rng: ChaCha20Rng,
    /// Failed decryptions per message id (for the retry count).
    retries: HashMap<String, u32>,
    /// Sends waiting for the server's ack.
    pending: HashMap<String, SentRecord>,
    /// Whether received messages are kept in the store's inbox.
    inbox: bool,
    /// Ids whose `Sent` was reported, newest last (bounded).
    acked: std::collections::VecDeque<String>,
    next_id: u64,
}

impl fmt::Debug for Messenger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Messenger")
            .field("own", &self.own)
            .finish_non_exhaustive()
    }
}

impl Messenger {
    /// A messenger for `own`, its randomness from `seed` (the driver seeds it
    /// from the OS; tests pass a constant).
    pub fn new(own: OwnDevice, seed: [u8; 32]) -> Self {
        Messenger {
            own,
            rng: ChaCha20Rng::from_seed(seed),
            retries: HashMap::new(),
            pending: HashMap::new(),
            inbox: true,
            acked: std::collections::VecDeque::new(),
            next_id: 0,
        }
    }

    /// The server's `<ack class="message">` of one of our messages: reports it
    /// sent and, when the ack's phash shows the device list we used was stale,
    /// returns a job that re-queries the lists and sends the message to the
    /// devices it missed (once per message).
    pub fn on_server_ack(&mut self, ack: &Node, now: i64) -> (Vec<MessagingEvent>, Option<Job>) {
        let Some(ack) = crate::message::stanza::ServerAck::parse(ack) else {
            return (Vec::new(), None);
        };
        let mut events = Vec::new();
        if let Some(error) = ack.error {
            events.push(MessagingEvent::SendFailed {
                id: ack.id.clone().into(),
                reason: format!("server error {error}"),
            });
            self.pending.remove(&ack.id);
            return (events, None);
        }
        // One `Sent` per message: acks of its resends (retries, the devices a
        // stale list missed) are not reported again.
        if !self.acked.contains(&ack.id) {
            if self.acked.len() >= MAX_PENDING_ACKS {
                self.acked.pop_front();
            }
            self.acked.push_back(ack.id.clone());
            events.push(MessagingEvent::Sent {
                id: ack.id.clone().into(),
            });
        }
        let Some(sent) = self.pending.remove(&ack.id) else {
            return (events, None);
        };
        // The devices that got our sender key in this message hold it now.
        let marks = (!sent.distributed.is_empty()).then(|| {
            let mut batch = WriteBatch::new();
            batch.push(crate::store::WriteOp::SetSenderKeyStatus {
                group: sent.to.to_string(),
                entries: sent
                    .distributed
                    .iter()
                    .map(|d| (d.to_string(), true))
                    .collect(),
            });
            Job::Write(Box::new(batch))
        });
        let stale = ack.phash.as_ref().is_some_and(|p| *p != sent.phash);
        if !stale || sent.refreshed {
            return (events, marks);
        }
        if let Some(Job::Write(batch)) = marks {
            // The follow-up send commits the marks first (one job per ack).
            let seed = self.fork_seed();
            let job =
                send::SendJob::new(self.own.clone(), sent.to, sent.id, sent.message, now, seed)
                    .refreshed(sent.devices)
                    .with_batch(*batch);
            return (events, Some(Job::Send(Box::new(job))));
        }
        let seed = self.fork_seed();
        let job = send::SendJob::new(self.own.clone(), sent.to, sent.id, sent.message, now, seed)
            .refreshed(sent.devices);
        (events, Some(Job::Send(Box::new(job))))
    }

    /// Whether received messages go into the store's inbox (the default), so
    /// that they survive a crash until [`ReceivedMessage::ack`] releases them.
    /// Turn it off for a backend without an inbox (its `list_inbox` answers
    /// `StoreError::Unsupported`): messages then reach the application at most
    /// once across a crash.
    pub fn set_inbox(&mut self, on: bool) {
        self.inbox = on;
    }

    /// Our device.
    pub fn own(&self) -> &OwnDevice {
        &self.own
    }

    /// A job for an incoming `<message>` stanza, received at `now` (unix
    /// seconds).
    pub fn receive(&mut self, stanza: &Node, now: i64) -> Job {
        let seed = self.fork_seed();
        Job::Receive(Box::new(receive::ReceiveJob::new(self, stanza, now, seed)))
    }

    /// A job that sends `message` to `to` (a user JID), at `now` (unix
    /// seconds). The message id is [`Messenger::new_message_id`]'s.
    pub fn send(&mut self, to: &Jid, message: Message, now: i64) -> (MessageId, Job) {
        let id = self.new_message_id();
        let seed = self.fork_seed();
        let job = send::SendJob::new(
            self.own.clone(),
            to.to_non_ad(),
            id.to_string(),
            message,
            now,
            seed,
        );
        (id, Job::Send(Box::new(job)))
    }

    /// A job for a `<receipt type="retry">` about a message we sent, at `now`
    /// (unix seconds). Answered at most [`MAX_RETRIES`] times per message.
    pub fn retry(&mut self, receipt: &Node, now: i64) -> Job {
        let seed = self.fork_seed();
        Job::Retry(Box::new(retry::RetryJob::new(
            self.own.clone(),
            receipt,
            now,
            seed,
        )))
    }

    /// A job that checks the server's prekey count and uploads a new batch when
    /// it is below [`MIN_SERVER_PREKEYS`] (or unconditionally when `force`, as
    /// on the server's low-count notification).
    pub fn refill_prekeys(&mut self, force: bool, device: &Device) -> Job {
        let seed = self.fork_seed();
        Job::PreKeys(Box::new(prekeys::PreKeyJob::new(
            self,
            device.clone(),
            force,
            seed,
        )))
    }

    /// The job to run after each login, at `now_ms` (unix ms): the prekey
    /// count check (and upload), the signed prekey's rotation when it is due
    /// ([`SIGNED_PREKEY_ROTATION_MS`]), and the digest check of what the
    /// server holds (a server without our keys gets them all again).
    pub fn after_login(&mut self, device: &Device, now_ms: i64) -> Job {
        let seed = self.fork_seed();
        Job::PreKeys(Box::new(
            prekeys::PreKeyJob::new(self, device.clone(), false, seed).after_login(now_ms),
        ))
    }

    /// A fresh message id: `3EB0` and 16 hex digits (deterministic from the
    /// seed).
    pub fn new_message_id(&mut self) -> MessageId {
        use rand_core::Rng as _;
        self.next_id += 1;
        format!("3EB0{:016X}", self.rng.next_u64() ^ self.next_id).into()
    }

    /// Updates the messenger from a finished job's outcome (failure counts for
    /// retry receipts, sends awaiting their ack, the prekey counter). Call it
    /// after every job, in the order the jobs finished; it touches only memory,
    /// so a driver that commits several outcomes in one batch may call it
    /// before that commit.
    pub fn observe(&mut self, outcome: &Outcome) {
        receive::note(self, outcome);
        if let Some(sent) = &outcome.sent {
            if self.pending.len() >= MAX_PENDING_ACKS {
                self.pending.clear();
            }
            self.pending.insert(sent.id.clone(), sent.clone());
        }
        for op in outcome.batch.ops() {
            match op {
                crate::store::WriteOp::AdvancePreKeyCounter { next } => {
                    self.own.next_pre_key_id = self.own.next_pre_key_id.max(*next);
                }
                // A rotated signed prekey is the one new sessions use.
                crate::store::WriteOp::SetSignedPreKey(update)
                    if update.identity == *self.own.identity.public_key().raw() =>
                {
                    self.own.signed_pre_key = SignedPreKeyRecord::from_parts(
                        update.id,
                        PublicKey::from_raw(update.key.public),
                        PrivateKey::from_bytes(update.key.private),
                        update.signature,
                        u64::try_from(update.rotated_at_ms).unwrap_or(0),
                    );
                }
                _ => {}
            }
        }
    }

    fn fork_seed(&mut self) -> [u8; 32] {
        use rand_core::Rng as _;
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        seed
    }

    /// Takes `n` prekey ids from the persistent counter (the caller's batch
    /// must persist the advanced counter with the keys). Ids are 24-bit and
    /// start at 1; when the range would pass 2^24 − 1 it starts over at 1.
    fn take_prekey_ids(&mut self, n: u32) -> std::ops::Range<u32> {
        let mut start = self.own.next_pre_key_id.max(1);
        if start.saturating_add(n) > MAX_PREKEY_ID + 1 {
            start = 1;
        }
        let end = start + n;
        self.own.next_pre_key_id = end;
        start..end
    }

    /// Notes a failed decryption of message `id` and returns its attempt
    /// number (bounded memory: the table is cleared when it grows large).
    fn note_failure(&mut self, id: &str) -> u32 {
        if self.retries.len() >= MAX_TRACKED_RETRIES {
            self.retries.clear();
        }
        let count = self.retries.entry(id.to_owned()).or_insert(0);
        *count += 1;
        *count
    }
}

/// Starts a session with `device` from its `bundle` into `record` (X3DH as the
/// initiator): a new or changed identity is added to `batch`, a change also
/// reported in `events`. `None` when the bundle is refused (bad signature, bad
/// key).
#[allow(clippy::too_many_arguments)]
fn session_from_bundle(
    own: &OwnDevice,
    mut record: crate::signal::SessionRecord,
    device: &Jid,
    address: &str,
    bundle: &crate::signal::PreKeyBundle,
    known: Option<PublicKey>,
    rng: &mut ChaCha20Rng,
    batch: &mut WriteBatch,
    events: &mut Vec<MessagingEvent>,
) -> Option<crate::signal::SessionRecord> {
    use crate::signal::IdentityChange;
    let change = crate::signal::process_prekey_bundle(
        &mut record,
        &own.identity,
        own.registration_id,
        bundle,
        known.as_ref(),
        crate::signal::IdentityPolicy::AcceptChanged,
        rng,
    )
    .ok()?;
    if change != IdentityChange::Unchanged {
        batch.put_identity(address, *bundle.identity_key.raw());
    }
    if matches!(change, IdentityChange::Changed { .. }) {
        events.push(MessagingEvent::IdentityChanged {
            device: device.clone(),
        });
    }
    Some(record)
}

/// The messages waiting in the store's inbox (received, not yet acknowledged by
/// the application), oldest first: deliver them again after a restart.
pub async fn pending_messages(
    store: &(impl Backend + ?Sized),
    limit: usize,
) -> StoreResult<Vec<ReceivedMessage>> {
    Ok(store
        .list_inbox(limit)
        .await?
        .iter()
        .filter_map(ReceivedMessage::from_inbox)
        .collect())
}

/// The largest one-time prekey id (ids are 24-bit on the wire).
pub const MAX_PREKEY_ID: u32 = 0xFF_FFFF;

/// Sends whose server ack is awaited at once (older ones are forgotten: their
/// phash is then not checked).
const MAX_PENDING_ACKS: usize = 1024;

/// Message ids whose failed attempts are remembered at once.
const MAX_TRACKED_RETRIES: usize = 4096;
