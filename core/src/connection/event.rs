//! What a [`Connection`](super::Connection) tells its caller: [`Event`] and the
//! typed reasons inside it (docs/protocol.md §5).

use std::fmt;

use crate::binary::{Jid, Node, Str};
use crate::pair::{PairError, QrCode};
use crate::store::Device;

use crate::time::Instant;

use super::error::ConnectionError;

/// Something the caller must know about or act on, from
/// [`Connection::poll_event`](super::Connection::poll_event).
///
/// Guarantees: every [`IqId`] returned by `send_iq` gets exactly one
/// [`Event::IqResponse`]; a connection emits at most one
/// [`Event::Disconnected`], and it is always the last event.
///
/// The enum is `#[non_exhaustive]`. Pairing events (docs/protocol.md §6) come only
/// on a connection made for an unregistered device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server accepted the login (`<success>`, docs/protocol.md §5.1).
    ///
    /// A [`Event::DeviceChanged`] comes just before it: the login counter
    /// went up (docs/protocol.md §3.7) and the LID from `<success>`, if any, was
    /// adopted.
    LoggedIn {
        /// The server's unix time in seconds (`t`), for the clock offset.
        server_time: Option<u64>,
        /// Own LID (`lid`), if the server sent one that parses.
        lid: Option<Jid>,
        /// The whole `<success>` stanza, for the attributes not decoded here.
        stanza: Node,
    },
    /// The device record changed and should be persisted before the next
    /// connect (and, like [`Event::PairSuccess`], before anything else is
    /// done with this connection's events): the login counter and own LID
    /// after `<success>`, new edge-routing info from an `<ib>`, a new ADV
    /// secret on a pairing connection (`companion_reg_refresh`). A failed save
    /// is not fatal: the device still works, the next login just repeats the
    /// change.
    DeviceChanged {
        /// The whole device, as the connection now knows it.
        device: Box<Device>,
    },
    /// An incoming stanza the core does not handle itself (messages, receipts,
    /// notifications, server IQ requests, `<ib>`). On a pairing connection the
    /// pairing stanzas (`pair-device`, `pair-success`, `companion_reg_refresh`
    /// and `link_code_companion_reg` notifications, pair-code IQ answers) are
    /// consumed and never show up here.
    Stanza(Node),
    /// Show this QR code until `expires_at` (docs/protocol.md §6.1): one per server
    /// ref, the first for 60 s, each later one for 20 s, the next following
    /// by itself. A new one also follows a `companion_reg_refresh` (new ADV
    /// secret).
    Qr {
        /// The string to render.
        code: QrCode,
        /// When the next code replaces it (or the refs run out).
        expires_at: Instant,
    },
    /// Every ref was shown without a scan. Unless a pair code is still valid,
    /// [`Event::Disconnected`] with [`DisconnectReason::PairingExpired`]
    /// follows; connect again to get new refs.
    QrExhausted,
    /// The server accepted [`Connection::request_pair_code`](super::Connection::request_pair_code):
    /// show this 8-character code; the user types it on the phone
    /// (docs/protocol.md §6.3).
    PairCode {
        /// The code, e.g. `"ABCD2345"` (often shown as `ABCD-2345`).
        code: String,
        /// When the code stops being honoured.
        expires_at: Instant,
    },
    /// Linked: the pair-success verified and was answered. **Persist this
    /// device before anything else**; the server then ends the stream (515,
    /// `Disconnected { reconnect: true }`) and the next connection with this
    /// device logs in.
    PairSuccess {
        /// The device with its JIDs, account, platform and business name.
        device: Box<Device>,
    },
    /// A pairing step failed: a pair-success that did not verify (it was
    /// answered with the protocol's error and nothing is to be persisted), or
    /// a pair-code step. The connection stays up: another scan may succeed.
    PairingFailed {
        /// Why.
        error: PairError,
    },
    /// The answer to a request sent with
    /// [`Connection::send_iq`](super::Connection::send_iq): the `<iq type="result">`
    /// node, or why there is none.
    IqResponse {
        /// The request's id.
        id: IqId,
        /// The result node, or the error.
        result: Result<Node, IqError>,
    },
    /// The server confirmed [`Connection::logout`](super::Connection::logout):
    /// the account is logged out. Delete the device's credentials
    /// (docs/protocol.md §7); [`Event::Disconnected`] follows.
    LoggedOut,
    /// The connection is over. Nothing more will be sent or received; the
    /// driver closes the transport after draining
    /// [`poll_transmit`](super::Connection::poll_transmit).
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// What the driver does next: connect again (at once or after a
        /// backoff), stop, or delete the credentials and stop.
        reconnect: Reconnect,
    },
}

