//! A small WhatsApp network at the stanza level, for messaging tests on
//! virtual time: accounts with devices, uploaded prekeys handed out once each,
//! usync answers from its device registry, `<message>` fan-out with phash acks,
//! receipts relayed, and per-device queues that hold stanzas until the device
//! reads them (an offline queue for free).
//!
//! [`Party`] is one device on it: a [`Messenger`] over a [`MemoryStore`], with
//! a synchronous job runner ([`Party::run`]) that executes every step against
//! the store and the network, in the documented order (commit, send, emit).
//!
//! ```
//! use wa_core::binary::Jid;
//! use wa_core::message::Message;
//! use wa_core::messaging::MessagingEvent;
//! use wa_core::testing::network::{Network, Party};
//!
//! let mut net = Network::new();
//! let mut alice = Party::join(&mut net, "15550001", 0, 1);
//! let mut bob = Party::join(&mut net, "15550002", 0, 2);
//! alice.send_text(&mut net, &Jid::pn("15550002"), "hello Bob");
//! let events = bob.receive_all(&mut net);
//! let MessagingEvent::Message(m) = &events[0] else { panic!("{events:?}") };
//! assert_eq!(m.message.text_content(), Some("hello Bob"));
//! ```

use std::collections::{BTreeMap, VecDeque};

use futures_lite::future::block_on;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::binary::{Jid, Node};
use crate::message::iq::bundle_node;
use crate::message::stanza::{fixed, phash, signed_key};
use crate::message::{Message, MessageId};
use crate::messaging::{IqAnswer, Job, MessagingEvent, Messenger, OwnDevice, Step};
use crate::signal::{PreKeyBundle, PublicKey};
use crate::store::{Device, DeviceStore, MemoryStore, apply_batch};

/// What the network knows of one device.
#[derive(Debug, Clone)]
struct DeviceSlot {
    registration_id: u32,
    identity: PublicKey,
    signed: (u32, PublicKey, [u8; 64]),
    prekeys: VecDeque<(u32, PublicKey)>,
    queue: VecDeque<Node>,
    /// `<message>`s taken but not answered yet: delivered again by
    /// [`Network::reconnect`], as a server does after a dropped connection.
    unanswered: Vec<Node>,
}

/// The server side (see the module docs).
#[derive(Debug, Default)]
pub struct Network {
    devices: BTreeMap<Jid, DeviceSlot>,
    time: u64,
    /// Stanzas the clients sent, by tag (for tests: every message answered).
    pub answers: BTreeMap<String, usize>,
    /// One-time prekeys handed out, in order (ids never repeat per device).
    pub handed_out: Vec<(Jid, u32)>,
    /// LID user of each phone-number user that has one.
    lids: BTreeMap<String, String>,
    /// How messages name their sender (see [`Addressing`]).
    pub addressing: Addressing,
    /// Groups: participants (user JIDs) by group JID.
    groups: BTreeMap<Jid, Vec<Jid>>,
    /// The last `<message>` each device sent (for tests).
    last_sent: BTreeMap<Jid, Node>,
    /// Signed prekeys rotated by any device (for tests).
    pub rotations: usize,
}

/// How the network names the sender of a message it delivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Addressing {
    /// `from` is the phone-number device; nothing else.
    #[default]
    Pn,
    /// `from` is the phone-number device, `sender_lid` its LID form.
    PnWithLid,
    /// `from` is the LID device, `sender_pn` its phone-number form.
    Lid,
}

fn error_iq(id: &str, code: u16) -> Node {
    Node::new("iq")
        .with_attr("id", id)
        .with_attr("type", "error")
        .with_children([Node::new("error").with_attr("code", u64::from(code))])
}

fn result_iq(id: &str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .with_attr("id", id)
        .with_attr("type", "result")
        .with_children(children)
}

impl Network {
    /// An empty network; server time starts at 2026-01-01.
    pub fn new() -> Self {
        Network {
            time: super::TEST_UNIX_TIME,
            ..Network::default()
        }
    }

    /// Server time, unix seconds.
    pub fn now(&self) -> u64 {
        self.time
    }

    /// Moves server time on.
    pub fn advance(&mut self, seconds: u64) {
        self.time += seconds;
    }

