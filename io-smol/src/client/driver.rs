//! The drive loop: the one place that reads the clock and the OS random
//! source, moves bytes between the transport and the [`Connection`], runs the
//! commands, persists the device, and carries out the connection's decision
//! on what comes next (reconnecting after the backoff delay it computes).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::future::or;
use rand_chacha::ChaCha20Rng;
use rand_core::Rng as _;
use wa_core::binary::Content;
use wa_core::connection::{Config, Connection, Event as CoreEvent};
use wa_core::net::{HttpClient, Transport, TransportEvent, TransportFactory};
use wa_core::runtime::Runtime;
use wa_core::store::{Backend, Device};
use wa_core::time::Instant;

use super::backoff::ReconnectPolicy;
use super::command::Command;
use super::error::RequestError;
use super::event::{Event, StopReason};
use super::messaging::{Work, is_messaging};
use super::session::{After, Session};
use crate::clock::Clock;
use crate::version::{VersionOutcome, WebVersionPolicy, unix_ms};

/// The longest one transport write may take before the transport is
/// considered dead (a peer that stopped reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest the driver waits for a transport to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Received chunks handled in one go before the replies are written (they
/// leave in one transport write).
const MAX_COALESCED_INPUTS: usize = 32;

/// The most messaging work the driver holds back while the worker's queue is
/// full. Up to this, it keeps reading the connection, so that the answer to a
/// query the worker is waiting for (after a large offline backlog, say) still
/// reaches it; beyond it, it stops reading until the worker catches up
/// (backpressure).
pub(crate) const READ_AHEAD: usize = 8192;

/// The most stanza bytes (roughly: contents, plus a little per node and
/// attribute) held back under [`READ_AHEAD`].
const READ_AHEAD_BYTES: usize = 32 << 20;

/// Work held back for the worker (see [`READ_AHEAD`]), in arrival order, with
/// the approximate bytes its stanzas carry.
#[derive(Default)]
pub(crate) struct Held {
    items: std::collections::VecDeque<(Work, usize)>,
    bytes: usize,
}

impl Held {
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn front(&self) -> Option<&Work> {
        self.items.front().map(|(work, _)| work)
    }

    fn push_back(&mut self, work: Work) {
        let weight = weight(&work);
        self.bytes += weight;
        self.items.push_back((work, weight));
    }

    fn push_front(&mut self, work: Work) {
        let weight = weight(&work);
        self.bytes += weight;
        self.items.push_front((work, weight));
    }

    fn pop_front(&mut self) -> Option<Work> {
        let (work, weight) = self.items.pop_front()?;
        self.bytes -= weight;
        Some(work)
    }

    fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }

    /// More than `keep` items, or more than [`READ_AHEAD_BYTES`] (of more
    /// than one item: a single one is always let through).
    fn over(&self, keep: usize) -> bool {
        self.items.len() > keep || (self.items.len() > 1 && self.bytes > READ_AHEAD_BYTES)
    }
}

/// What holding `work` costs, roughly, in bytes.
fn weight(work: &Work) -> usize {
    const PER_NODE: usize = 64;
    const PER_ATTR: usize = 32;
    let Work::Stanza(node) = work else {
        return PER_NODE;
    };
    let mut total = 0;
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        total += PER_NODE + PER_ATTR * node.attrs.len();
        total += match &node.content {
            Content::Bytes(bytes) => bytes.len(),
            Content::Text(text) => text.as_str().len(),
            _ => 0,
        };
        stack.extend(node.children());
    }
    total
}

/// Signals shared between the client handles and the driver.
pub(crate) struct Shared {
    /// Set by `disconnect()` before it fires the stop signal, so the driver
    /// can tell a disconnect from the last handle going away.
    pub(crate) disconnect_called: AtomicBool,
}

