//! The sans-IO connection state machine: Noise XX handshake, certificate chain,
//! login, keepalive, IQs and stream errors (docs/protocol.md §2, §3, §5, §9).
//!
//! [`Connection`] never touches a socket, a clock or the OS random source.
//! Bytes and time come in as arguments; bytes to send, [`Event`]s and the next
//! deadline come out. The driver (wa-io-smol, a test harness, a fuzzer) moves
//! them between the transport and the state machine.
//!
//! # Inputs, commands, outputs
//!
//! | kind | call | what it does |
//! |---|---|---|
//! | input | [`Connection::handle_input`] | bytes received from the transport |
//! | input | [`Connection::handle_timeout`] | time has passed; safe to call early or twice |
//! | input | [`Connection::handle_transport_closed`] | the transport closed under us |
//! | input | [`Connection::set_wall_clock`] | a fresh wall-clock reading |
//! | command | [`Connection::send_node`] | queue a stanza |
//! | command | [`Connection::send_iq`] | queue a request and track its answer |
//! | command | [`Connection::close`] | end the connection |
//! | command | [`Connection::request_pair_code`] | link by phone number (pairing only) |
//! | command | [`Connection::logout`] | unlink this device (logged in only) |
//! | output | [`Connection::poll_transmit`] | bytes for the transport, in order |
//! | output | [`Connection::poll_event`] | what the caller must know or do |
//! | output | [`Connection::poll_timeout`] | when to call `handle_timeout` next |
//!
//! **After every input or command, drain [`poll_transmit`](Connection::poll_transmit)
//! and [`poll_event`](Connection::poll_event) until they return `None`, then
//! re-read [`poll_timeout`](Connection::poll_timeout).** Which call changes which
//! output:
//!
//! - `poll_transmit`: [`new`](Connection::new) (ClientHello), `handle_input`
//!   (ClientFinish, pongs, pairing answers), `handle_timeout` (keepalive
//!   pings), `send_node`, `send_iq`, `request_pair_code`, `logout`.
//! - `poll_event`: `handle_input`, `handle_timeout` (IQ timeouts, keepalive and
//!   handshake timeouts, QR rotation), `handle_transport_closed`, `close`, and a
//!   `send_*` that exhausts the nonce counter.
//! - `poll_timeout`: every input and command.
//!
//! # Time and randomness
//!
//! Time is an [`Instant`] on the caller's monotonic clock. It only moves
//! forward: an input with an earlier `now` than one seen before is treated as
//! that earlier-seen time (clamped, never a panic). Commands take a `now` too:
//! a send arms the dead-socket probe, so it is stamped with the current time.
//! Wall-clock time enters as data, in
//! [`Config::wall_clock`] and [`Connection::set_wall_clock`], for the
//! certificate validity check.
//!
//! Randomness comes from a ChaCha20 RNG seeded with [`Config::rng_seed`]: the
//! same seed and the same inputs give byte-identical transmits.
//!
//! # Lifecycle
//!
//! ```text
//! new ──ClientHello──▶ ExpectServerHello (handshake timer: 20 s)
//!   ServerHello ──verify chain, ClientFinish──▶ Transport
//!   the login answer ends the handshake timer (other stanzas do not):
//!     <success>                      → Event::DeviceChanged (login counter,
//!                                      LID), Event::LoggedIn
//!     <iq><pair-device>              → pairing (unregistered device only):
//!       ack; Event::Qr per ref (60 s, then 20 s each) ─ refs used up ─▶
//!         Event::QrExhausted, Disconnected(PairingExpired)
//!       companion_reg_refresh        → Event::DeviceChanged, Event::Qr
//!       <pair-success> verified      → pair-device-sign; Event::PairSuccess
//!                      refused       → <error 401/500>; Event::PairingFailed
//!       <stream:error code=515>      → Disconnected { reconnect: Now }:
//!                                      connect again with the paired device
//!   once established:
//!     <ib> with new edge routing     → Event::DeviceChanged, Event::Stanza
//!     logout answered                → Event::LoggedOut, Disconnected(Closed)
//!     <failure>, <stream:error>, <xmlstreamend/>, fatal error,
//!     timeouts, close, transport closed → Event::Disconnected (once, last),
//!       whose `reconnect` says what the driver does next
//! ```
//!
//! After the end, every input is ignored and every command fails with
//! [`SendError::Closed`]; the reason stays readable through
//! [`Connection::disconnect_reason`].
//!
//! Timings (handshake, IQ, keepalive) are in [`config`](Config) and
//! explained in the [`keepalive`] module.

