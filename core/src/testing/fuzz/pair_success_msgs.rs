//! Arbitrary pairing stanzas into a connection awaiting pairing
//! (docs/reliability.md; docs/protocol.md §6): `pair-device`, `pair-success` (made up,
//! or made by the simulated phone and then altered), `companion_reg_refresh`,
//! `link_code_companion_reg` notifications, answers to the client's pair-code
//! IQs, pair-code requests, arbitrary encrypted payloads, and time.
//!
//! The device's ADV secret is fixed and only the harness's simulated phone
//! ever computes an HMAC or a signature with it, so the fuzzer cannot make a
//! pair-success verify except by reusing bytes the phone made. Checked after
//! every operation:
//!
//! - no panic; at most one `Disconnected`, and it is the last event;
//! - at most one `PairSuccess`, and only backed by real credentials: some
//!   `<device-identity>` the server sent authenticates under the paired
//!   device's ADV secret (HMAC recomputed on the phone's side), that secret
//!   is one the phone keyed a message with, the persisted account carries the
//!   phone's key with valid account and device signatures, and the keys are
//!   the device's own;
//! - liveness: an unaltered valid pair-success keyed with the secret the
//!   client holds, sent to a live unpaired connection, is accepted at once.

use std::time::Duration;

use crate::binary::{Content, Jid, Node, Server};
use crate::connection::Event;
use crate::pair::QrData;
use crate::store::Device;
use crate::testing::{
    Harness as Link, IqReply, PairSuccessVariant, SimulatedPhone, TestServer, config_for,
};