pub(crate) struct Driver {
    pub(crate) backend: Option<Arc<dyn Backend>>,
    pub(crate) factory: Arc<dyn TransportFactory>,
    pub(crate) runtime: Arc<dyn Runtime>,
    /// Where the time is read (the OS clocks, or virtual time in tests).
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: Config,
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) web_version: Option<(WebVersionPolicy, Arc<dyn HttpClient>)>,
    pub(crate) device: Device,
    pub(crate) rng: ChaCha20Rng,
    /// The origin of the connection's clock (see [`Instant::from_std`]).
    pub(crate) origin: std::time::Instant,
    pub(crate) commands: Receiver<Command>,
    pub(crate) events: Sender<Event>,
    /// Closed (never written) when the client asks the driver to stop.
    pub(crate) stop: Receiver<()>,
    pub(crate) shared: Arc<Shared>,
    /// Dropped when the driver ends, which wakes `disconnect()`.
    pub(crate) done: Option<Sender<()>>,
    pub(crate) max_pending_iqs: usize,
    /// The messaging worker's queue (see [`super::messaging`]).
    pub(crate) work: Sender<Work>,
    /// Dropped when the driver ends; tells the worker to stop waiting.
    pub(crate) halt: Option<Sender<()>>,
    /// Closed when the worker has ended.
    pub(crate) worker_done: Receiver<()>,
    /// Held while the device record is saved (see the worker's).
    pub(crate) store_lock: Arc<smol::lock::Mutex<()>>,
    /// Work for the worker that its queue had no room for yet, in arrival
    /// order (at most `read_ahead` items, see [`READ_AHEAD`]). It outlives a
    /// connection: what is left goes to the worker before anything of the
    /// next one.
    pub(crate) held: Held,
    /// The most items held (see [`READ_AHEAD`]).
    pub(crate) read_ahead: usize,
}

/// One thing the connection loop woke up for.
enum Input {
    Transport(Option<TransportEvent>),
    Command(Command),
    Timer,
    Stop,
    /// The first held work item went into the worker's queue.
    Forwarded,
}

/// One thing the loop without a connection woke up for.
enum Step<T> {
    Done(T),
    Command(Command),
    Stop,
    /// The first held work item went into the worker's queue.
    Forwarded,
}

