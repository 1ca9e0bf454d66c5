//! JIDs: WhatsApp addresses (docs/protocol.md §4.6).

use std::fmt;
use std::str::FromStr;

use smol_str::SmolStr;

use super::token::{self, TokenId};

/// A known JID server. The set is closed on purpose: a JID on the wire with any other
/// server is kept as a plain string attribute (see the decoder), and parsing text with
/// an unknown server is an error, so a `Jid` always names a server we understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Server {
    /// `s.whatsapp.net`: phone-number users; also the "server JID" IQs go to.
    Pn,
    /// `lid`: hidden (LID) users. LID users may contain dots.
    Lid,
    /// `g.us`: groups.
    Group,
    /// `broadcast`: `status@broadcast` and broadcast lists.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
    /// `hosted`: business-hosted devices (phone-number side).
    Hosted,
    /// `hosted.lid`: business-hosted devices (LID side).
    HostedLid,
    /// `c.us`: legacy user server.
    Cus,
    /// `msgr`: Messenger users.
    Msgr,
    /// `interop`: interoperability users.
    Interop,
    /// `bot`: bots.
    Bot,
    /// `call`: call signalling.
    Call,
}

impl Server {
    /// Every known server.
    pub const ALL: [Server; 12] = [
        Server::Pn,
        Server::Lid,
        Server::Group,
        Server::Broadcast,
        Server::Newsletter,
        Server::Hosted,
        Server::HostedLid,
        Server::Cus,
        Server::Msgr,
        Server::Interop,
        Server::Bot,
        Server::Call,
    ];

    /// The server's text form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Server::Pn => "s.whatsapp.net",
            Server::Lid => "lid",
            Server::Group => "g.us",
            Server::Broadcast => "broadcast",
            Server::Newsletter => "newsletter",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Cus => "c.us",
            Server::Msgr => "msgr",
            Server::Interop => "interop",
            Server::Bot => "bot",
            Server::Call => "call",
        }
    }

    /// The known server with this text form.
    pub fn from_name(s: &str) -> Option<Server> {
        Some(match s {
            "s.whatsapp.net" => Server::Pn,
            "lid" => Server::Lid,
            "g.us" => Server::Group,
            "broadcast" => Server::Broadcast,
            "newsletter" => Server::Newsletter,
            "hosted" => Server::Hosted,
            "hosted.lid" => Server::HostedLid,
            "c.us" => Server::Cus,
            "msgr" => Server::Msgr,
            "interop" => Server::Interop,
            "bot" => Server::Bot,
            "call" => Server::Call,
            _ => return None,
        })
    }

    /// The AD_JID domain type of the four servers that have one (docs/protocol.md §4.6):
    /// 0 = `s.whatsapp.net`, 1 = `lid`, 128 = `hosted`, 129 = `hosted.lid`.
    pub const fn domain_type(self) -> Option<u8> {
        match self {
            Server::Pn => Some(0),
            Server::Lid => Some(1),
            Server::Hosted => Some(128),
            Server::HostedLid => Some(129),
            _ => None,
        }
    }

    /// The server for an AD_JID domain type. Only the four documented values are
    /// accepted; see the decoder for why unknown values are an error.
    pub const fn from_domain_type(value: u8) -> Option<Server> {
        match value {
            0 => Some(Server::Pn),
            1 => Some(Server::Lid),
            128 => Some(Server::Hosted),
            129 => Some(Server::HostedLid),
            _ => None,
        }
    }

    /// Whether the text form shows the agent (`user.agent:device@server`): every server
    /// except the four AD servers, whose agent is implied by the domain type.
    pub const fn renders_agent(self) -> bool {
        self.domain_type().is_none()
    }

    /// The server's dictionary token, if its name is one (computed at compile time).
    #[inline]
    pub(crate) fn token_id(self) -> Option<TokenId> {
        const fn id(s: Server) -> Option<TokenId> {
            token::lookup_id_const(s.as_str())
        }
        const IDS: [Option<TokenId>; 12] = {
            let mut ids = [None; 12];
            let mut i = 0;
            while i < 12 {
                ids[i] = id(Server::ALL[i]);
                i += 1;
            }
            ids
        };
        IDS[self as usize]
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Server {
    type Err = JidError;
    fn from_str(s: &str) -> Result<Server, JidError> {
        Server::from_name(s).ok_or_else(|| JidError::UnknownServer(s.into()))
    }
}

/// Why a string is not a JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JidError {
    /// The input was empty.
    #[error("empty jid")]
    Empty,
    /// The server part is not a known server.
    #[error("unknown jid server {0:?}")]
    UnknownServer(String),
    /// There was an `@` with nothing (or only a device) before it.
    #[error("empty jid user")]
    EmptyUser,
    /// The part after `:` is not a device number (0..=65535).
    #[error("invalid jid device {0:?}")]
    InvalidDevice(String),
    /// The numeric part after `.` does not fit an agent (0..=255).
    #[error("invalid jid agent {0:?}")]
    InvalidAgent(String),
}

