//! A loopback WhatsApp server for tests and demos (feature `test-server`):
//! the sans-IO [`TestServer`] of `wa-core` behind a real WebSocket server on
//! 127.0.0.1, plain `ws://` or `wss://` with a throwaway CA.
//!
//! Each accepted connection gets its own [`TestServer`] (and thread, since a
//! `TestServer` is not `Send`), built from the server's seed with a
//! certificate chain valid around the server's clock, so a client that
//! trusts [`LoopbackServer::trusted_root`] — [`LoopbackServer::client_config`]
//! does — completes the handshake, logs in a linked device and gets QR refs
//! for a fresh one. A per-connection hook scripts each `TestServer` and its
//! [`Faults`] (cut the TCP connection after N bytes either way, mid-frame
//! included); [`Control`]s act on the live connections (the simulated phone
//! scans a QR code or takes a pair code, push a stanza or a stream error,
//! stop answering pings, cut); [`ConnectionRecord`]s show what each
//! connection saw.
//!
//! One [`SimulatedPhone`] serves every connection: after it scans a QR code
//! (or the user types a pair code on it) it sends a pair-success, checks the
//! client's `pair-device-sign` answer and, when that is right, ends the
//! stream with `515` — after which the client logs in on a new connection,
//! which the server accepts like any login.
//!
//! Nothing leaves the machine: the listener binds 127.0.0.1 on a free port.
//! Dropping the [`LoopbackServer`] stops accepting and ends every
//! connection.
//!
//! ```
//! use wa_core::net::{TransportEvent, TransportFactory};
//! use wa_io_smol::testserver::LoopbackServer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = LoopbackServer::builder().tls(true).start()?;
//! assert!(server.url().starts_with("wss://127.0.0.1:"));
//! smol::block_on(async {
//!     let (_transport, events) = server.transport_factory().create_transport().await?;
//!     assert_eq!(events.recv().await?, TransportEvent::Connected);
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_channel::{Receiver, Sender};
use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt;
use futures_lite::future::or;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_rustls::TlsAcceptor;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{RootCertStore, ServerConfig};
use std::cell::RefCell;
use std::rc::Rc;

use std::sync::atomic::{AtomicBool, Ordering};
use wa_core::binary::{Jid, Node, Server};
use wa_core::connection::Config;

use wa_core::message::stanza::read_receipt;
use wa_core::messaging::MessagingEvent;
use wa_core::testing::network::{Network, Party, users_devices};
use wa_core::testing::{
    IqReply, PairSuccessVariant, ServerOptions, SimulatedPhone, TestServer, lid_user_of,
};

use crate::transport::WebSocketTransportFactory;

/// Scripts one connection's [`TestServer`] and [`Faults`]; called on the
/// connection's thread with the connection's index (0 for the first).
pub type ConnectionHook = Arc<dyn Fn(usize, &mut TestServer, &mut Faults) + Send + Sync>;

/// Deliberate transport failures of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Faults {
    /// After sending this many bytes to the client (WebSocket payload bytes,
    /// counted from the first), send no more and drop the TCP connection
    /// without a close frame. A frame that crosses the limit is cut there.
    pub cut_after_server_bytes: Option<usize>,
    /// After receiving this many bytes from the client, feed no more to the
    /// server and drop the TCP connection without a close frame.
    pub cut_after_client_bytes: Option<usize>,
}

