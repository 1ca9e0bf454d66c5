//! Bounded channels: a slow event consumer holds the client back instead of
//! growing a queue, loses nothing, and never blocks a disconnect.

mod client_support;

use std::time::Duration;

use client_support::*;
use wa_core::binary::Node;
use wa_io_smol::client::{Event, StopReason};
use wa_io_smol::testserver::{Control, LoopbackServer};

const CAPACITY: usize = 4;
/// Fewer than the test server's control queue (64) holds.
const STANZAS: usize = 60;

fn notification(n: usize) -> Node {
    Node::new("notification")
        .with_attr("id", n.to_string())
        .with_attr("type", "test")
}

#[test]
fn a_slow_consumer_gets_every_stanza_in_order_and_the_queue_stays_bounded() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, _) = store_with_linked_device(40).await;
        let client = builder(&server, store)
            .event_capacity(CAPACITY)
            .start()
            .await
            .unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        for n in 0..STANZAS {
            server.control(Control::Send(notification(n)));
        }
        // Nobody reads for a while: the queue fills to its bound and the
        // client waits there (the channel cannot grow past it).
        eventually(|| watch.events.len() == CAPACITY).await;
        smol::Timer::after(Duration::from_millis(100)).await;
        // Then everything arrives, in order: nothing was dropped while the
        // client was held back.
        let mut next = 0;
        while next < STANZAS {
            if let Event::Stanza(node) = watch.until(|e| matches!(e, Event::Stanza(_))).await {
                assert_eq!(node.attr_str("id"), Some(next.to_string().as_str()));
                next += 1;
            }
        }
        assert_eq!(server.connections(), 1);
        client.disconnect().await;
    });
}

#[test]
fn disconnect_does_not_wait_for_an_unread_event_queue() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, _) = store_with_linked_device(41).await;
        let client = builder(&server, store)
            .event_capacity(1)
            .start()
            .await
            .unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        let events = watch.events.clone();
        // From here on nobody reads: the client stalls on the first event it
        // cannot queue.
        for n in 0..20 {
            server.control(Control::Send(notification(n)));
        }
        eventually(|| events.len() == 1).await;
        client.disconnect().await;
        assert!(client.is_stopped());
        // What was queued is still there; the stream then ends (the last
        // events did not fit and were dropped rather than block the stop).
        let mut rest = Vec::new();
        while let Ok(event) = events.recv().await {
            rest.push(event);
        }
        assert!(!rest.is_empty() && rest.len() <= 2, "{rest:#?}");
        if let Some(Event::Stopped(reason)) = rest.last() {
            assert!(matches!(reason, StopReason::Disconnected));
        }
        eventually(|| server.records()[0].ended).await;
    });
}
