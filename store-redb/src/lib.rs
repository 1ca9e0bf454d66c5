//! # wa-store-redb
//!
//! [`RedbStore`]: every [`wa_core::store`] trait ([`SignalStore`],
//! [`AppSyncStore`], [`ProtocolStore`], [`DeviceStore`], hence
//! [`Backend`](wa_core::store::Backend)) on one crash-safe
//! [redb](https://docs.rs/redb) file. No Tokio: reads run on the caller,
//! writes on one thread of the store's own, and the futures work on any
//! executor.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use wa_core::store::{Backend, DeviceStore, ProtocolStore, SignalStore};
//! use wa_store_redb::RedbStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("wa.redb");
//! smol::block_on(async {
//!     // One file, several accounts: the first handle addresses device id 1.
//!     let store = RedbStore::open(&path)?;
//!     let second = store.for_device(store.create().await?);
//!
//!     store.put_session("5511987650001.0", b"session bytes").await?;
//!     assert!(second.get_session("5511987650001.0").await?.is_none());
//!
//!     // What the client holds: an `Arc<dyn Backend>`.
//!     let backend: Arc<dyn Backend> = Arc::new(store.clone());
//!     backend.store_sent_message("123@g.us", "3EB0A1", b"payload", 1_700_000_000).await?;
//!     assert!(backend.take_sent_message("123@g.us", "3EB0A1").await?.is_some());
//!     Ok::<_, wa_core::store::StoreError>(())
//! })?;
//! // Reopening finds every acknowledged write.
//! let store = RedbStore::open(&path)?;
//! assert!(smol::block_on(store.get_session("5511987650001.0"))?.is_some());
//! # Ok(()) }
//! ```
//!
//! # Durability: what `Ok` promises
//!
//! With the default [`Durability::Immediate`], a write call that returned
//! `Ok` is on disk: it survives `kill -9` of the process and, as far as the
//! disk honours `fsync`, a power cut. A call that writes several rows
//! (`store_prekeys_batch`, `put_mutation_macs`, ...) is one transaction: after
//! a crash either every row is there or none is. `take_sent_message` removes
//! and returns in one transaction, so a message is handed out once.
//!
//! [`Durability::None`] opts out: commits skip the fsync and a crash (of the
//! process or the machine) loses every write since the last durable commit,
//! which happens only at a clean shutdown of the store. The file stays
//! consistent; acknowledged writes do not. Use it for caches and tests only.
//!
//! # How it is fast
//!
//! - **Reads run inline** on the caller's task: redb's MVCC read transactions
//!   never wait for the writer, and a point read costs microseconds, less
//!   than a hop to another thread would.
//! - **Writes are grouped.** Every write is queued to the store's one writer
//!   thread, which runs everything already queued in *one* transaction with
//!   *one* commit (group commit), then answers each caller. N concurrent
//!   writers cost one fsync, not N; the async callers just await a reply, so
//!   the executor is never blocked on an fsync. When the callers answered by
//!   one commit come back with their next writes, one after another, the
//!   writer waits for them briefly (a quarter of that commit's duration, at
//!   most 1 ms) so they share the next commit too; a lone caller never
//!   waits. If one operation of a group fails on its own (it meets a corrupt
//!   record), it alone gets the error and the others are rerun without it;
//!   if the commit fails, every operation of the group gets the error and
//!   none is applied. After an I/O error redb refuses further writes until
//!   the file is reopened, so the store fails closed rather than guessing.
//! - A write future dropped after its first poll has already queued the
//!   write; it still runs.
//!
//! # File layout (schema version 2)
//!
//! One table per record family, named with the version of its key layout
//! (`identities_v1`, `sessions_v1`, `prekeys_v1`, `signed_prekeys_v1`,
//! `sender_keys_v1`, `sync_keys_v1`, `sync_key_latest_v1`,
//! `app_state_versions_v1`, `mutation_macs_v1`, `sender_key_devices_v1`,
//! `lid_mappings_v1`, `lid_pn_index_v1`, `base_keys_v1`, `device_lists_v1`,
//! `tc_tokens_v1`, `sent_messages_v1`, `devices_v1`, and since schema
//! version 2 `inbox_v1` and `inbox_index_v1`), plus `meta` holding the schema
//! version (`schema_version`, u32 little-endian) and the device-id counter.
//!
//! Opening a file of schema version 1 upgrades it to version 2 in one
//! transaction: the two inbox tables are created empty and the version is
//! recorded; nothing else changes. From then on older releases refuse the
//! file ([`StoreError::SchemaTooNew`]). Only a store open upgrades: a
//! [`ReadOnlyStore`] (and so `wa-store stats`, `check`, `export`) reads a
//! version-1 file as it is, its inbox tables absent.
//!
//! Keys and values are raw bytes. A key starts with the device id: 4 bytes
//! big-endian with the sign bit flipped, so keys sort by id. Then come the
//! family's components: a string or byte string that ends the key is stored
//! as is; one that does not (the collection of a MAC, the group of a
//! sender-key device, the chat of a sent message, the phone of the
//! phone-number index) has each `00` byte written `00 ff` and is terminated
//! by `00 01`; ids are big-endian. So composite keys never collide
//! (`("a", "b:c")` differs from `("a:b", "c")`) and one range scan serves a
//! prefix query (all MACs of a collection, all devices of a group, the newest
//! mapping of a phone number).
//!
//! The inbox is two tables kept in step in every transaction: `inbox_v1`
//! keyed `timestamp ‖ chat ‖ id` (the timestamp as 8 bytes big-endian with
//! the sign bit flipped, the chat escaped), whose byte order is
//! `list_inbox`'s (timestamp, chat, id) order, so listing the first `limit`
//! entries reads `limit` rows; and `inbox_index_v1` keyed `chat ‖ id` holding
//! the entry's timestamp, so replacing or removing an entry by (chat, id) is a
//! point read, not a scan.
//!
//! A value is a one-byte envelope version (1) followed by the record in
//! postcard. Postcard cannot skip unknown or missing fields, so the record
//! shapes are frozen per version: a format change adds a version and keeps a
//! decoder for the old one, and `tests/fixtures/v1.redb` (a committed file
//! written by version 1) must keep reading back field by field.
//!
//! Failures are typed [`StoreError`]s, never panics and never silent
//! defaults: a file from a newer release is [`StoreError::SchemaTooNew`]; a
//! record that does not decode is [`StoreError::Corrupt`] naming its table and
//! key; a damaged file (flipped bits, truncation) is a `Corrupt` about the
//! file's pages, found when it is opened (the whole file is verified on open
//! unless [`RedbOptions::verify_on_open`] is off) or when the damaged page is
//! read.
//!
//! # Snapshots
//!
//! [`DeviceStore::snapshot_db`] copies the whole database, from one read
//! transaction, into `<file>.snapshots/<name>.redb` (the name percent-encoded,
//! see [`RedbStore::snapshot_path`]) and the extra blob into
//! `<name>.extra` beside it. The copy is an ordinary store file:
//! [`RedbStore::open`] it (or [`RedbStore::open_snapshot`]). In-memory
//! stores keep snapshots in memory.
//!
//! # Reading a file another process has open
//!
//! redb locks the file. By default a store locks all of it: while a client
//! runs, every other open of the file fails, in any process, with a
//! [`StoreError::Backend`] whose cause is [`FileInUse`].
//!
//! A store opened with [`RedbOptions::shared_readers`] takes redb's
//! single-writer locks instead: it is still the only writer, but any number
//! of [`ReadOnlyStore`]s (in this process or others, such as `wa-store
//! stats`) can open the file beside it, each read seeing the latest commit.
//! That costs the client a little on every operation (file-lock system
//! calls per read transaction, two fsyncs per commit instead of one) and
//! rules out [`Durability::None`], so it is opt-in.
//!
//! A [`ReadOnlyStore`] never writes: it does not recover a file left by a
//! crash (it says so and leaves that to the next [`RedbStore::open`] or
//! [`RedbStore::compact`]), does not upgrade the schema, and does not verify
//! page checksums at open (that check may repair, i.e. write); damage a read
//! meets is still a [`StoreError::Corrupt`].
//!
//! # The `wa-store` tool
//!
//! The crate ships a command-line tool that needs no network:
//!
//! ```text
//! wa-store stats FILE                       rows per table and per device, file size
//! wa-store check FILE                       decode every record; exit 1 if any is corrupt
//! wa-store export FILE [--include-secrets]  every record as JSON lines, secrets redacted
//! wa-store compact FILE                     reclaim free space
//! ```
//!
//! `stats`, `check` and `export` run [`ReadOnlyStore::stats`],
//! [`ReadOnlyStore::check`] and [`ReadOnlyStore::export`]: they only read,
//! leave the file byte for byte as it was, and work while a client has the
//! file open if that client enabled [`RedbOptions::shared_readers`]; beside
//! a client that did not, they stop with "the file is in use by another
//! process (a running client?)". While they run, such a client cannot start
//! either. `compact` ([`RedbStore::compact`]) is the one command that writes
//! (it also recovers a file left by a crash), so it needs the file closed
//! everywhere and refuses with the same message otherwise.
//!
//! `check` decodes every record and checks the invariants between tables;
//! since it opens read-only it does not verify the checksum of every page
//! the way an open with [`RedbOptions::verify_on_open`] does, so a flipped
//! bit inside an opaque value (a session record, a key) can pass it.
//!
//! Exit codes: 0 success, 1 `check` found corruption (in a record or in the
//! file's pages), 2 usage or any other error (missing file, file in use, file
//! left by a crash, newer schema).
//!
//! # Moving from whatsapp-rust
//!
//! An account linked with whatsapp-rust and its SQLite store
//! (`whatsapp-rust-sqlite-storage` 0.7) moves here without linking again:
//!
//! ```text
//! cargo install wa-store-redb --features import-whatsapp-rust
//! wa-store import-whatsapp-rust whatsapp.db wa.redb
//! ```
//!
//! The `import-whatsapp-rust` feature (off by default: it compiles SQLite)
//! adds the command and `import_whatsapp_rust`, which it calls. Stop the
//! whatsapp-rust client first. The SQLite file is only read; `wa.redb` must
//! not exist yet or hold no record, and everything is written in one redb
//! transaction, so a failed import leaves no half-filled store (and a file it
//! created is removed again).
//!
//! Imported, per account (the source's device ids are kept): the device
//! record (keys, registration id, PN and LID, account signature, push name,
//! app version, routing info, server certificate chain, prekey counters),
//! identities, sessions, one-time prekeys with their uploaded flag, signed
//! prekeys, sender keys, app-state sync keys (and which one is the latest),
//! app-state versions and mutation MACs, LID–PN mappings, device lists,
//! sender-key distribution status, sent messages (kept for retries) and
//! trusted-contact tokens. Signal records are libsignal protobufs in both
//! stores and keep their bytes, with one conversion: whatsapp-rust leases
//! sending counters in batches and stores the lease ceiling in the record;
//! the import moves each sending chain past that ceiling (as whatsapp-rust
//! itself does when a lease is given up), so no message key is used twice.
//! Every record is decoded before it is written.
//!
//! Not imported, and reported with their row counts: retry base keys,
//! message secrets, cached group metadata and whatsapp-rust's pending inbound
//! buffer, plus any table the importer does not know; on the device record,
//! the NCT salt and the read-receipts setting (reported when set). A row that
//! cannot be converted (an undecodable record, a key of the wrong length, a
//! row of an account without a device record) is left out and named in the
//! report. A file that is not such a store, or whose device record is
//! unreadable, is an error and nothing is written.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod convert;
mod error;
#[cfg(feature = "import-whatsapp-rust")]
mod import;
mod inspect;
mod read_only;
mod schema;
mod snapshot;
mod store;
mod writer;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, StorageBackend};
#[cfg(doc)]
use wa_core::store::{AppSyncStore, DeviceStore, ProtocolStore, SignalStore};
use wa_core::store::{StoreError, StoreResult};

