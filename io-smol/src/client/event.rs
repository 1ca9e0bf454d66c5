//! What a [`Client`](super::Client) reports: [`Event`] and [`StopReason`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wa_core::binary::{Jid, Node};
use wa_core::connection::DisconnectReason;
use wa_core::message::MessageId;
use wa_core::message::stanza::Receipt;
use wa_core::messaging::ReceivedMessage;
use wa_core::pair::{PairError, QrCode};
use wa_core::store::StoreError;

/// Something that happened to the client, in order, from
/// [`Client::events`](super::Client::events).
///
/// A typical run: `Connecting` → `Connected` → (`Qr`… → `Paired` →
/// `Disconnected` (restart required) → `Connecting` → `Connected`) →
/// `LoggedIn` → `Stanza`… and, at the very end, exactly one `Stopped`, after
/// which the channel closes.
///
/// `Debug` does not print QR codes ([`QrCode`] redacts itself): a QR string
/// carries the device's ADV secret.
#[derive(Clone)]
#[non_exhaustive]
pub enum Event {
    /// A connection attempt starts (`attempt` counts attempts since the last
    /// login, from 1).
    Connecting {
        /// The attempt number.
        attempt: u32,
    },
    /// The transport is open; the Noise handshake is running.
    Connected,
    /// Opening the transport failed (DNS, TCP, TLS, WebSocket upgrade,
    /// timeout); `error` is one line with the cause.
    ConnectFailed {
        /// What failed, e.g. `dns lookup for web.whatsapp.com failed: …`.
        error: String,
    },
    /// Show this QR code to link the device (the phone scans it in Settings →
    /// Linked devices). Each code replaces the previous one: the first lives
    /// 60 s, each later one 20 s.
    Qr {
        /// The QR string; draw it with [`render_qr`](super::render_qr). It
        /// contains the ADV secret: show it, do not log it.
        code: QrCode,
        /// When the next code replaces it (or the codes run out).
        expires_at: Instant,
    },
    /// Every QR code expired without a scan. The connection ends
    /// ([`DisconnectReason::PairingExpired`]) and the client stops
    /// ([`StopReason::Refused`]); start it again for new codes.
    QrExhausted,
    /// The code to type on the phone for phone-number linking, after
    /// [`Client::request_pair_code`](super::Client::request_pair_code).
    PairCode {
        /// The 8-character code.
        code: String,
        /// When it stops being honoured.
        expires_at: Instant,
    },
    /// A pairing step failed (a pair-success that did not verify, a refused
    /// pair-code step). Nothing was saved; the connection stays up and
    /// another scan may succeed.
    PairingFailed {
        /// Why.
        error: PairError,
    },
    /// The phone linked this device and the device record was saved. The
    /// server restarts the stream next; the client logs in by itself.
    Paired {
        /// The device's own phone-number JID (`phone:device@s.whatsapp.net`).
        jid: Option<Jid>,
        /// The device's own LID, if known.
        lid: Option<Jid>,
        /// The account's push name, if the phone sent one.
        push_name: String,
    },
    /// The server accepted the login.
    LoggedIn {
        /// The device's own phone-number JID.
        jid: Option<Jid>,
        /// Own LID from `<success>`, if it sent one.
        lid: Option<Jid>,
        /// The server's unix time, if it sent one.
        server_time: Option<u64>,
    },
    /// An incoming stanza the client does not handle itself (notifications
    /// other than the prekey one, `<ib>` other than the offline marker,
    /// calls, presence, server requests). Messages, receipts and the
    /// server's acks of our messages are handled and reported as the events
    /// below.
    Stanza(Node),
    /// A message arrived (decrypted, stored in the inbox, the delivery
    /// receipt sent). Call [`Client::ack_message`](super::Client::ack_message)
    /// once the application has it safe: until then it is delivered again
    /// after every start.
    Message(Box<ReceivedMessage>),
    /// A contact's device got, read or played messages we sent (or another
    /// of our devices did).
    Receipt(Box<Receipt>),
    /// A contact's identity key changed ("security code changed").
    IdentityChanged {
        /// The device whose key changed.
        device: Jid,
    },
    /// A message could not be decrypted; the sender was asked to encrypt it
    /// again (a retry receipt), so it may still arrive as [`Event::Message`].
    Undecryptable {
        /// The message id.
        id: MessageId,
        /// The sending device.
        sender: Jid,
        /// Why.
        reason: String,
    },
    /// The server refused one of our messages, or it could not be sent.
    SendFailed {
        /// The message id.
        id: MessageId,
        /// Why.
        reason: String,
    },
    /// The messages queued while this device was offline have all been
    /// delivered (`<ib><offline count="…"/></ib>`).
    OfflineSynced {
        /// How many the server says it delivered, if it says.
        count: Option<u64>,
    },
    /// The connection ended. If the client goes on, `Reconnecting` (or, after
    /// pairing, `Connecting`) follows; otherwise `Stopped` does.
    Disconnected {
        /// Why the connection ended.
        reason: DisconnectReason,
        /// Whether the client will connect again.
        reconnect: bool,
    },
    /// The next attempt starts after `after` (capped exponential backoff with
    /// jitter, see [`ReconnectPolicy`](super::ReconnectPolicy)).
    Reconnecting {
        /// The wait.
        after: Duration,
        /// The attempt that will follow.
        attempt: u32,
    },
    /// The account was logged out (by [`Client::logout`](super::Client::logout),
    /// or by the server: `<failure>` 401/403/406, `<stream:error>` device
    /// removed). The credentials were wiped from the store; `Stopped` follows.
    LoggedOut {
        /// What the server said, or `None` for a logout we asked for.
        reason: Option<DisconnectReason>,
    },
    /// The client stopped for good; this is the last event.
    Stopped(StopReason),
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Connecting { attempt } => f
                .debug_struct("Connecting")
                .field("attempt", attempt)
                .finish(),
            Event::Connected => f.write_str("Connected"),
            Event::ConnectFailed { error } => f
                .debug_struct("ConnectFailed")
                .field("error", error)
                .finish(),
            Event::Qr { code, expires_at } => f
                .debug_struct("Qr")
                .field("code", code)
                .field("expires_at", expires_at)
                .finish(),
            Event::QrExhausted => f.write_str("QrExhausted"),
            Event::PairCode { code, expires_at } => f
                .debug_struct("PairCode")
                .field("code", code)
                .field("expires_at", expires_at)
                .finish(),
            Event::PairingFailed { error } => f
                .debug_struct("PairingFailed")
                .field("error", error)
                .finish(),
            Event::Paired {
                jid,
                lid,
                push_name,
            } => f
                .debug_struct("Paired")
                .field("jid", jid)
                .field("lid", lid)
                .field("push_name", push_name)
                .finish(),
            Event::LoggedIn {
                jid,
                lid,
                server_time,
            } => f
                .debug_struct("LoggedIn")
                .field("jid", jid)
                .field("lid", lid)
                .field("server_time", server_time)
                .finish(),
            Event::Stanza(node) => f.debug_tuple("Stanza").field(node).finish(),
            Event::Message(message) => f.debug_tuple("Message").field(message).finish(),
            Event::Receipt(receipt) => f.debug_tuple("Receipt").field(receipt).finish(),
            Event::IdentityChanged { device } => f
                .debug_struct("IdentityChanged")
                .field("device", device)
                .finish(),
            Event::Undecryptable { id, sender, reason } => f
                .debug_struct("Undecryptable")
                .field("id", id)
                .field("sender", sender)
                .field("reason", reason)
                .finish(),
            Event::SendFailed { id, reason } => f
                .debug_struct("SendFailed")
                .field("id", id)
                .field("reason", reason)
                .finish(),
            Event::OfflineSynced { count } => f
                .debug_struct("OfflineSynced")
                .field("count", count)
                .finish(),
            Event::Disconnected { reason, reconnect } => f
                .debug_struct("Disconnected")
                .field("reason", reason)
                .field("reconnect", reconnect)
                .finish(),
            Event::Reconnecting { after, attempt } => f
                .debug_struct("Reconnecting")
                .field("after", after)
                .field("attempt", attempt)
                .finish(),
            Event::LoggedOut { reason } => {
                f.debug_struct("LoggedOut").field("reason", reason).finish()
            }
            Event::Stopped(reason) => f.debug_tuple("Stopped").field(reason).finish(),
        }
    }
}

