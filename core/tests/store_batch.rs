//! `WriteBatch` on MemoryStore (atomic) and through the one-by-one fallback of a
//! backend that does not declare atomic batches.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use wa_core::store::conformance_batch::{check_device_updates, check_write_batch};
use wa_core::store::{MemoryStore, SignalStore, StoreResult};

#[test]
fn memory_store_applies_batches_atomically() {
    smol::block_on(check_write_batch(&MemoryStore::new(), true));
    smol::block_on(check_device_updates(&MemoryStore::new()));
}

/// A backend written against the trait methods only (no `apply_batch_atomic`):
/// it delegates everything to a MemoryStore except the batch hook.
struct Plain(MemoryStore);

macro_rules! delegate {
    ($tr:path { $($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $tr for Plain {
            $(async fn $name(&self, $($arg: $ty),*) -> $ret { self.0.$name($($arg),*).await })*
        }
    };
}

delegate! {
    SignalStore {
        put_identity(address: &str, key: [u8; 32]) -> StoreResult<()>;
        load_identity(address: &str) -> StoreResult<Option<[u8; 32]>>;
        delete_identity(address: &str) -> StoreResult<()>;
        get_session(address: &str) -> StoreResult<Option<Bytes>>;
        put_session(address: &str, session: &[u8]) -> StoreResult<()>;
        delete_session(address: &str) -> StoreResult<()>;
        store_prekey(id: u32, record: &[u8], uploaded: bool) -> StoreResult<()>;
        load_prekey(id: u32) -> StoreResult<Option<Bytes>>;
        is_prekey_uploaded(id: u32) -> StoreResult<Option<bool>>;
        mark_prekeys_uploaded(ids: &[u32]) -> StoreResult<()>;
        remove_prekey(id: u32) -> StoreResult<()>;
        get_max_prekey_id() -> StoreResult<u32>;
        store_signed_prekey(id: u32, record: &[u8]) -> StoreResult<()>;
        load_signed_prekey(id: u32) -> StoreResult<Option<Vec<u8>>>;
        load_all_signed_prekeys() -> StoreResult<Vec<(u32, Vec<u8>)>>;
        remove_signed_prekey(id: u32) -> StoreResult<()>;
        put_sender_key(address: &str, record: &[u8]) -> StoreResult<()>;
        get_sender_key(address: &str) -> StoreResult<Option<Vec<u8>>>;
        delete_sender_key(address: &str) -> StoreResult<()>;
    }
}

delegate! {
    wa_core::store::AppSyncStore {
        get_sync_key(key_id: &[u8]) -> StoreResult<Option<wa_core::store::AppStateSyncKey>>;
        set_sync_key(key_id: &[u8], key: wa_core::store::AppStateSyncKey) -> StoreResult<()>;
        get_latest_sync_key_id() -> StoreResult<Option<Vec<u8>>>;
        get_version(name: &str) -> StoreResult<Option<wa_core::store::HashState>>;
        set_version(name: &str, state: wa_core::store::HashState) -> StoreResult<()>;
        delete_version(name: &str) -> StoreResult<()>;
        put_mutation_macs(name: &str, version: u64, mutations: &[wa_core::store::AppStateMutationMAC]) -> StoreResult<()>;
        get_mutation_mac(name: &str, index_mac: &[u8]) -> StoreResult<Option<Vec<u8>>>;
        delete_mutation_macs(name: &str, index_macs: &[Vec<u8>]) -> StoreResult<()>;
        clear_mutation_macs(name: &str) -> StoreResult<()>;
    }
}

delegate! {
    wa_core::store::ProtocolStore {
        get_sender_key_devices(group_jid: &str) -> StoreResult<Vec<(String, bool)>>;
        set_sender_key_status(group_jid: &str, entries: &[(&str, bool)]) -> StoreResult<()>;
        clear_sender_key_devices(group_jid: &str) -> StoreResult<()>;
        get_lid_mapping(lid: &str) -> StoreResult<Option<wa_core::store::LidPnMappingEntry>>;
        get_pn_mapping(phone: &str) -> StoreResult<Option<wa_core::store::LidPnMappingEntry>>;
        put_lid_mapping(entry: &wa_core::store::LidPnMappingEntry) -> StoreResult<()>;
        get_all_lid_mappings() -> StoreResult<Vec<wa_core::store::LidPnMappingEntry>>;
        save_base_key(address: &str, message_id: &str, base_key: &[u8]) -> StoreResult<()>;
        has_same_base_key(address: &str, message_id: &str, current_base_key: &[u8]) -> StoreResult<bool>;
        delete_base_key(address: &str, message_id: &str) -> StoreResult<()>;
        update_device_list(record: wa_core::store::DeviceListRecord) -> StoreResult<()>;
        get_devices(user: &str) -> StoreResult<Option<wa_core::store::DeviceListRecord>>;
        delete_devices(user: &str) -> StoreResult<()>;
        get_tc_token(jid: &str) -> StoreResult<Option<wa_core::store::TcTokenEntry>>;
        put_tc_token(jid: &str, entry: &wa_core::store::TcTokenEntry) -> StoreResult<()>;
        delete_tc_token(jid: &str) -> StoreResult<()>;
        get_all_tc_token_jids() -> StoreResult<Vec<String>>;
        delete_expired_tc_tokens(token_cutoff: i64, sender_cutoff: i64) -> StoreResult<u32>;
        store_sent_message(chat_jid: &str, message_id: &str, payload: &[u8], sent_at: i64) -> StoreResult<()>;
        take_sent_message(chat_jid: &str, message_id: &str) -> StoreResult<Option<Vec<u8>>>;
        delete_expired_sent_messages(cutoff: i64) -> StoreResult<u32>;
    }
}

delegate! {
    wa_core::store::DeviceStore {
        save(device: &wa_core::store::Device) -> StoreResult<()>;
        load() -> StoreResult<Option<wa_core::store::Device>>;
        exists() -> StoreResult<bool>;
        create() -> StoreResult<i32>;
        snapshot_db(name: &str, extra: Option<&[u8]>) -> StoreResult<()>;
    }
}

#[test]
fn a_backend_without_atomic_batches_gets_them_applied_one_by_one() {
    smol::block_on(check_write_batch(&Plain(MemoryStore::new()), false));
    // Through a trait object too, the way the client holds its store.
    let dynamic: Arc<dyn wa_core::store::Backend> = Arc::new(Plain(MemoryStore::new()));
    smol::block_on(check_write_batch(&*dynamic, false));
}

#[test]
fn a_backend_without_an_inbox_refuses_inbox_calls_with_a_clear_error() {
    use wa_core::store::{InboxEntry, ProtocolStore, StoreError, WriteBatch, apply_batch};
    smol::block_on(async {
        let store = Plain(MemoryStore::new());
        let entry = InboxEntry {
            chat: "c@s.whatsapp.net".into(),
            id: "M".into(),
            sender: "c:1@s.whatsapp.net".into(),
            timestamp: 1,
            payload: b"hi".to_vec(),
        };
        for result in [
            store.put_inbox(&entry).await,
            store.remove_inbox("c@s.whatsapp.net", "M").await,
            store.list_inbox(10).await.map(drop),
        ] {
            let e = result.expect_err("the trait default has no inbox");
            assert!(
                matches!(
                    e,
                    StoreError::Unsupported {
                        feature: "inbox",
                        ..
                    }
                ),
                "{e:?}"
            );
            assert!(e.to_string().contains("no inbox"), "{e}");
        }
        // The fallback asks first, so the session ahead of the inbox write is
        // not written either.
        let mut batch = WriteBatch::new();
        batch.put_session("c.0", b"session".to_vec());
        batch.put_inbox(entry);
        let e = apply_batch(&store, &batch).await.expect_err("no inbox");
        assert!(e.is_unsupported(), "{e:?}");
        assert_eq!(store.get_session("c.0").await.unwrap(), None);
        // Batches without inbox writes are unaffected.
        batch = WriteBatch::new();
        batch.put_session("c.0", b"session".to_vec());
        assert!(!apply_batch(&store, &batch).await.unwrap());
        assert!(store.get_session("c.0").await.unwrap().is_some());
    });
}
