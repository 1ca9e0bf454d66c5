//! `WriteBatch` on RedbStore: one transaction, every operation, and durable
//! across a reopen.

use wa_core::store::conformance_batch::{check_device_updates, check_write_batch};
use wa_core::store::{SignalStore, WriteBatch, apply_batch};
use wa_store_redb::RedbStore;

#[test]
fn redb_applies_batches_atomically_and_durably() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("batch.redb");
    smol::block_on(async {
        let store = RedbStore::open(&path).expect("open");
        check_write_batch(&store, true).await;
        let mut batch = WriteBatch::new();
        batch.put_session("after@c.us.0", vec![42]);
        batch.remove_prekey(11);
        assert!(apply_batch(&store, &batch).await.expect("apply"));
        drop(store);
        let store = RedbStore::open(&path).expect("reopen");
        assert_eq!(
            store
                .get_session("after@c.us.0")
                .await
                .expect("read")
                .as_deref(),
            Some(&[42][..])
        );
        assert_eq!(store.load_prekey(11).await.expect("read"), None);
        assert_eq!(
            store.load_identity("a@c.us.0").await.expect("read"),
            Some([7; 32])
        );
    });
}

#[test]
fn redb_device_updates_in_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    smol::block_on(async {
        let store = RedbStore::open(dir.path().join("device.redb")).expect("open");
        check_device_updates(&store).await;
    });
}
