//! [`Harness`]: a [`Connection`] and a [`TestServer`] on one virtual clock.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::connection::{Config, Connection, Event};
use crate::store::Device;
use crate::time::Instant;

use super::{TEST_UNIX_TIME, TestServer, config_for};

/// Which way bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → server.
    ToServer,
    /// Server → client.
    ToClient,
}

/// One transmit on its way: what a hook sees.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The direction.
    pub direction: Direction,
    /// Its number in its direction, from 0. The client coalesces frames into
    /// one transmit; the server sends one frame (or one garbage chunk) per
    /// transmit, so `index` counts server frames.
    pub index: usize,
    /// When it was sent.
    pub sent_at: Instant,
    /// The bytes.
    pub bytes: Bytes,
}

/// What a hook decides for a [`Segment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Deliver it after the link latency.
    Deliver,
    /// Lose it. (The byte stream then has a hole, as after a broken middlebox:
    /// the receiver sees a corrupt stream.)
    Drop,
    /// Deliver it this much later than usual. Later segments wait behind it:
    /// the link is a byte stream and keeps its order.
    Delay(Duration),
    /// Deliver it twice.
    Duplicate,
    /// Deliver it in two pieces, split at this offset (clamped).
    Split(usize),
    /// Deliver these bytes instead (e.g. with a flipped bit).
    Replace(Bytes),
}

type Hook = Box<dyn FnMut(&Segment) -> Fate>;

#[derive(Default)]
struct Link {
    /// `(deliver_at, bytes)`, in delivery order.
    in_flight: VecDeque<(Instant, Bytes)>,
    sent: usize,
    hook: Option<Hook>,
}

impl Link {
    fn send(&mut self, segment: Segment, latency: Duration) {
        self.sent += 1;
        let fate = match &mut self.hook {
            Some(hook) => hook(&segment),
            None => Fate::Deliver,
        };
        let at = segment.sent_at + latency;
        match fate {
            Fate::Deliver => self.push(at, segment.bytes),
            Fate::Drop => {}
            Fate::Delay(extra) => self.push(at + extra, segment.bytes),
            Fate::Duplicate => {
                self.push(at, segment.bytes.clone());
                self.push(at, segment.bytes);
            }
            Fate::Split(offset) => {
                let offset = offset.min(segment.bytes.len());
                self.push(at, segment.bytes.slice(..offset));
                self.push(at, segment.bytes.slice(offset..));
            }
            Fate::Replace(bytes) => self.push(at, bytes),
        }
    }

    fn push(&mut self, at: Instant, bytes: Bytes) {
        // A byte stream keeps its order: nothing overtakes a delayed segment.
        let at = self.in_flight.back().map_or(at, |(last, _)| at.max(*last));
        self.in_flight.push_back((at, bytes));
    }

    fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.front().map(|(at, _)| *at)
    }

    fn take_due(&mut self, now: Instant) -> Option<Bytes> {
        if self.next_delivery()? <= now {
            self.in_flight.pop_front().map(|(_, bytes)| bytes)
        } else {
            None
        }
    }
}

/// A [`Connection`] and a [`TestServer`] joined by two in-memory links on a
/// virtual clock.
///
/// - [`drive`](Self::drive) runs both sides at the current time until nothing
///   moves; [`advance`](Self::advance) moves the clock forward, stopping at
///   every client deadline and every delivery on the way, so timers fire at
///   exactly their deadline.
/// - Every client event is collected ([`events`](Self::events),
///   [`take_events`](Self::take_events)); every client transmit is logged
///   ([`client_transmits`](Self::client_transmits)).
/// - Hooks ([`set_hook`](Self::set_hook)) see each transmit and decide its
///   [`Fate`]. Links have a one-way latency (default 0).
/// - The server's wall clock follows the virtual clock from
///   [`TEST_UNIX_TIME`].
///
/// The fields are public so a test can script the server or command the
/// client directly; call [`drive`](Self::drive) afterwards.
pub struct Harness {
    /// The client under test.
    pub client: Connection,
    /// The fake server.
    pub server: TestServer,
    now: Instant,
    start: Instant,
    latency: Duration,
    to_server: Link,
    to_client: Link,
    events: Vec<Event>,
    client_transmits: Vec<Bytes>,
    steps: u64,
}

/// A safety net against a harness that never settles.
const MAX_STEPS: u64 = 10_000_000;

impl Harness {
    /// A pair for `device` against `server`, the client configured by
    /// [`config_for`] with `rng_seed`, starting at [`Instant::ZERO`]. The
    /// ClientHello is queued, not yet delivered: call [`drive`](Self::drive).
    pub fn new(server: TestServer, device: &Device, rng_seed: [u8; 32]) -> Harness {
        let config = config_for(&server, rng_seed);
        Harness::with_config(server, config, device)
    }

