//! `wa_store_redb::import_whatsapp_rust` against a real store written by
//! `whatsapp-rust-sqlite-storage` 0.7 through its own API, holding Signal
//! records made by `wacore-libsignal`: after the import, `wa_core::signal`
//! decrypts with the imported records what the peers encrypted (a message on
//! an existing session, a session-starting message to the imported device's
//! prekeys, and a group message on an imported sender key).

#![allow(missing_docs)]

#[path = "../peer/signal_peer.rs"]
#[allow(dead_code)] // the facade is shared with the benches; not every helper is used here
mod peer;

use std::path::Path;

use peer::{Kind, Party};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_core::signal as ws;
use wa_core::store::{
    AppSyncStore as _, DeviceStore as _, ProtocolStore as _, SignalStore as _, StoreError,
};
use wa_store_redb::{RedbStore, import_whatsapp_rust};

const A_PN: &str = "5511999990001:7@s.whatsapp.net";
const A_LID: &str = "100000000000001:7@lid";
/// Signal addresses as both libraries write them.
const CAROL: &str = "5511999990003@c.us.0";
const A_ADDR: &str = "5511999990001:7@c.us.0";
/// Counter-lease ceilings wacore-libsignal writes into its records (field 100).
const SESSION_LEASE: u32 = 6;
const SENDER_KEY_LEASE: u32 = 9;
const GROUP: &str = "120363000000000001@g.us";
const UPLOADED: usize = 3;

/// What the peers sent to the imported account, for after the import.
struct Fixture {
    carol: Party,
    bob: Party,
    carol_reply: Vec<u8>,
    bob_pkmsg: Vec<u8>,
    carol_group_msg: Vec<u8>,
    a_identity_public: [u8; 33],
    a_registration_id: u32,
    a_prekeys: Vec<u32>,
    a_signed_prekey_id: u32,
    carol_identity: [u8; 32],
    noise_key: [u8; 64],
    next_pre_key_id: u32,
}

/// `record` with wacore-libsignal's counter lease (local field 100) appended,
/// as whatsapp-rust stores a record whose sending chain holds a lease.
fn with_lease(record: &[u8], ceiling: u32) -> Vec<u8> {
    assert!(ceiling < 128);
    let mut out = record.to_vec();
    out.extend([0xa0, 0x06, ceiling as u8]);
    out
}

mod source {
    //! Writes the store through whatsapp-rust-sqlite-storage's own API.

    use std::path::Path;

    use bytes::Bytes;
    use wacore::appstate::hash::HashState;
    use wacore::appstate::processor::AppStateMutationMAC;
    use wacore::store::traits::{
        AppStateSyncKey, AppSyncStore, DeviceInfo, DeviceListRecord, DeviceStore,
        LidPnMappingEntry, ProtocolStore, SignalStore, TcTokenEntry,
    };
    use wacore_libsignal::protocol::{
        GenericSignedPreKey, KeyPair, PrivateKey, PublicKey, SignedPreKeyRecord,
    };
    use whatsapp_rust_sqlite_storage::SqliteStore;

    use super::*;

