//! The inbox on RedbStore: the inbox conformance checks on a file and in
//! memory, durability across a reopen, the upgrade of a schema-v1 file (a copy
//! of the committed fixture) to the current version, and `check`/`export` on
//! the inbox tables, including damaged rows.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wa_core::store::conformance::StorePair;
use wa_core::store::conformance_inbox::check_inbox;
use wa_core::store::{
    DeviceStore, InboxEntry, ProtocolStore, SignalStore, StoreError, WriteBatch, apply_batch,
};
use wa_store_redb::{RedbStore, SCHEMA_VERSION};

type Raw = redb::TableDefinition<'static, &'static [u8], &'static [u8]>;

async fn pair(store: RedbStore) -> StorePair<RedbStore> {
    let id = store.create().await.expect("create");
    let secondary = store.for_device(id);
    StorePair {
        primary: store,
        secondary,
    }
}

fn entry(chat: &str, id: &str, timestamp: i64, payload: &[u8]) -> InboxEntry {
    InboxEntry {
        chat: chat.into(),
        id: id.into(),
        sender: format!("{chat}/sender"),
        timestamp,
        payload: payload.to_vec(),
    }
}

/// The schema version recorded in a closed store file, read raw.
fn raw_schema_version(path: &Path) -> u32 {
    let db = redb::Database::open(path).expect("raw open");
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let meta = txn.open_table(Raw::new("meta")).unwrap();
    let v = redb::ReadableTable::get(&meta, &b"schema_version"[..])
        .unwrap()
        .expect("schema_version");
    u32::from_le_bytes(v.value().try_into().expect("4 bytes"))
}

/// The names of the tables of a closed store file.
fn raw_tables(path: &Path) -> Vec<String> {
    let db = redb::Database::open(path).expect("raw open");
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let mut names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|h| redb::TableHandle::name(&h).to_owned())
        .collect();
    names.sort();
    names
}

/// Every (key, value) of one table of a closed store file.
fn raw_rows(path: &Path, table: &'static str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = redb::Database::open(path).expect("raw open");
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let t = txn.open_table(Raw::new(table)).unwrap();
    redb::ReadableTable::iter(&t)
        .unwrap()
        .map(|row| {
            let (k, v) = row.unwrap();
            (k.value().to_vec(), v.value().to_vec())
        })
        .collect()
}

/// Applies raw edits to one table of a closed store file.
fn raw_edit(path: &Path, table: &'static str, f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>)) {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_write().unwrap();
    f(&mut txn.open_table(Raw::new(table)).unwrap());
    txn.commit().unwrap();
}

#[test]
fn inbox_checks_on_a_file() {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut n = 0;
    smol::block_on(check_inbox(|| {
        n += 1;
        let path = dir.path().join(format!("inbox-{n}.redb"));
        async move { pair(RedbStore::open(path).expect("open")).await }
    }));
}

#[test]
fn inbox_checks_in_memory() {
    smol::block_on(check_inbox(|| async {
        pair(RedbStore::in_memory().expect("in_memory")).await
    }));
}

#[test]
fn inbox_survives_a_reopen_and_removals_are_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("inbox.redb");
    let a = entry("120363021033254949@g.us", "3EB0A", 1_700_000_002, b"a");
    let b = entry("5511987650001@s.whatsapp.net", "3EB0B", 1_700_000_001, b"b");
    smol::block_on(async {
        let store = RedbStore::open(&path).expect("open");
        // As messaging writes it: the session and the decrypted message in
        // one batch.
        let mut batch = WriteBatch::new();
        batch.put_session("5511987650001.0", b"advanced".to_vec());
        batch.put_inbox(b.clone());
        assert!(apply_batch(&store, &batch).await.expect("apply"));
        store.put_inbox(&a).await.expect("put_inbox");
    });
    let store = RedbStore::open(&path).expect("reopen");
    smol::block_on(async {
        assert_eq!(
            store.list_inbox(10).await.expect("list"),
            vec![b.clone(), a.clone()]
        );
        assert_eq!(
            store
                .get_session("5511987650001.0")
                .await
                .expect("session")
                .as_deref(),
            Some(&b"advanced"[..])
        );
        store.remove_inbox(&b.chat, &b.id).await.expect("remove");
    });
    assert!(store.check().expect("check").is_clean());
    drop(store);
    let store = RedbStore::open(&path).expect("reopen");
    smol::block_on(async {
        assert_eq!(store.list_inbox(10).await.expect("list"), vec![a]);
    });
    let stats = store.stats().expect("stats");
    let rows = |name: &str| stats.tables.iter().find(|t| t.table == name).unwrap().rows;
    assert_eq!((rows("inbox_v1"), rows("inbox_index_v1")), (1, 1));
}