/// What comes after a connection, decided by the connection from why it
/// ended (carried by [`Event::Disconnected`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reconnect {
    /// Connect again at once: the restart the server asks for (515) right
    /// after this connection linked the device.
    Now,
    /// Connect again after the driver's backoff delay.
    AfterBackoff {
        /// The server said it is rate limiting us (429): back off longer.
        rate_limited: bool,
    },
    /// Do not connect again: a retry cannot fix it (a local close, a takeover
    /// by another session, a refused login or certificate, an expired
    /// pairing).
    Never,
    /// The account is logged out: delete the device's credentials
    /// (docs/protocol.md §7) and do not connect again with them.
    LoggedOut,
}

impl Reconnect {
    /// The decision for a connection that ended with `reason`;
    /// `just_paired` says whether this connection linked the device.
    pub fn after(reason: &DisconnectReason, just_paired: bool) -> Reconnect {
        if reason.is_logged_out() {
            return Reconnect::LoggedOut;
        }
        match reason {
            DisconnectReason::StreamError(StreamError::RestartRequired) if just_paired => {
                Reconnect::Now
            }
            _ if reason.should_reconnect() => Reconnect::AfterBackoff {
                rate_limited: matches!(
                    reason,
                    DisconnectReason::StreamError(StreamError::RateLimited)
                ),
            },
            _ => Reconnect::Never,
        }
    }

    /// Whether the driver connects again ([`Now`](Self::Now) or
    /// [`AfterBackoff`](Self::AfterBackoff)).
    pub fn will_reconnect(self) -> bool {
        matches!(self, Reconnect::Now | Reconnect::AfterBackoff { .. })
    }

    /// Whether the credentials must be deleted.
    pub fn is_logged_out(self) -> bool {
        self == Reconnect::LoggedOut
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The caller called [`Connection::close`](super::Connection::close).
    Closed,
    /// The caller reported that the transport closed
    /// ([`Connection::handle_transport_closed`](super::Connection::handle_transport_closed)).
    TransportClosed,
    /// The server did not complete the handshake and the login within the
    /// handshake timeout: the ServerHello, then `<success>`, `<failure>` or a
    /// pairing stanza. Other stanzas do not count: a server that sends only
    /// those never logs the connection in.
    HandshakeTimeout,
    /// Nothing was received for the keepalive deadline while a keepalive ping
    /// was outstanding (docs/protocol.md §5.3).
    KeepAliveTimeout,
    /// The server refused the login with `<failure>`.
    LoginFailed(LoginFailure),
    /// The server sent `<stream:error>`.
    StreamError(StreamError),
    /// The server ended the stream with `<xmlstreamend/>`.
    StreamEnd,
    /// Pairing ended without a link: the QR refs ran out (and no pair code was
    /// still valid), or the pair code expired after them.
    PairingExpired,
    /// A fatal protocol error: bytes that do not parse, a frame that does not
    /// decrypt, a refused certificate chain, an exhausted nonce counter.
    Error(ConnectionError),
}

impl DisconnectReason {
    /// Whether reconnecting makes sense: not after a local close, a takeover by
    /// another session, a logout, a refused certificate, or a login failure
    /// other than 500/503, or an expired pairing (a new connection would show
    /// new QR codes, which the user has to be there to scan).
    pub fn should_reconnect(&self) -> bool {
        match self {
            DisconnectReason::Closed => false,
            DisconnectReason::TransportClosed
            | DisconnectReason::HandshakeTimeout
            | DisconnectReason::KeepAliveTimeout
            | DisconnectReason::StreamEnd => true,
            DisconnectReason::PairingExpired => false,
            DisconnectReason::LoginFailed(failure) => failure.reason.should_reconnect(),
            DisconnectReason::StreamError(error) => error.should_reconnect(),
            DisconnectReason::Error(error) => error.should_reconnect(),
        }
    }