pub use error::FileInUse;
#[cfg(feature = "import-whatsapp-rust")]
pub use import::{ImportReport, import_whatsapp_rust};
pub use inspect::{CheckReport, CompactReport, Problem, Stats, TableRows};
pub use read_only::ReadOnlyStore;
pub use schema::SCHEMA_VERSION;

use crate::schema::{FAMILIES, META, META_SCHEMA_VERSION};
use crate::writer::Writer;

/// How commits reach the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is fsynced before the write call returns `Ok` (default).
    #[default]
    Immediate,
    /// Commits are not fsynced. A crash loses every write since the last
    /// durable commit (made at a clean shutdown of the store); the file stays
    /// consistent. For caches and tests; never for keys you cannot lose.
    None,
}

/// Options for [`RedbStore::open_with`].
///
/// Start from [`RedbOptions::default()`] or build them with
/// [`RedbOptions::builder()`]; the fields can be read (and changed) directly,
/// but the struct is `#[non_exhaustive]`, so it cannot be written as a struct
/// literal outside this crate and new options do not break callers.
///
/// ```
/// use wa_store_redb::{Durability, RedbOptions};
///
/// let options = RedbOptions::builder()
///     .cache_size(16 << 20)
///     .durability(Durability::Immediate)
///     .verify_on_open(true)
///     .shared_readers(true)
///     .build();
/// assert_eq!(options.cache_size, 16 << 20);
/// assert!(options.shared_readers);
///
/// // Unset options keep their defaults.
/// let defaults = RedbOptions::builder().build();
/// assert_eq!(defaults, RedbOptions::default());
/// assert_eq!(defaults.durability, Durability::Immediate);
/// assert!(!defaults.shared_readers);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedbOptions {
    /// Bytes of memory redb may use to cache pages. Default 64 MiB.
    pub cache_size: usize,
    /// Whether commits are fsynced; see [`Durability`]. Default `Immediate`.
    pub durability: Durability,
    /// Verify every page checksum when the file is opened (reads the whole
    /// file once), so a damaged file is refused at open with a clear error
    /// instead of failing later. Default `true`.
    pub verify_on_open: bool,
    /// Let read-only processes open the file while this store has it open:
    /// `wa-store stats`, `check` and `export` (and [`ReadOnlyStore`]) then
    /// work beside a running client and see its commits. Default `false`: the
    /// store locks the whole file and every other open of it, read-only or
    /// not, fails with [`FileInUse`].
    ///
    /// It costs something on every operation, which is why it is off by
    /// default: each read transaction takes and releases byte-range file
    /// locks (a few system calls, about as much again as a point read
    /// costs), every commit is a two-phase commit (two fsyncs where one
    /// would do), and pages freed by a commit are reused one commit later.
    /// It needs [`Durability::Immediate`]: a non-durable commit lives only in
    /// this process's memory, which another process cannot read, so
    /// [`RedbStore::open_with`] refuses the combination. It applies to files
    /// (and to custom backends that implement redb's locks); a second
    /// writer is still refused either way.
    pub shared_readers: bool,
}