/// A WhatsApp address: `user[.agent][:device]@server`, or a bare server.
///
/// Text form (docs/protocol.md §4.6), produced by `Display` and accepted by `FromStr`:
/// - `user@server`, and `user:device@server` when the device is not 0;
/// - `user.agent:device@server`, where the agent is shown only on servers other than
///   the four AD servers (`s.whatsapp.net`, `lid`, `hosted`, `hosted.lid`);
/// - a bare `server` for a server-only JID (empty user), e.g. `s.whatsapp.net`;
/// - a zero agent or device is written out (`.0`, `:0`) only where the user would
///   otherwise be misread: a user ending in `.` and digits where that suffix would be
///   parsed (`a.5.0@bot` is user `a.5` with no agent), a user holding `:` (`x:1:0@lid`
///   is user `x:1` with no device). Real users never need this; with it, the text of
///   every JID whose user is non-empty and free of `@` parses back to that JID (as
///   long as it has no integrator and no agent on an AD server, which text omits).
///
/// Parsing rules (they match whatsapp-rust's, checked by the vectors in
/// `core/tests/jid_vectors.rs`):
/// - the server must be a known [`Server`];
/// - on `lid` and `hosted.lid` dots belong to the user; only `:device` is split off;
/// - on `s.whatsapp.net` a legacy `user.N@s.whatsapp.net` means device `N` (unless a
///   non-zero `:device` is also given);
/// - on servers that show the agent, a numeric `.N` suffix of the user is the agent
///   (an error above 255); a non-numeric one stays part of the user;
/// - a device that is not a number in 0..=65535 is an error.
///
/// The integrator (interop JIDs) is carried on the wire but has no text form.
///
/// Serde (de)serializes a `Jid` as its text form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    user: SmolStr,
    server: Server,
    agent: u8,
    device: u16,
    integrator: u16,
}

/// The user of the status broadcast JID `status@broadcast`.
pub const STATUS_BROADCAST_USER: &str = "status";

impl Jid {
    /// `user@server`.
    pub fn new(user: &str, server: Server) -> Jid {
        Jid::from_parts(SmolStr::new(user), server)
    }

    pub(crate) fn from_parts(user: SmolStr, server: Server) -> Jid {
        Jid {
            user,
            server,
            agent: 0,
            device: 0,
            integrator: 0,
        }
    }

    /// A server-only JID, e.g. `s.whatsapp.net` (the "server JID" IQs are sent to).
    pub const fn server_jid(server: Server) -> Jid {
        Jid {
            user: SmolStr::new_inline(""),
            server,
            agent: 0,
            device: 0,
            integrator: 0,
        }
    }

    /// `user@s.whatsapp.net`.
    pub fn pn(user: &str) -> Jid {
        Jid::new(user, Server::Pn)
    }

    /// `user@lid`.
    pub fn lid(user: &str) -> Jid {
        Jid::new(user, Server::Lid)
    }

    /// `id@g.us`.
    pub fn group(id: &str) -> Jid {
        Jid::new(id, Server::Group)
    }

    /// `status@broadcast`.
    pub fn status_broadcast() -> Jid {
        Jid::new(STATUS_BROADCAST_USER, Server::Broadcast)
    }

    /// This JID with another device.
    #[must_use]
    pub fn with_device(mut self, device: u16) -> Jid {
        self.device = device;
        self
    }

    /// This JID with another agent (shown only on non-AD servers).
    #[must_use]
    pub fn with_agent(mut self, agent: u8) -> Jid {
        self.agent = agent;
        self
    }

    /// This JID with another integrator (meaningful on `interop` only).
    #[must_use]
    pub fn with_integrator(mut self, integrator: u16) -> Jid {
        self.integrator = integrator;
        self
    }

    /// The user part (`""` for a server-only JID).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The server.
    pub fn server(&self) -> Server {
        self.server
    }

    /// The device (0 = the primary device / no device).
    pub fn device(&self) -> u16 {
        self.device
    }

    /// The agent.
    pub fn agent(&self) -> u8 {
        self.agent
    }

    /// The integrator (interop JIDs).
    pub fn integrator(&self) -> u16 {
        self.integrator
    }

    /// Whether this is a server-only JID (empty user).
    pub fn is_server_only(&self) -> bool {
        self.user.is_empty()
    }

    /// Whether this is a group (`g.us`).
    pub fn is_group(&self) -> bool {
        self.server == Server::Group
    }

    /// Whether this is a LID user (`lid`).
    pub fn is_lid(&self) -> bool {
        self.server == Server::Lid
    }

    /// Whether this is a phone-number user (`s.whatsapp.net`).
    pub fn is_pn(&self) -> bool {
        self.server == Server::Pn
    }

