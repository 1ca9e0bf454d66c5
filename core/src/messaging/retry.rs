//! The job of a retry receipt: encrypt a message we sent once more, for the
//! one device that could not read it, rebuilding the session from the keys the
//! receipt carries (from its second attempt on) or from a fresh bundle.

use bytes::Bytes;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{IqAnswer, Need, Outcome, OwnDevice, Records, Step};
use crate::binary::{Jid, Node};
use crate::message::iq::{self, BundleResult};
use crate::message::proto::DeviceSentMessage;
use crate::message::stanza::{Enc, EncType, Recipient, RetryReceipt, outgoing_message};
use crate::message::{Message, SignalAddress, pad};
use crate::signal::{CiphertextMessage, PreKeyBundle, PublicKey, SessionRecord, encrypt};
use crate::store::{WriteBatch, WriteOp};

/// Most retries answered for one message and device.
pub const MAX_RETRIES: u32 = 5;

#[derive(Debug)]
enum State {
    Start,
    /// The LID mapping of the asking device was asked for.
    Mapping,
    Loaded,
    Bundle,
    Finished,
}

/// See the module docs.
pub struct RetryJob {
    own: OwnDevice,
    receipt: Option<RetryReceipt>,
    /// The chat the message went to.
    chat: Option<Jid>,
    now: i64,
    rng: ChaCha20Rng,
    state: State,
    records: Records,
    fetched: Option<PreKeyBundle>,
    /// The asking device in the form its session is stored under (its LID
    /// form when the mapping is known).
    device: Option<Jid>,
}