    /// Like [`new`](Self::new) with a caller-made configuration.
    ///
    /// # Panics
    ///
    /// If the device cannot connect (a test bug).
    pub fn with_config(server: TestServer, config: Config, device: &Device) -> Harness {
        let client = Connection::new(config, device, Instant::ZERO).expect("device can connect");
        Harness::from_parts(client, server, Instant::ZERO)
    }

    /// A pair from a client built at `now`.
    pub fn from_parts(client: Connection, server: TestServer, now: Instant) -> Harness {
        let mut pair = Harness {
            client,
            server,
            now,
            start: now,
            latency: Duration::ZERO,
            to_server: Link::default(),
            to_client: Link::default(),
            events: Vec::new(),
            client_transmits: Vec::new(),
            steps: 0,
        };
        pair.sync_server_clock();
        pair
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Sets the one-way latency of both links.
    pub fn set_latency(&mut self, latency: Duration) {
        self.latency = latency;
    }

    /// Installs a hook on one direction (replacing any previous one).
    pub fn set_hook(&mut self, direction: Direction, hook: impl FnMut(&Segment) -> Fate + 'static) {
        self.link(direction).hook = Some(Box::new(hook));
    }

    /// Removes the hook of one direction.
    pub fn clear_hook(&mut self, direction: Direction) {
        self.link(direction).hook = None;
    }

    /// Bytes queued on a link, not yet delivered.
    pub fn in_flight(&self, direction: Direction) -> usize {
        let link = match direction {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        };
        link.in_flight.iter().map(|(_, b)| b.len()).sum()
    }

    /// Every client event so far, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the client events collected so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Every client transmit so far, in order.
    pub fn client_transmits(&self) -> &[Bytes] {
        &self.client_transmits
    }

    /// Runs both sides at the current time until nothing moves: collects
    /// client output, runs the hooks, delivers what is due, fires due client
    /// timers.
    pub fn drive(&mut self) {
        loop {
            self.bump_steps();
            let mut progressed = false;
            self.collect_client_events();
            while let Some(bytes) = self.client.poll_transmit() {
                self.client_transmits.push(bytes.clone());
                let segment = Segment {
                    direction: Direction::ToServer,
                    index: self.to_server.sent,
                    sent_at: self.now,
                    bytes,
                };
                self.to_server.send(segment, self.latency);
                progressed = true;
            }
            while let Some(bytes) = self.server.poll_transmit() {
                let segment = Segment {
                    direction: Direction::ToClient,
                    index: self.to_client.sent,
                    sent_at: self.now,
                    bytes,
                };
                self.to_client.send(segment, self.latency);
                progressed = true;
            }
            while let Some(bytes) = self.to_server.take_due(self.now) {
                self.server.handle_input(&bytes);
                progressed = true;
            }
            while let Some(bytes) = self.to_client.take_due(self.now) {
                self.client.handle_input(self.now, &bytes);
                progressed = true;
            }
            if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
                self.client.handle_timeout(self.now);
                progressed = true;
            }
            self.collect_client_events();
            if !progressed {
                return;
            }
        }
    }

    /// Moves the clock forward by `duration`, running everything that falls
    /// due on the way at its own time, then [`drive`](Self::drive)s.
    pub fn advance(&mut self, duration: Duration) {
        let target = self.now + duration;
        self.advance_to(target);
    }

    /// Moves the clock to `target` (no-op if it is not later), like
    /// [`advance`](Self::advance).
    pub fn advance_to(&mut self, target: Instant) {
        self.drive();
        loop {
            self.bump_steps();
            let next = [
                self.client.poll_timeout(),
                self.to_server.next_delivery(),
                self.to_client.next_delivery(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(at) if at <= target => {
                    self.now = self.now.max(at);
                    self.sync_server_clock();
                    self.drive();
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
        self.sync_server_clock();
        self.drive();
    }

    /// Advances in steps of `step` until `done` holds or `limit` has passed;
    /// returns whether `done` held.
    pub fn advance_until(
        &mut self,
        limit: Duration,
        step: Duration,
        mut done: impl FnMut(&Harness) -> bool,
    ) -> bool {
        let end = self.now + limit;
        self.drive();
        while !done(self) {
            if self.now >= end {
                return false;
            }
            let next = (self.now + step).min(end);
            self.advance_to(next);
        }
        true
    }

    /// The `Disconnected` events collected so far.
    pub fn disconnects(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Disconnected { .. }))
            .collect()
    }

    fn collect_client_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            self.events.push(event);
        }
    }

    fn sync_server_clock(&mut self) {
        let elapsed = (self.now - self.start).as_secs();
        self.server.set_unix_time(TEST_UNIX_TIME + elapsed);
    }

    fn link(&mut self, direction: Direction) -> &mut Link {
        match direction {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }

    fn bump_steps(&mut self) {
        self.steps += 1;
        assert!(
            self.steps < MAX_STEPS,
            "Harness made {MAX_STEPS} steps without settling"
        );
    }
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("now", &self.now)
            .field("client", &self.client)
            .field("server", &self.server)
            .field("events", &self.events.len())
            .finish()
    }
}
