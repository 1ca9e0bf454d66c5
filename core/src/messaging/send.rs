//! The job of one send: device lists (cached, else usync), sessions
//! (stored, else from bundles), one `<enc>` per device, our other devices
//! getting `deviceSentMessage`, the message kept for retries.
//!
//! To a group: the participants first (`w:g2`), then our sender key for the
//! group (created when there is none), distributed inside pairwise messages
//! to the devices that do not hold it yet, and the content once as `skmsg`
//! for every device. The devices are marked as holding the key when the
//! server acks the message (see `Messenger::on_server_ack`).

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{IqAnswer, MessagingEvent, Need, Outcome, OwnDevice, Records, SentRecord, Step};
use crate::binary::{Jid, Node};
use crate::message::iq::{self, BundleResult};
use crate::message::proto::{DeviceSentMessage, SenderKeyDistribution};
use crate::message::stanza::{
    Enc, EncType, Recipient, outgoing_group_message, outgoing_message, phash,
};
use crate::message::{Message, SignalAddress, pad};
use crate::signal::{
    CiphertextMessage, PreKeyBundle, SenderKeyRecord, SessionRecord,
    create_sender_key_distribution, encrypt, group_encrypt,
};
use crate::store::{DeviceInfo, DeviceListRecord, WriteBatch, WriteOp};

#[derive(Debug)]
enum State {
    Start,
    /// The group's participants were looked up in the cache.
    GroupCache,
    /// The group's participants were asked for.
    Group,
    DeviceLists,
    Usync,
    Sessions,
    Bundles,
    Finished,
}

/// See the module docs.
pub struct SendJob {
    own: OwnDevice,
    to: Jid,
    id: String,
    message: Message,
    now: i64,
    rng: ChaCha20Rng,
    state: State,
    /// Device numbers per user (recipient and us).
    devices: BTreeMap<String, (Jid, Vec<u16>)>,
    batch: WriteBatch,
    records: Records,
    bundles: Vec<(Jid, PreKeyBundle)>,
    events: Vec<MessagingEvent>,
    failed: Option<String>,
    /// Re-query every device list instead of reading the cache.
    refresh: bool,
    /// Devices that already have the message.
    exclude: Vec<Jid>,
    /// LID users of the phone-number users involved, where known.
    lids: Records,
    /// For a send to a group: its participants were read.
    group_known: bool,
    /// For a send to a group: the participants the server listed (none when
    /// they came from a cache).
    learned: Option<Vec<Jid>>,
    /// For a send to a group: our sender key record, if stored.
    sender_key: Option<Bytes>,
    /// For a send to a group: the devices known to hold our sender key.
    has_key: Vec<String>,
}