mod codec;
mod config;
mod error;
mod event;
mod iq;
pub mod keepalive;
mod pairing;
mod payload;

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};

use crate::binary::{Node, Str};
use crate::frame::{FrameDecoder, FrameEncoder, NOISE_PROLOGUE};
use crate::noise::{ClientHandshake, ExpectServerHello, KeyPair, NoiseError};
use crate::pair::PairCodeRequestError;
use crate::proto::device_props::PlatformType;
use crate::store::Device;

use crate::time::Instant;
pub use codec::StanzaCodec;
pub use config::{
    ClientProfile, Config, DEAD_SOCKET_TIMEOUT, DEFAULT_APP_VERSION, DEFAULT_IQ_TIMEOUT,
    HANDSHAKE_TIMEOUT, KEEPALIVE_DEADLINE, KEEPALIVE_HARD_LIMIT, KEEPALIVE_INTERVAL_MAX,
    KEEPALIVE_INTERVAL_MIN, LOGOUT_TIMEOUT,
};
pub use error::{CodecError, ConfigError, ConnectionError, SendError};
pub use event::{
    DisconnectReason, Event, FailureReason, IqError, IqId, LoginFailure, Reconnect, ServerError,
    StreamError,
};
pub use payload::{build_hash, client_payload};

use iq::{IdGenerator, IqKind, PendingIq, PendingIqs};
use keepalive::{KeepAlive, Ping};
use pairing::Pairing;

/// The connection's timers, an index into its timer table (the per-request
/// IQ deadlines are kept with the requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// From `new` until the login answer: `<success>`, `<failure>`, or the
    /// first stanza that pairing consumes.
    Handshake = 0,
    /// The next keepalive ping (interval or dead-socket probe).
    KeepAlive = 1,
    /// The outstanding ping's deadline.
    KeepAliveDeadline = 2,
    /// Pairing: the shown QR code expires, or a pair code runs out after the
    /// refs did.
    Pairing = 3,
}

const TIMER_COUNT: usize = 4;

/// A bound on the ClientPayload (a real one is a few hundred bytes), so the
/// ClientFinish that carries it always fits a frame.
const MAX_CLIENT_PAYLOAD_LEN: usize = 1 << 20;

#[derive(Debug, Default)]
struct TimerTable([Option<Instant>; TIMER_COUNT]);

impl TimerTable {
    fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer as usize]
    }

    fn set(&mut self, timer: Timer, at: Option<Instant>) {
        self.0[timer as usize] = at;
    }

    fn expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    fn earliest(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    fn clear(&mut self) {
        self.0 = [None; TIMER_COUNT];
    }
}

/// The longest edge-routing info kept from an `<ib>` (real ones are a few
/// dozen bytes; the pre-intro that carries it back could hold up to 16 MiB,
/// which a hostile server must not make us store and send).
const MAX_EDGE_ROUTING_LEN: usize = 4096;

/// The client waits for the ServerHello.
struct Handshake {
    state: ExpectServerHello,
    encoder: FrameEncoder,
    /// The serialized ClientPayload for the ClientFinish.
    client_payload: Vec<u8>,
}

// The transport variant (two AES key schedules) is the steady state, so
// boxing it would add an allocation and an indirection per frame and save no
// memory; the handshake state, used once, is the one boxed.
#[allow(clippy::large_enum_variant)]
enum Phase {
    ExpectServerHello(Box<Handshake>),
    Transport(Established),
    Closed,
}

/// The handshake is done: stanzas flow, the keepalive runs, and the login is
/// pending or done. Everything here ends with the transport phase.
struct Established {
    codec: StanzaCodec,
    keepalive: KeepAlive,
    /// `<success>` has arrived.
    logged_in: bool,
}

