//! Store workloads of docs/performance.md: `RedbStore` against `whatsapp-rust-sqlite-storage`
//! 0.7 (the SQLite peer, driven through its own `wacore` store traits on a Tokio runtime)
//! and a plain rusqlite store with the same table shapes at synchronous=FULL.
//!
//! Every engine implements one adapter trait, [`Engine`], and every group runs the
//! identical workload on each (same keys, same values, same order). Each engine gets its
//! own file in one temporary directory (`$WA_BENCH_DIR`, else the system temp dir), so
//! all files are on the same disk. Ours is timed twice where it writes: `redb` (the
//! default, durable `Durability::Immediate`) is the one judged; `redb_nosync`
//! (`Durability::None`) only shows what our writes cost without the fsync.
//!
//! Every write carries new bytes (a counter stamped into the value): SQLite skips
//! rewriting a row whose content did not change, so repeating a value would time a
//! no-op for it. Inputs are built outside the timing (`iter_batched`).
//!
//! Groups (see `wa_benches::report::STORE_ROWS`), in the order they run:
//! - `store_get_session`, `store_load_prekey`, `store_load_identity`: point reads of
//!   existing rows (1000 sessions of 1–4 KiB, 812 prekeys, 1000 identities) in a seeded
//!   random order; one read per iteration.
//! - `store_prekeys_batch_812`: one `store_prekeys_batch` of 812 ~100-byte prekeys.
//! - `store_put_mutation_macs_500`: one `put_mutation_macs` of 500 (32-byte index MAC →
//!   32-byte value MAC).
//!   Both batch groups cycle through the ids of a window of 8 batches, so the files stop
//!   growing after the warm-up and every engine overwrites the same rows.
//! - `store_put_session_1_writer`: one `put_session` (1–4 KiB) per iteration from one
//!   caller, each waiting for the previous; and the disk limit, one 4 KiB `pwrite` +
//!   `fdatasync` (`disk_4k_fdatasync`).
//! - `store_put_session_16_writers`: 16 concurrent writers, 4 `put_session` each, per
//!   iteration (64 ops): smol tasks for RedbStore, Tokio tasks for the SQLite peer,
//!   threads for rusqlite.
//! - `store_message_batch`: one incoming message's state change, durable, one caller
//!   (see [`MessageWrite`]): a session put (1–2 KiB record), one one-time prekey
//!   removal, an identity put and an inbox put (~300 B payload). Ours: one `WriteBatch`
//!   of those four ops through `apply_batch` (one transaction, one commit). The SQLite
//!   peer: the four equivalent calls of its traits in turn (`put_session`,
//!   `remove_prekey`, `put_identity`, and `store_pending_inbound` standing in for the
//!   inbox: the peer's buffer of decrypted inbound messages, the row it writes per
//!   received message); each call is its own transaction, as its traits offer no
//!   batch across them. rusqlite FULL: the same four statements in one transaction.
//!   The prekey removed is a fresh one each time (stored untimed, in blocks, before
//!   its turn).
//!
//! Probe mode, for counting syscalls per operation (e.g. under `strace -f`): with
//! `WA_STORE_PROBE="<engine> <workload> <n>"` (engine: redb, redb_nosync, sqlite_peer,
//! sqlite_peer_full, rusqlite_full; workload: put_session, put_session_16,
//! prekeys_batch, macs_batch, message_batch) the bench sets up that engine, builds the
//! inputs, writes `probe: start` to stderr, runs the workload n times, writes
//! `probe: end` and exits without running criterion.
//!
//! Interleaved mode (`WA_STORE_INTERLEAVED=<rounds>`): the durable-write workloads with
//! the engines taking turns op by op (see [`interleaved`]); prints a markdown table.
//! `WA_STORE_WORKLOADS=<name>[,<name>…]` runs only the named workloads there.

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use futures_lite::future::block_on;

