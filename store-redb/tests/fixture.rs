//! The schema-v1 fixture: `tests/fixtures/v1.redb`, written by the first
//! schema version and committed. Later format changes must keep reading it:
//! this test opens a copy and checks every record, field by field, against
//! the literal values below (no helper whose behaviour could drift).
//!
//! Regenerate it (only when adding a new fixture for a new schema version,
//! never to "fix" this test) with
//! `cargo test -p wa-store-redb --test fixture -- --ignored generate_v1_fixture`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use wa_core::store::{
    AppStateMutationMAC, AppStateSyncKey, AppSyncStore, AppVersion, CachedNoiseCert,
    CachedServerCertChain, Device, DeviceInfo, DeviceKeys, DeviceListRecord, DeviceStore,
    HashState, KeyPair, LidPnMappingEntry, ProtocolStore, SignalStore, TcTokenEntry,
};
use wa_store_redb::RedbStore;

const ADDR: &str = "5511987650001.0";
const GROUP: &str = "120363021033254949@g.us";
const PN_JID: &str = "5511987650001@s.whatsapp.net";

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.redb")
}

fn fixture_device() -> Device {
    let mut d = Device::from_keys(DeviceKeys {
        noise_key: KeyPair {
            private: [0x01; 32],
            public: [0x02; 32],
        },
        identity_key: KeyPair {
            private: [0x03; 32],
            public: [0x04; 32],
        },
        registration_id: 12345,
        signed_pre_key: KeyPair {
            private: [0x05; 32],
            public: [0x06; 32],
        },
        signed_pre_key_id: 1,
        signed_pre_key_signature: [0x07; 64],
        adv_secret_key: [0x08; 32],
    });
    d.account = Some(b"account-bytes".to_vec());
    d.pn = Some("5511987650001:7@s.whatsapp.net".parse().unwrap());
    d.lid = Some("100000012345678:7@lid".parse().unwrap());
    d.push_name = "Zoë 🙂".into();
    d.business_name = Some("Padaria".into());
    d.platform = Some("android".into());
    d.edge_routing_info = Some(vec![9, 9, 9]);
    d.server_cert_chain = Some(CachedServerCertChain {
        intermediate: CachedNoiseCert {
            key: [0x0a; 32],
            not_before: 1_700_000_000,
            not_after: 1_800_000_000,
        },
        leaf: CachedNoiseCert {
            key: [0x0b; 32],
            not_before: 1_700_000_001,
            not_after: 1_799_999_999,
        },
    });
    d.login_counter = 5;
    d.lid_migrated = true;
    d.app_version = Some(AppVersion {
        primary: 2,
        secondary: 3000,
        tertiary: 1_045_368_834,
    });
    d.app_version_last_fetched_ms = 1_700_000_000_123;
    d.props_hash = Some("props-1".into());
    d.next_pre_key_id = 813;
    d.first_unupload_pre_key_id = 801;
    d.server_has_prekeys = true;
    d.last_signed_pre_key_rotation_ms = 1_700_000_000_456;
    d
}