impl Default for RedbOptions {
    fn default() -> Self {
        Self {
            cache_size: 64 << 20,
            durability: Durability::Immediate,
            verify_on_open: true,
            shared_readers: false,
        }
    }
}

impl RedbOptions {
    /// A builder starting from [`RedbOptions::default()`].
    pub fn builder() -> RedbOptionsBuilder {
        RedbOptionsBuilder {
            options: Self::default(),
        }
    }
}

/// Builds [`RedbOptions`]; see [`RedbOptions::builder`]. Each setter
/// replaces one option and leaves the others as they were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedbOptionsBuilder {
    options: RedbOptions,
}

impl RedbOptionsBuilder {
    /// Sets [`RedbOptions::cache_size`] (bytes).
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.options.cache_size = bytes;
        self
    }

    /// Sets [`RedbOptions::durability`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.options.durability = durability;
        self
    }

    /// Sets [`RedbOptions::verify_on_open`].
    pub fn verify_on_open(mut self, verify: bool) -> Self {
        self.options.verify_on_open = verify;
        self
    }

    /// Sets [`RedbOptions::shared_readers`].
    pub fn shared_readers(mut self, shared: bool) -> Self {
        self.options.shared_readers = shared;
        self
    }

    /// The options.
    #[must_use]
    pub fn build(self) -> RedbOptions {
        self.options
    }
}

