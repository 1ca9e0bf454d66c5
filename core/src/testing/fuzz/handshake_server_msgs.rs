//! A hostile server during the handshake (docs/reliability.md): arbitrary bytes as
//! the ServerHello, or a real ServerHello followed by arbitrary transport
//! frames, fed to a client in arbitrary chunks, then its timers run out.
//!
//! Input: `mode | payload`.
//! - `mode & 1`: a fresh (registration) device instead of a registered one.
//! - `mode & 2`: deliver the real ServerHello first; the payload then plays
//!   the frames after it (the seed corpus holds the real ones).
//! - `mode >> 2`: chunk size for the payload (0 = all at once).
//!
//! Checked: no panic; at most one `Disconnected`, and it is the last event;
//! nothing after the end.

use std::sync::OnceLock;
use std::time::Duration;

use crate::connection::{Connection, Event};
use crate::store::Device;
use crate::testing::{TestServer, config_for, fresh_device, registered_device};
use crate::time::Instant;

struct Fixture {
    root: [u8; 32],
    devices: [Device; 2],
    /// The real ServerHello frame for each device's (deterministic) ClientHello.
    server_hellos: [Vec<u8>; 2],
}

const CLIENT_SEED: [u8; 32] = [2; 32];

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let devices = [registered_device(1), fresh_device(1)];
        let hello = |device: &Device| {
            let mut server = TestServer::new([1; 32]);
            let mut client =
                Connection::new(config_for(&server, CLIENT_SEED), device, Instant::ZERO)
                    .expect("fixture device connects");
            server.handle_input(&client.poll_transmit().expect("client hello"));
            server.poll_transmit().expect("server hello").to_vec()
        };
        let server_hellos = [hello(&devices[0]), hello(&devices[1])];
        Fixture {
            root: TestServer::new([1; 32]).root_public_key(),
            devices,
            server_hellos,
        }
    })
}

fn drain(client: &mut Connection, events: &mut Vec<Event>) {
    while client.poll_transmit().is_some() {}
    while let Some(event) = client.poll_event() {
        events.push(event);
    }
}

/// Runs one fuzz input (any bytes).
pub fn run(data: &[u8]) {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let which = usize::from(mode & 1);
    let mut config = crate::connection::Config::new(CLIENT_SEED, crate::testing::test_wall_clock());
    config.trusted_root = fixture.root;
    let mut client = Connection::new(config, &fixture.devices[which], Instant::ZERO)
        .expect("fixture device connects");
    let mut now = Instant::ZERO;
    let mut events = Vec::new();
    drain(&mut client, &mut events);
    if mode & 2 != 0 {
        client.handle_input(now, &fixture.server_hellos[which]);
        drain(&mut client, &mut events);
    }
    let chunk = usize::from(mode >> 2);
    let chunks: Box<dyn Iterator<Item = &[u8]>> = if chunk == 0 {
        Box::new(std::iter::once(payload))
    } else {
        Box::new(payload.chunks(chunk))
    };
    for piece in chunks {
        now = now + Duration::from_millis(10);
        client.handle_input(now, piece);
        drain(&mut client, &mut events);
    }
    for _ in 0..8 {
        match client.poll_timeout() {
            Some(at) => client.handle_timeout(at),
            None => break,
        }
        drain(&mut client, &mut events);
    }
    let ends = events
        .iter()
        .filter(|e| matches!(e, Event::Disconnected { .. }))
        .count();
    assert!(ends <= 1, "{events:?}");
    if ends == 1 {
        assert!(matches!(events.last(), Some(Event::Disconnected { .. })));
        assert!(client.disconnect_reason().is_some());
        assert!(client.poll_timeout().is_none());
        client.handle_input(now, payload);
        assert!(client.poll_event().is_none());
    }
}
