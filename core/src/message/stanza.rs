//! The stanzas of messaging: incoming `<message>`s, outgoing fan-out messages,
//! delivery and retry receipts, acks, and the server's ack of our messages.
//! Shapes are described in `docs/messaging.md`.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::MessageId;
use super::StanzaError;
use crate::binary::{Jid, Node, Value};

/// The `type` of an `<enc>` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncType {
    /// `pkmsg`: a session-starting Signal message.
    PreKey,
    /// `msg`: a Signal ratchet message.
    Message,
    /// `skmsg`: a group (sender-key) message.
    SenderKey,
}

impl EncType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            EncType::PreKey => "pkmsg",
            EncType::Message => "msg",
            EncType::SenderKey => "skmsg",
        }
    }

    /// Parses the attribute value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pkmsg" => Some(EncType::PreKey),
            "msg" => Some(EncType::Message),
            "skmsg" => Some(EncType::SenderKey),
            _ => None,
        }
    }
}

/// One `<enc>` of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enc {
    /// The kind of ciphertext.
    pub kind: EncType,
    /// The ciphertext.
    pub ciphertext: Bytes,
    /// The `mediatype` attribute, if any.
    pub media_type: Option<String>,
}

impl Enc {
    /// The `<enc v="2">` element.
    pub fn to_node(&self) -> Node {
        let mut node = Node::new("enc")
            .with_attr("v", "2")
            .with_attr("type", self.kind.as_str());
        if let Some(media) = &self.media_type {
            node = node.with_attr("mediatype", media.as_str());
        }
        node.with_bytes(self.ciphertext.clone())
    }

    fn parse(node: &Node) -> Result<Self, StanzaError> {
        let kind = node
            .attr_str("type")
            .and_then(EncType::parse)
            .ok_or(StanzaError::Invalid("enc type"))?;
        let ciphertext = node
            .content_bytes()
            .cloned()
            .ok_or(StanzaError::Invalid("enc content"))?;
        Ok(Enc {
            kind,
            ciphertext,
            media_type: node.attr_str("mediatype").map(str::to_owned),
        })
    }
}

/// An incoming `<message>` stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    /// The message id.
    pub id: String,
    /// The `from` attribute: the sending device (1:1) or the group.
    pub from: Jid,
    /// The sending device in a group (`participant`).
    pub participant: Option<Jid>,
    /// The chat partner when one of our own devices sent the message to someone
    /// (`recipient`).
    pub recipient: Option<Jid>,
    /// The sender's other address form, when the server gives it
    /// (`sender_lid`, `participant_lid`, `participant_pn`, `sender_pn`).
    pub sender_alt: Option<Jid>,
    /// Server time, seconds since the Unix epoch.
    pub timestamp: u64,
    /// The sender's push name (`notify`).
    pub push_name: Option<String>,
    /// Whether it came from the offline queue.
    pub offline: bool,
    /// The `type` attribute (`text`, `media`, …).
    pub kind: Option<String>,
    /// The ciphertexts, in stanza order.
    pub encs: Vec<Enc>,
}

/// Most `<enc>` children read from one stanza (a real message has one or two).
const MAX_ENCS: usize = 8;

impl IncomingMessage {
    /// Parses a `<message>` stanza.
    pub fn parse(node: &Node) -> Result<Self, StanzaError> {
        if node.tag != "message" {
            return Err(StanzaError::Invalid("not a message"));
        }
        let id = node.require_attr_str("id")?.to_owned();
        let from = node.attr_jid("from")?;
        let participant = node.attr_jid_opt("participant")?;
        let recipient = node.attr_jid_opt("recipient")?;
        let sender_alt = [
            "participant_pn",
            "participant_lid",
            "sender_pn",
            "sender_lid",
        ]
        .iter()
        .find_map(|k| node.attr_jid_opt(k).ok().flatten());
        let timestamp = node.attr_str("t").and_then(|t| t.parse().ok()).unwrap_or(0);
        let encs = node
            .children_by_tag("enc")
            .take(MAX_ENCS)
            .map(Enc::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IncomingMessage {
            id,
            from,
            participant,
            recipient,
            sender_alt,
            timestamp,
            push_name: node.attr_str("notify").map(str::to_owned),
            offline: node.attr("offline").is_some(),
            kind: node.attr_str("type").map(str::to_owned),
            encs,
        })
    }

    /// The device that sent the message.
    pub fn sender(&self) -> &Jid {
        self.participant.as_ref().unwrap_or(&self.from)
    }

    /// The chat the message belongs to: the group, the partner of one of our own
    /// devices' messages, or the sender's account.
    pub fn chat(&self) -> Jid {
        if self.from.is_group() {
            self.from.to_non_ad()
        } else if let Some(recipient) = &self.recipient {
            recipient.to_non_ad()
        } else {
            self.from.to_non_ad()
        }
    }

