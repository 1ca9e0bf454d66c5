//! # wa-store-redb
//!
//! `RedbStore`, the [`wa_core::store`] traits on one redb file, lands with its
//! own issue; this crate is a placeholder in the workspace until then.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
