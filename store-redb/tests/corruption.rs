//! Damaged files and records: flipped bytes, truncation, garbage records,
//! unknown record versions, a newer schema, files that are not store files.
//! Each gives a clear `StoreError` or the right data; never a panic (every
//! call runs under `catch_unwind`), never a silently wrong or default value.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use bytes::Bytes;
use common::{device, pattern};
use wa_core::store::{
    AppStateMutationMAC, AppSyncStore, DeviceStore, LidPnMappingEntry, ProtocolStore, SignalStore,
    StoreError,
};
use wa_store_redb::{Durability, RedbOptions, RedbStore};

type Raw = redb::TableDefinition<'static, &'static [u8], &'static [u8]>;

/// The key prefix of device id 1 (4 bytes big-endian, sign bit flipped).
const DEV1: [u8; 4] = [0x80, 0, 0, 1];

fn raw_put(path: &Path, table: &'static str, key: &[u8], value: &[u8]) {
    let db = redb::Database::open(path).expect("raw open");
    let txn = db.begin_write().unwrap();
    txn.open_table(Raw::new(table))
        .unwrap()
        .insert(key, value)
        .unwrap();
    txn.commit().unwrap();
}

fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = DEV1.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

async fn populate(store: &RedbStore) {
    store.save(&device(7)).await.unwrap();
    for i in 0..30u64 {
        store
            .put_session(&format!("55119876500{i:02}.0"), &pattern(i, 400))
            .await
            .unwrap();
    }
    let keys: Vec<(u32, Bytes)> = (1..=200)
        .map(|id| (id, Bytes::from(pattern(u64::from(id) << 16, 100))))
        .collect();
    store.store_prekeys_batch(&keys, false).await.unwrap();
    let macs: Vec<AppStateMutationMAC> = (0..100u64)
        .map(|j| AppStateMutationMAC {
            index_mac: pattern(j << 8, 32),
            value_mac: pattern(j << 9, 32),
        })
        .collect();
    store.put_mutation_macs("regular", 3, &macs).await.unwrap();
    store
        .put_identity("5511987650001.0", [9; 32])
        .await
        .unwrap();
}

/// Reads back everything `populate` wrote. A read may fail (with a typed
/// error, counted); a read that succeeds must return exactly what was
/// written. Returns how many reads failed.
async fn read_back(store: &RedbStore) -> usize {
    let mut errors = 0;
    match store.load().await {
        Ok(d) => assert_eq!(d, Some(device(7)), "device silently altered"),
        Err(_) => errors += 1,
    }
    for i in 0..30u64 {
        match store.get_session(&format!("55119876500{i:02}.0")).await {
            Ok(v) => assert_eq!(
                v.as_deref(),
                Some(pattern(i, 400).as_slice()),
                "session {i} silently altered or lost"
            ),
            Err(_) => errors += 1,
        }
    }
    let ids: Vec<u32> = (1..=200).collect();
    match store.load_prekeys_batch(&ids).await {
        Ok(got) => {
            assert_eq!(got.len(), 200, "prekeys silently lost");
            for (id, r) in got {
                assert_eq!(r.as_ref(), pattern(u64::from(id) << 16, 100), "prekey {id}");
            }
        }
        Err(_) => errors += 1,
    }
    for j in (0..100u64).step_by(9) {
        match store
            .get_mutation_mac("regular", &pattern(j << 8, 32))
            .await
        {
            Ok(v) => assert_eq!(v, Some(pattern(j << 9, 32)), "MAC {j}"),
            Err(_) => errors += 1,
        }
    }
    match store.load_identity("5511987650001.0").await {
        Ok(v) => assert_eq!(v, Some([9; 32]), "identity"),
        Err(_) => errors += 1,
    }
    errors
}

/// A small store file with known contents; returns its bytes.
fn healthy_file(dir: &Path) -> Vec<u8> {
    let path = dir.join("healthy.redb");
    smol::block_on(async { populate(&RedbStore::open(&path).unwrap()).await });
    let compacted = RedbStore::compact(&path).expect("compact");
    assert!(compacted.size_after > 0);
    std::fs::read(&path).unwrap()
}

