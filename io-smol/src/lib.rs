//! # wa-io-smol
//!
//! The smol driver for [`wa_core`]: a [`Runtime`](wa_core::runtime::Runtime)
//! on smol. The WebSocket transport and the client land in later work.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod runtime;

pub use runtime::SmolRuntime;
