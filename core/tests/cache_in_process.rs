//! The in-process `TypedCache`: capacity eviction on quick_cache and TTL on an
//! injected clock. Time is virtual (`ManualClock` or a hand-driven closure), so
//! nothing here sleeps or depends on the machine's speed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use wa_core::cache::{
    CacheConfig, CacheEntryConfig, CacheNamespace, Clock, ManualClock, TypedCache,
};

const SECOND: Duration = Duration::from_secs(1);
const NANO: Duration = Duration::from_nanos(1);

fn block_on<T>(future: impl Future<Output = T>) -> T {
    smol::block_on(future)
}

/// A cache without TTL, whose clock must not matter.
fn no_ttl_cache<V>(capacity: u64) -> TypedCache<u64, V>
where
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    TypedCache::in_process(
        CacheEntryConfig::new(capacity, None),
        Arc::new(ManualClock::new()),
    )
}

#[test]
fn a_cache_fed_ten_times_its_capacity_holds_at_most_its_capacity() {
    // quick_cache splits the capacity over a power-of-two number of shards (at
    // most capacity / 32 of them), rounding each share up; with a power-of-two
    // capacity the shares add up to exactly the capacity, on any core count.
    const CAPACITY: u64 = 1024;
    let cache = no_ttl_cache::<u64>(CAPACITY);
    block_on(async {
        for key in 0..10 * CAPACITY {
            cache.insert(key, key * 3).await;
        }
        let count = cache.entry_count().await;
        assert!(
            count <= CAPACITY,
            "{count} entries in a cache of {CAPACITY}"
        );
        // quick_cache only evicts to make room, so the cache is (nearly) full; half is
        // a loose floor that still fails a cache that throws everything away.
        assert!(count >= CAPACITY / 2, "only {count} entries kept");

        // Whatever survived is intact, and the hits agree with the count.
        let mut hits = 0;
        for key in 0..10 * CAPACITY {
            if let Some(value) = cache.get(&key).await {
                assert_eq!(value, key * 3);
                hits += 1;
            }
        }
        assert_eq!(hits, count);
    });
}

#[test]
fn an_entry_read_throughout_a_long_scan_stays_cached() {
    // quick_cache documents its policy as scan resistant (CLOCK-Pro / S3-FIFO
    // like): an entry that keeps being read is not pushed out by a stream of
    // keys seen once. It is NOT an LRU: which once-seen keys survive is not
    // promised (the earliest ones tend to, and a just-inserted key can be the
    // next one evicted), so this test checks only the frequently read keys.
    const CAPACITY: u64 = 256;
    let cache = no_ttl_cache::<u64>(CAPACITY);
    let hot_keys = [u64::MAX, u64::MAX - 1, u64::MAX - 2];
    block_on(async {
        // Fill the cache first so the hot keys arrive when eviction is under way.
        for key in 0..CAPACITY * 2 {
            cache.insert(key, 0).await;
        }
        // A new entry waits in a small probation queue (3% of a shard by default)
        // and goes first unless it is read before the queue moves on; so each hot
        // key is read right after its insert, as it is after every later insert.
        for (i, hot) in hot_keys.iter().enumerate() {
            cache.insert(*hot, i as u64).await;
            assert_eq!(cache.get(hot).await, Some(i as u64));
        }
        for key in CAPACITY * 2..CAPACITY * 40 {
            cache.insert(key, 0).await;
            for (i, hot) in hot_keys.iter().enumerate() {
                assert_eq!(
                    cache.get(hot).await,
                    Some(i as u64),
                    "hot key {hot} evicted after inserting key {key}"
                );
            }
        }
        assert!(cache.entry_count().await <= CAPACITY);
    });
}

#[test]
fn zero_capacity_caches_nothing() {
    let cache = no_ttl_cache::<u64>(0);
    block_on(async {
        cache.insert(1, 1).await;
        assert_eq!(cache.get(&1).await, None);
        assert_eq!(cache.entry_count().await, 0);
    });
}

