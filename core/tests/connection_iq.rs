//! IQ correlation, deadlines and typed errors (docs/protocol.md §5.2).

mod connection_support;

use std::time::Duration;

use wa_core::binary::Node;
use wa_core::connection::{DEFAULT_IQ_TIMEOUT, DisconnectReason, Event, IqError, IqId, SendError};
use wa_core::testing::IqReply;

use connection_support::{logged_in_pair, secs, single_disconnect};

fn iq(xmlns: &str) -> Node {
    Node::new("iq")
        .with_attr("xmlns", xmlns)
        .with_attr("type", "get")
}

/// The IqResponse events for `id`.
fn responses<'a>(events: &'a [Event], id: &IqId) -> Vec<&'a Result<Node, IqError>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IqResponse { id: got, result } if got == id => Some(result),
            _ => None,
        })
        .collect()
}

#[test]
fn a_result_is_correlated_by_id() {
    let mut pair = logged_in_pair(1);
    pair.server.set_iq_handler(|req| {
        assert_eq!(req.attr_str("xmlns"), Some("usync"));
        IqReply::Result(vec![Node::new("usync").with_attr("sid", "s1")])
    });
    let now = pair.now();
    let id = pair
        .client
        .send_iq(now, iq("usync"), DEFAULT_IQ_TIMEOUT)
        .expect("sent");
    // Generated ids look like "<b0>.<b1>-<n>".
    let (prefix, counter) = id.as_str().split_once('-').expect("dash");
    let (b0, b1) = prefix.split_once('.').expect("dot");
    assert!(b0.parse::<u8>().is_ok() && b1.parse::<u8>().is_ok(), "{id}");
    assert!(counter.parse::<u64>().is_ok(), "{id}");
    assert_eq!(pair.client.pending_iqs(), 1);

    pair.drive();
    let sent = pair.server.received().last().expect("request").clone();
    assert_eq!(sent.attr_str("id"), Some(id.as_str()));
    let events = pair.take_events();
    let results = responses(&events, &id);
    assert_eq!(results.len(), 1);
    let node = results[0].as_ref().expect("ok");
    assert_eq!(node.attr_str("type"), Some("result"));
    assert_eq!(
        node.child("usync").and_then(|u| u.attr_str("sid")),
        Some("s1")
    );
    assert_eq!(pair.client.pending_iqs(), 0);
}

#[test]
fn an_error_answer_is_typed() {
    let mut pair = logged_in_pair(2);
    pair.server.set_iq_handler(|_| IqReply::Error {
        code: 404,
        text: "item-not-found".into(),
    });
    let now = pair.now();
    let id = pair
        .client
        .send_iq(now, iq("w:g2"), secs(75))
        .expect("sent");
    pair.drive();
    let events = pair.take_events();
    match responses(&events, &id)[..] {
        [Err(IqError::Server(error))] => {
            assert_eq!(error.code, Some(404));
            assert_eq!(error.text, "item-not-found");
            assert_eq!(error.stanza.attr_str("type"), Some("error"));
        }
        ref other => panic!("expected a server error, got {other:?}"),
    }
}

#[test]
fn an_iq_whose_answer_is_lost_times_out_and_only_that_one() {
    let mut pair = logged_in_pair(3);
    pair.server.set_iq_handler(|req| {
        if req.attr_str("xmlns") == Some("lost") {
            IqReply::Ignore
        } else {
            IqReply::Result(Vec::new())
        }
    });
    let now = pair.now();
    let lost = pair
        .client
        .send_iq(now, iq("lost"), secs(10))
        .expect("sent");
    let answered = pair
        .client
        .send_iq(now, iq("fine"), secs(10))
        .expect("sent");
    let slow = pair
        .client
        .send_iq(now, iq("lost"), secs(40))
        .expect("sent");
    pair.advance(Duration::from_millis(9_999));
    assert!(responses(pair.events(), &lost).is_empty());
    assert!(matches!(responses(pair.events(), &answered)[..], [Ok(_)]));
    pair.advance(Duration::from_millis(1));
    assert!(matches!(
        responses(pair.events(), &lost)[..],
        [Err(IqError::Timeout)]
    ));
    assert!(responses(pair.events(), &slow).is_empty());
    assert_eq!(pair.client.pending_iqs(), 1);
    // A late answer to the timed-out request is not a second response.
    pair.server.send_node(
        &Node::new("iq")
            .with_attr("type", "result")
            .with_attr("id", lost.as_str()),
    );
    pair.advance(secs(29));
    assert_eq!(responses(pair.events(), &lost).len(), 1);
    assert!(
        pair.events()
            .iter()
            .any(|e| matches!(e, Event::Stanza(n) if n.attr_str("id") == Some(lost.as_str())))
    );
    assert!(responses(pair.events(), &slow).is_empty());
    pair.advance(secs(1));
    assert!(matches!(
        responses(pair.events(), &slow)[..],
        [Err(IqError::Timeout)]
    ));
    // The connection itself is fine.
    assert!(pair.client.disconnect_reason().is_none());
}

