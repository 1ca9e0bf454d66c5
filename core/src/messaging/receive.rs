//! The job of one incoming `<message>`: decrypt every `<enc>`, store what
//! changed, answer once (receipt, retry receipt or ack), report the message.

use bytes::Bytes;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{MessagingEvent, Messenger, Need, Outcome, OwnDevice, Records, Step};
use crate::binary::{Jid, Node};
use crate::message::stanza::{EncType, IncomingMessage, RetryKeys};
use crate::message::{Message, MessageId, SignalAddress, unpad};
use crate::signal::{
    IdentityChange, IdentityPolicy, PreKeyRecord, PreKeySignalMessage,
    SenderKeyDistributionMessage, SenderKeyRecord, SessionRecord, SignalError, SignedPreKeyRecord,
    decrypt, decrypt_prekey_message, group_decrypt, process_sender_key_distribution,
};
use crate::store::{InboxEntry, WriteBatch, WriteOp};

/// A decrypted message, as the application gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// The message id.
    pub id: MessageId,
    /// The chat: the contact, the group, or (for our own devices' messages) the
    /// person we wrote to.
    pub chat: Jid,
    /// The sending device.
    pub sender: Jid,
    /// Whether one of our own devices sent it.
    pub from_me: bool,
    /// Server time, unix seconds.
    pub timestamp: u64,
    /// The sender's push name, if the server sent one.
    pub push_name: Option<String>,
    /// The content (for our own devices' messages, unwrapped from
    /// `deviceSentMessage`).
    pub message: Message,
    /// The unpadded plaintext, for fields this crate does not decode.
    pub raw: Vec<u8>,
}

/// How a [`ReceivedMessage`] is kept in the store's inbox (the payload of an
/// [`InboxEntry`]); the message itself travels as its protobuf bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct InboxPayload {
    #[prost(bool, optional, tag = "1")]
    from_me: Option<bool>,
    #[prost(string, optional, tag = "2")]
    push_name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "3")]
    raw: Option<Vec<u8>>,
}

impl ReceivedMessage {
    /// When the server took the message ([`timestamp`](Self::timestamp) as a
    /// time); `None` for a timestamp the platform's clock cannot represent.
    pub fn sent_at(&self) -> Option<std::time::SystemTime> {
        std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(self.timestamp))
    }

    /// A text that replies to (quotes) this message, to send to its chat.
    ///
    /// ```
    /// # fn f(received: &wa_core::messaging::ReceivedMessage) {
    /// let reply = received.reply("agreed");
    /// let quote = reply.extended_text_message.as_ref().and_then(|t| t.context_info.as_ref());
    /// assert_eq!(quote.and_then(|q| q.stanza_id.as_deref()), Some(received.id.as_str()));
    /// # }
    /// ```
    pub fn reply(&self, text: impl Into<String>) -> Message {
        use crate::message::proto::{ContextInfo, ExtendedTextMessage};
        let mut quoted = self.message.clone();
        // A quote carries the content, not our bookkeeping of it.
        quoted.message_context_info = None;
        quoted.sender_key_distribution_message = None;
        Message {
            extended_text_message: Some(ExtendedTextMessage {
                text: Some(text.into()),
                context_info: Some(Box::new(ContextInfo {
                    stanza_id: Some(self.id.to_string()),
                    participant: Some(self.sender.to_non_ad().to_string()),
                    quoted_message: Some(Box::new(quoted)),
                    remote_jid: self.chat.is_group().then(|| self.chat.to_string()),
                    mentioned_jid: Vec::new(),
                })),
            }),
            ..Message::default()
        }
    }

    /// The message this one replies to, if it quotes one: its id, sender and
    /// content.
    pub fn quoted(&self) -> Option<(&str, Option<&str>, Option<&Message>)> {
        let context = self
            .message
            .extended_text_message
            .as_ref()?
            .context_info
            .as_ref()?;
        Some((
            context.stanza_id.as_deref()?,
            context.participant.as_deref(),
            context.quoted_message.as_deref(),
        ))
    }

    /// The inbox entry that keeps this message until the application
    /// acknowledges it.
    pub fn to_inbox(&self) -> InboxEntry {
        InboxEntry {
            chat: self.chat.to_string(),
            id: self.id.to_string(),
            sender: self.sender.to_string(),
            timestamp: i64::try_from(self.timestamp).unwrap_or(i64::MAX),
            payload: InboxPayload {
                from_me: Some(self.from_me),
                push_name: self.push_name.clone(),
                raw: Some(self.raw.clone()),
            }
            .encode_to_vec(),
        }
    }

    /// The message an inbox entry keeps (`None` for an entry this version
    /// cannot read).
    pub fn from_inbox(entry: &InboxEntry) -> Option<Self> {
        let payload = InboxPayload::decode(&entry.payload[..]).ok()?;
        let raw = payload.raw.unwrap_or_default();
        Some(ReceivedMessage {
            id: entry.id.clone().into(),
            chat: entry.chat.parse().ok()?,
            sender: entry.sender.parse().ok()?,
            from_me: payload.from_me.unwrap_or(false),
            timestamp: u64::try_from(entry.timestamp).unwrap_or(0),
            push_name: payload.push_name,
            message: Message::decode(&raw[..]).ok()?,
            raw,
        })
    }

    /// The write that releases this message from the inbox once the
    /// application has handled it.
    pub fn ack(&self) -> WriteOp {
        WriteOp::RemoveInbox {
            chat: self.chat.to_string(),
            id: self.id.to_string(),
        }
    }
}

