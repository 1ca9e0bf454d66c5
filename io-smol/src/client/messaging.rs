//! The messaging worker: runs wa-core's messaging jobs (docs/messaging.md)
//! beside the drive loop.
//!
//! The drive loop hands it the stanzas of messaging (`<message>`, receipts,
//! the server's acks of our messages, the prekey notification, the end of the
//! offline queue) in the order they arrived, and the application's sends. The
//! worker runs one job at a time, so jobs on one Signal address never overlap,
//! and carries each out in the core's order: load, commit the batch, **then**
//! send the stanzas (through the drive loop, as a [`Client`](super::Client)
//! handle would), **then** emit the events. Incoming messages that arrive
//! together (an offline backlog) share one durable commit: each job reads
//! through the group's uncommitted writes ([`Pending`]) and the group's
//! receipts leave after the one commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::future::or;
use smol::lock::Mutex;
use wa_core::binary::{Jid, Node};
use wa_core::cache::{CacheConfig, CacheNamespace, Clock as CacheClock, TypedCache};
use wa_core::connection::IqError;
use wa_core::message::iq::{is_prekey_low_notification, set_active};
use wa_core::message::stanza::{Receipt, ack_for};
use wa_core::message::{Message, MessageId};
use wa_core::messaging::{
    IqAnswer, Job, MessagingEvent, Messenger, Outcome, OwnDevice, Pending, Step, pending_messages,
};
use wa_core::messaging::{Need, Records};
use wa_core::runtime::Runtime;
use wa_core::store::{
    Backend, DeviceInfo, DeviceListRecord, StoreError, StoreResult, WriteBatch, WriteOp,
    apply_batch,
};

use super::command::{Command, Reply};
use super::error::{RequestError, error_chain};
use super::event::Event;
use crate::clock::Clock;
use crate::version::unix_ms;

/// Incoming messages that may share one durable commit (only those already
/// queued: grouping never waits). 256 rather than 64: in the backlog bench's
/// runs 5, 6 and 8 (benches/RESULTS.md) groups of 256 reached 0.44/0.26/0.46×
/// of the memory store where groups of 64 reached 0.33/0.19/0.36×.
const MAX_GROUP: usize = 256;

/// Inbox entries delivered again after a start, at most.
const MAX_REDELIVERED: usize = 10_000;

/// Sends awaiting the server's ack at once (the caller of a send beyond it
/// gets [`RequestError::TooManyPending`]).
const MAX_AWAITING_ACKS: usize = 1024;

/// What the worker is asked to do.
#[derive(Clone)]
pub(crate) enum Work {
    /// The connection logged in (with a fresh seed for the messenger).
    LoggedIn { seed: [u8; 32] },
    /// The connection ended: sends awaiting their ack will not get it.
    Disconnected,
    /// A messaging stanza, in arrival order.
    Stanza(Node),
    /// The application sends a message; answered with its id once the
    /// server acked it.
    Send {
        to: Jid,
        message: Box<Message>,
        reply: Reply<MessageId>,
    },
}

/// How long after the connection's own IQ timeout the worker stops waiting
/// for an answer itself.
const QUERY_GRACE: Duration = Duration::from_secs(1);

/// The most queued acknowledgements one commit releases.
const ACK_GROUP: usize = 256;

/// The application handled a message: release its inbox entry. Served on a
/// channel of its own, also while the worker waits for room for an event, so
/// that an application may await it from the task that reads the events.
pub(crate) struct Ack {
    pub(crate) op: WriteOp,
    pub(crate) reply: Reply<()>,
}

impl Work {
    /// Answers the request (if it is one) with `error` without running it.
    pub(crate) fn fail(self, error: RequestError) {
        match self {
            Work::Send { reply, .. } => {
                let _ = reply.try_send(Err(error));
            }
            Work::LoggedIn { .. } | Work::Disconnected | Work::Stanza(_) => {}
        }
    }
}