    /// Whether this is on `broadcast` (the status feed or a broadcast list).
    pub fn is_broadcast(&self) -> bool {
        self.server == Server::Broadcast
    }

    /// Whether this is `status@broadcast`.
    pub fn is_status_broadcast(&self) -> bool {
        self.server == Server::Broadcast && self.user == STATUS_BROADCAST_USER
    }

    /// Whether this is a newsletter (channel).
    pub fn is_newsletter(&self) -> bool {
        self.server == Server::Newsletter
    }

    /// Whether this addresses one companion device: a device above 0 on one of the
    /// four AD servers.
    pub fn is_ad(&self) -> bool {
        self.device > 0 && self.server.domain_type().is_some()
    }

    /// The same user without device and agent (`user@server`).
    #[must_use]
    pub fn to_non_ad(&self) -> Jid {
        Jid {
            user: self.user.clone(),
            server: self.server,
            agent: 0,
            device: 0,
            integrator: self.integrator,
        }
    }

    /// Whether the text form shows the agent.
    fn shows_agent(&self) -> bool {
        self.agent > 0 && self.server.renders_agent()
    }

    /// Whether `FromStr` would split a numeric `.N` off this user when no agent or
    /// device is written after it (the agent on non-AD servers, the legacy device on
    /// `s.whatsapp.net`).
    fn user_has_parsed_dot_suffix(&self) -> bool {
        let parsed = match self.server {
            Server::Pn => self.device == 0,
            s => s.renders_agent(),
        };
        parsed
            && self
                .user
                .rsplit_once('.')
                .is_some_and(|(_, n)| is_digits(n))
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.user.is_empty() {
            return f.write_str(self.server.as_str());
        }
        f.write_str(&self.user)?;
        if self.shows_agent() {
            write!(f, ".{}", self.agent)?;
        } else if self.user_has_parsed_dot_suffix() {
            // `FromStr` would take the user's own `.N` for the agent or legacy device.
            f.write_str(".0")?;
        }
        if self.device > 0 {
            write!(f, ":{}", self.device)?;
        } else if self.user.contains(':') {
            // `FromStr` takes the last `:` for the device.
            f.write_str(":0")?;
        }
        f.write_str("@")?;
        f.write_str(self.server.as_str())
    }
}

impl fmt::Debug for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jid({self}")?;
        if self.integrator != 0 {
            write!(f, ", integrator {}", self.integrator)?;
        }
        if self.agent != 0 && !self.server.renders_agent() {
            write!(f, ", agent {}", self.agent)?;
        }
        f.write_str(")")
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_device(s: &str) -> Result<u16, JidError> {
    if !is_digits(s) {
        return Err(JidError::InvalidDevice(s.into()));
    }
    s.parse().map_err(|_| JidError::InvalidDevice(s.into()))
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Jid, JidError> {
        if s.is_empty() {
            return Err(JidError::Empty);
        }
        let Some((user_part, server_part)) = s.split_once('@') else {
            // A bare server.
            return Ok(Jid::server_jid(s.parse()?));
        };
        let server: Server = server_part.parse()?;

        let (mut user, mut device) = match user_part.rsplit_once(':') {
            Some((user, device)) => (user, parse_device(device)?),
            None => (user_part, 0),
        };
        let mut agent = 0u8;
        match server {
            Server::Pn if device == 0 => {
                // Legacy `user.N@s.whatsapp.net`: N is the device (phone-number users
                // have no dots, so a numeric dotted suffix can only mean this).
                if let Some((u, n)) = user.rsplit_once('.')
                    && is_digits(n)
                    && let Ok(d) = n.parse::<u16>()
                {
                    user = u;
                    device = d;
                }
            }
            Server::Pn | Server::Lid | Server::Hosted | Server::HostedLid => {}
            _ => {
                if let Some((u, n)) = user.rsplit_once('.')
                    && is_digits(n)
                {
                    agent = n.parse().map_err(|_| JidError::InvalidAgent(n.into()))?;
                    user = u;
                }
            }
        }
        if user.is_empty() {
            return Err(JidError::EmptyUser);
        }
        Ok(Jid {
            user: SmolStr::new(user),
            server,
            agent,
            device,
            integrator: 0,
        })
    }
}

impl TryFrom<&str> for Jid {
    type Error = JidError;
    fn try_from(s: &str) -> Result<Jid, JidError> {
        s.parse()
    }
}

impl serde::Serialize for Jid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Jid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Jid, D::Error> {
        struct JidVisitor;
        impl serde::de::Visitor<'_> for JidVisitor {
            type Value = Jid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a jid string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Jid, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(JidVisitor)
    }
}

impl serde::Serialize for Server {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Server {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Server, D::Error> {
        struct ServerVisitor;
        impl serde::de::Visitor<'_> for ServerVisitor {
            type Value = Server;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a jid server name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Server, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(ServerVisitor)
    }
}
