//! The part of WhatsApp's `Message` protobuf this crate reads and writes, with
//! `prost` derive. Field numbers are WhatsApp's (`docs/messaging.md`).
//!
//! Fields not listed here are skipped when decoding; a caller that needs them
//! keeps the (unpadded) plaintext bytes and decodes them with its own schema.

/// A message's content.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// Plain text.
    #[prost(string, optional, tag = "1")]
    pub conversation: Option<String>,
    /// A group sender key, travelling inside a pairwise message.
    #[prost(message, optional, tag = "2")]
    pub sender_key_distribution_message: Option<SenderKeyDistribution>,
    /// Text with context (a reply, mentions, a link preview).
    #[prost(message, optional, tag = "6")]
    pub extended_text_message: Option<ExtendedTextMessage>,
    /// Protocol control messages (revoke, ephemeral settings, …).
    #[prost(message, optional, tag = "12")]
    pub protocol_message: Option<Box<ProtocolMessage>>,
    /// A message we sent from another of our devices, as our devices see it.
    #[prost(message, optional, tag = "31")]
    pub device_sent_message: Option<Box<DeviceSentMessage>>,
    /// Per-message context (device list metadata, message secret).
    #[prost(message, optional, tag = "35")]
    pub message_context_info: Option<MessageContextInfo>,
}

impl Message {
    /// A plain-text message.
    pub fn text(text: impl Into<String>) -> Self {
        Message {
            conversation: Some(text.into()),
            ..Default::default()
        }
    }

    /// The text of a plain or extended text message.
    pub fn text_content(&self) -> Option<&str> {
        self.conversation
            .as_deref()
            .or_else(|| self.extended_text_message.as_ref()?.text.as_deref())
    }
}

/// `Message.SenderKeyDistributionMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderKeyDistribution {
    /// The group's JID.
    #[prost(string, optional, tag = "1")]
    pub group_id: Option<String>,
    /// A serialized Signal `SenderKeyDistributionMessage`.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub axolotl_sender_key_distribution_message: Option<Vec<u8>>,
}

/// `Message.ExtendedTextMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExtendedTextMessage {
    /// The text.
    #[prost(string, optional, tag = "1")]
    pub text: Option<String>,
    /// What the text replies to or mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
}

/// `ContextInfo`: what a message replies to, mentions or forwards.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContextInfo {
    /// The id of the quoted message.
    #[prost(string, optional, tag = "1")]
    pub stanza_id: Option<String>,
    /// Who sent the quoted message.
    #[prost(string, optional, tag = "2")]
    pub participant: Option<String>,
    /// The quoted message.
    #[prost(message, optional, tag = "3")]
    pub quoted_message: Option<Box<Message>>,
    /// The chat of the quoted message.
    #[prost(string, optional, tag = "4")]
    pub remote_jid: Option<String>,
    /// Mentioned users.
    #[prost(string, repeated, tag = "15")]
    pub mentioned_jid: Vec<String>,
}

/// `MessageKey`: names one message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MessageKey {
    /// The chat.
    #[prost(string, optional, tag = "1")]
    pub remote_jid: Option<String>,
    /// Whether we sent it.
    #[prost(bool, optional, tag = "2")]
    pub from_me: Option<bool>,
    /// The message id.
    #[prost(string, optional, tag = "3")]
    pub id: Option<String>,
    /// The sender in a group.
    #[prost(string, optional, tag = "4")]
    pub participant: Option<String>,
}

/// `Message.ProtocolMessage` (only its key and type are read here).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtocolMessage {
    /// The message it is about.
    #[prost(message, optional, tag = "1")]
    pub key: Option<MessageKey>,
    /// What it does (0 = revoke, 3 = ephemeral setting, …; kept as a number).
    #[prost(int32, optional, tag = "2")]
    pub r#type: Option<i32>,
}

/// `Message.DeviceSentMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceSentMessage {
    /// The chat the message went to.
    #[prost(string, optional, tag = "1")]
    pub destination_jid: Option<String>,
    /// The message as the chat received it.
    #[prost(message, optional, tag = "2")]
    pub message: Option<Box<Message>>,
    /// The sender's phash of the recipients' devices.
    #[prost(string, optional, tag = "3")]
    pub phash: Option<String>,
}

/// `MessageContextInfo` (the fields used so far).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MessageContextInfo {
    /// `DeviceListMetadata`, kept as bytes.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub device_list_metadata: Option<Vec<u8>>,
    /// Its version.
    #[prost(int32, optional, tag = "2")]
    pub device_list_metadata_version: Option<i32>,
    /// The message secret (reactions, polls).
    #[prost(bytes = "vec", optional, tag = "3")]
    pub message_secret: Option<Vec<u8>>,
}