/// The identical workload, built once from a seed.
struct Workload {
    /// Session addresses, `5511987650001.0` style (250 users × 4 devices).
    addresses: Vec<Arc<str>>,
    /// One 1–4 KiB session record per address.
    sessions: Vec<Bytes>,
    /// One 32-byte identity key per address.
    identities: Vec<[u8; 32]>,
    /// Prekeys 1..=812 (~100 bytes each), stored at setup and read by random id.
    prekeys: Vec<(u32, Bytes)>,
    /// A window of 8 batches of 812 prekeys with ids above the read set.
    prekey_batches: Vec<Vec<(u32, Bytes)>>,
    /// A window of 8 batches of 500 (index MAC, value MAC), with their collection.
    mac_batches: Vec<(&'static str, Vec<MacPair>)>,
    /// A seeded random order of indices into `addresses`, for reads and writes.
    order: Vec<usize>,
    /// A seeded random sequence of prekey ids in 1..=812.
    prekey_order: Vec<u32>,
    /// Records for the write groups (1–4 KiB).
    write_records: Vec<Bytes>,
}

/// One `put_mutation_macs` call, in ours and in the peer's type.
struct MacBatch {
    collection: &'static str,
    version: u64,
    ours: Vec<wa_core::store::AppStateMutationMAC>,
    peer: Vec<wacore::appstate::processor::AppStateMutationMAC>,
}

/// (index MAC, value MAC).
type MacPair = ([u8; 32], [u8; 32]);

/// One incoming message's state change (the `store_message_batch` workload): what a
/// receive job's outcome writes for a `pkmsg` that starts a session.
struct MessageWrite {
    /// The sender's Signal address (an existing one).
    address: Arc<str>,
    /// Its new session record, 1–2 KiB.
    session: Bytes,
    /// The one-time prekey the message consumed (stored before, untimed).
    prekey_id: u32,
    /// The sender's identity key.
    identity: [u8; 32],
    /// The inbox row: chat JID, message id, sender JID, timestamp, ~300 B payload.
    chat: String,
    id: String,
    sender: String,
    timestamp: i64,
    payload: Bytes,
}

/// Prekey ids consumed by `store_message_batch`: message `n` removes
/// `MESSAGE_PREKEYS + n`, stored in blocks of `MESSAGE_PREKEY_BLOCK` ahead of use.
const MESSAGE_PREKEYS: u32 = 1_000_000;
const MESSAGE_PREKEY_BLOCK: u64 = 1024;

/// Per writer, the (address, record) pairs it writes in turn.
type ConcurrentWrites = Vec<Vec<(Arc<str>, Bytes)>>;

const USERS: usize = 250;
const DEVICES: usize = 4;
const PREKEYS: u32 = 812;
const MACS: usize = 500;
const BATCH_WINDOW: usize = 8;
const WRITERS: usize = 16;
const WRITES_PER_WRITER: usize = 4;
const COLLECTIONS: [&str; 5] = [
    "regular",
    "regular_high",
    "regular_low",
    "critical_block",
    "critical_unblock_low",
];

/// `base` with `n` written over its first 8 bytes. Every write of the benchmark carries
/// new content: SQLite skips rewriting a row whose bytes did not change, so writing the
/// same value twice would measure a no-op for it.
fn stamped(base: &[u8], n: u64) -> Bytes {
    let mut v = base.to_vec();
    v[..8].copy_from_slice(&n.to_le_bytes());
    Bytes::from(v)
}

impl Workload {
    fn new(seed: u64) -> Workload {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut bytes = |n: usize| -> Vec<u8> { (0..n).map(|_| rng.u8(..)).collect() };
        let mut addresses = Vec::new();
        for user in 0..USERS {
            for device in 0..DEVICES {
                addresses.push(Arc::from(format!("55119876{:05}.{device}", 50001 + user)));
            }
        }
        let mut sizes = fastrand::Rng::with_seed(seed ^ 1);
        let sessions = (0..addresses.len())
            .map(|_| Bytes::from(bytes(sizes.usize(1024..=4096))))
            .collect();
        let identities = (0..addresses.len())
            .map(|_| bytes(32).try_into().unwrap())
            .collect();
        let prekeys = (1..=PREKEYS)
            .map(|id| (id, Bytes::from(bytes(100))))
            .collect();
        let prekey_batches = (0..BATCH_WINDOW as u32)
            .map(|b| {
                (0..PREKEYS)
                    .map(|i| (10_000 + b * PREKEYS + i, Bytes::from(bytes(100))))
                    .collect()
            })
            .collect();
        let mac_batches = (0..BATCH_WINDOW)
            .map(|b| {
                let macs = (0..MACS)
                    .map(|_| (bytes(32).try_into().unwrap(), bytes(32).try_into().unwrap()))
                    .collect();
                (COLLECTIONS[b % COLLECTIONS.len()], macs)
            })
            .collect();
        let mut order_rng = fastrand::Rng::with_seed(seed ^ 2);
        let order = (0..4096)
            .map(|_| order_rng.usize(..USERS * DEVICES))
            .collect();
        let prekey_order = (0..4096).map(|_| order_rng.u32(1..=PREKEYS)).collect();
        let write_records = (0..64)
            .map(|_| Bytes::from(bytes(sizes.usize(1024..=4096))))
            .collect();
        Workload {
            addresses,
            sessions,
            identities,
            prekeys,
            prekey_batches,
            mac_batches,
            order,
            prekey_order,
            write_records,
        }
    }

    /// The `round`-th prekey batch: the ids of window slot `round % 8`, new content.
    fn prekey_batch(&self, round: u64) -> Vec<(u32, Bytes)> {
        self.prekey_batches[round as usize % BATCH_WINDOW]
            .iter()
            .map(|(id, record)| (*id, stamped(record, round)))
            .collect()
    }

    /// The `round`-th MAC batch: the index MACs of window slot `round % 8`, new value
    /// MACs, version `round`.
    fn mac_batch(&self, round: u64) -> MacBatch {
        let (collection, macs) = &self.mac_batches[round as usize % BATCH_WINDOW];
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = macs
            .iter()
            .map(|(index, value)| (index.to_vec(), stamped(value, round).to_vec()))
            .collect();
        MacBatch {
            collection,
            version: round,
            ours: pairs
                .iter()
                .map(|(i, v)| wa_core::store::AppStateMutationMAC {
                    index_mac: i.clone(),
                    value_mac: v.clone(),
                })
                .collect(),
            peer: pairs
                .into_iter()
                .map(
                    |(index_mac, value_mac)| wacore::appstate::processor::AppStateMutationMAC {
                        index_mac,
                        value_mac,
                    },
                )
                .collect(),
        }
    }

    /// The `n`-th session write: an existing address, a 1–4 KiB record with new content.
    fn session_write(&self, n: u64) -> (Arc<str>, Bytes) {
        let i = n as usize;
        (
            Arc::clone(&self.addresses[self.order[i % self.order.len()]]),
            stamped(&self.write_records[i % self.write_records.len()], n),
        )
    }

