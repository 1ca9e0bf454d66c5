//! Shared fixtures for the `connection_*` tests. Each test crate uses part of it.
#![allow(dead_code)]

use wa_core::connection::{DisconnectReason, Event};
use wa_core::testing::{Harness, TestServer, registered_device};

/// A pair whose registered client has logged in; the `LoggedIn` event has
/// been taken.
pub fn logged_in_pair(seed: u8) -> Harness {
    let mut pair = Harness::new(
        TestServer::new([seed; 32]),
        &registered_device(seed),
        [seed.wrapping_add(100); 32],
    );
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(
            events[..],
            [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
        ),
        "expected one LoggedIn, got {events:?}"
    );
    pair
}

/// The single `Disconnected` event, checked to be the last event; panics
/// otherwise. Returns `(reason, reconnect, logged_out)`.
pub fn single_disconnect(events: &[Event]) -> (DisconnectReason, bool, bool) {
    let disconnects: Vec<_> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::Disconnected { .. }))
        .collect();
    assert_eq!(
        disconnects.len(),
        1,
        "expected one Disconnected: {events:?}"
    );
    let (at, event) = disconnects[0];
    assert_eq!(at, events.len() - 1, "Disconnected is not last: {events:?}");
    match event {
        Event::Disconnected { reason, reconnect } => (
            reason.clone(),
            reconnect.will_reconnect(),
            reconnect.is_logged_out(),
        ),
        _ => unreachable!(),
    }
}

#[allow(unused_imports)]
pub use wa_core::testing::secs;
