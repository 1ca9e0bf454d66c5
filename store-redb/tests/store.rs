//! Store-level behaviour beyond the conformance battery: device ids across
//! reopen, the durability opt-out, options, a file opened twice, `Debug`.

mod common;

use common::device;
use wa_core::store::{DeviceStore, SignalStore, StoreError};
use wa_store_redb::{Durability, FileInUse, RedbOptions, RedbStore};

#[test]
fn create_counts_from_rows_and_previous_ids_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.redb");
    smol::block_on(async {
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.device_id(), RedbStore::DEFAULT_DEVICE_ID);
        assert_eq!(store.create().await.unwrap(), 2);
        // Rows written under an id no `create` returned still reserve it.
        store.for_device(50).put_session("a.0", b"x").await.unwrap();
        store.for_device(-7).put_session("a.0", b"x").await.unwrap();
        assert_eq!(store.create().await.unwrap(), 51);
        assert_eq!(store.create().await.unwrap(), 52);
        assert!(
            !store.for_device(52).exists().await.unwrap(),
            "create saves no device"
        );
    });
    smol::block_on(async {
        let store = RedbStore::open(&path).unwrap();
        // The counter is in the file: 52 has no rows yet is never handed out again.
        assert_eq!(store.create().await.unwrap(), 53);
        let top = store.for_device(i32::MAX);
        top.put_session("a.0", b"x").await.unwrap();
        match store.create().await {
            Err(StoreError::InvalidInput(msg)) => assert!(msg.contains("device id"), "{msg}"),
            other => panic!("no id above i32::MAX: {other:?}"),
        }
    });
}

#[test]
fn accounts_share_the_file_but_not_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.redb");
    smol::block_on(async {
        let a = RedbStore::open(&path).unwrap();
        let b = a.for_device(a.create().await.unwrap());
        a.save(&device(1)).await.unwrap();
        b.save(&device(2)).await.unwrap();
        a.put_session("x.0", b"a").await.unwrap();
        b.put_session("x.0", b"b").await.unwrap();
        drop((a, b));
        let a = RedbStore::open(&path).unwrap();
        let b = a.for_device(2);
        assert_eq!(a.load().await.unwrap(), Some(device(1)));
        assert_eq!(b.load().await.unwrap(), Some(device(2)));
        assert_eq!(
            a.get_session("x.0").await.unwrap().as_deref(),
            Some(&b"a"[..])
        );
        assert_eq!(
            b.get_session("x.0").await.unwrap().as_deref(),
            Some(&b"b"[..])
        );
        let stats = a.stats().unwrap();
        let sessions = stats
            .tables
            .iter()
            .find(|t| t.table == "sessions_v1")
            .unwrap();
        assert_eq!(sessions.per_device.get(&1), Some(&1));
        assert_eq!(sessions.per_device.get(&2), Some(&1));
    });
}

#[test]
fn durability_none_keeps_writes_across_a_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fast.redb");
    let options = RedbOptions::builder()
        .durability(Durability::None)
        .cache_size(1 << 20)
        .build();
    smol::block_on(async {
        let store = RedbStore::open_with(&path, options.clone()).unwrap();
        for i in 0..50 {
            store
                .put_session(&format!("s{i}"), &[i as u8; 100])
                .await
                .unwrap();
        }
    });
    let store = RedbStore::open(&path).unwrap();
    smol::block_on(async {
        for i in 0..50 {
            assert_eq!(
                store
                    .get_session(&format!("s{i}"))
                    .await
                    .unwrap()
                    .as_deref(),
                Some(&[i as u8; 100][..])
            );
        }
    });
    assert!(store.check().unwrap().is_clean());
}

#[test]
fn a_file_open_twice_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.redb");
    let first = RedbStore::open(&path).unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let in_use = FileInUse::of(&err).expect("the cause says the file is in use");
    assert!(in_use.to_string().contains("in use"), "{in_use}");
    let engine = std::error::Error::source(in_use)
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(engine.to_lowercase().contains("already open"), "{engine}");
    drop(first);
    // Closed when the last handle goes: it opens again.
    drop(RedbStore::open(&path).unwrap());
}

#[test]
fn the_file_closes_after_queued_writes_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("close.redb");
    let store = RedbStore::open(&path).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                smol::block_on(async {
                    for i in 0..20 {
                        store.put_session(&format!("t{t}.{i}"), b"v").await.unwrap();
                    }
                })
            })
        })
        .collect();
    drop(store);
    for t in threads {
        t.join().unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    smol::block_on(async {
        for t in 0..8 {
            for i in 0..20 {
                assert!(store.has_session(&format!("t{t}.{i}")).await.unwrap());
            }
        }
    });
}

#[test]
fn debug_shows_the_place_not_the_data() {
    let store = RedbStore::in_memory().unwrap();
    smol::block_on(store.save(&device(0xc3))).unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("device_id: 1"), "{shown}");
    assert!(!shown.contains("c3c3"), "{shown}");
    let opts = RedbOptions::default();
    assert_eq!(opts.durability, Durability::Immediate);
    assert!(opts.verify_on_open);
}