    /// Gives a phone-number user a LID.
    pub fn set_lid(&mut self, pn_user: &str, lid_user: &str) {
        self.lids.insert(pn_user.to_owned(), lid_user.to_owned());
    }

    /// The registered (phone-number) device of a JID in either form.
    fn resolve(&self, jid: &Jid) -> Jid {
        if jid.is_lid()
            && let Some((pn, _)) = self.lids.iter().find(|(_, l)| *l == jid.user())
        {
            return Jid::pn(pn).with_device(jid.device());
        }
        jid.clone()
    }

    /// Creates (or replaces) group `group` with these participants (user
    /// JIDs).
    pub fn set_group(&mut self, group: &Jid, participants: &[Jid]) {
        let users = participants.iter().map(Jid::to_non_ad).collect();
        self.groups.insert(group.to_non_ad(), users);
    }

    /// Registers a device (its keys, no prekeys yet).
    pub fn register(&mut self, device: &Device, jid: &Jid) {
        self.devices.insert(
            jid.clone(),
            DeviceSlot {
                registration_id: device.registration_id,
                identity: PublicKey::from_raw(device.identity_key.public),
                signed: (
                    device.signed_pre_key_id,
                    PublicKey::from_raw(device.signed_pre_key.public),
                    device.signed_pre_key_signature,
                ),
                prekeys: VecDeque::new(),
                queue: VecDeque::new(),
                unanswered: Vec::new(),
            },
        );
    }

    /// Forgets a device (its keys and queue), as a server that lost its
    /// record of it.
    pub fn remove_device(&mut self, jid: &Jid) {
        self.devices.remove(jid);
    }

    /// Spoils the signature of `jid`'s signed prekey as the network hands it
    /// out, so that sessions with it cannot be started (tests of a device
    /// whose setup fails).
    pub fn spoil_bundle(&mut self, jid: &Jid) {
        if let Some(slot) = self.devices.get_mut(jid) {
            slot.signed.2[0] ^= 0xff;
        }
    }

    /// Removes a device's remaining one-time prekeys (tests of exhaustion).
    pub fn drain_prekeys(&mut self, jid: &Jid) {
        if let Some(slot) = self.devices.get_mut(jid) {
            slot.prekeys.clear();
        }
    }

    /// How many one-time prekeys the server holds for `jid`.
    pub fn prekey_count(&self, jid: &Jid) -> usize {
        self.devices.get(jid).map_or(0, |s| s.prekeys.len())
    }

    /// `jid` connects again: every `<message>` it took but did not answer
    /// (receipt, retry receipt or ack) is queued again, ahead of newer ones.
    pub fn reconnect(&mut self, jid: &Jid) {
        if let Some(slot) = self.devices.get_mut(jid) {
            for node in slot.unanswered.drain(..).rev() {
                slot.queue.push_front(node);
            }
        }
    }

    /// Queues `node` for `jid` as if the server sent it (tests of duplicates
    /// and hand-made stanzas).
    pub fn deliver(&mut self, jid: &Jid, node: Node) {
        if let Some(slot) = self.devices.get_mut(jid) {
            slot.queue.push_back(node);
        }
    }

    /// How many `<message>`s `jid` took and has not answered.
    pub fn unanswered(&self, jid: &Jid) -> usize {
        self.devices.get(jid).map_or(0, |s| s.unanswered.len())
    }

    /// Takes the stanzas queued for `jid`.
    pub fn take_queue(&mut self, jid: &Jid) -> Vec<Node> {
        if let Some(slot) = self.devices.get_mut(jid) {
            let taken: Vec<Node> = slot.queue.drain(..).collect();
            slot.unanswered
                .extend(taken.iter().filter(|n| n.tag == "message").cloned());
            return taken;
        }
        Vec::new()
    }

    /// The last `<message>` stanza `jid` sent, as it sent it.
    pub fn last_message_from(&self, jid: &Jid) -> Option<&Node> {
        self.last_sent.get(jid)
    }

    /// Whether `jid` is a registered device.
    pub fn has_device(&self, jid: &Jid) -> bool {
        self.devices.contains_key(jid)
    }

    /// How many stanzas wait for `jid`.
    pub fn queued(&self, jid: &Jid) -> usize {
        self.devices.get(jid).map_or(0, |s| s.queue.len())
    }