impl Driver {
    /// Runs until the client stops, then reports [`Event::Stopped`].
    pub(crate) async fn run(mut self) {
        let reason = self.main().await;
        tracing::info!("client stopped: {reason}");
        // The worker ends first: it holds the store too, and its last commit
        // must be done before the store is released. Requests it still has
        // fail (the commands channel is closed), queued work is refused.
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            command.fail(RequestError::Stopped);
        }
        self.work.close();
        drop(self.halt.take());
        let _ = self.worker_done.recv().await;
        // Release the store first: a caller that reopens the store file right
        // after `disconnect()` returns must find it closed. The last handle of
        // a store may block while it flushes, so drop it on the blocking pool.
        if let Some(backend) = self.backend.take() {
            self.runtime
                .spawn_blocking(Box::new(move || drop(backend)))
                .await;
        }
        // The last event goes out before `disconnect()` returns; it never
        // blocks a requested stop (see `emit`).
        self.emit(Event::Stopped(reason)).await;
        drop(self.done.take());
        self.events.close();
    }

    async fn main(&mut self) -> StopReason {
        if let Err(reason) = self.refresh_web_version().await {
            return reason;
        }
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            self.emit(Event::Connecting { attempt }).await;
            let factory = Arc::clone(&self.factory);
            let created = match self
                .serve_until(async move { factory.create_transport().await })
                .await
            {
                Ok(created) => created,
                Err(reason) => return reason,
            };
            let after = match created {
                Err(error) => {
                    let error = format!("{error:#}");
                    tracing::warn!("connect failed: {error}");
                    self.emit(Event::ConnectFailed {
                        error: error.clone(),
                    })
                    .await;
                    After::Retry {
                        rate_limited: false,
                        error,
                    }
                }
                Ok((transport, events)) => {
                    self.emit(Event::Connected).await;
                    self.run_connection(transport, events, &mut attempt).await
                }
            };
            match after {
                After::Stop(reason) => return reason,
                After::ReconnectNow => attempt = 0,
                After::Retry {
                    rate_limited,
                    error,
                } => {
                    if let Some(max) = self.reconnect.max_attempts
                        && attempt >= max
                    {
                        return StopReason::GaveUp {
                            attempts: attempt,
                            last_error: error,
                        };
                    }
                    let delay = self.reconnect.delay(attempt, rate_limited, &mut self.rng);
                    tracing::info!("reconnecting in {delay:?}");
                    // The wait starts before it is announced, so a listener
                    // that moves (virtual) time on the announcement moves it
                    // for this wait.
                    let sleep = self.runtime.sleep(delay);
                    self.emit(Event::Reconnecting {
                        after: delay,
                        attempt: attempt.saturating_add(1),
                    })
                    .await;
                    if let Err(reason) = self.serve_until(sleep).await {
                        return reason;
                    }
                }
            }
        }
    }

    /// Before the first connect, refreshes the announced WhatsApp Web
    /// version when the stored one is stale (bounded by the policy's fetch
    /// timeout; a failure falls back with a warning) and stores it with its
    /// fetch time.
    async fn refresh_web_version(&mut self) -> Result<(), StopReason> {
        let Some((policy, http)) = self.web_version.take() else {
            return Ok(());
        };
        let mut device = self.device.clone();
        let now_ms = unix_ms(self.clock.wall_clock());
        let update = self
            .serve_until(async { policy.resolve_for_device(&*http, &mut device, now_ms).await })
            .await?;
        if let VersionOutcome::Fetched { .. } = update.outcome {
            let v = update.version;
            tracing::info!(
                "announcing WhatsApp Web {}.{}.{}",
                v.primary,
                v.secondary,
                v.tertiary
            );
        }
        if update.device_changed {
            self.device = device;
            self.save_device().await.map_err(StopReason::Store)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ connection

    async fn run_connection(
        &mut self,
        transport: Arc<dyn Transport>,
        transport_events: Receiver<TransportEvent>,
        attempt: &mut u32,
    ) -> After {
        let mut config = self.config.clone();
        self.rng.fill_bytes(&mut config.rng_seed);
        config.wall_clock = self.clock.wall_clock();
        let mut conn = match Connection::new(config, &self.device, self.now()) {
            Ok(conn) => conn,
            Err(error) => {
                or(transport.disconnect(), self.runtime.sleep(CLOSE_TIMEOUT)).await;
                return After::Stop(StopReason::InvalidDevice(error.to_string()));
            }
        };
        let mut session = Session::default();
        let yield_every = self.runtime.yield_frequency().max(1);
        let mut turns: u32 = 0;
        loop {
            if let Some(after) = self
                .pump(&mut conn, &*transport, &mut session, attempt)
                .await
            {
                // The WebSocket transport bounds its close handshake itself;
                // bound it here too for any other transport.
                or(transport.disconnect(), self.runtime.sleep(CLOSE_TIMEOUT)).await;
                return after;
            }
            turns = turns.wrapping_add(1);
            if turns.is_multiple_of(yield_every)
                && let Some(yielding) = self.runtime.yield_now()
            {
                yielding.await;
            }

            let now = self.now();
            let sleep = conn
                .poll_timeout()
                .map(|deadline| self.runtime.sleep(deadline.saturating_duration_since(now)));
            self.release_held();
            let input = self
                .next_input(&transport_events, sleep, turns.is_multiple_of(2))
                .await;
            let now = self.now();
            match input {
                Input::Transport(Some(event)) => {
                    self.on_transport_event(&mut conn, now, event);
                    // Take what else has arrived, so the replies to all of it
                    // leave in one write.
                    for _ in 1..MAX_COALESCED_INPUTS {
                        match transport_events.try_recv() {
                            Ok(event) => self.on_transport_event(&mut conn, now, event),
                            Err(_) => break,
                        }
                        if conn.disconnect_reason().is_some() {
                            break;
                        }
                    }
                }
                Input::Transport(None) => conn.handle_transport_closed(now),
                Input::Command(command) => self.on_command(&mut conn, now, command, &mut session),
                Input::Timer => conn.handle_timeout(now),
                Input::Stop => conn.close(now),
                Input::Forwarded => {
                    // A copy went into the queue.
                    self.held.pop_front();
                }
            }
        }
    }

    /// Waits for the next input: a transport event, a command, the deadline,
    /// or the stop signal. `transport_first` alternates which channel is
    /// polled first so that neither can starve the other.
    async fn next_input(
        &self,
        transport_events: &Receiver<TransportEvent>,
        sleep: Option<wa_core::runtime::BoxFuture<'static, ()>>,
        transport_first: bool,
    ) -> Input {
        let transport = async { Input::Transport(transport_events.recv().await.ok()) };
        let commands = async {
            match self.commands.recv().await {
                Ok(command) => Input::Command(command),
                Err(_) => Input::Stop,
            }
        };
        let stop = async {
            let _ = self.stop.recv().await;
            Input::Stop
        };
        let timer = async {
            match sleep {
                Some(sleep) => sleep.await,
                None => std::future::pending::<()>().await,
            }
            Input::Timer
        };
        let forwarded = async {
            self.offer_held().await;
            Input::Forwarded
        };
        let timer = or(timer, forwarded);
        if transport_first {
            or(or(transport, commands), or(stop, timer)).await
        } else {
            or(or(commands, transport), or(stop, timer)).await
        }
    }

    fn on_transport_event(&self, conn: &mut Connection, now: Instant, event: TransportEvent) {
        match event {
            TransportEvent::Connected => {}
            TransportEvent::DataReceived(bytes) => conn.handle_input(now, &bytes),
            TransportEvent::Disconnected(reason) => {
                tracing::info!("transport closed: {reason}");
                conn.handle_transport_closed(now);
            }
        }
    }

    /// Drains the connection: events first (so the device is saved before
    /// any reply that depends on it leaves), then the queued bytes in one
    /// transport write. Returns what comes next once the connection has
    /// ended.
    async fn pump(
        &mut self,
        conn: &mut Connection,
        transport: &dyn Transport,
        session: &mut Session,
        attempt: &mut u32,
    ) -> Option<After> {
        loop {
            while let Some(event) = conn.poll_event() {
                match event {
                    CoreEvent::Stanza(node) if is_messaging(&node) => {
                        self.forward(conn, session, Work::Stanza(node)).await;
                    }
                    CoreEvent::Stanza(node) => {
                        self.emit_serving(conn, session, Event::Stanza(node)).await;
                    }
                    CoreEvent::LoggedIn { .. } => {
                        let registered = self.device.pn.is_some();
                        self.on_connection_event(event, session, attempt).await;
                        if registered {
                            let mut seed = [0u8; 32];
                            self.rng.fill_bytes(&mut seed);
                            self.forward(conn, session, Work::LoggedIn { seed }).await;
                        }
                    }
                    CoreEvent::Disconnected { .. } => {
                        self.forward(conn, session, Work::Disconnected).await;
                        self.on_connection_event(event, session, attempt).await;
                    }
                    event => self.on_connection_event(event, session, attempt).await,
                }
                if session.abort {
                    return session.after.take();
                }
            }
            let Some(bytes) = conn.poll_transmit() else {
                break;
            };
            // A peer that stops reading would hold the write (and with it
            // every timer) for ever: give up on the transport after a while,
            // or at once when the client is being stopped.
            let write = async { Some(transport.send(bytes).await) };
            let stalled = async {
                or(self.runtime.sleep(WRITE_TIMEOUT), async {
                    let _ = self.stop.recv().await;
                })
                .await;
                None
            };
            match or(write, stalled).await {
                Some(Ok(())) => {}
                Some(Err(error)) => {
                    tracing::info!("transport write failed: {error:#}");
                    conn.handle_transport_closed(self.now());
                }
                None => {
                    tracing::info!("transport write did not complete; dropping the connection");
                    conn.handle_transport_closed(self.now());
                }
            }
            if conn.disconnect_reason().is_none() {
                break;
            }
        }
        session.after.take()
    }

    /// Hands `work` to the messaging worker, after any work held back
    /// before it. While the worker's queue is full, up to [`READ_AHEAD`]
    /// items are held here and the connection is still read (the answers to
    /// the worker's own queries may be behind them); beyond that the driver
    /// waits, still running commands (the worker's stanzas and IQs among
    /// them) so the two never wait on each other, and the transport is not
    /// read meanwhile (backpressure). Dropped when the client stops: an
    /// unanswered message is delivered again by the server.
    async fn forward(&mut self, conn: &mut Connection, session: &mut Session, work: Work) {
        self.release_held();
        if self.held.is_empty() {
            match self.work.try_send(work) {
                Ok(()) | Err(async_channel::TrySendError::Closed(_)) => return,
                Err(async_channel::TrySendError::Full(back)) => self.held.push_back(back),
            }
        } else {
            self.held.push_back(work);
        }
        let keep = self.read_ahead;
        self.hand_over_held(conn, session, keep).await;
    }

    /// Emits `event`, running commands while the event channel is full: the
    /// messaging worker may be waiting for one (a receipt it sends) before it
    /// serves the acknowledgement that the application awaits instead of
    /// reading events; without this the three would wait on each other.
    async fn emit_serving(&mut self, conn: &mut Connection, session: &mut Session, event: Event) {
        if self.requested_stop().is_some() {
            let _ = self.events.try_send(event);
            return;
        }
        let events = self.events.clone();
        // A stop drops the event, as `emit` does.
        let _ = self
            .serve_commands_until(conn, session, async move {
                let _ = events.send(event).await;
            })
            .await;
    }

    /// Completes once a copy of the first held item went into the worker's
    /// queue (the caller then pops the item); pending while nothing is held
    /// or the worker is gone (only a stop is left to wait for then). A copy,
    /// because a send dropped unfinished would lose what it carries.
    async fn offer_held(&self) {
        let sent = match self.held.front().cloned() {
            Some(work) => self.work.send(work).await.is_ok(),
            None => false,
        };
        if !sent {
            std::future::pending::<()>().await;
        }
    }

    /// Moves held work into the worker's queue while it has room.
    fn release_held(&mut self) {
        while let Some(work) = self.held.pop_front() {
            match self.work.try_send(work) {
                Ok(()) => {}
                Err(async_channel::TrySendError::Full(back)) => {
                    self.held.push_front(back);
                    return;
                }
                Err(async_channel::TrySendError::Closed(_)) => {
                    self.held.clear();
                    return;
                }
            }
        }
    }

    /// Waits until at most `keep` items are held (and at most
    /// [`READ_AHEAD_BYTES`]), running commands meanwhile; on a stop, what is
    /// held is dropped. The worker never waits on the driver for ever (its
    /// queries time out on their own), so this ends.
    async fn hand_over_held(&mut self, conn: &mut Connection, session: &mut Session, keep: usize) {
        while self.held.over(keep) {
            let Some(copy) = self.held.front().cloned() else {
                return;
            };
            let work = self.work.clone();
            let sent = self
                .serve_commands_until(conn, session, async move { work.send(copy).await.is_ok() })
                .await;
            if sent == Some(true) {
                self.held.pop_front();
            } else {
                self.held.clear();
                return;
            }
        }
    }

    /// Runs commands until `future` completes (`Some` of its output) or the
    /// client is being stopped (`None`).
    async fn serve_commands_until<T>(
        &mut self,
        conn: &mut Connection,
        session: &mut Session,
        future: impl Future<Output = T>,
    ) -> Option<T> {
        enum Wake<T> {
            Done(T),
            Command(Command),
            Stop,
        }
        let mut future = pin!(future);
        loop {
            let wake = {
                let done = async { Wake::Done(future.as_mut().await) };
                let command = async {
                    match self.commands.recv().await {
                        Ok(command) => Wake::Command(command),
                        Err(_) => Wake::Stop,
                    }
                };
                let stop = async {
                    let _ = self.stop.recv().await;
                    Wake::Stop
                };
                or(done, or(command, stop)).await
            };
            match wake {
                Wake::Done(value) => return Some(value),
                Wake::Stop => return None,
                Wake::Command(command) => {
                    let now = self.now();
                    self.on_command(conn, now, command, session);
                }
            }
        }
    }

    // -------------------------------------------------------------- helpers

    /// The current time on the connection's clock.
    pub(super) fn now(&self) -> Instant {
        Instant::from_std(self.origin, self.clock.now())
    }

    /// The OS instant of a connection deadline (now, for one too far away to
    /// express).
    pub(super) fn to_std(&self, at: Instant) -> std::time::Instant {
        at.to_std(self.origin).unwrap_or_else(|| self.clock.now())
    }

    /// Why the client was asked to stop, if it was.
    pub(super) fn requested_stop(&self) -> Option<StopReason> {
        if !self.stop.is_closed() && !self.commands.is_closed() {
            return None;
        }
        Some(if self.shared.disconnect_called.load(Ordering::SeqCst) {
            StopReason::Disconnected
        } else {
            StopReason::ClientDropped
        })
    }

    /// Runs `future` while there is no connection, answering commands with
    /// [`RequestError::NotConnected`]; gives up if the client is stopped.
    async fn serve_until<T>(&mut self, future: impl Future<Output = T>) -> Result<T, StopReason> {
        let mut future = pin!(future);
        loop {
            if let Some(reason) = self.requested_stop() {
                return Err(reason);
            }
            // Work held back from the last connection keeps flowing to the
            // worker (ahead of anything from the next one).
            self.release_held();
            let step = {
                let done = async { Step::Done(future.as_mut().await) };
                let forwarded = async {
                    self.offer_held().await;
                    Step::Forwarded
                };
                let done = or(done, forwarded);
                let commands = async {
                    match self.commands.recv().await {
                        Ok(command) => Step::Command(command),
                        Err(_) => Step::Stop,
                    }
                };
                let stop = async {
                    let _ = self.stop.recv().await;
                    Step::Stop
                };
                or(done, or(commands, stop)).await
            };
            match step {
                Step::Done(value) => return Ok(value),
                Step::Command(command) => command.fail(RequestError::NotConnected),
                Step::Stop => {}
                Step::Forwarded => {
                    self.held.pop_front();
                }
            }
        }
    }

    /// Sends `event`, waiting for room in the channel (backpressure) unless
    /// the client is being stopped, in which case an event that does not fit
    /// is dropped rather than holding the stop up.
    pub(super) async fn emit(&self, event: Event) {
        if self.requested_stop().is_some() {
            let _ = self.events.try_send(event);
            return;
        }
        let send = async {
            let _ = self.events.send(event).await;
        };
        let stop = async {
            let _ = self.stop.recv().await;
        };
        or(send, stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_core::binary::Node;

    fn stanza(payload: usize) -> Work {
        Work::Stanza(
            Node::new("message")
                .with_attr("id", "1")
                .with_children([Node::new("enc").with_bytes(vec![0u8; payload])]),
        )
    }

    #[test]
    fn held_work_is_weighed_and_bounded_by_count_and_bytes() {
        let mut held = Held::default();
        assert!(!held.over(READ_AHEAD));
        held.push_back(stanza(1000));
        // Two nodes, one attribute, 1000 content bytes.
        assert_eq!(held.bytes, 2 * 64 + 32 + 1000);
        held.push_front(Work::Disconnected);
        assert!(held.over(1) && !held.over(2));
        assert!(matches!(held.pop_front(), Some(Work::Disconnected)));
        assert!(matches!(held.front(), Some(Work::Stanza(_))));
        // A few very large stanzas cross the byte bound long before the count.
        held.push_back(stanza(READ_AHEAD_BYTES));
        assert!(held.over(READ_AHEAD));
        assert!(held.over(0));
        held.pop_front();
        // A single item, however large, is let through.
        assert!(!held.over(READ_AHEAD));
        held.pop_front();
        assert_eq!((held.is_empty(), held.bytes), (true, 0));
        held.push_back(stanza(10));
        held.clear();
        assert_eq!((held.is_empty(), held.bytes), (true, 0));
    }
}
