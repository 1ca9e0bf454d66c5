//! The bodies of the fuzz targets that hold real logic: the frame decoder
//! under arbitrary splits, and a [`Connection`](crate::connection::Connection)
//! driven through the [`Harness`](super::Harness). Each `run` takes arbitrary
//! bytes and panics only on a broken invariant. The fuzz crate (`fuzz/`, run with
//! cargo-fuzz) calls them; the core's tests run them over the seed corpus, so
//! they compile and work with every change to the core.

pub mod connection_ops;
pub mod frame_decode;
pub mod handshake_server_msgs;
pub mod pair_success_msgs;
