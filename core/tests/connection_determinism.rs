//! Same seed and same inputs give byte-identical transmits; another seed gives
//! other bytes (docs/architecture.md "Time and randomness").

mod connection_support;

use std::time::Duration;

use bytes::Bytes;
use wa_core::binary::Node;
use wa_core::connection::Event;
use wa_core::testing::{Harness, IqReply, TestServer, registered_device};

/// A session exercising everything random on the client side: the ephemeral
/// key (ClientHello), the IQ id prefix, the keepalive jitter.
fn session(client_seed: [u8; 32]) -> (Vec<Bytes>, Vec<Event>) {
    let mut pair = Harness::new(TestServer::new([1; 32]), &registered_device(1), client_seed);
    pair.server.set_iq_handler(|_| IqReply::Result(Vec::new()));
    pair.drive();
    for i in 0..5 {
        let now = pair.now();
        pair.client
            .send_iq(
                now,
                Node::new("iq")
                    .with_attr("type", "get")
                    .with_attr("xmlns", format!("ns{i}")),
                Duration::from_secs(75),
            )
            .expect("sent");
        pair.advance(Duration::from_secs(37));
    }
    pair.server.send_ping();
    pair.advance(Duration::from_secs(300));
    (pair.client_transmits().to_vec(), pair.take_events())
}

#[test]
fn the_same_seed_gives_identical_transmits() {
    let (a, events_a) = session([2; 32]);
    let (b, events_b) = session([2; 32]);
    assert!(a.len() > 10, "{} transmits", a.len());
    assert_eq!(a, b);
    assert_eq!(events_a, events_b);
}

#[test]
fn another_seed_gives_other_bytes() {
    let (a, events_a) = session([2; 32]);
    let (b, events_b) = session([3; 32]);
    // The ClientHello's ephemeral key differs...
    assert_eq!(a[0][..11], b[0][..11]);
    assert_ne!(a[0], b[0]);
    // ...and so does every later frame (other session keys).
    assert_ne!(a[1], b[1]);
    // The IQ ids differ in their random prefix.
    let ids = |events: &[Event]| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::IqResponse { id, .. } => Some(id.as_str().to_owned()),
                _ => None,
            })
            .collect()
    };
    let (ids_a, ids_b) = (ids(&events_a), ids(&events_b));
    assert_eq!(ids_a.len(), 5);
    assert_eq!(ids_b.len(), 5);
    assert_ne!(ids_a, ids_b);
    let prefix = |id: &str| id.split_once('-').map(|(p, _)| p.to_owned());
    assert_ne!(prefix(&ids_a[0]), prefix(&ids_b[0]));
}
