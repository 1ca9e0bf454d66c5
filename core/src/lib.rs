//! # wa-core
//!
//! The contracts and the sans-IO protocol core of **wa**, a WhatsApp Web
//! (multi-device companion) client library for programs that do not run on Tokio.
//!
//! # Architecture: the core decides, the driver executes
//!
//! This crate never touches a socket, a file, a clock or the OS random source:
//! bytes and time come in as arguments, bytes, events and deadlines come out.
//! Every protocol decision is made here — what a stanza means and how to answer
//! it, what to persist, whether to reconnect, when the account is logged out.
//! A *driver* (wa-io-smol's `Client`, a test harness, a fuzzer, a GUI event
//! loop) owns the I/O and carries the decisions out; it builds and interprets
//! no stanzas.
//!
//! ```text
//!    your app ──commands──▶ driver ──handle_input / send_* / handle_timeout──▶ Connection
//!    your app ◀──events──── driver ◀──poll_event / poll_transmit / poll_timeout── Connection
//!                           driver ──bytes──▶ Transport        driver ──save──▶ store
//! ```
//!
//! # The run loop
//!
//! ```text
//! let mut conn = Connection::new(config, &device, now)?;   // queues the ClientHello
//! loop {
//!     while let Some(event) = conn.poll_event() { … }       // persist before sending
//!     while let Some(bytes) = conn.poll_transmit() { transport.send(bytes) }
//!     wait for transport bytes, a command, conn.poll_timeout() or a stop;
//!     conn.handle_input(now, &bytes) | conn.send_node(now, &node) | conn.logout(now)
//!         | conn.handle_timeout(now) | conn.close(now);
//! }
//! ```
//!
//! The events say what to do: [`DeviceChanged`](connection::Event::DeviceChanged)
//! and [`PairSuccess`](connection::Event::PairSuccess) carry a device to save
//! before anything else, [`Disconnected`](connection::Event::Disconnected)
//! carries the [`Reconnect`](connection::Reconnect) decision. A complete loop
//! against the bundled test server is the example on
//! [`Connection`](connection::Connection); `docs/architecture.md` in the
//! repository walks through it, and `docs/protocol.md` explains the protocol
//! the code cites by section.
//!
//! # The seams a driver fills in
//!
//! - [`net`]: [`net::Transport`], [`net::TransportFactory`], [`net::HttpClient`].
//! - [`runtime`]: [`runtime::Runtime`] and [`runtime::AbortHandle`].
//! - [`store`]: the four store traits, [`store::Backend`], the domain types,
//!   [`store::MemoryStore`] and (feature `conformance`) a public test battery.
//! - [`cache`]: the cache abstraction used for groups, device lists and LID mappings.
//!
//! Time is [`time::Instant`], plain data the driver supplies, so tests run on
//! virtual time; the feature `testing` adds a test server, a simulated phone
//! and a harness that runs a connection against them ([`testing`]).
//!
//! A panic in this crate is a bug; it is never caused by peer input.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod binary;
pub mod cache;
pub mod cert;
pub mod connection;
pub mod frame;
pub mod keys;
pub mod message;
pub mod messaging;
pub mod net;
pub mod noise;
pub mod pair;
pub mod proto;
pub mod runtime;
pub mod signal;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod xeddsa;
