//! `TypedCache` over a custom `CacheStore`: routing through `CacheStores`, the
//! key and value encodings, and failures that must read as misses.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wa_core::cache::{
    CacheConfig, CacheEntryConfig, CacheError, CacheNamespace, CacheStore, CacheStores,
    ManualClock, TypedCache,
};

/// Serialises the tests of this file. tracing caches each callsite's interest
/// process-wide; a test thread reaching a `warn!` callsite with no subscriber
/// while the logging test installs its own can leave that callsite cached as
/// "never", and the logging test then misses an event.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    let _serial = serial();
    smol::block_on(future)
}

/// One call a `TypedCache` made on its store.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Get {
        ns: String,
        key: String,
    },
    Set {
        ns: String,
        key: String,
        value: Vec<u8>,
        ttl: Option<Duration>,
    },
    Delete {
        ns: String,
        key: String,
    },
    Clear {
        ns: String,
    },
    Count {
        ns: String,
    },
}

/// A working store on a map that records every call.
#[derive(Default)]
struct RecordingStore {
    calls: Mutex<Vec<Call>>,
    map: Mutex<HashMap<(String, String), Vec<u8>>>,
}

impl RecordingStore {
    fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
    fn put_raw(&self, ns: &str, key: &str, bytes: &[u8]) {
        self.map
            .lock()
            .unwrap()
            .insert((ns.to_owned(), key.to_owned()), bytes.to_vec());
    }
    fn raw(&self, ns: &str, key: &str) -> Option<Vec<u8>> {
        self.map
            .lock()
            .unwrap()
            .get(&(ns.to_owned(), key.to_owned()))
            .cloned()
    }
    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait::async_trait]
impl CacheStore for RecordingStore {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.record(Call::Get {
            ns: ns.into(),
            key: key.into(),
        });
        Ok(self.raw(ns, key))
    }
    async fn set(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        self.record(Call::Set {
            ns: ns.into(),
            key: key.into(),
            value: value.to_vec(),
            ttl,
        });
        self.put_raw(ns, key, value);
        Ok(())
    }
    async fn delete(&self, ns: &str, key: &str) -> Result<(), CacheError> {
        self.record(Call::Delete {
            ns: ns.into(),
            key: key.into(),
        });
        self.map
            .lock()
            .unwrap()
            .remove(&(ns.to_owned(), key.to_owned()));
        Ok(())
    }
    async fn clear(&self, ns: &str) -> Result<(), CacheError> {
        self.record(Call::Clear { ns: ns.into() });
        self.map.lock().unwrap().retain(|(n, _), _| n != ns);
        Ok(())
    }
    async fn entry_count(&self, ns: &str) -> Result<u64, CacheError> {
        self.record(Call::Count { ns: ns.into() });
        Ok(self
            .map
            .lock()
            .unwrap()
            .keys()
            .filter(|(n, _)| n == ns)
            .count() as u64)
    }
}

/// A store whose every operation fails; counts the calls it refused.
#[derive(Default)]
struct FailingStore {
    calls: Mutex<usize>,
}

impl FailingStore {
    fn fail<T>(&self) -> Result<T, CacheError> {
        *self.calls.lock().unwrap() += 1;
        Err(CacheError::backend("store is down"))
    }
}

#[async_trait::async_trait]
impl CacheStore for FailingStore {
    async fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.fail()
    }
    async fn set(&self, _: &str, _: &str, _: &[u8], _: Option<Duration>) -> Result<(), CacheError> {
        self.fail()
    }
    async fn delete(&self, _: &str, _: &str) -> Result<(), CacheError> {
        self.fail()
    }
    async fn clear(&self, _: &str) -> Result<(), CacheError> {
        self.fail()
    }
    async fn entry_count(&self, _: &str) -> Result<u64, CacheError> {
        self.fail()
    }
}

/// A key whose `Display` form is what the store sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct UserJid {
    user: u64,
    server: &'static str,
}