    pub(super) fn build(path: &Path) -> Fixture {
        let mut a = Party::new(1);
        let mut bob = Party::new(2);
        let mut carol = Party::new(3);

        // A session A -> Carol, answered by Carol (the answer waits for us).
        let carol_prekey = carol.prekey_ids()[0];
        a.process_bundle("carol", &carol.bundle(Some(carol_prekey)))
            .unwrap();
        let (kind, first) = a.encrypt("carol", b"hi carol").unwrap();
        assert_eq!(kind, Kind::PreKey);
        assert_eq!(carol.decrypt("a", kind, &first).unwrap(), b"hi carol");
        let (kind, carol_reply) = carol.encrypt("a", b"hello from carol").unwrap();
        assert_eq!(kind, Kind::Whisper);
        let session = a.session_record_bytes("carol").unwrap();

        // Bob starts a session to A's published prekeys.
        let a_prekeys = a.prekey_ids();
        bob.process_bundle("a", &a.bundle(Some(a_prekeys[0])))
            .unwrap();
        let (kind, bob_pkmsg) = bob.encrypt("a", b"hello from bob").unwrap();
        assert_eq!(kind, Kind::PreKey);

        // Carol's sender key in a group, as A holds it.
        let skdm = carol.create_distribution(GROUP, "carol").unwrap();
        a.process_distribution(GROUP, "carol", &skdm).unwrap();
        let carol_group_msg = carol.group_encrypt(GROUP, "carol", b"group hello").unwrap();
        let sender_key = a.sender_key_record_bytes(GROUP, "carol").unwrap();
        // A's own sender key, which Bob holds.
        let own_skdm = a.create_distribution(GROUP, "a").unwrap();
        bob.process_distribution(GROUP, "a", &own_skdm).unwrap();
        let own_sender_key = a.sender_key_record_bytes(GROUP, "a").unwrap();

        // A's device record.
        let a_spk_id = a.signed_prekey_id();
        let spk_bytes = a.signed_prekey_record_bytes(a_spk_id).unwrap();
        let spk = SignedPreKeyRecord::deserialize(&spk_bytes).unwrap();
        let a_public = a.identity_public();
        let mut device = wacore::store::Device::new();
        device.identity_key = KeyPair::new(
            PublicKey::from_djb_public_key_bytes(&a_public[1..]).unwrap(),
            PrivateKey::deserialize(&a.identity_private()).unwrap(),
        );
        device.registration_id = a.registration_id();
        device.signed_pre_key = spk.key_pair().unwrap();
        device.signed_pre_key_id = a_spk_id;
        device.signed_pre_key_signature = spk.signature().unwrap().try_into().unwrap();
        device.adv_secret_key = [0x5a; 32];
        device.pn = Some(A_PN.parse().unwrap());
        device.lid = Some(A_LID.parse().unwrap());
        device.push_name = "Alice".into();
        device.app_version_primary = 2;
        device.app_version_secondary = 3000;
        device.app_version_tertiary = 1_020_304_050;
        device.app_version_last_fetched_ms = 1_700_000_000_123;
        device.edge_routing_info = Some(vec![8, 1, 8, 2]);
        device.props_hash = Some("props-1".into());
        device.login_counter = 4;
        device.lid_migrated = true;
        device.last_signed_pre_key_rotation_ms = 1_700_000_000_999;
        let mut noise_key = [0u8; 64];
        noise_key[..32].copy_from_slice(device.noise_key.private_key.serialize());
        noise_key[32..].copy_from_slice(device.noise_key.public_key.public_key_bytes());
        let max_prekey = *a_prekeys.iter().max().unwrap();
        let next_pre_key_id = device.next_pre_key_id.max(max_prekey + 1);

        let carol_identity: [u8; 32] = carol.identity_public()[1..].try_into().unwrap();

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = SqliteStore::new(path.to_str().unwrap()).await.unwrap();
            store.save(&device).await.unwrap();
            store
                .put_session(CAROL, &with_lease(&session, SESSION_LEASE))
                .await
                .unwrap();
            store
                .put_session("5511999990009@c.us.0", b"not a session record")
                .await
                .unwrap();
            store.put_identity(CAROL, carol_identity).await.unwrap();
            let records = |ids: &[u32]| -> Vec<(u32, Bytes)> {
                ids.iter()
                    .map(|&id| (id, Bytes::from(a.prekey_record_bytes(id).unwrap())))
                    .collect()
            };
            store
                .store_prekeys_batch(&records(&a_prekeys[..UPLOADED]), true)
                .await
                .unwrap();
            store
                .store_prekeys_batch(&records(&a_prekeys[UPLOADED..]), false)
                .await
                .unwrap();
            store
                .store_signed_prekey(a_spk_id, &spk_bytes)
                .await
                .unwrap();
            store
                .put_sender_key(&format!("{GROUP}:{CAROL}"), &sender_key)
                .await
                .unwrap();
            store
                .put_sender_key(
                    &format!("{GROUP}:{A_ADDR}"),
                    &with_lease(&own_sender_key, SENDER_KEY_LEASE),
                )
                .await
                .unwrap();
            store
                .put_lid_mapping(&LidPnMappingEntry {
                    lid: "100000000000003".into(),
                    phone_number: "5511999990003".into(),
                    created_at: 1_700_000_001,
                    updated_at: 1_700_000_002,
                    learning_source: "usync".into(),
                })
                .await
                .unwrap();
            store
                .update_device_list(DeviceListRecord {
                    user: "5511999990003".into(),
                    devices: vec![DeviceInfo::new(0, None), DeviceInfo::new(12, Some(3))],
                    timestamp: 1_700_000_003,
                    phash: Some("2:abcd".into()),
                    raw_id: Some(77),
                })
                .await
                .unwrap();
            store
                .set_sync_key(
                    b"key-1",
                    AppStateSyncKey {
                        key_data: vec![0x11; 32],
                        fingerprint: vec![1, 2, 3],
                        timestamp: 1_700_000_004,
                    },
                )
                .await
                .unwrap();
            store
                .set_sync_key(
                    b"key-2",
                    AppStateSyncKey {
                        key_data: vec![0x22; 32],
                        fingerprint: vec![4, 5],
                        timestamp: 1_700_000_005,
                    },
                )
                .await
                .unwrap();
            let mut state = HashState {
                version: 9,
                ..Default::default()
            };
            state.hash = [0x33; 128];
            store.set_version("regular_high", state).await.unwrap();
            store
                .put_mutation_macs(
                    "regular_high",
                    9,
                    &[AppStateMutationMAC {
                        index_mac: vec![0x44; 32],
                        value_mac: vec![0x55; 32],
                    }],
                )
                .await
                .unwrap();
            store
                .set_sender_key_status(GROUP, &[("5511999990003:0@s.whatsapp.net", true)])
                .await
                .unwrap();
            store
                .store_sent_message(GROUP, "3EB0SENT", b"sent payload")
                .await
                .unwrap();
            store
                .put_tc_token(
                    "5511999990003@s.whatsapp.net",
                    &TcTokenEntry {
                        token: vec![9, 9, 9],
                        token_timestamp: 1_700_000_006,
                        sender_timestamp: Some(1_700_000_007),
                    },
                )
                .await
                .unwrap();
            store
                .put_group_metadata(GROUP, b"opaque group info")
                .await
                .unwrap();
            drop(store);
        });
        drop(rt);

        Fixture {
            carol,
            bob,
            carol_reply,
            bob_pkmsg,
            carol_group_msg,
            a_identity_public: a_public,
            a_registration_id: a.registration_id(),
            a_prekeys,
            a_signed_prekey_id: a_spk_id,
            carol_identity,
            noise_key,
            next_pre_key_id,
        }
    }
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(7)
}

