//! The SQLite peer (`whatsapp-rust-sqlite-storage` 0.7) alone: batch-write latency
//! with nothing of ours around it, and switches that add back, one at a time, each way
//! in which `benches/store.rs` drives it differently (issue 15: the store bench
//! measured the peer's batch writes slower than an independent harness did).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-a cargo run --release -p wa-benches --example peer_alone
//! PEER_LIKE_BENCH=1 cargo run --release -p wa-benches --example peer_alone
//! ```
//!
//! It opens the peer with its default [`SqliteStoreConfig`] (WAL, synchronous=NORMAL,
//! one pooled connection, 512 KiB page cache) on a multi-thread Tokio runtime, in a
//! fresh directory under `$PEER_DIR` (else the system temp dir), and times
//! `PEER_ROUNDS` (default 200, after `PEER_WARMUP`, default 8, untimed) calls of each
//! workload, one workload after the other, printing the median and the 10th/90th
//! percentiles per call:
//! - `prekeys`: `store_prekeys_batch(keys, false)` of 812 ~100-byte prekeys;
//! - `macs`: `put_mutation_macs` of 500 (32-byte index MAC → 32-byte value MAC).
//!
//! Inputs are built before each call's clock starts. The defaults are the independent
//! harness of the issue; each switch below sets one aspect to what `benches/store.rs`
//! does (`PEER_LIKE_BENCH=1` sets them all; an explicit variable still overrides):
//!
//! | variable | default (alone) | as the bench |
//! |---|---|---|
//! | `PEER_PREFILL` | `0`: empty tables | `1`: `populate`'s 1000 sessions (1–4 KiB), 1000 identities, prekeys 1..=812 |
//! | `PEER_IDS` | `fresh`: new ids every call (inserts) | `window`: the ids of 8 batches in turn (overwrites) |
//! | `PEER_BYTES` | `random`: fresh random bytes | `stamp`: the call's number over the first 8 bytes of a fixed base |
//! | `PEER_COLLECTIONS` | `regular` | `bench`: the 5 collections in turn, one per window slot |
//! | `PEER_CALL` | `loop`: all calls inside one `block_on` | `per_call`: one `rt.block_on` per call from the main thread |
//! | `PEER_OPEN` | none | `bench`: the bench's other engines, idle (see below) |
//! | `PEER_BETWEEN` | none | `redb,rusqlite,redb_nosync`: those engines do the same write between the peer's calls (untimed), as `WA_STORE_INTERLEAVED` does |
//!
//! `PEER_OPEN` is a comma list of: `runtime` (a second, idle multi-thread Tokio
//! runtime), `peer_full` (a second peer store at synchronous=FULL with its own runtime),
//! `redb` (a `RedbStore`, `Durability::Immediate`), `redb_nosync` (`Durability::None`),
//! `rusqlite` (a WAL connection at synchronous=FULL with the peer's prekey and MAC
//! tables), or `bench` for `redb,redb_nosync,peer_full,rusqlite` (what `open_engines`
//! opens besides the peer). With `PEER_PREFILL=1` the opened stores are populated too
//! (`PEER_PREFILL_OTHERS=0|1` overrides that). `PEER_RUSQLITE_CACHE_KIB=<n>` sets the
//! rusqlite connection's `cache_size`; `PEER_SHRINK=1` runs `PRAGMA shrink_memory` on it
//! after populating. `PEER_WORKLOADS=prekeys|macs|prekeys,macs` (default both) picks the
//! workloads.
//!
//! What it found (issue 15, `/work/notes/peer-slowdown.md`): the bundled SQLite that
//! both rusqlite and the peer link is built with `SQLITE_ENABLE_MEMORY_MANAGEMENT`, so all
//! connections of the process share one page-cache group. The bench's populated rusqlite
//! connection (2 MiB cache, filled after the peer's) ends up holding the peer's share, and
//! the peer then runs without a cache (a `pread` per page). Compare
//! `PEER_LIKE_BENCH=1 PEER_BETWEEN= PEER_OPEN=rusqlite` with `PEER_OPEN=` or with
//! `PEER_RUSQLITE_CACHE_KIB=65536`.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use wacore::appstate::processor::AppStateMutationMAC;
use wacore::store::traits::{AppSyncStore, SignalStore};
use whatsapp_rust_sqlite_storage::{SqliteStore, SqliteStoreConfig, Synchronous};

