//! # wa-io-smol
//!
//! The smol driver for [`wa_core`]: a [`Runtime`](wa_core::runtime::Runtime)
//! on smol, the WebSocket + TLS transport and an HTTP client.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod http;
pub mod runtime;
#[cfg(feature = "test-server")]
pub mod testserver;
pub mod transport;
pub mod version;

pub use client::{Client, ClientBuilder};
pub use runtime::SmolRuntime;
