//! # wa-core
//!
//! The contracts and the sans-IO protocol core of **wa**, a WhatsApp Web
//! (multi-device companion) client library for programs that do not run on Tokio.
//!
//! This crate never touches a socket, a file, a clock or the OS random source:
//! bytes and time come in as arguments, bytes, events and deadlines come out.
//! The pluggable seams a driver fills in live here too:
//!
//! - [`net`]: [`net::Transport`], [`net::TransportFactory`], [`net::HttpClient`].
//! - [`runtime`]: [`runtime::Runtime`] and [`runtime::AbortHandle`].
//! - [`store`]: the four store traits, [`store::Backend`], the domain types,
//!   [`store::MemoryStore`] and (feature `conformance`) a public test battery.
//! - [`cache`]: the cache abstraction used for groups, device lists and LID mappings.
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