const PREKEYS: u32 = 812;
const MACS: usize = 500;
const WINDOW: u64 = 8;
const COLLECTIONS: [&str; 5] = [
    "regular",
    "regular_high",
    "regular_low",
    "critical_block",
    "critical_unblock_low",
];

/// The switches, read from the environment.
struct Config {
    rounds: u64,
    warmup: u64,
    prefill: bool,
    window: bool,
    stamp: bool,
    bench_collections: bool,
    per_call: bool,
    open: Vec<String>,
    prefill_others: bool,
    rusqlite_cache_kib: Option<u32>,
    shrink: bool,
    between: Vec<String>,
    workloads: Vec<String>,
}

impl Config {
    fn from_env() -> Config {
        let like_bench = std::env::var("PEER_LIKE_BENCH").is_ok_and(|v| v == "1");
        let var = |name: &str, alone: &str, bench: &str| -> String {
            std::env::var(name).unwrap_or_else(|_| if like_bench { bench } else { alone }.into())
        };
        let list = |s: String| -> Vec<String> {
            s.split(',')
                .filter(|x| !x.is_empty())
                .flat_map(|x| {
                    if x == "bench" {
                        vec!["redb", "redb_nosync", "peer_full", "rusqlite"]
                    } else {
                        vec![x]
                    }
                })
                .map(String::from)
                .collect()
        };
        let prefill = var("PEER_PREFILL", "0", "1") == "1";
        let config = Config {
            prefill_others: std::env::var("PEER_PREFILL_OTHERS").map_or(prefill, |v| v == "1"),
            rusqlite_cache_kib: std::env::var("PEER_RUSQLITE_CACHE_KIB")
                .ok()
                .map(|v| v.parse().expect("KiB")),
            shrink: std::env::var("PEER_SHRINK").is_ok_and(|v| v == "1"),
            rounds: var("PEER_ROUNDS", "200", "200").parse().expect("a count"),
            warmup: var("PEER_WARMUP", "8", "8").parse().expect("a count"),
            prefill,
            window: var("PEER_IDS", "fresh", "window") == "window",
            stamp: var("PEER_BYTES", "random", "stamp") == "stamp",
            bench_collections: var("PEER_COLLECTIONS", "regular", "bench") == "bench",
            per_call: var("PEER_CALL", "loop", "per_call") == "per_call",
            open: list(var("PEER_OPEN", "", "bench")),
            between: list(var("PEER_BETWEEN", "", "redb,rusqlite,redb_nosync")),
            workloads: list(var("PEER_WORKLOADS", "prekeys,macs", "prekeys,macs")),
        };
        for e in &config.between {
            assert!(
                config.open.contains(e),
                "PEER_BETWEEN={e} needs PEER_OPEN to open {e}"
            );
        }
        config
    }
}

/// Builds every call's input: fresh random bytes, or the bench's stamped bases.
struct Inputs {
    rng: fastrand::Rng,
    /// Per window slot, the base of each prekey record.
    prekey_bases: Vec<Vec<Vec<u8>>>,
    /// Per window slot, the (index MAC, base value MAC) pairs.
    mac_bases: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
}

/// `base` with `n` over its first 8 bytes (`stamped` of `benches/store.rs`).
fn stamped(base: &[u8], n: u64) -> Vec<u8> {
    let mut v = base.to_vec();
    v[..8].copy_from_slice(&n.to_le_bytes());
    v
}