/// Where a [`ReceiveJob`] is.
enum Phase {
    Start,
    /// The sender's LID mapping was asked for.
    MappingAsked,
    /// The mapping is known; the records are next.
    Mapped,
    /// The records were asked for.
    RecordsAsked,
    Loaded(Box<Records>),
    Finished,
}

/// See the module docs.
pub struct ReceiveJob {
    own: OwnDevice,
    parsed: Result<IncomingMessage, ()>,
    /// The attempt number if this decryption fails.
    failure_count: u32,
    /// A prekey id reserved for the retry receipt's keys.
    retry_pre_key_id: Option<u32>,
    rng: ChaCha20Rng,
    phase: Phase,
    /// The stored LID mapping of a phone-number sender (loaded first).
    mapping: Option<Records>,
    now: i64,
    /// Whether decrypted messages go into the store's inbox.
    inbox: bool,
}

impl std::fmt::Debug for ReceiveJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiveJob")
            .field("message", &self.parsed)
            .finish_non_exhaustive()
    }
}

impl ReceiveJob {
    pub(super) fn new(messenger: &mut Messenger, stanza: &Node, now: i64, seed: [u8; 32]) -> Self {
        let parsed = IncomingMessage::parse(stanza).map_err(|_| ());
        // The count this attempt will carry if it fails; keys from the second.
        let previous = match &parsed {
            Ok(m) => messenger.retries.get(&m.id).copied().unwrap_or(0),
            Err(_) => 0,
        };
        let retry_pre_key_id = (previous >= 1).then(|| messenger.take_prekey_ids(1).start);
        ReceiveJob {
            own: messenger.own.clone(),
            parsed,
            failure_count: previous + 1,
            retry_pre_key_id,
            rng: ChaCha20Rng::from_seed(seed),
            phase: Phase::Start,
            mapping: None,
            now,
            inbox: messenger.inbox,
        }
    }

    fn need(&self, msg: &IncomingMessage) -> Need {
        let mut need = Need::default();
        if msg.encs.iter().any(|e| e.kind != EncType::SenderKey) {
            // The session may live under either form of the sender's JID.
            for device in self.forms(msg) {
                let address = SignalAddress::of(&device).to_string();
                need.sessions.push(address.clone());
                need.identities.push(address);
            }
        }
        for enc in &msg.encs {
            if enc.kind == EncType::PreKey
                && let Ok(pkmsg) = PreKeySignalMessage::deserialize(&enc.ciphertext)
            {
                need.prekeys.extend(pkmsg.pre_key_id());
                if pkmsg.signed_pre_key_id() != self.own.signed_pre_key.id() {
                    need.signed_prekeys.push(pkmsg.signed_pre_key_id());
                }
            }
        }
        if msg.from.is_group() {
            need.sender_keys
                .push(SignalAddress::sender_key_name(&msg.from, msg.sender()));
        }
        need
    }

    /// The sender's device in each JID form known so far: the stanza's, then
    /// the other one (from the stanza's attributes or a stored mapping).
    fn forms(&self, msg: &IncomingMessage) -> Vec<Jid> {
        let sender = msg.sender().clone();
        let mut forms = vec![sender.clone()];
        let other = match &msg.sender_alt {
            Some(alt) => Some(alt.to_non_ad().with_device(sender.device())),
            None => self
                .mapping
                .as_ref()
                .map(|m| m.lid_form(&sender))
                .filter(|l| *l != sender),
        };
        forms.extend(other);
        forms
    }