/// One line for a person: what happened, e.g. `logged in as
/// 15551110001:12@s.whatsapp.net`, `reconnecting in 1.4 s`, or the stanza in
/// its readable XML-like form. A QR code is described, not printed (draw it
/// with [`render_qr`](super::render_qr)).
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs_until = |at: &Instant| at.saturating_duration_since(Instant::now()).as_secs();
        let or_unknown = |jid: &Option<Jid>| {
            jid.as_ref()
                .map_or_else(|| "?".to_owned(), ToString::to_string)
        };
        match self {
            Event::Connecting { attempt: 1 } => f.write_str("connecting"),
            Event::Connecting { attempt } => write!(f, "connecting (attempt {attempt})"),
            Event::Connected => f.write_str("connected; noise handshake"),
            Event::ConnectFailed { error } => write!(f, "connection failed: {error}"),
            Event::Qr { expires_at, .. } => write!(
                f,
                "waiting for a scan: qr code valid for {} s",
                secs_until(expires_at)
            ),
            Event::QrExhausted => f.write_str("every qr code expired without a scan"),
            Event::PairCode { code, expires_at } => {
                let (a, b) = code.split_at(code.len().min(4));
                write!(
                    f,
                    "pair code {a}-{b}: type it on the phone within {} s",
                    secs_until(expires_at)
                )
            }
            Event::PairingFailed { error } => write!(f, "pairing failed: {error}"),
            Event::Paired { jid, .. } => {
                write!(f, "linked as {}; device saved", or_unknown(jid))
            }
            Event::LoggedIn { jid, .. } => write!(f, "logged in as {}", or_unknown(jid)),
            Event::Stanza(node) => write!(f, "{node}"),
            Event::Message(m) => {
                let text = m.message.text_content().unwrap_or("<not text>");
                write!(
                    f,
                    "message {} in {} from {}: {text}",
                    m.id, m.chat, m.sender
                )
            }
            Event::Receipt(r) => write!(
                f,
                "receipt ({}) from {} for {}",
                r.kind.as_deref().unwrap_or("delivery"),
                r.from,
                r.ids.join(", ")
            ),
            Event::IdentityChanged { device } => {
                write!(f, "the security code of {device} changed")
            }
            Event::Undecryptable { id, sender, reason } => write!(
                f,
                "message {id} from {sender} could not be decrypted ({reason}); asked again"
            ),
            Event::SendFailed { id, reason } => write!(f, "message {id} not sent: {reason}"),
            Event::OfflineSynced { count: Some(n) } => {
                write!(f, "offline messages delivered ({n})")
            }
            Event::OfflineSynced { count: None } => f.write_str("offline messages delivered"),
            Event::Disconnected { reason, .. } => write!(f, "disconnected: {reason}"),
            Event::Reconnecting { after, .. } => {
                write!(f, "reconnecting in {:.1} s", after.as_secs_f64())
            }
            Event::LoggedOut {
                reason: Some(reason),
            } => {
                write!(f, "logged out ({reason}); credentials wiped")
            }
            Event::LoggedOut { reason: None } => f.write_str("logged out; credentials wiped"),
            Event::Stopped(reason) => write!(f, "stopped: {reason}"),
        }
    }
}