/// `n` fresh random bytes.
fn random(rng: &mut fastrand::Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    rng.fill(&mut v);
    v
}

impl Inputs {
    fn new() -> Inputs {
        let mut rng = fastrand::Rng::with_seed(0x9ee7);
        let mut bytes = |n: usize| -> Vec<u8> { (0..n).map(|_| rng.u8(..)).collect() };
        let prekey_bases = (0..WINDOW)
            .map(|_| (0..PREKEYS).map(|_| bytes(100)).collect())
            .collect();
        let mac_bases = (0..WINDOW)
            .map(|_| (0..MACS).map(|_| (bytes(32), bytes(32))).collect())
            .collect();
        Inputs {
            rng: fastrand::Rng::new(),
            prekey_bases,
            mac_bases,
        }
    }

    /// Call `round`'s prekeys: ids of window slot `round % 8`, or new ids.
    fn prekeys(&mut self, c: &Config, round: u64) -> Vec<(u32, Bytes)> {
        let slot = round % WINDOW;
        let first = 10_000 + if c.window { slot } else { round } as u32 * PREKEYS;
        (0..PREKEYS)
            .map(|i| {
                let record = if c.stamp {
                    stamped(&self.prekey_bases[slot as usize][i as usize], round)
                } else {
                    random(&mut self.rng, 100)
                };
                (first + i, Bytes::from(record))
            })
            .collect()
    }

    /// Call `round`'s MACs and their collection: index MACs of window slot
    /// `round % 8`, or new ones.
    fn macs(&mut self, c: &Config, round: u64) -> (&'static str, Vec<AppStateMutationMAC>) {
        let slot = (round % WINDOW) as usize;
        let collection = if c.bench_collections {
            COLLECTIONS[slot % COLLECTIONS.len()]
        } else {
            "regular"
        };
        let macs = (0..MACS)
            .map(|i| {
                let (index, value) = &self.mac_bases[slot][i];
                AppStateMutationMAC {
                    index_mac: if c.window {
                        index.clone()
                    } else {
                        random(&mut self.rng, 32)
                    },
                    value_mac: if c.stamp {
                        stamped(value, round)
                    } else {
                        random(&mut self.rng, 32)
                    },
                }
            })
            .collect();
        (collection, macs)
    }
}

/// A peer store with its own multi-thread runtime (as `SqlitePeer` of the bench).
struct Peer {
    rt: tokio::runtime::Runtime,
    store: SqliteStore,
}

impl Peer {
    fn open(path: &Path, synchronous: Synchronous) -> Peer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = SqliteStoreConfig {
            synchronous,
            ..Default::default()
        };
        let store = rt
            .block_on(SqliteStore::with_config(path.to_str().unwrap(), config))
            .unwrap();
        Peer { rt, store }
    }
}

/// The bench's other engines, each optional; `between` writes go to them.
#[derive(Default)]
struct Others {
    /// Held only to be there, idle.
    _runtime: Option<tokio::runtime::Runtime>,
    peer_full: Option<Peer>,
    redb: Option<wa_store_redb::RedbStore>,
    redb_nosync: Option<wa_store_redb::RedbStore>,
    rusqlite: Option<Mutex<rusqlite::Connection>>,
    /// The engines that write between the peer's calls.
    between: Vec<String>,
}

fn open_redb(path: &Path, durability: wa_store_redb::Durability) -> wa_store_redb::RedbStore {
    let options = wa_store_redb::RedbOptions::builder()
        .durability(durability)
        .build();
    wa_store_redb::RedbStore::open_with(path, options).unwrap()
}

const RUSQLITE_SCHEMA: &str = "
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
";