/// Whether the worker (rather than the application, as [`Event::Stanza`])
/// handles this stanza.
pub(crate) fn is_messaging(node: &Node) -> bool {
    match node.tag.as_str() {
        "message" | "receipt" => true,
        "ack" => node.attr_str("class") == Some("message"),
        "notification" => {
            is_prekey_low_notification(node) || node.attr_str("type") == Some("w:gp2")
        }
        "ib" => node.child("offline").is_some(),
        _ => false,
    }
}

pub(crate) struct Worker {
    pub(crate) backend: Arc<dyn Backend>,
    /// Requests to the drive loop (stanzas and IQs to send).
    pub(crate) commands: Sender<Command>,
    pub(crate) events: Sender<Event>,
    pub(crate) work: Receiver<Work>,
    /// The application's acknowledgements (see [`Ack`]).
    pub(crate) acks: Receiver<Ack>,
    /// Closed when the drive loop ends: stop waiting for room for events.
    pub(crate) halt: Receiver<()>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Held while a batch that may advance the prekey counter commits, and
    /// by the drive loop while it saves the device record (so a save never
    /// writes an older counter over a newer one).
    pub(crate) store_lock: Arc<Mutex<()>>,
    pub(crate) iq_timeout: Duration,
    /// For the worker's own bound on a query (see [`Worker::query`]).
    pub(crate) runtime: Arc<dyn Runtime>,
    /// Dropped when the worker ends.
    pub(crate) done: Option<Sender<()>>,
    pub(crate) messenger: Option<Messenger>,
    /// Sends awaiting the server's ack, by message id.
    pub(crate) awaiting: HashMap<MessageId, Reply<MessageId>>,
    /// Whether the inbox was delivered again since the start.
    pub(crate) redelivered: bool,
    /// The id of the application's send being run.
    pub(crate) current_send: Option<MessageId>,
    /// A stanza taken while collecting a group, to handle next.
    pub(crate) deferred: Option<Work>,
    /// Group metadata, device lists and LID mappings (see [`Caches`]).
    pub(crate) caches: Caches,
}

/// The client's caches of the reference documents, as configured with
/// [`ClientBuilder::cache_config`](super::ClientBuilder::cache_config):
/// group participants (read before asking the server, filled from its
/// answers, dropped on a group change notification), device lists (read
/// before the store, filled from the store and from usync answers) and LID
/// to phone-number mappings (filled as they are learned). A cache that fails
/// is a miss: the store or the server answers instead.
pub(crate) struct Caches {
    pub(crate) group: TypedCache<String, Vec<String>>,
    pub(crate) devices: TypedCache<String, Vec<u16>>,
    pub(crate) lid_pn: TypedCache<String, String>,
}

impl Caches {
    pub(crate) fn new(config: &CacheConfig, clock: Arc<dyn Clock>) -> Self {
        let clock: Arc<dyn CacheClock> = Arc::new(ClockAdapter {
            origin: clock.now(),
            clock,
        });
        Caches {
            group: TypedCache::from_config(config, CacheNamespace::Group, clock.clone()),
            devices: TypedCache::from_config(config, CacheNamespace::DeviceRegistry, clock.clone()),
            lid_pn: TypedCache::from_config(config, CacheNamespace::LidPnByLid, clock),
        }
    }

    /// Learns from a committed batch (device lists, LID mappings) and from
    /// the participants a send got from the server.
    async fn learn(&self, batch: &WriteBatch, group: Option<&(Jid, Vec<Jid>)>) {
        for op in batch.ops() {
            match op {
                WriteOp::UpdateDeviceList(list) => {
                    let ids = list.devices.iter().map(|d| d.device_id).collect();
                    self.devices.insert(list.user.clone(), ids).await;
                }
                WriteOp::PutLidMapping(entry) => {
                    self.lid_pn
                        .insert(entry.lid.clone(), entry.phone_number.clone())
                        .await;
                }
                _ => {}
            }
        }
        if let Some((group, users)) = group {
            let users = users.iter().map(ToString::to_string).collect();
            self.group.insert(group.to_string(), users).await;
        }
    }
}

/// The client's clock as the caches read it (time since the start).
struct ClockAdapter {
    clock: Arc<dyn Clock>,
    origin: std::time::Instant,
}

