//! Sizes, lifetimes and backends of the caches.

use std::time::Duration;

use super::store::{CacheNamespace, CacheStores};

/// Capacity and lifetime of one cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheEntryConfig {
    /// The most entries the in-process cache holds (quick_cache evicts beyond it;
    /// see [`TypedCache`](super::TypedCache) for how exact the bound is). `0`
    /// disables in-process caching: every lookup misses. Custom stores size
    /// themselves and ignore it.
    pub capacity: u64,
    /// How long an entry may be served after it was inserted; `None` means until
    /// evicted or removed. A custom store receives it with every `set`.
    pub ttl: Option<Duration>,
}

impl CacheEntryConfig {
    /// A cache of at most `capacity` entries that expire `ttl` after insertion.
    pub const fn new(capacity: u64, ttl: Option<Duration>) -> Self {
        Self { capacity, ttl }
    }
}

/// Configuration of every cache the client keeps: sizes and TTLs, and which
/// namespaces live in a custom [`CacheStore`](super::CacheStore).
///
/// The defaults are:
///
/// | namespace | capacity | TTL | why |
/// |---|---|---|---|
/// | `group` | 1 000 | 1 h | group metadata is read on every group send; change notifications keep it fresh, the TTL bounds the damage of a missed one |
/// | `device_registry` | 5 000 | 1 h | a device list per contact, read on every send fan-out; same freshness argument |
/// | `lid_pn_by_lid` | 10 000 | none | a LID↔PN mapping does not change, and the store holds the authoritative copy, so an eviction costs one store read |
///
/// Override only what you need:
///
/// ```
/// use std::time::Duration;
/// use wa_core::cache::{CacheConfig, CacheEntryConfig, CacheNamespace};
///
/// let config = CacheConfig {
///     group: CacheEntryConfig::new(200, Some(Duration::from_secs(600))),
///     ..CacheConfig::default()
/// };
/// assert_eq!(config.entry(CacheNamespace::Group).capacity, 200);
/// assert_eq!(config.entry(CacheNamespace::LidPnByLid).ttl, None);
/// ```
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Group metadata by group JID.
    pub group: CacheEntryConfig,
    /// Device lists by user JID.
    pub device_registry: CacheEntryConfig,
    /// Phone-number JIDs by LID.
    pub lid_pn_by_lid: CacheEntryConfig,
    /// Per-namespace custom backends (default: all in-process).
    pub stores: CacheStores,
}

impl CacheConfig {
    /// The size and lifetime configured for `namespace`.
    pub fn entry(&self, namespace: CacheNamespace) -> CacheEntryConfig {
        match namespace {
            CacheNamespace::Group => self.group,
            CacheNamespace::DeviceRegistry => self.device_registry,
            CacheNamespace::LidPnByLid => self.lid_pn_by_lid,
        }
    }
}

const ONE_HOUR: Duration = Duration::from_secs(60 * 60);

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            group: CacheEntryConfig::new(1_000, Some(ONE_HOUR)),
            device_registry: CacheEntryConfig::new(5_000, Some(ONE_HOUR)),
            lid_pn_by_lid: CacheEntryConfig::new(10_000, None),
            stores: CacheStores::default(),
        }
    }
}
