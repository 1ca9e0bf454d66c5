//! The inbox conformance checks on MemoryStore, and proof that they catch a
//! store that breaks the inbox contract.

use std::panic::{AssertUnwindSafe, catch_unwind};

use wa_core::store::conformance::StorePair;
use wa_core::store::conformance_inbox::{self, check_inbox};
use wa_core::store::{
    DeviceStore, InboxEntry, MemoryStore, ProtocolStore, WriteBatch, apply_batch,
};

async fn memory_pair() -> StorePair<MemoryStore> {
    let primary = MemoryStore::new();
    let id = primary.create().await.expect("create");
    let secondary = primary.for_device(id);
    StorePair { primary, secondary }
}

#[test]
fn memory_store_passes_the_inbox_checks() {
    smol::block_on(check_inbox(memory_pair));
}

#[test]
fn a_pair_on_one_device_id_fails_inbox_isolation() {
    let err = catch_unwind(AssertUnwindSafe(|| {
        smol::block_on(async {
            let a = MemoryStore::new();
            let b = a.for_device(MemoryStore::DEFAULT_DEVICE_ID);
            conformance_inbox::inbox_isolation_between_device_ids(&a, &b).await;
        })
    }))
    .expect_err("the check should fail");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("inbox::isolation_between_device_ids"), "{msg}");
}

#[test]
fn memory_store_batches_are_atomic_for_the_inbox_and_snapshots_keep_it() {
    smol::block_on(async {
        let store = MemoryStore::new();
        let entry = InboxEntry {
            chat: "c@s.whatsapp.net".into(),
            id: "M".into(),
            sender: "c:1@s.whatsapp.net".into(),
            timestamp: 1,
            payload: b"hi".to_vec(),
        };
        let mut batch = WriteBatch::new();
        batch.put_session("c.0", b"s".to_vec());
        batch.put_inbox(entry.clone());
        assert!(apply_batch(&store, &batch).await.unwrap());
        store.snapshot_db("s", None).await.unwrap();
        store.remove_inbox("c@s.whatsapp.net", "M").await.unwrap();
        assert!(store.list_inbox(10).await.unwrap().is_empty());
        let snap = store.open_snapshot("s").expect("snapshot");
        assert_eq!(snap.list_inbox(10).await.unwrap(), vec![entry]);
    });
}
