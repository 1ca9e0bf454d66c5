//! The body of the `inbound_stanzas` fuzz target: arbitrary bytes decoded as a
//! stanza and handed to a logged-in device's messaging jobs (a `<message>`, a
//! retry receipt, a server ack), against a store with an established session.
//! Checked: no panic, and every `<message>` that names an id and a sender is
//! answered exactly once (receipt, retry receipt or ack).

use std::sync::OnceLock;

use bytes::Bytes;
use futures_lite::future::block_on;

use super::network::{Network, Party};
use crate::binary::{Jid, Node, decode_frame, marshal};
use crate::message::stanza::IncomingMessage;
use crate::messaging::{Messenger, OwnDevice, Step};
use crate::store::{DeviceStore, MemoryStore, apply_batch};

struct Fixture {
    /// Bob's store with a session with Alice, snapshotted as "start".
    store: MemoryStore,
    own: OwnDevice,
    seeds: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut net = Network::new();
        let mut alice = Party::join(&mut net, "15550001", 0, 7001);
        let mut bob = Party::join(&mut net, "15550002", 0, 7002);
        let bob_user = Jid::pn("15550002");
        alice.send_text(&mut net, &bob_user, "first");
        let mut seeds: Vec<Vec<u8>> = Vec::new();
        let mut keep = |n: &Node| {
            if let Ok(bytes) = marshal(n) {
                seeds.push(bytes);
            }
        };
        let first = net.take_queue(&bob.jid);
        first.iter().for_each(&mut keep);
        for stanza in &first {
            bob.handle(&mut net, stanza);
        }
        bob.send_text(&mut net, &Jid::pn("15550001"), "reply");
        alice.receive_all(&mut net);
        for i in 0..3 {
            alice.send_text(&mut net, &bob_user, &format!("m{i}"));
        }
        // Bob's session is established; these stay unread (seeds).
        net.take_queue(&bob.jid).iter().for_each(&mut keep);
        // A group of the two: Bob's own group message (kept for retries),
        // then Alice's (a distribution with the first, a bare skmsg after),
        // unread; and a retry receipt from Alice for Bob's.
        let group: Jid = "120363000000000001@g.us".parse().expect("group jid");
        net.set_group(&group, &[Jid::pn("15550001"), bob_user.clone()]);
        let bob_group_id = bob.send_text(&mut net, &group, "from bob");
        alice.receive_all(&mut net);
        bob.receive_all(&mut net);
        alice.send_text(&mut net, &group, "g1");
        alice.send_text(&mut net, &group, "g2");
        net.take_queue(&bob.jid).iter().for_each(&mut keep);
        keep(
            &Node::new("receipt")
                .with_attr("from", &group)
                .with_attr("participant", &alice.jid)
                .with_attr("type", "retry")
                .with_attr("id", bob_group_id.as_str())
                .with_children([
                    Node::new("retry")
                        .with_attr("count", "1")
                        .with_attr("id", bob_group_id.as_str())
                        .with_attr("v", "1"),
                    Node::new("registration").with_bytes(vec![0, 0, 4, 210]),
                ]),
        );
        // Receipts and acks Alice got, as stanzas of other kinds.
        net.take_queue(&alice.jid).iter().for_each(&mut keep);
        block_on(bob.store.snapshot_db("start", None)).expect("memory store");
        let device = block_on(bob.store.load())
            .expect("memory store")
            .expect("device");
        Fixture {
            store: bob.store.clone(),
            own: OwnDevice::from_device(&device).expect("registered"),
            seeds,
        }
    })
}

/// Seeds: marshalled stanzas of each kind a device receives.
pub fn inbound_seeds() -> Vec<Vec<u8>> {
    fixture().seeds.clone()
}

/// Fuzz body (see the module docs). Returns how many stanzas the job sent.
pub fn inbound(data: &[u8]) -> usize {
    let Ok(node) = decode_frame(&Bytes::copy_from_slice(data)) else {
        return 0;
    };
    let fx = fixture();
    let store = fx.store.open_snapshot("start").expect("snapshot");
    let mut messenger = Messenger::new(fx.own.clone(), [3; 32]);
    let job = match node.tag.as_str() {
        "message" => messenger.receive(&node, 1_767_225_600),
        "receipt" if node.attr_str("type") == Some("retry") => {
            messenger.retry(&node, 1_767_225_600)
        }
        "ack" => {
            let (_events, job) = messenger.on_server_ack(&node, 1_767_225_600);
            match job {
                Some(job) => job,
                None => return 0,
            }
        }
        _ => return 0,
    };
    let sent = run(job, &store);
    if node.tag == "message" && IncomingMessage::parse(&node).is_ok() {
        assert_eq!(sent, 1, "a message must be answered exactly once: {node}");
    }
    sent
}

/// Runs a job with IQs answered by errors (no network here).
fn run(mut job: crate::messaging::Job, store: &MemoryStore) -> usize {
    for _ in 0..64 {
        match job.step() {
            Step::Load(need) => job.provide(block_on(need.load(store)).expect("memory store")),
            Step::Query(_) => job.answer(Err("no network".into())),
            Step::Commit(batch) => {
                block_on(apply_batch(store, &batch)).expect("memory store");
                job.committed();
            }
            Step::Done(outcome) => {
                block_on(apply_batch(store, &outcome.batch)).expect("memory store");
                return outcome.stanzas.len();
            }
        }
    }
    panic!("a job did not finish in 64 steps");
}