impl Others {
    fn open(dir: &Path, c: &Config) -> Others {
        let (names, between) = (&c.open, &c.between);
        let mut o = Others {
            between: between.to_vec(),
            ..Others::default()
        };
        for name in names {
            match name.as_str() {
                "runtime" => {
                    o._runtime = Some(
                        tokio::runtime::Builder::new_multi_thread()
                            .enable_all()
                            .build()
                            .unwrap(),
                    );
                }
                "peer_full" => {
                    o.peer_full = Some(Peer::open(&dir.join("peer-full.db"), Synchronous::Full));
                }
                "redb" => {
                    o.redb = Some(open_redb(
                        &dir.join("wa.redb"),
                        wa_store_redb::Durability::Immediate,
                    ));
                }
                "redb_nosync" => {
                    o.redb_nosync = Some(open_redb(
                        &dir.join("wa-nosync.redb"),
                        wa_store_redb::Durability::None,
                    ));
                }
                "rusqlite" => {
                    let conn = rusqlite::Connection::open(dir.join("rusqlite.db")).unwrap();
                    let mode: String = conn
                        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                        .unwrap();
                    assert_eq!(mode, "wal");
                    conn.execute_batch("PRAGMA synchronous = FULL;").unwrap();
                    if let Some(kib) = c.rusqlite_cache_kib {
                        conn.execute_batch(&format!("PRAGMA cache_size = -{kib};"))
                            .unwrap();
                    }
                    conn.execute_batch(RUSQLITE_SCHEMA).unwrap();
                    o.rusqlite = Some(Mutex::new(conn));
                }
                other => panic!("unknown PEER_OPEN entry {other}"),
            }
        }
        o
    }

    /// Stores `populate`'s sessions and prekeys in every opened store (identities
    /// only in the peers: the other two take the same number of small writes).
    fn populate(&self, p: &Prefill) {
        if let Some(peer) = &self.peer_full {
            peer.rt.block_on(p.store_in_peer(&peer.store));
        }
        for store in [&self.redb, &self.redb_nosync].into_iter().flatten() {
            use wa_core::store::SignalStore as _;
            futures_lite::future::block_on(async {
                for (a, s) in p.addresses.iter().zip(&p.sessions) {
                    store.put_session(a, s).await.unwrap();
                }
                for (a, k) in p.addresses.iter().zip(&p.identities) {
                    store.put_identity(a, *k).await.unwrap();
                }
                store.store_prekeys_batch(&p.prekeys, false).await.unwrap();
            });
        }
        if let Some(conn) = &self.rusqlite {
            let conn = conn.lock().unwrap();
            for (a, s) in p.addresses.iter().zip(&p.sessions) {
                conn.prepare_cached(
                    "INSERT INTO sessions (address, record) VALUES (?1, ?2)
                     ON CONFLICT (address, device_id) DO UPDATE SET record = excluded.record",
                )
                .unwrap()
                .execute(rusqlite::params![&**a, &s[..]])
                .unwrap();
            }
        }
        self.rusqlite_prekeys(&p.prekeys);
    }

    /// The redb stores named in `between`.
    fn redb_between(&self) -> impl Iterator<Item = &wa_store_redb::RedbStore> {
        [("redb_nosync", &self.redb_nosync), ("redb", &self.redb)]
            .into_iter()
            .filter(|(name, _)| self.between.iter().any(|b| b == name))
            .filter_map(|(_, store)| store.as_ref())
    }

    /// The rusqlite connection, if named in `between`.
    fn rusqlite_between(&self) -> bool {
        self.between.iter().any(|b| b == "rusqlite")
    }

    /// The `between` engines' turn at a prekey batch (untimed), in the order they
    /// follow the peer in the bench's interleaved rounds (redb, peer, rusqlite,
    /// redb_nosync): rusqlite, redb_nosync, redb.
    fn prekeys(&self, keys: &[(u32, Bytes)]) {
        use wa_core::store::SignalStore as _;
        if self.rusqlite_between() {
            self.rusqlite_prekeys(keys);
        }
        for store in self.redb_between() {
            futures_lite::future::block_on(store.store_prekeys_batch(keys, false)).unwrap();
        }
    }