/// Something to do on every live connection, sent with
/// [`LoopbackServer::control`]. `Debug` does not print QR strings.
#[derive(Clone)]
#[non_exhaustive]
pub enum Control {
    /// The simulated phone scans this QR string (from the client's
    /// [`Event::Qr`](crate::client::Event::Qr)) and sends a pair-success of
    /// the given kind. When the client answers it correctly, the server ends
    /// the stream with `515` (restart required), as WhatsApp does.
    ScanQr {
        /// The QR string.
        code: String,
        /// Which pair-success to send.
        variant: PairSuccessVariant,
    },
    /// The user types this pair code (from the client's
    /// [`Event::PairCode`](crate::client::Event::PairCode)) on the simulated
    /// phone; the exchange then completes by itself with a valid
    /// pair-success and `515`.
    EnterPairCode(String),
    /// Send a stanza.
    Send(Node),
    /// Send `<stream:error [code]>[child]</stream:error>`.
    StreamError {
        /// The `code` attribute.
        code: Option<String>,
        /// A child such as `<conflict type="replaced"/>`.
        child: Option<Node>,
    },
    /// Send `<failure reason=…>`.
    Failure(String),
    /// Send `<xmlstreamend/>`.
    StreamEnd,
    /// Answer keepalive pings (the default) or not.
    AnswerPings(bool),
    /// Drop the TCP connection without a close frame.
    Cut,
    /// Send a WebSocket close frame (code 1000).
    Close,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Control::ScanQr { variant, .. } => f
                .debug_struct("ScanQr")
                .field("code", &"<redacted>")
                .field("variant", variant)
                .finish(),
            Control::EnterPairCode(code) => f.debug_tuple("EnterPairCode").field(code).finish(),
            Control::Send(node) => f.debug_tuple("Send").field(node).finish(),
            Control::StreamError { code, child } => f
                .debug_struct("StreamError")
                .field("code", code)
                .field("child", child)
                .finish(),
            Control::Failure(reason) => f.debug_tuple("Failure").field(reason).finish(),
            Control::StreamEnd => f.write_str("StreamEnd"),
            Control::AnswerPings(answer) => f.debug_tuple("AnswerPings").field(answer).finish(),
            Control::Cut => f.write_str("Cut"),
            Control::Close => f.write_str("Close"),
        }
    }
}

/// What one connection saw, from [`LoopbackServer::records`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConnectionRecord {
    /// The connection's index (0 for the first accepted).
    pub index: usize,
    /// Whether the handshake completed.
    pub established: bool,
    /// Whether the ClientPayload was a registration (no username), once the
    /// handshake completed.
    pub registration: Option<bool>,
    /// The ClientPayload's username (the phone number) on a login.
    pub username: Option<u64>,
    /// The routing info of the client's edge-routing pre-intro, if it sent
    /// one (docs/protocol.md §1.3).
    pub edge_routing: Option<Vec<u8>>,
    /// The announced app version `(primary, secondary, tertiary)`.
    pub app_version: Option<(u32, u32, u32)>,
    /// Every stanza the client sent, in order.
    pub received: Vec<Node>,
    /// Keepalive pings answered.
    pub pings_answered: usize,
    /// The length of every frame (or garbage chunk) the server sent, in
    /// order, as sent (a frame cut by [`Faults`] counts with its cut length).
    pub sent_frames: Vec<usize>,
    /// The length of every WebSocket message received from the client.
    pub received_messages: Vec<usize>,
    /// Why the server stopped accepting the client's input, if it did.
    pub server_error: Option<String>,
    /// How the simulated phone's pair-success went on this connection:
    /// `Ok` when the client answered with a valid `pair-device-sign`, `Err`
    /// with what was wrong (or the client's error reply) otherwise.
    pub pairing: Option<Result<(), String>>,
    /// Whether the connection is over.
    pub ended: bool,
}

#[derive(Default)]
struct State {
    records: Vec<ConnectionRecord>,
    controls: Vec<(usize, Sender<Control>)>,
    /// Rung when the network may hold something for the connection.
    wakes: Vec<(usize, Sender<()>)>,
}

struct Shared {
    state: Mutex<State>,
    hook: Option<ConnectionHook>,
    seed: [u8; 32],
    unix_time: u64,
    /// The phone that links companions, shared by every connection.
    phone: Mutex<SimulatedPhone>,
    /// The accounts, their devices, prekeys and queued stanzas.
    network: Mutex<Network>,
    /// Closed when the server is dropped.
    shutdown: Receiver<()>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the others down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn phone(&self) -> MutexGuard<'_, SimulatedPhone> {
        self.phone.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn network(&self) -> MutexGuard<'_, Network> {
        self.network.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells every connection to look for stanzas queued for it.
    fn wake_all(&self) {
        for (_, wake) in &self.state().wakes {
            let _ = wake.try_send(());
        }
    }
}