    /// The form sessions are kept under: the LID one when known.
    fn canonical(&self, msg: &IncomingMessage) -> Jid {
        let forms = self.forms(msg);
        forms
            .iter()
            .find(|j| j.is_lid())
            .unwrap_or(&forms[0])
            .clone()
    }

    pub(super) fn step(&mut self) -> Step {
        let Ok(msg) = &self.parsed else {
            return Step::Done(Outcome::default());
        };
        let ack = || {
            Step::Done(Outcome {
                stanzas: vec![msg.ack()],
                ..Outcome::default()
            })
        };
        if msg.encs.is_empty() {
            return ack();
        }
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            // A phone-number sender without its LID in the stanza: look the
            // mapping up first.
            Phase::Start if msg.sender().is_pn() && msg.sender_alt.is_none() => {
                self.phase = Phase::MappingAsked;
                Step::Load(Need {
                    lid_of: vec![msg.sender().user().to_owned()],
                    ..Need::default()
                })
            }
            Phase::Start | Phase::Mapped => {
                let need = self.need(msg);
                self.phase = Phase::RecordsAsked;
                Step::Load(need)
            }
            Phase::Loaded(records) => {
                let Ok(msg) = std::mem::replace(&mut self.parsed, Err(())) else {
                    return Step::Done(Outcome::default());
                };
                let outcome = self.run(&msg, &records);
                self.parsed = Ok(msg);
                Step::Done(outcome)
            }
            // Asked and not given anything, or finished: answer and stop.
            Phase::MappingAsked | Phase::RecordsAsked | Phase::Finished => ack(),
        }
    }

    pub(super) fn provide(&mut self, records: Records) {
        self.phase = match self.phase {
            Phase::MappingAsked => {
                self.mapping = Some(records);
                Phase::Mapped
            }
            _ => Phase::Loaded(Box::new(records)),
        };
    }

    fn run(&mut self, msg: &IncomingMessage, records: &Records) -> Outcome {
        let sender = msg.sender().clone();
        let from_me = sender.user() == self.own.jid.user()
            || self
                .own
                .lid
                .as_ref()
                .is_some_and(|l| l.user() == sender.user());
        let canonical = self.canonical(msg);
        let address = SignalAddress::of(&canonical).to_string();
        let mut batch = WriteBatch::new();
        // A session found only under the other form moves to this one.
        let mut migrated_from = None;
        if records.session(&address).is_none() {
            for form in self.forms(msg) {
                let other = SignalAddress::of(&form).to_string();
                if other != address && records.session(&other).is_some() {
                    migrated_from = Some(other);
                    break;
                }
            }
        }
        let source = migrated_from.clone().unwrap_or_else(|| address.clone());
        // The mapping the stanza taught us.
        if let Some(alt) = &msg.sender_alt {
            let (lid, pn) = if sender.is_lid() {
                (&sender, alt)
            } else {
                (alt, &sender)
            };
            if lid.is_lid() && pn.is_pn() {
                batch.push(WriteOp::PutLidMapping(crate::store::LidPnMappingEntry {
                    lid: lid.user().to_owned(),
                    phone_number: pn.user().to_owned(),
                    created_at: self.now,
                    updated_at: self.now,
                    learning_source: "message".to_owned(),
                }));
            }
        }
        let mut events = Vec::new();
        let mut failure: Option<SignalError> = None;
        let mut plaintexts = Vec::new();

        // Pairwise first: a sender key may travel inside.
        let mut session = None;
        for enc in msg.encs.iter().filter(|e| e.kind != EncType::SenderKey) {
            let record = session.get_or_insert_with(|| {
                records
                    .session(&source)
                    .and_then(|b| SessionRecord::deserialize(b).ok())
                    .unwrap_or_default()
            });
            let known = records
                .identity(&address)
                .or_else(|| records.identity(&source));
            let result = match enc.kind {
                EncType::PreKey => self.decrypt_pkmsg(record, &enc.ciphertext, known, records),
                _ => decrypt(record, &enc.ciphertext, &mut self.rng).map(|p| (p, None, None)),
            };
            match result {
                Ok((plaintext, used_pre_key, identity)) => {
                    if let Some(id) = used_pre_key {
                        batch.remove_prekey(id);
                    }
                    match identity {
                        Some((IdentityChange::New, key)) => batch.put_identity(&address, key),
                        Some((IdentityChange::Changed { .. }, key)) => {
                            batch.put_identity(&address, key);
                            events.push(MessagingEvent::IdentityChanged {
                                device: sender.clone(),
                            });
                        }
                        _ => {}
                    }
                    plaintexts.push(plaintext);
                }
                // A duplicate is answered like a success, not delivered again.
                Err(SignalError::DuplicateMessage { .. }) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(record) = &session
            && !plaintexts.is_empty()
        {
            batch.put_session(&address, record.serialize());
            if let Some(old) = &migrated_from {
                batch.push(WriteOp::DeleteSession {
                    address: old.clone(),
                });
                if let Some(key) = records.identity(old) {
                    batch.put_identity(&address, *key.raw());
                }
            }
        }

        // Then the group message, with any distribution just received.
        let mut sender_key: Option<(String, SenderKeyRecord)> = None;
        let mut messages = Vec::new();
        for plaintext in &plaintexts {
            let Some((message, raw)) = decode_plaintext(plaintext) else {
                failure.get_or_insert(SignalError::InvalidMessage("plaintext"));
                continue;
            };
            if let Some(dist) = &message.sender_key_distribution_message
                && let (Some(group), Some(bytes)) = (
                    &dist.group_id,
                    &dist.axolotl_sender_key_distribution_message,
                )
                && let (Ok(group), Ok(dist)) = (
                    group.parse::<Jid>(),
                    SenderKeyDistributionMessage::deserialize(bytes),
                )
            {
                let name = SignalAddress::sender_key_name(&group, &sender);
                let (_, record) = sender_key
                    .get_or_insert_with(|| (name.clone(), load_sender_key(records, &name)));
                process_sender_key_distribution(record, &dist);
            }
            messages.push((message, raw));
        }
        for enc in msg.encs.iter().filter(|e| e.kind == EncType::SenderKey) {
            let name = SignalAddress::sender_key_name(&msg.from, &sender);
            if sender_key.as_ref().is_some_and(|(n, _)| *n != name) {
                sender_key = None;
            }
            let (_, record) =
                sender_key.get_or_insert_with(|| (name.clone(), load_sender_key(records, &name)));
            match group_decrypt(record, &enc.ciphertext) {
                Ok(plaintext) => match decode_plaintext(&plaintext) {
                    Some(decoded) => messages.push(decoded),
                    None => {
                        failure.get_or_insert(SignalError::InvalidMessage("plaintext"));
                    }
                },
                // A duplicate is answered like a success, not delivered again.
                Err(SignalError::DuplicateMessage { .. }) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some((name, record)) = &sender_key {
            batch.put_sender_key(name, record.serialize());
        }

        if let Some(error) = failure {
            // Nothing is stored for a message we could not read; the sender is
            // asked to encrypt it again.
            let mut batch = WriteBatch::new();
            let keys = self.retry_keys(&mut batch);
            return Outcome {
                group: None,
                batch,
                stanzas: vec![msg.retry_receipt(
                    self.failure_count,
                    self.own.registration_id,
                    keys,
                )],
                events: vec![MessagingEvent::Undecryptable {
                    id: msg.id.clone().into(),
                    sender,
                    reason: error.to_string(),
                }],
                sent: None,
            };
        }
        for (message, raw) in messages {
            let (message, chat) = unwrap_device_sent(message, from_me, msg.chat());
            if is_content(&raw) {
                let received = ReceivedMessage {
                    id: msg.id.clone().into(),
                    chat,
                    sender: sender.clone(),
                    from_me,
                    timestamp: msg.timestamp,
                    push_name: msg.push_name.clone(),
                    message,
                    raw,
                };
                if self.inbox {
                    // Stored with the session change: a crash after the commit
                    // cannot lose it (redelivered from the inbox on restart).
                    batch.push(WriteOp::PutInbox(received.to_inbox()));
                }
                events.push(MessagingEvent::Message(Box::new(received)));
            }
        }
        Outcome {
            group: None,
            batch,
            stanzas: vec![msg.delivery_receipt(from_me)],
            events,
            sent: None,
        }
    }

    #[allow(clippy::type_complexity)]
    fn decrypt_pkmsg(
        &mut self,
        record: &mut SessionRecord,
        bytes: &[u8],
        known: Option<crate::signal::PublicKey>,
        records: &Records,
    ) -> Result<(Vec<u8>, Option<u32>, Option<(IdentityChange, [u8; 32])>), SignalError> {
        let pkmsg = PreKeySignalMessage::deserialize(bytes)?;
        let signed_id = pkmsg.signed_pre_key_id();
        let stored_signed;
        let signed = if signed_id == self.own.signed_pre_key.id() {
            Some(&self.own.signed_pre_key)
        } else {
            stored_signed = records
                .signed_prekeys
                .get(&signed_id)
                .and_then(Option::as_ref)
                .and_then(|b| SignedPreKeyRecord::deserialize(b).ok());
            stored_signed.as_ref()
        };
        let one_time = pkmsg.pre_key_id().and_then(|id| {
            records
                .prekeys
                .get(&id)
                .and_then(Option::as_ref)
                .and_then(|b| PreKeyRecord::deserialize(b).ok())
        });
        let got = decrypt_prekey_message(
            record,
            &self.own.identity,
            self.own.registration_id,
            &pkmsg,
            signed,
            one_time.as_ref(),
            known.as_ref(),
            IdentityPolicy::AcceptChanged,
            &mut self.rng,
        )?;
        let identity = Some((got.identity, *pkmsg.identity_key().raw()));
        Ok((got.plaintext, got.used_pre_key_id, identity))
    }

    /// From the second failed attempt on: a fresh one-time prekey for the
    /// sender to start a new session with, stored before the receipt leaves.
    fn retry_keys(&mut self, batch: &mut WriteBatch) -> Option<RetryKeys> {
        let id = self.retry_pre_key_id?;
        let key = PreKeyRecord::generate(id, &mut self.rng);
        batch.push(WriteOp::StorePreKeys {
            keys: vec![(id, Bytes::from(key.serialize()))],
            uploaded: true,
        });
        batch.push(WriteOp::AdvancePreKeyCounter { next: id + 1 });
        Some(RetryKeys {
            identity: *self.own.identity.public_key().raw(),
            pre_key: (id, *key.public_key().raw()),
            signed_pre_key: (
                self.own.signed_pre_key.id(),
                *self.own.signed_pre_key.public_key().raw(),
                *self.own.signed_pre_key.signature(),
            ),
            device_identity: self.own.device_identity.clone(),
        })
    }
}

/// Records the outcome of a receive job in the messenger: the failure count
/// for a retry, or nothing.
pub(super) fn note(messenger: &mut Messenger, outcome: &Outcome) {
    for event in &outcome.events {
        if let MessagingEvent::Undecryptable { id, .. } = event {
            messenger.note_failure(id);
        }
    }
}

fn load_sender_key(records: &Records, name: &str) -> SenderKeyRecord {
    records
        .sender_keys
        .get(name)
        .and_then(Option::as_ref)
        .and_then(|b| SenderKeyRecord::deserialize(b).ok())
        .unwrap_or_default()
}

fn decode_plaintext(padded: &[u8]) -> Option<(Message, Vec<u8>)> {
    let raw = unpad(padded).ok()?;
    let message = Message::decode(raw).ok()?;
    Some((message, raw.to_vec()))
}

/// Our own devices' copies of what we sent come wrapped; the chat is the
/// destination.
fn unwrap_device_sent(message: Message, from_me: bool, chat: Jid) -> (Message, Jid) {
    if from_me
        && let Some(sent) = &message.device_sent_message
        && let Some(inner) = &sent.message
    {
        let chat = sent
            .destination_jid
            .as_deref()
            .and_then(|j| j.parse::<Jid>().ok())
            .unwrap_or(chat);
        return ((**inner).clone(), chat);
    }
    (message, chat)
}

/// Whether a plaintext carries something for the application: any top-level
/// field but the sender key (2) and the message context (35), whether this
/// crate decodes it or not (an image, a poll, … reach the application through
/// [`ReceivedMessage::raw`]).
fn is_content(raw: &[u8]) -> bool {
    use prost::encoding::{DecodeContext, decode_key, skip_field};
    let mut buf = raw;
    while !buf.is_empty() {
        let Ok((tag, wire_type)) = decode_key(&mut buf) else {
            return true;
        };
        if tag != 2 && tag != 35 {
            return true;
        }
        if skip_field(wire_type, tag, &mut buf, DecodeContext::default()).is_err() {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::proto::{MessageContextInfo, SenderKeyDistribution};

    #[test]
    fn content_is_any_field_but_the_sender_key_and_the_context() {
        let bare = Message {
            sender_key_distribution_message: Some(SenderKeyDistribution::default()),
            message_context_info: Some(MessageContextInfo::default()),
            ..Message::default()
        };
        assert!(!is_content(&bare.encode_to_vec()));
        assert!(!is_content(&[]));
        assert!(is_content(&Message::text("hi").encode_to_vec()));
        // An image message (field 3), which this crate does not decode, beside
        // a sender key: still content.
        let mut image = bare.encode_to_vec();
        image.extend_from_slice(&[0x1A, 0x02, 0x08, 0x01]);
        assert!(is_content(&image));
    }
}