impl CacheClock for ClockAdapter {
    fn now(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.origin)
    }
}

impl Worker {
    pub(crate) async fn run(mut self) {
        loop {
            let work = match self.deferred.take() {
                Some(work) => work,
                // Idle, acknowledgements are served too.
                None => match self.serving_acks(self.work.recv()).await {
                    Ok(work) => work,
                    Err(_) => break,
                },
            };
            if self.work.is_closed() {
                // Stopping: what is left is refused, not run (an unanswered
                // message comes again from the server).
                work.fail(RequestError::Stopped);
                continue;
            }
            self.handle(work).await;
        }
        for (_, reply) in self.awaiting.drain() {
            let _ = reply.try_send(Err(RequestError::Stopped));
        }
        drop(self.done.take());
    }

    async fn handle(&mut self, work: Work) {
        match work {
            Work::LoggedIn { seed } => self.on_logged_in(seed).await,
            Work::Disconnected => {
                for (_, reply) in self.awaiting.drain() {
                    let _ = reply.try_send(Err(RequestError::Unacknowledged));
                }
            }
            Work::Stanza(node) => self.on_stanza(node).await,
            Work::Send { to, message, reply } => self.on_send(&to, *message, reply).await,
        }
    }

    /// After each login: a messenger for the stored device (the first time),
    /// the inbox delivered again (the first time), the prekey check, and
    /// `<active/>`.
    async fn on_logged_in(&mut self, seed: [u8; 32]) {
        let device = match self.backend.load().await {
            Ok(Some(device)) => device,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!("messaging: could not load the device: {error}");
                return;
            }
        };
        let Some(own) = OwnDevice::from_device(&device) else {
            return;
        };
        if self
            .messenger
            .as_ref()
            .is_none_or(|m| m.own().jid != own.jid)
        {
            self.messenger = Some(Messenger::new(own, seed));
        }
        if !self.redelivered {
            self.redelivered = true;
            match pending_messages(&*self.backend, MAX_REDELIVERED).await {
                Ok(messages) => {
                    if !messages.is_empty() {
                        tracing::info!(
                            "delivering {} unacknowledged messages again",
                            messages.len()
                        );
                    }
                    for message in messages {
                        self.emit(Event::Message(Box::new(message))).await;
                    }
                }
                Err(StoreError::Unsupported { .. }) => {
                    if let Some(m) = &mut self.messenger {
                        m.set_inbox(false);
                    }
                }
                Err(error) => tracing::warn!("messaging: could not read the inbox: {error}"),
            }
        }
        let now_ms = unix_ms(self.clock.wall_clock());
        if let Some(m) = &mut self.messenger {
            let job = m.after_login(&device, now_ms);
            self.run_job(job).await;
        }
        if let Err(error) = self.query(set_active()).await {
            tracing::debug!("messaging: <active/> not acknowledged: {error}");
        }
    }

    async fn on_stanza(&mut self, node: Node) {
        match node.tag.as_str() {
            "message" => self.on_messages(node).await,
            "receipt" if node.attr_str("type") == Some("retry") => {
                let now = self.unix_now();
                let job = match &mut self.messenger {
                    Some(m) => m.retry(&node, now),
                    None => return,
                };
                self.run_job(job).await;
                self.send_ack(&node).await;
            }
            "receipt" => {
                self.send_ack(&node).await;
                match Receipt::parse(&node) {
                    Ok(receipt) => self.emit(Event::Receipt(Box::new(receipt))).await,
                    Err(error) => tracing::debug!("messaging: unreadable receipt: {error}"),
                }
            }
            "ack" => {
                let now = self.unix_now();
                let Some(m) = &mut self.messenger else { return };
                let (events, job) = m.on_server_ack(&node, now);
                self.deliver(events).await;
                if let Some(job) = job {
                    self.run_job(job).await;
                }
            }
            "notification" if node.attr_str("type") == Some("w:gp2") => {
                // The group changed: its participants are read again on the
                // next send. The application still sees the notification.
                self.send_ack(&node).await;
                if let Ok(group) = node.attr_jid("from") {
                    self.caches
                        .group
                        .remove(&group.to_non_ad().to_string())
                        .await;
                }
                self.emit(Event::Stanza(node)).await;
            }
            "notification" => {
                self.send_ack(&node).await;
                let device = match self.backend.load().await {
                    Ok(Some(device)) => device,
                    _ => return,
                };
                let Some(m) = &mut self.messenger else { return };
                let job = m.refill_prekeys(true, &device);
                self.run_job(job).await;
            }
            "ib" => {
                let count = node
                    .child("offline")
                    .and_then(|o| o.attr_str("count"))
                    .and_then(|c| c.parse().ok());
                self.emit(Event::OfflineSynced { count }).await;
            }
            _ => {}
        }
    }

    /// `first` and the `<message>`s queued right behind it: one receive job
    /// each, their batches committed together, then every answer sent, then
    /// every event emitted.
    async fn on_messages(&mut self, first: Node) {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match self.work.try_recv() {
                Ok(Work::Stanza(node)) if node.tag == "message" => group.push(node),
                Ok(other) => {
                    self.deferred = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let Some(messenger) = &mut self.messenger else {
            return;
        };
        let now = unix_seconds(&*self.clock);
        let mut pending = Pending::new();
        let mut stanzas = Vec::new();
        let mut events = Vec::new();
        for node in &group {
            let job = messenger.receive(node, now);
            match pending.run(job, &*self.backend).await {
                Ok(outcome) => {
                    messenger.observe(&outcome);
                    stanzas.extend(outcome.stanzas);
                    events.extend(outcome.events);
                }
                Err(error) => {
                    // Nothing of this group is committed or answered: the
                    // server delivers it again.
                    tracing::error!("messaging: store read failed: {}", error_chain(&error));
                    return;
                }
            }
        }
        let batch = pending.take();
        if let Err(error) = self.commit(&batch).await {
            tracing::error!(
                "messaging: commit failed, {} messages left unanswered: {}",
                group.len(),
                error_chain(&*error)
            );
            return;
        }
        self.caches.learn(&batch, None).await;
        for stanza in stanzas {
            self.send_node(stanza).await;
        }
        self.deliver(events).await;
    }

    /// Loads `need`: device lists and group participants from the caches
    /// where they hold them, the rest from the store (filling the device
    /// cache with what the store had).
    async fn load(&self, need: &Need) -> StoreResult<Records> {
        let mut from_store = need.clone();
        let mut cached = Vec::new();
        from_store.device_lists.clear();
        for user in &need.device_lists {
            match self.caches.devices.get(user).await {
                Some(ids) => cached.push((user.clone(), ids)),
                None => from_store.device_lists.push(user.clone()),
            }
        }
        let mut records = from_store.load(&*self.backend).await?;
        for (user, list) in &records.device_lists {
            if let Some(list) = list {
                let ids = list.devices.iter().map(|d| d.device_id).collect();
                self.caches.devices.insert(user.clone(), ids).await;
            }
        }
        for (user, ids) in cached {
            let list = DeviceListRecord {
                user: user.clone(),
                devices: ids.into_iter().map(|d| DeviceInfo::new(d, None)).collect(),
                timestamp: 0,
                phash: None,
                raw_id: None,
            };
            records.device_lists.insert(user, Some(list));
        }
        for group in &need.groups {
            let users = self.caches.group.get(group).await.map(|users| {
                users
                    .iter()
                    .filter_map(|u| u.parse::<Jid>().ok())
                    .collect::<Vec<_>>()
            });
            records.groups.insert(group.clone(), users);
        }
        Ok(records)
    }

    async fn on_send(&mut self, to: &Jid, message: Message, reply: Reply<MessageId>) {
        let now = self.unix_now();
        let Some(m) = &mut self.messenger else {
            let _ = reply.try_send(Err(RequestError::NotConnected));
            return;
        };
        if self.awaiting.len() >= MAX_AWAITING_ACKS {
            let _ = reply.try_send(Err(RequestError::TooManyPending(MAX_AWAITING_ACKS)));
            return;
        }
        let (id, job) = m.send(to, message, now);
        self.awaiting.insert(id.clone(), reply);
        self.current_send = Some(id);
        self.run_job(job).await;
        self.current_send = None;
    }

    /// Runs `job` to its end: loads, queries, commits, then the stanzas, then
    /// the events.
    async fn run_job(&mut self, mut job: Job) {
        loop {
            match job.step() {
                Step::Load(need) => match self.load(&need).await {
                    Ok(records) => job.provide(records),
                    Err(error) => {
                        tracing::error!("messaging: store read failed: {}", error_chain(&error));
                        self.fail_job(&job, "store read failed");
                        return;
                    }
                },
                Step::Query(iq) => {
                    // A server's error answer goes to the job as the stanza
                    // it is (jobs read its code); no answer is an error.
                    let answer: IqAnswer = match self.query(iq).await {
                        Err(RequestError::Iq(IqError::Server(error))) => Ok(error.stanza),
                        other => other.map_err(|e| e.to_string()),
                    };
                    job.answer(answer);
                }
                Step::Commit(batch) => {
                    if let Err(error) = self.commit(&batch).await {
                        tracing::error!("messaging: commit failed: {}", error_chain(&*error));
                        self.fail_job(&job, "store write failed");
                        return;
                    }
                    job.committed();
                }
                Step::Done(outcome) => return self.finish(outcome).await,
            }
        }
    }

    async fn finish(&mut self, outcome: Outcome) {
        if let Err(error) = self.commit(&outcome.batch).await {
            tracing::error!("messaging: commit failed: {}", error_chain(&*error));
            if let Some(sent) = &outcome.sent {
                self.fail_send(&sent.id, RequestError::Store(error));
            }
            return;
        }
        if let Some(m) = &mut self.messenger {
            m.observe(&outcome);
        }
        self.caches
            .learn(&outcome.batch, outcome.group.as_ref())
            .await;
        for stanza in outcome.stanzas {
            if let Err(error) = self.try_send_node(stanza).await
                && let Some(sent) = &outcome.sent
            {
                self.fail_send(&sent.id, error);
            }
        }
        self.deliver(outcome.events).await;
    }

    /// A job that cannot go on: a send's caller learns it at once.
    fn fail_job(&mut self, job: &Job, reason: &str) {
        if let (Job::Send(_), Some(id)) = (job, self.current_send.clone()) {
            self.fail_send(&id, RequestError::SendFailed(reason.to_owned()));
        }
    }

    fn fail_send(&mut self, id: &str, error: RequestError) {
        if let Some(reply) = self.awaiting.remove(id) {
            let _ = reply.try_send(Err(error));
        }
    }

    /// Reports job events: sends complete, everything else goes to the
    /// application.
    async fn deliver(&mut self, events: Vec<MessagingEvent>) {
        for event in events {
            let event = match event {
                MessagingEvent::Sent { id } => {
                    if let Some(reply) = self.awaiting.remove(&id) {
                        let _ = reply.try_send(Ok(id));
                    }
                    continue;
                }
                MessagingEvent::SendFailed { id, reason } => {
                    self.fail_send(&id, RequestError::SendFailed(reason.clone()));
                    Event::SendFailed { id, reason }
                }
                MessagingEvent::Message(message) => Event::Message(message),
                MessagingEvent::IdentityChanged { device } => Event::IdentityChanged { device },
                MessagingEvent::Undecryptable { id, sender, reason } => {
                    Event::Undecryptable { id, sender, reason }
                }
                _ => continue,
            };
            self.emit(event).await;
        }
    }

    // -------------------------------------------------------------- helpers

    async fn commit(&self, batch: &WriteBatch) -> Result<(), Arc<StoreError>> {
        if batch.is_empty() {
            return Ok(());
        }
        let _guard = self.store_lock.lock().await;
        apply_batch(&*self.backend, batch)
            .await
            .map(drop)
            .map_err(Arc::new)
    }

    async fn send_ack(&self, node: &Node) {
        if let Some(ack) = ack_for(node) {
            self.send_node(ack).await;
        }
    }

    async fn send_node(&self, node: Node) {
        if let Err(error) = self.try_send_node(node).await {
            tracing::debug!("messaging: stanza not sent: {error}");
        }
    }

    async fn try_send_node(&self, node: Node) -> Result<(), RequestError> {
        let (reply, answer) = async_channel::bounded(1);
        self.serving_acks(async {
            self.commands
                .send(Command::SendNode { node, reply })
                .await
                .map_err(|_| RequestError::Stopped)?;
            answer.recv().await.unwrap_or(Err(RequestError::Stopped))
        })
        .await
    }

    /// Awaits `future` while serving the application's acknowledgements, as
    /// the worker does whenever it waits (for work, for room for an event,
    /// for the drive loop, which may itself wait for room for an event that
    /// only an application awaiting an acknowledgement would make). Each
    /// acknowledgement is served to the end: `future` is only paused
    /// meanwhile, and a commit is never dropped halfway (its callers would be
    /// told `Stopped` for a release that happens).
    async fn serving_acks<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        enum Wake<T> {
            Done(T),
            Ack(Ack),
        }
        let mut future = std::pin::pin!(future);
        loop {
            let wake = or(async { Wake::Done(future.as_mut().await) }, async {
                match self.acks.recv().await {
                    Ok(ack) => Wake::Ack(ack),
                    // No handle can acknowledge any more.
                    Err(_) => std::future::pending().await,
                }
            })
            .await;
            match wake {
                Wake::Ack(ack) => self.serve_ack(ack).await,
                Wake::Done(value) => return value,
            }
        }
    }

    /// Sends `iq` through the drive loop and waits for its answer. The
    /// connection times the query out; the worker also stops waiting a
    /// little after that on its own, because a drive loop that holds as
    /// much work as it may (see `ClientBuilder::read_ahead`) stops reading
    /// the connection, and with it its timers, until the worker takes more.
    async fn query(&self, iq: Node) -> Result<Node, RequestError> {
        let (reply, answer) = async_channel::bounded(1);
        let bound = self.runtime.sleep(self.iq_timeout + QUERY_GRACE);
        let ask = async {
            self.commands
                .send(Command::SendIq {
                    iq,
                    timeout: self.iq_timeout,
                    reply,
                })
                .await
                .map_err(|_| RequestError::Stopped)?;
            answer.recv().await.unwrap_or(Err(RequestError::Stopped))
        };
        self.serving_acks(or(ask, async {
            bound.await;
            Err(RequestError::Iq(IqError::Timeout))
        }))
        .await
    }

    /// Sends `event`, waiting for room (backpressure) unless the client is
    /// stopping, when an event that does not fit is dropped.
    async fn emit(&self, event: Event) {
        if self.halt.is_closed() || self.work.is_closed() {
            let _ = self.events.try_send(event);
            return;
        }
        // While the channel is full, acknowledgements are still served: the
        // application may be awaiting one before it reads the next event.
        let send = async {
            let _ = self.events.send(event).await;
        };
        let stop = async {
            let _ = self.halt.recv().await;
        };
        self.serving_acks(or(send, stop)).await;
    }

    /// Releases an acknowledged message's inbox entry, together with those of
    /// every other acknowledgement already queued (up to [`ACK_GROUP`]): one
    /// durable commit for the lot, so a burst of acks from concurrent tasks
    /// shares one fsync. Each caller gets the commit's result.
    async fn serve_ack(&self, ack: Ack) {
        let mut batch = WriteBatch::new();
        batch.push(ack.op);
        let mut replies = vec![ack.reply];
        while replies.len() < ACK_GROUP {
            let Ok(more) = self.acks.try_recv() else {
                break;
            };
            batch.push(more.op);
            replies.push(more.reply);
        }
        let result = self.commit(&batch).await.map_err(RequestError::Store);
        for reply in replies {
            let _ = reply.try_send(result.clone());
        }
    }

    fn unix_now(&self) -> i64 {
        unix_seconds(&*self.clock)
    }
}

/// The wall-clock time in unix seconds.
fn unix_seconds(clock: &dyn Clock) -> i64 {
    unix_ms(clock.wall_clock()) / 1000
}