    /// Copies the addressing attributes an answer must echo.
    fn answer(&self, tag: &str) -> Node {
        let mut node = Node::new(tag)
            .with_attr("id", self.id.as_str())
            .with_attr("to", &self.from);
        if let Some(p) = &self.participant {
            node = node.with_attr("participant", p);
        }
        if let Some(r) = &self.recipient {
            node = node.with_attr("recipient", r);
        }
        node
    }

    /// The delivery receipt; `from_own_device` marks messages our own other
    /// devices sent (`type="sender"`).
    pub fn delivery_receipt(&self, from_own_device: bool) -> Node {
        let node = self.answer("receipt");
        if from_own_device {
            node.with_attr("type", "sender")
        } else {
            node
        }
    }

    /// The ack of a message we could not (or need not) answer with a receipt.
    pub fn ack(&self) -> Node {
        self.answer("ack").with_attr("class", "message")
    }

    /// A retry receipt asking the sender to encrypt again: `count` is the
    /// attempt (1-based); `keys` (from the second attempt on) carries fresh keys
    /// for rebuilding the session.
    pub fn retry_receipt(&self, count: u32, registration_id: u32, keys: Option<RetryKeys>) -> Node {
        let retry = Node::new("retry")
            .with_attr("v", "1")
            .with_attr("id", self.id.as_str())
            .with_attr("t", self.timestamp)
            .with_attr("count", count);
        let mut children = vec![
            retry,
            Node::new("registration").with_bytes(registration_id.to_be_bytes().to_vec()),
        ];
        if let Some(keys) = keys {
            children.push(keys.to_node());
        }
        self.answer("receipt")
            .with_attr("type", "retry")
            .with_children(children)
    }
}

/// The keys a retry receipt carries so the sender can start a new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryKeys {
    /// Our identity key (32 raw bytes).
    pub identity: [u8; 32],
    /// A fresh one-time prekey: (id, 32-byte key).
    pub pre_key: (u32, [u8; 32]),
    /// Our signed prekey: (id, 32-byte key, signature).
    pub signed_pre_key: (u32, [u8; 32], [u8; 64]),
    /// Our account-signed device identity (`ADVSignedDeviceIdentity` bytes).
    pub device_identity: Vec<u8>,
}

impl RetryKeys {
    fn to_node(&self) -> Node {
        Node::new("keys").with_children([
            Node::new("type").with_bytes(vec![crate::keys::DJB_KEY_TYPE]),
            Node::new("identity").with_bytes(self.identity.to_vec()),
            key_node("key", self.pre_key.0, &self.pre_key.1, None),
            key_node(
                "skey",
                self.signed_pre_key.0,
                &self.signed_pre_key.1,
                Some(&self.signed_pre_key.2),
            ),
            Node::new("device-identity").with_bytes(self.device_identity.clone()),
        ])
    }

    /// Parses the `<keys>` of a retry receipt.
    pub fn parse(node: &Node) -> Result<Self, StanzaError> {
        let identity = fixed::<32>(node, "identity")?;
        let key = node.child("key").ok_or(StanzaError::Invalid("retry key"))?;
        let skey = node
            .child("skey")
            .ok_or(StanzaError::Invalid("retry skey"))?;
        Ok(RetryKeys {
            identity,
            pre_key: (key_id(key)?, fixed::<32>(key, "value")?),
            signed_pre_key: signed_key(skey)?,
            device_identity: node
                .child("device-identity")
                .and_then(Node::content_bytes)
                .map(|b| b.to_vec())
                .unwrap_or_default(),
        })
    }
}

/// `<tag><id>3 bytes</id><value>32 bytes</value>[<signature>64</signature>]</tag>`.
pub(crate) fn key_node(tag: &str, id: u32, value: &[u8; 32], signature: Option<&[u8; 64]>) -> Node {
    let mut children = vec![
        Node::new("id").with_bytes(id.to_be_bytes()[1..].to_vec()),
        Node::new("value").with_bytes(value.to_vec()),
    ];
    if let Some(sig) = signature {
        children.push(Node::new("signature").with_bytes(sig.to_vec()));
    }
    Node::new(tag.to_owned()).with_children(children)
}

/// A `<skey>` element: its id, key and signature.
pub(crate) fn signed_key(skey: &Node) -> Result<(u32, [u8; 32], [u8; 64]), StanzaError> {
    Ok((
        key_id(skey)?,
        fixed::<32>(skey, "value")?,
        fixed::<64>(skey, "signature")?,
    ))
}

