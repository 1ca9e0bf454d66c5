//! [`Client`]: the driver that runs a [`Connection`](wa_core::connection::Connection)
//! over a real transport, keeps the device in a store and stays connected.
//!
//! # What it does
//!
//! [`ClientBuilder::start`] loads the device from the
//! [`DeviceStore`](wa_core::store::DeviceStore) (or creates a fresh identity
//! with [`Device::generate`] and saves it), then spawns the drive loop on
//! the [`Runtime`]. The loop is the only place that reads the clock (through
//! its [`Clock`]) and the OS random source. It builds and
//! interprets no stanzas: every protocol decision is the connection's, and
//! the loop carries it out:
//!
//! 1. before the first connect it refreshes the announced WhatsApp Web
//!    version with a [`WebVersionPolicy`] (stale after 24 h; the fetch never
//!    holds the connection up longer than the policy's timeout, 5 s, and a
//!    failure falls back to the stored or built-in version with a warning);
//!    the version and its fetch time go into the device record;
//! 2. it opens a transport and starts a `Connection` with a fresh seed from
//!    its OS-seeded ChaCha20 generator and the current wall-clock time;
//! 3. transport events go to `handle_input`, the connection's deadline to
//!    `handle_timeout`, commands from the [`Client`] handles to
//!    `send_node`/`send_iq`/`logout`/`request_pair_code`/`close`, each with
//!    the current time; after each, it drains the connection's events
//!    (persisting what must be persisted first) and then its queued bytes,
//!    which leave in one transport write, and re-arms the timer;
//! 4. when the connection ends it follows the decision the connection's
//!    `Disconnected` carries: reconnect at once (after pairing, the server's
//!    restart request), after a capped exponential backoff with jitter
//!    ([`ReconnectPolicy`]), not at all (a takeover by another session, a
//!    refused login), or wipe the credentials and stop (logged out).
//!
//! The device record is saved whenever the connection reports it changed:
//! when the phone links the device (before the reconnect, and before the
//! signed identity that completes the link leaves), after each login (login
//! counter, LID), when the server sends new edge-routing info, and when
//! pairing rotates the ADV secret. A logout — asked with [`Client::logout`] or imposed
//! by the server — replaces the stored device with a fresh unlinked identity,
//! so the old keys, account and JIDs are gone (docs/protocol.md §7). The store
//! contracts have no bulk delete, so rows the application wrote to the
//! other stores (sessions, identities, prekeys, …) stay until it removes
//! them (e.g. by deleting the store file).
//!
//! # Time
//!
//! The connection's [`Instant`](wa_core::time::Instant) is the time
//! elapsed since the drive loop started: the loop takes one reading of its
//! [`Clock`] as the origin and converts each reading with
//! [`Instant::from_std`](wa_core::time::Instant::from_std); the
//! connection's deadline becomes a [`Runtime::sleep`] of the difference. The
//! wall-clock time (for the certificate validity check) is read once per
//! connection.
//!
//! # Channels and backpressure
//!
//! Every channel is bounded. The event channel ([`Client::events`], 64
//! events by default) applies backpressure: when it is full the drive loop
//! waits, stops reading the transport and the server eventually waits too.
//! So **keep reading events**, and do not await a request
//! ([`Client::send_iq`], [`Client::send_text`]) from the task that reads them
//! while the channel could fill up: spawn the request, or read events on
//! another task. [`Client::ack_message`] is the exception: it is served even
//! while the client waits for room in the channel (the messaging worker
//! serves acknowledgements whenever it waits, for room or for the drive
//! loop).
//! Requests never hang: one sent while the connection is down fails at once
//! with [`RequestError::NotConnected`], one in flight when it drops fails
//! with [`IqError::Disconnected`](wa_core::connection::IqError::Disconnected),
//! and every IQ has a timeout (75 s by default).
//!
//! # Example
//!
//! Against the bundled test server on 127.0.0.1 (feature `test-server`),
//! with a device that is already linked:
//!
//! ```
//! use std::sync::Arc;
//! use wa_core::binary::Node;
//! use wa_core::store::{DeviceStore, MemoryStore};
//! use wa_io_smol::client::{Client, Event};
//! use wa_io_smol::testserver::LoopbackServer;
//!
//! # smol::block_on(async {
//! let server = LoopbackServer::builder().start()?;
//! let store = Arc::new(MemoryStore::new());
//! store.save(&wa_core::testing::registered_device(1)).await?;
//!
//! let client = Client::builder()
//!     .backend(store)
//!     .transport_factory(Arc::new(server.transport_factory()))
//!     .config(server.client_config())
//!     .web_version_policy(None) // offline: keep the built-in version
//!     .start()
//!     .await?;
//! let events = client.events();
//! while let Ok(event) = events.recv().await {
//!     if let Event::LoggedIn { jid, .. } = event {
//!         println!("logged in as {jid:?}");
//!         let iq = Node::new("iq").with_attr("xmlns", "w").with_attr("type", "get");
//!         let answer = client.send_iq(iq).await?;
//!         assert_eq!(answer.attr_str("type"), Some("result"));
//!         client.disconnect().await;
//!     }
//! }
//! assert!(client.is_stopped());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod backoff;
mod command;
mod driver;
mod error;
mod event;
mod messaging;
mod qr;
mod session;

