//! `snapshot_db`: a consistent copy of the whole database beside the file,
//! usable as an ordinary store file; in-memory stores keep theirs in memory.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use common::{device, pattern};
use wa_core::store::{DeviceStore, SignalStore};
use wa_store_redb::RedbStore;

#[test]
fn file_snapshots_open_as_stores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.redb");
    let store = RedbStore::open(&path).unwrap();
    smol::block_on(async {
        store.save(&device(1)).await.unwrap();
        store.put_session("a.0", b"before").await.unwrap();
        let second = store.for_device(store.create().await.unwrap());
        second.put_session("b.0", b"second account").await.unwrap();

        store
            .snapshot_db("before upgrade", Some(b"the input that failed"))
            .await
            .unwrap();
        store.put_session("a.0", b"after").await.unwrap();
        store.put_session("c.0", b"only live").await.unwrap();

        let snap_path = store.snapshot_path("before upgrade").unwrap();
        assert_eq!(snap_path.parent(), store.snapshot_dir().as_deref());
        assert_eq!(
            snap_path.file_name().unwrap().to_str(),
            Some("before%20upgrade.redb")
        );
        assert!(snap_path.starts_with(dir.path()), "beside the file");
        assert_eq!(
            std::fs::read(snap_path.with_extension("extra")).unwrap(),
            b"the input that failed"
        );
        assert_eq!(
            store.snapshot_extra("before upgrade").unwrap(),
            Some(Some(b"the input that failed".to_vec()))
        );
        assert_eq!(store.snapshot_extra("no such snapshot").unwrap(), None);

        // An ordinary store file, opened while the live store is open.
        let snap = RedbStore::open(&snap_path).unwrap();
        assert_eq!(snap.load().await.unwrap(), Some(device(1)));
        assert_eq!(
            snap.get_session("a.0").await.unwrap().as_deref(),
            Some(&b"before"[..])
        );
        assert_eq!(snap.get_session("c.0").await.unwrap(), None);
        assert_eq!(
            snap.for_device(second.device_id())
                .get_session("b.0")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"second account"[..])
        );
        assert!(snap.check().unwrap().is_clean());
        // The snapshot carries the device-id counter too.
        assert_eq!(snap.create().await.unwrap(), second.device_id() + 1);
        drop(snap);

        // Same name again, without a blob: replaced, and the old blob removed.
        store.snapshot_db("before upgrade", None).await.unwrap();
        assert_eq!(store.snapshot_extra("before upgrade").unwrap(), Some(None));
        let snap = store.open_snapshot("before upgrade").unwrap().unwrap();
        assert_eq!(
            snap.get_session("a.0").await.unwrap().as_deref(),
            Some(&b"after"[..])
        );
        drop(snap);

        // Unicode and empty names map to distinct files.
        store.snapshot_db("ünïcödé name", Some(b"")).await.unwrap();
        store.snapshot_db("", None).await.unwrap();
        for name in ["ünïcödé name", ""] {
            let s = store.open_snapshot(name).unwrap().expect(name);
            assert_eq!(
                s.get_session("c.0").await.unwrap().as_deref(),
                Some(&b"only live"[..])
            );
        }
        assert_eq!(
            store.snapshot_extra("ünïcödé name").unwrap(),
            Some(Some(vec![]))
        );
        assert!(store.open_snapshot("missing").unwrap().is_none());
        // The live store is untouched.
        assert_eq!(
            store.get_session("a.0").await.unwrap().as_deref(),
            Some(&b"after"[..])
        );
    });
}

/// Snapshots taken while another thread commits 812-prekey batches contain
/// whole batches only.
#[test]
fn snapshots_are_consistent_under_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("busy.redb")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = store.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            smol::block_on(async {
                let mut batch = 0u32;
                while !stop.load(Ordering::Acquire) && batch < 200 {
                    let keys: Vec<(u32, Bytes)> = (0..812)
                        .map(|j| (batch * 1000 + j, Bytes::from(pattern(u64::from(j), 100))))
                        .collect();
                    store.store_prekeys_batch(&keys, false).await.unwrap();
                    batch += 1;
                }
                batch
            })
        })
    };
    smol::block_on(async {
        for i in 0..6 {
            let name = format!("busy-{i}");
            store.snapshot_db(&name, None).await.unwrap();
            let snap = store.open_snapshot(&name).unwrap().unwrap();
            let stats = snap.stats().unwrap();
            let rows = stats
                .tables
                .iter()
                .find(|t| t.table == "prekeys_v1")
                .unwrap()
                .rows;
            assert_eq!(rows % 812, 0, "snapshot {i} holds {rows} prekey rows");
            assert!(snap.check().unwrap().is_clean());
        }
    });
    stop.store(true, Ordering::Release);
    assert!(writer.join().unwrap() > 0);
}

#[test]
fn in_memory_snapshots() {
    let store = RedbStore::in_memory().unwrap();
    assert!(store.path().is_none() && store.snapshot_path("x").is_none());
    smol::block_on(async {
        store.put_session("a.0", b"one").await.unwrap();
        store.snapshot_db("s", Some(b"blob")).await.unwrap();
        store.put_session("a.0", b"two").await.unwrap();
        assert_eq!(
            store.snapshot_extra("s").unwrap(),
            Some(Some(b"blob".to_vec()))
        );
        let copy = store.open_snapshot("s").unwrap().unwrap();
        assert_eq!(
            copy.get_session("a.0").await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        // The copy is independent of the live store and of the snapshot.
        copy.put_session("a.0", b"three").await.unwrap();
        let again = store.open_snapshot("s").unwrap().unwrap();
        assert_eq!(
            again.get_session("a.0").await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(
            store.get_session("a.0").await.unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert!(store.open_snapshot("t").unwrap().is_none());
    });
}