#[test]
fn a_schema_v1_file_is_upgraded_on_open_and_gets_a_working_inbox() {
    assert_eq!(SCHEMA_VERSION, 2, "this test upgrades version 1 to 2");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::v1_fixture_copy(dir.path());
    assert_eq!(raw_schema_version(&path), 1);
    assert!(!raw_tables(&path).iter().any(|t| t.starts_with("inbox")));

    let store = RedbStore::open(&path).expect("open the v1 file");
    let stats = store.stats().expect("stats");
    assert_eq!(stats.schema_version, SCHEMA_VERSION);
    let rows = |name: &str| {
        stats
            .tables
            .iter()
            .find(|t| t.table == name)
            .map(|t| t.rows)
    };
    assert_eq!(rows("inbox_v1"), Some(0));
    assert_eq!(rows("inbox_index_v1"), Some(0));
    assert_eq!(rows("sessions_v1"), Some(3), "the v1 data is untouched");
    let second = store.for_device(2);
    let m1 = entry(
        "5511987650001@s.whatsapp.net",
        "3EB0M1",
        1_700_000_500,
        b"m1",
    );
    let m2 = entry("120363021033254949@g.us", "3EB0M2", 1_700_000_400, b"m2");
    smol::block_on(async {
        // The v1 records read as before.
        assert_eq!(
            store
                .get_session("5511987650001.0")
                .await
                .expect("session")
                .as_deref(),
            Some(&b"session-one"[..])
        );
        assert!(store.list_inbox(10).await.expect("list").is_empty());
        let mut batch = WriteBatch::new();
        batch.put_session("5511987650001.0", b"session-one-advanced".to_vec());
        batch.put_inbox(m1.clone());
        assert!(apply_batch(&store, &batch).await.expect("apply"));
        store.put_inbox(&m2).await.expect("put_inbox");
        assert_eq!(
            store.list_inbox(10).await.expect("list"),
            vec![m2.clone(), m1.clone()]
        );
        // Device 2 of the fixture has its own, empty inbox.
        assert!(second.list_inbox(10).await.expect("list").is_empty());
        store.remove_inbox(&m2.chat, &m2.id).await.expect("remove");
    });
    assert!(store.check().expect("check").is_clean());
    drop((store, second));

    assert_eq!(raw_schema_version(&path), SCHEMA_VERSION);
    let tables = raw_tables(&path);
    assert!(tables.contains(&"inbox_v1".to_owned()), "{tables:?}");
    assert!(tables.contains(&"inbox_index_v1".to_owned()), "{tables:?}");
    // Reopening an upgraded file is a plain open, and the inbox is there.
    let store = RedbStore::open(&path).expect("reopen");
    smol::block_on(async {
        assert_eq!(store.list_inbox(10).await.expect("list"), vec![m1]);
        assert_eq!(
            store
                .get_session("5511987650001.0")
                .await
                .expect("session")
                .as_deref(),
            Some(&b"session-one-advanced"[..])
        );
        // The device-id counter of the v1 file survived the upgrade.
        assert_eq!(store.create().await.expect("create"), 3);
    });
    assert_eq!(store.stats().expect("stats").schema_version, SCHEMA_VERSION);
}

#[test]
fn a_v1_file_missing_its_version_is_still_refused_not_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::v1_fixture_copy(dir.path());
    raw_edit(&path, "meta", |t| {
        t.remove(&b"schema_version"[..]).unwrap();
    });
    match RedbStore::open(&path) {
        Err(StoreError::Corrupt { table, key, .. }) => {
            assert_eq!((table.as_str(), key.as_str()), ("meta", "schema_version"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!raw_tables(&path).iter().any(|t| t.starts_with("inbox")));
}

/// Builds a closed file with two inbox entries of device 1.
fn two_entries(dir: &Path) -> PathBuf {
    let path = dir.join("damaged.redb");
    smol::block_on(async {
        let store = RedbStore::open(&path).expect("open");
        store
            .put_inbox(&entry("c1@s.whatsapp.net", "M1", 10, b"secret-one"))
            .await
            .unwrap();
        store
            .put_inbox(&entry("c2@s.whatsapp.net", "M2", 20, b"secret-two"))
            .await
            .unwrap();
    });
    path
}

/// Runs `f` and fails the test if it panics: damaged rows give errors.
fn no_panic<T>(f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).expect("a damaged inbox row made the store panic")
}

#[test]
fn check_finds_inbox_entries_and_index_rows_that_disagree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = two_entries(dir.path());
    let index = raw_rows(&path, "inbox_index_v1");
    let entries = raw_rows(&path, "inbox_v1");
    assert_eq!((index.len(), entries.len()), (2, 2));
    // Drop the index row of M1 and point M2's index row at another timestamp.
    raw_edit(&path, "inbox_index_v1", |t| {
        t.remove(index[0].0.as_slice()).unwrap();
        // envelope v1, postcard zigzag varint of 21 = 42
        t.insert(index[1].0.as_slice(), &[1u8, 42][..]).unwrap();
    });
    let store = RedbStore::open(&path).expect("open");
    let report = store.check().expect("check");
    let mut found: Vec<(String, String)> = report
        .problems
        .iter()
        .map(|p| (p.table.clone(), p.detail.clone()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (
                "inbox_index_v1".to_owned(),
                "index row without an inbox entry at timestamp 21".to_owned()
            ),
            (
                "inbox_v1".to_owned(),
                "inbox entry without its index row".to_owned()
            ),
            (
                "inbox_v1".to_owned(),
                "inbox entry without its index row".to_owned()
            ),
        ],
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.key.contains("timestamp 10") && p.key.contains("\"M1\"")),
        "{:?}",
        report.problems
    );
}

