//! Faults on the wire: flipped bits in every transport frame, split, delayed,
//! duplicated and dropped bytes, garbage, bad plaintexts, nonce exhaustion,
//! and a malformed-input sweep of the post-handshake stream under
//! `catch_unwind` (docs/reliability.md "Never panic on peer input").

mod connection_support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use bytes::Bytes;
use wa_core::binary::{Jid, Node};
use wa_core::connection::{Connection, ConnectionError, DisconnectReason, Event, SendError};
use wa_core::noise::NoiseError;
use wa_core::testing::{Direction, Fate, Harness, TestServer, config_for, registered_device};
use wa_core::time::Instant;

use connection_support::{logged_in_pair, secs, single_disconnect};

/// A scripted session after login: a message with bytes, a compressed
/// notification, a server ping, a receipt. Returns the stanzas the client
/// should see.
fn script(server: &mut TestServer) -> Vec<Node> {
    let message = Node::new("message")
        .with_attr("id", "M1")
        .with_attr("from", Jid::pn("123"))
        .with_children([Node::new("enc")
            .with_attr("type", "msg")
            .with_bytes(vec![7u8; 200])]);
    let notification = Node::new("notification")
        .with_attr("id", "N1")
        .with_attr("type", "devices")
        .with_children(
            (0..40)
                .map(|i| Node::new("device").with_attr("jid", format!("123:{i}@s.whatsapp.net"))),
        );
    let receipt = Node::new("receipt").with_attr("id", "R1");
    server.send_node(&message);
    server.send_node_compressed(&notification);
    server.send_ping();
    server.send_node(&receipt);
    vec![message, notification, receipt]
}

/// Runs login + script with `hook` on the server→client link.
fn session(hook: impl FnMut(&wa_core::testing::Segment) -> Fate + 'static) -> Harness {
    let mut pair = Harness::new(TestServer::new([1; 32]), &registered_device(1), [2; 32]);
    pair.set_hook(Direction::ToClient, hook);
    pair.drive();
    script(&mut pair.server);
    pair.drive();
    pair
}

#[test]
fn the_clean_session_delivers_every_stanza_including_the_compressed_one() {
    let mut pair = Harness::new(TestServer::new([1; 32]), &registered_device(1), [2; 32]);
    pair.drive();
    let expected = script(&mut pair.server);
    pair.drive();
    let stanzas: Vec<Node> = pair
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Stanza(n) => Some(n),
            Event::LoggedIn { .. } | Event::DeviceChanged { .. } => None,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(stanzas, expected);
    assert_eq!(
        pair.server
            .received()
            .last()
            .and_then(|n| n.attr_str("type")),
        Some("result"),
        "the server ping was answered"
    );
}

#[test]
fn a_flipped_bit_in_any_transport_frame_kills_the_connection_cleanly() {
    // Frame 0 is the ServerHello (see the handshake tests); 1 is <success>,
    // then the scripted stanzas.
    let frames = {
        let pair = session(|_| Fate::Deliver);
        assert!(pair.client.disconnect_reason().is_none());
        6
    };
    let mut cases = 0;
    for frame in 1..frames {
        let len = {
            let mut probe = Harness::new(TestServer::new([1; 32]), &registered_device(1), [2; 32]);
            let lens = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let seen = lens.clone();
            probe.set_hook(Direction::ToClient, move |seg| {
                seen.borrow_mut().push(seg.bytes.len());
                Fate::Deliver
            });
            probe.drive();
            script(&mut probe.server);
            probe.drive();
            let lens = lens.borrow();
            assert_eq!(lens.len(), frames);
            lens[frame]
        };
        for pos in 0..len {
            for bit in [0x01u8, 0x80] {
                cases += 1;
                let mut pair = session(move |seg| {
                    if seg.index != frame {
                        return Fate::Deliver;
                    }
                    let mut bytes = seg.bytes.to_vec();
                    bytes[pos] ^= bit;
                    Fate::Replace(Bytes::from(bytes))
                });
                // Long enough for a stuck frame to hit the keepalive limits.
                pair.advance(secs(200));
                let (reason, reconnect, logged_out) = single_disconnect(pair.events());
                assert!(!logged_out);
                match &reason {
                    DisconnectReason::Error(
                        ConnectionError::Decrypt(_) | ConnectionError::Frame(_),
                    ) => assert!(reconnect),
                    // The length grew: the frame never completes.
                    DisconnectReason::KeepAliveTimeout | DisconnectReason::HandshakeTimeout
                        if pos < 3 => {}
                    other => panic!("frame {frame} byte {pos} bit {bit:#x}: {other:?}"),
                }
                // Later input is ignored.
                let before = pair.events().len();
                pair.client.handle_input(pair.now(), &[0, 0, 1, 0]);
                pair.client.handle_timeout(pair.now() + secs(1000));
                assert!(pair.client.poll_event().is_none());
                assert_eq!(pair.events().len(), before);
            }
        }
    }
    assert!(cases > 500, "{cases} cases");
}

