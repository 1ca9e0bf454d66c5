//! # wa-io-smol
//!
//! The smol driver for [`wa_core`]: a [`Runtime`](wa_core::runtime::Runtime)
//! on smol, the WebSocket + TLS transport, an HTTP client, and the [`Client`]
//! that drives a connection, keeps the device in a store and stays
//! connected. Examples: `demo` (the whole linking flow offline, against the
//! bundled test server) and `link` (link a device to the real service).
//!
//! # Features
//!
//! - `test-server`: the `testserver` module (wa-core's `TestServer` and
//!   simulated phone behind a `ws://`/`wss://` server on 127.0.0.1). For
//!   tests, examples and demos; it enables `wa-core/testing`.
//! - `danger-skip-tls-verify`: see the `transport` module.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod clock;
pub mod http;
pub mod runtime;
#[cfg(feature = "test-server")]
pub mod testserver;
pub mod transport;
pub mod version;

pub use client::{Client, ClientBuilder};

// The README's Rust snippets compile as doc tests of this crate, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
pub use runtime::SmolRuntime;