/// Where the database lives, which decides where snapshots go.
#[derive(Debug)]
enum Place {
    File(PathBuf),
    Memory,
}

/// A snapshot of a store that has no file.
struct MemSnapshot {
    db: Database,
    extra: Option<Vec<u8>>,
}

struct Inner {
    // Declared before `db`: dropping it joins the writer thread, which holds
    // the other reference to the database, so the file is closed when the
    // last handle goes.
    writer: Writer,
    db: Arc<Database>,
    place: Place,
    mem_snapshots: Mutex<BTreeMap<String, MemSnapshot>>,
}

/// All four store traits on one redb database (a file, or memory).
///
/// A `RedbStore` is a cheap handle: clones share the database, and
/// [`RedbStore::for_device`] gives a handle on the same database for another
/// device id (another account). Rows are isolated by device id. The database
/// closes when the last handle is dropped: that drop waits for the queued
/// writes to finish and for the writer thread to exit.
///
/// See the [crate docs](crate) for the durability promise and the format.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
    device_id: i32,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("place", &self.inner.place)
            .field("device_id", &self.device_id)
            .field("writer", &self.inner.writer)
            .finish_non_exhaustive()
    }
}

fn builder(options: &RedbOptions) -> redb::Builder {
    let mut b = redb::Builder::new();
    b.set_cache_size(options.cache_size);
    b.set_check_integrity_on_open(options.verify_on_open);
    b.set_concurrency_mode(concurrency_mode(options.shared_readers));
    b
}

