//! The pluggable cache backend: [`CacheStore`], its error, and the per-namespace
//! routing in [`CacheStores`].

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

/// Why a [`CacheStore`] operation failed.
///
/// A cache failure is never fatal: [`TypedCache`](super::TypedCache) logs it and
/// carries on as if the entry were missing. This type exists so a backend can say
/// what went wrong in that log line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The backend could not serve the request (connection lost, timeout, I/O, ...).
    #[error("cache backend failed: {0}")]
    Backend(Box<dyn StdError + Send + Sync>),
}

impl CacheError {
    /// Wraps a backend's own error (or a message: `&str` and `String` work too).
    ///
    /// ```
    /// use wa_core::cache::CacheError;
    ///
    /// let err = CacheError::backend("connection refused");
    /// assert_eq!(err.to_string(), "cache backend failed: connection refused");
    /// ```
    pub fn backend(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Backend(error.into())
    }
}

/// A byte-level key-value cache with namespaces, e.g. Redis or memcached shared by
/// several processes.
///
/// Keys are grouped by namespace (`"group"`, `"device_registry"`, ...; see
/// [`CacheNamespace`]); the same key string in two namespaces names two entries.
/// Values are opaque bytes (postcard, written by [`TypedCache`](super::TypedCache)).
///
/// Contract for implementors:
/// - `get` of a missing or expired entry is `Ok(None)`, not an error.
/// - `set` replaces any previous value. With `ttl: Some(d)` the entry should stop
///   being returned once `d` has passed (the store keeps its own time); with `None`
///   it lives until deleted or evicted. A cache may evict entries at any time.
/// - `delete` of a missing key and `clear` of an empty namespace succeed.
/// - `clear` removes only the given namespace.
/// - `entry_count` may be approximate (it is for diagnostics).
/// - Return [`CacheError`] only for real failures; callers treat them as misses.
///
/// # Example: a store on a `HashMap` (without TTL support)
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use wa_core::cache::{CacheError, CacheStore};
///
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<(String, String), Vec<u8>>>);
///
/// #[async_trait::async_trait]
/// impl CacheStore for MapStore {
///     async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
///         let map = self.0.lock().map_err(|_| CacheError::backend("poisoned"))?;
///         Ok(map.get(&(namespace.to_owned(), key.to_owned())).cloned())
///     }
///     async fn set(&self, namespace: &str, key: &str, value: &[u8], _ttl: Option<Duration>)
///         -> Result<(), CacheError> {
///         let mut map = self.0.lock().map_err(|_| CacheError::backend("poisoned"))?;
///         map.insert((namespace.to_owned(), key.to_owned()), value.to_vec());
///         Ok(())
///     }
///     async fn delete(&self, namespace: &str, key: &str) -> Result<(), CacheError> {
///         let mut map = self.0.lock().map_err(|_| CacheError::backend("poisoned"))?;
///         map.remove(&(namespace.to_owned(), key.to_owned()));
///         Ok(())
///     }
///     async fn clear(&self, namespace: &str) -> Result<(), CacheError> {
///         let mut map = self.0.lock().map_err(|_| CacheError::backend("poisoned"))?;
///         map.retain(|(ns, _), _| ns != namespace);
///         Ok(())
///     }
///     async fn entry_count(&self, namespace: &str) -> Result<u64, CacheError> {
///         let map = self.0.lock().map_err(|_| CacheError::backend("poisoned"))?;
///         Ok(map.keys().filter(|(ns, _)| ns == namespace).count() as u64)
///     }
/// }
///
/// smol::block_on(async {
///     let store = MapStore::default();
///     store.set("group", "123@g.us", b"meta", None).await.unwrap();
///     assert_eq!(store.get("group", "123@g.us").await.unwrap(), Some(b"meta".to_vec()));
///     assert_eq!(store.get("device_registry", "123@g.us").await.unwrap(), None);
/// });
/// ```
#[async_trait]
pub trait CacheStore: Send + Sync {
    /// The value stored under `key` in `namespace`, or `None` if there is none
    /// (never set, deleted, expired or evicted).
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, CacheError>;

    /// Stores `value` under `key` in `namespace`, replacing any previous value;
    /// `ttl` is how long it may be served (`None`: no time limit).
    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError>;

    /// Removes `key` from `namespace` (succeeds if it is absent).
    async fn delete(&self, namespace: &str, key: &str) -> Result<(), CacheError>;

