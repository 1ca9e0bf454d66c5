//! The cache abstraction for groups, device lists and LID mappings.
//!
//! The client keeps a few hot lookups in memory: group metadata, the device
//! lists of contacts and LID→phone-number mappings. Each is a [`TypedCache`],
//! which is either
//!
//! - **in-process**, on [quick_cache](https://docs.rs/quick_cache), bounded by a
//!   capacity, with an optional TTL measured by a [`Clock`]; or
//! - **custom**, in any [`CacheStore`] (Redis, memcached, ...) so several
//!   processes can share it; values are postcard bytes and the store handles TTL.
//!
//! [`CacheConfig`] holds a [`CacheEntryConfig`] (capacity, TTL) per
//! [`CacheNamespace`] and, in [`CacheStores`], which namespaces use a custom store.
//!
//! **A cache never fails the caller.** A store error, a value that does not decode
//! or an expired entry is a miss (logged with `tracing::warn!`, without keys or
//! values), and the caller goes back to the source of truth.
//!
//! **Time.** wa-core never reads the system clock, so TTLs are measured by a
//! [`Clock`] handed in: the driver passes one backed by the OS monotonic clock,
//! tests pass a [`ManualClock`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use wa_core::cache::{CacheConfig, CacheNamespace, ManualClock, TypedCache};
//!
//! #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
//! struct GroupInfo {
//!     subject: String,
//!     participants: Vec<String>,
//! }
//!
//! let clock = Arc::new(ManualClock::new());
//! let config = CacheConfig::default(); // group: 1 000 entries, 1 h TTL, in-process
//! let groups: TypedCache<String, GroupInfo> =
//!     TypedCache::from_config(&config, CacheNamespace::Group, clock.clone());
//!
//! smol::block_on(async {
//!     let jid = "120363025246125486@g.us".to_owned();
//!     assert_eq!(groups.get(&jid).await, None);
//!
//!     let info = GroupInfo { subject: "climbing".into(), participants: vec!["1@lid".into()] };
//!     groups.insert(jid.clone(), info.clone()).await;
//!     assert_eq!(groups.get(&jid).await, Some(info));
//!
//!     clock.advance(Duration::from_secs(3600)); // the TTL has passed
//!     assert_eq!(groups.get(&jid).await, None);
//!     assert_eq!(groups.entry_count().await, 0);
//! });
//! ```
//!
//! To put a namespace in a shared store instead, set
//! `CacheConfig { stores: CacheStores::all(my_store), ..CacheConfig::default() }`
//! (or one field of [`CacheStores`]); the code using the [`TypedCache`] does not change.

mod clock;
mod config;
mod store;
mod typed;

pub use clock::{Clock, ManualClock};
pub use config::{CacheConfig, CacheEntryConfig};
pub use store::{CacheError, CacheNamespace, CacheStore, CacheStores};
pub use typed::TypedCache;