    fn devices_of(&self, user: &str) -> Vec<Jid> {
        self.devices
            .keys()
            .filter(|j| j.user() == user)
            .cloned()
            .collect()
    }

    /// An IQ from `from`; returns the answer.
    pub fn iq(&mut self, from: &Jid, iq: &Node) -> Node {
        let id = iq.attr_str("id").unwrap_or("").to_owned();
        let xmlns = iq.attr_str("xmlns").unwrap_or("");
        let kind = iq.attr_str("type").unwrap_or("");
        match (xmlns, kind) {
            ("encrypt", "set") if iq.child("rotate").is_some() => {
                let parsed = iq
                    .child("rotate")
                    .and_then(|r| r.child("skey"))
                    .and_then(|k| signed_key(k).ok())
                    .map(|(id, key, sig)| (id, PublicKey::from_raw(key), sig));
                match (parsed, self.devices.get_mut(from)) {
                    (Some(signed), Some(slot)) => {
                        slot.signed = signed;
                        self.rotations += 1;
                        result_iq(&id, vec![])
                    }
                    _ => error_iq(&id, 406),
                }
            }
            ("encrypt", "set") => {
                let list = iq
                    .child("list")
                    .map(|l| l.children_by_tag("key").cloned().collect::<Vec<_>>());
                if !self.devices.contains_key(from)
                    && let Some(slot) = slot_from_upload(iq)
                {
                    // A device the network has not seen registers with its
                    // first upload (as a linked device's keys reach the
                    // server).
                    self.devices.insert(from.clone(), slot);
                }
                let Some(slot) = self.devices.get_mut(from) else {
                    return Node::new("iq")
                        .with_attr("id", id)
                        .with_attr("type", "error");
                };
                for key in list.unwrap_or_default() {
                    let Ok(id) = crate::message::stanza::key_id(&key) else {
                        continue;
                    };
                    if let Ok(raw) = fixed::<32>(&key, "value") {
                        slot.prekeys.push_back((id, PublicKey::from_raw(raw)));
                    }
                }
                result_iq(&id, vec![])
            }
            ("encrypt", "get") if iq.child("digest").is_some() => {
                let Some(slot) = self.devices.get(from) else {
                    return error_iq(&id, 404);
                };
                let keys: Vec<[u8; 32]> = slot.prekeys.iter().map(|(_, k)| *k.raw()).collect();
                let signed = crate::signal::SignedPreKeyRecord::from_parts(
                    slot.signed.0,
                    slot.signed.1,
                    crate::signal::PrivateKey::from_bytes([0; 32]),
                    slot.signed.2,
                    0,
                );
                let hash =
                    crate::message::iq::prekey_digest_hash(slot.identity.raw(), &signed, &keys);
                let ids = slot
                    .prekeys
                    .iter()
                    .map(|(pid, _)| Node::new("id").with_bytes(pid.to_be_bytes()[1..].to_vec()));
                result_iq(
                    &id,
                    vec![
                        Node::new("digest").with_children([
                            Node::new("registration")
                                .with_bytes(slot.registration_id.to_be_bytes().to_vec()),
                            Node::new("type").with_bytes(vec![crate::keys::DJB_KEY_TYPE]),
                            Node::new("identity").with_bytes(slot.identity.raw().to_vec()),
                            Node::new("list").with_children(ids),
                            Node::new("hash").with_bytes(hash.to_vec()),
                        ]),
                    ],
                )
            }
            ("encrypt", "get") if iq.child("count").is_some() => {
                let n = self.prekey_count(from);
                result_iq(&id, vec![Node::new("count").with_attr("value", n as u64)])
            }
            ("encrypt", "get") => {
                let wanted: Vec<Jid> = iq
                    .child("key")
                    .map(|k| {
                        k.children_by_tag("user")
                            .filter_map(|u| u.attr_jid("jid").ok())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut users = Vec::new();
                for device in wanted {
                    match self.devices.get_mut(&device) {
                        Some(slot) => {
                            let pre_key = slot.prekeys.pop_front();
                            if let Some((pid, _)) = pre_key {
                                self.handed_out.push((device.clone(), pid));
                            }
                            let bundle = PreKeyBundle {
                                registration_id: slot.registration_id,
                                device_id: u32::from(device.device()),
                                pre_key,
                                signed_pre_key_id: slot.signed.0,
                                signed_pre_key: slot.signed.1,
                                signed_pre_key_signature: slot.signed.2,
                                identity_key: slot.identity,
                            };
                            users.push(bundle_node(&device, &bundle));
                        }
                        None => users.push(
                            Node::new("user")
                                .with_attr("jid", &device)
                                .with_children([Node::new("error").with_attr("code", "406")]),
                        ),
                    }
                }
                result_iq(&id, vec![Node::new("list").with_children(users)])
            }
            ("w:g2", "get") => {
                let group = iq.attr_jid("to").map(|g| g.to_non_ad());
                match group.ok().and_then(|g| self.groups.get(&g).map(|p| (g, p))) {
                    Some((group, participants)) => result_iq(
                        &id,
                        vec![
                            Node::new("group")
                                .with_attr("id", group.user())
                                .with_attr("addressing_mode", "pn")
                                .with_children(
                                    participants
                                        .iter()
                                        .map(|p| Node::new("participant").with_attr("jid", p)),
                                ),
                        ],
                    ),
                    None => Node::new("iq")
                        .with_attr("id", id)
                        .with_attr("type", "error"),
                }
            }
            ("usync", _) => {
                let users: Vec<Jid> = iq
                    .child("usync")
                    .and_then(|u| u.child("list"))
                    .map(|l| {
                        l.children_by_tag("user")
                            .filter_map(|u| u.attr_jid("jid").ok())
                            .collect()
                    })
                    .unwrap_or_default();
                let list = users.iter().map(|user| {
                    let devices = self
                        .devices_of(user.user())
                        .iter()
                        .map(|d| Node::new("device").with_attr("id", u64::from(d.device())))
                        .collect::<Vec<_>>();
                    Node::new("user")
                        .with_attr("jid", user)
                        .with_children([Node::new("devices")
                            .with_children([Node::new("device-list").with_children(devices)])])
                });
                result_iq(
                    &id,
                    vec![Node::new("usync").with_children([Node::new("list").with_children(list)])],
                )
            }
            _ => Node::new("iq")
                .with_attr("id", id)
                .with_attr("type", "error"),
        }
    }

    /// A stanza (not an IQ) from `from`.
    pub fn stanza(&mut self, from: &Jid, node: &Node) {
        *self.answers.entry(node.tag.to_string()).or_default() += 1;
        // An answer settles the message it names.
        if matches!(node.tag.as_str(), "receipt" | "ack")
            && let (Some(id), Some(slot)) = (node.attr_str("id"), self.devices.get_mut(from))
        {
            slot.unanswered.retain(|m| m.attr_str("id") != Some(id));
        }
        match node.tag.as_str() {
            "message" => {
                self.last_sent.insert(from.clone(), node.clone());
                self.fan_out(from, node)
            }
            "receipt" => {
                let to = match node.attr_jid("to") {
                    // A receipt for a group message goes to its sender's
                    // device (the `participant`), naming the group and us.
                    Ok(group) if group.is_group() => node
                        .attr_jid("participant")
                        .map(|p| (self.resolve(&p), Some(group))),
                    other => other.map(|t| (self.resolve(&t), None)),
                };
                if let Ok((to, group)) = to {
                    let mut relayed = node.clone();
                    match group {
                        Some(group) => {
                            relayed.attrs.insert("from", group);
                            relayed.attrs.insert("participant", from);
                        }
                        None => {
                            relayed.attrs.insert("from", from);
                        }
                    }
                    relayed.attrs.remove("to");
                    if let Some(slot) = self.devices.get_mut(&to) {
                        slot.queue.push_back(relayed);
                    }
                }
            }
            _ => {}
        }
    }

    fn fan_out(&mut self, from: &Jid, node: &Node) {
        let (Some(id), Ok(to)) = (node.attr_str("id"), node.attr_jid("to")) else {
            return;
        };
        if to.is_group() {
            return self.fan_out_group(from, &to, id, node);
        }
        let id = id.to_owned();
        self.time += 1;
        let identity = node.child("device-identity").cloned();
        if let Some(participants) = node.child("participants") {
            for target in participants.children_by_tag("to") {
                let (Ok(device), Some(enc)) = (target.attr_jid("jid"), target.child("enc")) else {
                    continue;
                };
                let Some(slot) = self.devices.get_mut(&device) else {
                    continue;
                };
                let lid = self
                    .lids
                    .get(from.user())
                    .map(|l| Jid::lid(l).with_device(from.device()));
                let mut msg = Node::new("message").with_attr("id", id.as_str());
                msg = match (self.addressing, &lid) {
                    (Addressing::PnWithLid, Some(lid)) => {
                        msg.with_attr("from", from).with_attr("sender_lid", lid)
                    }
                    (Addressing::Lid, Some(lid)) => {
                        msg.with_attr("from", lid).with_attr("sender_pn", from)
                    }
                    _ => msg.with_attr("from", from),
                };
                let mut msg = msg.with_attr("t", self.time).with_attr("type", "text");
                if device.user() == from.user() {
                    msg = msg.with_attr("recipient", &to);
                }
                let mut children = vec![enc.clone()];
                if enc.attr_str("type") == Some("pkmsg")
                    && let Some(identity) = &identity
                {
                    children.push(identity.clone());
                }
                slot.queue.push_back(msg.with_children(children));
            }
        }
        // The phash covers the devices the server knows now (the recipient's
        // and the sender's other devices), so a stale list shows.
        let mut current = self.devices_of(to.user());
        current.extend(
            self.devices_of(from.user())
                .into_iter()
                .filter(|d| d != from),
        );
        let ack = Node::new("ack")
            .with_attr("class", "message")
            .with_attr("id", id.as_str())
            .with_attr("t", self.time)
            .with_attr("phash", phash(current.iter()));
        if let Some(slot) = self.devices.get_mut(from) {
            slot.queue.push_back(ack);
        }
    }
}

impl Network {
    /// A group message: every device of every participant but the sender
    /// gets the `skmsg`, and its own distribution if the stanza has one for
    /// it; the ack's phash covers all of them.
    fn fan_out_group(&mut self, from: &Jid, group: &Jid, id: &str, node: &Node) {
        self.time += 1;
        let Some(participants) = self.groups.get(&group.to_non_ad()).cloned() else {
            let nack = Node::new("ack")
                .with_attr("class", "message")
                .with_attr("id", id)
                .with_attr("error", "404");
            if let Some(slot) = self.devices.get_mut(from) {
                slot.queue.push_back(nack);
            }
            return;
        };
        let identity = node.child("device-identity").cloned();
        let skmsg = node
            .children_by_tag("enc")
            .find(|e| e.attr_str("type") == Some("skmsg"))
            .cloned();
        let mut pairwise = BTreeMap::new();
        if let Some(list) = node.child("participants") {
            for to in list.children_by_tag("to") {
                if let (Ok(device), Some(enc)) = (to.attr_jid("jid"), to.child("enc")) {
                    pairwise.insert(device, enc.clone());
                }
            }
        }
        let mut devices = Vec::new();
        for user in &participants {
            devices.extend(self.devices_of(user.user()));
        }
        devices.retain(|d| d != from);
        for device in &devices {
            if skmsg.is_none() && !pairwise.contains_key(device) {
                // A resend to some devices only (a retry).
                continue;
            }
            let mut children = Vec::new();
            if let Some(enc) = pairwise.get(device) {
                children.push(enc.clone());
                if enc.attr_str("type") == Some("pkmsg")
                    && let Some(identity) = &identity
                {
                    children.push(identity.clone());
                }
            }
            if let Some(skmsg) = &skmsg {
                children.push(skmsg.clone());
            }
            let msg = Node::new("message")
                .with_attr("id", id)
                .with_attr("from", group)
                .with_attr("participant", from)
                .with_attr("t", self.time)
                .with_attr("type", "text")
                .with_children(children);
            if let Some(slot) = self.devices.get_mut(device) {
                slot.queue.push_back(msg);
            }
        }
        let ack = Node::new("ack")
            .with_attr("class", "message")
            .with_attr("id", id)
            .with_attr("t", self.time)
            .with_attr("phash", phash(devices.iter()));
        if let Some(slot) = self.devices.get_mut(from) {
            slot.queue.push_back(ack);
        }
    }
}

/// A device's slot from its prekey upload: registration id, identity and
/// signed prekey (`None` when one is missing or malformed).
fn slot_from_upload(iq: &Node) -> Option<DeviceSlot> {
    let registration = fixed::<4>(iq, "registration").ok()?;
    let identity = fixed::<32>(iq, "identity").ok()?;
    let (skey_id, skey_value, signature) = signed_key(iq.child("skey")?).ok()?;
    Some(DeviceSlot {
        registration_id: u32::from_be_bytes(registration),
        identity: PublicKey::from_raw(identity),
        signed: (skey_id, PublicKey::from_raw(skey_value), signature),
        prekeys: VecDeque::new(),
        queue: VecDeque::new(),
        unanswered: Vec::new(),
    })
}

/// What [`Party::run_intercepted`] does with one IQ of the job.
#[derive(Debug)]
pub enum Intercept {
    /// The network answers it.
    Network,
    /// This answer goes to the job instead.
    Answer(Node),
    /// The run stops before the IQ leaves (a crash).
    Stop,
}

/// How [`Party::run_intercepted`] ended.
#[derive(Debug)]
pub enum Run {
    /// The job finished with these events.
    Finished(Vec<MessagingEvent>, Job),
    /// An [`Intercept::Stop`] ended it.
    Stopped(Job),
}

/// One device on a [`Network`] (see the module docs).
pub struct Party {
    /// The device JID.
    pub jid: Jid,
    /// Its store.
    pub store: MemoryStore,
    /// Its messenger.
    pub messenger: Messenger,
    next_iq: u64,
}

impl std::fmt::Debug for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Party")
            .field("jid", &self.jid)
            .finish_non_exhaustive()
    }
}