pub use backoff::ReconnectPolicy;
pub use error::{ClientError, RequestError};
pub use event::{Event, StopReason};
pub use qr::{QrError, render_qr};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use async_channel::{Receiver, Sender};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_core::binary::{Jid, Node};
use wa_core::cache::CacheConfig;
use wa_core::connection::{Config, DEFAULT_IQ_TIMEOUT};
use wa_core::message::{Message, MessageId};
use wa_core::messaging::ReceivedMessage;
use wa_core::net::{HttpClient, TransportFactory};
use wa_core::runtime::{AbortHandle, Runtime};
use wa_core::store::{Backend, Device};

use crate::SmolRuntime;
use crate::clock::{Clock, SystemClock};
use crate::http::SmolHttpClient;
use crate::transport::WebSocketTransportFactory;
use crate::version::WebVersionPolicy;
use command::Command;
use driver::{Driver, Shared};
use messaging::{Ack, Work, Worker};

/// Default capacity of the event channel.
pub const DEFAULT_EVENT_CAPACITY: usize = 64;

/// Default capacity of the command channel (requests waiting for the drive
/// loop to pick them up; callers wait when it is full).
pub const DEFAULT_COMMAND_CAPACITY: usize = 32;

/// Messaging work (incoming stanzas, sends) queued for the messaging worker
/// at most; the drive loop holds back up to [`DEFAULT_READ_AHEAD`] more
/// (see [`ClientBuilder::read_ahead`]) while it is full, then stops reading
/// the connection.
const WORK_CAPACITY: usize = 256;

/// Default of [`ClientBuilder::read_ahead`].
pub const DEFAULT_READ_AHEAD: usize = driver::READ_AHEAD;

/// Default limit on IQs awaiting an answer at once.
pub const DEFAULT_MAX_PENDING_IQS: usize = 256;