impl std::fmt::Debug for RetryJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryJob")
            .field(
                "receipt",
                &self
                    .receipt
                    .as_ref()
                    .map(|r| (&r.message_id, &r.from, r.count)),
            )
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl RetryJob {
    pub(super) fn new(own: OwnDevice, stanza: &Node, now: i64, seed: [u8; 32]) -> Self {
        let mut receipt = RetryReceipt::parse(stanza)
            .ok()
            .filter(|r| r.count <= MAX_RETRIES);
        // A group's receipt comes from the group and names the device in
        // `participant`; our own devices' receipts name the chat in
        // `recipient`.
        let chat = receipt.as_mut().map(|r| {
            if r.from.is_group() {
                let group = r.from.to_non_ad();
                // From here on `from` is the device that asks.
                if let Some(device) = r.participant.take() {
                    r.from = device;
                }
                return group;
            }
            stanza
                .attr_jid_opt("recipient")
                .ok()
                .flatten()
                .unwrap_or_else(|| r.from.to_non_ad())
                .to_non_ad()
        });
        RetryJob {
            own,
            receipt,
            chat,
            now,
            rng: ChaCha20Rng::from_seed(seed),
            state: State::Start,
            records: Records::default(),
            fetched: None,
            device: None,
        }
    }

    fn address(&self) -> Option<String> {
        let device = self
            .device
            .as_ref()
            .or_else(|| self.receipt.as_ref().map(|r| &r.from))?;
        Some(SignalAddress::of(device).to_string())
    }

    pub(super) fn step(&mut self) -> Step {
        let (Some(receipt), Some(chat), Some(address)) =
            (self.receipt.clone(), self.chat.clone(), self.address())
        else {
            self.state = State::Finished;
            return Step::Done(Outcome::default());
        };
        match self.state {
            State::Start => {
                // First the mapping: the session may live under the LID form.
                self.state = State::Mapping;
                Step::Load(Need {
                    lid_of: if receipt.from.is_pn() {
                        vec![receipt.from.user().to_owned()]
                    } else {
                        Vec::new()
                    },
                    ..Need::default()
                })
            }
            State::Mapping => {
                self.state = State::Loaded;
                Step::Load(Need {
                    sessions: vec![address.clone()],
                    identities: vec![address],
                    sent_messages: vec![(chat.to_string(), receipt.message_id.clone())],
                    ..Need::default()
                })
            }
            State::Loaded => {
                let has_session = self.records.session(&address).is_some();
                if receipt.keys.is_none() && !has_session {
                    self.state = State::Bundle;
                    return Step::Query(iq::fetch_bundles(std::slice::from_ref(&receipt.from)));
                }
                Step::Done(self.finish(&receipt, &chat, &address))
            }
            State::Bundle => Step::Done(self.finish(&receipt, &chat, &address)),
            State::Finished => Step::Done(Outcome::default()),
        }
    }

    pub(super) fn provide(&mut self, records: Records) {
        if matches!(self.state, State::Mapping) {
            self.device = self.receipt.as_ref().map(|r| records.lid_form(&r.from));
            return;
        }
        self.records = records;
    }

    pub(super) fn answer(&mut self, answer: IqAnswer) {
        if let Ok(node) = answer
            && let Ok(results) = iq::parse_bundles(&node)
        {
            self.fetched = results.into_iter().find_map(|r| match r {
                BundleResult::Bundle { bundle, .. } => Some(bundle),
                BundleResult::Error { .. } => None,
            });
        }
    }

    fn finish(&mut self, receipt: &RetryReceipt, chat: &Jid, address: &str) -> Outcome {
        self.state = State::Finished;
        let Some(Some((payload, sent_at))) = self
            .records
            .sent_messages
            .get(&(chat.to_string(), receipt.message_id.clone()))
            .cloned()
        else {
            // Too old, or never ours: nothing to send again.
            return Outcome::default();
        };
        let mut batch = WriteBatch::new();
        // The payload was taken out to be read: it goes back for later retries.
        batch.push(WriteOp::StoreSentMessage {
            chat: chat.to_string(),
            id: receipt.message_id.clone(),
            payload: Bytes::from(payload.clone()),
            sent_at: if sent_at > 0 { sent_at } else { self.now },
        });
        let Ok(message) = Message::decode(&payload[..]) else {
            return Outcome {
                batch,
                ..Outcome::default()
            };
        };
        let mut events = Vec::new();
        let rebuilt = receipt.keys.as_ref().map(|keys| PreKeyBundle {
            registration_id: receipt.registration_id,
            device_id: u32::from(receipt.from.device()),
            pre_key: Some((keys.pre_key.0, PublicKey::from_raw(keys.pre_key.1))),
            signed_pre_key_id: keys.signed_pre_key.0,
            signed_pre_key: PublicKey::from_raw(keys.signed_pre_key.1),
            signed_pre_key_signature: keys.signed_pre_key.2,
            identity_key: PublicKey::from_raw(keys.identity),
        });
        let mut record = match rebuilt.or_else(|| self.fetched.take()) {
            Some(bundle) => {
                let existing = self
                    .records
                    .session(address)
                    .and_then(|b| SessionRecord::deserialize(b).ok())
                    .unwrap_or_default();
                let known = self.records.identity(address);
                match super::session_from_bundle(
                    &self.own,
                    existing,
                    &receipt.from,
                    address,
                    &bundle,
                    known,
                    &mut self.rng,
                    &mut batch,
                    &mut events,
                ) {
                    Some(record) => record,
                    None => {
                        return Outcome {
                            batch,
                            events,
                            ..Outcome::default()
                        };
                    }
                }
            }
            None => match self
                .records
                .session(address)
                .and_then(|b| SessionRecord::deserialize(b).ok())
            {
                Some(record) => record,
                None => {
                    return Outcome {
                        batch,
                        events,
                        ..Outcome::default()
                    };
                }
            },
        };
        if chat.is_group() {
            // The device asks again because it lacks our sender key: it gets
            // the message pairwise now, and a fresh distribution with our
            // next group message.
            batch.push(WriteOp::SetSenderKeyStatus {
                group: chat.to_string(),
                entries: vec![(receipt.from.to_string(), false)],
            });
        }
        let plain = if receipt.from.user() == self.own.jid.user() && !chat.is_group() {
            Message {
                device_sent_message: Some(Box::new(DeviceSentMessage {
                    destination_jid: Some(chat.to_string()),
                    message: Some(Box::new(message)),
                    phash: None,
                })),
                ..Message::default()
            }
            .encode_to_vec()
        } else {
            payload
        };
        let padded = pad(plain, &mut self.rng);
        let Ok(ciphertext) = encrypt(&mut record, &padded) else {
            return Outcome {
                batch,
                events,
                ..Outcome::default()
            };
        };
        let kind = match ciphertext {
            CiphertextMessage::PreKey(_) => EncType::PreKey,
            CiphertextMessage::Signal(_) => EncType::Message,
        };
        batch.put_session(address, record.serialize());
        let recipient = Recipient {
            device: receipt.from.clone(),
            enc: Enc {
                kind,
                ciphertext: Bytes::from(ciphertext.serialized().to_vec()),
                media_type: None,
            },
        };
        let stanza = outgoing_message(
            &receipt.message_id,
            chat,
            std::slice::from_ref(&recipient),
            Some(&self.own.device_identity),
        );
        Outcome {
            group: None,
            batch,
            stanzas: vec![stanza],
            events,
            sent: None,
        }
    }
}