    /// Removes every entry of `namespace`, and nothing else.
    async fn clear(&self, namespace: &str) -> Result<(), CacheError>;

    /// How many entries `namespace` holds (may be approximate).
    async fn entry_count(&self, namespace: &str) -> Result<u64, CacheError>;
}

/// The caches whose backend can be swapped for a [`CacheStore`].
///
/// [`CacheNamespace::as_str`] is the namespace string passed to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheNamespace {
    /// Group metadata by group JID (`"group"`).
    Group,
    /// Device lists by user JID (`"device_registry"`).
    DeviceRegistry,
    /// Phone-number JIDs by LID (`"lid_pn_by_lid"`).
    LidPnByLid,
}

impl CacheNamespace {
    /// Every namespace, in declaration order.
    pub const ALL: [CacheNamespace; 3] = [
        CacheNamespace::Group,
        CacheNamespace::DeviceRegistry,
        CacheNamespace::LidPnByLid,
    ];

    /// The namespace string given to [`CacheStore`] methods.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheNamespace::Group => "group",
            CacheNamespace::DeviceRegistry => "device_registry",
            CacheNamespace::LidPnByLid => "lid_pn_by_lid",
        }
    }
}

impl fmt::Display for CacheNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which namespaces use a custom [`CacheStore`]; `None` keeps that namespace
/// in-process (on quick_cache). The default keeps everything in-process.
///
/// ```
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use wa_core::cache::{CacheError, CacheNamespace, CacheStore, CacheStores};
/// # struct Redis;
/// # #[async_trait::async_trait]
/// # impl CacheStore for Redis {
/// #     async fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, CacheError> { Ok(None) }
/// #     async fn set(&self, _: &str, _: &str, _: &[u8], _: Option<Duration>) -> Result<(), CacheError> { Ok(()) }
/// #     async fn delete(&self, _: &str, _: &str) -> Result<(), CacheError> { Ok(()) }
/// #     async fn clear(&self, _: &str) -> Result<(), CacheError> { Ok(()) }
/// #     async fn entry_count(&self, _: &str) -> Result<u64, CacheError> { Ok(0) }
/// # }
/// let redis: Arc<dyn CacheStore> = Arc::new(Redis);
///
/// // Only group metadata on the shared store:
/// let stores = CacheStores { group: Some(redis.clone()), ..CacheStores::default() };
/// assert!(stores.get(CacheNamespace::Group).is_some());
/// assert!(stores.get(CacheNamespace::DeviceRegistry).is_none());
///
/// // Everything on the shared store:
/// let stores = CacheStores::all(redis);
/// assert!(CacheNamespace::ALL.iter().all(|ns| stores.get(*ns).is_some()));
/// ```
#[derive(Clone, Default)]
pub struct CacheStores {
    /// Backend for [`CacheNamespace::Group`].
    pub group: Option<Arc<dyn CacheStore>>,
    /// Backend for [`CacheNamespace::DeviceRegistry`].
    pub device_registry: Option<Arc<dyn CacheStore>>,
    /// Backend for [`CacheNamespace::LidPnByLid`].
    pub lid_pn_by_lid: Option<Arc<dyn CacheStore>>,
}

impl CacheStores {
    /// Routes every namespace to `store`.
    pub fn all(store: Arc<dyn CacheStore>) -> Self {
        Self {
            group: Some(store.clone()),
            device_registry: Some(store.clone()),
            lid_pn_by_lid: Some(store),
        }
    }

    /// The custom store for `namespace`, or `None` if it stays in-process.
    pub fn get(&self, namespace: CacheNamespace) -> Option<&Arc<dyn CacheStore>> {
        match namespace {
            CacheNamespace::Group => self.group.as_ref(),
            CacheNamespace::DeviceRegistry => self.device_registry.as_ref(),
            CacheNamespace::LidPnByLid => self.lid_pn_by_lid.as_ref(),
        }
    }
}

impl fmt::Debug for CacheStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind =
            |s: &Option<Arc<dyn CacheStore>>| if s.is_some() { "custom" } else { "in-process" };
        f.debug_struct("CacheStores")
            .field("group", &kind(&self.group))
            .field("device_registry", &kind(&self.device_registry))
            .field("lid_pn_by_lid", &kind(&self.lid_pn_by_lid))
            .finish()
    }
}
