//! Arbitrary sequences of inputs, timeouts and commands on a `Connection`
//! against the test server, on virtual time (docs/reliability.md). The server's
//! bytes are real frames, partly altered by hooks (flipped bits, splits,
//! duplicates, drops) and partly garbage or arbitrary encrypted payloads.
//!
//! Checked after every operation: no panic; at most one `Disconnected`, and it
//! is the last event; every `IqResponse` answers an id `send_iq` returned,
//! at most once; once the connection has ended, every request has been
//! answered exactly once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use crate::binary::{Jid, Node};
use crate::connection::{Event, IqId};
use crate::testing::{Direction, Fate, Harness, IqReply, TestServer, registered_device};
use crate::time::Instant;
use bytes::Bytes;

/// A pending alteration for the next server→client segment.
#[derive(Clone, Copy)]
enum Alter {
    Flip { pos: usize, bit: u8 },
    Split(usize),
    Duplicate,
    Drop,
    Delay(u64),
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn bytes(&mut self) -> Option<&[u8]> {
        let n = usize::from(self.u8()? % 64).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

/// Runs one fuzz input (any bytes).
pub fn run(data: &[u8]) {
    let mut input = Reader(data);
    let Some(seed) = input.u8() else { return };
    let mut pair = Harness::new(TestServer::new([1; 32]), &registered_device(1), [seed; 32]);
    let alter: Rc<RefCell<Option<Alter>>> = Rc::default();
    let hook_alter = alter.clone();
    pair.set_hook(Direction::ToClient, move |seg| {
        match hook_alter.borrow_mut().take() {
            None => Fate::Deliver,
            Some(Alter::Flip { pos, bit }) => {
                let mut bytes = seg.bytes.to_vec();
                if !bytes.is_empty() {
                    let pos = pos % bytes.len();
                    bytes[pos] ^= bit.max(1);
                }
                Fate::Replace(Bytes::from(bytes))
            }
            Some(Alter::Split(at)) => Fate::Split(at),
            Some(Alter::Duplicate) => Fate::Duplicate,
            Some(Alter::Drop) => Fate::Drop,
            Some(Alter::Delay(ms)) => Fate::Delay(Duration::from_millis(ms)),
        }
    });
    let iq_mode = Rc::new(RefCell::new(0u8));
    let handler_mode = iq_mode.clone();
    pair.server
        .set_iq_handler(move |_| match *handler_mode.borrow() % 3 {
            0 => IqReply::Result(vec![Node::new("ok")]),
            1 => IqReply::Error {
                code: 500,
                text: "internal".into(),
            },
            _ => IqReply::Ignore,
        });

    let mut sent: HashMap<IqId, usize> = HashMap::new();
    let mut silent = false;
    let mut answer_pings = true;
    let mut checked = 0;
    let mut ops = 0;
    while let Some(op) = input.u8() {
        ops += 1;
        if ops > 200 {
            break;
        }
        match op % 24 {
            0 => pair.drive(),
            1 => {
                let ms = input.u16().unwrap_or(0);
                pair.advance(Duration::from_millis(u64::from(ms)));
            }
            2 => {
                let secs = input.u8().unwrap_or(0);
                pair.advance(Duration::from_secs(u64::from(secs)));
            }
            3 => {
                let now = pair.now();
                let _ = pair
                    .client
                    .send_node(now, &Node::new("presence").with_attr("type", "available"));
            }
            4 => {
                let timeout = Duration::from_secs(u64::from(input.u8().unwrap_or(75)));
                let now = pair.now();
                if let Ok(id) = pair.client.send_iq(
                    now,
                    Node::new("iq")
                        .with_attr("type", "get")
                        .with_attr("xmlns", "fz"),
                    timeout,
                ) {
                    assert!(sent.insert(id, 0).is_none(), "an id was handed out twice");
                }
            }
            5 => {
                let now = pair.now();
                pair.client.close(now);
            }
            6 => {
                let now = pair.now();
                pair.client.handle_transport_closed(now);
            }
            7 => {
                // Any time, backwards included.
                let ms = input.u16().unwrap_or(0);
                pair.client
                    .handle_timeout(Instant::from_origin(Duration::from_millis(
                        u64::from(ms) * 16,
                    )));
            }
            8 => {
                pair.server.send_ping();
            }
            9 => {
                let codes = ["515", "401", "409", "429", "503", "516", "999"];
                let code = codes[usize::from(input.u8().unwrap_or(0)) % codes.len()];
                pair.server.send_stream_error(Some(code), None);
            }
            10 => pair.server.send_failure("401"),
            11 => pair.server.send_stream_end(),
            12 => {
                silent = !silent;
                pair.server.set_silent(silent);
            }
            13 => {
                answer_pings = !answer_pings;
                pair.server.set_answer_pings(answer_pings);
            }
            14 => {
                let bytes = input.bytes().unwrap_or_default().to_vec();
                pair.server.send_garbage(&bytes);
            }
            15 => {
                let bytes = input.bytes().unwrap_or_default().to_vec();
                pair.server.send_encrypted_payload(&bytes);
            }
            16 => {
                let pos = usize::from(input.u16().unwrap_or(0));
                let bit = input.u8().unwrap_or(1);
                *alter.borrow_mut() = Some(Alter::Flip { pos, bit });
            }
            17 => {
                let at = usize::from(input.u8().unwrap_or(0));
                *alter.borrow_mut() = Some(Alter::Split(at));
            }
            18 => *alter.borrow_mut() = Some(Alter::Duplicate),
            19 => *alter.borrow_mut() = Some(Alter::Drop),
            20 => {
                let ms = input.u16().unwrap_or(0);
                *alter.borrow_mut() = Some(Alter::Delay(u64::from(ms)));
            }
            21 => *iq_mode.borrow_mut() = input.u8().unwrap_or(0),
            22 => {
                let body = input.bytes().unwrap_or_default().to_vec();
                pair.server.send_node(
                    &Node::new("message")
                        .with_attr("id", "m")
                        .with_attr("from", Jid::pn("123"))
                        .with_children([Node::new("enc").with_bytes(body)]),
                );
            }
            _ => {
                let body = input.bytes().unwrap_or_default().to_vec();
                pair.server
                    .send_node_compressed(&Node::new("notification").with_bytes(body));
            }
        }
        pair.drive();
        checked = check(&pair, &mut sent, checked);
    }
    // Let everything run out: the connection ends one way or another, or
    // stays healthy; either way the invariants hold.
    pair.advance(Duration::from_secs(400));
    check(&pair, &mut sent, checked);
    if pair.client.disconnect_reason().is_some() {
        assert!(
            sent.values().all(|&n| n == 1),
            "a request was not answered exactly once"
        );
        assert!(pair.client.poll_timeout().is_none());
    }
}

/// Checks the events from index `from` on; returns the new count.
fn check(pair: &Harness, sent: &mut HashMap<IqId, usize>, from: usize) -> usize {
    let events = pair.events();
    let ends = events
        .iter()
        .filter(|e| matches!(e, Event::Disconnected { .. }))
        .count();
    assert!(ends <= 1, "more than one Disconnected");
    if ends == 1 {
        assert!(
            matches!(events.last(), Some(Event::Disconnected { .. })),
            "an event after Disconnected"
        );
    }
    for event in &events[from..] {
        if let Event::IqResponse { id, .. } = event {
            let count = sent
                .get_mut(id)
                .expect("a response to an id never handed out");
            *count += 1;
            assert_eq!(*count, 1, "two responses for one request");
        }
    }
    events.len()
}
