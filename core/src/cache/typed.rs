//! [`TypedCache`]: one typed API over the in-process cache and custom stores.

use std::fmt::{self, Display};
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use quick_cache::sync::Cache;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::clock::Clock;
use super::config::{CacheConfig, CacheEntryConfig};
use super::store::{CacheNamespace, CacheStore};

/// A cache from `K` to `V`, kept in-process or in a custom [`CacheStore`].
///
/// Every operation is infallible for the caller: a cache is an optimisation, so a
/// failing store, a value that does not decode or an expired entry all read as a
/// miss, and the caller fetches the data from its source. Failures are logged with
/// `tracing::warn!` naming the namespace and the operation; keys and values are
/// never logged (keys are phone numbers and JIDs).
///
/// # In-process ([`TypedCache::in_process`])
///
/// Entries live in a [quick_cache](https://docs.rs/quick_cache) `sync::Cache`, with
/// the [`Clock`] reading taken at insertion stored beside each value.
///
/// - **Capacity.** quick_cache evicts by its scan-resistant CLOCK-Pro policy (not
///   LRU: a newly inserted entry may be the first to go, while entries that are
///   read again are kept). It splits the capacity over a power-of-two number of
///   shards and rounds each shard's share up, so the cache holds at most
///   `capacity` entries when `capacity` is a power of two or below 32, and at most
///   `capacity + shards - 1` otherwise.
/// - **TTL.** An entry inserted at clock reading `t` is served while
///   `now < t + ttl` and is a miss from `now >= t + ttl` on (so a zero TTL caches
///   nothing). An expired entry found by [`get`](Self::get) is removed; others
///   stay until evicted or until [`entry_count`](Self::entry_count) sweeps them.
///   A clock that goes backwards makes entries look younger, never older.
///
/// # Custom store ([`TypedCache::custom`])
///
/// - **Values** are encoded with [postcard](https://docs.rs/postcard). Bytes that
///   do not decode to a `V`, or leave bytes over, are a miss. postcard is not
///   self-describing: if `V`'s layout changes, use a new namespace or clear the
///   old one so old bytes are not read as the new type.
/// - **Keys** are `key.to_string()` (the [`Display`] form, e.g.
///   `123456789@s.whatsapp.net` for a JID), passed with the namespace string
///   unchanged. `Display` must therefore be injective on `K`: two different keys
///   must never print the same.
/// - **TTL** is the store's job: the configured TTL is passed to every
///   [`CacheStore::set`]; the configured capacity is not used.
/// - A failed `set` is followed by a best-effort `delete` of the key, so an older
///   value is not served in place of the one that could not be written.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use wa_core::cache::{CacheEntryConfig, ManualClock, TypedCache};
///
/// let clock = Arc::new(ManualClock::new());
/// let config = CacheEntryConfig::new(100, Some(Duration::from_secs(60)));
/// let cache: TypedCache<String, u32> = TypedCache::in_process(config, clock.clone());
///
/// smol::block_on(async {
///     cache.insert("alice".to_owned(), 7).await;
///     clock.advance(Duration::from_secs(59));
///     assert_eq!(cache.get(&"alice".to_owned()).await, Some(7));
///     clock.advance(Duration::from_secs(1));
///     assert_eq!(cache.get(&"alice".to_owned()).await, None); // expired at exactly 60 s
/// });
/// ```
pub struct TypedCache<K, V> {
    backend: Backend<K, V>,
}

enum Backend<K, V> {
    InProcess(InProcess<K, V>),
    Custom(Custom<K, V>),
}

struct InProcess<K, V> {
    entries: Cache<K, Slot<V>>,
    capacity: u64,
    ttl: Option<Duration>,
    clock: Arc<dyn Clock>,
}

/// A value and the clock reading at its insertion.
#[derive(Clone)]
struct Slot<V> {
    value: V,
    inserted_at: Duration,
}

struct Custom<K, V> {
    store: Arc<dyn CacheStore>,
    namespace: &'static str,
    ttl: Option<Duration>,
    // Only K and V's types matter here; fn() keeps TypedCache Send + Sync whatever they are.
    _types: PhantomData<fn(&K) -> V>,
}

impl<K, V> InProcess<K, V> {
    fn is_expired(&self, slot: &Slot<V>, now: Duration) -> bool {
        self.ttl
            .is_some_and(|ttl| now.saturating_sub(slot.inserted_at) >= ttl)
    }
}