#[test]
fn imports_a_real_whatsapp_rust_store_and_decrypts_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("whatsapp.db");
    let redb = dir.path().join("wa.redb");
    let mut fx = source::build(&sqlite);

    let report = import_whatsapp_rust(&sqlite, &redb).unwrap();
    let count = |f: &str| report.imported.get(f).copied().unwrap_or(0);
    assert_eq!(report.devices, vec![1]);
    assert_eq!(count("device"), 1);
    assert_eq!(count("sessions"), 1, "{report}");
    assert_eq!(count("identities"), 1);
    assert_eq!(count("prekeys"), fx.a_prekeys.len() as u64);
    assert_eq!(count("signed_prekeys"), 1);
    assert_eq!(count("sender_keys"), 2);
    assert_eq!(count("lid_mappings"), 1);
    assert_eq!(count("device_lists"), 1);
    assert_eq!(count("app_state_sync_keys"), 2);
    assert_eq!(count("app_state_versions"), 1);
    assert_eq!(count("app_state_mutation_macs"), 1);
    assert_eq!(count("sender_key_devices"), 1);
    assert_eq!(count("sent_messages"), 1);
    assert_eq!(count("tc_tokens"), 1);
    // The junk session is reported, not imported.
    assert_eq!(report.skipped.len(), 1, "{report}");
    assert!(
        report.skipped[0].contains("5511999990009@c.us.0"),
        "{report}"
    );
    assert!(report.skipped[0].contains("session record"), "{report}");
    assert!(
        report
            .not_imported
            .iter()
            .any(|(t, rows, _)| t == "group_metadata" && *rows == 1),
        "{report}"
    );

    let store = RedbStore::open(&redb).unwrap();
    smol::block_on(async {
        // The device.
        let d = store.load().await.unwrap().expect("device imported");
        assert_eq!(d.pn.as_ref().unwrap().to_string(), A_PN);
        assert_eq!(d.lid.as_ref().unwrap().to_string(), A_LID);
        assert_eq!(d.registration_id, fx.a_registration_id);
        assert_eq!(d.identity_key.public, fx.a_identity_public[1..]);
        assert_eq!(d.noise_key.to_bytes(), fx.noise_key);
        assert_eq!(d.signed_pre_key_id, fx.a_signed_prekey_id);
        assert_eq!(d.adv_secret_key, [0x5a; 32]);
        assert_eq!(d.push_name, "Alice");
        let v = d.app_version.unwrap();
        assert_eq!(
            (v.primary, v.secondary, v.tertiary),
            (2, 3000, 1_020_304_050)
        );
        assert_eq!(d.app_version_last_fetched_ms, 1_700_000_000_123);
        assert_eq!(d.edge_routing_info.as_deref(), Some(&[8, 1, 8, 2][..]));
        assert_eq!(d.props_hash.as_deref(), Some("props-1"));
        assert_eq!(d.login_counter, 4);
        assert!(d.lid_migrated);
        assert_eq!(d.last_signed_pre_key_rotation_ms, 1_700_000_000_999);
        assert_eq!(d.next_pre_key_id, fx.next_pre_key_id);

        // A message on the imported session. Ours sends first: whatsapp-rust
        // may have used every counter below the lease, so ours starts there.
        let bytes = store.get_session(CAROL).await.unwrap().unwrap();
        let mut session = ws::SessionRecord::deserialize(&bytes).unwrap();
        let ws::CiphertextMessage::PreKey(wire) = ws::encrypt(&mut session, b"from ours").unwrap()
        else {
            panic!("carol has not answered this session yet: a pkmsg");
        };
        let pkmsg = ws::PreKeySignalMessage::deserialize(&wire).unwrap();
        assert_eq!(pkmsg.message().counter(), SESSION_LEASE);
        assert_eq!(
            fx.carol.decrypt("a", Kind::PreKey, &wire).unwrap(),
            b"from ours"
        );
        let plain = ws::decrypt(&mut session, &fx.carol_reply, &mut rng()).unwrap();
        assert_eq!(plain, b"hello from carol");
        assert_eq!(
            store.load_identity(CAROL).await.unwrap(),
            Some(fx.carol_identity)
        );

        // A session-starting message to the imported identity and prekeys.
        let identity = ws::IdentityKeyPair::from_private_key(ws::PrivateKey::from_bytes(
            d.identity_key.private,
        ));
        assert_eq!(identity.public_key().serialize(), fx.a_identity_public);
        let pkmsg = ws::PreKeySignalMessage::deserialize(&fx.bob_pkmsg).unwrap();
        let spk = store
            .load_signed_prekey(pkmsg.signed_pre_key_id())
            .await
            .unwrap()
            .expect("signed prekey imported");
        let spk = ws::SignedPreKeyRecord::deserialize(&spk).unwrap();
        assert_eq!(spk.public_key().raw(), &d.signed_pre_key.public);
        let pk_id = pkmsg.pre_key_id().expect("one-time prekey used");
        let pk = store.load_prekey(pk_id).await.unwrap().unwrap();
        let pk = ws::PreKeyRecord::deserialize(&pk).unwrap();
        let mut fresh = ws::SessionRecord::new();
        let out = ws::decrypt_prekey_message(
            &mut fresh,
            &identity,
            d.registration_id,
            &pkmsg,
            Some(&spk),
            Some(&pk),
            None,
            ws::IdentityPolicy::AcceptChanged,
            &mut rng(),
        )
        .unwrap();
        assert_eq!(out.plaintext, b"hello from bob");

        // Prekeys keep their uploaded flag.
        for (i, id) in fx.a_prekeys.iter().enumerate() {
            assert_eq!(
                store.is_prekey_uploaded(*id).await.unwrap(),
                Some(i < UPLOADED),
                "prekey {id}"
            );
        }

        // A group message on the imported sender key.
        let sk = store
            .get_sender_key(&format!("{GROUP}:{CAROL}"))
            .await
            .unwrap()
            .unwrap();
        let mut sk = ws::SenderKeyRecord::deserialize(&sk).unwrap();
        assert_eq!(
            ws::group_decrypt(&mut sk, &fx.carol_group_msg).unwrap(),
            b"group hello"
        );
        // Our own sender key starts past its lease, and Bob reads it.
        let own = store
            .get_sender_key(&format!("{GROUP}:{A_ADDR}"))
            .await
            .unwrap()
            .unwrap();
        let mut own = ws::SenderKeyRecord::deserialize(&own).unwrap();
        let msg = ws::group_encrypt(&mut own, b"group from ours", &mut rng()).unwrap();
        assert_eq!(msg.iteration(), SENDER_KEY_LEASE);
        assert_eq!(
            fx.bob.group_decrypt(GROUP, "a", msg.serialized()).unwrap(),
            b"group from ours"
        );

        // The rest.
        let m = store
            .get_lid_mapping("100000000000003")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.phone_number, "5511999990003");
        assert_eq!((m.created_at, m.updated_at), (1_700_000_001, 1_700_000_002));
        assert_eq!(m.learning_source, "usync");
        let pn = store
            .get_pn_mapping("5511999990003")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pn.lid, "100000000000003");
        let list = store.get_devices("5511999990003").await.unwrap().unwrap();
        let ids: Vec<(u16, Option<u32>)> = list
            .devices
            .iter()
            .map(|d| (d.device_id, d.key_index))
            .collect();
        assert_eq!(ids, vec![(0, None), (12, Some(3))]);
        assert_eq!(list.timestamp, 1_700_000_003);
        assert_eq!(list.phash.as_deref(), Some("2:abcd"));
        assert_eq!(list.raw_id, Some(77));
        let k = store.get_sync_key(b"key-2").await.unwrap().unwrap();
        assert_eq!(k.key_data, vec![0x22; 32]);
        assert_eq!(k.fingerprint, vec![4, 5]);
        assert_eq!(k.timestamp, 1_700_000_005);
        assert_eq!(
            store.get_latest_sync_key_id().await.unwrap(),
            Some(b"key-2".to_vec())
        );
        let state = store.get_version("regular_high").await.unwrap().unwrap();
        assert_eq!((state.version, state.hash), (9, [0x33; 128]));
        assert_eq!(
            store
                .get_mutation_mac("regular_high", &[0x44; 32])
                .await
                .unwrap(),
            Some(vec![0x55; 32])
        );
        assert_eq!(
            store.take_sent_message(GROUP, "3EB0SENT").await.unwrap(),
            Some(b"sent payload".to_vec())
        );
        let tc = store
            .get_tc_token("5511999990003@s.whatsapp.net")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (tc.token, tc.token_timestamp, tc.sender_timestamp),
            (vec![9, 9, 9], 1_700_000_006, Some(1_700_000_007))
        );
        assert_eq!(
            store.get_sender_key_devices(GROUP).await.unwrap(),
            vec![("5511999990003:0@s.whatsapp.net".to_string(), true)]
        );
    });
    drop(store);

    // A second import into the now non-empty file is refused and changes nothing.
    let rows = || {
        let stats = wa_store_redb::ReadOnlyStore::open(&redb)
            .unwrap()
            .stats()
            .unwrap();
        format!("{:?}", stats.tables)
    };
    let before = rows();
    let err = import_whatsapp_rust(&sqlite, &redb).unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidInput(m) if m.contains("already holds records")),
        "{err}"
    );
    assert_eq!(rows(), before);
}