/// The 24-bit big-endian `<id>` child of a key element.
pub fn key_id(node: &Node) -> Result<u32, StanzaError> {
    let id = node
        .child("id")
        .and_then(Node::content_bytes)
        .ok_or(StanzaError::Invalid("key id"))?;
    match id.as_ref() {
        [a, b, c] => Ok(u32::from_be_bytes([0, *a, *b, *c])),
        _ => Err(StanzaError::Invalid("key id length")),
    }
}

/// The content of child `tag`, exactly `N` bytes.
pub(crate) fn fixed<const N: usize>(
    node: &Node,
    tag: &'static str,
) -> Result<[u8; N], StanzaError> {
    node.child(tag)
        .and_then(Node::content_bytes)
        .and_then(|b| b.as_ref().try_into().ok())
        .ok_or(StanzaError::Invalid(tag))
}

/// A retry receipt, as the original sender reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryReceipt {
    /// The message to send again.
    pub message_id: String,
    /// Who asks (the device to re-encrypt for).
    pub from: Jid,
    /// The asking device in a group.
    pub participant: Option<Jid>,
    /// The attempt number.
    pub count: u32,
    /// The requester's registration id.
    pub registration_id: u32,
    /// Keys to rebuild the session with, if sent.
    pub keys: Option<RetryKeys>,
}

impl RetryReceipt {
    /// Parses a `<receipt type="retry">`.
    pub fn parse(node: &Node) -> Result<Self, StanzaError> {
        if node.tag != "receipt" || node.attr_str("type") != Some("retry") {
            return Err(StanzaError::Invalid("not a retry receipt"));
        }
        let retry = node.child("retry").ok_or(StanzaError::Invalid("retry"))?;
        let registration = fixed::<4>(node, "registration")?;
        Ok(RetryReceipt {
            message_id: node.require_attr_str("id")?.to_owned(),
            from: node.attr_jid("from")?,
            participant: node.attr_jid_opt("participant")?,
            count: retry
                .attr_str("count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            registration_id: u32::from_be_bytes(registration),
            keys: node.child("keys").map(RetryKeys::parse).transpose()?,
        })
    }
}

/// One recipient device of an outgoing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The device.
    pub device: Jid,
    /// Its ciphertext.
    pub enc: Enc,
}

/// Builds an outgoing 1:1 `<message>`: one `<to>` per device, and the
/// `<device-identity>` whenever a pkmsg is among them.
pub fn outgoing_message(
    id: &str,
    to: &Jid,
    recipients: &[Recipient],
    device_identity: Option<&[u8]>,
) -> Node {
    message_node(id, to, recipients, None, device_identity)
}

/// Builds an outgoing group `<message>`: the sender-key distributions (one
/// `<to>` per device that lacks our key; none when all hold it), the content
/// once as `skmsg`, and the `<device-identity>` whenever a pkmsg is present.
pub fn outgoing_group_message(
    id: &str,
    group: &Jid,
    distributions: &[Recipient],
    skmsg: Bytes,
    device_identity: Option<&[u8]>,
) -> Node {
    let skmsg = Enc {
        kind: EncType::SenderKey,
        ciphertext: skmsg,
        media_type: None,
    };
    message_node(id, group, distributions, Some(skmsg), device_identity)
}

fn message_node(
    id: &str,
    to: &Jid,
    recipients: &[Recipient],
    shared: Option<Enc>,
    device_identity: Option<&[u8]>,
) -> Node {
    let mut children = Vec::new();
    if shared.is_none() || !recipients.is_empty() {
        children.push(
            Node::new("participants").with_children(recipients.iter().map(|r| {
                Node::new("to")
                    .with_attr("jid", &r.device)
                    .with_children([r.enc.to_node()])
            })),
        );
    }
    if let Some(enc) = shared {
        children.push(enc.to_node());
    }
    let has_pkmsg = recipients.iter().any(|r| r.enc.kind == EncType::PreKey);
    if let (true, Some(identity)) = (has_pkmsg, device_identity) {
        children.push(Node::new("device-identity").with_bytes(identity.to_vec()));
    }
    Node::new("message")
        .with_attr("id", id)
        .with_attr("to", to)
        .with_attr("type", "text")
        .with_children(children)
}

/// The server's ack of one of our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAck {
    /// The message id.
    pub id: String,
    /// Server time.
    pub timestamp: Option<u64>,
    /// The server's phash of the devices it delivered to.
    pub phash: Option<String>,
    /// An error code, if the server refused the message.
    pub error: Option<String>,
}

impl ServerAck {
    /// Parses `<ack class="message">`; `None` for other stanzas.
    pub fn parse(node: &Node) -> Option<Self> {
        if node.tag != "ack" || node.attr_str("class") != Some("message") {
            return None;
        }
        Some(ServerAck {
            id: node.attr_str("id")?.to_owned(),
            timestamp: node.attr_str("t").and_then(|t| t.parse().ok()),
            phash: node.attr_str("phash").map(str::to_owned),
            error: node.attr("error").map(|e: &Value| e.to_text().into_owned()),
        })
    }
}

