//! `MemoryStore` behaviour the conformance battery does not cover: handles and
//! device ids, snapshots, real-thread concurrency, `Debug`, and model-based
//! property tests of the prekey and session tables.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use wa_core::store::{Backend, DeviceStore, MemoryStore, ProtocolStore, SignalStore};
use wa_core::testing::patterned_device as device;

#[test]
fn handles_for_one_id_share_rows_and_clones_are_the_same_handle() {
    smol::block_on(async {
        let root = MemoryStore::new();
        assert_eq!(root.device_id(), MemoryStore::DEFAULT_DEVICE_ID);
        let five = root.for_device(5);
        five.put_session("x.0", b"five").await.unwrap();
        let five_again = MemoryStore::new().for_device(5);
        assert_eq!(
            five_again.get_session("x.0").await.unwrap(),
            None,
            "a new store is separate storage"
        );
        let five_again = root.for_device(1).for_device(5);
        assert_eq!(
            five_again.get_session("x.0").await.unwrap().as_deref(),
            Some(&b"five"[..])
        );
        let clone = root.clone();
        clone.put_session("y.0", b"root").await.unwrap();
        assert_eq!(
            root.get_session("y.0").await.unwrap().as_deref(),
            Some(&b"root"[..])
        );
        assert_eq!(five.get_session("y.0").await.unwrap(), None);
    });
}

#[test]
fn create_picks_ids_above_every_id_in_use_and_never_repeats() {
    smol::block_on(async {
        let root = MemoryStore::new();
        assert_eq!(
            root.create().await.unwrap(),
            2,
            "the default handle holds id 1"
        );
        let _seven = root.for_device(7);
        assert_eq!(
            root.create().await.unwrap(),
            8,
            "ids with handles are skipped"
        );
        let other_handle = root.for_device(8);
        assert_eq!(
            other_handle.create().await.unwrap(),
            9,
            "every handle draws from one counter"
        );
        assert!(
            !other_handle.exists().await.unwrap(),
            "create saves no device"
        );
        let negative = root.for_device(-4);
        assert_eq!(negative.create().await.unwrap(), 10);
    });
}

#[test]
fn snapshots_keep_the_state_at_the_time_and_the_extra_blob() {
    smol::block_on(async {
        let a = MemoryStore::new();
        let b = a.for_device(2);
        a.save(&device(1)).await.unwrap();
        a.put_session("s.0", b"before").await.unwrap();
        b.store_sent_message("c", "m", b"b-payload", 5)
            .await
            .unwrap();
        a.snapshot_db("first", Some(b"why")).await.unwrap();
        a.snapshot_db("bare", None).await.unwrap();

        // Later writes do not reach the snapshot.
        a.put_session("s.0", b"after").await.unwrap();
        a.save(&device(2)).await.unwrap();
        assert!(b.take_sent_message("c", "m").await.unwrap().is_some());

        assert_eq!(a.snapshot_names(), ["bare", "first"]);
        assert_eq!(a.snapshot_extra("first"), Some(Some(b"why".to_vec())));
        assert_eq!(a.snapshot_extra("bare"), Some(None));
        assert_eq!(a.snapshot_extra("nope"), None);
        assert_eq!(
            b.snapshot_names(),
            a.snapshot_names(),
            "snapshots belong to the storage, not a handle"
        );

        let old_a = a.open_snapshot("first").unwrap();
        assert_eq!(old_a.device_id(), a.device_id());
        assert_eq!(
            old_a.get_session("s.0").await.unwrap().as_deref(),
            Some(&b"before"[..])
        );
        assert_eq!(old_a.load().await.unwrap(), Some(device(1)));
        let old_b = b.open_snapshot("first").unwrap();
        assert_eq!(
            old_b.take_sent_message("c", "m").await.unwrap().as_deref(),
            Some(&b"b-payload"[..]),
            "the snapshot holds every device id"
        );

        // The opened copy is independent of the live store and of the snapshot.
        old_a.put_session("s.0", b"edited copy").await.unwrap();
        assert_eq!(
            a.get_session("s.0").await.unwrap().as_deref(),
            Some(&b"after"[..])
        );
        let again = a.open_snapshot("first").unwrap();
        assert_eq!(
            again.get_session("s.0").await.unwrap().as_deref(),
            Some(&b"before"[..])
        );
        assert!(
            old_a.snapshot_names().is_empty(),
            "an opened copy starts without snapshots"
        );

        // Same name replaces; delete forgets.
        a.snapshot_db("first", Some(b"second take")).await.unwrap();
        assert_eq!(
            a.snapshot_extra("first"),
            Some(Some(b"second take".to_vec()))
        );
        let replaced = a.open_snapshot("first").unwrap();
        assert_eq!(
            replaced.get_session("s.0").await.unwrap().as_deref(),
            Some(&b"after"[..])
        );
        assert!(a.delete_snapshot("first"));
        assert!(!a.delete_snapshot("first"));
        assert!(a.open_snapshot("first").is_none());
    });
}