fn import_err(sqlite: &Path, redb: &Path) -> String {
    let err = import_whatsapp_rust(sqlite, redb).unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    assert!(!redb.exists(), "no redb file is left behind");
    err.to_string()
}

#[test]
fn garbage_and_foreign_sqlite_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let redb = dir.path().join("wa.redb");

    let missing = dir.path().join("missing.db");
    assert!(import_err(&missing, &redb).contains("is not a file"));

    let garbage = dir.path().join("garbage.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&garbage, &bytes).unwrap();
    assert!(import_err(&garbage, &redb).contains("not a readable whatsapp-rust SQLite store"));

    let text = dir.path().join("text.db");
    std::fs::write(&text, "hello").unwrap();
    import_err(&text, &redb);

    let foreign = dir.path().join("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    assert!(import_err(&foreign, &redb).contains("no `device` table"));

    // A device row with a key of the wrong length: an error naming it.
    let bad = dir.path().join("bad.db");
    let conn = rusqlite::Connection::open(&bad).unwrap();
    conn.execute_batch(
        "CREATE TABLE device (id INTEGER PRIMARY KEY, lid TEXT NOT NULL, pn TEXT NOT NULL,
           registration_id INTEGER NOT NULL, noise_key BLOB NOT NULL, identity_key BLOB NOT NULL,
           signed_pre_key BLOB NOT NULL, signed_pre_key_id INTEGER NOT NULL,
           signed_pre_key_signature BLOB NOT NULL, adv_secret_key BLOB NOT NULL);
         INSERT INTO device VALUES (1, '', '', 5, x'00', x'00', x'00', 1, x'00', x'00');",
    )
    .unwrap();
    drop(conn);
    let msg = import_err(&bad, &redb);
    assert!(
        msg.contains("device 1") && msg.contains("noise_key"),
        "{msg}"
    );
}