/// A directory for the damaged-file checks: in memory (`/dev/shm`) where
/// there is one, since hundreds of open/close cycles with their fsyncs are
/// slow on a disk and durability is not what these tests check.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().unwrap()
}

/// Options for the damaged-file checks: fsyncs off (they only slow the
/// test down; durability is not what is checked here).
fn quick(verify_on_open: bool) -> RedbOptions {
    RedbOptions::builder()
        .verify_on_open(verify_on_open)
        .durability(Durability::None)
        .build()
}

#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    open_failed: usize,
    read_failed: usize,
    /// Opened, and every read answered (with the right data when checked).
    answered: usize,
    engine_failures: usize,
}

/// Opens `bytes` as a store file and reads everything back, under
/// `catch_unwind`: a panic escaping the store fails the test.
fn try_damaged(
    path: &Path,
    bytes: &[u8],
    options: &RedbOptions,
    strict: bool,
    what: &str,
    tally: &mut Tally,
) {
    std::fs::write(path, bytes).unwrap();
    tally.cases += 1;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let store = match RedbStore::open_with(path, options.clone()) {
            Ok(s) => s,
            Err(e) => return Err(e),
        };
        let errors = if strict {
            smol::block_on(read_back(&store))
        } else {
            // Without the open-time verification a flipped value byte can go
            // unnoticed, so only "no panic, an answer" is checked.
            smol::block_on(async {
                let _ = store.load().await;
                let _ = store.get_session("5511987650001.0").await;
                let _ = store.load_prekeys_batch(&[1, 50, 200]).await;
                0
            })
        };
        let _ = store.check();
        let _ = smol::block_on(store.put_session("new.0", b"write after damage"));
        Ok(errors)
    }));
    match outcome {
        Ok(Ok(0)) => tally.answered += 1,
        Ok(Ok(_)) => tally.read_failed += 1,
        Ok(Err(e)) => {
            if let StoreError::Corrupt { detail, .. } = &e
                && detail.contains("storage engine failed")
            {
                tally.engine_failures += 1;
            }
            assert!(!e.to_string().is_empty());
            tally.open_failed += 1;
        }
        Err(_) => panic!("{what}: a panic escaped the store"),
    }
}

#[test]
fn flipped_bytes_give_errors_or_the_right_data() {
    let dir = scratch_dir();
    let healthy = healthy_file(dir.path());
    let path = dir.path().join("flipped.redb");
    let mut rng = fastrand::Rng::with_seed(0xf11b);
    let mut offsets: Vec<usize> = (0..healthy.len())
        .step_by(healthy.len() / 200 + 1)
        .collect();
    // The file header (god byte, both commit slots), byte by byte: the most
    // sensitive part.
    offsets.extend(0..320);
    offsets.extend((0..100).map(|_| rng.usize(0..healthy.len())));
    let mut tally = Tally::default();
    for &off in &offsets {
        let mut bytes = healthy.clone();
        bytes[off] ^= 1 << rng.u8(0..8);
        try_damaged(
            &path,
            &bytes,
            &quick(true),
            true,
            &format!("bit flip at {off}"),
            &mut tally,
        );
    }
    eprintln!("flipped bytes ({} byte file): {tally:?}", healthy.len());
    assert!(
        tally.open_failed > 0,
        "no flip was ever detected: {tally:?}"
    );
}

#[test]
fn flipped_bytes_without_open_verification_never_panic() {
    let dir = scratch_dir();
    let healthy = healthy_file(dir.path());
    let path = dir.path().join("flipped-noverify.redb");
    let options = quick(false);
    let mut rng = fastrand::Rng::with_seed(0xf11c);
    let mut tally = Tally::default();
    for _ in 0..300 {
        let off = rng.usize(0..healthy.len());
        let mut bytes = healthy.clone();
        bytes[off] ^= 0xff;
        try_damaged(
            &path,
            &bytes,
            &options,
            false,
            &format!("byte flip at {off}"),
            &mut tally,
        );
    }
    eprintln!("flipped bytes, no open verification: {tally:?}");
}