    /// The `n`-th incoming message's writes (see [`MessageWrite`]).
    fn message_write(&self, n: u64) -> MessageWrite {
        let i = n as usize;
        let a = self.order[i % self.order.len()];
        let address = Arc::clone(&self.addresses[a]);
        let (user, device) = address.split_once('.').unwrap();
        let record = &self.write_records[i % self.write_records.len()];
        let len = 1024 + (i * 389) % 1025;
        let mut identity = self.identities[a];
        identity[..8].copy_from_slice(&n.to_le_bytes());
        let session: Vec<u8> = record.iter().cycle().take(len).copied().collect();
        MessageWrite {
            session: stamped(&session, n),
            prekey_id: MESSAGE_PREKEYS + n as u32,
            identity,
            chat: format!("{user}@s.whatsapp.net"),
            id: format!("3EB0{n:016X}"),
            sender: format!("{user}:{device}@s.whatsapp.net"),
            timestamp: 1_764_000_000 + n as i64,
            payload: stamped(&record[..300], n),
            address,
        }
    }

    /// The prekeys to store before message `n` (the block that holds its prekey) when
    /// `n` is the first of its block or `first`; else none.
    fn message_prekeys(&self, n: u64, first: bool) -> Option<Vec<(u32, Bytes)>> {
        if !first && !n.is_multiple_of(MESSAGE_PREKEY_BLOCK) {
            return None;
        }
        let start = n / MESSAGE_PREKEY_BLOCK * MESSAGE_PREKEY_BLOCK;
        Some(
            (start..start + MESSAGE_PREKEY_BLOCK)
                .map(|m| {
                    let base = &self.prekeys[m as usize % self.prekeys.len()].1;
                    (MESSAGE_PREKEYS + m as u32, stamped(base, m))
                })
                .collect(),
        )
    }

    /// The `round`-th set of concurrent writes: 16 writers × 4 session writes.
    fn concurrent_writes(&self, round: u64) -> ConcurrentWrites {
        let per_round = (WRITERS * WRITES_PER_WRITER) as u64;
        (0..WRITERS as u64)
            .map(|writer| {
                (0..WRITES_PER_WRITER as u64)
                    .map(|i| {
                        self.session_write(
                            round * per_round + writer * WRITES_PER_WRITER as u64 + i,
                        )
                    })
                    .collect()
            })
            .collect()
    }
}

/// One store engine, driven synchronously by the benchmark thread. Errors panic: a
/// benchmark that fails must not report a time.
trait Engine: Send + Sync {
    /// The criterion function id.
    fn name(&self) -> &'static str;
    fn put_session(&self, address: &str, record: &[u8]);
    fn get_session(&self, address: &str) -> Option<Bytes>;
    fn put_identity(&self, address: &str, key: [u8; 32]);
    fn load_identity(&self, address: &str) -> Option<[u8; 32]>;
    fn store_prekeys_batch(&self, keys: &[(u32, Bytes)]);
    fn load_prekey(&self, id: u32) -> Option<Bytes>;
    fn put_mutation_macs(&self, batch: &MacBatch);
    fn get_mutation_mac(&self, collection: &str, index_mac: &[u8]) -> Option<Vec<u8>>;
    /// One concurrent caller per element of `writes`, each doing its `put_session`s in
    /// turn; returns when all are done.
    fn put_sessions_concurrently(&self, writes: ConcurrentWrites);
    /// One incoming message's state change (see [`MessageWrite`]).
    fn apply_message(&self, m: &MessageWrite);
}

// ---------------------------------------------------------------------------------------
// Ours: RedbStore. `redb` is the default, durable store (Durability::Immediate);
// `redb_nosync` (Durability::None) is a diagnostic that shows our cost without the fsync.

struct Redb {
    name: &'static str,
    store: wa_store_redb::RedbStore,
}

impl Redb {
    fn open(name: &'static str, path: &Path, durability: wa_store_redb::Durability) -> Redb {
        let options = wa_store_redb::RedbOptions::builder()
            .durability(durability)
            .build();
        Redb {
            name,
            store: wa_store_redb::RedbStore::open_with(path, options).unwrap(),
        }
    }
}

impl Engine for Redb {
    fn name(&self) -> &'static str {
        self.name
    }
    fn put_session(&self, address: &str, record: &[u8]) {
        use wa_core::store::SignalStore;
        block_on(self.store.put_session(address, record)).unwrap();
    }
    fn get_session(&self, address: &str) -> Option<Bytes> {
        use wa_core::store::SignalStore;
        block_on(self.store.get_session(address)).unwrap()
    }
    fn put_identity(&self, address: &str, key: [u8; 32]) {
        use wa_core::store::SignalStore;
        block_on(self.store.put_identity(address, key)).unwrap();
    }
    fn load_identity(&self, address: &str) -> Option<[u8; 32]> {
        use wa_core::store::SignalStore;
        block_on(self.store.load_identity(address)).unwrap()
    }
    fn store_prekeys_batch(&self, keys: &[(u32, Bytes)]) {
        use wa_core::store::SignalStore;
        block_on(self.store.store_prekeys_batch(keys, false)).unwrap();
    }
    fn load_prekey(&self, id: u32) -> Option<Bytes> {
        use wa_core::store::SignalStore;
        block_on(self.store.load_prekey(id)).unwrap()
    }
    fn put_mutation_macs(&self, batch: &MacBatch) {
        use wa_core::store::AppSyncStore;
        block_on(
            self.store
                .put_mutation_macs(batch.collection, batch.version, &batch.ours),
        )
        .unwrap();
    }
    fn get_mutation_mac(&self, collection: &str, index_mac: &[u8]) -> Option<Vec<u8>> {
        use wa_core::store::AppSyncStore;
        block_on(self.store.get_mutation_mac(collection, index_mac)).unwrap()
    }
    fn put_sessions_concurrently(&self, writes: ConcurrentWrites) {
        use wa_core::store::SignalStore;
        // Async callers on one executor thread, as a client's tasks would be: each
        // awaits its write while the store's writer thread commits what is queued.
        let ex = smol::LocalExecutor::new();
        let tasks: Vec<_> = writes
            .into_iter()
            .map(|mine| {
                let store = self.store.clone();
                ex.spawn(async move {
                    for (address, record) in mine {
                        store.put_session(&address, &record).await.unwrap();
                    }
                })
            })
            .collect();
        block_on(ex.run(async {
            for t in tasks {
                t.await;
            }
        }));
    }
    fn apply_message(&self, m: &MessageWrite) {
        let mut batch = wa_core::store::WriteBatch::new();
        batch.put_session(&*m.address, m.session.clone());
        batch.remove_prekey(m.prekey_id);
        batch.put_identity(&*m.address, m.identity);
        batch.put_inbox(wa_core::store::InboxEntry {
            chat: m.chat.clone(),
            id: m.id.clone(),
            sender: m.sender.clone(),
            timestamp: m.timestamp,
            payload: m.payload.to_vec(),
        });
        let atomic = block_on(wa_core::store::apply_batch(&self.store, &batch)).unwrap();
        assert!(atomic, "one transaction");
    }
}

