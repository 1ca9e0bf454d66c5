//! `snapshot_db`: a consistent copy of the whole database, beside the file.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable};
use wa_core::store::{StoreError, StoreResult};

use crate::error;
use crate::schema::{Def, FAMILIES, META};
use crate::store::{OrStore, open_read};
use crate::{MemSnapshot, Place, RedbOptions, RedbStore};

/// Every table of the file: `meta` and the record families.
pub(crate) fn all_tables() -> impl Iterator<Item = (&'static str, Def)> {
    std::iter::once(("meta", META)).chain(FAMILIES.iter().map(|f| (f.name, f.def)))
}

/// Copies every table as of `src` into `dst`, in one write transaction.
pub(crate) fn copy_tables(src: &ReadTransaction, dst: &Database) -> StoreResult<()> {
    let txn = dst.begin_write().or_store()?;
    for (_, def) in all_tables() {
        let mut out = txn.open_table(def).or_store()?;
        if let Some(input) = open_read(src, def)? {
            for row in input.iter().or_store()? {
                let (k, v) = row.or_store()?;
                out.insert(k.value(), v.value()).or_store()?;
            }
        }
    }
    txn.commit().map_err(|e| error::commit(&e))
}

/// A snapshot name as a file stem: bytes outside `[A-Za-z0-9_-]` become
/// `%XX`, the empty name is `%`. Distinct names give distinct stems.
fn file_stem(name: &str) -> StoreResult<String> {
    if name.is_empty() {
        return Ok("%".into());
    }
    let mut stem = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            stem.push(char::from(b));
        } else {
            let _ = write!(stem, "%{b:02X}");
        }
    }
    if stem.len() > 200 {
        return Err(StoreError::InvalidInput(
            "snapshot name too long for a file name".into(),
        ));
    }
    Ok(stem)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

fn snapshot_to_files(
    db: &Database,
    dir: &Path,
    stem: &str,
    extra: Option<&[u8]>,
) -> StoreResult<()> {
    fs::create_dir_all(dir)?;
    let target = dir.join(format!("{stem}.redb"));
    let tmp = dir.join(format!("{stem}.redb.tmp"));
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    {
        let src = db.begin_read().or_store()?;
        let copy = redb::Builder::new()
            .set_cache_size(4 << 20)
            .create(&tmp)
            .map_err(error::database)?;
        copy_tables(&src, &copy)?;
        // The commit above was durable; closing writes the clean-shutdown mark.
        copy.close().map_err(error::database)?;
    }
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, &target)?;
    let extra_path = dir.join(format!("{stem}.extra"));
    match extra {
        Some(bytes) => write_atomic(&extra_path, bytes)?,
        None => match fs::remove_file(&extra_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        },
    }
    sync_dir(dir)?;
    Ok(())
}

impl RedbStore {
    /// The directory snapshots of this store go to: `<file>.snapshots` beside
    /// the store file. `None` for a store without a file (its snapshots stay in
    /// memory).
    pub fn snapshot_dir(&self) -> Option<PathBuf> {
        self.path().map(|p| {
            let mut name = p.as_os_str().to_owned();
            name.push(".snapshots");
            PathBuf::from(name)
        })
    }

    /// The file snapshot `name` is written to:
    /// `<snapshot_dir>/<stem>.redb`, the stem being `name` with every byte
    /// outside `[A-Za-z0-9_-]` written as `%XX` (`%` for the empty name). The
    /// extra blob goes to `<stem>.extra` beside it. `None` for a store without
    /// a file, or a name too long for a file name.
    pub fn snapshot_path(&self, name: &str) -> Option<PathBuf> {
        let stem = file_stem(name).ok()?;
        Some(self.snapshot_dir()?.join(format!("{stem}.redb")))
    }

    pub(crate) async fn take_snapshot(&self, name: &str, extra: Option<&[u8]>) -> StoreResult<()> {
        let stem = file_stem(name)?;
        let db = Arc::clone(&self.inner.db);
        let extra = extra.map(<[u8]>::to_vec);
        match self.snapshot_dir() {
            Some(dir) => {
                blocking::unblock(move || {
                    error::guard(|| snapshot_to_files(&db, &dir, &stem, extra.as_deref()))
                })
                .await
            }
            None => {
                let inner = Arc::clone(&self.inner);
                let name = name.to_owned();
                blocking::unblock(move || {
                    error::guard(|| {
                        let src = db.begin_read().or_store()?;
                        let copy = redb::Builder::new()
                            .create_with_backend(redb::backends::InMemoryBackend::new())
                            .map_err(error::database)?;
                        copy_tables(&src, &copy)?;
                        inner
                            .mem_snapshots
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(name, MemSnapshot { db: copy, extra });
                        Ok(())
                    })
                })
                .await
            }
        }
    }

    /// The extra blob of snapshot `name`: `Ok(None)` when there is no such
    /// snapshot, `Ok(Some(None))` when it was taken without one.
    pub fn snapshot_extra(&self, name: &str) -> StoreResult<Option<Option<Vec<u8>>>> {
        match self.snapshot_path(name) {
            Some(path) => {
                if !path.exists() {
                    return Ok(None);
                }
                match fs::read(path.with_extension("extra")) {
                    Ok(bytes) => Ok(Some(Some(bytes))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(None)),
                    Err(e) => Err(e.into()),
                }
            }
            None if self.path().is_some() => Ok(None),
            None => Ok(self
                .inner
                .mem_snapshots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(name)
                .map(|s| s.extra.clone())),
        }
    }

    /// Opens snapshot `name` as a store, with a handle for this handle's
    /// device id; `Ok(None)` when there is no such snapshot.
    ///
    /// For a file store this opens the snapshot file itself (writes change
    /// the snapshot; copy the file first to keep it). For a store in memory it
    /// returns an independent in-memory copy.
    pub fn open_snapshot(&self, name: &str) -> StoreResult<Option<RedbStore>> {
        if self.path().is_some() {
            let Some(path) = self.snapshot_path(name) else {
                return Ok(None);
            };
            if !path.exists() {
                return Ok(None);
            }
            return Ok(Some(RedbStore::open(path)?.for_device(self.device_id)));
        }
        let snapshots = self
            .inner
            .mem_snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(snapshot) = snapshots.get(name) else {
            return Ok(None);
        };
        let copy = error::guard(|| {
            let src = snapshot.db.begin_read().or_store()?;
            let copy = redb::Builder::new()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(error::database)?;
            copy_tables(&src, &copy)?;
            Ok(copy)
        })?;
        drop(snapshots);
        let store = RedbStore::from_database(copy, Place::Memory, &RedbOptions::default())?;
        Ok(Some(store.for_device(self.device_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_distinct_and_safe() {
        let names = ["", "%", "a b", "a_b", "a%20b", "ünï", "../x", ".", "a/b"];
        let stems: Vec<String> = names.iter().map(|n| file_stem(n).unwrap()).collect();
        let mut unique = stems.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), stems.len(), "{stems:?}");
        for s in &stems {
            assert!(!s.contains('/') && !s.contains('.'), "{s}");
        }
        assert!(file_stem(&"x".repeat(300)).is_err());
    }
}
