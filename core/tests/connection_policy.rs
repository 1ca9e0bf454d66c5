//! The decisions the connection makes for its driver: the device changes to
//! persist (login counter, LID, edge routing), the logout, and what follows a
//! disconnect.

mod connection_support;

use wa_core::binary::Node;
use wa_core::connection::{DisconnectReason, Event, IqError, LOGOUT_TIMEOUT, Reconnect, SendError};
use wa_core::testing::{Harness, IqReply, LoginReply, TestServer, registered_device};

use connection_support::{logged_in_pair, secs};

fn ib_with_routing(info: &[u8]) -> Node {
    Node::new("ib").with_children([Node::new("edge_routing")
        .with_children([Node::new("routing_info").with_bytes(info.to_vec())])])
}

/// The one `Disconnected` event's decision.
fn decision(events: &[Event]) -> (DisconnectReason, Reconnect) {
    match events.last() {
        Some(Event::Disconnected { reason, reconnect }) => (reason.clone(), *reconnect),
        other => panic!("expected Disconnected last, got {other:?}"),
    }
}

#[test]
fn new_edge_routing_info_changes_the_device_once() {
    let mut pair = logged_in_pair(1);
    pair.server.send_node(&ib_with_routing(b"route-1"));
    pair.drive();
    let events = pair.take_events();
    match &events[..] {
        [Event::DeviceChanged { device }, Event::Stanza(ib)] => {
            assert_eq!(device.edge_routing_info.as_deref(), Some(&b"route-1"[..]));
            assert_eq!(ib.tag, "ib", "the <ib> still reaches the caller");
        }
        other => panic!("{other:?}"),
    }
    // The same info again, an empty one and an oversized one change nothing.
    pair.server.send_node(&ib_with_routing(b"route-1"));
    pair.server.send_node(&ib_with_routing(b""));
    pair.server.send_node(&ib_with_routing(&[7; 4097]));
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(
            &events[..],
            [Event::Stanza(_), Event::Stanza(_), Event::Stanza(_)]
        ),
        "{events:?}"
    );
}

#[test]
fn a_confirmed_logout_reports_logged_out_then_a_closed_connection() {
    let device = registered_device(2);
    let mut server = TestServer::new([1; 32]);
    server.set_iq_handler(|_| IqReply::Result(Vec::new()));
    let mut pair = Harness::new(server, &device, [2; 32]);
    pair.drive();
    pair.take_events();
    let id = pair.client.logout(pair.now()).expect("logged in");
    // A second call while the first is in flight sends nothing more.
    assert_eq!(pair.client.logout(pair.now()), Ok(id));
    pair.drive();
    let removal: Vec<_> = pair
        .server
        .received()
        .iter()
        .filter(|n| n.child("remove-companion-device").is_some())
        .cloned()
        .collect();
    assert_eq!(removal.len(), 1);
    assert_eq!(removal[0].attr_str("xmlns"), Some("md"));
    assert_eq!(removal[0].attr_str("type"), Some("set"));
    let child = removal[0].child("remove-companion-device").unwrap();
    assert_eq!(child.attr_str("reason"), Some("user_initiated"));
    assert_eq!(child.attr("jid").and_then(|j| j.to_jid().ok()), device.pn);
    let events = pair.take_events();
    assert!(
        matches!(
            &events[..],
            [
                Event::LoggedOut,
                Event::Disconnected {
                    reason: DisconnectReason::Closed,
                    reconnect: Reconnect::Never
                }
            ]
        ),
        "{events:?}"
    );
}

#[test]
fn a_refused_logout_is_an_iq_response_and_the_connection_stays() {
    let mut server = TestServer::new([1; 32]);
    server.set_iq_handler(|_| IqReply::Error {
        code: 500,
        text: "internal".into(),
    });
    let mut pair = Harness::new(server, &registered_device(3), [2; 32]);
    pair.drive();
    pair.take_events();
    let id = pair.client.logout(pair.now()).unwrap();
    pair.drive();
    match &pair.take_events()[..] {
        [Event::IqResponse { id: got, result }] => {
            assert_eq!(*got, id);
            assert!(matches!(result, Err(IqError::Server(e)) if e.code == Some(500)));
        }
        other => panic!("{other:?}"),
    }
    assert!(pair.client.is_logged_in());
    // Not counted among the caller's requests.
    assert_eq!(pair.client.pending_iqs(), 0);
}

#[test]
fn an_unanswered_logout_times_out() {
    let mut server = TestServer::new([1; 32]);
    server.set_iq_handler(|_| IqReply::Ignore);
    let mut pair = Harness::new(server, &registered_device(4), [2; 32]);
    pair.drive();
    pair.take_events();
    let id = pair.client.logout(pair.now()).unwrap();
    pair.advance(LOGOUT_TIMEOUT);
    let events = pair.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::IqResponse { id: got, result: Err(IqError::Timeout) } if *got == id
        )),
        "{events:?}"
    );
}

#[test]
fn logout_needs_a_logged_in_connection() {
    let mut server = TestServer::new([1; 32]);
    server.set_login_reply(LoginReply::Silent);
    let mut pair = Harness::new(server, &registered_device(5), [2; 32]);
    assert_eq!(pair.client.logout(pair.now()), Err(SendError::Handshaking));
    pair.drive();
    assert!(pair.server.is_established());
    assert_eq!(pair.client.logout(pair.now()), Err(SendError::NotLoggedIn));
    pair.client.close(pair.now());
    assert_eq!(pair.client.logout(pair.now()), Err(SendError::Closed));
}

#[test]
fn the_disconnect_event_carries_the_reconnect_decision() {
    let cases: [(Option<&str>, Option<Node>, Reconnect); 5] = [
        (
            Some("429"),
            None,
            Reconnect::AfterBackoff { rate_limited: true },
        ),
        (
            Some("503"),
            None,
            Reconnect::AfterBackoff {
                rate_limited: false,
            },
        ),
        // A restart the connection did not earn by pairing waits like any other.
        (
            Some("515"),
            None,
            Reconnect::AfterBackoff {
                rate_limited: false,
            },
        ),
        (
            None,
            Some(Node::new("conflict").with_attr("type", "replaced")),
            Reconnect::Never,
        ),
        (Some("401"), None, Reconnect::LoggedOut),
    ];
    for (code, child, expected) in cases {
        let mut pair = logged_in_pair(6);
        pair.server.send_stream_error(code, child.clone());
        pair.drive();
        let (reason, reconnect) = decision(pair.events());
        assert!(matches!(reason, DisconnectReason::StreamError(_)));
        assert_eq!(reconnect, expected, "{code:?} {child:?}");
    }
    let mut pair = logged_in_pair(7);
    pair.server.send_failure("405");
    pair.drive();
    assert_eq!(decision(pair.events()).1, Reconnect::Never);
    let mut pair = logged_in_pair(8);
    pair.advance(secs(1));
    pair.client.close(pair.now());
    pair.drive();
    assert_eq!(
        decision(pair.events()),
        (DisconnectReason::Closed, Reconnect::Never)
    );
}