// ---------------------------------------------------------------------------------------
// The SQLite peer: whatsapp-rust-sqlite-storage 0.7 through wacore's traits, default
// configuration except `synchronous` where a row says FULL.

struct SqlitePeer {
    name: &'static str,
    rt: tokio::runtime::Runtime,
    store: whatsapp_rust_sqlite_storage::SqliteStore,
}

impl SqlitePeer {
    fn open(
        name: &'static str,
        path: &Path,
        synchronous: whatsapp_rust_sqlite_storage::Synchronous,
    ) -> SqlitePeer {
        // The peer's own environment: a multi-threaded Tokio runtime (one worker per core)
        // with its blocking pool, which the store uses for every database call.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = whatsapp_rust_sqlite_storage::SqliteStoreConfig {
            synchronous,
            ..Default::default()
        };
        let url = path.to_str().unwrap().to_owned();
        let store = rt
            .block_on(whatsapp_rust_sqlite_storage::SqliteStore::with_config(
                &url, config,
            ))
            .unwrap();
        SqlitePeer { name, rt, store }
    }
}

impl Engine for SqlitePeer {
    fn name(&self) -> &'static str {
        self.name
    }
    fn put_session(&self, address: &str, record: &[u8]) {
        use wacore::store::traits::SignalStore;
        self.rt
            .block_on(self.store.put_session(address, record))
            .unwrap();
    }
    fn get_session(&self, address: &str) -> Option<Bytes> {
        use wacore::store::traits::SignalStore;
        self.rt.block_on(self.store.get_session(address)).unwrap()
    }
    fn put_identity(&self, address: &str, key: [u8; 32]) {
        use wacore::store::traits::SignalStore;
        self.rt
            .block_on(self.store.put_identity(address, key))
            .unwrap();
    }
    fn load_identity(&self, address: &str) -> Option<[u8; 32]> {
        use wacore::store::traits::SignalStore;
        self.rt.block_on(self.store.load_identity(address)).unwrap()
    }
    fn store_prekeys_batch(&self, keys: &[(u32, Bytes)]) {
        use wacore::store::traits::SignalStore;
        self.rt
            .block_on(self.store.store_prekeys_batch(keys, false))
            .unwrap();
    }
    fn load_prekey(&self, id: u32) -> Option<Bytes> {
        use wacore::store::traits::SignalStore;
        self.rt.block_on(self.store.load_prekey(id)).unwrap()
    }
    fn put_mutation_macs(&self, batch: &MacBatch) {
        use wacore::store::traits::AppSyncStore;
        self.rt
            .block_on(
                self.store
                    .put_mutation_macs(batch.collection, batch.version, &batch.peer),
            )
            .unwrap();
    }
    fn get_mutation_mac(&self, collection: &str, index_mac: &[u8]) -> Option<Vec<u8>> {
        use wacore::store::traits::AppSyncStore;
        self.rt
            .block_on(self.store.get_mutation_mac(collection, index_mac))
            .unwrap()
    }
    fn put_sessions_concurrently(&self, writes: ConcurrentWrites) {
        use wacore::store::traits::SignalStore;
        self.rt.block_on(async {
            let tasks: Vec<_> = writes
                .into_iter()
                .map(|mine| {
                    let store = self.store.clone();
                    tokio::spawn(async move {
                        for (address, record) in mine {
                            store.put_session(&address, &record).await.unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
    }
    fn apply_message(&self, m: &MessageWrite) {
        use wacore::store::traits::{ProtocolStore, SignalStore};
        self.rt.block_on(async {
            self.store
                .put_session(&m.address, &m.session)
                .await
                .unwrap();
            self.store.remove_prekey(m.prekey_id).await.unwrap();
            self.store
                .put_identity(&m.address, m.identity)
                .await
                .unwrap();
            self.store
                .store_pending_inbound(&m.chat, &m.sender, &m.id, &m.payload)
                .await
                .unwrap();
        });
    }
}

// ---------------------------------------------------------------------------------------
// Plain rusqlite: the peer's table shapes, WAL, synchronous=FULL (durable like ours),
// one connection behind a mutex, cached prepared statements, no thread hop.

struct Rusqlite {
    conn: Mutex<rusqlite::Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS identities (
    address TEXT NOT NULL, key BLOB NOT NULL, device_id INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (address, device_id));
CREATE TABLE IF NOT EXISTS sessions (
    address TEXT NOT NULL, record BLOB NOT NULL, device_id INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (address, device_id));
CREATE TABLE IF NOT EXISTS prekeys (
    id INTEGER NOT NULL, key BLOB NOT NULL, uploaded BOOLEAN NOT NULL DEFAULT FALSE,
    device_id INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (id, device_id));
CREATE TABLE IF NOT EXISTS app_state_mutation_macs (
    name TEXT NOT NULL, version BIGINT NOT NULL, index_mac BLOB NOT NULL,
    value_mac BLOB NOT NULL, device_id INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (name, index_mac, device_id));
CREATE TABLE IF NOT EXISTS pending_inbound_messages (
    chat TEXT NOT NULL, sender TEXT NOT NULL, id TEXT NOT NULL, message BLOB NOT NULL,
    device_id INTEGER NOT NULL DEFAULT 1, inserted_at BIGINT NOT NULL,
    PRIMARY KEY (chat, sender, id, device_id));
";

const DEVICE_ID: i32 = 1;

impl Rusqlite {
    fn open(path: &Path) -> Rusqlite {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch("PRAGMA synchronous = FULL;").unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        Rusqlite {
            conn: Mutex::new(conn),
        }
    }

    fn get_blob(&self, sql: &str, params: impl rusqlite::Params) -> Option<Vec<u8>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn.prepare_cached(sql).unwrap();
        let mut rows = stmt.query(params).unwrap();
        rows.next().unwrap().map(|r| r.get(0).unwrap())
    }
}

impl Engine for Rusqlite {
    fn name(&self) -> &'static str {
        "rusqlite_full"
    }
    fn put_session(&self, address: &str, record: &[u8]) {
        let conn = self.conn.lock().unwrap();
        conn.prepare_cached(
            "INSERT INTO sessions (address, record, device_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (address, device_id) DO UPDATE SET record = excluded.record",
        )
        .unwrap()
        .execute(rusqlite::params![address, record, DEVICE_ID])
        .unwrap();
    }
    fn get_session(&self, address: &str) -> Option<Bytes> {
        self.get_blob(
            "SELECT record FROM sessions WHERE address = ?1 AND device_id = ?2",
            rusqlite::params![address, DEVICE_ID],
        )
        .map(Bytes::from)
    }
    fn put_identity(&self, address: &str, key: [u8; 32]) {
        let conn = self.conn.lock().unwrap();
        conn.prepare_cached(
            "INSERT INTO identities (address, key, device_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (address, device_id) DO UPDATE SET key = excluded.key",
        )
        .unwrap()
        .execute(rusqlite::params![address, &key[..], DEVICE_ID])
        .unwrap();
    }
    fn load_identity(&self, address: &str) -> Option<[u8; 32]> {
        self.get_blob(
            "SELECT key FROM identities WHERE address = ?1 AND device_id = ?2",
            rusqlite::params![address, DEVICE_ID],
        )
        .map(|v| v.try_into().unwrap())
    }
    fn store_prekeys_batch(&self, keys: &[(u32, Bytes)]) {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO prekeys (id, key, uploaded, device_id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id, device_id) DO UPDATE SET
                       key = excluded.key, uploaded = excluded.uploaded",
                )
                .unwrap();
            for (id, record) in keys {
                stmt.execute(rusqlite::params![id, &record[..], false, DEVICE_ID])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    fn load_prekey(&self, id: u32) -> Option<Bytes> {
        self.get_blob(
            "SELECT key FROM prekeys WHERE id = ?1 AND device_id = ?2",
            rusqlite::params![id, DEVICE_ID],
        )
        .map(Bytes::from)
    }
    fn put_mutation_macs(&self, batch: &MacBatch) {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO app_state_mutation_macs
                       (name, version, index_mac, value_mac, device_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (name, index_mac, device_id) DO UPDATE SET
                       version = excluded.version, value_mac = excluded.value_mac",
                )
                .unwrap();
            for m in &batch.ours {
                stmt.execute(rusqlite::params![
                    batch.collection,
                    batch.version as i64,
                    &m.index_mac,
                    &m.value_mac,
                    DEVICE_ID
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    fn get_mutation_mac(&self, collection: &str, index_mac: &[u8]) -> Option<Vec<u8>> {
        self.get_blob(
            "SELECT value_mac FROM app_state_mutation_macs
             WHERE name = ?1 AND index_mac = ?2 AND device_id = ?3",
            rusqlite::params![collection, index_mac, DEVICE_ID],
        )
    }
    fn put_sessions_concurrently(&self, writes: ConcurrentWrites) {
        std::thread::scope(|s| {
            for mine in writes {
                s.spawn(move || {
                    for (address, record) in mine {
                        self.put_session(&address, &record);
                    }
                });
            }
        });
    }
    fn apply_message(&self, m: &MessageWrite) {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().unwrap();
        tx.prepare_cached(
            "INSERT INTO sessions (address, record, device_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (address, device_id) DO UPDATE SET record = excluded.record",
        )
        .unwrap()
        .execute(rusqlite::params![&*m.address, &m.session[..], DEVICE_ID])
        .unwrap();
        tx.prepare_cached("DELETE FROM prekeys WHERE id = ?1 AND device_id = ?2")
            .unwrap()
            .execute(rusqlite::params![m.prekey_id, DEVICE_ID])
            .unwrap();
        tx.prepare_cached(
            "INSERT INTO identities (address, key, device_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (address, device_id) DO UPDATE SET key = excluded.key",
        )
        .unwrap()
        .execute(rusqlite::params![&*m.address, &m.identity[..], DEVICE_ID])
        .unwrap();
        tx.prepare_cached(
            "INSERT OR REPLACE INTO pending_inbound_messages
               (chat, sender, id, message, device_id, inserted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .unwrap()
        .execute(rusqlite::params![
            m.chat,
            m.sender,
            m.id,
            &m.payload[..],
            DEVICE_ID,
            m.timestamp
        ])
        .unwrap();
        tx.commit().unwrap();
    }
}

/// Checks that message `n`'s writes are stored (its session, identity, prekey gone).
fn check_message(engine: &dyn Engine, w: &Workload, n: u64) {
    let m = w.message_write(n);
    let name = engine.name();
    assert_eq!(engine.get_session(&m.address), Some(m.session), "{name}");
    assert_eq!(engine.load_identity(&m.address), Some(m.identity), "{name}");
    assert_eq!(engine.load_prekey(m.prekey_id), None, "{name}");
    if !(n + 1).is_multiple_of(MESSAGE_PREKEY_BLOCK) {
        // Stored ahead, so every removal removed a row.
        let next = MESSAGE_PREKEYS + n as u32 + 1;
        assert!(engine.load_prekey(next).is_some(), "{name}: prekey {next}");
    }
}

/// Stores the prekeys messages `1..=n` remove (untimed).
fn store_message_prekeys(engine: &dyn Engine, w: &Workload, n: u64) {
    let mut m = 1;
    while m <= n {
        let keys = w.message_prekeys(m, true).unwrap();
        engine.store_prekeys_batch(&keys);
        m = (m / MESSAGE_PREKEY_BLOCK + 1) * MESSAGE_PREKEY_BLOCK;
    }
}

// ---------------------------------------------------------------------------------------

/// Stores the read set and checks that the engine reads back what it was given.
fn populate(engine: &dyn Engine, w: &Workload) {
    for (i, address) in w.addresses.iter().enumerate() {
        engine.put_session(address, &w.sessions[i]);
        engine.put_identity(address, w.identities[i]);
    }
    engine.store_prekeys_batch(&w.prekeys);
    let name = engine.name();
    for (i, address) in w.addresses.iter().enumerate().step_by(37) {
        assert_eq!(
            engine.get_session(address).as_ref(),
            Some(&w.sessions[i]),
            "{name}"
        );
        assert_eq!(
            engine.load_identity(address),
            Some(w.identities[i]),
            "{name}"
        );
    }
    for (id, record) in w.prekeys.iter().step_by(29) {
        assert_eq!(engine.load_prekey(*id).as_ref(), Some(record), "{name}");
    }
    assert_eq!(engine.get_session("5511000000000.0"), None, "{name}");
}

/// Checks that the `round`-th batches and the `n`-th session write are stored.
fn check_writes(engine: &dyn Engine, w: &Workload, prekey_round: u64, mac_round: u64) {
    let name = engine.name();
    if prekey_round > 0 {
        let batch = w.prekey_batch(prekey_round);
        for (id, record) in batch.iter().step_by(101) {
            assert_eq!(engine.load_prekey(*id).as_ref(), Some(record), "{name}");
        }
    }
    if mac_round > 0 {
        let batch = w.mac_batch(mac_round);
        for m in batch.ours.iter().step_by(61) {
            assert_eq!(
                engine.get_mutation_mac(batch.collection, &m.index_mac),
                Some(m.value_mac.clone()),
                "{name}"
            );
        }
    }
}

struct Engines {
    // Declared first so it is removed last, after every store closed its file.
    dir_path: PathBuf,
    redb: Redb,
    redb_nosync: Redb,
    peer: SqlitePeer,
    peer_full: SqlitePeer,
    rusqlite: Rusqlite,
    _dir: tempfile::TempDir,
}

fn open_engines() -> Engines {
    let base = std::env::var_os("WA_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::Builder::new()
        .prefix("wa-store-bench")
        .tempdir_in(base)
        .unwrap();
    let p = dir.path().to_owned();
    Engines {
        redb: Redb::open(
            "redb",
            &p.join("wa.redb"),
            wa_store_redb::Durability::Immediate,
        ),
        redb_nosync: Redb::open(
            "redb_nosync",
            &p.join("wa-nosync.redb"),
            wa_store_redb::Durability::None,
        ),
        peer: SqlitePeer::open(
            "sqlite_peer",
            &p.join("peer.db"),
            whatsapp_rust_sqlite_storage::Synchronous::Normal,
        ),
        peer_full: SqlitePeer::open(
            "sqlite_peer_full",
            &p.join("peer-full.db"),
            whatsapp_rust_sqlite_storage::Synchronous::Full,
        ),
        rusqlite: Rusqlite::open(&p.join("rusqlite.db")),
        dir_path: p,
        _dir: dir,
    }
}

fn probe(spec: &str, w: &Workload) {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    let [engine, workload, n] = parts[..] else {
        panic!("WA_STORE_PROBE must be \"<engine> <workload> <n>\", got {spec:?}");
    };
    let n: u64 = n.parse().expect("a count");
    let e = open_engines();
    let engine: &dyn Engine = match engine {
        "redb" => &e.redb,
        "redb_nosync" => &e.redb_nosync,
        "sqlite_peer" => &e.peer,
        "sqlite_peer_full" => &e.peer_full,
        "rusqlite_full" => &e.rusqlite,
        other => panic!("unknown engine {other}"),
    };
    populate(engine, w);
    // Inputs are built before the start marker, so the traced section holds store work only.
    enum Input {
        Session(Arc<str>, Bytes),
        Concurrent(ConcurrentWrites),
        Prekeys(Vec<(u32, Bytes)>),
        Macs(MacBatch),
        Message(MessageWrite),
    }
    if workload == "message_batch" {
        store_message_prekeys(engine, w, n);
    }
    let inputs: Vec<Input> = (1..=n)
        .map(|round| match workload {
            "put_session" => {
                let (a, r) = w.session_write(round);
                Input::Session(a, r)
            }
            "put_session_16" => Input::Concurrent(w.concurrent_writes(round)),
            "prekeys_batch" => Input::Prekeys(w.prekey_batch(round)),
            "macs_batch" => Input::Macs(w.mac_batch(round)),
            "message_batch" => Input::Message(w.message_write(round)),
            other => panic!("unknown workload {other}"),
        })
        .collect();
    eprintln!("probe: start {spec} in {}", e.dir_path.display());
    let start = Instant::now();
    for input in inputs {
        match input {
            Input::Session(a, r) => engine.put_session(&a, &r),
            Input::Concurrent(writes) => engine.put_sessions_concurrently(writes),
            Input::Prekeys(keys) => engine.store_prekeys_batch(&keys),
            Input::Macs(batch) => engine.put_mutation_macs(&batch),
            Input::Message(m) => engine.apply_message(&m),
        }
    }
    eprintln!("probe: end after {:?}", start.elapsed());
}

/// Interleaved mode (`WA_STORE_INTERLEAVED=<rounds>`): the durable-write workloads with
/// the engines taking turns op by op, so a slow spell of the shared disk hits all of them
/// alike. Criterion runs one engine after another, seconds apart, and on a busy virtual
/// disk an fsync can cost 0.1 ms in one second and 7 ms in the next. Prints a markdown
/// table of per-op medians and the ratios against `redb`.
fn interleaved(rounds: u64, w: &Workload) {
    let e = open_engines();
    let all: [&dyn Engine; 5] = [&e.redb, &e.redb_nosync, &e.peer, &e.peer_full, &e.rusqlite];
    for engine in all {
        populate(engine, w);
    }
    let disk = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(e.dir_path.join("disk.bin"))
        .unwrap();
    let page = vec![0x5a_u8; 4096];
    let median = |mut v: Vec<f64>| -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("| workload | engine | median per op | ratio (engine ÷ redb) |");
    println!("|---|---|---|---|");
    let only = std::env::var("WA_STORE_WORKLOADS").ok();
    let workloads = [
        "put_session",
        "prekeys_batch",
        "macs_batch",
        "put_session_16",
        "message_batch",
    ];
    for workload in workloads {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == workload))
        {
            continue;
        }
        let engines: Vec<&dyn Engine> = match workload {
            "put_session" | "message_batch" => {
                vec![&e.redb, &e.rusqlite, &e.peer_full, &e.peer, &e.redb_nosync]
            }
            _ => vec![&e.redb, &e.peer, &e.rusqlite, &e.redb_nosync],
        };
        if workload == "message_batch" {
            for engine in &engines {
                store_message_prekeys(*engine, w, rounds);
            }
        }
        let ops_per_round = if workload == "put_session_16" {
            (WRITERS * WRITES_PER_WRITER) as f64
        } else {
            1.0
        };
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); engines.len() + 1];
        for round in 1..=rounds {
            for (k, engine) in engines.iter().enumerate() {
                // Inputs are built before the clock starts.
                let elapsed = match workload {
                    "put_session" => {
                        let (a, r) = w.session_write(round);
                        let t = Instant::now();
                        engine.put_session(&a, &r);
                        t.elapsed()
                    }
                    "prekeys_batch" => {
                        let keys = w.prekey_batch(round);
                        let t = Instant::now();
                        engine.store_prekeys_batch(&keys);
                        t.elapsed()
                    }
                    "macs_batch" => {
                        let batch = w.mac_batch(round);
                        let t = Instant::now();
                        engine.put_mutation_macs(&batch);
                        t.elapsed()
                    }
                    "message_batch" => {
                        let m = w.message_write(round);
                        let t = Instant::now();
                        engine.apply_message(&m);
                        t.elapsed()
                    }
                    _ => {
                        let writes = w.concurrent_writes(round);
                        let t = Instant::now();
                        engine.put_sessions_concurrently(writes);
                        t.elapsed()
                    }
                };
                times[k].push(elapsed.as_secs_f64() * 1e9 / ops_per_round);
            }
            if workload == "put_session" || workload == "message_batch" {
                let t = Instant::now();
                disk.write_all_at(&page, (round % 1024) * 4096).unwrap();
                disk.sync_data().unwrap();
                times[engines.len()].push(t.elapsed().as_secs_f64() * 1e9);
            }
        }
        let mut names: Vec<&str> = engines.iter().map(|e| e.name()).collect();
        if workload == "put_session" || workload == "message_batch" {
            names.push("disk_4k_fdatasync");
        }
        let medians: Vec<f64> = times.into_iter().take(names.len()).map(median).collect();
        for (name, m) in names.iter().zip(&medians) {
            println!(
                "| {workload} ×{rounds} | {name} | {} | {:.2}× |",
                wa_benches::report::fmt_ns(*m),
                m / medians[0]
            );
        }
        if workload == "message_batch" {
            for engine in &engines {
                check_message(*engine, w, rounds);
            }
        }
    }
}

fn main() {
    let w = Workload::new(0x5eed_5702e);
    if let Ok(rounds) = std::env::var("WA_STORE_INTERLEAVED") {
        interleaved(rounds.parse().expect("a round count"), &w);
        return;
    }
    if let Ok(spec) = std::env::var("WA_STORE_PROBE") {
        probe(&spec, &w);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let e = open_engines();
    println!("store files in {}", e.dir_path.display());
    let readers: [&dyn Engine; 3] = [&e.redb, &e.peer, &e.rusqlite];
    let writers: [&dyn Engine; 4] = [&e.redb, &e.redb_nosync, &e.peer, &e.rusqlite];
    for engine in [&e.redb, &e.redb_nosync, &e.peer, &e.peer_full, &e.rusqlite] as [&dyn Engine; 5]
    {
        populate(engine, &w);
    }

    // Point reads of existing rows.
    let mut g = c.benchmark_group("store_get_session");
    g.throughput(Throughput::Elements(1));
    for engine in readers {
        let mut i = 0;
        g.bench_function(engine.name(), |b| {
            b.iter(|| {
                i = (i + 1) % w.order.len();
                engine
                    .get_session(black_box(&w.addresses[w.order[i]]))
                    .unwrap()
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("store_load_prekey");
    g.throughput(Throughput::Elements(1));
    for engine in readers {
        let mut i = 0;
        g.bench_function(engine.name(), |b| {
            b.iter(|| {
                i = (i + 1) % w.prekey_order.len();
                engine.load_prekey(black_box(w.prekey_order[i])).unwrap()
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("store_load_identity");
    g.throughput(Throughput::Elements(1));
    for engine in readers {
        let mut i = 0;
        g.bench_function(engine.name(), |b| {
            b.iter(|| {
                i = (i + 1) % w.order.len();
                engine
                    .load_identity(black_box(&w.addresses[w.order[i]]))
                    .unwrap()
            })
        });
    }
    g.finish();

    // Batches. Inputs are built outside the timing; slow iterations: flat sampling.
    let mut g = c.benchmark_group("store_prekeys_batch_812");
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    for engine in writers {
        let mut round = 0;
        g.bench_function(engine.name(), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    w.prekey_batch(round)
                },
                |keys| engine.store_prekeys_batch(&keys),
                BatchSize::PerIteration,
            )
        });
        check_writes(engine, &w, round, 0);
    }
    g.finish();
    let mut g = c.benchmark_group("store_put_mutation_macs_500");
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    for engine in writers {
        let mut round = 0;
        g.bench_function(engine.name(), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    w.mac_batch(round)
                },
                |batch| engine.put_mutation_macs(&batch),
                BatchSize::PerIteration,
            )
        });
        check_writes(engine, &w, 0, round);
    }
    g.finish();

    // Durable single writes from one caller, and the disk's own limit.
    let mut g = c.benchmark_group("store_put_session_1_writer");
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    g.throughput(Throughput::Elements(1));
    let single: [&dyn Engine; 5] = [&e.redb, &e.redb_nosync, &e.rusqlite, &e.peer_full, &e.peer];
    for engine in single {
        let mut n = 0;
        g.bench_function(engine.name(), |b| {
            b.iter_batched(
                || {
                    n += 1;
                    w.session_write(n)
                },
                |(address, record)| engine.put_session(&address, &record),
                BatchSize::SmallInput,
            )
        });
        // (n = 0: a filter skipped this function.)
        if n > 0 {
            let (address, record) = w.session_write(n);
            assert_eq!(
                engine.get_session(&address),
                Some(record),
                "{}",
                engine.name()
            );
        }
    }
    let disk = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(e.dir_path.join("disk.bin"))
        .unwrap();
    let page = vec![0x5a_u8; 4096];
    let mut i = 0u64;
    g.bench_function("disk_4k_fdatasync", |b| {
        b.iter(|| {
            // Overwrites within a 4 MiB file, so only data (no size change) is synced.
            i = (i + 1) % 1024;
            disk.write_all_at(&page, i * 4096).unwrap();
            disk.sync_data().unwrap();
        })
    });
    g.finish();

    // 16 concurrent writers (group commit for ours).
    let mut g = c.benchmark_group("store_put_session_16_writers");
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    g.throughput(Throughput::Elements((WRITERS * WRITES_PER_WRITER) as u64));
    for engine in writers {
        let mut round = 0;
        g.bench_function(engine.name(), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    w.concurrent_writes(round)
                },
                |writes| engine.put_sessions_concurrently(writes),
                BatchSize::PerIteration,
            )
        });
        if round > 0 {
            let last = w.concurrent_writes(round).pop().unwrap().pop().unwrap();
            assert_eq!(
                engine.get_session(&last.0),
                Some(last.1),
                "{}",
                engine.name()
            );
        }
    }
    g.finish();

    // One incoming message's state change, durable, one caller. The prekey block a
    // message needs is stored in the (untimed) setup before it.
    let mut g = c.benchmark_group("store_message_batch");
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    g.throughput(Throughput::Elements(1));
    let message: [&dyn Engine; 5] = [&e.redb, &e.redb_nosync, &e.rusqlite, &e.peer_full, &e.peer];
    for engine in message {
        let mut n = 0;
        g.bench_function(engine.name(), |b| {
            b.iter_batched(
                || {
                    n += 1;
                    if let Some(keys) = w.message_prekeys(n, n == 1) {
                        engine.store_prekeys_batch(&keys);
                    }
                    w.message_write(n)
                },
                |m| engine.apply_message(&m),
                BatchSize::PerIteration,
            )
        });
        if n > 0 {
            check_message(engine, &w, n);
        }
    }
    g.finish();

    c.final_summary();
}
