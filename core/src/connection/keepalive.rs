//! Keepalive and the dead-socket rule (docs/protocol.md §5.3).
//!
//! The rules, with the [`Config`](super::Config) defaults in brackets:
//!
//! - **Interval.** When nothing has been received for the current interval
//!   (drawn uniformly from [15 s, 30 s] after every ping, so clients do not
//!   synchronise), send `<iq xmlns="w:p" type="get">`. Any received frame
//!   restarts the wait: a busy connection is proven alive and is not pinged.
//! - **Dead-socket probe.** When nothing has been received for [20 s] after the
//!   first send that followed the last receive, ping at once instead of
//!   waiting for the interval. (WA Web declares the socket dead at that point;
//!   a probe first avoids killing a healthy idle connection whose last sends
//!   were acks and receipts, which the server does not answer.)
//! - **Deadline.** While a ping is outstanding, a stretch of [20 s] with nothing
//!   at all received ends the connection
//!   ([`DisconnectReason::KeepAliveTimeout`](super::DisconnectReason::KeepAliveTimeout)).
//!   Receiving anything pushes the deadline out, so a long offline backlog in
//!   front of the pong does not kill the connection; the pong itself ends the
//!   ping.
//! - **Hard limit.** A ping still unanswered [60 s] after it was sent ends the
//!   connection even while other bytes arrive: our writes may be going nowhere
//!   (a half-open link), or the stream may be stuck inside a frame that never
//!   completes. (whatsapp-rust tears down after three unanswered pings, about
//!   a minute.)
//!
//! A silent server is therefore detected at most `interval + deadline`
//! (≤ 50 s) after the last byte it sent, and at most `dead_socket + deadline`
//! (40 s) after a send it ignored.

use std::time::Duration;

use crate::binary::Str;

use crate::time::Instant;

/// The keepalive ping in flight.
#[derive(Debug)]
pub(crate) struct Ping {
    /// Its IQ id, which the pong echoes.
    pub(crate) id: Str,
    /// When it was sent.
    pub(crate) sent: Instant,
}

#[derive(Debug)]
pub(crate) struct KeepAlive {
    /// The last time anything was received (or the transport phase began).
    pub(crate) last_received: Instant,
    /// The first send after `last_received`, if any.
    pub(crate) first_unanswered_send: Option<Instant>,
    /// The current interval.
    pub(crate) interval: Duration,
    /// The outstanding ping.
    pub(crate) ping: Option<Ping>,
}

impl KeepAlive {
    pub(crate) fn new(now: Instant, interval: Duration) -> KeepAlive {
        KeepAlive {
            last_received: now,
            first_unanswered_send: None,
            interval,
            ping: None,
        }
    }

    pub(crate) fn on_receive(&mut self, now: Instant) {
        self.last_received = now;
        self.first_unanswered_send = None;
    }

    pub(crate) fn on_send(&mut self, now: Instant) {
        if self.first_unanswered_send.is_none() {
            self.first_unanswered_send = Some(now);
        }
    }

    /// Whether `id` is the outstanding ping's.
    pub(crate) fn is_ping(&self, id: &str) -> bool {
        self.ping.as_ref().is_some_and(|p| p.id.as_str() == id)
    }

    /// When to send the next ping (none while one is outstanding).
    pub(crate) fn ping_due(&self, dead_socket: Duration) -> Option<Instant> {
        if self.ping.is_some() {
            return None;
        }
        let idle = self.last_received + self.interval;
        Some(match self.first_unanswered_send {
            Some(sent) => idle.min(sent + dead_socket),
            None => idle,
        })
    }

    /// When the outstanding ping, if any, declares the connection dead.
    pub(crate) fn dead_at(&self, deadline: Duration, hard_limit: Duration) -> Option<Instant> {
        let sent = self.ping.as_ref()?.sent;
        Some((sent.max(self.last_received) + deadline).min(sent + hard_limit))
    }
}