/// redb's locking regime: with `shared_readers`, one writer and any number
/// of read-only handles (in any process); without, a writer that locks the
/// whole file. A read-only handle opens in the shared mode, which works on a
/// file nobody holds and beside a shared writer (an exclusive one refuses it).
pub(crate) fn concurrency_mode(shared_readers: bool) -> redb::ConcurrencyMode {
    if shared_readers {
        redb::ConcurrencyMode::SingleWriter
    } else {
        redb::ConcurrencyMode::ExclusiveWriter
    }
}

/// The options redb cannot honour together.
fn validate(options: &RedbOptions) -> StoreResult<()> {
    if options.shared_readers && options.durability == Durability::None {
        return Err(StoreError::InvalidInput(
            "RedbOptions::shared_readers needs Durability::Immediate: a non-durable commit \
             lives only in this process's memory, where readers in other processes cannot see it"
                .into(),
        ));
    }
    Ok(())
}

impl RedbStore {
    /// The device id of the handle the constructors return.
    pub const DEFAULT_DEVICE_ID: i32 = 1;

    /// Opens the store file at `path`, creating it if it does not exist, with
    /// the default [`RedbOptions`].
    ///
    /// Fails with [`StoreError::SchemaTooNew`] for a file written by a newer
    /// release, [`StoreError::Corrupt`] for a damaged file, and
    /// [`StoreError::Backend`] with a [`FileInUse`] source when the file is
    /// already open (in this or another process, by a store or, unless this
    /// store is opened with [`RedbOptions::shared_readers`], by a reader such
    /// as `wa-store stats`).
    ///
    /// Opening is blocking I/O on the calling thread: it recovers a file left
    /// by a crash and, with [`RedbOptions::verify_on_open`], reads the whole
    /// file once. Call it at startup or through a blocking pool
    /// (`blocking::unblock`), not inside a latency-sensitive task.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, RedbOptions::default())
    }

    /// [`RedbStore::open`] with options.
    ///
    /// Fails with [`StoreError::InvalidInput`] for options that do not go
    /// together ([`RedbOptions::shared_readers`] with [`Durability::None`]).
    pub fn open_with(path: impl AsRef<Path>, options: RedbOptions) -> StoreResult<Self> {
        validate(&options)?;
        let path = path.as_ref().to_path_buf();
        let db = error::guard(|| builder(&options).create(&path).map_err(error::database))?;
        Self::from_database(db, Place::File(path), &options)
    }

    /// A fresh store in memory (redb's in-memory backend), for tests. Nothing
    /// survives the last handle.
    pub fn in_memory() -> StoreResult<Self> {
        // No other process can reach memory, and redb's in-memory backend
        // has no locks for readers to share.
        Self::with_backend(
            redb::backends::InMemoryBackend::new(),
            RedbOptions::builder().shared_readers(false).build(),
        )
    }

    /// A store on any redb [`StorageBackend`] (custom storage, fault
    /// injection). Snapshots of such a store are kept in memory.
    pub fn with_backend(backend: impl StorageBackend, options: RedbOptions) -> StoreResult<Self> {
        validate(&options)?;
        let db = error::guard(|| {
            builder(&options)
                .create_with_backend(backend)
                .map_err(error::database)
        })?;
        Self::from_database(db, Place::Memory, &options)
    }

    fn from_database(db: Database, place: Place, options: &RedbOptions) -> StoreResult<Self> {
        error::guard(|| init_schema(&db))?;
        let db = Arc::new(db);
        let writer = Writer::spawn(Arc::clone(&db), options.durability == Durability::Immediate)?;
        Ok(Self {
            inner: Arc::new(Inner {
                writer,
                db,
                place,
                mem_snapshots: Mutex::default(),
            }),
            device_id: Self::DEFAULT_DEVICE_ID,
        })
    }

    /// A handle on the same database that addresses `device_id`. Use an id
    /// from [`DeviceStore::create`] for a new account.
    pub fn for_device(&self, device_id: i32) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            device_id,
        }
    }

    /// The device id this handle addresses.
    pub fn device_id(&self) -> i32 {
        self.device_id
    }

    /// The store file's path; `None` for a store in memory or on a custom
    /// backend.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.place {
            Place::File(p) => Some(p),
            Place::Memory => None,
        }
    }
}