/// Builds a [`LoopbackServer`].
pub struct LoopbackServerBuilder {
    seed: [u8; 32],
    phone_seed: u8,
    tls: bool,
    unix_time: Option<u64>,
    hook: Option<ConnectionHook>,
}

impl fmt::Debug for LoopbackServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackServerBuilder")
            .field("tls", &self.tls)
            .field("unix_time", &self.unix_time)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl LoopbackServerBuilder {
    /// The seed every connection's [`TestServer`] is built from (default
    /// `[1; 32]`); the trusted root derives from it.
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = seed;
        self
    }

    /// The seed of the simulated phone (default 1): it links companions as
    /// `1555111<seed as 4 digits>:12@s.whatsapp.net`
    /// ([`SimulatedPhone::new`]).
    pub fn phone_seed(mut self, seed: u8) -> Self {
        self.phone_seed = seed;
        self
    }

    /// Serve `wss://` with a throwaway CA (made at start with rcgen) instead
    /// of plain `ws://` (the default).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// The server's clock in unix seconds: certificates are valid around it
    /// and `<success t>` carries it. Default: the system clock at start.
    pub fn unix_time(mut self, unix_time: u64) -> Self {
        self.unix_time = Some(unix_time);
        self
    }

    /// Scripts each connection's [`TestServer`] and [`Faults`].
    pub fn on_connection(
        mut self,
        hook: impl Fn(usize, &mut TestServer, &mut Faults) + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Binds 127.0.0.1 on a free port and starts accepting.
    pub fn start(self) -> io::Result<LoopbackServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let listener = smol::net::TcpListener::try_from(listener)?;
        let unix_time = self.unix_time.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        let (tls, ca) = if self.tls {
            let pki = Pki::new().map_err(io::Error::other)?;
            (Some(pki.acceptor()?), Some(pki.ca))
        } else {
            (None, None)
        };
        let (shutdown_tx, shutdown_rx) = async_channel::bounded(1);
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            hook: self.hook,
            seed: self.seed,
            unix_time,
            phone: Mutex::new(SimulatedPhone::new(self.phone_seed)),
            network: Mutex::new(Network::new()),
            shutdown: shutdown_rx,
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("wa-testserver-accept".into())
            .spawn(move || smol::block_on(accept_loop(listener, tls, accept_shared)))?;
        let scheme = if ca.is_some() { "wss" } else { "ws" };
        Ok(LoopbackServer {
            url: format!("{scheme}://{addr}/ws/chat"),
            ca,
            shared,
            shutdown: shutdown_tx,
        })
    }
}

/// The [`TestServer`] behind a WebSocket server on 127.0.0.1; see the
/// [module docs](self).
pub struct LoopbackServer {
    url: String,
    ca: Option<CertificateDer<'static>>,
    shared: Arc<Shared>,
    shutdown: Sender<()>,
}

impl fmt::Debug for LoopbackServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackServer")
            .field("url", &self.url)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.shutdown.close();
        for (_, control) in self.shared.state().controls.drain(..) {
            control.close();
        }
    }
}

impl LoopbackServer {
    /// A builder: seed `[1; 32]`, plain `ws://`, the system clock, no hook.
    pub fn builder() -> LoopbackServerBuilder {
        LoopbackServerBuilder {
            seed: [1; 32],
            phone_seed: 1,
            tls: false,
            unix_time: None,
            hook: None,
        }
    }