#[test]
fn debug_shows_no_stored_data() {
    smol::block_on(async {
        let s = MemoryStore::new();
        s.put_session("secret-address.0", b"secret-session")
            .await
            .unwrap();
        s.save(&device(0xab)).await.unwrap();
        let shown = format!("{s:?}");
        assert!(shown.contains("device_id: 1"), "{shown}");
        assert!(shown.contains("device_saved: true"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    });
}

#[test]
fn usable_as_a_shared_dyn_backend() {
    smol::block_on(async {
        let backend: Arc<dyn Backend> = Arc::new(MemoryStore::new());
        backend.save(&device(3)).await.unwrap();
        assert!(backend.exists().await.unwrap());
        assert_eq!(backend.load().await.unwrap().unwrap().push_name, "device 3");
        backend.put_identity("a.0", [1; 32]).await.unwrap();
        assert_eq!(backend.load_identity("a.0").await.unwrap(), Some([1; 32]));
    });
}

/// 16 OS threads race to take the same message: exactly one wins, in every round.
#[test]
fn take_sent_message_is_atomic_across_threads() {
    let store = MemoryStore::new();
    for round in 0..50 {
        let id = format!("m{round}");
        smol::block_on(store.store_sent_message("chat", &id, b"p", 0)).unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (store, id, barrier) = (store.clone(), id.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    smol::block_on(store.take_sent_message("chat", &id)).unwrap()
                })
            })
            .collect();
        let winners = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .count();
        assert_eq!(winners, 1, "round {round}");
    }
}

/// Writers replace whole values; a reader on another thread only ever sees a
/// value some writer wrote, and every batch lands whole.
#[test]
fn concurrent_threads_never_see_torn_values_or_half_batches() {
    let store = MemoryStore::new();
    let values: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 1000 + usize::from(i)]).collect();
    std::thread::scope(|scope| {
        for (i, v) in values.iter().enumerate() {
            let store = store.clone();
            scope.spawn(move || {
                for n in 0..200u32 {
                    smol::block_on(store.put_session("hot.0", v)).unwrap();
                    // A batch of two rows that must always agree with each other.
                    let tag = Bytes::from(format!("{i}-{n}"));
                    let batch = [
                        (Arc::from("pair.1"), tag.clone()),
                        (Arc::from("pair.2"), tag),
                    ];
                    smol::block_on(store.put_sessions_batch(&batch)).unwrap();
                }
            });
        }
        let store = store.clone();
        let values = &values;
        scope.spawn(move || {
            for _ in 0..2000 {
                if let Some(got) = smol::block_on(store.get_session("hot.0")).unwrap() {
                    assert!(
                        values.iter().any(|v| v.as_slice() == got.as_ref()),
                        "torn value"
                    );
                }
            }
        });
    });
    let one = smol::block_on(store.get_session("pair.1")).unwrap();
    let two = smol::block_on(store.get_session("pair.2")).unwrap();
    assert_eq!(one, two, "the last batch landed whole");
}

#[derive(Debug, Clone)]
enum PrekeyOp {
    Store(u32, u8, bool),
    StoreBatch(Vec<u32>, u8, bool),
    Remove(u32),
    Mark(Vec<u32>),
}

fn prekey_op() -> impl Strategy<Value = PrekeyOp> {
    let id = 0u32..24;
    prop_oneof![
        (id.clone(), any::<u8>(), any::<bool>()).prop_map(|(i, b, u)| PrekeyOp::Store(i, b, u)),
        (
            prop::collection::vec(id.clone(), 0..6),
            any::<u8>(),
            any::<bool>()
        )
            .prop_map(|(ids, b, u)| PrekeyOp::StoreBatch(ids, b, u)),
        id.clone().prop_map(PrekeyOp::Remove),
        prop::collection::vec(id, 0..6).prop_map(PrekeyOp::Mark),
    ]
}