#[test]
fn pending_iqs_fail_once_each_when_the_connection_ends() {
    let mut pair = logged_in_pair(4);
    pair.server.set_iq_handler(|_| IqReply::Ignore);
    let now = pair.now();
    let ids: Vec<IqId> = (0..3)
        .map(|i| {
            pair.client
                .send_iq(now, iq(&format!("ns{i}")), secs(75))
                .expect("sent")
        })
        .collect();
    pair.drive();
    pair.server.send_stream_error(Some("503"), None);
    pair.drive();
    let events = pair.take_events();
    assert_eq!(events.len(), 4, "{events:?}");
    for (event, id) in events.iter().zip(&ids) {
        assert_eq!(
            event,
            &Event::IqResponse {
                id: id.clone(),
                result: Err(IqError::Disconnected)
            }
        );
    }
    let (reason, _, _) = single_disconnect(&events);
    assert!(matches!(reason, DisconnectReason::StreamError(_)));
    // Their deadlines are gone with them.
    assert_eq!(pair.client.poll_timeout(), None);
    pair.advance(secs(100));
    assert!(pair.events().is_empty());
}

#[test]
fn close_and_transport_loss_fail_pending_iqs_too() {
    for close in [true, false] {
        let mut pair = logged_in_pair(5);
        pair.server.set_iq_handler(|_| IqReply::Ignore);
        let now = pair.now();
        let id = pair.client.send_iq(now, iq("x"), secs(75)).expect("sent");
        if close {
            pair.client.close(pair.now());
        } else {
            pair.client.handle_transport_closed(now);
        }
        pair.drive();
        let events = pair.take_events();
        assert_eq!(
            events[0],
            Event::IqResponse {
                id,
                result: Err(IqError::Disconnected)
            }
        );
        let (reason, reconnect, _) = single_disconnect(&events);
        if close {
            assert_eq!((reason, reconnect), (DisconnectReason::Closed, false));
        } else {
            assert_eq!(
                (reason, reconnect),
                (DisconnectReason::TransportClosed, true)
            );
        }
    }
}

#[test]
fn caller_ids_are_kept_and_duplicates_refused() {
    let mut pair = logged_in_pair(6);
    pair.server.set_iq_handler(|_| IqReply::Ignore);
    let now = pair.now();
    let id = pair
        .client
        .send_iq(now, iq("a").with_attr("id", "my-1"), secs(75))
        .expect("sent");
    assert_eq!(id.as_str(), "my-1");
    assert_eq!(
        pair.client
            .send_iq(now, iq("a").with_attr("id", "my-1"), secs(75)),
        Err(SendError::DuplicateIqId("my-1".into()))
    );
    pair.drive();
    pair.server.send_node(
        &Node::new("iq")
            .with_attr("type", "result")
            .with_attr("id", "my-1"),
    );
    pair.drive();
    assert_eq!(responses(pair.events(), &id).len(), 1);
    // Answered, so the id is free again.
    assert!(
        pair.client
            .send_iq(now, iq("a").with_attr("id", "my-1"), secs(75))
            .is_ok()
    );
}

#[test]
fn only_iqs_can_be_sent_as_requests() {
    let mut pair = logged_in_pair(7);
    let now = pair.now();
    assert_eq!(
        pair.client.send_iq(now, Node::new("message"), secs(75)),
        Err(SendError::NotAnIq("message".into()))
    );
    assert_eq!(pair.client.pending_iqs(), 0);
    assert!(pair.client.poll_transmit().is_none(), "nothing queued");
}

#[test]
fn an_unencodable_node_is_refused_without_sending() {
    let mut pair = logged_in_pair(8);
    let before = pair.client_transmits().len();
    assert!(matches!(
        pair.client.send_node(pair.now(), &Node::new("")),
        Err(SendError::Encode(_))
    ));
    assert!(pair.client.poll_transmit().is_none());
    pair.drive();
    assert_eq!(pair.client_transmits().len(), before);
    // The connection (and its nonce sequence) is intact.
    pair.client
        .send_node(pair.now(), &Node::new("presence"))
        .expect("sent");
    pair.drive();
    assert_eq!(
        pair.server.received().last().map(|n| n.tag.as_str()),
        Some("presence")
    );
}

#[test]
fn iq_results_nobody_waits_for_are_stanzas() {
    let mut pair = logged_in_pair(9);
    pair.server.send_node(
        &Node::new("iq")
            .with_attr("type", "result")
            .with_attr("id", "nobody"),
    );
    pair.server.send_node(
        &Node::new("iq")
            .with_attr("type", "set")
            .with_attr("id", "srv-9")
            .with_attr("xmlns", "encrypt"),
    );
    pair.drive();
    let events = pair.take_events();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| matches!(e, Event::Stanza(_))));
}
