//! Heap held by an idle logged-in `Connection`, and peak heap while a 16 MiB frame
//! comes in (docs/performance.md; results in `benches/RESULTS.md`, "Connection" section).
//!
//! ```text
//! cargo bench -p wa-benches --bench idle_heap
//! ```
//!
//! Measured with dhat's heap profiler (it counts every allocation through the global
//! allocator; no sampling):
//!
//! 1. A warm-up run of the whole scenario first, so one-time process-wide allocations
//!    (lazily built tables and the like) are made before profiling starts and are not
//!    charged to the connection.
//! 2. A profiler is started (live bytes 0), then a `Harness` (the `Connection` and the
//!    `TestServer`) logs in. The connection is taken out of the pair (a throw-away
//!    connection takes its place), the pair — server, links, collected events — is
//!    dropped, the connection's queues are drained. The live bytes left are the ones the
//!    connection owns; `size_of::<Connection>()` (its inline part, on the caller's stack
//!    or in the caller's allocation) is printed next to it.
//! 3. The same after traffic: an hour of virtual keepalive plus 100 message stanzas each
//!    way (buffers that grew for traffic and stayed grown would show here).
//! 4. 16 MiB frame: a logged-in connection; the server's frame (a node whose content
//!    fills a maximal frame, `0xFFFFFF` bytes) is built first; then a fresh profiler
//!    measures the peak heap while the frame is fed to the connection in 64 KiB reads
//!    and the resulting `Event::Stanza` is taken out. The input bytes themselves (the
//!    socket's) are not counted. Peak heap growth is reported against 2 × frame size.
use std::mem::size_of;
use std::time::Duration;

use wa_benches::nodes::{fixtures, to_wa};
use wa_core::binary::Node;
use wa_core::connection::{Connection, Event};
use wa_core::frame::MAX_PAYLOAD_LEN;
use wa_core::testing::{Harness, TestServer, config_for, registered_device};
use wa_core::time::Instant;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const BUDGET_IDLE: usize = 32 * 1024;

/// Logs in; with `traffic`, also runs an hour of keepalive and 100 stanzas each way.
/// Returns the connection alone, everything else dropped and its queues drained.
fn logged_in_connection(traffic: bool) -> Connection {
    let device = registered_device(1);
    let mut pair = Harness::new(TestServer::new([3; 32]), &device, [4; 32]);
    pair.drive();
    let events = pair.take_events();
    assert!(
        matches!(
            events[..],
            [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
        ),
        "login: {events:?}"
    );
    if traffic {
        let message = to_wa(
            &fixtures(1)
                .into_iter()
                .find(|f| f.name == "message")
                .unwrap()
                .spec,
        );
        for _ in 0..100 {
            pair.client.send_node(pair.now(), &message).unwrap();
            pair.server.send_node(&message);
            pair.drive();
        }
        pair.advance(Duration::from_secs(3600));
        let events = pair.take_events();
        assert_eq!(events.len(), 100, "100 stanzas and nothing else");
        assert!(events.iter().all(|e| matches!(e, Event::Stanza(_))));
        assert!(pair.server.pings_answered() > 0);
        assert!(pair.client.is_logged_in());
    }
    let placeholder = Connection::new(
        config_for(&pair.server, [5; 32]),
        &registered_device(2),
        Instant::ZERO,
    )
    .unwrap();
    let mut client = std::mem::replace(&mut pair.client, placeholder);
    drop(pair);
    drop(device);
    while client.poll_transmit().is_some() {}
    while client.poll_event().is_some() {}
    client
}

fn idle(traffic: bool) -> usize {
    // Warm-up, unprofiled.
    drop(logged_in_connection(traffic));
    let profiler = dhat::Profiler::builder().testing().build();
    let client = logged_in_connection(traffic);
    let live = dhat::HeapStats::get().curr_bytes;
    let blocks = dhat::HeapStats::get().curr_blocks;
    assert!(client.is_logged_in());
    drop(client);
    drop(profiler);
    println!(
        "idle logged-in Connection{}: {live} heap bytes in {blocks} blocks (budget {BUDGET_IDLE}: {}); \
         inline size_of::<Connection>() = {} bytes",
        if traffic {
            " after 1 h keepalive + 100 stanzas each way"
        } else {
            " right after login"
        },
        if live <= BUDGET_IDLE { "pass" } else { "MISS" },
        size_of::<Connection>(),
    );
    live
}

fn big_frame() {
    let device = registered_device(1);
    let mut pair = Harness::new(TestServer::new([3; 32]), &device, [4; 32]);
    pair.drive();
    assert!(pair.client.is_logged_in());
    pair.take_events();
    // A node whose encoding fills the largest frame: flags byte + node + 16-byte tag
    // = 0xFFFFFF. The node header for a 1-tag node with a 3-byte-length binary is small;
    // find the content length that hits the limit exactly.
    let mut content = MAX_PAYLOAD_LEN - 32;
    let frame = loop {
        let node = Node::new("message").with_bytes(vec![0xa5; content]);
        pair.server.send_node(&node);
        let frame = pair.server.poll_transmit().expect("a frame");
        let len = frame.len() - 3;
        if len == MAX_PAYLOAD_LEN {
            break frame;
        }
        assert!(len < MAX_PAYLOAD_LEN, "overshot: {len}");
        // Throw this one away: resynchronise the server's counter by building another
        // pair would be costly; instead send it to the client as well (it is valid).
        pair.client.handle_input(pair.now(), &frame);
        while pair.client.poll_event().is_some() {}
        content += MAX_PAYLOAD_LEN - len;
    };
    let frame_len = frame.len() - 3;
    let mut client = std::mem::replace(
        &mut pair.client,
        Connection::new(
            config_for(&pair.server, [5; 32]),
            &registered_device(2),
            Instant::ZERO,
        )
        .unwrap(),
    );
    let now = pair.now();
    drop(pair);

    let profiler = dhat::Profiler::builder().testing().build();
    for chunk in frame.chunks(64 * 1024) {
        client.handle_input(now, chunk);
    }
    let stanza = client.poll_event();
    let content_len = match &stanza {
        Some(Event::Stanza(node)) => node.content_bytes().map_or(0, |b| b.len()),
        other => panic!("expected the stanza, got {other:?}"),
    };
    assert!(content_len > MAX_PAYLOAD_LEN - 64);
    let held = dhat::HeapStats::get().curr_bytes;
    drop(stanza);
    let stats = dhat::HeapStats::get();
    drop(profiler);
    let peak = stats.max_bytes;
    println!(
        "16 MiB frame ({frame_len} payload bytes) fed in 64 KiB reads: peak heap growth {peak} bytes \
         = {:.3} × frame (budget 2 ×: {}); {held} bytes live while the Stanza event is held; \
         {} bytes live after it is dropped",
        peak as f64 / frame_len as f64,
        if peak <= 2 * frame_len {
            "pass"
        } else {
            "MISS"
        },
        stats.curr_bytes,
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with `--test`: the scenario is cheap, run it.
    idle(false);
    idle(true);
    big_frame();
}