    /// `ws://127.0.0.1:PORT/ws/chat` or `wss://…`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The throwaway CA certificate of a `wss://` server.
    pub fn ca_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.ca.as_ref()
    }

    /// A transport factory for this server: its URL, trusting only its CA
    /// for `wss://`, with a 5 s connect timeout.
    pub fn transport_factory(&self) -> WebSocketTransportFactory {
        let factory = WebSocketTransportFactory::new()
            .with_url(self.url.clone())
            .with_connect_timeout(Duration::from_secs(5));
        match &self.ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                // A certificate rcgen just made always parses.
                let _ = roots.add(ca.clone());
                let config =
                    WebSocketTransportFactory::tls_config_builder(roots).with_no_client_auth();
                factory.with_connector(Arc::new(config))
            }
            None => factory,
        }
    }

    /// The Noise root key every connection's certificate chain is signed with.
    pub fn trusted_root(&self) -> [u8; 32] {
        self.new_test_server().root_public_key()
    }

    /// The server's clock, unix seconds.
    pub fn unix_time(&self) -> u64 {
        self.shared.unix_time
    }

    /// A client [`Config`] that trusts [`trusted_root`](Self::trusted_root),
    /// otherwise the defaults.
    pub fn client_config(&self) -> Config {
        let mut config = Config::new([0; 32], UNIX_EPOCH + Duration::from_secs(self.unix_time()));
        config.trusted_root = self.trusted_root();
        config
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.state().records.len()
    }

    /// What every connection saw so far, in accept order.
    pub fn records(&self) -> Vec<ConnectionRecord> {
        self.shared.state().records.clone()
    }

    /// Sends `control` to every live connection; returns how many got it.
    pub fn control(&self, control: Control) -> usize {
        let state = self.shared.state();
        state
            .controls
            .iter()
            .filter(|(_, tx)| tx.try_send(control.clone()).is_ok())
            .count()
    }

    /// The simulated phone scans `code` and sends a valid pair-success
    /// ([`Control::ScanQr`]); returns how many connections got it.
    pub fn scan_qr(&self, code: &str) -> usize {
        self.control(Control::ScanQr {
            code: code.to_owned(),
            variant: PairSuccessVariant::Valid,
        })
    }

    /// The phone-number JID the simulated phone gives a companion it links.
    pub fn phone_companion_jid(&self) -> String {
        self.shared.phone().companion_pn().to_string()
    }

    /// Runs `f` on the messaging network every connection of this server
    /// shares (accounts, their devices and prekeys, queued stanzas), then
    /// lets the connections deliver what it queued. Simulated contacts
    /// ([`Party`](wa_core::testing::network::Party)) live on it:
    ///
    /// ```
    /// use wa_core::testing::network::Party;
    /// use wa_io_smol::testserver::LoopbackServer;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = LoopbackServer::builder().start()?;
    /// let contact = server.with_network(|net| Party::join(net, "15550009999", 0, 9));
    /// assert_eq!(server.with_network(|net| net.prekey_count(&contact.jid)), 812);
    /// # Ok(()) }
    /// ```
    pub fn with_network<R>(&self, f: impl FnOnce(&mut Network) -> R) -> R {
        let result = f(&mut self.shared.network());
        self.shared.wake_all();
        result
    }

    /// Starts a simulated contact, `user` (a phone number), on the network:
    /// once `account`'s device has registered it sends `greeting` (if any)
    /// to it, and it answers every message it gets, alone or in a group,
    /// with a read receipt and `you said: …` in the same chat. It runs on
    /// its own thread until the returned [`ContactBot`] is dropped.
    pub fn start_contact_bot(
        &self,
        user: &str,
        account: &Jid,
        greeting: Option<String>,
    ) -> ContactBot {
        let contact = self.with_network(|net| Party::join(net, user, 0, 0xC0_4AC7));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let shared = Arc::clone(&self.shared);
            let stop = Arc::clone(&stop);
            let account = account.to_non_ad();
            std::thread::Builder::new()
                .name("wa-testserver-contact".into())
                .spawn(move || run_contact(&shared, contact, &account, greeting, &stop))
                .ok()
        };
        ContactBot { stop, thread }
    }

    fn new_test_server(&self) -> TestServer {
        new_test_server(&self.shared)
    }
}