/// PBKDF2 with 131 072 rounds costs tens of milliseconds, a hundred times a
/// whole run without it. Only inputs whose first byte is a multiple of 16
/// may trigger it, at most this many times, so the others run fast.
const MAX_SLOW_OPS: u32 = 3;

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = usize::from(self.u8() % 96).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }
    fn text(&mut self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The device under test: the crate's test device, whose keys and ADV secret
/// derive from a constant seed.
fn device() -> Device {
    crate::testing::fresh_device(7)
}

fn server_jid() -> Jid {
    Jid::server_jid(Server::Pn)
}

fn server_iq(id: &str, child: Node) -> Node {
    Node::new("iq")
        .with_attr("from", server_jid())
        .with_attr("type", "set")
        .with_attr("id", id)
        .with_children([child])
}

/// The `<device-identity>` bytes inside a pair-success iq, if any.
fn identity_bytes(iq: &Node) -> Option<Vec<u8>> {
    iq.child("pair-success")?
        .child("device-identity")?
        .content_bytes()
        .map(|b| b.to_vec())
}

/// One alteration of a phone-made pair-success.
fn alter(iq: &mut Node, input: &mut Reader<'_>) {
    let Content::Nodes(children) = &mut iq.content else {
        return;
    };
    let Some(success) = children.first_mut() else {
        return;
    };
    let Content::Nodes(parts) = &mut success.content else {
        return;
    };
    match input.u8() % 7 {
        0 | 1 => {
            // Flip bits of the device identity.
            let pos = usize::from(input.u8()) * 3 + usize::from(input.u8());
            let bit = input.u8().max(1);
            if let Some(part) = parts.iter_mut().find(|p| p.tag == "device-identity")
                && let Some(bytes) = part.content_bytes()
            {
                let mut bytes = bytes.to_vec();
                if !bytes.is_empty() {
                    let at = pos % bytes.len();
                    bytes[at] ^= bit;
                }
                part.content = Content::Bytes(bytes.into());
            }
        }
        2 => {
            // Truncate or extend the device identity.
            let cut = usize::from(input.u8());
            let extra = input.bytes();
            if let Some(part) = parts.iter_mut().find(|p| p.tag == "device-identity")
                && let Some(bytes) = part.content_bytes()
            {
                let mut bytes = bytes.to_vec();
                bytes.truncate(bytes.len().saturating_sub(cut % 8));
                bytes.extend_from_slice(&extra);
                part.content = Content::Bytes(bytes.into());
            }
        }
        3 => {
            // Another device jid (text the client must parse).
            let text = input.text();
            if let Some(part) = parts.iter_mut().find(|p| p.tag == "device") {
                part.attrs.insert("jid", text.as_str());
            }
        }
        4 => {
            // Drop one child.
            if !parts.is_empty() {
                let at = usize::from(input.u8()) % parts.len();
                parts.remove(at);
            }
        }
        5 => {
            // Another iq type or sender.
            match input.u8() % 3 {
                0 => iq.attrs.insert("type", "get"),
                1 => iq.attrs.insert("from", Jid::pn("123")),
                _ => {
                    iq.attrs.remove("id");
                }
            }
        }
        _ => {
            // Garbage client-props.
            let props = input.bytes();
            parts.push(Node::new("client-props").with_bytes(props));
        }
    }
}

struct Harness {
    pair: Link,
    phone: SimulatedPhone,
    initial: Device,
    /// Every `<device-identity>` the server sent.
    identities: Vec<Vec<u8>>,
    /// Every ADV secret the phone keyed a message with.
    phone_secrets: Vec<[u8; 32]>,
    slow_ops: u32,
    checked: usize,
}

impl Harness {
    fn send_pair_success(&mut self, iq: &Node) {
        if let Some(bytes) = identity_bytes(iq) {
            self.identities.push(bytes);
        }
        self.pair.server.send_node(iq);
    }

    /// The ADV secret the client holds now, as far as its events tell, or
    /// `None` once a pair-code exchange may have replaced it.
    fn client_secret(&self) -> Option<[u8; 32]> {
        let finished = self.pair.server.received().iter().any(|n| {
            n.child("link_code_companion_reg")
                .is_some_and(|r| r.attr_str("stage") == Some("companion_finish"))
        });
        if finished {
            return None;
        }
        let mut secret = self.initial.adv_secret_key;
        for event in self.pair.events() {
            match event {
                Event::DeviceChanged { device } => secret = device.adv_secret_key,
                Event::Qr { code, .. } => {
                    secret = QrData::parse(code.as_str()).ok()?.adv_secret;
                }
                _ => {}
            }
        }
        Some(secret)
    }

    fn latest_qr(&self) -> Option<String> {
        self.pair.events().iter().rev().find_map(|e| match e {
            Event::Qr { code, .. } => Some(code.as_str().to_owned()),
            _ => None,
        })
    }

    fn latest_pair_code(&self) -> Option<String> {
        self.pair.events().iter().rev().find_map(|e| match e {
            Event::PairCode { code, .. } => Some(code.clone()),
            _ => None,
        })
    }

    fn paired(&self) -> bool {
        self.pair
            .events()
            .iter()
            .any(|e| matches!(e, Event::PairSuccess { .. }))
    }

    fn check(&mut self) {
        let events = self.pair.events();
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
        let successes = events
            .iter()
            .filter(|e| matches!(e, Event::PairSuccess { .. }))
            .count();
        assert!(successes <= 1, "two PairSuccess on one connection");
        for event in &events[self.checked..] {
            if let Event::PairSuccess { device } = event {
                let secret = device.adv_secret_key;
                assert!(
                    self.identities
                        .iter()
                        .any(|d| SimulatedPhone::authenticates(&secret, d)),
                    "PairSuccess without any authentic device identity"
                );
                assert!(
                    self.phone_secrets.contains(&secret),
                    "PairSuccess keyed with a secret the phone never used"
                );
                if let Err(e) = self.phone.check_account(device) {
                    panic!("PairSuccess with a bad account: {e}");
                }
                assert_eq!(device.identity_key, self.initial.identity_key);
                assert_eq!(device.noise_key, self.initial.noise_key);
                let pn: &Jid = device.pn.as_ref().expect("a paired device has a pn");
                assert!(pn.server() == Server::Pn && pn.device() != 0);
            }
        }
        self.checked = events.len();
    }
}

/// Runs one fuzz input (any bytes).
pub fn run(data: &[u8]) {
    let mut input = Reader(data);
    let seed = input.u8();
    let initial = device();
    let mut server = TestServer::new([1; 32]);
    let phone = SimulatedPhone::new(seed);
    phone.serve_pair_code(&mut server);
    let config = config_for(&server, [seed; 32]);
    let mut pair = Link::with_config(server, config, &initial);
    pair.drive();
    let mut h = Harness {
        pair,
        phone,
        initial,
        identities: Vec::new(),
        phone_secrets: Vec::new(),
        slow_ops: if seed % 16 == 0 { 0 } else { MAX_SLOW_OPS },
        checked: 0,
    };
    h.check();

    let mut ops = 0;
    let mut next_id = 0u32;
    while !input.is_empty() && ops < 64 {
        ops += 1;
        next_id += 1;
        let id = format!("fz-{next_id}");
        match input.u8() % 16 {
            0 => h.pair.advance(Duration::from_secs(u64::from(input.u8()))),
            1 => {
                if let Some(qr) = h.latest_qr() {
                    let _ = h.phone.scan(&qr);
                }
            }
            2 => {
                // A phone-made pair-success, unaltered.
                let variant = PairSuccessVariant::ALL
                    [usize::from(input.u8()) % PairSuccessVariant::ALL.len()];
                let secret = h.phone.companion_adv_secret();
                let live = h.pair.client.disconnect_reason().is_none() && !h.paired();
                if let Some(iq) = h.phone.pair_success_iq(variant) {
                    h.phone_secrets.extend(secret);
                    let expect_success = live
                        && variant.expected_error().is_none()
                        && secret.is_some()
                        && secret == h.client_secret();
                    h.send_pair_success(&iq);
                    h.pair.drive();
                    if expect_success {
                        assert!(h.paired(), "a valid pair-success was refused");
                    }
                }
            }
            3 => {
                // A phone-made pair-success, then altered.
                let variant = PairSuccessVariant::ALL
                    [usize::from(input.u8()) % PairSuccessVariant::ALL.len()];
                let secret = h.phone.companion_adv_secret();
                if let Some(mut iq) = h.phone.pair_success_iq(variant) {
                    h.phone_secrets.extend(secret);
                    alter(&mut iq, &mut input);
                    h.send_pair_success(&iq);
                }
            }
            4 => {
                // A made-up pair-success.
                let identity = input.bytes();
                let jid = match input.u8() % 4 {
                    0 => "15550001111:3@s.whatsapp.net".to_owned(),
                    1 => "15550001111@s.whatsapp.net".to_owned(),
                    2 => "99:3@lid".to_owned(),
                    _ => input.text(),
                };
                let mut children = vec![
                    Node::new("device-identity").with_bytes(identity),
                    Node::new("device").with_attr("jid", jid.as_str()),
                ];
                if input.u8() & 1 == 1 {
                    children.push(Node::new("biz").with_attr("name", input.text().as_str()));
                }
                let iq = server_iq(&id, Node::new("pair-success").with_children(children));
                h.send_pair_success(&iq);
            }
            5 => {
                let n = usize::from(input.u8() % 8);
                let refs: Vec<Node> = (0..n)
                    .map(|_| Node::new("ref").with_bytes(input.bytes()))
                    .collect();
                h.pair.server.send_node(&server_iq(
                    &id,
                    Node::new("pair-device").with_children(refs),
                ));
            }
            6 => {
                let child = match input.u8() % 3 {
                    0 => vec![Node::new("companion_reg_refresh")],
                    1 => vec![Node::new("pair-device-rotate-qr")],
                    _ => Vec::new(),
                };
                h.pair.server.send_node(
                    &Node::new("notification")
                        .with_attr("from", server_jid())
                        .with_attr("type", "companion_reg_refresh")
                        .with_attr("id", id.as_str())
                        .with_children(child),
                );
            }
            7 => {
                if h.slow_ops < MAX_SLOW_OPS {
                    h.slow_ops += 1;
                    let phone = if input.u8() & 1 == 0 {
                        "15551234567".to_owned()
                    } else {
                        input.text()
                    };
                    let _ =
                        h.pair
                            .client
                            .request_pair_code(h.pair.now(), &phone, input.u8() & 1 == 0);
                }
            }
            8 => {
                // A primary_hello: our ref (costs a PBKDF2 when everything
                // else fits) or another one, with made-up keys.
                let use_ref = input.u8() & 1 == 0 && h.slow_ops < MAX_SLOW_OPS;
                if use_ref {
                    h.slow_ops += 1;
                }
                let pairing_ref = if use_ref {
                    h.phone.pairing_ref().to_vec()
                } else {
                    input.bytes()
                };
                let wrapped = input.bytes();
                let identity = input.bytes();
                let stage = if input.u8() % 8 == 0 {
                    input.text()
                } else {
                    "primary_hello".to_owned()
                };
                h.pair.server.send_node(
                    &Node::new("notification")
                        .with_attr("from", server_jid())
                        .with_attr("type", "link_code_companion_reg")
                        .with_attr("id", id.as_str())
                        .with_children([Node::new("link_code_companion_reg")
                            .with_attr("stage", stage.as_str())
                            .with_children([
                                Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                                    .with_bytes(wrapped),
                                Node::new("primary_identity_pub").with_bytes(identity),
                                Node::new("link_code_pairing_ref").with_bytes(pairing_ref),
                            ])]),
                );
            }
            9 => {
                // The user types the code shown (or another) on the phone.
                if h.slow_ops + 2 <= MAX_SLOW_OPS {
                    h.slow_ops += 2;
                    let code = match h.latest_pair_code() {
                        Some(code) if input.u8() & 1 == 0 => code,
                        _ => "ZZZZ2345".to_owned(),
                    };
                    let _ = h.phone.enter_pair_code(&mut h.pair.server, &code);
                }
            }
            10 => {
                let _ = h.phone.finish_pair_code(&h.pair.server);
            }
            11 => {
                // Answer the client's latest request, whatever the server did.
                let last = h
                    .pair
                    .server
                    .received()
                    .iter()
                    .rev()
                    .find(|n| n.tag == "iq" && n.attr_str("type") == Some("set"))
                    .and_then(|n| n.attr("id"))
                    .map(|v| v.to_text().into_owned());
                if let Some(last) = last {
                    let mut answer = Node::new("iq")
                        .with_attr("from", server_jid())
                        .with_attr("id", last.as_str());
                    answer = if input.u8() & 1 == 0 {
                        answer.with_attr("type", "result").with_children([Node::new(
                            "link_code_companion_reg",
                        )
                        .with_children([
                            Node::new("link_code_pairing_ref").with_bytes(input.bytes())
                        ])])
                    } else {
                        answer
                            .with_attr("type", "error")
                            .with_children([Node::new("error")
                                .with_attr("code", input.text().as_str())
                                .with_attr("text", input.text().as_str())])
                    };
                    h.pair.server.send_node(&answer);
                }
            }
            12 => {
                let mode = input.u8();
                h.pair.server.set_iq_handler(move |_| match mode % 3 {
                    0 => IqReply::Result(Vec::new()),
                    1 => IqReply::Error {
                        code: 400,
                        text: "bad-request".to_owned(),
                    },
                    _ => IqReply::Ignore,
                });
            }
            13 => h.pair.server.send_stream_error(Some("515"), None),
            14 => {
                let bytes = input.bytes();
                h.pair.server.send_encrypted_payload(&bytes);
            }
            _ => {
                let now = h.pair.now();
                h.pair.client.handle_timeout(now);
            }
        }
        h.pair.drive();
        h.check();
    }
    h.pair.advance(Duration::from_secs(400));
    h.check();
    if h.pair.client.disconnect_reason().is_some() {
        assert!(h.pair.client.poll_timeout().is_none());
    }
}