impl std::fmt::Debug for SendJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendJob")
            .field("to", &self.to)
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl SendJob {
    pub(super) fn new(
        own: OwnDevice,
        to: Jid,
        id: String,
        message: Message,
        now: i64,
        seed: [u8; 32],
    ) -> Self {
        let mut devices = BTreeMap::new();
        if !to.is_group() {
            devices.insert(to.user().to_owned(), (to.clone(), Vec::new()));
        }
        let own_user = own.jid.to_non_ad();
        devices
            .entry(own_user.user().to_owned())
            .or_insert((own_user, Vec::new()));
        SendJob {
            own,
            to,
            id,
            message,
            now,
            rng: ChaCha20Rng::from_seed(seed),
            state: State::Start,
            devices,
            batch: WriteBatch::new(),
            records: Records::default(),
            bundles: Vec::new(),
            events: Vec::new(),
            failed: None,
            refresh: false,
            exclude: Vec::new(),
            lids: Records::default(),
            group_known: false,
            learned: None,
            sender_key: None,
            has_key: Vec::new(),
        }
    }

    /// Starts with `batch` already in the outcome (writes that must land
    /// with this send).
    pub(super) fn with_batch(mut self, batch: WriteBatch) -> Self {
        self.batch = batch;
        self
    }

    /// The name our sender key for the group is stored under.
    fn sender_key_name(&self) -> String {
        SignalAddress::sender_key_name(&self.to, &self.own.jid)
    }

    /// The devices to encrypt pairwise for: every target of a 1:1 send; for a
    /// group, those that do not hold our sender key yet.
    fn pairwise_targets(&self) -> Vec<Jid> {
        let targets = self.targets();
        if !self.to.is_group() {
            return targets;
        }
        targets
            .into_iter()
            .filter(|d| !self.has_key.contains(&d.to_string()))
            .collect()
    }

    /// The follow-up of a send whose server ack showed a stale device list:
    /// re-query the lists and send to the devices not in `delivered`.
    pub(super) fn refreshed(mut self, delivered: Vec<Jid>) -> Self {
        self.refresh = true;
        self.exclude = delivered;
        self
    }

    /// The Signal address of a device: under its LID form when known.
    fn address(&self, device: &Jid) -> String {
        SignalAddress::of(&self.lids.lid_form(device)).to_string()
    }

    /// Every device to encrypt for, except ours.
    fn targets(&self) -> Vec<Jid> {
        let mut out = Vec::new();
        for (user, devices) in self.devices.values() {
            for d in devices {
                let jid = user.clone().with_device(*d);
                if jid != self.own.jid && !self.exclude.contains(&jid) {
                    out.push(jid);
                }
            }
        }
        out
    }

    pub(super) fn step(&mut self) -> Step {
        if let Some(reason) = self.failed.take() {
            self.state = State::Finished;
            return Step::Done(Outcome {
                events: vec![MessagingEvent::SendFailed {
                    id: self.id.clone().into(),
                    reason,
                }],
                ..Outcome::default()
            });
        }
        match self.state {
            State::Start if self.to.is_group() && !self.group_known && !self.refresh => {
                self.state = State::GroupCache;
                Step::Load(Need {
                    groups: vec![self.to.to_string()],
                    ..Need::default()
                })
            }
            State::GroupCache | State::Start if self.to.is_group() && !self.group_known => {
                self.state = State::Group;
                Step::Query(iq::group_info(&self.to))
            }
            State::GroupCache => {
                self.state = State::Start;
                self.step()
            }
            State::Group => {
                // Answered without participants (or failed): `failed` is set.
                self.state = State::Finished;
                Step::Done(Outcome::default())
            }
            State::Start if self.refresh => {
                // Every list is queried again; only the LID mappings are read.
                self.state = State::DeviceLists;
                Step::Load(Need {
                    lid_of: self.pn_users(),
                    ..Need::default()
                })
            }
            State::Start => {
                self.state = State::DeviceLists;
                let group = self.to.is_group();
                Step::Load(Need {
                    device_lists: self.devices.keys().cloned().collect(),
                    lid_of: self.pn_users(),
                    sender_keys: if group {
                        vec![self.sender_key_name()]
                    } else {
                        Vec::new()
                    },
                    sender_key_devices: if group {
                        vec![self.to.to_string()]
                    } else {
                        Vec::new()
                    },
                    ..Need::default()
                })
            }
            State::DeviceLists => {
                let missing: Vec<Jid> = self
                    .devices
                    .values()
                    .filter(|(_, d)| d.is_empty())
                    .map(|(u, _)| u.clone())
                    .collect();
                if missing.is_empty() {
                    self.state = State::Sessions;
                    return self.load_sessions();
                }
                self.state = State::Usync;
                Step::Query(iq::usync_devices(&missing, &self.id))
            }
            State::Usync => {
                // Answered (or failed): fall back to the primary device.
                for (_, devices) in self.devices.values_mut() {
                    if devices.is_empty() {
                        devices.push(0);
                    }
                }
                self.state = State::Sessions;
                self.load_sessions()
            }
            State::Sessions => {
                let missing: Vec<Jid> = self
                    .pairwise_targets()
                    .into_iter()
                    .filter(|d| self.records.session(self.address(d).as_str()).is_none())
                    .collect();
                if missing.is_empty() {
                    return Step::Done(self.finish());
                }
                self.state = State::Bundles;
                Step::Query(iq::fetch_bundles(&missing))
            }
            State::Bundles => Step::Done(self.finish()),
            State::Finished => Step::Done(Outcome::default()),
        }
    }

    fn pn_users(&self) -> Vec<String> {
        self.devices
            .values()
            .filter(|(u, _)| u.is_pn())
            .map(|(u, _)| u.user().to_owned())
            .collect()
    }

    fn load_sessions(&mut self) -> Step {
        let addresses: Vec<String> = self
            .pairwise_targets()
            .iter()
            .map(|d| self.address(d))
            .collect();
        Step::Load(Need {
            sessions: addresses.clone(),
            identities: addresses,
            ..Need::default()
        })
    }

    pub(super) fn provide(&mut self, records: Records) {
        match self.state {
            State::GroupCache => {
                if let Some(Some(users)) = records.groups.get(&self.to.to_string())
                    && !users.is_empty()
                {
                    for user in users {
                        devices_entry(&mut self.devices, user.to_non_ad());
                    }
                    self.group_known = true;
                }
            }
            State::DeviceLists => {
                self.lids.lid_of.clone_from(&records.lid_of);
                if self.to.is_group() {
                    self.sender_key = records
                        .sender_keys
                        .get(&self.sender_key_name())
                        .cloned()
                        .flatten();
                    let marks = records
                        .sender_key_devices
                        .get(&self.to.to_string())
                        .cloned()
                        .unwrap_or_default();
                    self.has_key = marks
                        .iter()
                        .filter(|(_, has)| *has)
                        .map(|(d, _)| d.clone())
                        .collect();
                    // A device that holds our key but whose account left the
                    // group could read on: start a new key, for everyone.
                    let left = self.has_key.iter().any(|d| {
                        d.parse::<Jid>()
                            .map_or(true, |d| !self.devices.contains_key(d.user()))
                    });
                    if left {
                        self.sender_key = None;
                        self.has_key.clear();
                        self.batch.push(WriteOp::SetSenderKeyStatus {
                            group: self.to.to_string(),
                            entries: marks.into_iter().map(|(d, _)| (d, false)).collect(),
                        });
                    }
                }
                for (user, list) in &records.device_lists {
                    if let (Some(Some(list)), Some((_, devices))) =
                        (Some(list), self.devices.get_mut(user))
                        && !list.devices.is_empty()
                    {
                        *devices = list.devices.iter().map(|d| d.device_id).collect();
                    }
                }
            }
            _ => self.records = records,
        }
    }

    pub(super) fn answer(&mut self, answer: IqAnswer) {
        match self.state {
            State::Group => {
                match answer
                    .and_then(|n| iq::parse_group_participants(&n).map_err(|e| e.to_string()))
                {
                    Ok(users) if !users.is_empty() => {
                        for user in &users {
                            devices_entry(&mut self.devices, user.clone());
                        }
                        self.learned = Some(users);
                        self.group_known = true;
                        self.state = State::Start;
                    }
                    Ok(_) => self.failed = Some("the group has no participants".into()),
                    Err(e) => self.failed = Some(format!("group metadata: {e}")),
                }
            }
            State::Usync => {
                let Ok(node) = answer else { return };
                let Ok(users) = iq::parse_usync_devices(&node) else {
                    return;
                };
                for user in users {
                    // Never replace a list with an empty answer.
                    if user.devices.is_empty() {
                        continue;
                    }
                    if let Some((_, devices)) = self.devices.get_mut(user.user.user()) {
                        devices.clone_from(&user.devices);
                        self.batch.push(WriteOp::UpdateDeviceList(DeviceListRecord {
                            user: user.user.user().to_owned(),
                            devices: user
                                .devices
                                .iter()
                                .map(|d| DeviceInfo::new(*d, None))
                                .collect(),
                            timestamp: self.now,
                            phash: None,
                            raw_id: None,
                        }));
                    }
                }
            }
            State::Bundles => {
                match answer.and_then(|n| iq::parse_bundles(&n).map_err(|e| e.to_string())) {
                    Ok(results) => {
                        for r in results {
                            match r {
                                BundleResult::Bundle { device, bundle } => {
                                    self.bundles.push((device, bundle))
                                }
                                BundleResult::Error { .. } => {}
                            }
                        }
                    }
                    Err(e) => self.failed = Some(format!("prekey bundles: {e}")),
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self) -> Outcome {
        self.state = State::Finished;
        let mut sessions: BTreeMap<String, SessionRecord> = BTreeMap::new();
        for (device, bundle) in std::mem::take(&mut self.bundles) {
            let address = self.address(&device);
            let known = self.records.identity(&address);
            // A device with a bad bundle is skipped; the others still get the message.
            if let Some(record) = super::session_from_bundle(
                &self.own,
                SessionRecord::new(),
                &device,
                &address,
                &bundle,
                known,
                &mut self.rng,
                &mut self.batch,
                &mut self.events,
            ) {
                sessions.insert(address, record);
            }
        }
        for device in self.targets() {
            let address = self.address(&device);
            if sessions.contains_key(&address) {
                continue;
            }
            if let Some(record) = self
                .records
                .session(&address)
                .and_then(|b| SessionRecord::deserialize(b).ok())
            {
                sessions.insert(address, record);
            }
        }

        if self.to.is_group() {
            return self.finish_group(sessions);
        }
        let content = self.message.encode_to_vec();
        let own_copy = Message {
            device_sent_message: Some(Box::new(DeviceSentMessage {
                destination_jid: Some(self.to.to_string()),
                message: Some(Box::new(self.message.clone())),
                phash: None,
            })),
            ..Message::default()
        }
        .encode_to_vec();
        let mut recipients = Vec::new();
        let mut delivered = Vec::new();
        for device in self.targets() {
            let address = self.address(&device);
            let Some(record) = sessions.get_mut(&address) else {
                continue;
            };
            let plain = if device.user() == self.own.jid.user() {
                &own_copy
            } else {
                &content
            };
            let padded = pad(plain.clone(), &mut self.rng);
            let Ok(ciphertext) = encrypt(record, &padded) else {
                continue;
            };
            self.batch.put_session(&address, record.serialize());
            recipients.push(Recipient {
                device: device.clone(),
                enc: enc_of(&ciphertext),
            });
            delivered.push(device);
        }
        self.batch.push(WriteOp::StoreSentMessage {
            chat: self.to.to_string(),
            id: self.id.clone(),
            payload: Bytes::from(content),
            sent_at: self.now,
        });
        let stanza: Node = outgoing_message(
            &self.id,
            &self.to,
            &recipients,
            Some(&self.own.device_identity),
        );
        if recipients.is_empty() && self.refresh {
            // Nobody new: nothing to send.
            return Outcome {
                batch: std::mem::take(&mut self.batch),
                events: std::mem::take(&mut self.events),
                ..Outcome::default()
            };
        }
        delivered.extend(self.exclude.iter().cloned());
        Outcome {
            group: None,
            batch: std::mem::take(&mut self.batch),
            stanzas: vec![stanza],
            events: std::mem::take(&mut self.events),
            sent: Some(SentRecord {
                id: self.id.clone(),
                to: self.to.clone(),
                message: self.message.clone(),
                phash: phash(delivered.iter()),
                devices: delivered,
                refreshed: self.refresh,
                distributed: Vec::new(),
            }),
        }
    }

    /// The end of a group send (see the module docs).
    fn finish_group(&mut self, mut sessions: BTreeMap<String, SessionRecord>) -> Outcome {
        let name = self.sender_key_name();
        let mut record = self
            .sender_key
            .as_ref()
            .and_then(|b| SenderKeyRecord::deserialize(b).ok())
            .unwrap_or_default();
        let (distribution, skmsg) = match create_sender_key_distribution(&mut record, &mut self.rng)
        {
            Ok(distribution) => {
                let content = pad(self.message.encode_to_vec(), &mut self.rng);
                match group_encrypt(&mut record, &content, &mut self.rng) {
                    Ok(skmsg) => (distribution, skmsg),
                    Err(e) => return self.fail(format!("group encryption: {e}")),
                }
            }
            Err(e) => return self.fail(format!("sender key: {e}")),
        };
        let skdm = Message {
            sender_key_distribution_message: Some(SenderKeyDistribution {
                group_id: Some(self.to.to_string()),
                axolotl_sender_key_distribution_message: Some(distribution.serialized().to_vec()),
            }),
            ..Message::default()
        }
        .encode_to_vec();
        let mut recipients = Vec::new();
        let mut distributed = Vec::new();
        for device in self.pairwise_targets() {
            let address = self.address(&device);
            let Some(session) = sessions.get_mut(&address) else {
                continue;
            };
            let padded = pad(skdm.clone(), &mut self.rng);
            let Ok(ciphertext) = encrypt(session, &padded) else {
                continue;
            };
            self.batch.put_session(&address, session.serialize());
            recipients.push(Recipient {
                device: device.clone(),
                enc: enc_of(&ciphertext),
            });
            distributed.push(device);
        }
        self.batch.put_sender_key(&name, record.serialize());
        self.batch.push(WriteOp::StoreSentMessage {
            chat: self.to.to_string(),
            id: self.id.clone(),
            payload: Bytes::from(self.message.encode_to_vec()),
            sent_at: self.now,
        });
        let stanza = outgoing_group_message(
            &self.id,
            &self.to,
            &recipients,
            Bytes::from(skmsg.serialized().to_vec()),
            Some(&self.own.device_identity),
        );
        let mut devices = self.targets();
        devices.extend(self.exclude.iter().cloned());
        Outcome {
            batch: std::mem::take(&mut self.batch),
            stanzas: vec![stanza],
            events: std::mem::take(&mut self.events),
            group: self.learned.take().map(|users| (self.to.clone(), users)),
            sent: Some(SentRecord {
                id: self.id.clone(),
                to: self.to.clone(),
                message: self.message.clone(),
                phash: phash(devices.iter()),
                devices,
                refreshed: self.refresh,
                distributed,
            }),
        }
    }

    /// Ends the job with a failed send (nothing written).
    fn fail(&mut self, reason: String) -> Outcome {
        Outcome {
            events: vec![MessagingEvent::SendFailed {
                id: self.id.clone().into(),
                reason,
            }],
            ..Outcome::default()
        }
    }
}

/// The `<enc>` of a pairwise ciphertext.
fn enc_of(ciphertext: &CiphertextMessage) -> Enc {
    let kind = match ciphertext {
        CiphertextMessage::PreKey(_) => EncType::PreKey,
        CiphertextMessage::Signal(_) => EncType::Message,
    };
    Enc {
        kind,
        ciphertext: Bytes::from(ciphertext.serialized().to_vec()),
        media_type: None,
    }
}

/// Adds `user` (a user JID) to the devices to send to.
fn devices_entry(devices: &mut BTreeMap<String, (Jid, Vec<u16>)>, user: Jid) {
    devices
        .entry(user.user().to_owned())
        .or_insert_with(|| (user, Vec::new()));
}