/// A simulated contact's thread (see
/// [`LoopbackServer::start_contact_bot`]); stops when dropped.
#[derive(Debug)]
pub struct ContactBot {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ContactBot {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_contact(
    shared: &Shared,
    mut contact: Party,
    account: &Jid,
    mut greeting: Option<String>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        {
            let mut net = shared.network();
            let registered = users_devices(&net, account.user())
                .iter()
                .any(|d| net.prekey_count(d) > 0);
            if registered && let Some(text) = greeting.take() {
                contact.send_text(&mut net, account, &text);
            }
            for event in contact.receive_all(&mut net) {
                let MessagingEvent::Message(m) = event else {
                    continue;
                };
                if m.from_me {
                    continue;
                }
                let now = net.now();
                let ids = [m.id.clone()];
                if let Some(receipt) = read_receipt(&m.chat, &m.sender, &ids, now) {
                    net.stanza(&contact.jid, &receipt);
                }
                let text = m
                    .message
                    .text_content()
                    .unwrap_or("something I cannot show");
                let reply = format!("you said: {text}");
                contact.send_text(&mut net, &m.chat, &reply);
            }
        }
        shared.wake_all();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A logged-in connection's place on the network.
#[derive(Default)]
struct Account {
    /// The device JID, once the client logged in (shared with the
    /// connection's IQ handler).
    jid: Rc<RefCell<Option<Jid>>>,
    /// The offline queue was delivered (and `<ib><offline/>` sent).
    synced: bool,
    /// Stanzas of `TestServer::received` already routed.
    routed: usize,
}

impl Account {
    /// The device JID, once the client logged in.
    fn jid(&self) -> Option<Jid> {
        self.jid.borrow().clone()
    }

    /// After the client's input: learns the device from a login, then routes
    /// what the client sent (messages, receipts, acks) into the network.
    fn after_input(&mut self, shared: &Shared, server: &TestServer) {
        if self.jid.borrow().is_none()
            && server.is_established()
            && let Some(payload) = server.client_payload()
            && let Some(user) = payload.username
        {
            let user = user.to_string();
            let device = u16::try_from(payload.device.unwrap_or(0)).unwrap_or(0);
            let jid = Jid::pn(&user).with_device(device);
            let mut net = shared.network();
            net.set_lid(&user, &lid_user_of(&user));
            // Messages the device took on an earlier connection and never
            // answered come again first.
            net.reconnect(&jid);
            *self.jid.borrow_mut() = Some(jid);
        }
        let Some(jid) = self.jid() else { return };
        let received = server.received();
        let new = received.get(self.routed..).unwrap_or_default();
        self.routed = received.len();
        let mut routed = false;
        for node in new {
            if matches!(node.tag.as_str(), "message" | "receipt" | "ack") {
                shared.network().stanza(&jid, node);
                routed = true;
            }
        }
        if routed {
            shared.wake_all();
        }
    }

    /// Sends what the network queued for this device; the first time after
    /// the login, ends the offline queue with `<ib><offline count/></ib>`.
    fn deliver(&mut self, shared: &Shared, server: &mut TestServer) {
        let Some(jid) = self.jid() else { return };
        let queue = shared.network().take_queue(&jid);
        for node in &queue {
            server.send_node(node);
        }
        if !self.synced {
            self.synced = true;
            let count = queue.iter().filter(|n| n.tag == "message").count();
            server.send_node(
                &Node::new("ib")
                    .with_attr("from", Jid::server_jid(Server::Pn))
                    .with_children([Node::new("offline").with_attr("count", count as u64)]),
            );
        }
    }
}

/// The IQ handler of a connection: prekeys and device lists from the
/// network, the simulated phone's pair-code step, an empty result for the
/// rest.
fn network_iq_handler(
    shared: Arc<Shared>,
    jid: Rc<RefCell<Option<Jid>>>,
) -> impl FnMut(&Node) -> IqReply {
    let mut pair_code = shared.phone().pair_code_handler();
    move |iq| {
        if !matches!(
            iq.attr_str("xmlns"),
            Some("encrypt") | Some("usync") | Some("w:g2")
        ) {
            return pair_code(iq);
        }
        let Some(from) = jid.borrow().clone() else {
            return IqReply::Error {
                code: 401,
                text: "not-authorized".into(),
            };
        };
        let answer = shared.network().iq(&from, iq);
        if answer.attr_str("type") == Some("error") {
            IqReply::Error {
                code: 406,
                text: "not-acceptable".into(),
            }
        } else {
            IqReply::Result(answer.children().to_vec())
        }
    }
}

/// A [`TestServer`] from the shared seed with certificates valid around the
/// server's clock.
fn new_test_server(shared: &Shared) -> TestServer {
    const DAY: u64 = 86_400;
    let now = shared.unix_time;
    let mut options = ServerOptions::new(shared.seed);
    options.intermediate_validity = (now.saturating_sub(365 * DAY), now + 3650 * DAY);
    options.leaf_validity = (now.saturating_sub(30 * DAY), now + 365 * DAY);
    let mut server = TestServer::with_options(options);
    server.set_unix_time(now);
    server.set_lid_from_username(true);
    server
}

async fn accept_loop(
    listener: smol::net::TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    loop {
        let accepted = or(async { Some(listener.accept().await) }, async {
            let _ = shared.shutdown.recv().await;
            None
        })
        .await;
        let Some(Ok((tcp, _))) = accepted else {
            if accepted.is_none() {
                return;
            }
            continue;
        };
        let (control_tx, control_rx) = async_channel::bounded(64);
        let (wake_tx, wake_rx) = async_channel::bounded(1);
        let index = {
            let mut state = shared.state();
            let index = state.records.len();
            state.records.push(ConnectionRecord {
                index,
                ..ConnectionRecord::default()
            });
            state.controls.push((index, control_tx));
            state.wakes.push((index, wake_tx));
            index
        };
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wa-testserver-{index}"))
            .spawn(move || {
                smol::block_on(async {
                    let account = match tls {
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => serve(stream, index, control_rx, wake_rx, &shared).await,
                            Err(error) => {
                                tracing::debug!("test server tls: {error}");
                                None
                            }
                        },
                        None => serve(tcp, index, control_rx, wake_rx, &shared).await,
                    };
                    finish(&shared, index, account);
                });
            });
        if let Err(error) = spawned {
            tracing::warn!("test server: cannot start a connection thread: {error}");
        }
    }
}

/// Marks connection `index` over. The messages its device took on it and
/// did not answer are queued again (for the device's next connection, or
/// one that logged in while this one was still ending).
fn finish(shared: &Shared, index: usize, account: Option<Jid>) {
    if let Some(jid) = account {
        shared.network().reconnect(&jid);
        shared.wake_all();
    }
    let mut state = shared.state();
    state.controls.retain(|(i, _)| *i != index);
    state.wakes.retain(|(i, _)| *i != index);
    if let Some(record) = state.records.get_mut(index) {
        record.ended = true;
    }
}

enum Wake<S> {
    Client(Option<Result<Message, async_tungstenite::tungstenite::Error>>),
    Control(Option<Control>),
    Network,
    /// The frame in flight left (or the write failed); the sender is back.
    Sent(WsSender<S>, bool),
}

type WsSender<S> = async_tungstenite::WebSocketSender<S>;

/// A frame being written: it owns the sender until the write is done, so the
/// server reads the client meanwhile (full duplex, like a real server: a
/// client that stops reading does not stop the server from reading it).
type Sending<S> = std::pin::Pin<Box<dyn std::future::Future<Output = (WsSender<S>, bool)>>>;

fn send_frame<S>(mut sender: WsSender<S>, frame: bytes::Bytes) -> Sending<S>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    Box::pin(async move {
        let ok = sender.send(Message::Binary(frame)).await.is_ok();
        (sender, ok)
    })
}

async fn serve<S>(
    stream: S,
    index: usize,
    controls: Receiver<Control>,
    wakes: Receiver<()>,
    shared: &Arc<Shared>,
) -> Option<Jid>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let Ok(ws) = async_tungstenite::accept_async(stream).await else {
        return None;
    };
    let (sender, mut receiver) = ws.split();
    // The sender while no frame is in flight; frames waiting, in order, each
    // with whether the connection is cut after it.
    let mut idle = Some(sender);
    let mut sending: Option<Sending<S>> = None;
    let mut in_flight_cut = false;
    let mut outbox: std::collections::VecDeque<(bytes::Bytes, bool)> = Default::default();
    let mut server = new_test_server(shared);
    // Prekeys and device lists come from the network; the phone's side of a
    // pair-code exchange needs the server to answer `companion_hello`. The
    // hook may still replace the handler.
    let mut account = Account::default();
    server.set_iq_handler(network_iq_handler(
        Arc::clone(shared),
        Rc::clone(&account.jid),
    ));
    let mut pairing = Pairing::default();
    let mut faults = Faults::default();
    if let Some(hook) = &shared.hook {
        hook(index, &mut server, &mut faults);
    }
    let mut sent = 0usize;
    let mut received = 0usize;
    loop {
        account.deliver(shared, &mut server);
        // Record what the server saw *before* its answers leave: a client that
        // reacts to an answer (a QR, a login) must find the record already updated.
        record(shared, index, &server);
        // Queue the server's frames, cutting where the faults say; they leave
        // one at a time while the client is read.
        while let Some(frame) = server.poll_transmit() {
            let (frame, cut) = match faults.cut_after_server_bytes {
                Some(limit) if sent + frame.len() >= limit => {
                    (frame.slice(..limit.saturating_sub(sent)), true)
                }
                _ => (frame, false),
            };
            sent += frame.len();
            note(shared, index, |r| r.sent_frames.push(frame.len()));
            outbox.push_back((frame, cut));
        }
        while sending.is_none() {
            let Some((frame, cut)) = outbox.pop_front() else {
                break;
            };
            if frame.is_empty() {
                if cut {
                    return account.jid();
                }
                continue;
            }
            let Some(sender) = idle.take() else {
                return account.jid();
            };
            in_flight_cut = cut;
            sending = Some(send_frame(sender, frame));
        }

        let wake = or(
            async {
                match sending.as_mut() {
                    Some(f) => {
                        let (sender, ok) = f.await;
                        Wake::Sent(sender, ok)
                    }
                    None => std::future::pending().await,
                }
            },
            or(
                async { Wake::Client(receiver.next().await) },
                or(async { Wake::Control(controls.recv().await.ok()) }, async {
                    let _ = wakes.recv().await;
                    Wake::Network
                }),
            ),
        )
        .await;
        match wake {
            Wake::Sent(sender, ok) => {
                sending = None;
                idle = Some(sender);
                if !ok {
                    return account.jid();
                }
                if in_flight_cut {
                    return account.jid(); // dropping the stream closes TCP without a close frame
                }
            }
            Wake::Client(Some(Ok(Message::Binary(data)))) => {
                let (data, cut) = match faults.cut_after_client_bytes {
                    Some(limit) if received + data.len() >= limit => {
                        (data.slice(..limit.saturating_sub(received)), true)
                    }
                    _ => (data, false),
                };
                received += data.len();
                note(shared, index, |r| r.received_messages.push(data.len()));
                server.handle_input(&data);
                account.after_input(shared, &server);
                pairing.after_input(shared, index, &mut server);
                if cut {
                    record(shared, index, &server);
                    return account.jid();
                }
            }
            Wake::Client(Some(Ok(Message::Close(_)))) | Wake::Client(None) => {
                record(shared, index, &server);
                return account.jid();
            }
            Wake::Client(Some(Err(_))) => return account.jid(),
            Wake::Client(Some(Ok(_))) => {} // text, ping, pong: nothing for the server
            Wake::Network => {}
            Wake::Control(None) | Wake::Control(Some(Control::Cut)) => return account.jid(),
            Wake::Control(Some(control)) => match control {
                Control::ScanQr { code, variant } => {
                    let mut phone = shared.phone();
                    match phone.scan(&code) {
                        Ok(_) => pairing.sign_id = phone.send_pair_success(&mut server, variant),
                        Err(error) => {
                            note(shared, index, |r| {
                                r.pairing = Some(Err(format!("unreadable qr code: {error}")))
                            });
                        }
                    }
                }
                Control::EnterPairCode(code) => {
                    match shared.phone().enter_pair_code(&mut server, &code) {
                        Ok(()) => pairing.code_entered = true,
                        Err(error) => note(shared, index, |r| r.pairing = Some(Err(error))),
                    }
                }
                Control::Send(node) => server.send_node(&node),
                Control::StreamError { code, child } => {
                    server.send_stream_error(code.as_deref(), child)
                }
                Control::Failure(reason) => server.send_failure(&reason),
                Control::StreamEnd => server.send_stream_end(),
                Control::AnswerPings(answer) => server.set_answer_pings(answer),
                Control::Close => {
                    // After what is already on its way, in order; a fault's
                    // cut among it still drops the connection instead.
                    if let Some(f) = sending.take() {
                        let (sender, _) = f.await;
                        idle = Some(sender);
                        if in_flight_cut {
                            return account.jid();
                        }
                    }
                    for (frame, cut) in outbox.drain(..) {
                        if let Some(sender) = idle.as_mut()
                            && !frame.is_empty()
                        {
                            let _ = sender.send(Message::Binary(frame)).await;
                        }
                        if cut {
                            return account.jid();
                        }
                    }
                    if let Some(sender) = idle.as_mut() {
                        let _ = sender.close(None).await;
                    }
                }
                Control::Cut => return account.jid(),
            },
        }
    }
}