/// A running WhatsApp Web client. Cheap to clone; every clone drives the same
/// connection.
///
/// Build one with [`Client::builder`]. Dropping the last handle stops the
/// client as [`disconnect`](Self::disconnect) would, in the background
/// ([`StopReason::ClientDropped`]).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    commands: Sender<Command>,
    work: Sender<Work>,
    acks: Sender<Ack>,
    clock: Arc<dyn Clock>,
    events: Receiver<Event>,
    /// Closed (never written) to ask the driver to stop.
    stop: Sender<()>,
    /// Closed by the driver when it ends.
    done: Receiver<()>,
    shared: Arc<Shared>,
    iq_timeout: Duration,
    task: Option<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Let the driver close the connection politely and end by itself.
        self.stop.close();
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("stopped", &self.is_stopped())
            .field("queued_events", &self.inner.events.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the defaults: [`SmolRuntime`],
    /// [`WebSocketTransportFactory::new`] (the real service),
    /// [`Config`] with the real WhatsApp root and default timings, the
    /// default [`ReconnectPolicy`] and [`WebVersionPolicy`]. Only the
    /// backend must be given.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The event stream (bounded; see the [module docs](self) on
    /// backpressure). Every call returns a handle on the same channel: an
    /// event goes to one of the receivers, not to each.
    pub fn events(&self) -> Receiver<Event> {
        self.inner.events.clone()
    }

    /// Sends a stanza. Fails with [`RequestError::NotConnected`] unless a
    /// connection is established.
    pub async fn send_node(&self, node: Node) -> Result<(), RequestError> {
        let (reply, answer) = async_channel::bounded(1);
        self.command(Command::SendNode { node, reply }).await?;
        answer.recv().await.unwrap_or(Err(RequestError::Stopped))
    }

    /// Sends an `<iq>` and returns the server's `<iq type="result">`, or why
    /// there is none, with the default timeout (75 s, see
    /// [`ClientBuilder::iq_timeout`]). An `id` is generated unless the node
    /// has one.
    pub async fn send_iq(&self, iq: Node) -> Result<Node, RequestError> {
        self.send_iq_with_timeout(iq, self.inner.iq_timeout).await
    }

    /// [`send_iq`](Self::send_iq) with its own timeout.
    pub async fn send_iq_with_timeout(
        &self,
        iq: Node,
        timeout: Duration,
    ) -> Result<Node, RequestError> {
        let (reply, answer) = async_channel::bounded(1);
        self.command(Command::SendIq { iq, timeout, reply }).await?;
        answer.recv().await.unwrap_or(Err(RequestError::Stopped))
    }

    /// Unlinks this device: asks the server to remove it
    /// (`<remove-companion-device reason="user_initiated">`), and once the
    /// server agrees, wipes the credentials from the store and stops
    /// ([`Event::LoggedOut`], [`StopReason::LoggedOut`]). Needs a logged-in
    /// connection ([`RequestError::NotConnected`] otherwise); when the server
    /// refuses, nothing is wiped and the client stays connected.
    pub async fn logout(&self) -> Result<(), RequestError> {
        let (reply, answer) = async_channel::bounded(1);
        self.command(Command::Logout { reply }).await?;
        answer.recv().await.unwrap_or(Err(RequestError::Stopped))
    }

    /// Links by phone number instead of QR code (docs/protocol.md §6.3): asks the
    /// server for an 8-character code for `phone` (international format,
    /// e.g. `"+1 555 000 1234"`), delivered as [`Event::PairCode`]; the user
    /// types it on the phone (which shows a notification when
    /// `show_push_notification`), and the link completes as for a scan.
    ///
    /// Only while the device is unlinked and connected (after
    /// [`Event::Connected`] or the first [`Event::Qr`]);
    /// [`RequestError::NotConnected`] otherwise, and
    /// [`RequestError::PairCode`] for a bad number or a connection that is
    /// not pairing. A reconnect forgets the request.
    pub async fn request_pair_code(
        &self,
        phone: &str,
        show_push_notification: bool,
    ) -> Result<(), RequestError> {
        let (reply, answer) = async_channel::bounded(1);
        self.command(Command::RequestPairCode {
            phone: phone.to_owned(),
            show_push_notification,
            reply,
        })
        .await?;
        answer.recv().await.unwrap_or(Err(RequestError::Stopped))
    }

    /// Sends `message` to `to` (a user: `15551234567@s.whatsapp.net`, or a
    /// LID) and returns its id once the server has acknowledged it.
    ///
    /// The message is encrypted for every device of the recipient and for
    /// our own other devices (device lists by usync, cached in the store;
    /// sessions started from prekey bundles where there are none), and
    /// stored before anything leaves, so the recipient's retry receipts can
    /// be answered later. Fails with [`RequestError::NotConnected`] before
    /// the first login, [`RequestError::SendFailed`] when the server refuses
    /// it or no device can be reached, and [`RequestError::Unacknowledged`]
    /// when the connection ends before the server's ack (the message may
    /// still have been delivered).
    ///
    /// ```no_run
    /// # async fn f(client: wa_io_smol::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use wa_core::binary::Jid;
    /// let id = client.send_text(&Jid::pn("15551234567"), "hello").await?;
    /// println!("sent {id}");
    /// # Ok(()) }
    /// ```
    pub async fn send_message(
        &self,
        to: &Jid,
        message: Message,
    ) -> Result<MessageId, RequestError> {
        let (reply, answer) = async_channel::bounded(1);
        self.inner
            .work
            .send(Work::Send {
                to: to.clone(),
                message: Box::new(message),
                reply,
            })
            .await
            .map_err(|_| RequestError::Stopped)?;
        answer.recv().await.unwrap_or(Err(RequestError::Stopped))
    }

    /// [`send_message`](Self::send_message) with a plain text message.
    pub async fn send_text(&self, to: &Jid, text: &str) -> Result<MessageId, RequestError> {
        self.send_message(to, Message::text(text)).await
    }

    /// The application has `message` safe (shown, stored): removes it from
    /// the store's inbox. Until this is called, a message reported as
    /// [`Event::Message`] is reported again after every start, so a crash
    /// between the event and the application's own storage loses nothing.
    ///
    /// Unlike other requests, it may be awaited from the task that reads the
    /// events, even while a backlog fills the event channel: it is served
    /// while the client waits for room. Acknowledgements that arrive
    /// together (from several tasks) are released in one durable commit.
    pub async fn ack_message(&self, message: &ReceivedMessage) -> Result<(), RequestError> {
        let (reply, answer) = async_channel::bounded(1);
        self.inner
            .acks
            .send(Ack {
                op: message.ack(),
                reply,
            })
            .await
            .map_err(|_| RequestError::Stopped)?;
        answer.recv().await.unwrap_or(Err(RequestError::Stopped))
    }

    /// Tells the sender that `messages` were read (blue ticks): one read
    /// receipt per sender and chat. Messages from our own devices are
    /// skipped. Fails like [`send_node`](Self::send_node) when there is no
    /// connection.
    pub async fn mark_read(&self, messages: &[&ReceivedMessage]) -> Result<(), RequestError> {
        let now = self
            .inner
            .clock
            .wall_clock()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut groups: Vec<(&Jid, &Jid, Vec<MessageId>)> = Vec::new();
        for m in messages.iter().filter(|m| !m.from_me) {
            match groups
                .iter_mut()
                .find(|(chat, sender, _)| **chat == m.chat && **sender == m.sender)
            {
                Some((_, _, ids)) => ids.push(m.id.clone()),
                None => groups.push((&m.chat, &m.sender, vec![m.id.clone()])),
            }
        }
        for (chat, sender, ids) in groups {
            if let Some(receipt) = wa_core::message::stanza::read_receipt(chat, sender, &ids, now) {
                self.send_node(receipt).await?;
            }
        }
        Ok(())
    }

    /// Closes the connection and stops the client; returns once the drive
    /// loop has ended and released the store, after the last event
    /// ([`Event::Stopped`] with [`StopReason::Disconnected`]) was queued if
    /// there was room for it. Calling it again, or on a stopped client,
    /// returns at once.
    pub async fn disconnect(&self) {
        self.inner
            .shared
            .disconnect_called
            .store(true, Ordering::SeqCst);
        self.inner.stop.close();
        let _ = self.inner.done.recv().await;
    }

    /// Waits until the client has stopped by itself or was stopped.
    pub async fn wait_stopped(&self) {
        let _ = self.inner.done.recv().await;
    }

    /// Whether the drive loop has ended.
    pub fn is_stopped(&self) -> bool {
        self.inner.done.is_closed()
    }

    async fn command(&self, command: Command) -> Result<(), RequestError> {
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| RequestError::Stopped)
    }
}

