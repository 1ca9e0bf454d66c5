//! The job of one 1:1 send: device lists (cached, else usync), sessions
//! (stored, else from bundles), one `<enc>` per device, our other devices
//! getting `deviceSentMessage`, the message kept for retries.

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{IqAnswer, MessagingEvent, Need, Outcome, OwnDevice, Records, SentRecord, Step};
use crate::binary::{Jid, Node};
use crate::message::iq::{self, BundleResult};
use crate::message::proto::DeviceSentMessage;
use crate::message::stanza::{Enc, EncType, Recipient, outgoing_message, phash};
use crate::message::{Message, SignalAddress, pad};
use crate::signal::{CiphertextMessage, PreKeyBundle, SessionRecord, encrypt};
use crate::store::{DeviceInfo, DeviceListRecord, WriteBatch, WriteOp};

#[derive(Debug)]
enum State {
    Start,
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
        devices.insert(to.user().to_owned(), (to.clone(), Vec::new()));
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
        }
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
                    id: self.id.clone(),
                    reason,
                }],
                ..Outcome::default()
            });
        }
        match self.state {
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
                Step::Load(Need {
                    device_lists: self.devices.keys().cloned().collect(),
                    lid_of: self.pn_users(),
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
                    .targets()
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
        let addresses: Vec<String> = self.targets().iter().map(|d| self.address(d)).collect();
        Step::Load(Need {
            sessions: addresses.clone(),
            identities: addresses,
            ..Need::default()
        })
    }

    pub(super) fn provide(&mut self, records: Records) {
        match self.state {
            State::DeviceLists => {
                self.lids.lid_of.clone_from(&records.lid_of);
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
            let kind = match ciphertext {
                CiphertextMessage::PreKey(_) => EncType::PreKey,
                CiphertextMessage::Signal(_) => EncType::Message,
            };
            self.batch.put_session(&address, record.serialize());
            recipients.push(Recipient {
                device: device.clone(),
                enc: Enc {
                    kind,
                    ciphertext: Bytes::from(ciphertext.serialized().to_vec()),
                    media_type: None,
                },
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
            }),
        }
    }
}