    /// Whether the account is logged out and the credentials must be wiped
    /// (docs/protocol.md §7: `<failure>` 401/403/406, `<stream:error>` device_removed,
    /// 401 or 516).
    pub fn is_logged_out(&self) -> bool {
        match self {
            DisconnectReason::LoginFailed(failure) => failure.reason.is_logged_out(),
            DisconnectReason::StreamError(error) => error.is_logged_out(),
            _ => false,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Closed => f.write_str("closed by the caller"),
            DisconnectReason::TransportClosed => f.write_str("transport closed"),
            DisconnectReason::HandshakeTimeout => f.write_str("handshake timed out"),
            DisconnectReason::KeepAliveTimeout => f.write_str("keepalive timed out"),
            DisconnectReason::LoginFailed(failure) => write!(f, "login failed: {failure}"),
            DisconnectReason::StreamError(error) => write!(f, "stream error: {error}"),
            DisconnectReason::StreamEnd => f.write_str("server ended the stream"),
            DisconnectReason::PairingExpired => f.write_str("pairing expired"),
            DisconnectReason::Error(error) => write!(f, "{error}"),
        }
    }
}

/// A `<failure reason="NNN" …>` stanza (docs/protocol.md §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailure {
    /// The typed `reason`.
    pub reason: FailureReason,
    /// The ban sub-reason (`code`), if any.
    pub code: Option<String>,
    /// Seconds of a temporary ban (`expire`), if any.
    pub expire: Option<u64>,
    /// The server's `message`, if any.
    pub message: Option<String>,
}

impl LoginFailure {
    /// Reads a `<failure>` node. A missing or unknown reason is
    /// [`FailureReason::Other`] with the raw text.
    pub fn from_node(node: &Node) -> LoginFailure {
        let reason = node.attr("reason").map(|v| v.to_text());
        LoginFailure {
            reason: FailureReason::from_text(reason.as_deref().unwrap_or("")),
            code: node.attr("code").map(|v| v.to_text().into_owned()),
            expire: node.attr("expire").and_then(|v| v.to_text().parse().ok()),
            message: node.attr("message").map(|v| v.to_text().into_owned()),
        }
    }
}

impl fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.reason)
    }
}

/// The `reason` of a `<failure>` (docs/protocol.md §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// 400.
    Generic,
    /// 401: logged out.
    LoggedOut,
    /// 402: temporarily banned (see [`LoginFailure::expire`]).
    TempBanned,
    /// 403: locked, or the main device is gone (logged out).
    MainDeviceGone,
    /// 405: the client version is too old.
    ClientOutdated,
    /// 406: banned or unknown logout (logged out).
    UnknownLogout,
    /// 409: bad user agent.
    BadUserAgent,
    /// 413: CAT expired.
    CatExpired,
    /// 414: CAT invalid.
    CatInvalid,
    /// 415: not found.
    NotFound,
    /// 418: client unknown.
    ClientUnknown,
    /// 500: internal server error (reconnect).
    InternalServerError,
    /// 501: experimental.
    Experimental,
    /// 503: service unavailable (reconnect).
    ServiceUnavailable,
    /// Any other reason, as sent.
    Other(String),
}

