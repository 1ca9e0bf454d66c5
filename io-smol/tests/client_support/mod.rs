//! Shared harness of the `client_*` tests: a time bound, a client started
//! against a [`LoopbackServer`], and an event watcher that keeps what it saw
//! for the failure message.
#![allow(dead_code)] // each test binary uses a different part

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_channel::Receiver;
use futures_lite::future::or;
use wa_core::connection::Config;
use wa_core::store::{Backend, Device, DeviceStore, MemoryStore};
use wa_io_smol::client::{Client, ClientBuilder, Event, ReconnectPolicy};
use wa_io_smol::clock::VirtualTime;
use wa_io_smol::testserver::LoopbackServer;

/// Upper bound of every test.
pub const BOUND: Duration = Duration::from_secs(20);

/// Runs `f` to completion on smol, failing the test after [`BOUND`].
pub fn bounded<T>(f: impl Future<Output = T>) -> T {
    smol::block_on(or(f, async {
        smol::Timer::after(BOUND).await;
        panic!("test did not finish within {BOUND:?}");
    }))
}

/// Quick retries, so reconnect tests take milliseconds.
pub fn fast_reconnect() -> ReconnectPolicy {
    ReconnectPolicy::new()
        .with_initial_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_millis(100))
}

/// The server's client config with keepalive in tenths of a second.
pub fn fast_keepalive(server: &LoopbackServer) -> Config {
    let mut config = server.client_config();
    config.keepalive_interval_min = Duration::from_millis(100);
    config.keepalive_interval_max = Duration::from_millis(200);
    config.keepalive_deadline = Duration::from_millis(600);
    config.keepalive_hard_limit = Duration::from_secs(2);
    config.dead_socket_timeout = Duration::from_millis(600);
    config
}

/// A builder aimed at `server` with `store`, quick retries and no version
/// fetch (there is no network).
pub fn builder(server: &LoopbackServer, store: Arc<dyn Backend>) -> ClientBuilder {
    Client::builder()
        .backend(store)
        .transport_factory(Arc::new(server.transport_factory()))
        .config(server.client_config())
        .reconnect_policy(fast_reconnect())
        .web_version_policy(None)
}

/// [`builder`] on virtual time with the default (seconds-long) backoff: the
/// client's timers move only when the test advances the returned clock, which
/// a [`Watch::on_virtual_time`] does at every `Reconnecting`. For tests whose
/// only waits are reconnect backoffs; the sockets stay real.
pub fn virtual_builder(
    server: &LoopbackServer,
    store: Arc<dyn Backend>,
) -> (ClientBuilder, Arc<VirtualTime>) {
    let time = Arc::new(VirtualTime::new());
    let builder = builder(server, store)
        .reconnect_policy(ReconnectPolicy::new())
        .runtime(time.clone())
        .clock(time.clone());
    (builder, time)
}

/// A memory store holding the linked test device `seed`.
pub async fn store_with_linked_device(seed: u8) -> (Arc<MemoryStore>, Device) {
    let store = Arc::new(MemoryStore::new());
    let device = wa_core::testing::registered_device(seed);
    store.save(&device).await.unwrap();
    (store, device)
}

/// Reads events and remembers them.
pub struct Watch {
    pub events: Receiver<Event>,
    pub seen: Vec<Event>,
    /// Advanced past every announced backoff, when the client runs on it.
    pub time: Option<Arc<VirtualTime>>,
}

impl Watch {
    pub fn new(client: &Client) -> Self {
        Self {
            events: client.events(),
            seen: Vec::new(),
            time: None,
        }
    }

    /// A watch that moves `time` past every backoff the client announces.
    pub fn on_virtual_time(client: &Client, time: &Arc<VirtualTime>) -> Self {
        Self {
            time: Some(Arc::clone(time)),
            ..Self::new(client)
        }
    }

    fn saw(&mut self, event: &Event) {
        if let (Event::Reconnecting { after, .. }, Some(time)) = (event, &self.time) {
            time.advance(*after);
        }
        self.seen.push(event.clone());
    }

    /// The next event that `pred` accepts; panics if the stream ends first.
    pub async fn until(&mut self, mut pred: impl FnMut(&Event) -> bool) -> Event {
        loop {
            match self.events.recv().await {
                Ok(event) => {
                    self.saw(&event);
                    if pred(&event) {
                        return event;
                    }
                }
                Err(_) => panic!("event stream ended; saw {:#?}", self.seen),
            }
        }
    }

    /// Every remaining event up to the end of the stream.
    pub async fn rest(&mut self) -> Vec<Event> {
        let mut rest = Vec::new();
        while let Ok(event) = self.events.recv().await {
            self.saw(&event);
            rest.push(event);
        }
        rest
    }

    /// Like [`until`](Self::until), but moves the virtual time forward by
    /// `step` whenever no event has come for a moment, so the client's
    /// timers (keepalive, deadlines) fire while real bytes flow.
    pub async fn until_advancing(
        &mut self,
        step: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Event {
        let time = self.time.clone().expect("a watch on virtual time");
        loop {
            let next = or(async { Some(self.events.recv().await) }, async {
                smol::Timer::after(Duration::from_millis(10)).await;
                None
            })
            .await;
            match next {
                Some(Ok(event)) => {
                    self.saw(&event);
                    if pred(&event) {
                        return event;
                    }
                }
                Some(Err(_)) => panic!("event stream ended; saw {:#?}", self.seen),
                None => time.advance(step),
            }
        }
    }

    pub async fn logged_in(&mut self) -> Event {
        self.until(|e| matches!(e, Event::LoggedIn { .. })).await
    }

    /// How many events of the seen ones `pred` accepts.
    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.seen.iter().filter(|e| pred(e)).count()
    }
}

/// Moves `time` forward by `step` every 10 ms until `check` holds (the
/// test's bound limits the wait).
pub async fn advance_until(time: &VirtualTime, step: Duration, mut check: impl FnMut() -> bool) {
    while !check() {
        smol::Timer::after(Duration::from_millis(10)).await;
        time.advance(step);
    }
}

/// Polls `check` every 10 ms until it holds (the test's bound limits the
/// wait).
pub async fn eventually(mut check: impl FnMut() -> bool) {
    while !check() {
        smol::Timer::after(Duration::from_millis(10)).await;
    }
}