/// One connection to WhatsApp, as a sans-IO state machine.
///
/// See the [module documentation](self) for the poll order and which call
/// changes which output. In short: feed it bytes and time, then drain
/// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event)
/// and re-read [`poll_timeout`](Self::poll_timeout).
///
/// A driver loop, run here against the crate's test server (feature
/// `testing`) in place of a socket:
///
/// ```
/// # #[cfg(feature = "testing")] {
/// use std::time::Duration;
/// use wa_core::binary::Node;
/// use wa_core::connection::{Connection, Event};
/// use wa_core::time::Instant;
/// use wa_core::testing::{self, TestServer};
///
/// let mut server = TestServer::new([1; 32]);
/// let device = testing::registered_device(7);
/// let config = testing::config_for(&server, [2; 32]);
/// let mut now = Instant::ZERO;
/// let mut conn = Connection::new(config, &device, now)?;
///
/// let mut logged_in = false;
/// let mut iq_id = None;
/// while !logged_in || iq_id.is_some() {
///     // Drain transmits: here they go straight to the server.
///     while let Some(bytes) = conn.poll_transmit() {
///         server.handle_input(&bytes);
///     }
///     // The server's answer arrives as input.
///     while let Some(bytes) = server.poll_transmit() {
///         conn.handle_input(now, &bytes);
///     }
///     // Drain events.
///     while let Some(event) = conn.poll_event() {
///         match event {
///             Event::LoggedIn { .. } => {
///                 logged_in = true;
///                 let iq = Node::new("iq").with_attr("xmlns", "w").with_attr("type", "get");
///                 iq_id = Some(conn.send_iq(now, iq, Duration::from_secs(75))?);
///             }
///             // The login counter went up: a real driver saves the device.
///             Event::DeviceChanged { .. } => {}
///             Event::IqResponse { id, result } => {
///                 assert_eq!(Some(&id), iq_id.as_ref());
///                 assert!(result.is_ok());
///                 iq_id = None;
///             }
///             other => panic!("unexpected {other:?}"),
///         }
///     }
///     // Then the deadline: sleep until it (or until input), and tell the
///     // connection when it passed.
///     if let Some(deadline) = conn.poll_timeout() {
///         if deadline <= now {
///             conn.handle_timeout(now);
///         }
///     }
///     now = now + Duration::from_millis(1);
/// }
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection {
    trusted_root: [u8; 32],
    keepalive_interval: (Duration, Duration),
    keepalive_deadline: Duration,
    keepalive_hard_limit: Duration,
    dead_socket_timeout: Duration,
    rng: ChaCha20Rng,
    /// The latest time seen; inputs never move it back.
    now: Instant,
    /// Wall-clock reading (since the unix epoch) at `wall_at`.
    wall_unix: Duration,
    wall_at: Instant,
    phase: Phase,
    /// The device as this connection knows it: updated by the login, edge
    /// routing and pairing, reported in [`Event::DeviceChanged`] and
    /// [`Event::PairSuccess`].
    device: Device,
    decoder: FrameDecoder,
    out: Vec<u8>,
    events: VecDeque<Event>,
    timers: TimerTable,
    ids: IdGenerator,
    iqs: PendingIqs,
    /// Set once, when the connection ends.
    end: Option<DisconnectReason>,
    /// Present on a connection made for an unregistered device.
    pairing: Option<Box<Pairing>>,
}