impl fmt::Display for UserJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.server)
    }
}

fn jid(user: u64) -> UserJid {
    UserJid {
        user,
        server: "s.whatsapp.net",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Group {
    subject: String,
    size: u32,
}

fn group(subject: &str, size: u32) -> Group {
    Group {
        subject: subject.to_owned(),
        size,
    }
}

#[test]
fn cache_stores_all_routes_every_namespace_to_the_store_under_its_own_name() {
    let store = Arc::new(RecordingStore::default());
    let config = CacheConfig {
        stores: CacheStores::all(store.clone()),
        ..CacheConfig::default()
    };
    let clock = Arc::new(ManualClock::new());
    let expected_names = [
        (CacheNamespace::Group, "group"),
        (CacheNamespace::DeviceRegistry, "device_registry"),
        (CacheNamespace::LidPnByLid, "lid_pn_by_lid"),
    ];
    assert_eq!(expected_names.map(|(ns, _)| ns), CacheNamespace::ALL);

    block_on(async {
        for (namespace, name) in expected_names {
            let cache: TypedCache<UserJid, u32> =
                TypedCache::from_config(&config, namespace, clock.clone());
            assert!(cache.is_custom());
            let ttl = config.entry(namespace).ttl;

            cache.insert(jid(42), 7).await;
            assert_eq!(cache.get(&jid(42)).await, Some(7));
            assert_eq!(cache.entry_count().await, 1);
            cache.remove(&jid(42)).await;
            assert_eq!(cache.get(&jid(42)).await, None);
            cache.clear().await;

            let ns = name.to_owned();
            let key = "42@s.whatsapp.net".to_owned();
            assert_eq!(
                store.take_calls(),
                vec![
                    Call::Set {
                        ns: ns.clone(),
                        key: key.clone(),
                        value: postcard::to_stdvec(&7u32).unwrap(),
                        ttl,
                    },
                    Call::Get {
                        ns: ns.clone(),
                        key: key.clone()
                    },
                    Call::Count { ns: ns.clone() },
                    Call::Delete {
                        ns: ns.clone(),
                        key: key.clone()
                    },
                    Call::Get {
                        ns: ns.clone(),
                        key
                    },
                    Call::Clear { ns },
                ],
                "calls for {namespace}"
            );
        }
    });
}

#[test]
fn cache_namespaces_with_the_same_key_do_not_collide() {
    let store = Arc::new(RecordingStore::default());
    let config = CacheConfig {
        stores: CacheStores::all(store.clone()),
        ..CacheConfig::default()
    };
    let clock = Arc::new(ManualClock::new());
    let caches: Vec<TypedCache<UserJid, u32>> = CacheNamespace::ALL
        .iter()
        .map(|ns| TypedCache::from_config(&config, *ns, clock.clone()))
        .collect();
    block_on(async {
        for (i, cache) in caches.iter().enumerate() {
            cache.insert(jid(1), i as u32).await;
        }
        caches[0].clear().await;
        assert_eq!(caches[0].get(&jid(1)).await, None);
        assert_eq!(caches[1].get(&jid(1)).await, Some(1));
        assert_eq!(caches[2].get(&jid(1)).await, Some(2));
    });
}

#[test]
fn cache_only_the_namespaces_given_a_store_use_it() {
    let store = Arc::new(RecordingStore::default());
    let config = CacheConfig {
        stores: CacheStores {
            device_registry: Some(store.clone()),
            ..CacheStores::default()
        },
        ..CacheConfig::default()
    };
    let clock = Arc::new(ManualClock::new());
    block_on(async {
        for namespace in CacheNamespace::ALL {
            let cache: TypedCache<UserJid, u32> =
                TypedCache::from_config(&config, namespace, clock.clone());
            assert_eq!(
                cache.is_custom(),
                namespace == CacheNamespace::DeviceRegistry
            );
            cache.insert(jid(5), 5).await;
            assert_eq!(cache.get(&jid(5)).await, Some(5));
        }
    });
    let namespaces: Vec<String> = store
        .take_calls()
        .into_iter()
        .map(|call| match call {
            Call::Get { ns, .. }
            | Call::Set { ns, .. }
            | Call::Delete { ns, .. }
            | Call::Clear { ns }
            | Call::Count { ns } => ns,
        })
        .collect();
    assert_eq!(namespaces, ["device_registry", "device_registry"]);
}

#[test]
fn cache_values_are_postcard_and_the_ttl_goes_to_the_store() {
    let store = Arc::new(RecordingStore::default());
    let ttl = Some(Duration::from_secs(90));
    let cache: TypedCache<String, Group> =
        TypedCache::custom(store.clone(), "my_groups", CacheEntryConfig::new(1, ttl));
    block_on(async {
        let value = group("climbing", 12);
        cache.insert("120363@g.us".to_owned(), value.clone()).await;
        assert_eq!(
            store.raw("my_groups", "120363@g.us"),
            Some(postcard::to_stdvec(&value).unwrap())
        );
        assert!(matches!(&store.take_calls()[..], [Call::Set { ttl: t, .. }] if *t == ttl));

        // Capacity is the store's business: a capacity of 1 does not evict here.
        cache.insert("other@g.us".to_owned(), group("b", 2)).await;
        assert_eq!(cache.get(&"120363@g.us".to_owned()).await, Some(value));
        assert_eq!(cache.entry_count().await, 2);
    });
}

#[test]
fn cache_bytes_that_are_not_a_value_are_a_miss() {
    let store = Arc::new(RecordingStore::default());
    let cache: TypedCache<String, Group> =
        TypedCache::custom(store.clone(), "group", CacheEntryConfig::new(10, None));
    let valid = postcard::to_stdvec(&group("ok", 1)).unwrap();
    let mut trailing = valid.clone();
    trailing.push(0);
    let cases: [(&str, Vec<u8>); 5] = [
        ("empty", vec![]),
        ("overlong varint", vec![0xff; 12]),
        ("length past the end", vec![200, b'a', b'b']),
        ("truncated", valid[..valid.len() - 1].to_vec()),
        ("trailing byte", trailing),
    ];
    block_on(async {
        for (name, bytes) in cases {
            store.put_raw("group", name, &bytes);
            assert_eq!(cache.get(&name.to_owned()).await, None, "{name}");
        }
        // The same store serves good bytes fine.
        store.put_raw("group", "good", &valid);
        assert_eq!(cache.get(&"good".to_owned()).await, Some(group("ok", 1)));
    });
}

#[test]
fn cache_a_failing_store_reads_as_misses_and_never_errors() {
    let store = Arc::new(FailingStore::default());
    let cache: TypedCache<UserJid, Group> = TypedCache::from_config(
        &CacheConfig {
            stores: CacheStores::all(store.clone()),
            ..CacheConfig::default()
        },
        CacheNamespace::Group,
        Arc::new(ManualClock::new()),
    );
    block_on(async {
        assert_eq!(cache.get(&jid(1)).await, None);
        cache.insert(jid(1), group("g", 1)).await; // set fails, then the fallback delete fails
        assert_eq!(cache.get(&jid(1)).await, None);
        cache.remove(&jid(1)).await;
        cache.clear().await;
        assert_eq!(cache.entry_count().await, 0);
    });
    // get, set + delete, get, delete, clear, entry_count: every call reached the store.
    assert_eq!(*store.calls.lock().unwrap(), 7);
}

/// A value postcard cannot encode.
#[derive(Debug, Clone, Deserialize)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("cannot encode"))
    }
}