/// The simulated phone's progress on one connection.
#[derive(Default)]
struct Pairing {
    /// A pair code was entered; waiting for the client's `companion_finish`.
    code_entered: bool,
    /// The id of the pair-success sent; waiting for the client's answer.
    sign_id: Option<String>,
}

impl Pairing {
    /// Moves the phone along after the client's input: on `companion_finish`
    /// it sends the pair-success; on the answer to the pair-success it
    /// checks it and, when it is right, ends the stream with 515.
    fn after_input(&mut self, shared: &Shared, index: usize, server: &mut TestServer) {
        if self.code_entered && has_companion_finish(server) {
            self.code_entered = false;
            let mut phone = shared.phone();
            match phone.finish_pair_code(server) {
                Ok(()) => self.sign_id = phone.send_pair_success(server, PairSuccessVariant::Valid),
                Err(error) => note(shared, index, |r| r.pairing = Some(Err(error))),
            }
        }
        let Some(id) = self.sign_id.clone() else {
            return;
        };
        let Some(answer) = server
            .received()
            .iter()
            .rev()
            .find(|n| n.tag == "iq" && n.attr("id").map(|v| v.to_text()).as_deref() == Some(&id))
            .cloned()
        else {
            return;
        };
        self.sign_id = None;
        let result = shared.phone().check_pair_device_sign(&answer, &id);
        if result.is_ok() {
            server.send_stream_error(Some("515"), None);
        }
        note(shared, index, |r| r.pairing = Some(result));
    }
}

