//! Keepalive, the dead-socket rule, server pings and the clock rules
//! (docs/protocol.md §5.2, §5.3), on virtual time.

mod connection_support;

use std::time::Duration;

use wa_core::binary::{Jid, Node, Server};
use wa_core::connection::{DisconnectReason, Event};
use wa_core::testing::{Harness, IqReply, TestServer, config_for, registered_device};
use wa_core::time::Instant;

use connection_support::{logged_in_pair, secs, single_disconnect};

/// Keepalive pings the server has received so far.
fn pings(server: &TestServer) -> usize {
    server
        .received()
        .iter()
        .filter(|n| n.tag == "iq" && n.attr_str("xmlns") == Some("w:p"))
        .count()
}

/// Advances in `step`s for `total`, returning the times at which a new
/// keepalive ping reached the server.
fn ping_times(pair: &mut Harness, total: Duration, step: Duration) -> Vec<Instant> {
    let end = pair.now() + total;
    let mut seen = pings(&pair.server);
    let mut times = Vec::new();
    while pair.now() < end {
        pair.advance(step);
        let now = pings(&pair.server);
        for _ in seen..now {
            times.push(pair.now());
        }
        seen = now;
    }
    times
}

#[test]
fn keepalive_holds_for_an_hour_of_virtual_time() {
    let mut pair = logged_in_pair(1);
    let start = pair.now();
    let times = ping_times(&mut pair, secs(3600), Duration::from_millis(250));
    assert!(pair.events().is_empty(), "{:?}", pair.events());
    assert!(pair.client.disconnect_reason().is_none());
    assert_eq!(pair.server.pings_answered(), times.len());
    // One ping every 15–30 s of idleness.
    assert!((120..=240).contains(&times.len()), "{} pings", times.len());
    let mut gaps: Vec<Duration> = Vec::new();
    let mut last = start;
    for t in &times {
        gaps.push(*t - last);
        last = *t;
    }
    let slack = Duration::from_millis(250);
    for gap in &gaps {
        assert!(
            *gap + slack >= secs(15) && *gap <= secs(30) + slack,
            "gap {gap:?}"
        );
    }
    // Jittered: the intervals are not all the same.
    let min = gaps.iter().min().expect("gaps");
    let max = gaps.iter().max().expect("gaps");
    assert!(*max - *min >= secs(5), "min {min:?} max {max:?}");
}

#[test]
fn a_silent_server_is_detected_within_the_deadline() {
    let mut pair = logged_in_pair(2);
    let silent_from = pair.now();
    pair.server.set_silent(true);
    let pings_before = pings(&pair.server);
    let done = pair.advance_until(secs(120), Duration::from_millis(100), |p| {
        p.client.disconnect_reason().is_some()
    });
    assert!(done, "silent server never detected");
    let probes = pings(&pair.server) - pings_before;
    let detected_at = pair.now();
    let (reason, reconnect, logged_out) = single_disconnect(pair.events());
    assert_eq!(reason, DisconnectReason::KeepAliveTimeout);
    assert!(reconnect && !logged_out);
    // One ping went out (after 15–30 s of silence) and was left unanswered for
    // the 20 s deadline: detection 35–50 s after the server fell silent.
    assert_eq!(probes, 1, "exactly one probe before giving up");
    let waited = detected_at - silent_from;
    assert!(
        waited >= secs(35) && waited <= secs(50) + Duration::from_millis(100),
        "{waited:?}"
    );
}

#[test]
fn the_deadline_is_exactly_20_s_after_the_ping() {
    let mut pair = logged_in_pair(3);
    pair.server.set_answer_pings(false);
    let times = ping_times(&mut pair, secs(31), Duration::from_millis(10));
    assert_eq!(times.len(), 1);
    let ping_at = times[0];
    pair.advance_to(ping_at + Duration::from_millis(19_980));
    assert!(pair.events().is_empty());
    pair.advance(Duration::from_millis(40));
    assert_eq!(
        single_disconnect(pair.events()).0,
        DisconnectReason::KeepAliveTimeout
    );
}