#[test]
fn cache_ttl_boundary_hit_one_nanosecond_before_miss_at_and_after() {
    let clock = Arc::new(ManualClock::starting_at(Duration::from_secs(1_000)));
    let ttl = 10 * SECOND;
    let cache: TypedCache<u64, String> =
        TypedCache::in_process(CacheEntryConfig::new(64, Some(ttl)), clock.clone());
    block_on(async {
        cache.insert(1, "one".to_owned()).await;
        cache.insert(2, "two".to_owned()).await;

        clock.advance(ttl - NANO);
        assert_eq!(cache.get(&1).await.as_deref(), Some("one"));
        assert_eq!(cache.entry_count().await, 2);

        clock.advance(NANO); // exactly insertion + ttl
        assert_eq!(cache.get(&1).await, None);

        clock.advance(SECOND); // and later still
        assert_eq!(cache.get(&2).await, None);
        assert_eq!(cache.entry_count().await, 0);
    });
}

#[test]
fn cache_ttl_counts_from_each_entrys_own_insertion() {
    let clock = Arc::new(ManualClock::new());
    let cache: TypedCache<&'static str, u32> =
        TypedCache::in_process(CacheEntryConfig::new(64, Some(10 * SECOND)), clock.clone());
    block_on(async {
        cache.insert("early", 1).await;
        clock.advance(6 * SECOND);
        cache.insert("late", 2).await;
        clock.advance(4 * SECOND); // early: 10 s old, late: 4 s old
        assert_eq!(cache.get(&"early").await, None);
        assert_eq!(cache.get(&"late").await, Some(2));
        assert_eq!(cache.entry_count().await, 1);

        // Re-inserting restarts the clock for that entry.
        cache.insert("late", 3).await;
        clock.advance(9 * SECOND); // 13 s after the first insert of "late"
        assert_eq!(cache.get(&"late").await, Some(3));
        clock.advance(SECOND);
        assert_eq!(cache.get(&"late").await, None);
    });
}

#[test]
fn zero_ttl_caches_nothing() {
    let cache: TypedCache<u64, u64> = TypedCache::in_process(
        CacheEntryConfig::new(64, Some(Duration::ZERO)),
        Arc::new(ManualClock::new()),
    );
    block_on(async {
        cache.insert(1, 1).await;
        assert_eq!(cache.get(&1).await, None);
    });
}

#[test]
fn cache_without_ttl_entries_never_expire() {
    let clock = Arc::new(ManualClock::new());
    let cache: TypedCache<u64, u64> =
        TypedCache::in_process(CacheEntryConfig::new(64, None), clock.clone());
    block_on(async {
        cache.insert(1, 10).await;
        clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
        assert_eq!(cache.get(&1).await, Some(10));
        assert_eq!(cache.entry_count().await, 1);
    });
}

/// A clock the test can move in both directions.
fn settable_clock() -> (Arc<AtomicU64>, Arc<dyn Clock>) {
    let nanos = Arc::new(AtomicU64::new(0));
    let reader = nanos.clone();
    let clock: Arc<dyn Clock> =
        Arc::new(move || Duration::from_nanos(reader.load(Ordering::SeqCst)));
    (nanos, clock)
}

#[test]
fn cache_an_expired_entry_is_removed_when_read() {
    // Seen through a clock that steps back: had the expired entry merely been
    // hidden, it would be young again at the earlier time.
    let (nanos, clock) = settable_clock();
    let cache: TypedCache<u64, u64> =
        TypedCache::in_process(CacheEntryConfig::new(64, Some(10 * SECOND)), clock);
    block_on(async {
        cache.insert(1, 1).await;
        nanos.store((10 * SECOND).as_nanos() as u64, Ordering::SeqCst);
        assert_eq!(cache.get(&1).await, None);
        nanos.store((5 * SECOND).as_nanos() as u64, Ordering::SeqCst);
        assert_eq!(cache.get(&1).await, None);
    });
}

#[test]
fn cache_a_clock_going_backwards_makes_entries_younger_not_a_panic() {
    let (nanos, clock) = settable_clock();
    nanos.store((100 * SECOND).as_nanos() as u64, Ordering::SeqCst);
    let cache: TypedCache<u64, u64> =
        TypedCache::in_process(CacheEntryConfig::new(64, Some(10 * SECOND)), clock);
    block_on(async {
        cache.insert(1, 1).await;
        nanos.store(0, Ordering::SeqCst); // before the insertion
        assert_eq!(cache.get(&1).await, Some(1));
        assert_eq!(cache.entry_count().await, 1);
        nanos.store((110 * SECOND).as_nanos() as u64, Ordering::SeqCst);
        assert_eq!(cache.get(&1).await, None);
    });
}

