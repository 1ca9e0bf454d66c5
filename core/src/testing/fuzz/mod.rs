//! The bodies of the fuzz targets that drive a [`Connection`](crate::connection::Connection)
//! through the [`Harness`](super::Harness): each `run` takes arbitrary bytes and
//! panics only on a broken invariant. The fuzz crate (`fuzz/`, run with
//! cargo-fuzz) calls them; the core's tests run them over the seed corpus, so
//! they compile and work with every change to the core.

pub mod connection_ops;
pub mod handshake_server_msgs;
pub mod pair_success_msgs;