/// The phash of a set of devices: `"2:"` + base64 (standard alphabet) of the
/// first 6 bytes of SHA-256 over the devices' `user.0:device@server` forms,
/// sorted and concatenated (the agent is always written as 0, the device even
/// when it is 0).
pub fn phash<'a>(devices: impl IntoIterator<Item = &'a Jid>) -> String {
    use base64::Engine as _;
    let mut names: Vec<String> = devices
        .into_iter()
        .map(|j| {
            if j.user().is_empty() {
                j.server().as_str().to_owned()
            } else {
                format!("{}.0:{}@{}", j.user(), j.device(), j.server().as_str())
            }
        })
        .collect();
    names.sort_unstable();
    let mut hash = Sha256::new();
    for name in &names {
        hash.update(name.as_bytes());
    }
    let digest = hash.finalize();
    format!(
        "2:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..6])
    )
}

/// Most message ids one receipt may name that are read (a `<list>` of more
/// is cut there).
const MAX_RECEIPT_IDS: usize = 1024;

/// An incoming `<receipt>` (not a retry): a contact's device got, read or
/// played messages we sent, or another of our devices did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Who sends it (the contact's device, or the group).
    pub from: Jid,
    /// The device in a group.
    pub participant: Option<Jid>,
    /// For receipts of our own devices: the chat.
    pub recipient: Option<Jid>,
    /// The messages it is about: the `id` attribute, then the `<list>` items.
    pub ids: Vec<MessageId>,
    /// The `type` attribute (`None` for a plain delivery receipt; `read`,
    /// `played`, `sender`, `inactive`, …).
    pub kind: Option<String>,
    /// Server time, unix seconds.
    pub timestamp: Option<u64>,
}

impl Receipt {
    /// Parses a `<receipt>`; retry receipts are [`RetryReceipt`]s and refused
    /// here.
    pub fn parse(node: &Node) -> Result<Self, StanzaError> {
        if node.tag != "receipt" {
            return Err(StanzaError::Invalid("not a receipt"));
        }
        let kind = node.attr_str("type").map(str::to_owned);
        if kind.as_deref() == Some("retry") {
            return Err(StanzaError::Invalid("a retry receipt"));
        }
        let mut ids = vec![node.require_attr_str("id")?.to_owned()];
        if let Some(list) = node.child("list") {
            ids.extend(
                list.children_by_tag("item")
                    .filter_map(|i| i.attr_str("id"))
                    .take(MAX_RECEIPT_IDS)
                    .map(str::to_owned),
            );
        }
        Ok(Receipt {
            from: node.attr_jid("from")?,
            participant: node.attr_jid_opt("participant")?,
            recipient: node.attr_jid_opt("recipient")?,
            ids: ids.into_iter().map(MessageId::from).collect(),
            kind,
            timestamp: node.attr_str("t").and_then(|t| t.parse().ok()),
        })
    }
}

/// The `<ack>` that answers a `<receipt>` or a `<notification>` from the
/// server: `class` is the stanza's tag, and `id`, `from` (as `to`),
/// `participant` and `type` are echoed. `None` for other stanzas or when the
/// stanza has no `id` or `from`.
pub fn ack_for(node: &Node) -> Option<Node> {
    let class = match node.tag.as_str() {
        "receipt" => "receipt",
        "notification" => "notification",
        _ => return None,
    };
    let mut ack = Node::new("ack")
        .with_attr("id", node.attr("id")?.clone())
        .with_attr("class", class)
        .with_attr("to", node.attr("from")?.clone());
    if let Some(p) = node.attr("participant") {
        ack = ack.with_attr("participant", p.clone());
    }
    if let Some(t) = node.attr("type") {
        ack = ack.with_attr("type", t.clone());
    }
    Some(ack)
}

/// A read receipt for messages `ids` (at least one) of one sender in `chat`:
/// `<receipt id to type="read" [participant] t>` with the later ids in a
/// `<list>`. `sender` is the sending device; in a group it goes in
/// `participant`. `None` when `ids` is empty.
pub fn read_receipt(chat: &Jid, sender: &Jid, ids: &[MessageId], now: u64) -> Option<Node> {
    let (first, rest) = ids.split_first()?;
    let mut node = Node::new("receipt")
        .with_attr("id", first.as_str())
        .with_attr("type", "read")
        .with_attr("t", now);
    node = if chat.is_group() {
        node.with_attr("to", chat).with_attr("participant", sender)
    } else {
        node.with_attr("to", sender)
    };
    if !rest.is_empty() {
        node = node.with_children([Node::new("list").with_children(
            rest.iter()
                .map(|id| Node::new("item").with_attr("id", id.as_str())),
        )]);
    }
    Some(node)
}