#[test]
fn truncated_files_give_errors_or_the_right_data() {
    let dir = scratch_dir();
    let healthy = healthy_file(dir.path());
    let path = dir.path().join("truncated.redb");
    let mut lengths: Vec<usize> = vec![1, 7, 8, 63, 64, 100, 511, 512, 4095, 4096, 4097];
    lengths.extend((4096..healthy.len()).step_by(4096));
    lengths.extend((1..40).map(|i| healthy.len() * i / 40));
    lengths.push(healthy.len() - 1);
    let mut tally = Tally::default();
    for &len in &lengths {
        try_damaged(
            &path,
            &healthy[..len],
            &quick(true),
            true,
            &format!("truncated to {len}"),
            &mut tally,
        );
    }
    eprintln!("truncated ({} byte file): {tally:?}", healthy.len());
    assert!(tally.open_failed > 0, "no truncation detected: {tally:?}");
}

/// Each planted bad record is reported as `Corrupt` naming its table and key,
/// by the read that meets it and by `check`.
#[test]
fn undecodable_records_are_corrupt_naming_table_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.redb");
    drop(RedbStore::open(&path).unwrap());
    let addr = "5511987650001.0";
    // Garbage bytes, an unknown record version, trailing bytes, a wrong length.
    raw_put(
        &path,
        "sessions_v1",
        &key(&[addr.as_bytes()]),
        &[0xde, 0xad, 0xbe, 0xef],
    );
    raw_put(
        &path,
        "prekeys_v1",
        &key(&[&7u32.to_be_bytes()]),
        &[7, 3, 1, 2, 3, 0],
    );
    raw_put(
        &path,
        "sender_keys_v1",
        &key(&[b"g::a.0"]),
        &[1, 1, 0xaa, 0xbb],
    );
    let mut short_identity = vec![1, 31];
    short_identity.extend([0u8; 31]);
    raw_put(
        &path,
        "identities_v1",
        &key(&[addr.as_bytes()]),
        &short_identity,
    );
    raw_put(&path, "devices_v1", &DEV1, &[1, 64, 1, 2]);
    raw_put(&path, "lid_mappings_v1", &key(&[b"100"]), &[]);
    let store = RedbStore::open(&path).unwrap();
    let expect_corrupt = |r: Result<(), StoreError>, table: &str, key_part: &str| match r {
        Err(StoreError::Corrupt {
            table: t,
            key,
            detail,
        }) => {
            assert_eq!(t, table);
            assert!(key.contains("device 1") && key.contains(key_part), "{key}");
            assert!(!detail.is_empty());
            detail
        }
        other => panic!("{table}: expected Corrupt, got {other:?}"),
    };
    smol::block_on(async {
        expect_corrupt(store.get_session(addr).await.map(drop), "sessions_v1", addr);
        let d = expect_corrupt(store.load_prekey(7).await.map(drop), "prekeys_v1", "id 7");
        assert!(d.contains("unknown record version 7"), "{d}");
        let d = expect_corrupt(
            store.get_sender_key("g::a.0").await.map(drop),
            "sender_keys_v1",
            "g::a.0",
        );
        assert!(d.contains("trailing"), "{d}");
        let d = expect_corrupt(
            store.load_identity(addr).await.map(drop),
            "identities_v1",
            addr,
        );
        assert!(d.contains("31"), "{d}");
        expect_corrupt(store.load().await.map(drop), "devices_v1", "device 1");
        let d = expect_corrupt(
            store.get_lid_mapping("100").await.map(drop),
            "lid_mappings_v1",
            "100",
        );
        assert!(d.contains("empty"), "{d}");
        // A batch read meeting one bad row fails as a whole, naming that row.
        expect_corrupt(
            store.load_prekeys_batch(&[1, 7]).await.map(drop),
            "prekeys_v1",
            "id 7",
        );
        // Updating over a corrupt record fails instead of guessing; the
        // record is left for inspection, and writing a fresh value repairs it.
        expect_corrupt(
            store.mark_prekeys_uploaded(&[7]).await,
            "prekeys_v1",
            "id 7",
        );
        expect_corrupt(
            store
                .put_lid_mapping(&LidPnMappingEntry {
                    lid: "100".into(),
                    phone_number: "5511".into(),
                    created_at: 1,
                    updated_at: 2,
                    learning_source: "usync".into(),
                })
                .await,
            "lid_mappings_v1",
            "100",
        );
        // Existence checks do not decode.
        assert!(store.has_session(addr).await.unwrap());
        assert!(store.exists().await.unwrap());
    });
    let report = store.check().unwrap();
    let mut tables: Vec<&str> = report.problems.iter().map(|p| p.table.as_str()).collect();
    tables.sort_unstable();
    assert_eq!(
        tables,
        [
            "devices_v1",
            "identities_v1",
            "lid_mappings_v1",
            "prekeys_v1",
            "sender_keys_v1",
            "sessions_v1"
        ],
        "{:?}",
        report.problems
    );
    smol::block_on(async {
        store.put_session(addr, b"fresh").await.unwrap();
        assert_eq!(
            store.get_session(addr).await.unwrap().as_deref(),
            Some(&b"fresh"[..])
        );
    });
    assert_eq!(store.check().unwrap().problems.len(), 5);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.redb");
    smol::block_on(async { populate(&RedbStore::open(&path).unwrap()).await });
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(Raw::new("meta"))
        .unwrap()
        .insert(
            &b"schema_version"[..],
            &(wa_store_redb::SCHEMA_VERSION + 1).to_le_bytes()[..],
        )
        .unwrap();
    txn.commit().unwrap();
    drop(db);
    let before = std::fs::read(&path).unwrap();
    match RedbStore::open(&path) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!(
                (found, supported),
                (
                    wa_store_redb::SCHEMA_VERSION + 1,
                    wa_store_redb::SCHEMA_VERSION
                )
            );
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let err = RedbStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("newer release"), "{err}");
    // Refusing does not touch the file's data.
    let db = redb::Database::open(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let t = txn.open_table(Raw::new("sessions_v1")).unwrap();
    assert_eq!(redb::ReadableTableMetadata::len(&t).unwrap(), 30);
    assert!(!before.is_empty());
}