#[test]
fn damaged_inbox_rows_are_corrupt_errors_naming_their_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = two_entries(dir.path());
    let index = raw_rows(&path, "inbox_index_v1");
    let entries = raw_rows(&path, "inbox_v1");
    // M2's entry: an unknown record version. M1's index row: garbage.
    raw_edit(&path, "inbox_v1", |t| {
        t.insert(entries[1].0.as_slice(), &[9u8, 0, 0][..]).unwrap();
    });
    raw_edit(&path, "inbox_index_v1", |t| {
        t.insert(index[0].0.as_slice(), &[1u8][..]).unwrap();
    });
    let store = RedbStore::open(&path).expect("open");
    no_panic(|| {
        smol::block_on(async {
            // Listing stops at the damaged entry, naming it.
            match store.list_inbox(10).await {
                Err(StoreError::Corrupt { table, key, detail }) => {
                    assert_eq!(table, "inbox_v1");
                    assert!(
                        key.contains("\"M2\"") && key.contains("timestamp 20"),
                        "{key}"
                    );
                    assert!(detail.contains("version 9"), "{detail}");
                }
                other => panic!("{other:?}"),
            }
            // The entry before it still lists.
            assert_eq!(store.list_inbox(1).await.unwrap()[0].id, "M1");
            // Replacing or removing M1 needs its index row: refused, nothing
            // guessed, and the rest of the store keeps working.
            for result in [
                store
                    .put_inbox(&entry("c1@s.whatsapp.net", "M1", 11, b"x"))
                    .await,
                store.remove_inbox("c1@s.whatsapp.net", "M1").await,
            ] {
                match result {
                    Err(StoreError::Corrupt { table, .. }) => {
                        assert_eq!(table, "inbox_index_v1")
                    }
                    other => panic!("{other:?}"),
                }
            }
            let mut batch = WriteBatch::new();
            batch.put_session("x.0", b"s".to_vec());
            batch.remove_inbox("c1@s.whatsapp.net", "M1");
            assert!(matches!(
                apply_batch(&store, &batch).await,
                Err(StoreError::Corrupt { .. })
            ));
            assert_eq!(
                store.get_session("x.0").await.unwrap(),
                None,
                "a failed batch writes nothing"
            );
            store.put_session("y.0", b"s").await.unwrap();
            store
                .put_inbox(&entry("c3@s.whatsapp.net", "M3", 5, b"ok"))
                .await
                .unwrap();
        })
    });
    // Both damaged rows, and the rows they leave without a partner.
    let report = store.check().expect("check");
    let mut found: Vec<&str> = report.problems.iter().map(|p| p.table.as_str()).collect();
    found.sort();
    assert_eq!(
        found,
        ["inbox_index_v1", "inbox_index_v1", "inbox_v1", "inbox_v1"],
        "{:?}",
        report.problems
    );
}

#[test]
fn export_shows_inbox_rows_with_payloads_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = two_entries(dir.path());
    let store = RedbStore::open(&path).expect("open");
    let lines = |include_secrets: bool| {
        let mut out = Vec::new();
        store.export(&mut out, include_secrets).expect("export");
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["table"].as_str().is_some_and(|t| t.starts_with("inbox")))
            .collect::<Vec<_>>()
    };
    let redacted = lines(false);
    assert_eq!(redacted.len(), 4);
    let text = serde_json::to_string(&redacted).unwrap();
    assert!(!text.contains(&hex::encode(b"secret-one")), "{text}");
    let first = &redacted[0];
    assert_eq!(first["table"], "inbox_v1");
    assert_eq!(first["key"]["chat"], "c1@s.whatsapp.net");
    assert_eq!(first["key"]["id"], "M1");
    assert_eq!(first["key"]["timestamp"], 10);
    assert_eq!(first["value"]["sender"], "c1@s.whatsapp.net/sender");
    assert_eq!(first["value"]["payload"]["redacted"], true);
    assert_eq!(first["value"]["payload"]["len"], 10);
    let index = redacted
        .iter()
        .find(|v| v["table"] == "inbox_index_v1" && v["key"]["id"] == "M2")
        .expect("index row of M2");
    assert_eq!(index["value"]["timestamp"], 20);
    let full = serde_json::to_string(&lines(true)).unwrap();
    assert!(full.contains(&hex::encode(b"secret-one")), "{full}");
}