/// Why the client stopped.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StopReason {
    /// [`Client::disconnect`](super::Client::disconnect) was called.
    Disconnected,
    /// Every [`Client`](super::Client) handle was dropped.
    ClientDropped,
    /// The account was logged out and the credentials were wiped.
    LoggedOut,
    /// Another session took over (`<conflict type="replaced"/>`); reconnecting
    /// would only take it back and start a fight, so the client does not.
    Replaced,
    /// The connection ended for a reason that a retry cannot fix: a refused
    /// login (e.g. 405 client outdated, a ban), a refused server certificate,
    /// every QR code expired.
    Refused(DisconnectReason),
    /// [`ReconnectPolicy::max_attempts`](super::ReconnectPolicy::max_attempts)
    /// consecutive attempts failed; `last_error` is the last one's cause.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// Why the last one failed.
        last_error: String,
    },
    /// The device record could not be read or written; nothing more can be
    /// done safely.
    Store(Arc<StoreError>),
    /// The device record cannot be used to connect (e.g. a stored key that
    /// does not fit the login payload).
    InvalidDevice(String),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Disconnected => f.write_str("disconnected by the caller"),
            StopReason::ClientDropped => f.write_str("client dropped"),
            StopReason::LoggedOut => f.write_str("logged out; credentials wiped"),
            StopReason::Replaced => f.write_str("replaced by another session"),
            StopReason::Refused(reason) => write!(f, "connection refused: {reason}"),
            StopReason::GaveUp {
                attempts,
                last_error,
            } => write!(f, "gave up after {attempts} attempts: {last_error}"),
            StopReason::Store(error) => {
                write!(f, "store failed: {}", super::error::error_chain(&**error))
            }
            StopReason::InvalidDevice(error) => write!(f, "invalid device: {error}"),
        }
    }
}
