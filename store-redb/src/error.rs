//! Mapping redb's errors (and engine panics) onto [`StoreError`].

use std::any::Any;
use std::io;

use wa_core::store::StoreError;

/// The `table` of a [`StoreError::Corrupt`] about the file's own structure
/// (pages, checksums, allocator), as opposed to one record.
pub(crate) const FILE_TABLE: &str = "(file)";
/// The `key` that goes with [`FILE_TABLE`].
pub(crate) const FILE_KEY: &str = "(engine pages)";

pub(crate) fn storage(e: redb::StorageError) -> StoreError {
    match e {
        redb::StorageError::Io(e) => StoreError::Io(e),
        redb::StorageError::Corrupted(msg) => StoreError::corrupt(FILE_TABLE, FILE_KEY, msg),
        redb::StorageError::ValueTooLarge(n) => {
            StoreError::InvalidInput(format!("value of {n} bytes is too large"))
        }
        other => StoreError::backend(other),
    }
}

pub(crate) fn database(e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::Storage(e) => storage(e),
        e @ (redb::DatabaseError::DatabaseAlreadyOpen
        | redb::DatabaseError::LockProtocolMismatch) => {
            StoreError::backend(FileInUse { source: e })
        }
        other => StoreError::backend(other),
    }
}

/// Why a store file could not be opened: another open handle holds it.
///
/// It is the [`source`](std::error::Error::source) of the
/// [`StoreError::Backend`] that [`RedbStore::open`](crate::RedbStore::open),
/// [`ReadOnlyStore::open`](crate::ReadOnlyStore::open) and
/// [`RedbStore::compact`](crate::RedbStore::compact) return when the file is
/// held by a store (in another process or this one) or by a reader that
/// excludes writers; [`FileInUse::of`] finds it.
///
/// ```
/// use wa_store_redb::{FileInUse, RedbStore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("wa.redb");
/// let running = RedbStore::open(&path)?;
/// let err = RedbStore::open(&path).unwrap_err();
/// assert!(FileInUse::of(&err).is_some());
/// # drop(running); Ok(()) }
/// ```
#[derive(Debug)]
pub struct FileInUse {
    source: redb::DatabaseError,
}

impl FileInUse {
    /// The `FileInUse` among `error`'s causes, if the file was in use.
    pub fn of(error: &StoreError) -> Option<&FileInUse> {
        let mut cause = std::error::Error::source(error);
        while let Some(e) = cause {
            if let Some(found) = e.downcast_ref::<FileInUse>() {
                return Some(found);
            }
            cause = e.source();
        }
        None
    }
}

impl std::fmt::Display for FileInUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the file is in use by another process (a running client?) \
             or by another open handle in this process",
        )
    }
}

impl std::error::Error for FileInUse {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

pub(crate) fn transaction(e: redb::TransactionError) -> StoreError {
    match e {
        redb::TransactionError::Storage(e) => storage(e),
        other => StoreError::backend(other),
    }
}

pub(crate) fn table(e: redb::TableError) -> StoreError {
    match e {
        redb::TableError::Storage(e) => storage(e),
        other => StoreError::backend(other),
    }
}

pub(crate) fn commit(e: &redb::CommitError) -> StoreError {
    // One commit error fails every caller of a group, so each gets its own
    // copy: the kind and text survive, the original object cannot be shared.
    match e {
        redb::CommitError::Storage(redb::StorageError::Io(io)) => {
            StoreError::Io(io::Error::new(io.kind(), io.to_string()))
        }
        redb::CommitError::Storage(redb::StorageError::Corrupted(msg)) => {
            StoreError::corrupt(FILE_TABLE, FILE_KEY, msg.clone())
        }
        other => StoreError::backend(format!("commit failed: {other}")),
    }
}

/// A fresh copy of an error for another caller of the same failed group.
pub(crate) fn duplicate(e: &StoreError) -> StoreError {
    match e {
        StoreError::Io(io) => StoreError::Io(io::Error::new(io.kind(), io.to_string())),
        StoreError::Corrupt { table, key, detail } => {
            StoreError::corrupt(table.clone(), key.clone(), detail.clone())
        }
        StoreError::InvalidInput(s) => StoreError::InvalidInput(s.clone()),
        StoreError::SchemaTooNew { found, supported } => StoreError::SchemaTooNew {
            found: *found,
            supported: *supported,
        },
        other => StoreError::backend(other.to_string()),
    }
}

/// The error a call gets when redb panicked while serving it. redb panics only
/// on states no file it wrote can reach, i.e. on a damaged file, so this is a
/// `Corrupt` about the file.
pub(crate) fn engine_panic(payload: &(dyn Any + Send)) -> StoreError {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    StoreError::corrupt(
        FILE_TABLE,
        FILE_KEY,
        format!("storage engine failed on inconsistent data: {msg}"),
    )
}

/// Runs `f`, turning a panic inside the storage engine into an error.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(engine_panic(payload.as_ref())))
}

/// The error of a write that was queued but never answered.
pub(crate) fn writer_gone() -> StoreError {
    StoreError::backend("the store's writer stopped before answering; reopen the store")
}