fn has_companion_finish(server: &TestServer) -> bool {
    server.received().iter().any(|n| {
        n.child("link_code_companion_reg")
            .is_some_and(|r| r.attr_str("stage") == Some("companion_finish"))
    })
}

fn note(shared: &Shared, index: usize, f: impl FnOnce(&mut ConnectionRecord)) {
    if let Some(record) = shared.state().records.get_mut(index) {
        f(record);
    }
}

/// Copies what the server saw into the connection's record.
fn record(shared: &Shared, index: usize, server: &TestServer) {
    let mut state = shared.state();
    let Some(record) = state.records.get_mut(index) else {
        return;
    };
    record.established = server.is_established();
    record.edge_routing = server.edge_routing().map(<[u8]>::to_vec);
    if let Some(payload) = server.client_payload() {
        record.registration = Some(payload.username.is_none());
        record.username = payload.username;
        record.app_version = payload
            .user_agent
            .as_ref()
            .and_then(|ua| ua.app_version.as_ref())
            .map(|v| {
                (
                    v.primary.unwrap_or(0),
                    v.secondary.unwrap_or(0),
                    v.tertiary.unwrap_or(0),
                )
            });
    }
    let seen = record.received.len();
    if let Some(new) = server.received().get(seen..) {
        record.received.extend_from_slice(new);
    }
    record.pings_answered = server.pings_answered();
    record.server_error = server.error().map(|e| e.to_string());
}

/// A throwaway CA and a server certificate for 127.0.0.1 / localhost.
struct Pki {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Pki {
    fn new() -> Result<Self, rcgen::Error> {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wa-io-smol throwaway test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &*ca)?;
        Ok(Self {
            ca: ca.der().clone(),
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        })
    }

    fn acceptor(&self) -> io::Result<TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(io::Error::other)?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