impl Party {
    /// A new linked device `user:device` with keys from `seed`, registered on
    /// the network, its prekeys uploaded.
    pub fn join(net: &mut Network, user: &str, device: u16, seed: u64) -> Party {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut record = Device::generate(&mut rng);
        let jid = Jid::pn(user).with_device(device);
        record.pn = Some(jid.clone());
        record.account = Some(format!("device-identity:{jid}").into_bytes());
        let store = MemoryStore::new();
        block_on(store.save(&record)).expect("memory store");
        net.register(&record, &jid);
        let own = OwnDevice::from_device(&record).expect("registered device");
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let mut party = Party {
            jid,
            store,
            messenger: Messenger::new(own, seed_bytes),
            next_iq: 0,
        };
        let job = party.messenger.refill_prekeys(false, &record);
        party.run(net, job);
        party
    }

    /// The saved device record.
    pub fn device(&self) -> Device {
        block_on(self.store.load())
            .expect("memory store")
            .expect("saved device")
    }

    /// Runs a job to its end against the store and the network and returns
    /// its events (stanzas go to the network after the batch is applied).
    pub fn run(&mut self, net: &mut Network, job: Job) -> Vec<MessagingEvent> {
        match self.run_intercepted(net, job, |_| Intercept::Network) {
            Run::Finished(events, _) => events,
            Run::Stopped(_) => Vec::new(),
        }
    }