#[test]
fn split_and_delayed_bytes_are_reassembled() {
    let mut pair = Harness::new(TestServer::new([1; 32]), &registered_device(1), [2; 32]);
    pair.set_latency(Duration::from_millis(150));
    pair.set_hook(Direction::ToServer, |seg| Fate::Split(seg.bytes.len() / 3));
    pair.set_hook(Direction::ToClient, |seg| {
        if seg.index == 1 {
            Fate::Delay(secs(5))
        } else {
            Fate::Split(1)
        }
    });
    pair.advance(secs(5));
    assert!(pair.events().is_empty(), "success arrived before its delay");
    pair.advance(secs(1));
    assert!(matches!(
        pair.take_events()[..],
        [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
    ));
    let expected = script(&mut pair.server);
    pair.advance(secs(600));
    let stanzas: Vec<Node> = pair
        .take_events()
        .into_iter()
        .map(|e| match e {
            Event::Stanza(n) => n,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(stanzas, expected);
    assert!(pair.server.pings_answered() >= 20);
}

#[test]
fn a_duplicated_or_dropped_transport_frame_desynchronises_the_cipher() {
    for fate in [Fate::Duplicate, Fate::Drop] {
        let pair = session(move |seg| {
            if seg.index == 2 {
                fate.clone()
            } else {
                Fate::Deliver
            }
        });
        let (reason, reconnect, _) = single_disconnect(pair.events());
        assert!(
            matches!(
                reason,
                DisconnectReason::Error(ConnectionError::Decrypt(NoiseError::Decrypt))
            ),
            "{reason:?}"
        );
        assert!(reconnect);
    }
}

#[test]
fn garbage_and_bad_plaintexts_end_the_connection_with_a_typed_error() {
    let check = |send: &dyn Fn(&mut TestServer), want: &dyn Fn(&ConnectionError) -> bool| {
        let mut pair = logged_in_pair(3);
        send(&mut pair.server);
        pair.drive();
        let (reason, _, _) = single_disconnect(pair.events());
        match &reason {
            DisconnectReason::Error(e) if want(e) => {}
            other => panic!("{other:?}"),
        }
    };
    // Raw bytes: a 10-byte frame is shorter than a tag.
    check(
        &|s| s.send_garbage(&[0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        &|e| {
            matches!(
                e,
                ConnectionError::Decrypt(NoiseError::CiphertextTooShort { len: 10 })
            )
        },
    );
    // Raw bytes forming a 40-byte frame that does not authenticate.
    check(
        &|s| s.send_garbage(&[[0u8, 0, 40].as_slice(), &[0x5A; 40]].concat()),
        &|e| matches!(e, ConnectionError::Decrypt(NoiseError::Decrypt)),
    );
    // Authenticated, but not a node.
    check(&|s| s.send_encrypted_payload(&[]), &|e| {
        matches!(e, ConnectionError::Decode(_))
    });
    check(&|s| s.send_encrypted_payload(&[0x00, 0xF8]), &|e| {
        matches!(e, ConnectionError::Decode(_))
    });
    check(
        &|s| s.send_encrypted_payload(&[0x02, 0x78, 0x9C, 0xFF, 0xFF]),
        &|e| matches!(e, ConnectionError::Decode(_)),
    );
}

#[test]
fn write_nonce_exhaustion_closes_the_connection() {
    let mut pair = logged_in_pair(4);
    let (cw, cr) = pair
        .client
        .transport_counters_for_testing()
        .expect("transport");
    let (sw, sr) = pair.server.transport_counters().expect("transport");
    assert_eq!((cw, sr), (0, 0));
    let last = u64::from(u32::MAX);
    pair.client.set_transport_counters_for_testing(last, cr);
    pair.server.set_transport_counters_for_testing(sw, last);
    // Nonce u32::MAX is the last one: it is used...
    pair.client
        .send_node(pair.now(), &Node::new("presence"))
        .expect("last nonce");
    pair.drive();
    assert_eq!(
        pair.server.received().last().map(|n| n.tag.as_str()),
        Some("presence")
    );
    // ...and never reused.
    assert_eq!(
        pair.client.send_node(pair.now(), &Node::new("presence")),
        Err(SendError::Closed)
    );
    pair.drive();
    let (reason, reconnect, _) = single_disconnect(pair.events());
    assert_eq!(
        reason,
        DisconnectReason::Error(ConnectionError::NonceExhausted)
    );
    assert!(reconnect);
}

#[test]
fn read_nonce_exhaustion_closes_the_connection() {
    let mut pair = logged_in_pair(5);
    let (cw, _) = pair
        .client
        .transport_counters_for_testing()
        .expect("transport");
    pair.client.set_transport_counters_for_testing(cw, 1 << 32);
    pair.server.send_node(&Node::new("message"));
    pair.drive();
    let (reason, _, _) = single_disconnect(pair.events());
    assert_eq!(
        reason,
        DisconnectReason::Error(ConnectionError::NonceExhausted)
    );
}

/// A connection that has completed the handshake with `server`, and the
/// server→client bytes after the ServerHello that the server then produced
/// (the login reply and the scripted stanzas).
fn handshaken() -> (Connection, Vec<u8>) {
    let mut server = TestServer::new([9; 32]);
    let mut client = Connection::new(
        config_for(&server, [8; 32]),
        &registered_device(9),
        Instant::ZERO,
    )
    .expect("connect");
    let hello = client.poll_transmit().expect("client hello");
    server.handle_input(&hello);
    let server_hello = server.poll_transmit().expect("server hello");
    client.handle_input(Instant::ZERO, &server_hello);
    let finish = client.poll_transmit().expect("client finish");
    server.handle_input(&finish);
    script(&mut server);
    let mut stream = Vec::new();
    while let Some(bytes) = server.poll_transmit() {
        stream.extend_from_slice(&bytes);
    }
    (client, stream)
}

/// Feeds `input` to a fresh handshaken client under `catch_unwind`, then
/// lets time pass; checks the event invariants.
fn feed(input: &[u8]) -> Vec<Event> {
    let (mut client, _) = handshaken();
    let result = catch_unwind(AssertUnwindSafe(|| {
        client.handle_input(Instant::ZERO, input);
        // Let every timer fire (a frame whose length grew waits forever for
        // bytes; the keepalive limits end it).
        for _ in 0..10 {
            while client.poll_transmit().is_some() {}
            match client.poll_timeout() {
                Some(at) => client.handle_timeout(at),
                None => break,
            }
        }
        let mut events = Vec::new();
        while let Some(e) = client.poll_event() {
            events.push(e);
        }
        events
    }));
    let events = result.unwrap_or_else(|_| panic!("panic on input of {} bytes", input.len()));
    let disconnects = events
        .iter()
        .filter(|e| matches!(e, Event::Disconnected { .. }))
        .count();
    assert!(disconnects <= 1, "{events:?}");
    if disconnects == 1 {
        assert!(matches!(events.last(), Some(Event::Disconnected { .. })));
    }
    events
}

#[test]
fn malformed_post_handshake_input_never_panics() {
    let (_, stream) = handshaken();
    assert!(stream.len() > 300, "{}", stream.len());
    // Every truncation.
    for cut in 0..stream.len() {
        feed(&stream[..cut]);
    }
    // Every single-byte mutation, three ways.
    let mut ended = 0;
    let mut cases = 0;
    for pos in 0..stream.len() {
        for op in [0x01u8, 0xFF, 0x00] {
            let mut bytes = stream.clone();
            if op == 0x00 {
                if bytes[pos] == 0 {
                    continue;
                }
                bytes[pos] = 0;
            } else {
                bytes[pos] ^= op;
            }
            cases += 1;
            let events = feed(&bytes);
            if events
                .iter()
                .any(|e| matches!(e, Event::Disconnected { .. }))
            {
                ended += 1;
            }
        }
    }
    // Every mutation breaks authentication or framing; the keepalive limits
    // end the ones stuck in a frame that never completes.
    assert_eq!(ended, cases);
}