impl<K, V> TypedCache<K, V>
where
    K: Eq + Hash + Display + Send + Sync + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// An in-process cache of `config.capacity` entries expiring after
    /// `config.ttl`, timed by `clock` (read only when a TTL is set).
    pub fn in_process(config: CacheEntryConfig, clock: Arc<dyn Clock>) -> Self {
        let capacity = usize::try_from(config.capacity).unwrap_or(usize::MAX);
        Self {
            backend: Backend::InProcess(InProcess {
                entries: Cache::new(capacity),
                capacity: config.capacity,
                ttl: config.ttl,
                clock,
            }),
        }
    }

    /// A cache kept in `store` under `namespace`, passing `config.ttl` to every
    /// `set` (`config.capacity` is not used: the store sizes itself).
    pub fn custom(
        store: Arc<dyn CacheStore>,
        namespace: &'static str,
        config: CacheEntryConfig,
    ) -> Self {
        Self {
            backend: Backend::Custom(Custom {
                store,
                namespace,
                ttl: config.ttl,
                _types: PhantomData,
            }),
        }
    }

    /// The cache for `namespace` as `config` describes it: on the custom store if
    /// [`CacheConfig::stores`] names one for it, in-process otherwise.
    pub fn from_config(
        config: &CacheConfig,
        namespace: CacheNamespace,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let entry = config.entry(namespace);
        match config.stores.get(namespace) {
            Some(store) => Self::custom(store.clone(), namespace.as_str(), entry),
            None => Self::in_process(entry, clock),
        }
    }

    /// Whether this cache lives in a custom [`CacheStore`].
    pub fn is_custom(&self) -> bool {
        matches!(self.backend, Backend::Custom(_))
    }

    /// The value cached for `key`, or `None` on a miss (absent, expired, evicted,
    /// undecodable, or the store failed).
    pub async fn get(&self, key: &K) -> Option<V> {
        match &self.backend {
            Backend::InProcess(local) => {
                let slot = local.entries.get(key)?;
                if local.ttl.is_some() {
                    let now = local.clock.now();
                    if local.is_expired(&slot, now) {
                        // Only drop it if it is still the expired one: a concurrent
                        // insert may have replaced it in the meantime.
                        local
                            .entries
                            .remove_if(key, |current| local.is_expired(current, now));
                        return None;
                    }
                }
                Some(slot.value)
            }
            Backend::Custom(custom) => {
                let bytes = match custom.store.get(custom.namespace, &key.to_string()).await {
                    Ok(Some(bytes)) => bytes,
                    Ok(None) => return None,
                    Err(error) => {
                        store_failed(custom.namespace, "get", &error);
                        return None;
                    }
                };
                match decode::<V>(&bytes) {
                    Ok(value) => Some(value),
                    Err(error) => {
                        tracing::warn!(
                            namespace = custom.namespace,
                            len = bytes.len(),
                            %error,
                            "cached value does not decode; treated as a miss"
                        );
                        None
                    }
                }
            }
        }
    }

    /// Caches `value` for `key`, replacing any previous value.
    pub async fn insert(&self, key: K, value: V) {
        match &self.backend {
            Backend::InProcess(local) => {
                let inserted_at = match local.ttl {
                    Some(_) => local.clock.now(),
                    None => Duration::ZERO,
                };
                local.entries.insert(key, Slot { value, inserted_at });
            }
            Backend::Custom(custom) => {
                let key = key.to_string();
                let written = match postcard::to_stdvec(&value) {
                    Ok(bytes) => custom
                        .store
                        .set(custom.namespace, &key, &bytes, custom.ttl)
                        .await
                        .map_err(|error| store_failed(custom.namespace, "set", &error)),
                    Err(error) => {
                        tracing::warn!(
                            namespace = custom.namespace,
                            %error,
                            "value does not encode; not cached"
                        );
                        Err(())
                    }
                };
                if written.is_err() {
                    // Do not leave an older value to be served instead of this one.
                    if let Err(error) = custom.store.delete(custom.namespace, &key).await {
                        store_failed(custom.namespace, "delete", &error);
                    }
                }
            }
        }
    }

    /// Drops the entry for `key`, if any.
    pub async fn remove(&self, key: &K) {
        match &self.backend {
            Backend::InProcess(local) => {
                local.entries.remove(key);
            }
            Backend::Custom(custom) => {
                if let Err(error) = custom
                    .store
                    .delete(custom.namespace, &key.to_string())
                    .await
                {
                    store_failed(custom.namespace, "delete", &error);
                }
            }
        }
    }

    /// Drops every entry: the reference documents' `invalidate_all`, the
    /// same as [`clear`](Self::clear).
    pub async fn invalidate_all(&self) {
        self.clear().await;
    }

    /// Removes every entry (of this namespace only, on a custom store).
    pub async fn clear(&self) {
        match &self.backend {
            Backend::InProcess(local) => local.entries.clear(),
            Backend::Custom(custom) => {
                if let Err(error) = custom.store.clear(custom.namespace).await {
                    store_failed(custom.namespace, "clear", &error);
                }
            }
        }
    }

    /// How many entries the cache holds, for diagnostics.
    ///
    /// In-process with a TTL, this first sweeps out expired entries (a walk over
    /// the whole cache), so the count is of live entries. For a custom store it is
    /// the store's [`CacheStore::entry_count`], or `0` (logged) if that fails.
    pub async fn entry_count(&self) -> u64 {
        match &self.backend {
            Backend::InProcess(local) => {
                if local.ttl.is_some() {
                    let now = local.clock.now();
                    local.entries.retain(|_, slot| !local.is_expired(slot, now));
                }
                local.entries.len() as u64
            }
            Backend::Custom(custom) => match custom.store.entry_count(custom.namespace).await {
                Ok(count) => count,
                Err(error) => {
                    store_failed(custom.namespace, "entry_count", &error);
                    0
                }
            },
        }
    }
}

/// Decodes a whole postcard value: trailing bytes mean the bytes are not a `V`.
fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Result<V, postcard::Error> {
    match postcard::take_from_bytes::<V>(bytes)? {
        (value, []) => Ok(value),
        (_, _rest) => Err(postcard::Error::DeserializeBadEncoding),
    }
}

fn store_failed(namespace: &str, op: &'static str, error: &super::store::CacheError) {
    tracing::warn!(namespace, op, %error, "cache store failed; treated as a miss");
}

impl<K, V> fmt::Debug for TypedCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            Backend::InProcess(local) => f
                .debug_struct("TypedCache")
                .field("backend", &"in-process")
                .field("capacity", &local.capacity)
                .field("ttl", &local.ttl)
                .finish(),
            Backend::Custom(custom) => f
                .debug_struct("TypedCache")
                .field("backend", &"custom")
                .field("namespace", &custom.namespace)
                .field("ttl", &custom.ttl)
                .finish(),
        }
    }
}