impl Connection {
    /// Starts a connection for `device` at `now`: builds the ClientPayload
    /// (login if the device is registered, registration otherwise; see
    /// [`client_payload`]) and queues the connection header and the ClientHello
    /// (behind the edge-routing pre-intro when the device stores routing info).
    ///
    /// Fails only on a device that cannot log in or register
    /// ([`ConfigError`]).
    pub fn new(config: Config, device: &Device, now: Instant) -> Result<Connection, ConfigError> {
        let client_payload = client_payload(&config.profile, device)?.encode_to_vec();
        if client_payload.len() > MAX_CLIENT_PAYLOAD_LEN {
            return Err(ConfigError::ClientPayloadTooLarge {
                len: client_payload.len(),
            });
        }
        let mut encoder = match &device.edge_routing_info {
            Some(info) => {
                FrameEncoder::with_edge_routing(info).map_err(ConfigError::EdgeRouting)?
            }
            None => FrameEncoder::new(),
        };
        let mut rng = ChaCha20Rng::from_seed(config.rng_seed);
        let ephemeral = KeyPair::generate(&mut rng);
        // The device stores the public half; recomputing it would cost a base-point
        // multiplication (~15 µs, 5 % of the handshake budget) on every connect.
        let static_key = device.noise_key.clone();
        let (state, hello) = ClientHandshake::start(static_key, ephemeral, &NOISE_PROLOGUE);
        let mut out = Vec::with_capacity(encoder.encoded_len(hello.len()));
        encoder
            .encode(&hello, &mut out)
            .expect("a 36-byte ClientHello always fits a frame in a Vec");
        let mut id_prefix = [0u8; 2];
        rng.fill_bytes(&mut id_prefix);

        let (min, max) = (config.keepalive_interval_min, config.keepalive_interval_max);
        let mut timers = TimerTable::default();
        timers.set(Timer::Handshake, Some(now + config.handshake_timeout));
        let platform = config
            .profile
            .device_props
            .platform_type
            .and_then(|p| PlatformType::try_from(p).ok());
        let pairing = Pairing::new(device, &config.pairing, platform).map(Box::new);
        Ok(Connection {
            trusted_root: config.trusted_root,
            keepalive_interval: (min.min(max), max.max(min)),
            keepalive_deadline: config.keepalive_deadline,
            keepalive_hard_limit: config.keepalive_hard_limit,
            dead_socket_timeout: config.dead_socket_timeout,
            rng,
            now,
            wall_unix: config
                .wall_clock
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO),
            wall_at: now,
            phase: Phase::ExpectServerHello(Box::new(Handshake {
                state,
                encoder,
                client_payload,
            })),
            device: device.clone(),
            decoder: FrameDecoder::new(),
            out,
            events: VecDeque::new(),
            timers,
            ids: IdGenerator::new(id_prefix),
            iqs: PendingIqs::default(),
            end: None,
            pairing,
        })
    }

    // ------------------------------------------------------------------ inputs

    /// Bytes received from the transport, split anywhere.
    ///
    /// During the handshake the first frame must be the ServerHello; its
    /// certificate chain is verified against [`Config::trusted_root`] at the
    /// current wall-clock time, then the ClientFinish is queued. Afterwards each
    /// frame is decrypted, inflated if flagged, decoded and dispatched. Any
    /// error ends the connection with one [`Event::Disconnected`]; bytes after
    /// the end are ignored.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        let now = self.advance_clock(now);
        if self.end.is_some() || data.is_empty() {
            return;
        }
        if let Phase::Transport(established) = &mut self.phase {
            established.keepalive.on_receive(now);
        }
        let mut decoder = mem::take(&mut self.decoder);
        let result = decoder.decode(data, |frame| self.handle_frame(now, frame));
        if self.end.is_none() {
            self.decoder = decoder;
            if let Err(error) = result {
                self.fail(ConnectionError::Frame(error));
            }
        }
        self.update_keepalive_timers();
    }

    /// Time has passed: fires every timer due at `now`. Calling it early (no
    /// timer due), twice, or with a time earlier than one already seen is
    /// harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance_clock(now);
        if self.end.is_some() {
            return;
        }
        if self.timers.expired(Timer::Handshake, now) {
            self.finish(DisconnectReason::HandshakeTimeout);
            return;
        }
        if self.timers.expired(Timer::Pairing, now) {
            self.with_pairing(now, |pairing, ctx| pairing.handle_timeout(ctx));
            if self.end.is_some() {
                return;
            }
        }
        // A logout that timed out is reported like a caller's request: the
        // connection stays.
        for expired in self.iqs.take_expired(now) {
            self.events.push_back(Event::IqResponse {
                id: expired.id,
                result: Err(IqError::Timeout),
            });
        }
        if self.timers.expired(Timer::KeepAliveDeadline, now) {
            self.finish(DisconnectReason::KeepAliveTimeout);
            return;
        }
        if self.timers.expired(Timer::KeepAlive, now) {
            self.send_keepalive_ping(now);
        }
        self.update_keepalive_timers();
    }

    /// The transport closed (or failed) under the connection: ends it with
    /// [`DisconnectReason::TransportClosed`], failing pending IQs.
    pub fn handle_transport_closed(&mut self, now: Instant) {
        self.advance_clock(now);
        self.finish(DisconnectReason::TransportClosed);
    }

    /// A fresh wall-clock reading taken at `now` (e.g. after the system clock
    /// was corrected). Later wall-clock times are derived from it.
    pub fn set_wall_clock(&mut self, now: Instant, wall_clock: SystemTime) {
        let now = self.advance_clock(now);
        self.wall_unix = wall_clock
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        self.wall_at = now;
    }

    // ---------------------------------------------------------------- commands

    /// Queues a stanza at `now`. Possible once the ClientFinish is out; fails
    /// with [`SendError::Handshaking`] before and [`SendError::Closed`] after
    /// the end. Nothing is queued on error.
    pub fn send_node(&mut self, now: Instant, node: &Node) -> Result<(), SendError> {
        let now = self.advance_clock(now);
        self.write_node(now, node)
    }

    /// Queues an IQ request and tracks its answer: exactly one
    /// [`Event::IqResponse`] with this id follows — the `result` node, the
    /// server's `<error>` ([`IqError::Server`]), [`IqError::Timeout`] after
    /// `timeout` ([`DEFAULT_IQ_TIMEOUT`] is the usual value), or
    /// [`IqError::Disconnected`] if the connection ends first.
    ///
    /// `iq` must be an `<iq>`. If it has no `id`, one is generated
    /// (`"<b0>.<b1>-<n>"`); a caller-chosen id must not collide with a
    /// pending one.
    pub fn send_iq(
        &mut self,
        now: Instant,
        mut iq: Node,
        timeout: Duration,
    ) -> Result<IqId, SendError> {
        let now = self.advance_clock(now);
        if iq.tag != "iq" {
            return Err(SendError::NotAnIq(iq.tag.to_string()));
        }
        let id = match iq.attr("id") {
            Some(id) => Str::new(&id.to_text()),
            None => {
                let id = self.ids.next_id();
                iq.attrs.insert("id", id.clone());
                id
            }
        };
        let is_ping = matches!(&self.phase, Phase::Transport(t) if t.keepalive.is_ping(&id));
        if self.iqs.contains(&id) || is_ping {
            return Err(SendError::DuplicateIqId(id.to_string()));
        }
        self.write_node(now, &iq)?;
        let id = IqId(id);
        self.iqs.insert(PendingIq {
            id: id.clone(),
            kind: IqKind::Caller,
            deadline: now + timeout,
        });
        Ok(id)
    }

    /// Unlinks this device (docs/protocol.md §7): asks the server to remove this
    /// companion (`<remove-companion-device reason="user_initiated">`) and
    /// tracks the answer for [`LOGOUT_TIMEOUT`].
    ///
    /// When the server confirms, [`Event::LoggedOut`] (delete the
    /// credentials) and then [`Event::Disconnected`] with
    /// [`DisconnectReason::Closed`] follow. A refusal or no answer in time is
    /// an [`Event::IqResponse`] with this id, and the connection stays. If the
    /// connection ends first, its [`Event::Disconnected`] decides (a server
    /// may answer the removal by ending the stream with `device_removed`,
    /// which is [`Reconnect::LoggedOut`]).
    ///
    /// Possible once logged in ([`SendError::NotLoggedIn`] before). A second
    /// call while one is in flight returns the same id and sends nothing.
    pub fn logout(&mut self, now: Instant) -> Result<IqId, SendError> {
        let now = self.advance_clock(now);
        if let Some(pending) = self.iqs.find(IqKind::Logout) {
            return Ok(pending.id.clone());
        }
        match &self.phase {
            Phase::Transport(established) if established.logged_in => {}
            Phase::Transport(_) => return Err(SendError::NotLoggedIn),
            Phase::ExpectServerHello(_) => return Err(SendError::Handshaking),
            Phase::Closed => return Err(SendError::Closed),
        }
        let Some(own) = &self.device.pn else {
            return Err(SendError::NotLoggedIn);
        };
        let mut iq = iq::remove_companion_device(own);
        let id = self.ids.next_id();
        iq.attrs.insert("id", id.clone());
        self.write_node(now, &iq)?;
        let id = IqId(id);
        self.iqs.insert(PendingIq {
            id: id.clone(),
            kind: IqKind::Logout,
            deadline: now + LOGOUT_TIMEOUT,
        });
        Ok(id)
    }

    /// Ends the connection at `now`: pending IQs fail with
    /// [`IqError::Disconnected`] and [`Event::Disconnected`] reports
    /// [`DisconnectReason::Closed`] ([`Reconnect::Never`]). Bytes already
    /// queued stay available from [`poll_transmit`](Self::poll_transmit);
    /// nothing more is queued. A second call does nothing.
    pub fn close(&mut self, now: Instant) {
        self.advance_clock(now);
        self.finish(DisconnectReason::Closed);
    }

    /// Links by phone number instead of QR (docs/protocol.md §6.3): generates an
    /// 8-character code and registers it for `phone` (international format;
    /// spaces, `+`, dashes and parentheses are dropped). The phone shows a
    /// push notification when `show_push_notification`.
    ///
    /// On a pairing connection only. The request goes out once the server's
    /// `<pair-device>` has arrived (at once if it has). When the server
    /// accepts it, [`Event::PairCode`] carries the code to show; when the user
    /// types it on the phone, the exchange completes by itself and ends in
    /// [`Event::PairSuccess`] as for a QR scan. Failures along the way are
    /// [`Event::PairingFailed`]. A second call replaces the first code.
    ///
    /// Deriving the wrapping key runs PBKDF2 with 131 072 rounds here and
    /// again when the phone answers (tens of milliseconds each in a release
    /// build).
    pub fn request_pair_code(
        &mut self,
        now: Instant,
        phone: &str,
        show_push_notification: bool,
    ) -> Result<(), PairCodeRequestError> {
        let now = self.advance_clock(now);
        if self.end.is_some() {
            return Err(PairCodeRequestError::NotPairing);
        }
        self.with_pairing(now, |pairing, ctx| {
            pairing.request_pair_code(ctx, phone, show_push_notification)
        })
        .unwrap_or(Err(PairCodeRequestError::NotPairing))
    }

    // ----------------------------------------------------------------- outputs

    /// The bytes to write to the transport next, every queued frame coalesced
    /// into one buffer; `None` when there is nothing to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            return None;
        }
        Some(Bytes::from(mem::take(&mut self.out)))
    }

    /// The next event, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the
    /// earliest of the handshake timer, the keepalive timers and the pending
    /// IQ deadlines. `None` once the connection has ended.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.end.is_some() {
            return None;
        }
        match (self.timers.earliest(), self.iqs.earliest_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // --------------------------------------------------------------- accessors

    /// Whether `<success>` was received on this connection and it has not
    /// ended.
    pub fn is_logged_in(&self) -> bool {
        matches!(&self.phase, Phase::Transport(established) if established.logged_in)
    }

    /// Whether the handshake is done and stanzas can be sent.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Transport(_))
    }

    /// Why the connection ended, once it has (the same reason the
    /// [`Event::Disconnected`] carried).
    pub fn disconnect_reason(&self) -> Option<&DisconnectReason> {
        self.end.as_ref()
    }

    /// How many requests sent with [`send_iq`](Self::send_iq) await an answer.
    pub fn pending_iqs(&self) -> usize {
        self.iqs.count(IqKind::Caller)
    }

    /// The wall-clock time at the latest `now` seen, in unix seconds.
    pub fn unix_time(&self) -> u64 {
        (self.wall_unix + (self.now - self.wall_at)).as_secs()
    }

    /// Test hook: the transport cipher's `(write, read)` counters, in the
    /// transport phase.
    #[cfg(feature = "testing")]
    pub fn transport_counters_for_testing(&self) -> Option<(u64, u64)> {
        match &self.phase {
            Phase::Transport(established) => Some((
                established.codec.transport().write_counter(),
                established.codec.transport().read_counter(),
            )),
            _ => None,
        }
    }

    /// Test hook: moves the transport cipher's counters (see
    /// [`NoiseTransport::set_counters_for_testing`](crate::noise::NoiseTransport::set_counters_for_testing)).
    /// Does nothing before the transport phase.
    #[cfg(feature = "testing")]
    pub fn set_transport_counters_for_testing(&mut self, write: u64, read: u64) {
        if let Phase::Transport(established) = &mut self.phase {
            established
                .codec
                .transport_mut()
                .set_counters_for_testing(write, read);
        }
    }

    // -------------------------------------------------------------- internals

    fn advance_clock(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    fn handle_frame(&mut self, now: Instant, frame: Bytes) {
        match &mut self.phase {
            Phase::Closed => {}
            Phase::ExpectServerHello(_) => self.handle_server_hello(now, &frame),
            Phase::Transport(established) => match established.codec.read_frame(frame) {
                Ok(node) => self.handle_stanza(now, node),
                Err(error) => self.fail(error),
            },
        }
    }

    fn handle_server_hello(&mut self, now: Instant, frame: &[u8]) {
        let phase = mem::replace(&mut self.phase, Phase::Closed);
        let Phase::ExpectServerHello(handshake) = phase else {
            self.phase = phase;
            return;
        };
        let Handshake {
            state,
            mut encoder,
            client_payload,
        } = *handshake;
        let unix_now = self.unix_time();
        let finished = state
            .read_server_hello(frame, &self.trusted_root, unix_now)
            .and_then(|(next, _chain)| next.write_client_finish(&client_payload));
        match finished {
            Err(error) => self.fail(ConnectionError::Handshake(error)),
            Ok((finish, transport)) => {
                encoder
                    .encode(&finish, &mut self.out)
                    .expect("a ClientFinish with a payload under 1 MiB always fits a frame");
                let interval = self.draw_keepalive_interval();
                let mut keepalive = KeepAlive::new(now, interval);
                keepalive.on_send(now);
                self.phase = Phase::Transport(Established {
                    codec: StanzaCodec::new(transport),
                    keepalive,
                    logged_in: false,
                });
            }
        }
    }

    fn handle_stanza(&mut self, now: Instant, node: Node) {
        if self
            .with_pairing(now, |pairing, ctx| pairing.handle_stanza(ctx, &node))
            .unwrap_or(false)
        {
            // Pairing answered the login: its own timers take over.
            self.timers.set(Timer::Handshake, None);
            return;
        }
        match node.tag.as_str() {
            "iq" => self.handle_iq(now, node),
            "success" if !self.is_logged_in() => self.on_success(node),
            "ib" => {
                self.learn_edge_routing(&node);
                self.events.push_back(Event::Stanza(node));
            }
            "failure" => {
                let failure = LoginFailure::from_node(&node);
                self.finish(DisconnectReason::LoginFailed(failure));
            }
            "stream:error" => {
                let error = StreamError::from_node(&node);
                self.finish(DisconnectReason::StreamError(error));
            }
            "xmlstreamend" => self.finish(DisconnectReason::StreamEnd),
            _ => self.events.push_back(Event::Stanza(node)),
        }
    }

    /// `<success>`: the login is done. The login counter goes up after every
    /// `<success>` (docs/protocol.md §3.7) and the LID it names is adopted; the
    /// changed device is reported first, so it is saved before anything
    /// else happens.
    fn on_success(&mut self, node: Node) {
        self.timers.set(Timer::Handshake, None);
        if let Phase::Transport(established) = &mut self.phase {
            established.logged_in = true;
        }
        let lid = node.attr_jid_opt("lid").ok().flatten();
        if lid.is_some() && self.device.lid != lid {
            self.device.lid.clone_from(&lid);
        }
        self.device.login_counter = self.device.login_counter.saturating_add(1);
        self.events.push_back(Event::DeviceChanged {
            device: Box::new(self.device.clone()),
        });
        self.events.push_back(Event::LoggedIn {
            server_time: node.attr("t").and_then(|t| t.to_text().parse().ok()),
            lid,
            stanza: node,
        });
    }

    /// Keeps the routing info of `<ib><edge_routing><routing_info>…`
    /// (docs/protocol.md §1.3) when it is new and of a sane size: the next
    /// connection sends it back in its pre-intro.
    fn learn_edge_routing(&mut self, ib: &Node) {
        let info = ib
            .child("edge_routing")
            .and_then(|e| e.child("routing_info"))
            .and_then(Node::content_bytes)
            .filter(|info| !info.is_empty() && info.len() <= MAX_EDGE_ROUTING_LEN);
        let Some(info) = info else {
            return;
        };
        if self.device.edge_routing_info.as_deref() == Some(&info[..]) {
            return;
        }
        self.device.edge_routing_info = Some(info.to_vec());
        self.events.push_back(Event::DeviceChanged {
            device: Box::new(self.device.clone()),
        });
    }

    fn handle_iq(&mut self, now: Instant, node: Node) {
        let ty = node.attr_str("type");
        if matches!(ty, Some("result") | Some("error")) {
            let is_error = ty == Some("error");
            let Some(id) = node.attr("id").map(|id| id.to_text().into_owned()) else {
                self.events.push_back(Event::Stanza(node));
                return;
            };
            if matches!(&self.phase, Phase::Transport(t) if t.keepalive.is_ping(&id)) {
                // Any answer, even an error, shows the server is there.
                let interval = self.draw_keepalive_interval();
                if let Phase::Transport(established) = &mut self.phase {
                    established.keepalive.ping = None;
                    established.keepalive.interval = interval;
                }
                return;
            }
            if let Some(pending) = self.iqs.remove(&id) {
                let result = if is_error {
                    Err(IqError::Server(ServerError::from_node(node)))
                } else {
                    Ok(node)
                };
                match (pending.kind, result) {
                    (IqKind::Logout, Ok(_)) => {
                        self.events.push_back(Event::LoggedOut);
                        self.finish(DisconnectReason::Closed);
                    }
                    (_, result) => self.events.push_back(Event::IqResponse {
                        id: pending.id,
                        result,
                    }),
                }
                return;
            }
        }
        if iq::is_server_ping(&node) {
            // If this fails the connection has just ended; nothing to answer.
            let _ = self.write_node(now, &iq::pong(&node));
            return;
        }
        self.events.push_back(Event::Stanza(node));
    }

    fn send_keepalive_ping(&mut self, now: Instant) {
        let id = self.ids.next_id();
        if self
            .write_node(now, &iq::keepalive_ping(id.clone()))
            .is_ok()
            && let Phase::Transport(established) = &mut self.phase
        {
            established.keepalive.ping = Some(Ping { id, sent: now });
        }
    }

    fn write_node(&mut self, now: Instant, node: &Node) -> Result<(), SendError> {
        let established = match &mut self.phase {
            Phase::Transport(established) => established,
            Phase::ExpectServerHello(_) => return Err(SendError::Handshaking),
            Phase::Closed => return Err(SendError::Closed),
        };
        match established.codec.write_node(node, &mut self.out) {
            Ok(()) => {
                established.keepalive.on_send(now);
                self.update_keepalive_timers();
                Ok(())
            }
            Err(CodecError::Encode(error)) => Err(SendError::Encode(error)),
            Err(CodecError::TooLarge { len }) => Err(SendError::TooLarge { len }),
            Err(CodecError::Noise(NoiseError::CounterExhausted)) => {
                self.fail(ConnectionError::NonceExhausted);
                Err(SendError::Closed)
            }
            Err(CodecError::Noise(error)) => Err(SendError::Encrypt(error)),
        }
    }

    fn draw_keepalive_interval(&mut self) -> Duration {
        let (min, max) = self.keepalive_interval;
        let span = u64::try_from((max - min).as_millis()).unwrap_or(u64::MAX);
        let offset = match span.checked_add(1) {
            Some(n) => self.rng.next_u64() % n,
            None => self.rng.next_u64(),
        };
        min.saturating_add(Duration::from_millis(offset))
    }

    fn update_keepalive_timers(&mut self) {
        let (ping, dead) = match (&self.phase, &self.end) {
            (Phase::Transport(Established { keepalive, .. }), None) => (
                keepalive.ping_due(self.dead_socket_timeout),
                keepalive.dead_at(self.keepalive_deadline, self.keepalive_hard_limit),
            ),
            _ => (None, None),
        };
        self.timers.set(Timer::KeepAlive, ping);
        self.timers.set(Timer::KeepAliveDeadline, dead);
    }

    /// Runs one pairing step (if this is a pairing connection) and applies
    /// what it asks for: its stanzas are sent, its events queued, its timer
    /// set, and the connection ended if it says so.
    fn with_pairing<T>(
        &mut self,
        now: Instant,
        step: impl FnOnce(&mut Pairing, &mut pairing::Ctx<'_>) -> T,
    ) -> Option<T> {
        let mut state = self.pairing.take()?;
        let mut ctx = pairing::Ctx {
            now,
            device: &mut self.device,
            rng: &mut self.rng,
            ids: &mut self.ids,
            sends: Vec::new(),
            events: Vec::new(),
            end: None,
        };
        let result = step(&mut state, &mut ctx);
        let pairing::Ctx {
            sends, events, end, ..
        } = ctx;
        self.timers.set(Timer::Pairing, state.deadline());
        self.pairing = Some(state);
        let mut all_sent = true;
        for node in &sends {
            // Our own nodes always encode; what is left is the end of the
            // connection (an exhausted counter), which `write_node` reports.
            if self.write_node(now, node).is_err() {
                all_sent = false;
                break;
            }
        }
        // Events are reported only when every answer left: a PairSuccess
        // whose pair-device-sign was not sent must not be persisted. If a send
        // ended the connection, its Disconnected stays the last event.
        if self.end.is_none() {
            if all_sent {
                self.events.extend(events);
            }
            if let Some(reason) = end {
                self.finish(reason);
            }
        }
        Some(result)
    }

    fn fail(&mut self, error: ConnectionError) {
        self.finish(DisconnectReason::Error(error));
    }

    /// Ends the connection once: drops the keys, fails pending IQs, reports
    /// the reason and what to do next as the last event.
    fn finish(&mut self, reason: DisconnectReason) {
        if self.end.is_some() {
            return;
        }
        self.phase = Phase::Closed;
        self.timers.clear();
        self.decoder = FrameDecoder::new();
        for pending in self.iqs.drain() {
            if pending.kind == IqKind::Caller {
                self.events.push_back(Event::IqResponse {
                    id: pending.id,
                    result: Err(IqError::Disconnected),
                });
            }
        }
        let just_paired = self.pairing.as_ref().is_some_and(|p| p.is_paired());
        self.events.push_back(Event::Disconnected {
            reconnect: Reconnect::after(&reason, just_paired),
            reason: reason.clone(),
        });
        self.end = Some(reason);
    }
}

impl fmt::Debug for Connection {
    // Keys, the RNG and buffered bytes stay out of the output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match &self.phase {
            Phase::ExpectServerHello(_) => "ExpectServerHello",
            Phase::Transport(_) => "Transport",
            Phase::Closed => "Closed",
        };
        f.debug_struct("Connection")
            .field("phase", &phase)
            .field("logged_in", &self.is_logged_in())
            .field("now", &self.now)
            .field("pending_iqs", &self.iqs.len())
            .field("queued_bytes", &self.out.len())
            .field("queued_events", &self.events.len())
            .field("timers", &self.timers)
            .field("end", &self.end)
            .finish()
    }
}