/// Checks the schema version, creates missing tables and upgrades a file of
/// an older schema version.
///
/// The upgrade from version 1 to 2 adds the inbox tables and nothing else, so
/// it is creating them (empty) and recording version 2; both happen in one
/// write transaction, so a crash leaves the file at version 1 without them or
/// at version 2 with them. A file once upgraded is refused by older releases
/// ([`StoreError::SchemaTooNew`]), which would not keep the inbox in step.
fn init_schema(db: &Database) -> StoreResult<()> {
    let found = {
        let txn = db.begin_read().map_err(error::transaction)?;
        match found_schema(&txn)? {
            FoundSchema::Empty => None,
            FoundSchema::Version {
                version,
                all_tables: true,
            } if version == SCHEMA_VERSION => return Ok(()),
            FoundSchema::Version { version, .. } => Some(version),
        }
    };
    let txn = db.begin_write().map_err(error::transaction)?;
    {
        let mut meta = txn.open_table(META).map_err(error::table)?;
        // Every table of the current version; the ones a version-1 file lacks
        // (the inbox) are created empty.
        for family in FAMILIES {
            txn.open_table(family.def).map_err(error::table)?;
        }
        if found != Some(SCHEMA_VERSION) {
            meta.insert(META_SCHEMA_VERSION, &SCHEMA_VERSION.to_le_bytes()[..])
                .map_err(error::storage)?;
        }
    }
    txn.commit().map_err(|e| error::commit(&e))?;
    if let Some(from) = found.filter(|v| *v < SCHEMA_VERSION) {
        tracing::info!(
            from,
            to = SCHEMA_VERSION,
            "upgraded the store's schema version"
        );
    }
    Ok(())
}

/// What [`found_schema`] found in a file.
pub(crate) enum FoundSchema {
    /// No table at all: a new file.
    Empty,
    /// A wa-store-redb file of a version this build reads.
    Version {
        /// The recorded schema version, 1 to [`SCHEMA_VERSION`].
        version: u32,
        /// Whether every table of the current version exists.
        all_tables: bool,
    },
}

/// Reads the schema version and the table list without writing. Refuses a
/// newer version ([`StoreError::SchemaTooNew`]), a broken version record and
/// a file with tables but no `meta` table (not a store file).
pub(crate) fn found_schema(txn: &redb::ReadTransaction) -> StoreResult<FoundSchema> {
    let tables: HashSet<String> = txn
        .list_tables()
        .map_err(error::storage)?
        .map(|h| redb::TableHandle::name(&h).to_owned())
        .collect();
    if !tables.contains("meta") {
        if tables.is_empty() {
            return Ok(FoundSchema::Empty);
        }
        return Err(StoreError::InvalidInput(
            "not a wa-store-redb file: it has tables but no meta table".into(),
        ));
    }
    let meta = txn.open_table(META).map_err(error::table)?;
    let found = meta
        .get(META_SCHEMA_VERSION)
        .map_err(error::storage)?
        .ok_or_else(|| StoreError::corrupt("meta", "schema_version", "missing"))?;
    let bytes: [u8; 4] = found
        .value()
        .try_into()
        .map_err(|_| StoreError::corrupt("meta", "schema_version", "not a 4-byte version"))?;
    let version = u32::from_le_bytes(bytes);
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        return Err(StoreError::corrupt("meta", "schema_version", "version 0"));
    }
    Ok(FoundSchema::Version {
        version,
        all_tables: FAMILIES.iter().all(|f| tables.contains(f.name)),
    })
}