#[test]
fn files_that_are_not_store_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A redb file of some other program.
    let other = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&other).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(Raw::new("stuff"))
            .unwrap()
            .insert(&b"k"[..], &b"v"[..])
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        RedbStore::open(&other),
        Err(StoreError::InvalidInput(_))
    ));
    // A store whose meta table lost its version.
    let lost = dir.path().join("lost-version.redb");
    drop(RedbStore::open(&lost).unwrap());
    {
        let db = redb::Database::open(&lost).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(Raw::new("meta"))
            .unwrap()
            .remove(&b"schema_version"[..])
            .unwrap();
        txn.commit().unwrap();
    }
    match RedbStore::open(&lost) {
        Err(StoreError::Corrupt { table, key, .. }) => {
            assert_eq!((table.as_str(), key.as_str()), ("meta", "schema_version"));
        }
        other => panic!("{other:?}"),
    }
    // Not a redb file at all.
    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, pattern(1, 100_000)).unwrap();
    let r = catch_unwind(|| RedbStore::open(&junk).map(drop));
    assert!(matches!(r, Ok(Err(_))), "{r:?}");
    let text = dir.path().join("text.redb");
    std::fs::write(&text, "hello, I am a text file\n").unwrap();
    let r = catch_unwind(|| RedbStore::open(&text).map(drop));
    assert!(matches!(r, Ok(Err(_))), "{r:?}");
}