#[test]
fn cache_a_failed_insert_does_not_leave_the_old_value_behind() {
    /// Accepts everything but refuses writes.
    #[derive(Default)]
    struct ReadOnly(RecordingStore);

    #[async_trait::async_trait]
    impl CacheStore for ReadOnly {
        async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
            self.0.get(ns, key).await
        }
        async fn set(
            &self,
            _: &str,
            _: &str,
            _: &[u8],
            _: Option<Duration>,
        ) -> Result<(), CacheError> {
            Err(CacheError::backend("value too large"))
        }
        async fn delete(&self, ns: &str, key: &str) -> Result<(), CacheError> {
            self.0.delete(ns, key).await
        }
        async fn clear(&self, ns: &str) -> Result<(), CacheError> {
            self.0.clear(ns).await
        }
        async fn entry_count(&self, ns: &str) -> Result<u64, CacheError> {
            self.0.entry_count(ns).await
        }
    }

    block_on(async {
        // The store refuses the write: the stale value is deleted.
        let store = Arc::new(ReadOnly::default());
        store.0.put_raw(
            "group",
            "k",
            &postcard::to_stdvec(&group("old", 1)).unwrap(),
        );
        let cache: TypedCache<String, Group> =
            TypedCache::custom(store.clone(), "group", CacheEntryConfig::new(10, None));
        assert_eq!(cache.get(&"k".to_owned()).await, Some(group("old", 1)));
        cache.insert("k".to_owned(), group("new", 2)).await;
        assert_eq!(cache.get(&"k".to_owned()).await, None);

        // The value does not encode: nothing is written and the stale value is deleted.
        let store = Arc::new(RecordingStore::default());
        store.put_raw("ns", "k", b"old bytes");
        let cache: TypedCache<String, Unencodable> =
            TypedCache::custom(store.clone(), "ns", CacheEntryConfig::new(10, None));
        cache.insert("k".to_owned(), Unencodable).await;
        assert_eq!(
            store.take_calls(),
            vec![Call::Delete {
                ns: "ns".into(),
                key: "k".into()
            }]
        );
        assert_eq!(store.raw("ns", "k"), None);
    });
}