/// Writes the fixture's contents (device 1, and device 2 from `create`).
async fn write_contents(store: &RedbStore) {
    store.save(&fixture_device()).await.unwrap();
    store.put_identity(ADDR, [0x11; 32]).await.unwrap();
    store.put_session(ADDR, b"session-one").await.unwrap();
    store
        .put_sessions_batch(&[(
            Arc::from("100000012345678.3"),
            Bytes::from_static(b"session-two"),
        )])
        .await
        .unwrap();
    store
        .store_prekeys_batch(
            &[
                (1, Bytes::from_static(b"prekey-1")),
                (2, Bytes::from_static(b"prekey-2")),
            ],
            true,
        )
        .await
        .unwrap();
    store.store_prekey(3, b"prekey-3", false).await.unwrap();
    store
        .store_signed_prekey(1, b"signed-prekey-1")
        .await
        .unwrap();
    store
        .put_sender_key(&format!("{GROUP}::{ADDR}"), b"sender-key")
        .await
        .unwrap();
    store
        .set_sync_key(
            &[0xaa, 0x01],
            AppStateSyncKey {
                key_data: vec![0x21; 32],
                fingerprint: b"fp".to_vec(),
                timestamp: 1_700_000_000_000,
            },
        )
        .await
        .unwrap();
    store
        .set_version(
            "regular_high",
            HashState {
                version: 42,
                hash: [0x31; 128],
            },
        )
        .await
        .unwrap();
    store
        .put_mutation_macs(
            "regular_high",
            42,
            &[
                AppStateMutationMAC {
                    index_mac: vec![0x41; 32],
                    value_mac: vec![0x42; 32],
                },
                AppStateMutationMAC {
                    index_mac: vec![0x43; 32],
                    value_mac: vec![0x44; 32],
                },
            ],
        )
        .await
        .unwrap();
    store
        .set_sender_key_status(
            GROUP,
            &[
                ("5511987650001:7@s.whatsapp.net", true),
                ("5511987650002@s.whatsapp.net", false),
            ],
        )
        .await
        .unwrap();
    store
        .put_lid_mappings(&[
            LidPnMappingEntry {
                lid: "100000012345678".into(),
                phone_number: "5511987650001".into(),
                created_at: 10,
                updated_at: 20,
                learning_source: "usync".into(),
            },
            LidPnMappingEntry {
                lid: "100000099999999".into(),
                phone_number: "5511987650001".into(),
                created_at: 5,
                updated_at: 30,
                learning_source: "peer_pn_message".into(),
            },
        ])
        .await
        .unwrap();
    store
        .save_base_key(ADDR, "3EB0ABC", b"base-key")
        .await
        .unwrap();
    store
        .update_device_list(DeviceListRecord {
            user: "5511987650001".into(),
            devices: vec![
                DeviceInfo::new(0, None),
                DeviceInfo::new(7, Some(3)),
                DeviceInfo::new(99, Some(4)).with_hosting(true),
            ],
            timestamp: 1_700_000_100,
            phash: Some("2:abcd".into()),
            raw_id: Some(77),
        })
        .await
        .unwrap();
    store
        .put_tc_token(
            PN_JID,
            &TcTokenEntry {
                token: b"tc-token".to_vec(),
                token_timestamp: 1_700_000_200,
                sender_timestamp: Some(1_700_000_300),
            },
        )
        .await
        .unwrap();
    store
        .store_sent_message(GROUP, "3EB0SENT", b"sent-payload", 1_700_000_400)
        .await
        .unwrap();
    let second = store.for_device(store.create().await.unwrap());
    assert_eq!(second.device_id(), 2);
    second
        .put_session("5511987650002.0", b"device-two-session")
        .await
        .unwrap();
    second.put_identity(ADDR, [0x22; 32]).await.unwrap();
}