/// Configures and starts a [`Client`]; see [`Client::builder`].
pub struct ClientBuilder {
    backend: Option<Arc<dyn Backend>>,
    transport_factory: Option<Arc<dyn TransportFactory>>,
    runtime: Option<Arc<dyn Runtime>>,
    clock: Option<Arc<dyn Clock>>,
    config: Option<Config>,
    reconnect: ReconnectPolicy,
    web_version: Option<WebVersionPolicy>,
    http_client: Option<Arc<dyn HttpClient>>,
    event_capacity: usize,
    command_capacity: usize,
    iq_timeout: Duration,
    max_pending_iqs: usize,
    read_ahead: usize,
    cache_config: CacheConfig,
    on_event: Option<EventCallback>,
}

/// A callback that takes every event (see [`ClientBuilder::on_event`]).
type EventCallback = Box<dyn Fn(Event) + Send + Sync + 'static>;

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            backend: None,
            transport_factory: None,
            runtime: None,
            clock: None,
            config: None,
            reconnect: ReconnectPolicy::default(),
            web_version: Some(WebVersionPolicy::default()),
            http_client: None,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            command_capacity: DEFAULT_COMMAND_CAPACITY,
            iq_timeout: DEFAULT_IQ_TIMEOUT,
            max_pending_iqs: DEFAULT_MAX_PENDING_IQS,
            read_ahead: DEFAULT_READ_AHEAD,
            cache_config: CacheConfig::default(),
            on_event: None,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("backend", &self.backend.is_some())
            .field("transport_factory", &self.transport_factory.is_some())
            .field("runtime", &self.runtime.is_some())
            .field("clock", &self.clock.is_some())
            .field("config", &self.config)
            .field("reconnect", &self.reconnect)
            .field("web_version", &self.web_version)
            .field("event_capacity", &self.event_capacity)
            .field("command_capacity", &self.command_capacity)
            .field("iq_timeout", &self.iq_timeout)
            .field("max_pending_iqs", &self.max_pending_iqs)
            .field("read_ahead", &self.read_ahead)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Where the device and everything else is stored (required). The
    /// handle addresses one account (e.g. `RedbStore::open(path)` addresses
    /// device id 1).
    pub fn backend(mut self, backend: Arc<dyn Backend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// How connections are opened (default [`WebSocketTransportFactory::new`],
    /// `wss://web.whatsapp.com/ws/chat`).
    pub fn transport_factory(mut self, factory: Arc<dyn TransportFactory>) -> Self {
        self.transport_factory = Some(factory);
        self
    }

    /// Where the drive loop runs (default [`SmolRuntime`]).
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Reads the time from `clock` instead of the operating system (default
    /// [`SystemClock`]). With [`VirtualTime`](crate::clock::VirtualTime) given
    /// to both this and [`runtime`](Self::runtime), a test moves the client's
    /// timers by hand.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The connection configuration: trusted root, timings, client profile
    /// (default [`Config::new`]). Its `rng_seed` and `wall_clock` are
    /// ignored: the drive loop sets a fresh seed and the current time for
    /// every connection.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// When to reconnect (default [`ReconnectPolicy::default`]).
    pub fn reconnect_policy(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// How to refresh the announced WhatsApp Web version before the first
    /// connect (default [`WebVersionPolicy::default`]: fetch
    /// `https://web.whatsapp.com/sw.js` when the stored version is a day old,
    /// waiting at most 5 s). `None` never fetches: the stored version, or
    /// the config's, is announced.
    pub fn web_version_policy(mut self, policy: Option<WebVersionPolicy>) -> Self {
        self.web_version = policy;
        self
    }

    /// The HTTP client for the version fetch (default [`SmolHttpClient::new`]).
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http_client = Some(http);
        self
    }

    /// Capacity of the event channel (default [`DEFAULT_EVENT_CAPACITY`],
    /// at least 1).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Capacity of the command channel (default
    /// [`DEFAULT_COMMAND_CAPACITY`], at least 1).
    pub fn command_capacity(mut self, capacity: usize) -> Self {
        self.command_capacity = capacity.max(1);
        self
    }

    /// Timeout of [`Client::send_iq`] (default 75 s).
    pub fn iq_timeout(mut self, timeout: Duration) -> Self {
        self.iq_timeout = timeout;
        self
    }

    /// Sizes, lifetimes and backends of the client's caches (default
    /// [`CacheConfig::default`]): group participants, device lists and LID
    /// mappings, in-process or in your own
    /// [`CacheStore`](wa_core::cache::CacheStore) (e.g. Redis, shared by
    /// several clients). A failing cache is a miss, never an error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wa_core::cache::{CacheConfig, CacheEntryConfig};
    /// let builder = wa_io_smol::Client::builder().cache_config(CacheConfig {
    ///     group: CacheEntryConfig::new(100, Some(Duration::from_secs(300))),
    ///     ..CacheConfig::default()
    /// });
    /// ```
    pub fn cache_config(mut self, config: CacheConfig) -> Self {
        self.cache_config = config;
        self
    }

    /// Calls `callback` with every event, in order, on a task of the
    /// runtime — an alternative to reading [`Client::events`] (which then
    /// receives nothing). The callback runs between events: keep it short,
    /// and spawn anything that awaits a request (see the
    /// [module docs](self) on backpressure).
    ///
    /// ```no_run
    /// # async fn f(store: std::sync::Arc<dyn wa_core::store::Backend>) -> Result<(), Box<dyn std::error::Error>> {
    /// let client = wa_io_smol::Client::builder()
    ///     .backend(store)
    ///     .on_event(|event| println!("{event}"))
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn on_event(mut self, callback: impl Fn(Event) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Box::new(callback));
        self
    }

    /// How many IQs may await an answer at once (default
    /// [`DEFAULT_MAX_PENDING_IQS`]); more fail with
    /// [`RequestError::TooManyPending`].
    pub fn max_pending_iqs(mut self, limit: usize) -> Self {
        self.max_pending_iqs = limit.max(1);
        self
    }

    /// How many incoming messaging stanzas the client holds while its
    /// messaging worker is busy with a full queue (default
    /// [`DEFAULT_READ_AHEAD`], and never more than ~32 MiB of stanzas).
    /// Meanwhile it keeps reading the connection, so the answers to the
    /// worker's own queries (behind a large offline backlog, say) still
    /// reach it; beyond this it stops reading until the worker catches up,
    /// and a query of the worker whose answer is still behind fails after
    /// its timeout instead of waiting for ever.
    pub fn read_ahead(mut self, items: usize) -> Self {
        self.read_ahead = items;
        self
    }

    /// Loads the device from the backend — or creates a fresh identity and
    /// saves it — and starts the drive loop. Returns at once; progress comes
    /// as [`Event`]s.
    pub async fn start(self) -> Result<Client, ClientError> {
        let backend = self.backend.ok_or(ClientError::NoBackend)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| ClientError::Rng(e.to_string()))?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        let device = match backend.load().await.map_err(ClientError::Store)? {
            Some(device) => device,
            None => {
                let device = new_device(&mut rng);
                backend.save(&device).await.map_err(ClientError::Store)?;
                tracing::info!("created a new device identity");
                device
            }
        };

        let runtime: Arc<dyn Runtime> = self.runtime.unwrap_or_else(|| Arc::new(SmolRuntime));
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let factory = self
            .transport_factory
            .unwrap_or_else(|| Arc::new(WebSocketTransportFactory::new()));
        let web_version = self.web_version.map(|policy| {
            let http = self
                .http_client
                .unwrap_or_else(|| Arc::new(SmolHttpClient::new()));
            (policy, http)
        });
        let (commands_tx, commands_rx) = async_channel::bounded(self.command_capacity);
        let (events_tx, events_rx) = async_channel::bounded(self.event_capacity);
        let (stop_tx, stop_rx) = async_channel::bounded(1);
        let (done_tx, done_rx) = async_channel::bounded(1);
        let shared = Arc::new(Shared {
            disconnect_called: AtomicBool::new(false),
        });
        let (work_tx, work_rx) = async_channel::bounded(WORK_CAPACITY);
        let (acks_tx, acks_rx) = async_channel::bounded(DEFAULT_COMMAND_CAPACITY);
        let (halt_tx, halt_rx) = async_channel::bounded(1);
        let (worker_done_tx, worker_done_rx) = async_channel::bounded(1);
        let store_lock = Arc::new(smol::lock::Mutex::new(()));
        let worker = Worker {
            backend: Arc::clone(&backend),
            commands: commands_tx.clone(),
            events: events_tx.clone(),
            work: work_rx,
            acks: acks_rx,
            halt: halt_rx,
            clock: Arc::clone(&clock),
            store_lock: Arc::clone(&store_lock),
            iq_timeout: self.iq_timeout,
            runtime: Arc::clone(&runtime),
            done: Some(worker_done_tx),
            messenger: None,
            awaiting: Default::default(),
            redelivered: false,
            current_send: None,
            deferred: None,
            caches: messaging::Caches::new(&self.cache_config, Arc::clone(&clock)),
        };
        let driver = Driver {
            backend: Some(backend),
            factory,
            runtime: Arc::clone(&runtime),
            config: self
                .config
                .unwrap_or_else(|| Config::new([0; 32], UNIX_EPOCH)),
            reconnect: self.reconnect,
            web_version,
            device,
            rng,
            origin: clock.now(),
            clock: Arc::clone(&clock),
            commands: commands_rx,
            events: events_tx,
            stop: stop_rx,
            shared: Arc::clone(&shared),
            done: Some(done_tx),
            max_pending_iqs: self.max_pending_iqs,
            read_ahead: self.read_ahead,
            work: work_tx.clone(),
            halt: Some(halt_tx),
            worker_done: worker_done_rx,
            store_lock,
            held: driver::Held::default(),
        };
        runtime.spawn(Box::pin(worker.run())).detach();
        if let Some(callback) = self.on_event {
            let events = events_rx.clone();
            runtime
                .spawn(Box::pin(async move {
                    while let Ok(event) = events.recv().await {
                        callback(event);
                    }
                }))
                .detach();
        }
        let task = runtime.spawn(Box::pin(driver.run()));
        Ok(Client {
            inner: Arc::new(Inner {
                commands: commands_tx,
                work: work_tx,
                acks: acks_tx,
                clock: Arc::clone(&clock),
                events: events_rx,
                stop: stop_tx,
                done: done_rx,
                shared,
                iq_timeout: self.iq_timeout,
                task: Some(task),
            }),
        })
    }
}

/// A fresh, unlinked identity from the driver's OS-seeded generator.
fn new_device(rng: &mut ChaCha20Rng) -> Device {
    Device::generate(rng)
}
