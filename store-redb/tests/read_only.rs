//! `ReadOnlyStore` and `RedbOptions::shared_readers`: inspection that never
//! writes, beside a running store in the same process (the `wa-store` runs
//! in another process are in cli.rs).

mod common;

use wa_core::store::{SignalStore, StoreError};
use wa_store_redb::{Durability, FileInUse, ReadOnlyStore, RedbOptions, RedbStore};

fn shared() -> RedbOptions {
    RedbOptions::builder().shared_readers(true).build()
}

fn sessions(reader: &ReadOnlyStore) -> u64 {
    reader
        .stats()
        .unwrap()
        .tables
        .iter()
        .find(|t| t.table == "sessions_v1")
        .unwrap()
        .rows
}

#[test]
fn a_reader_beside_a_shared_store_sees_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.redb");
    let store = RedbStore::open_with(&path, shared()).unwrap();
    smol::block_on(store.put_session("a.0", b"one")).unwrap();

    let reader = ReadOnlyStore::open(&path).unwrap();
    assert_eq!(reader.path(), path);
    assert_eq!(
        reader.schema_version().unwrap(),
        wa_store_redb::SCHEMA_VERSION
    );
    assert_eq!(sessions(&reader), 1);
    smol::block_on(store.put_session("b.0", b"two")).unwrap();
    assert_eq!(sessions(&reader), 2, "each call reads the latest commit");
    assert!(reader.check().unwrap().is_clean());
    let mut out = Vec::new();
    // meta + two sessions
    assert_eq!(reader.export(&mut out, false).unwrap(), 3);

    // A second writer is still refused, reader or not.
    let err = RedbStore::open_with(&path, shared()).unwrap_err();
    assert!(FileInUse::of(&err).is_some(), "{err:?}");
    drop(store);
    // The reader outlives the store and still reads.
    assert_eq!(sessions(&reader), 2);
}

#[test]
fn a_store_without_shared_readers_keeps_readers_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.redb");
    let store = RedbStore::open(&path).unwrap();
    let err = ReadOnlyStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let in_use = FileInUse::of(&err).expect("FileInUse among the causes");
    assert!(
        in_use
            .to_string()
            .starts_with("the file is in use by another process (a running client?)"),
        "{in_use}"
    );
    drop(store);
    drop(ReadOnlyStore::open(&path).unwrap());
}

#[test]
fn an_open_reader_admits_only_a_shared_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.redb");
    drop(RedbStore::open(&path).unwrap());
    let reader = ReadOnlyStore::open(&path).unwrap();
    // An exclusive store would lock the whole file under the reader.
    let err = RedbStore::open(&path).unwrap_err();
    assert!(FileInUse::of(&err).is_some(), "{err:?}");
    let store = RedbStore::open_with(&path, shared()).unwrap();
    smol::block_on(store.put_session("a.0", b"one")).unwrap();
    assert_eq!(sessions(&reader), 1);
}

#[test]
fn reading_never_upgrades_or_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::v1_fixture_copy(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    {
        let reader = ReadOnlyStore::open(&path).unwrap();
        assert_eq!(reader.schema_version().unwrap(), 1, "not upgraded");
        let stats = reader.stats().unwrap();
        assert_eq!(stats.schema_version, 1);
        assert_eq!(stats.file_size, Some(bytes.len() as u64));
        let inbox = stats.tables.iter().find(|t| t.table == "inbox_v1").unwrap();
        assert_eq!(inbox.rows, 0, "a table the version lacks counts as empty");
        let report = reader.check().unwrap();
        assert_eq!((report.records, report.problems.len()), (26, 0));
        let mut out = Vec::new();
        assert_eq!(reader.export(&mut out, true).unwrap(), 27);
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    assert!(std::fs::read(&path).unwrap() == bytes, "bytes changed");
    // The store itself still upgrades it on open.
    drop(RedbStore::open(&path).unwrap());
    assert_eq!(
        ReadOnlyStore::open(&path)
            .unwrap()
            .schema_version()
            .unwrap(),
        wa_store_redb::SCHEMA_VERSION
    );
}

#[test]
fn files_that_are_not_stores_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.redb");
    assert!(matches!(
        ReadOnlyStore::open(&missing),
        Err(StoreError::Io(_))
    ));
    assert!(!missing.exists(), "never created");

    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, b"").unwrap();
    assert!(ReadOnlyStore::open(&empty).is_err());
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);

    // A redb file with no tables at all: not a store.
    let bare = dir.path().join("bare.redb");
    drop(redb::Database::create(&bare).unwrap());
    let bytes = std::fs::read(&bare).unwrap();
    assert!(matches!(
        ReadOnlyStore::open(&bare),
        Err(StoreError::InvalidInput(_))
    ));
    assert!(std::fs::read(&bare).unwrap() == bytes);
}

#[test]
fn shared_readers_need_durable_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.redb");
    let options = RedbOptions::builder()
        .shared_readers(true)
        .durability(Durability::None)
        .build();
    let err = RedbStore::open_with(&path, options).unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("shared_readers"), "{err}");
}

#[test]
fn the_builder_sets_each_option_and_defaults_the_rest() {
    let options = RedbOptions::builder()
        .cache_size(1 << 20)
        .durability(Durability::None)
        .verify_on_open(false)
        .build();
    assert_eq!(options.cache_size, 1 << 20);
    assert_eq!(options.durability, Durability::None);
    assert!(!options.verify_on_open);
    assert!(!options.shared_readers);
    assert_eq!(RedbOptions::builder().build(), RedbOptions::default());
    // The fields stay readable and settable on a value.
    let mut options = RedbOptions::default();
    options.shared_readers = true;
    assert_eq!(options, shared());
}
