//! Shared fixtures for the `pair_*` tests. Each test crate uses part of it.
#![allow(dead_code)]

use wa_core::binary::{Jid, Node, Server};
use wa_core::connection::{Config, Event};
use wa_core::pair::QrCode;
use wa_core::store::Device;
use wa_core::testing::{Harness, LoginReply, TestServer, config_for};
use wa_core::time::Instant;

#[allow(unused_imports)]
pub use wa_core::testing::fresh_device as new_device;

/// The refs `ref-0` … `ref-{n-1}`.
pub fn refs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("ref-{i}")).collect()
}

/// `<iq from="s.whatsapp.net" type="set" id xmlns="md"><pair-device><ref>…`.
pub fn pair_device_iq(id: &str, refs: &[String]) -> Node {
    Node::new("iq")
        .with_attr("from", Jid::server_jid(Server::Pn))
        .with_attr("type", "set")
        .with_attr("id", id)
        .with_attr("xmlns", "md")
        .with_children([Node::new("pair-device").with_children(
            refs.iter()
                .map(|r| Node::new("ref").with_bytes(r.clone().into_bytes())),
        )])
}

/// A pair for `device` whose server sends nothing after the handshake; the
/// client's handshake is complete and no event has happened yet.
pub fn silent_pair(device: &Device, config: Option<Config>, seed: u8) -> Harness {
    let mut server = TestServer::new([seed; 32]);
    server.set_login_reply(LoginReply::Silent);
    let config = config.unwrap_or_else(|| config_for(&server, [seed.wrapping_add(50); 32]));
    let mut pair = Harness::with_config(server, config, device);
    pair.drive();
    assert!(pair.client.is_established());
    assert!(pair.take_events().is_empty());
    pair
}

/// A silent pair that then receives a `<pair-device>` with `refs`.
pub fn pair_with_refs(device: &Device, refs: &[String], seed: u8) -> Harness {
    let mut pair = silent_pair(device, None, seed);
    pair.server.send_node(&pair_device_iq("pd-1", refs));
    pair.drive();
    pair
}

/// A pair against the default server (six refs), driven until the first QR.
pub fn qr_pair(device: &Device, seed: u8) -> Harness {
    let mut pair = Harness::new(
        TestServer::new([seed; 32]),
        device,
        [seed.wrapping_add(50); 32],
    );
    pair.drive();
    pair
}

/// The QR events in `events`, in order.
pub fn qr_codes(events: &[Event]) -> Vec<(QrCode, Instant)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Qr { code, expires_at } => Some((code.clone(), *expires_at)),
            _ => None,
        })
        .collect()
}

/// The first QR of `events`; panics when there is none.
pub fn first_qr(events: &[Event]) -> QrCode {
    qr_codes(events)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no QR in {events:?}"))
        .0
}

/// The client's stanza answering the server's `id`, if it sent one.
pub fn reply_to(pair: &Harness, id: &str) -> Option<Node> {
    pair.server
        .received()
        .iter()
        .rev()
        .find(|n| n.tag == "iq" && n.attr("id").map(|v| v.to_text()).as_deref() == Some(id))
        .cloned()
}

/// The `PairSuccess` devices in `events`.
pub fn pair_successes(events: &[Event]) -> Vec<Device> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PairSuccess { device } => Some((**device).clone()),
            _ => None,
        })
        .collect()
}

#[allow(unused_imports)]
pub use wa_core::testing::secs;