#[test]
fn a_busy_link_is_not_pinged() {
    let mut pair = logged_in_pair(4);
    pair.server.set_answer_pings(false);
    // The server pushes a stanza every 10 s for 5 minutes: never idle for the
    // 15 s minimum interval, so no ping at all.
    for i in 0..30 {
        pair.advance(secs(10));
        pair.server
            .send_node(&Node::new("notification").with_attr("id", format!("n{i}")));
        pair.drive();
    }
    assert_eq!(pings(&pair.server), 0);
    let stanzas = pair
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Event::Stanza(_)))
        .count();
    assert_eq!(stanzas, 30);
    assert!(pair.client.disconnect_reason().is_none());
}

#[test]
fn received_traffic_pushes_an_outstanding_pings_deadline_out() {
    let server = TestServer::new([4; 32]);
    let mut config = config_for(&server, [9; 32]);
    config.keepalive_interval_min = secs(15);
    config.keepalive_interval_max = secs(15);
    config.keepalive_hard_limit = secs(600);
    let mut pair = Harness::with_config(server, config, &registered_device(4));
    pair.drive();
    assert!(matches!(
        pair.take_events()[..],
        [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
    ));
    pair.server.set_answer_pings(false);
    // A stanza every 18 s: a ping goes out 15 s after each (unanswered), but
    // the stanzas keep arriving within its 20 s deadline.
    for i in 0..10 {
        pair.advance(secs(18));
        pair.server
            .send_node(&Node::new("notification").with_attr("id", format!("m{i}")));
        pair.drive();
    }
    assert_eq!(pings(&pair.server), 1, "one ping, still outstanding");
    assert!(
        pair.client.disconnect_reason().is_none(),
        "{:?}",
        pair.events()
    );
    // Silence: dead 20 s after the last receive.
    pair.advance(Duration::from_millis(19_999));
    assert!(pair.client.disconnect_reason().is_none());
    pair.advance(Duration::from_millis(1));
    assert_eq!(
        pair.client.disconnect_reason(),
        Some(&DisconnectReason::KeepAliveTimeout)
    );
}

#[test]
fn a_ping_unanswered_for_the_hard_limit_ends_the_connection_despite_traffic() {
    let server = TestServer::new([4; 32]);
    let mut config = config_for(&server, [9; 32]);
    config.keepalive_interval_min = secs(15);
    config.keepalive_interval_max = secs(15);
    let mut pair = Harness::with_config(server, config, &registered_device(4));
    pair.drive();
    assert!(matches!(
        pair.take_events()[..],
        [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
    ));
    pair.server.set_answer_pings(false);
    let login = pair.now();
    // Traffic every 5 s, never a pong: the ping goes out after 15 s of idle
    // time... which never comes, so first stop the traffic for 16 s.
    pair.advance(secs(16));
    assert_eq!(pings(&pair.server), 1);
    let ping_at = login + secs(15);
    let mut i = 0;
    while pair.now() < ping_at + secs(55) {
        pair.advance(secs(5));
        pair.server
            .send_node(&Node::new("notification").with_attr("id", format!("k{i}")));
        pair.drive();
        i += 1;
    }
    assert!(pair.client.disconnect_reason().is_none());
    pair.advance_to(ping_at + Duration::from_millis(59_999));
    assert!(pair.client.disconnect_reason().is_none());
    pair.advance(Duration::from_millis(1));
    assert_eq!(
        pair.client.disconnect_reason(),
        Some(&DisconnectReason::KeepAliveTimeout)
    );
}

#[test]
fn the_dead_socket_rule_probes_20_s_after_an_unanswered_send() {
    let server = TestServer::new([5; 32]);
    let mut config = config_for(&server, [6; 32]);
    // Keep the regular interval out of the way.
    config.keepalive_interval_min = secs(300);
    config.keepalive_interval_max = secs(300);
    let mut pair = Harness::with_config(server, config, &registered_device(5));
    pair.drive();
    assert!(matches!(
        pair.take_events()[..],
        [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
    ));
    pair.advance(secs(2));
    // A stanza the server does not answer.
    pair.client
        .send_node(
            pair.now(),
            &Node::new("presence").with_attr("type", "available"),
        )
        .expect("sent");
    let sent_at = pair.now();
    pair.drive();
    let times = ping_times(&mut pair, secs(30), Duration::from_millis(10));
    assert_eq!(times.len(), 1);
    let probe = times[0] - sent_at;
    assert!(
        probe >= secs(20) && probe <= secs(20) + Duration::from_millis(10),
        "{probe:?}"
    );
    // The probe was answered: the connection lives on.
    pair.advance(secs(60));
    assert!(pair.client.disconnect_reason().is_none());
}

#[test]
fn server_pings_are_answered() {
    let mut pair = logged_in_pair(6);
    let id = pair.server.send_ping();
    pair.drive();
    let pong = pair.server.received().last().expect("pong").clone();
    assert_eq!(pong.tag, "iq");
    assert_eq!(pong.attr_str("type"), Some("result"));
    assert_eq!(pong.attr_str("id"), Some(id.as_str()));
    assert_eq!(
        pong.attr_jid("to").expect("to"),
        Jid::server_jid(Server::Pn)
    );

    // The `<ping/>`-child form, without a type and without an id: answered
    // without an id, to the sender.
    pair.server.send_node(
        &Node::new("iq")
            .with_attr("from", Jid::pn("123"))
            .with_children([Node::new("ping")]),
    );
    pair.drive();
    let pong = pair.server.received().last().expect("pong").clone();
    assert_eq!(pong.attr_str("type"), Some("result"));
    assert!(pong.attr("id").is_none());
    assert_eq!(pong.attr_jid("to").expect("to"), Jid::pn("123"));
    // Pings are consumed by the core, not surfaced.
    assert!(pair.events().is_empty(), "{:?}", pair.events());

    // An iq set with a ping child is not a ping: it is a stanza for the caller.
    pair.server.send_node(
        &Node::new("iq")
            .with_attr("type", "set")
            .with_attr("id", "x1")
            .with_children([Node::new("ping")]),
    );
    pair.drive();
    assert!(matches!(pair.take_events()[..], [Event::Stanza(_)]));
}

#[test]
fn handle_timeout_early_or_twice_is_harmless() {
    let mut pair = logged_in_pair(7);
    let deadline = pair.client.poll_timeout().expect("keepalive armed");
    // Early: nothing happens, nothing changes.
    for _ in 0..3 {
        pair.client.handle_timeout(pair.now());
        assert!(pair.client.poll_transmit().is_none());
        assert!(pair.client.poll_event().is_none());
        assert_eq!(pair.client.poll_timeout(), Some(deadline));
    }
    // At the deadline, twice: one ping, not two.
    pair.client.handle_timeout(deadline);
    let first = pair.client.poll_transmit().expect("ping");
    pair.client.handle_timeout(deadline);
    assert!(
        pair.client.poll_transmit().is_none(),
        "second call sent again"
    );
    assert!(pair.client.poll_event().is_none());
    // Deliver the ping by hand and check it is one keepalive iq.
    pair.server.handle_input(&first);
    assert_eq!(pings(&pair.server), 1);
}

#[test]
fn time_going_backwards_is_clamped() {
    let mut pair = logged_in_pair(8);
    pair.server.set_iq_handler(|_| IqReply::Ignore);
    pair.advance(secs(10));
    let t = pair.now();
    pair.client.handle_timeout(t); // the client has now seen `t`
    let deadline = pair.client.poll_timeout();
    // Earlier times: no panic, no effect.
    pair.client.handle_timeout(Instant::ZERO);
    pair.client.handle_input(Instant::ZERO, &[]);
    assert_eq!(pair.client.poll_timeout(), deadline);
    assert!(pair.client.poll_event().is_none());
    // A request stamped in the past counts from the latest time seen.
    let id = pair
        .client
        .send_iq(
            Instant::ZERO,
            Node::new("iq").with_attr("type", "get"),
            secs(75),
        )
        .expect("sent");
    pair.drive();
    pair.advance_to(t + Duration::from_millis(74_999));
    assert!(
        !pair
            .events()
            .iter()
            .any(|e| matches!(e, Event::IqResponse { .. })),
        "timed out early: {:?}",
        pair.events()
    );
    pair.advance(Duration::from_millis(1));
    assert!(
        pair.events()
            .iter()
            .any(|e| matches!(e, Event::IqResponse { id: got, result: Err(_) } if *got == id))
    );
}