impl FailureReason {
    /// The reason for a numeric code as text.
    pub fn from_text(text: &str) -> FailureReason {
        match text {
            "400" => FailureReason::Generic,
            "401" => FailureReason::LoggedOut,
            "402" => FailureReason::TempBanned,
            "403" => FailureReason::MainDeviceGone,
            "405" => FailureReason::ClientOutdated,
            "406" => FailureReason::UnknownLogout,
            "409" => FailureReason::BadUserAgent,
            "413" => FailureReason::CatExpired,
            "414" => FailureReason::CatInvalid,
            "415" => FailureReason::NotFound,
            "418" => FailureReason::ClientUnknown,
            "500" => FailureReason::InternalServerError,
            "501" => FailureReason::Experimental,
            "503" => FailureReason::ServiceUnavailable,
            other => FailureReason::Other(other.to_owned()),
        }
    }

    /// The numeric code, when the reason is a known one.
    pub fn code(&self) -> Option<u16> {
        Some(match self {
            FailureReason::Generic => 400,
            FailureReason::LoggedOut => 401,
            FailureReason::TempBanned => 402,
            FailureReason::MainDeviceGone => 403,
            FailureReason::ClientOutdated => 405,
            FailureReason::UnknownLogout => 406,
            FailureReason::BadUserAgent => 409,
            FailureReason::CatExpired => 413,
            FailureReason::CatInvalid => 414,
            FailureReason::NotFound => 415,
            FailureReason::ClientUnknown => 418,
            FailureReason::InternalServerError => 500,
            FailureReason::Experimental => 501,
            FailureReason::ServiceUnavailable => 503,
            FailureReason::Other(_) => return None,
        })
    }

    /// 401, 403 and 406 mean "logged out": delete the credentials.
    pub fn is_logged_out(&self) -> bool {
        matches!(
            self,
            FailureReason::LoggedOut | FailureReason::MainDeviceGone | FailureReason::UnknownLogout
        )
    }

    /// Only 500 and 503 are worth a reconnect.
    pub fn should_reconnect(&self) -> bool {
        matches!(
            self,
            FailureReason::InternalServerError | FailureReason::ServiceUnavailable
        )
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code(), self) {
            (Some(code), _) => write!(f, "{code}"),
            (None, FailureReason::Other(text)) => write!(f, "{text:?}"),
            (None, _) => f.write_str("unknown"),
        }
    }
}

/// A `<stream:error>` (docs/protocol.md §5.1), by what it asks the client to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// 515: restart required (normal right after pairing); reconnect now.
    RestartRequired,
    /// `<conflict type="replaced"/>` or 409: another session took over. Do not
    /// reconnect.
    Replaced,
    /// `<conflict type="device_removed"/>`, 401 or 516: the device was unlinked.
    /// Logged out.
    DeviceRemoved,
    /// 503: the server is restarting; reconnect.
    ServiceUnavailable,
    /// 429: rate limited; reconnect with extra backoff.
    RateLimited,
    /// `<xml-not-well-formed/>`: the server could not parse what we sent;
    /// reconnect.
    XmlNotWellFormed,
    /// `<ack id class/>`: the server is owed an ack; informational, the stream
    /// ends anyway. Reconnect.
    AckRequired {
        /// The `id` of the stanza to ack.
        id: Option<String>,
        /// Its `class`.
        class: Option<String>,
    },
    /// Anything else; reconnect.
    Other {
        /// The `code` attribute, if any.
        code: Option<String>,
        /// The tag of the first child, if any.
        child: Option<String>,
    },
}

