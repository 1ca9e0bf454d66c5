//! [`ReadOnlyStore`]: a store file opened for inspection only, never written.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use redb::{ReadOnlyDatabase, ReadTransaction, ReadableDatabase};
use wa_core::store::{StoreError, StoreResult};

use crate::error;
use crate::inspect::{check_in, export_in, schema_version, stats_in};
use crate::store::OrStore;
use crate::{CheckReport, FoundSchema, RedbOptions, Stats};

/// A store file opened read-only, for [`stats`](Self::stats),
/// [`check`](Self::check) and [`export`](Self::export) (what the `wa-store`
/// tool runs).
///
/// Opening it writes nothing: no crash recovery, no schema upgrade, no
/// clean-shutdown mark, so the file's bytes are the same after it as before.
/// A file of an older schema version is read as it is (its missing tables
/// count as empty). It can be opened while a [`RedbStore`](crate::RedbStore)
/// has the file open if that store was opened with
/// [`RedbOptions::shared_readers`]; each call then reads the store's latest
/// commit, in one read transaction. Against a store opened without it, the
/// open fails with [`FileInUse`](crate::FileInUse).
///
/// While a `ReadOnlyStore` is open, a store opened with `shared_readers` can
/// open the file beside it, but one opened without it cannot (it would lock
/// the whole file) and fails with [`FileInUse`](crate::FileInUse).
///
/// ```
/// use wa_core::store::SignalStore;
/// use wa_store_redb::{ReadOnlyStore, RedbOptions, RedbStore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("wa.redb");
/// let options = RedbOptions::builder().shared_readers(true).build();
/// let store = RedbStore::open_with(&path, options)?;
/// smol::block_on(store.put_session("5511987650001.0", b"session"))?;
///
/// // Beside the running store, as another process would.
/// let reader = ReadOnlyStore::open(&path)?;
/// let stats = reader.stats()?;
/// let sessions = stats.tables.iter().find(|t| t.table == "sessions_v1").unwrap();
/// assert_eq!(sessions.rows, 1);
/// assert!(reader.check()?.is_clean());
/// # Ok(()) }
/// ```
pub struct ReadOnlyStore {
    db: ReadOnlyDatabase,
    path: PathBuf,
}

impl fmt::Debug for ReadOnlyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadOnlyStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why a read-only open failed, in terms of what to do about it.
fn open_error(e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::RepairAborted => StoreError::backend(
            "the file was not closed cleanly (a client crashed, or is still opening it) and \
             needs recovery, which a read-only open does not do: open it once with the client \
             (or run `wa-store compact` on it), then retry",
        ),
        other => error::database(other),
    }
}

impl ReadOnlyStore {
    /// Opens the existing store file at `path` without writing to it.
    ///
    /// Fails with [`StoreError::Backend`] with a [`FileInUse`](crate::FileInUse)
    /// source when a store that did not opt into
    /// [`RedbOptions::shared_readers`] holds the file, with
    /// [`StoreError::Backend`] when the file was left by a crash (recovery
    /// writes, so it is left to the next [`RedbStore::open`](crate::RedbStore::open)
    /// or [`RedbStore::compact`](crate::RedbStore::compact)),
    /// [`StoreError::SchemaTooNew`] for a file of a newer release,
    /// [`StoreError::InvalidInput`] for a redb file that is not a store, and
    /// [`StoreError::Io`] when the file cannot be read (missing: it is never
    /// created).
    ///
    /// Page checksums are not verified at open ([`RedbOptions::verify_on_open`]
    /// needs a writer, which may repair); damage is found when a read meets
    /// it, as [`StoreError::Corrupt`].
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let db = error::guard(|| {
            let db = redb::Builder::new()
                .set_cache_size(RedbOptions::default().cache_size)
                .set_concurrency_mode(crate::concurrency_mode(true))
                .open_read_only(&path)
                .map_err(open_error)?;
            let txn = db.begin_read().or_store()?;
            if let FoundSchema::Empty = crate::found_schema(&txn)? {
                return Err(StoreError::InvalidInput(
                    "not a wa-store-redb file: it has no tables".into(),
                ));
            }
            drop(txn);
            Ok(db)
        })?;
        Ok(Self { db, path })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> StoreResult<T>) -> StoreResult<T> {
        error::guard(|| {
            let txn = self.db.begin_read().or_store()?;
            f(&txn)
        })
    }

    /// The schema version recorded in the file (not upgraded: a file of
    /// version 1 says 1).
    pub fn schema_version(&self) -> StoreResult<u32> {
        self.read(schema_version)
    }

    /// [`RedbStore::stats`](crate::RedbStore::stats), read-only.
    pub fn stats(&self) -> StoreResult<Stats> {
        let file_size = std::fs::metadata(&self.path)?.len();
        self.read(|txn| stats_in(txn, Some(file_size)))
    }

    /// [`RedbStore::check`](crate::RedbStore::check), read-only: decodes
    /// every record and checks the invariants between tables.
    pub fn check(&self) -> StoreResult<CheckReport> {
        self.read(check_in)
    }

    /// [`RedbStore::export`](crate::RedbStore::export), read-only.
    pub fn export(&self, out: &mut dyn Write, include_secrets: bool) -> StoreResult<u64> {
        self.read(|txn| export_in(txn, out, include_secrets))
    }
}
