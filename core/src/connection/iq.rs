//! IQ bookkeeping: request ids, pending requests with deadlines, and the
//! shapes of pings (docs/protocol.md §5.2, §5.3).

use crate::binary::{Jid, Node, Server, Str, Value};

use super::event::IqId;
use crate::time::Instant;

/// Makes request ids of the form `"<b0>.<b1>-<n>"`: two random bytes chosen
/// once per connection, then a counter from 1 (whatsmeow's format; docs/protocol.md
/// §5.2).
#[derive(Debug)]
pub(crate) struct IdGenerator {
    prefix: [u8; 2],
    next: u64,
}

impl IdGenerator {
    pub(crate) fn new(prefix: [u8; 2]) -> IdGenerator {
        IdGenerator { prefix, next: 1 }
    }

    pub(crate) fn next_id(&mut self) -> Str {
        let n = self.next;
        self.next = self.next.wrapping_add(1);
        Str::new(&format!("{}.{}-{}", self.prefix[0], self.prefix[1], n))
    }
}

/// What a pending IQ is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IqKind {
    /// The caller's request: its answer becomes an `IqResponse` event.
    Caller,
    /// The device's own removal, from `Connection::logout`: a result ends
    /// the connection logged out; an error or a timeout becomes an
    /// `IqResponse` event.
    Logout,
}

#[derive(Debug)]
pub(crate) struct PendingIq {
    pub(crate) id: IqId,
    pub(crate) kind: IqKind,
    pub(crate) deadline: Instant,
}

/// Pending requests in the order they were sent. A linear scan is fine: a
/// client has a handful outstanding, and the order makes simultaneous
/// timeouts deterministic.
#[derive(Debug, Default)]
pub(crate) struct PendingIqs {
    list: Vec<PendingIq>,
}

impl PendingIqs {
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.list.iter().any(|p| p.id.as_str() == id)
    }

    pub(crate) fn insert(&mut self, pending: PendingIq) {
        self.list.push(pending);
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<PendingIq> {
        let at = self.list.iter().position(|p| p.id.as_str() == id)?;
        Some(self.list.remove(at))
    }

    pub(crate) fn earliest_deadline(&self) -> Option<Instant> {
        self.list.iter().map(|p| p.deadline).min()
    }

    /// Removes and returns the requests whose deadline is at or before `now`,
    /// in the order they were sent.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<PendingIq> {
        if !self.list.iter().any(|p| p.deadline <= now) {
            return Vec::new();
        }
        let (expired, keep) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|p| p.deadline <= now);
        self.list = keep;
        expired
    }

    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, PendingIq> {
        self.list.drain(..)
    }

    /// How many of `kind` are pending.
    pub(crate) fn count(&self, kind: IqKind) -> usize {
        self.list.iter().filter(|p| p.kind == kind).count()
    }

    /// The pending request of `kind` (the first, if several).
    pub(crate) fn find(&self, kind: IqKind) -> Option<&PendingIq> {
        self.list.iter().find(|p| p.kind == kind)
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

/// Whether `iq` is a server ping that must be answered: `type="get"` with
/// `xmlns="urn:xmpp:ping"`, or a `<ping/>` child with no type or type get
/// (docs/protocol.md §5.2).
pub(crate) fn is_server_ping(iq: &Node) -> bool {
    let ty = iq.attr_str("type");
    (ty == Some("get") && iq.attr_str("xmlns") == Some("urn:xmpp:ping"))
        || (matches!(ty, None | Some("get")) && iq.child("ping").is_some())
}

/// The pong for a server ping: `<iq to=<from> type="result" [id]/>`, with `id`
/// only when the ping had one (whatsapp-rust).
pub(crate) fn pong(ping: &Node) -> Node {
    let to = ping
        .attr("from")
        .cloned()
        .unwrap_or_else(|| Value::Jid(Jid::server_jid(Server::Pn)));
    let mut node = Node::new("iq")
        .with_attr("to", to)
        .with_attr("type", "result");
    if let Some(id) = ping.attr("id") {
        node = node.with_attr("id", id.clone());
    }
    node
}

/// The keepalive ping: `<iq id xmlns="w:p" type="get" to="s.whatsapp.net"/>`
/// (whatsapp-rust and whatsmeow; docs/protocol.md §5.3).
pub(crate) fn keepalive_ping(id: Str) -> Node {
    Node::new("iq")
        .with_attr("id", id)
        .with_attr("xmlns", "w:p")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid(Server::Pn))
}

/// The request that unlinks this companion: `<iq xmlns="md" type="set"
/// to="s.whatsapp.net"><remove-companion-device jid=<own jid>
/// reason="user_initiated"/></iq>` (docs/protocol.md §7).
pub(crate) fn remove_companion_device(own: &Jid) -> Node {
    Node::new("iq")
        .with_attr("xmlns", "md")
        .with_attr("type", "set")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_children([Node::new("remove-companion-device")
            .with_attr("jid", own)
            .with_attr("reason", "user_initiated")])
}