    /// [`run`](Self::run), showing every IQ of the job to `intercept` first:
    /// it may answer it instead of the network, or stop the run there (a
    /// crash: the IQ does not leave, nothing after it happens). The job is
    /// handed back either way, to be inspected.
    pub fn run_intercepted(
        &mut self,
        net: &mut Network,
        mut job: Job,
        mut intercept: impl FnMut(&Node) -> Intercept,
    ) -> Run {
        loop {
            match job.step() {
                Step::Load(need) => {
                    let records = block_on(need.load(&self.store)).expect("memory store");
                    job.provide(records);
                }
                Step::Query(iq) => {
                    let answer: IqAnswer = match intercept(&iq) {
                        Intercept::Stop => return Run::Stopped(job),
                        Intercept::Answer(node) => Ok(node),
                        Intercept::Network => {
                            self.next_iq += 1;
                            let id = format!("iq-{}", self.next_iq);
                            // An error answer goes to the job as the stanza
                            // it is, as the client's driver hands it over.
                            Ok(net.iq(&self.jid, &iq.with_attr("id", id.as_str())))
                        }
                    };
                    job.answer(answer);
                }
                Step::Commit(batch) => {
                    block_on(apply_batch(&self.store, &batch)).expect("memory store");
                    job.committed();
                }
                Step::Done(outcome) => {
                    block_on(apply_batch(&self.store, &outcome.batch)).expect("memory store");
                    self.messenger.observe(&outcome);
                    for stanza in &outcome.stanzas {
                        net.stanza(&self.jid, stanza);
                    }
                    return Run::Finished(outcome.events, job);
                }
            }
        }
    }