    fn rusqlite_prekeys(&self, keys: &[(u32, Bytes)]) {
        if let Some(conn) = &self.rusqlite {
            let mut conn = conn.lock().unwrap();
            let tx = conn.transaction().unwrap();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO prekeys (id, key, uploaded) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id, device_id) DO UPDATE SET
                           key = excluded.key, uploaded = excluded.uploaded",
                    )
                    .unwrap();
                for (id, record) in keys {
                    stmt.execute(rusqlite::params![id, &record[..], false])
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        }
    }

    /// The `between` engines' turn at a MAC batch (untimed).
    fn macs(&self, collection: &str, version: u64, macs: &[AppStateMutationMAC]) {
        use wa_core::store::AppSyncStore as _;
        let ours: Vec<_> = macs
            .iter()
            .map(|m| wa_core::store::AppStateMutationMAC {
                index_mac: m.index_mac.clone(),
                value_mac: m.value_mac.clone(),
            })
            .collect();
        if let Some(conn) = self.rusqlite.as_ref().filter(|_| self.rusqlite_between()) {
            let mut conn = conn.lock().unwrap();
            let tx = conn.transaction().unwrap();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO app_state_mutation_macs (name, version, index_mac, value_mac)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (name, index_mac, device_id) DO UPDATE SET
                           version = excluded.version, value_mac = excluded.value_mac",
                    )
                    .unwrap();
                for m in macs {
                    stmt.execute(rusqlite::params![
                        collection,
                        version as i64,
                        &m.index_mac,
                        &m.value_mac
                    ])
                    .unwrap();
                }
            }
            tx.commit().unwrap();
        }
        for store in self.redb_between() {
            futures_lite::future::block_on(store.put_mutation_macs(collection, version, &ours))
                .unwrap();
        }
    }
}

/// `populate`'s read set: 1000 addresses with a 1–4 KiB session and an identity each,
/// and prekeys 1..=812 (~100 bytes).
struct Prefill {
    addresses: Vec<String>,
    sessions: Vec<Vec<u8>>,
    identities: Vec<[u8; 32]>,
    prekeys: Vec<(u32, Bytes)>,
}

impl Prefill {
    fn new() -> Prefill {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let mut bytes = |n: usize| -> Vec<u8> { (0..n).map(|_| rng.u8(..)).collect() };
        let mut sizes = fastrand::Rng::with_seed(0x51e5);
        let addresses: Vec<String> = (0..250)
            .flat_map(|user| {
                (0..4).map(move |device| format!("55119876{:05}.{device}", 50001 + user))
            })
            .collect();
        let sessions = addresses
            .iter()
            .map(|_| bytes(sizes.usize(1024..=4096)))
            .collect();
        let identities = addresses
            .iter()
            .map(|_| bytes(32).try_into().unwrap())
            .collect();
        let prekeys = (1..=PREKEYS)
            .map(|id| (id, Bytes::from(bytes(100))))
            .collect();
        Prefill {
            addresses,
            sessions,
            identities,
            prekeys,
        }
    }

    /// As `populate` does it: one call per session and per identity, then one batch.
    async fn store_in_peer(&self, store: &SqliteStore) {
        for (i, a) in self.addresses.iter().enumerate() {
            store.put_session(a, &self.sessions[i]).await.unwrap();
            store.put_identity(a, self.identities[i]).await.unwrap();
        }
        store
            .store_prekeys_batch(&self.prekeys, false)
            .await
            .unwrap();
    }
}

/// One call's input, built before the clock starts.
enum Input {
    Prekeys(Vec<(u32, Bytes)>),
    Macs(&'static str, u64, Vec<AppStateMutationMAC>),
}

impl Input {
    fn new(c: &Config, inputs: &mut Inputs, workload: &str, round: u64) -> Input {
        match workload {
            "prekeys" => Input::Prekeys(inputs.prekeys(c, round)),
            "macs" => {
                let (collection, macs) = inputs.macs(c, round);
                Input::Macs(collection, round, macs)
            }
            other => panic!("unknown workload {other}"),
        }
    }

