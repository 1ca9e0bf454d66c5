//! The store workloads and engines shared by the `store` (criterion) and `store_durable`
//! (interleaved, the source of truth for durable writes) bench targets.
//!
//! Every engine implements one adapter trait, [`Engine`], and every workload runs
//! identically on each (same keys, same values, same order). Each engine gets its own
//! file in one temporary directory (`$WA_BENCH_DIR`, else the system temp dir), so all
//! files are on the same disk. Ours is opened twice where it writes: `redb` (the
//! default, durable `Durability::Immediate`) is the one judged; `redb_nosync`
//! (`Durability::None`) only shows what our writes cost without the fsync.
//!
//! Every write carries new bytes (a counter stamped into the value): SQLite skips
//! rewriting a row whose content did not change, so repeating a value would time a
//! no-op for it.

// Each bench target uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_lite::future::block_on;

/// The seed every store bench builds its [`Workload`] from.
pub const SEED: u64 = 0x5eed_5702e;

/// The identical workload, built once from a seed.
pub struct Workload {
    /// Session addresses, `5511987650001.0` style (250 users × 4 devices).
    pub addresses: Vec<Arc<str>>,
    /// One 1–4 KiB session record per address.
    pub sessions: Vec<Bytes>,
    /// One 32-byte identity key per address.
    pub identities: Vec<[u8; 32]>,
    /// Prekeys 1..=812 (~100 bytes each), stored at setup and read by random id.
    pub prekeys: Vec<(u32, Bytes)>,
    /// A window of 8 batches of 812 prekeys with ids above the read set.
    pub prekey_batches: Vec<Vec<(u32, Bytes)>>,
    /// A window of 8 batches of 500 (index MAC, value MAC), with their collection.
    pub mac_batches: Vec<(&'static str, Vec<MacPair>)>,
    /// A seeded random order of indices into `addresses`, for reads and writes.
    pub order: Vec<usize>,
    /// A seeded random sequence of prekey ids in 1..=812.
    pub prekey_order: Vec<u32>,
    /// Records for the write groups (1–4 KiB).
    pub write_records: Vec<Bytes>,
}

/// One `put_mutation_macs` call, in ours and in the peer's type.
pub struct MacBatch {
    pub collection: &'static str,
    pub version: u64,
    pub ours: Vec<wa_core::store::AppStateMutationMAC>,
    pub peer: Vec<wacore::appstate::processor::AppStateMutationMAC>,
}

/// (index MAC, value MAC).
pub type MacPair = ([u8; 32], [u8; 32]);

/// One incoming message's state change (the `store_message_batch` workload): what a
/// receive job's outcome writes for a `pkmsg` that starts a session.
pub struct MessageWrite {
    /// The sender's Signal address (an existing one).
    pub address: Arc<str>,
    /// Its new session record, 1–2 KiB.
    pub session: Bytes,
    /// The one-time prekey the message consumed (stored before, untimed).
    pub prekey_id: u32,
    /// The sender's identity key.
    pub identity: [u8; 32],
    /// The inbox row: chat JID, message id, sender JID, timestamp, ~300 B payload.
    pub chat: String,
    pub id: String,
    pub sender: String,
    pub timestamp: i64,
    pub payload: Bytes,
}

/// Prekey ids consumed by `store_message_batch`: message `n` removes
/// `MESSAGE_PREKEYS + n`, stored in blocks of `MESSAGE_PREKEY_BLOCK` ahead of use.
pub const MESSAGE_PREKEYS: u32 = 1_000_000;
pub const MESSAGE_PREKEY_BLOCK: u64 = 1024;

/// The first message number of the concurrent-message workload (its prekeys lie above
/// those of the single-caller one).
pub const CONCURRENT_MESSAGES: u64 = 1 << 20;

/// Per writer, the (address, record) pairs it writes in turn.
pub type ConcurrentWrites = Vec<Vec<(Arc<str>, Bytes)>>;

/// Per caller, the incoming messages whose state changes it applies in turn.
pub type ConcurrentMessages = Vec<Vec<MessageWrite>>;

pub const USERS: usize = 250;
pub const DEVICES: usize = 4;
pub const PREKEYS: u32 = 812;
pub const MACS: usize = 500;
pub const BATCH_WINDOW: usize = 8;
pub const WRITERS: usize = 16;
pub const WRITES_PER_WRITER: usize = 4;
pub const COLLECTIONS: [&str; 5] = [
    "regular",
    "regular_high",
    "regular_low",
    "critical_block",
    "critical_unblock_low",
];

/// `base` with `n` written over its first 8 bytes. Every write of the benchmark carries
/// new content: SQLite skips rewriting a row whose bytes did not change, so writing the
/// same value twice would measure a no-op for it.
pub fn stamped(base: &[u8], n: u64) -> Bytes {
    let mut v = base.to_vec();
    v[..8].copy_from_slice(&n.to_le_bytes());
    Bytes::from(v)
}

impl Workload {
    pub fn new(seed: u64) -> Workload {
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
    pub fn prekey_batch(&self, round: u64) -> Vec<(u32, Bytes)> {
        self.prekey_batches[round as usize % BATCH_WINDOW]
            .iter()
            .map(|(id, record)| (*id, stamped(record, round)))
            .collect()
    }

    /// The `round`-th MAC batch: the index MACs of window slot `round % 8`, new value
    /// MACs, version `round`.
    pub fn mac_batch(&self, round: u64) -> MacBatch {
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
    pub fn session_write(&self, n: u64) -> (Arc<str>, Bytes) {
        let i = n as usize;
        (
            Arc::clone(&self.addresses[self.order[i % self.order.len()]]),
            stamped(&self.write_records[i % self.write_records.len()], n),
        )
    }

    /// The `n`-th incoming message's writes (see [`MessageWrite`]).
    pub fn message_write(&self, n: u64) -> MessageWrite {
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
    pub fn message_prekeys(&self, n: u64, first: bool) -> Option<Vec<(u32, Bytes)>> {
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

    /// The `round`-th (from 1) set of concurrent incoming messages: 16 callers × 4
    /// messages, numbered from [`CONCURRENT_MESSAGES`] on.
    pub fn concurrent_messages(&self, round: u64) -> ConcurrentMessages {
        let per_round = (WRITERS * WRITES_PER_WRITER) as u64;
        (0..WRITERS as u64)
            .map(|writer| {
                (0..WRITES_PER_WRITER as u64)
                    .map(|i| {
                        self.message_write(
                            CONCURRENT_MESSAGES
                                + (round - 1) * per_round
                                + writer * WRITES_PER_WRITER as u64
                                + i,
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// The `round`-th set of concurrent writes: 16 writers × 4 session writes.
    pub fn concurrent_writes(&self, round: u64) -> ConcurrentWrites {
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
pub trait Engine: Send + Sync {
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
    /// One concurrent caller per element of `messages`, each applying its messages'
    /// state changes in turn (as [`Engine::apply_message`]); returns when all are done.
    fn apply_messages_concurrently(&self, messages: ConcurrentMessages);
}

// ---------------------------------------------------------------------------------------
// Ours: RedbStore. `redb` is the default, durable store (Durability::Immediate);
// `redb_nosync` (Durability::None) is a diagnostic that shows our cost without the fsync.

pub struct Redb {
    name: &'static str,
    store: wa_store_redb::RedbStore,
}

impl Redb {
    pub fn open(name: &'static str, path: &Path, durability: wa_store_redb::Durability) -> Redb {
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
        let atomic = block_on(wa_core::store::apply_batch(&self.store, &message_batch(m))).unwrap();
        assert!(atomic, "one transaction");
    }
    fn apply_messages_concurrently(&self, messages: ConcurrentMessages) {
        let ex = smol::LocalExecutor::new();
        let tasks: Vec<_> = messages
            .into_iter()
            .map(|mine| {
                let store = self.store.clone();
                ex.spawn(async move {
                    for m in mine {
                        let batch = message_batch(&m);
                        let atomic = wa_core::store::apply_batch(&store, &batch).await.unwrap();
                        assert!(atomic, "one transaction");
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
}

/// Ours: one incoming message's state change as one `WriteBatch`.
fn message_batch(m: &MessageWrite) -> wa_core::store::WriteBatch {
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
    batch
}

// ---------------------------------------------------------------------------------------
// The SQLite peer: whatsapp-rust-sqlite-storage 0.7 through wacore's traits, default
// configuration except `synchronous` where a row says FULL.

pub struct SqlitePeer {
    name: &'static str,
    rt: tokio::runtime::Runtime,
    store: whatsapp_rust_sqlite_storage::SqliteStore,
}

impl SqlitePeer {
    pub fn open(
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
        self.rt.block_on(peer_apply_message(&self.store, m));
    }
    fn apply_messages_concurrently(&self, messages: ConcurrentMessages) {
        self.rt.block_on(async {
            let tasks: Vec<_> = messages
                .into_iter()
                .map(|mine| {
                    let store = self.store.clone();
                    tokio::spawn(async move {
                        for m in mine {
                            peer_apply_message(&store, &m).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
    }
}

/// The peer: one incoming message's state change as its four trait calls, in turn.
async fn peer_apply_message(store: &whatsapp_rust_sqlite_storage::SqliteStore, m: &MessageWrite) {
    use wacore::store::traits::{ProtocolStore, SignalStore};
    store.put_session(&m.address, &m.session).await.unwrap();
    store.remove_prekey(m.prekey_id).await.unwrap();
    store.put_identity(&m.address, m.identity).await.unwrap();
    store
        .store_pending_inbound(&m.chat, &m.sender, &m.id, &m.payload)
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Plain rusqlite: the peer's table shapes, WAL, synchronous=FULL (durable like ours),
// one connection behind a mutex, cached prepared statements, no thread hop.

pub struct Rusqlite {
    conn: Mutex<rusqlite::Connection>,
}

pub const SCHEMA: &str = "
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

pub const DEVICE_ID: i32 = 1;

impl Rusqlite {
    pub fn open(path: &Path) -> Rusqlite {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch("PRAGMA synchronous = FULL;").unwrap();
        // The bundled SQLite (built with SQLITE_ENABLE_MEMORY_MANAGEMENT, like the peer's
        // default build, and linked once into this process) keeps one page-cache group for
        // every connection: a connection whose cache is full takes the group's least
        // recently used pages, the peer's included, and then the peer re-reads every page
        // from the file (~3,160 `pread64` per prekey batch against ~35 alone: 1.6–2×
        // slower; benches/examples/peer_alone.rs). 64 MiB holds every file of this bench,
        // so this connection never fills its cache and never takes the peer's.
        conn.execute_batch("PRAGMA cache_size = -65536;").unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        Rusqlite {
            conn: Mutex::new(conn),
        }
    }

    pub fn get_blob(&self, sql: &str, params: impl rusqlite::Params) -> Option<Vec<u8>> {
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
    fn apply_messages_concurrently(&self, messages: ConcurrentMessages) {
        std::thread::scope(|s| {
            for mine in messages {
                s.spawn(move || {
                    for m in mine {
                        self.apply_message(&m);
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
pub fn check_message(engine: &dyn Engine, w: &Workload, n: u64) {
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
pub fn store_message_prekeys(engine: &dyn Engine, w: &Workload, n: u64) {
    let mut m = 1;
    while m <= n {
        let keys = w.message_prekeys(m, true).unwrap();
        engine.store_prekeys_batch(&keys);
        m = (m / MESSAGE_PREKEY_BLOCK + 1) * MESSAGE_PREKEY_BLOCK;
    }
}

// ---------------------------------------------------------------------------------------

/// Stores the read set and checks that the engine reads back what it was given.
pub fn populate(engine: &dyn Engine, w: &Workload) {
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
pub fn check_writes(engine: &dyn Engine, w: &Workload, prekey_round: u64, mac_round: u64) {
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

pub struct Engines {
    // Declared first so it is removed last, after every store closed its file.
    pub dir_path: PathBuf,
    pub redb: Redb,
    pub redb_nosync: Redb,
    pub peer: SqlitePeer,
    pub peer_full: SqlitePeer,
    pub rusqlite: Rusqlite,
    pub _dir: tempfile::TempDir,
}

pub fn open_engines() -> Engines {
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