impl StreamError {
    /// Reads a `<stream:error>` node. A `conflict` child decides first (whatsmeow
    /// sends device_removed with code 401), then the code, then other children.
    pub fn from_node(node: &Node) -> StreamError {
        let code = node.attr("code").map(|v| v.to_text().into_owned());
        let first = node.children().first();
        if let Some(conflict) = node.child("conflict") {
            match conflict.attr("type").map(|v| v.to_text()).as_deref() {
                Some("replaced") => return StreamError::Replaced,
                Some("device_removed") => return StreamError::DeviceRemoved,
                _ => {}
            }
        }
        match code.as_deref() {
            Some("515") => return StreamError::RestartRequired,
            Some("401") | Some("516") => return StreamError::DeviceRemoved,
            Some("409") => return StreamError::Replaced,
            Some("503") => return StreamError::ServiceUnavailable,
            Some("429") => return StreamError::RateLimited,
            _ => {}
        }
        if node.child("xml-not-well-formed").is_some() {
            return StreamError::XmlNotWellFormed;
        }
        if let Some(ack) = node.child("ack") {
            return StreamError::AckRequired {
                id: ack.attr("id").map(|v| v.to_text().into_owned()),
                class: ack.attr("class").map(|v| v.to_text().into_owned()),
            };
        }
        StreamError::Other {
            code,
            child: first.map(|c| c.tag.to_string()),
        }
    }

    /// Everything but a takeover and a logout is worth a reconnect.
    pub fn should_reconnect(&self) -> bool {
        !matches!(self, StreamError::Replaced | StreamError::DeviceRemoved)
    }

    /// Only a removed device is logged out.
    pub fn is_logged_out(&self) -> bool {
        matches!(self, StreamError::DeviceRemoved)
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::RestartRequired => f.write_str("restart required (515)"),
            StreamError::Replaced => f.write_str("replaced by another session"),
            StreamError::DeviceRemoved => f.write_str("device removed"),
            StreamError::ServiceUnavailable => f.write_str("service unavailable (503)"),
            StreamError::RateLimited => f.write_str("rate limited (429)"),
            StreamError::XmlNotWellFormed => f.write_str("xml not well formed"),
            StreamError::AckRequired { .. } => f.write_str("ack required"),
            StreamError::Other { code, child } => {
                write!(f, "code {code:?}, child {child:?}")
            }
        }
    }
}

/// The id of an IQ request, the `id` attribute the response echoes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IqId(pub(crate) Str);

impl IqId {
    /// The id as sent.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for IqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IqId({:?})", self.0.as_str())
    }
}

impl fmt::Display for IqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// Why an IQ request has no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IqError {
    /// The server answered `<iq type="error">`.
    #[error("server error: {0}")]
    Server(ServerError),
    /// No answer within the request's timeout.
    #[error("iq timed out")]
    Timeout,
    /// The connection ended before the answer arrived.
    #[error("disconnected before the iq was answered")]
    Disconnected,
}

/// The `<error code text [type] [backoff]/>` child of an `<iq type="error">`
/// (docs/protocol.md §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// `code`, when it is a number.
    pub code: Option<u16>,
    /// `text`, empty when absent.
    pub text: String,
    /// `type`, if any.
    pub error_type: Option<String>,
    /// `backoff` in seconds, if any.
    pub backoff: Option<u64>,
    /// The whole `<iq type="error">` stanza.
    pub stanza: Node,
}

impl ServerError {
    /// Reads an `<iq type="error">`; a missing `<error>` child gives no code and
    /// no text.
    pub fn from_node(stanza: Node) -> ServerError {
        let error = stanza.child("error");
        let attr = |key: &str| error.and_then(|e| e.attr(key)).map(|v| v.to_text());
        ServerError {
            code: attr("code").and_then(|c| c.parse().ok()),
            text: attr("text").map(|t| t.into_owned()).unwrap_or_default(),
            error_type: attr("type").map(|t| t.into_owned()),
            backoff: attr("backoff").and_then(|b| b.parse().ok()),
            stanza,
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code} {}", self.text),
            None => write!(f, "{}", self.text),
        }
    }
}