    /// The peer's call, timed; nanoseconds.
    async fn peer(&self, store: &SqliteStore) -> f64 {
        let t = Instant::now();
        match self {
            Input::Prekeys(keys) => store.store_prekeys_batch(keys, false).await.unwrap(),
            Input::Macs(collection, version, macs) => store
                .put_mutation_macs(collection, *version, macs)
                .await
                .unwrap(),
        }
        t.elapsed().as_secs_f64() * 1e9
    }

    /// The other engines' turn (untimed).
    fn others(&self, others: &Others) {
        match self {
            Input::Prekeys(keys) => others.prekeys(keys),
            Input::Macs(collection, version, macs) => others.macs(collection, *version, macs),
        }
    }
}

/// Times `c.rounds` calls of `workload` on the peer (after `c.warmup` untimed ones);
/// nanoseconds per call.
fn run(c: &Config, peer: &Peer, others: &Others, inputs: &mut Inputs, workload: &str) -> Vec<f64> {
    let mut times = Vec::new();
    let rounds = 1..=c.warmup + c.rounds;
    if c.per_call {
        // As the bench's `SqlitePeer`: one `rt.block_on` per call from the main thread.
        for round in rounds {
            let input = Input::new(c, inputs, workload, round);
            let ns = peer.rt.block_on(input.peer(&peer.store));
            input.others(others);
            if round > c.warmup {
                times.push(ns);
            }
        }
    } else {
        // One `block_on` for the whole loop, each call awaited in turn.
        peer.rt.block_on(async {
            for round in rounds {
                let input = Input::new(c, inputs, workload, round);
                let ns = input.peer(&peer.store).await;
                input.others(others);
                if round > c.warmup {
                    times.push(ns);
                }
            }
        });
    }
    times
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn main() {
    let c = Config::from_env();
    let base = std::env::var_os("PEER_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::Builder::new()
        .prefix("peer-alone")
        .tempdir_in(base)
        .unwrap();
    let others = Others::open(dir.path(), &c);
    let peer = Peer::open(&dir.path().join("peer.db"), Synchronous::Normal);
    if c.prefill {
        let p = Prefill::new();
        peer.rt.block_on(p.store_in_peer(&peer.store));
        if c.prefill_others {
            others.populate(&p);
        }
    }
    if let Some(conn) = others.rusqlite.as_ref().filter(|_| c.shrink) {
        // Frees every unpinned page of SQLite's process-wide page-cache group.
        conn.lock()
            .unwrap()
            .execute_batch("PRAGMA shrink_memory;")
            .unwrap();
    }
    println!(
        "peer_alone: prefill={} ids={} bytes={} collections={} call={} open=[{}] between=[{}] rounds={} warmup={}",
        c.prefill,
        if c.window { "window" } else { "fresh" },
        if c.stamp { "stamp" } else { "random" },
        if c.bench_collections {
            "bench"
        } else {
            "regular"
        },
        if c.per_call { "per_call" } else { "loop" },
        c.open.join(","),
        c.between.join(","),
        c.rounds,
        c.warmup,
    );
    let mut inputs = Inputs::new();
    for workload in &c.workloads {
        let mut t = run(&c, &peer, &others, &mut inputs, workload);
        t.sort_by(f64::total_cmp);
        let q = |p: f64| t[((t.len() - 1) as f64 * p) as usize];
        let name = match workload.as_str() {
            "prekeys" => "store_prekeys_batch 812",
            _ => "put_mutation_macs 500",
        };
        println!(
            "{name}: median {} (p10 {}, p90 {}), n={}",
            fmt_ns(q(0.5)),
            fmt_ns(q(0.1)),
            fmt_ns(q(0.9)),
            t.len()
        );
    }
    drop(others);
}
