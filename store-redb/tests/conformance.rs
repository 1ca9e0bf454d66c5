//! The public store conformance battery of wa-core, on a file-backed store
//! (locked for itself, and shared with readers) and on redb's in-memory
//! backend.

use std::sync::Arc;

use wa_core::store::DeviceStore;
use wa_core::store::conformance::{self, StorePair};
use wa_store_redb::{RedbOptions, RedbStore};

async fn pair(store: RedbStore) -> StorePair<RedbStore> {
    let id = store.create().await.expect("create");
    let secondary = store.for_device(id);
    StorePair {
        primary: store,
        secondary,
    }
}

#[test]
fn conformance_on_a_file() {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut n = 0;
    smol::block_on(conformance::run_all(|| {
        n += 1;
        let path = dir.path().join(format!("store-{n}.redb"));
        async move { pair(RedbStore::open(path).expect("open")).await }
    }));
}

/// The same on a file shared with readers (redb's single-writer mode, with
/// two-phase commits): the option changes locking, never answers.
#[test]
fn conformance_on_a_file_with_shared_readers() {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut n = 0;
    smol::block_on(conformance::run_all(|| {
        n += 1;
        let path = dir.path().join(format!("store-{n}.redb"));
        let options = RedbOptions::builder().shared_readers(true).build();
        async move { pair(RedbStore::open_with(path, options).expect("open")).await }
    }));
}

#[test]
fn conformance_in_memory() {
    smol::block_on(conformance::run_all(|| async {
        pair(RedbStore::in_memory().expect("in_memory")).await
    }));
}

#[test]
fn isolation_on_a_file_for_unusual_device_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Ids on both sides of the default one, negative ids, the extremes, and
    // neighbours whose key prefixes differ in one byte. A fresh file per pair:
    // the check wants the second id empty.
    smol::block_on(async {
        for (i, (a, b)) in [(1, 2), (-1, 1), (i32::MAX, i32::MIN), (255, 256)]
            .into_iter()
            .enumerate()
        {
            let store = RedbStore::open(dir.path().join(format!("iso-{i}.redb"))).expect("open");
            conformance::isolation(|| {
                let s = store.clone();
                async move {
                    StorePair {
                        primary: s.for_device(a),
                        secondary: s.for_device(b),
                    }
                }
            })
            .await;
        }
    });
}