#[test]
#[ignore = "generator: rewrites tests/fixtures/v1.redb (see the module docs)"]
fn generate_v1_fixture() {
    let path = fixture_path();
    let tmp = path.with_extension("redb.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    smol::block_on(async { write_contents(&RedbStore::open(&tmp).unwrap()).await });
    RedbStore::compact(&tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

#[test]
fn v1_fixture_reads_back_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.redb");
    // Opening may write (integrity check, table creation): use a copy.
    std::fs::copy(fixture_path(), &path).expect("tests/fixtures/v1.redb is committed");
    let store = RedbStore::open(&path).expect("open the v1 fixture");
    smol::block_on(async {
        let d = store.load().await.unwrap().expect("device 1");
        assert_eq!(d.noise_key.private, [0x01; 32]);
        assert_eq!(d.noise_key.public, [0x02; 32]);
        assert_eq!(d.identity_key.private, [0x03; 32]);
        assert_eq!(d.identity_key.public, [0x04; 32]);
        assert_eq!(d.registration_id, 12345);
        assert_eq!(d.signed_pre_key.private, [0x05; 32]);
        assert_eq!(d.signed_pre_key.public, [0x06; 32]);
        assert_eq!(d.signed_pre_key_id, 1);
        assert_eq!(d.signed_pre_key_signature, [0x07; 64]);
        assert_eq!(d.adv_secret_key, [0x08; 32]);
        assert_eq!(d.account.as_deref(), Some(&b"account-bytes"[..]));
        assert_eq!(
            d.pn.as_ref().map(ToString::to_string).as_deref(),
            Some("5511987650001:7@s.whatsapp.net")
        );
        assert_eq!(
            d.lid.as_ref().map(ToString::to_string).as_deref(),
            Some("100000012345678:7@lid")
        );
        assert_eq!(d.push_name, "Zoë 🙂");
        assert_eq!(d.business_name.as_deref(), Some("Padaria"));
        assert_eq!(d.platform.as_deref(), Some("android"));
        assert_eq!(d.edge_routing_info.as_deref(), Some(&[9u8, 9, 9][..]));
        let chain = d.server_cert_chain.as_ref().expect("cert chain");
        assert_eq!(chain.intermediate.key, [0x0a; 32]);
        assert_eq!(chain.intermediate.not_before, 1_700_000_000);
        assert_eq!(chain.intermediate.not_after, 1_800_000_000);
        assert_eq!(chain.leaf.key, [0x0b; 32]);
        assert_eq!(chain.leaf.not_before, 1_700_000_001);
        assert_eq!(chain.leaf.not_after, 1_799_999_999);
        assert_eq!(d.login_counter, 5);
        assert!(d.lid_migrated);
        let v = d.app_version.expect("app version");
        assert_eq!(
            (v.primary, v.secondary, v.tertiary),
            (2, 3000, 1_045_368_834)
        );
        assert_eq!(d.app_version_last_fetched_ms, 1_700_000_000_123);
        assert_eq!(d.props_hash.as_deref(), Some("props-1"));
        assert_eq!(d.next_pre_key_id, 813);
        assert_eq!(d.first_unupload_pre_key_id, 801);
        assert!(d.server_has_prekeys);
        assert_eq!(d.last_signed_pre_key_rotation_ms, 1_700_000_000_456);

        assert_eq!(store.load_identity(ADDR).await.unwrap(), Some([0x11; 32]));
        assert_eq!(
            store.get_session(ADDR).await.unwrap().as_deref(),
            Some(&b"session-one"[..])
        );
        assert_eq!(
            store
                .get_session("100000012345678.3")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"session-two"[..])
        );
        for (id, record, uploaded) in [
            (1, &b"prekey-1"[..], true),
            (2, b"prekey-2", true),
            (3, b"prekey-3", false),
        ] {
            assert_eq!(
                store.load_prekey(id).await.unwrap().as_deref(),
                Some(record)
            );
            assert_eq!(store.is_prekey_uploaded(id).await.unwrap(), Some(uploaded));
        }
        assert_eq!(store.get_max_prekey_id().await.unwrap(), 3);
        assert_eq!(
            store.load_all_signed_prekeys().await.unwrap(),
            vec![(1, b"signed-prekey-1".to_vec())]
        );
        assert_eq!(
            store
                .get_sender_key(&format!("{GROUP}::{ADDR}"))
                .await
                .unwrap()
                .as_deref(),
            Some(&b"sender-key"[..])
        );
        let k = store
            .get_sync_key(&[0xaa, 0x01])
            .await
            .unwrap()
            .expect("sync key");
        assert_eq!(k.key_data, vec![0x21; 32]);
        assert_eq!(k.fingerprint, b"fp");
        assert_eq!(k.timestamp, 1_700_000_000_000);
        assert_eq!(
            store.get_latest_sync_key_id().await.unwrap(),
            Some(vec![0xaa, 0x01])
        );
        let h = store
            .get_version("regular_high")
            .await
            .unwrap()
            .expect("version");
        assert_eq!(h.version, 42);
        assert_eq!(h.hash, [0x31; 128]);
        assert_eq!(
            store
                .get_mutation_mac("regular_high", &[0x41; 32])
                .await
                .unwrap(),
            Some(vec![0x42; 32])
        );
        assert_eq!(
            store
                .get_mutation_mac("regular_high", &[0x43; 32])
                .await
                .unwrap(),
            Some(vec![0x44; 32])
        );
        assert_eq!(
            store.get_sender_key_devices(GROUP).await.unwrap(),
            vec![
                ("5511987650001:7@s.whatsapp.net".to_owned(), true),
                ("5511987650002@s.whatsapp.net".to_owned(), false),
            ]
        );
        let m = store
            .get_lid_mapping("100000012345678")
            .await
            .unwrap()
            .expect("mapping");
        assert_eq!(m.phone_number, "5511987650001");
        assert_eq!((m.created_at, m.updated_at), (10, 20));
        assert_eq!(m.learning_source, "usync");
        let newest = store
            .get_pn_mapping("5511987650001")
            .await
            .unwrap()
            .expect("pn");
        assert_eq!(newest.lid, "100000099999999");
        assert_eq!((newest.created_at, newest.updated_at), (5, 30));
        assert_eq!(newest.learning_source, "peer_pn_message");
        assert_eq!(store.get_all_lid_mappings().await.unwrap().len(), 2);
        assert!(
            store
                .has_same_base_key(ADDR, "3EB0ABC", b"base-key")
                .await
                .unwrap()
        );
        let list = store
            .get_devices("5511987650001")
            .await
            .unwrap()
            .expect("devices");
        assert_eq!(list.user, "5511987650001");
        assert_eq!(list.devices.len(), 3);
        assert_eq!(
            (
                list.devices[0].device_id,
                list.devices[0].key_index,
                list.devices[0].is_hosted
            ),
            (0, None, false)
        );
        assert_eq!(
            (
                list.devices[1].device_id,
                list.devices[1].key_index,
                list.devices[1].is_hosted
            ),
            (7, Some(3), false)
        );
        assert_eq!(
            (
                list.devices[2].device_id,
                list.devices[2].key_index,
                list.devices[2].is_hosted
            ),
            (99, Some(4), true)
        );
        assert_eq!(list.timestamp, 1_700_000_100);
        assert_eq!(list.phash.as_deref(), Some("2:abcd"));
        assert_eq!(list.raw_id, Some(77));
        let t = store.get_tc_token(PN_JID).await.unwrap().expect("tc token");
        assert_eq!(t.token, b"tc-token");
        assert_eq!(t.token_timestamp, 1_700_000_200);
        assert_eq!(t.sender_timestamp, Some(1_700_000_300));
        assert_eq!(
            store.get_all_tc_token_jids().await.unwrap(),
            vec![PN_JID.to_owned()]
        );

        let second = store.for_device(2);
        assert_eq!(
            second
                .get_session("5511987650002.0")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"device-two-session"[..])
        );
        assert_eq!(second.load_identity(ADDR).await.unwrap(), Some([0x22; 32]));
        assert!(!second.exists().await.unwrap());
        // The id counter survived: the next account is 3.
        assert_eq!(store.create().await.unwrap(), 3);
        // Take last: it deletes.
        assert_eq!(
            store
                .take_sent_message(GROUP, "3EB0SENT")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"sent-payload"[..])
        );
    });
    let report = store.check().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    drop(store);

    // The raw layout of one record is pinned too: key = device 1 (sign bit
    // flipped, big-endian) ‖ address; value = envelope v1 ‖ postcard bytes.
    let db = redb::Database::open(fixture_copy(&dir)).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let t = txn
        .open_table(redb::TableDefinition::<&[u8], &[u8]>::new("identities_v1"))
        .unwrap();
    let mut key = vec![0x80, 0, 0, 1];
    key.extend_from_slice(ADDR.as_bytes());
    let value = redb::ReadableTable::get(&t, key.as_slice())
        .unwrap()
        .unwrap();
    let mut want = vec![1u8, 32];
    want.extend([0x11; 32]);
    assert_eq!(value.value(), want.as_slice());
    let meta = txn
        .open_table(redb::TableDefinition::<&[u8], &[u8]>::new("meta"))
        .unwrap();
    assert_eq!(
        redb::ReadableTable::get(&meta, &b"schema_version"[..])
            .unwrap()
            .unwrap()
            .value(),
        &1u32.to_le_bytes()[..]
    );
}

/// A second, untouched copy of the fixture for raw reads.
fn fixture_copy(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("v1-raw.redb");
    std::fs::copy(fixture_path(), &path).unwrap();
    path
}