    /// The application has handled `message`: release it from the inbox.
    pub fn ack(&mut self, message: &crate::messaging::ReceivedMessage) {
        let mut batch = crate::store::WriteBatch::new();
        batch.push(message.ack());
        block_on(apply_batch(&self.store, &batch)).expect("memory store");
    }

    /// A restart: a new messenger from the stored device (in-memory state
    /// lost); returns the messages still in the inbox, to deliver again.
    pub fn restart(&mut self, seed: [u8; 32]) -> Vec<crate::messaging::ReceivedMessage> {
        let own = OwnDevice::from_device(&self.device()).expect("registered device");
        self.messenger = Messenger::new(own, seed);
        block_on(crate::messaging::pending_messages(&self.store, usize::MAX)).expect("memory store")
    }

    /// Sends a text to `to` and returns the message id.
    pub fn send_text(&mut self, net: &mut Network, to: &Jid, text: &str) -> MessageId {
        self.send(net, to, Message::text(text))
    }

    /// Sends a message to `to` and returns the message id.
    pub fn send(&mut self, net: &mut Network, to: &Jid, message: Message) -> MessageId {
        let now = net.now() as i64;
        let (id, job) = self.messenger.send(to, message, now);
        let events = self.run(net, job);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, MessagingEvent::SendFailed { .. })),
            "send failed: {events:?}"
        );
        id
    }

    /// Handles everything queued for this device and returns the events.
    pub fn receive_all(&mut self, net: &mut Network) -> Vec<MessagingEvent> {
        let mut events = Vec::new();
        loop {
            let queue = net.take_queue(&self.jid);
            if queue.is_empty() {
                return events;
            }
            for stanza in queue {
                events.extend(self.handle(net, &stanza));
            }
        }
    }

    /// Handles everything queued, `group` messages per durable commit: each
    /// job reads through the group's uncommitted writes ([`Pending`]), the
    /// group's batches are committed together, and only then do the group's
    /// stanzas leave. Other stanzas are handled one by one.
    ///
    /// [`Pending`]: crate::messaging::Pending
    pub fn receive_all_grouped(&mut self, net: &mut Network, group: usize) -> Vec<MessagingEvent> {
        let mut events = Vec::new();
        loop {
            let queue = net.take_queue(&self.jid);
            if queue.is_empty() {
                return events;
            }
            for chunk in queue.chunks(group.max(1)) {
                let mut pending = crate::messaging::Pending::new();
                let mut stanzas = Vec::new();
                let mut group_events = Vec::new();
                for stanza in chunk {
                    if stanza.tag != "message" {
                        events.extend(self.handle(net, stanza));
                        continue;
                    }
                    let job = self.messenger.receive(stanza, net.now() as i64);
                    let outcome = block_on(pending.run(job, &self.store)).expect("memory store");
                    self.messenger.observe(&outcome);
                    stanzas.extend(outcome.stanzas);
                    group_events.extend(outcome.events);
                }
                block_on(apply_batch(&self.store, &pending.take())).expect("memory store");
                for stanza in &stanzas {
                    net.stanza(&self.jid, stanza);
                }
                events.extend(group_events);
            }
        }
    }

    /// Handles one stanza from the network.
    pub fn handle(&mut self, net: &mut Network, stanza: &Node) -> Vec<MessagingEvent> {
        match stanza.tag.as_str() {
            "message" => {
                let job = self.messenger.receive(stanza, net.now() as i64);
                self.run(net, job)
            }
            "receipt" if stanza.attr_str("type") == Some("retry") => {
                let job = self.messenger.retry(stanza, net.now() as i64);
                self.run(net, job)
            }
            "ack" => {
                let (mut events, job) = self.messenger.on_server_ack(stanza, net.now() as i64);
                if let Some(job) = job {
                    events.extend(self.run(net, job));
                }
                events
            }
            _ => Vec::new(),
        }
    }
}

/// A user's JID list on the network (for tests).
pub fn users_devices(net: &Network, user: &str) -> Vec<Jid> {
    net.devices_of(user)
}