#[test]
fn an_existing_store_with_records_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("whatsapp.db");
    let conn = rusqlite::Connection::open(&sqlite).unwrap();
    conn.execute_batch(
        "CREATE TABLE device (id INTEGER PRIMARY KEY, lid TEXT NOT NULL, pn TEXT NOT NULL,
           registration_id INTEGER NOT NULL, noise_key BLOB NOT NULL, identity_key BLOB NOT NULL,
           signed_pre_key BLOB NOT NULL, signed_pre_key_id INTEGER NOT NULL,
           signed_pre_key_signature BLOB NOT NULL, adv_secret_key BLOB NOT NULL);",
    )
    .unwrap();
    drop(conn);
    let redb = dir.path().join("wa.redb");
    {
        let store = RedbStore::open(&redb).unwrap();
        smol::block_on(store.put_identity("x@c.us.0", [1; 32])).unwrap();
    }
    let err = import_whatsapp_rust(&sqlite, &redb).unwrap_err();
    assert!(err.to_string().contains("already holds records"), "{err}");
    let store = RedbStore::open(&redb).unwrap();
    assert_eq!(
        smol::block_on(store.load_identity("x@c.us.0")).unwrap(),
        Some([1; 32])
    );

    // An existing file without records is fine (here: no devices at all).
    let empty = dir.path().join("empty.redb");
    drop(RedbStore::open(&empty).unwrap());
    let report = import_whatsapp_rust(&sqlite, &empty).unwrap();
    assert!(report.devices.is_empty());
}