/// A tracing subscriber that keeps every event as text.
#[derive(Clone, Default)]
struct CaptureLogs(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for CaptureLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn cache_failures_are_logged_as_warnings_without_keys_or_values() {
    const KEY: u64 = 15551234567;
    const SUBJECT: &str = "private subject";
    let logs = CaptureLogs::default();
    let _serial = serial();
    tracing::subscriber::with_default(logs.clone(), || {
        smol::block_on(async {
            let failing: TypedCache<UserJid, Group> = TypedCache::custom(
                Arc::new(FailingStore::default()),
                "group",
                CacheEntryConfig::new(10, None),
            );
            failing.insert(jid(KEY), group(SUBJECT, 3)).await;
            assert_eq!(failing.get(&jid(KEY)).await, None);

            let garbage = Arc::new(RecordingStore::default());
            let mut bytes = postcard::to_stdvec(&group(SUBJECT, 3)).unwrap();
            bytes.push(1); // trailing byte: not a Group
            garbage.put_raw("device_registry", &jid(KEY).to_string(), &bytes);
            let cache: TypedCache<UserJid, Group> =
                TypedCache::custom(garbage, "device_registry", CacheEntryConfig::new(10, None));
            assert_eq!(cache.get(&jid(KEY)).await, None);
        })
    });
    let logs = logs.0.lock().unwrap().clone();
    // set, the fallback delete, get, then the decode failure.
    assert_eq!(logs.len(), 4, "{logs:#?}");
    assert!(
        logs.iter().all(|line| line.starts_with("WARN")),
        "{logs:#?}"
    );
    for (line, op) in logs[..3].iter().zip(["set", "delete", "get"]) {
        assert!(line.contains("namespace=\"group\""), "{line}");
        assert!(line.contains(&format!("op=\"{op}\"")), "{line}");
        assert!(line.contains("store is down"), "{line}");
    }
    assert!(
        logs[3].contains("namespace=\"device_registry\""),
        "{}",
        logs[3]
    );
    for line in &logs {
        assert!(!line.contains(&KEY.to_string()), "key logged: {line}");
        assert!(!line.contains(SUBJECT), "value logged: {line}");
    }
}