#[test]
fn cache_remove_and_clear() {
    let cache = no_ttl_cache::<String>(64);
    block_on(async {
        for key in 0..10 {
            cache.insert(key, key.to_string()).await;
        }
        cache.remove(&3).await;
        cache.remove(&99).await; // absent: nothing happens
        assert_eq!(cache.get(&3).await, None);
        assert_eq!(cache.get(&4).await.as_deref(), Some("4"));
        assert_eq!(cache.entry_count().await, 9);
        cache.clear().await;
        assert_eq!(cache.entry_count().await, 0);
        assert_eq!(cache.get(&4).await, None);
    });
}

#[test]
fn default_config_builds_in_process_caches_with_the_documented_limits() {
    let config = CacheConfig::default();
    let ttl = Some(Duration::from_secs(3600));
    assert_eq!(config.group, CacheEntryConfig::new(1_000, ttl));
    assert_eq!(config.device_registry, CacheEntryConfig::new(5_000, ttl));
    assert_eq!(config.lid_pn_by_lid, CacheEntryConfig::new(10_000, None));

    let clock = Arc::new(ManualClock::new());
    for namespace in CacheNamespace::ALL {
        let cache: TypedCache<String, u8> =
            TypedCache::from_config(&config, namespace, clock.clone());
        assert!(
            !cache.is_custom(),
            "{namespace} should be in-process by default"
        );
    }

    // The group cache really uses the 1 h TTL from the config.
    let groups: TypedCache<String, u8> =
        TypedCache::from_config(&config, CacheNamespace::Group, clock.clone());
    block_on(async {
        groups.insert("g".to_owned(), 1).await;
        clock.advance(Duration::from_secs(3600) - NANO);
        assert_eq!(groups.get(&"g".to_owned()).await, Some(1));
        clock.advance(NANO);
        assert_eq!(groups.get(&"g".to_owned()).await, None);
    });
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, u32),
    Get(u8),
    Remove(u8),
    Advance(u64),
    Clear,
    Count,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..16, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        4 => (0u8..16).prop_map(Op::Get),
        1 => (0u8..16).prop_map(Op::Remove),
        3 => (0u64..8).prop_map(Op::Advance),
        1 => Just(Op::Clear),
        1 => Just(Op::Count),
    ]
}

#[test]
fn cache_matches_a_map_model_while_under_capacity() {
    // 16 keys in a cache of 4096 never trigger eviction, so the cache must agree
    // exactly with a map that applies the TTL rule (live while age < ttl).
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = (
        prop_oneof![Just(None), (0u64..10).prop_map(Some)],
        proptest::collection::vec(op(), 1..200),
    );
    runner
        .run(&strategy, |(ttl_secs, ops)| {
            let ttl = ttl_secs.map(Duration::from_secs);
            let clock = Arc::new(ManualClock::new());
            let cache: TypedCache<u8, u32> =
                TypedCache::in_process(CacheEntryConfig::new(4096, ttl), clock.clone());
            let mut model: BTreeMap<u8, (u32, Duration)> = BTreeMap::new();
            let live =
                |inserted: Duration, now: Duration| ttl.is_none_or(|ttl| now - inserted < ttl);
            block_on(async {
                for op in ops {
                    let now = clock.now();
                    match op {
                        Op::Insert(k, v) => {
                            cache.insert(k, v).await;
                            model.insert(k, (v, now));
                        }
                        Op::Get(k) => {
                            let expected = model
                                .get(&k)
                                .filter(|(_, at)| live(*at, now))
                                .map(|(v, _)| *v);
                            prop_assert_eq!(cache.get(&k).await, expected);
                        }
                        Op::Remove(k) => {
                            cache.remove(&k).await;
                            model.remove(&k);
                        }
                        Op::Advance(secs) => clock.advance(Duration::from_secs(secs)),
                        Op::Clear => {
                            cache.clear().await;
                            model.clear();
                        }
                        Op::Count => {
                            let expected =
                                model.values().filter(|(_, at)| live(*at, now)).count() as u64;
                            prop_assert_eq!(cache.entry_count().await, expected);
                        }
                    }
                }
                Ok(())
            })
        })
        .unwrap();
}