#[derive(Debug, Clone)]
enum SessionOp {
    Put(u8, u8),
    Delete(u8),
    Batch(Vec<(u8, u8)>),
}

fn session_op() -> impl Strategy<Value = SessionOp> {
    let addr = 0u8..12;
    prop_oneof![
        (addr.clone(), any::<u8>()).prop_map(|(a, v)| SessionOp::Put(a, v)),
        addr.clone().prop_map(SessionOp::Delete),
        prop::collection::vec((addr, any::<u8>()), 0..6).prop_map(SessionOp::Batch),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5707e), ..ProptestConfig::default() })]

    /// The prekey table behaves like a map of id -> (record, uploaded) in which
    /// marking never inserts.
    #[test]
    fn prekeys_match_a_map_model(ops in prop::collection::vec(prekey_op(), 1..40)) {
        smol::block_on(async {
            let store = MemoryStore::new();
            let mut model: BTreeMap<u32, (Vec<u8>, bool)> = BTreeMap::new();
            for op in &ops {
                match op {
                    PrekeyOp::Store(id, b, up) => {
                        store.store_prekey(*id, &[*b], *up).await.unwrap();
                        model.insert(*id, (vec![*b], *up));
                    }
                    PrekeyOp::StoreBatch(ids, b, up) => {
                        let keys: Vec<(u32, Bytes)> = ids.iter().map(|id| (*id, Bytes::from(vec![*b, 1]))).collect();
                        store.store_prekeys_batch(&keys, *up).await.unwrap();
                        for id in ids {
                            model.insert(*id, (vec![*b, 1], *up));
                        }
                    }
                    PrekeyOp::Remove(id) => {
                        store.remove_prekey(*id).await.unwrap();
                        model.remove(id);
                    }
                    PrekeyOp::Mark(ids) => {
                        store.mark_prekeys_uploaded(ids).await.unwrap();
                        for id in ids {
                            if let Some((_, up)) = model.get_mut(id) {
                                *up = true;
                            }
                        }
                    }
                }
                for id in 0u32..24 {
                    let want = model.get(&id);
                    assert_eq!(store.load_prekey(id).await.unwrap().map(|b| b.to_vec()), want.map(|(r, _)| r.clone()), "after {op:?}");
                    assert_eq!(store.is_prekey_uploaded(id).await.unwrap(), want.map(|(_, u)| *u), "after {op:?}");
                }
                assert_eq!(store.get_max_prekey_id().await.unwrap(), model.keys().next_back().copied().unwrap_or(0));
                let all: Vec<u32> = (0..24).collect();
                let batch: Vec<u32> = store.load_prekeys_batch(&all).await.unwrap().into_iter().map(|(id, _)| id).collect();
                assert_eq!(batch, model.keys().copied().collect::<Vec<_>>());
            }
        });
    }

    /// The session table behaves like a map; a batch equals its puts in order.
    #[test]
    fn sessions_match_a_map_model(ops in prop::collection::vec(session_op(), 1..40)) {
        smol::block_on(async {
            let store = MemoryStore::new();
            let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            let name = |a: u8| format!("55119876500{a:02}.{}", a % 2);
            for op in &ops {
                match op {
                    SessionOp::Put(a, v) => {
                        store.put_session(&name(*a), &[*v]).await.unwrap();
                        model.insert(name(*a), vec![*v]);
                    }
                    SessionOp::Delete(a) => {
                        store.delete_session(&name(*a)).await.unwrap();
                        model.remove(&name(*a));
                    }
                    SessionOp::Batch(entries) => {
                        let batch: Vec<(Arc<str>, Bytes)> = entries.iter().map(|(a, v)| (Arc::from(name(*a)), Bytes::from(vec![*v, 2]))).collect();
                        store.put_sessions_batch(&batch).await.unwrap();
                        for (a, v) in entries {
                            model.insert(name(*a), vec![*v, 2]);
                        }
                    }
                }
                for a in 0u8..12 {
                    assert_eq!(store.get_session(&name(a)).await.unwrap().map(|b| b.to_vec()), model.get(&name(a)).cloned(), "after {op:?}");
                    assert_eq!(store.has_session(&name(a)).await.unwrap(), model.contains_key(&name(a)));
                }
            }
        });
    }
}
