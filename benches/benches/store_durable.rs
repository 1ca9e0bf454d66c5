//! Durable writes, interleaved: the source of truth for every store write budget
//! (docs/performance.md; results in `benches/RESULTS.md`, "Durable writes").
//!
//! ```sh
//! cargo bench -p wa-benches --bench store_durable                 # the report
//! WA_STORE_ROUNDS=500 WA_STORE_WORKLOADS=put_session,message_batch \
//!     cargo bench -p wa-benches --bench store_durable
//! WA_STORE_SYSCALLS=50 cargo bench -p wa-benches --bench store_durable   # needs strace
//! ```
//!
//! Criterion (the `store` target) times one engine after another, seconds apart, and on
//! a shared virtual disk an fsync costs 0.1 ms in one second and 7 ms in the next. Here
//! the engines **take turns op by op**, round after round, so a slow spell of the disk
//! hits all of them alike, and every round also measures the disk itself:
//!
//! - `disk_1page`: one 4 KiB `pwrite` + `fdatasync` in a preallocated file, the least a
//!   durable commit can cost on this disk;
//! - `disk_redb_pages`: as many 4 KiB pages as `redb` wrote in this round's op (from the
//!   process's `/proc/self/io` counters), at scattered offsets of that file, then one
//!   `fdatasync`: what redb's page writes cost on this disk, without redb (an upper
//!   bound: redb's pages are partly adjacent);
//! - `disk_redb_pages_contiguous`: the same number of pages as one append, then
//!   `fdatasync`: what the same bytes would cost as a log write (single-caller
//!   workloads only, like `disk_redb_pages`).
//!
//! Engines (see `store_common`): `redb` (ours, `RedbStore` defaults, durable) is the one
//! judged; `sqlite_peer` / `sqlite_peer_full` (whatsapp-rust-sqlite-storage 0.7 at
//! synchronous NORMAL / FULL); `rusqlite_full` (plain rusqlite, the peer's table shapes,
//! WAL, FULL, batches in one transaction); `redb_tmpfs` (ours, durable, on a file in
//! `/dev/shm` or `$WA_BENCH_RAM_DIR`, where an fsync costs nothing: our CPU cost of the
//! same commit, a diagnostic).
//!
//! Workloads: `put_session` (one caller), `prekeys_batch` (812), `macs_batch` (500),
//! `put_session_16` (16 callers × 4 writes per round), `message_batch` (one incoming
//! message's state change from one caller) and `message_batch_16` (16 callers × 4
//! messages per round). Per engine the table gives the median time per op and the bytes
//! and write calls per op from `/proc/self/io` (the other engines are idle meanwhile).
//! Then the budget table: each budget row with pass or miss and, for a miss, the bound.
//!
//! `WA_STORE_ANATOMY=1` prints where a redb commit's writes go instead: one durable
//! commit that changes one row in each of 0, 1, 2, 3 or 5 tables of 1000 rows (100 B and
//! 2 KiB values), on tmpfs, with the bytes and write calls of the commit alone.
//!
//! `WA_STORE_SYSCALLS=<n>` prints the syscall report instead: each engine runs each
//! workload `n` times in a child process under `strace -f`, and the report counts the
//! fsyncs, write calls and bytes per op between the child's markers (the child is this
//! binary with `WA_STORE_PROBE="<engine> <workload> <n>"`).

mod store_common;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use store_common::*;
use wa_benches::durable::{self, BUDGETS, IoCounters, median, table_row};
use wa_benches::report::fmt_ns;

const WORKLOADS: [&str; 6] = [
    "put_session",
    "prekeys_batch",
    "macs_batch",
    "put_session_16",
    "message_batch",
    "message_batch_16",
];

/// Size of the disk-floor file (preallocated, written through once).
const DISK_FILE: u64 = 32 << 20;

/// One engine's measurements on one workload.
#[derive(Default)]
struct Samples {
    /// ns per op, one per round.
    times: Vec<f64>,
    /// Bytes and write calls per op, one per round.
    bytes: Vec<f64>,
    calls: Vec<f64>,
}

/// The medians of one engine on one workload.
#[derive(Clone, Copy)]
struct Medians {
    ns: f64,
    bytes: f64,
    calls: f64,
}

/// Every engine of this target, plus the files they live in.
struct All {
    engines: Engines,
    tmpfs: Redb,
    _tmpfs_dir: tempfile::TempDir,
}

impl All {
    fn open() -> All {
        let engines = open_engines();
        let ram = std::env::var_os("WA_BENCH_RAM_DIR")
            .map_or_else(|| PathBuf::from("/dev/shm"), PathBuf::from);
        let dir = tempfile::Builder::new()
            .prefix("wa-store-durable")
            .tempdir_in(&ram)
            .unwrap_or_else(|e| panic!("a directory in {} (WA_BENCH_RAM_DIR): {e}", ram.display()));
        let tmpfs = Redb::open(
            "redb_tmpfs",
            &dir.path().join("wa.redb"),
            wa_store_redb::Durability::Immediate,
        );
        All {
            engines,
            tmpfs,
            _tmpfs_dir: dir,
        }
    }

    fn by_name(&self, name: &str) -> &dyn Engine {
        let e = &self.engines;
        match name {
            "redb" => &e.redb,
            "redb_nosync" => &e.redb_nosync,
            "redb_tmpfs" => &self.tmpfs,
            "sqlite_peer" => &e.peer,
            "sqlite_peer_full" => &e.peer_full,
            "rusqlite_full" => &e.rusqlite,
            other => panic!("unknown engine {other}"),
        }
    }
}

/// The engines each workload runs, ours first.
const ENGINES: [&str; 5] = [
    "redb",
    "sqlite_peer",
    "sqlite_peer_full",
    "rusqlite_full",
    "redb_tmpfs",
];

/// Ops per round of `workload` (the per-op figures divide by it).
fn ops_per_round(workload: &str) -> u64 {
    if workload.ends_with("_16") {
        (WRITERS * WRITES_PER_WRITER) as u64
    } else {
        1
    }
}

/// One round's input, built before the clock starts.
enum Input {
    Session(std::sync::Arc<str>, bytes::Bytes),
    Prekeys(Vec<(u32, bytes::Bytes)>),
    Macs(MacBatch),
    Sessions(ConcurrentWrites),
    Message(MessageWrite),
    Messages(ConcurrentMessages),
}

/// Builds round `round`'s input of `workload` for `engine`, storing (untimed) the
/// prekeys its messages will remove.
fn input(engine: &dyn Engine, w: &Workload, workload: &str, round: u64) -> Input {
    match workload {
        "put_session" => {
            let (a, r) = w.session_write(round);
            Input::Session(a, r)
        }
        "prekeys_batch" => Input::Prekeys(w.prekey_batch(round)),
        "macs_batch" => Input::Macs(w.mac_batch(round)),
        "put_session_16" => Input::Sessions(w.concurrent_writes(round)),
        "message_batch" => {
            store_prekeys_for_messages_from(engine, w, 1, round);
            Input::Message(w.message_write(round))
        }
        "message_batch_16" => {
            let per = ops_per_round(workload);
            let first = CONCURRENT_MESSAGES + (round - 1) * per;
            for n in first..first + per {
                store_prekeys_for_messages_from(engine, w, CONCURRENT_MESSAGES, n);
            }
            Input::Messages(w.concurrent_messages(round))
        }
        other => panic!("unknown workload {other}"),
    }
}

/// Stores the prekey block that message `n` of a run starting at `start` needs, when
/// `n` opens a block or the run.
fn store_prekeys_for_messages_from(engine: &dyn Engine, w: &Workload, start: u64, n: u64) {
    if let Some(keys) = w.message_prekeys(n, n == start) {
        engine.store_prekeys_batch(&keys);
    }
}

fn run(engine: &dyn Engine, input: Input) {
    match input {
        Input::Session(a, r) => engine.put_session(&a, &r),
        Input::Prekeys(keys) => engine.store_prekeys_batch(&keys),
        Input::Macs(batch) => engine.put_mutation_macs(&batch),
        Input::Sessions(writes) => engine.put_sessions_concurrently(writes),
        Input::Message(m) => engine.apply_message(&m),
        Input::Messages(ms) => engine.apply_messages_concurrently(ms),
    }
}

/// Checks, after the last round, that an engine stored what the workload wrote.
fn check(engine: &dyn Engine, w: &Workload, workload: &str, rounds: u64) {
    let name = engine.name();
    match workload {
        "put_session" => {
            let (a, r) = w.session_write(rounds);
            assert_eq!(engine.get_session(&a), Some(r), "{name}");
        }
        "prekeys_batch" => {
            for (id, record) in w.prekey_batch(rounds).iter().step_by(101) {
                assert_eq!(engine.load_prekey(*id).as_ref(), Some(record), "{name}");
            }
        }
        "macs_batch" => {
            let batch = w.mac_batch(rounds);
            for m in batch.ours.iter().step_by(61) {
                assert_eq!(
                    engine.get_mutation_mac(batch.collection, &m.index_mac),
                    Some(m.value_mac.clone()),
                    "{name}"
                );
            }
        }
        "put_session_16" => {
            let last = w.concurrent_writes(rounds).pop().unwrap().pop().unwrap();
            assert_eq!(engine.get_session(&last.0), Some(last.1), "{name}");
        }
        "message_batch" => check_message(engine, w, rounds),
        _ => {
            // Every message of the last round removed its prekey.
            for m in w.concurrent_messages(rounds).iter().flatten() {
                assert_eq!(engine.load_prekey(m.prekey_id), None, "{name}");
            }
        }
    }
}

/// The disk floor: a preallocated file and a seeded stream of page offsets.
struct Disk {
    file: File,
    rng: fastrand::Rng,
    next: u64,
}

impl Disk {
    fn open(dir: &Path) -> Disk {
        let file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.join("disk.bin"))
            .unwrap();
        // Written through once, so later writes overwrite allocated blocks (as redb's
        // and SQLite's do) and a sync carries no allocation metadata.
        let chunk = vec![0x5a_u8; 1 << 20];
        for i in 0..DISK_FILE / chunk.len() as u64 {
            file.write_all_at(&chunk, i * chunk.len() as u64).unwrap();
        }
        file.sync_all().unwrap();
        Disk {
            file,
            rng: fastrand::Rng::with_seed(0xd15c),
            next: 0,
        }
    }

    /// One 4 KiB page at the next offset, then `fdatasync`; ns.
    fn one_page(&mut self) -> f64 {
        let page = [0xa5_u8; 4096];
        self.next = (self.next + 1) % (DISK_FILE / 4096);
        let t = Instant::now();
        self.file.write_all_at(&page, self.next * 4096).unwrap();
        self.file.sync_data().unwrap();
        t.elapsed().as_secs_f64() * 1e9
    }

    /// `pages` 4 KiB pages in one write at the next offsets (a log append), then
    /// `fdatasync`; ns.
    fn contiguous(&mut self, pages: u64) -> f64 {
        let pages = pages.clamp(1, 256);
        let data = vec![0x69_u8; pages as usize * 4096];
        if (self.next + pages) * 4096 > DISK_FILE {
            self.next = 0;
        }
        let offset = self.next * 4096;
        self.next += pages;
        let t = Instant::now();
        self.file.write_all_at(&data, offset).unwrap();
        self.file.sync_data().unwrap();
        t.elapsed().as_secs_f64() * 1e9
    }

    /// `pages` 4 KiB pages at scattered offsets, then one `fdatasync`; ns.
    fn scattered(&mut self, pages: u64) -> f64 {
        let page = [0x3c_u8; 4096];
        let offsets: Vec<u64> = (0..pages.max(1))
            .map(|_| self.rng.u64(..DISK_FILE / 4096) * 4096)
            .collect();
        let t = Instant::now();
        for o in offsets {
            self.file.write_all_at(&page, o).unwrap();
        }
        self.file.sync_data().unwrap();
        t.elapsed().as_secs_f64() * 1e9
    }
}

/// Runs every selected workload interleaved and prints both tables.
fn report(rounds: u64, only: Option<&str>, w: &Workload) {
    let all = All::open();
    for name in ENGINES {
        populate(all.by_name(name), w);
    }
    let mut disk = Disk::open(&all.engines.dir_path);
    println!(
        "durable writes, interleaved: {rounds} rounds, files in {}",
        all.engines.dir_path.display()
    );
    println!();
    println!(
        "| workload | engine | median per op | ratio (engine ÷ redb) | KiB written per op | write calls per op |"
    );
    println!("|---|---|---|---|---|---|");
    let mut results: BTreeMap<(String, String), Medians> = BTreeMap::new();
    for workload in WORKLOADS {
        if only.is_some_and(|o| !o.split(',').any(|x| x == workload)) {
            continue;
        }
        let per = ops_per_round(workload) as f64;
        let mut samples: Vec<Samples> = ENGINES.iter().map(|_| Samples::default()).collect();
        let mut one_page = Vec::new();
        let mut redb_pages = Vec::new();
        let mut redb_pages_contiguous = Vec::new();
        for round in 1..=rounds {
            for (k, name) in ENGINES.iter().enumerate() {
                let engine = all.by_name(name);
                let input = input(engine, w, workload, round);
                let io = IoCounters::now().unwrap_or_default();
                let t = Instant::now();
                run(engine, input);
                let ns = t.elapsed().as_secs_f64() * 1e9;
                let io = IoCounters::now().unwrap_or_default().since(io);
                samples[k].times.push(ns / per);
                samples[k].bytes.push(io.bytes as f64 / per);
                samples[k].calls.push(io.calls as f64 / per);
                if *name == "redb" {
                    one_page.push(disk.one_page());
                    if per == 1.0 {
                        // The same number of pages, without redb, on the same disk, now.
                        let pages = io.bytes.div_ceil(4096);
                        redb_pages.push(disk.scattered(pages));
                        redb_pages_contiguous.push(disk.contiguous(pages));
                    }
                }
            }
        }
        for name in ENGINES {
            check(all.by_name(name), w, workload, rounds);
        }
        let mut rows: Vec<(String, Medians)> = ENGINES
            .iter()
            .zip(samples)
            .map(|(name, s)| {
                (
                    (*name).to_owned(),
                    Medians {
                        ns: median(s.times).unwrap(),
                        bytes: median(s.bytes).unwrap(),
                        calls: median(s.calls).unwrap(),
                    },
                )
            })
            .collect();
        rows.push((
            "disk_1page".to_owned(),
            Medians {
                ns: median(one_page).unwrap(),
                bytes: 4096.0,
                calls: 1.0,
            },
        ));
        // With several callers a round is several commits of unknown sizes: no
        // per-commit page floor there.
        if per == 1.0 {
            let pages = (rows[0].1.bytes / 4096.0).ceil();
            rows.push((
                "disk_redb_pages".to_owned(),
                Medians {
                    ns: median(redb_pages).unwrap(),
                    bytes: pages * 4096.0,
                    calls: pages,
                },
            ));
            rows.push((
                "disk_redb_pages_contiguous".to_owned(),
                Medians {
                    ns: median(redb_pages_contiguous).unwrap(),
                    bytes: pages * 4096.0,
                    calls: 1.0,
                },
            ));
        }
        let ours = rows[0].1.ns;
        for (name, m) in &rows {
            let floor = name.starts_with("disk_");
            println!(
                "{}",
                table_row(&[
                    format!("{workload} ×{rounds}"),
                    (*name).clone(),
                    format!("{}{}", fmt_ns(m.ns), if floor { " per commit" } else { "" }),
                    if floor && per > 1.0 {
                        "—".to_owned()
                    } else {
                        format!("{:.2}×", m.ns / ours)
                    },
                    format!("{:.1}", m.bytes / 1024.0),
                    format!("{:.1}", m.calls),
                ])
            );
            results.insert((workload.to_owned(), name.clone()), *m);
        }
    }
    println!();
    print_budgets(&results);
}

/// The budget table: every budget row whose workload ran, with its bound when missed.
fn print_budgets(results: &BTreeMap<(String, String), Medians>) {
    println!("| budget | ours (redb) | peer | ratio | budget | result | what bounds it |");
    println!("|---|---|---|---|---|---|---|");
    for b in BUDGETS {
        let get = |engine: &str| {
            results
                .get(&(b.workload.to_owned(), engine.to_owned()))
                .copied()
        };
        let (Some(ours), Some(peer)) = (get("redb"), get(b.peer)) else {
            continue;
        };
        let ratio = peer.ns / ours.ns;
        let bound = if ratio >= b.budget {
            String::new()
        } else {
            bound(b.workload, &ours, &peer, &get)
        };
        println!(
            "{}",
            table_row(&[
                b.label.to_owned(),
                fmt_ns(ours.ns),
                format!("{}: {}", b.peer, fmt_ns(peer.ns)),
                durable::fmt_ratio(ratio),
                format!("≥ {}×", b.budget),
                durable::verdict(ratio, b.budget).to_owned(),
                bound,
            ])
        );
    }
}

/// What bounds a missed row: our cost without the disk (`redb_tmpfs`) plus the least
/// flush (one page) gives the best ratio a page-tree commit could reach here; the cost of
/// redb's own pages on this disk says how much of ours is the flush.
fn bound(
    workload: &str,
    ours: &Medians,
    peer: &Medians,
    get: &dyn Fn(&str) -> Option<Medians>,
) -> String {
    let (Some(cpu), Some(one)) = (get("redb_tmpfs"), get("disk_1page")) else {
        return String::new();
    };
    let per = ops_per_round(workload) as f64;
    // With 16 callers a commit's flush is shared by the writes it carries; at best all 16.
    let share = if per > 1.0 { WRITERS as f64 } else { 1.0 };
    let best = cpu.ns + one.ns / share;
    let mut out = format!(
        "our CPU (redb_tmpfs) {} + a 1-page fdatasync {}{} = {} → at most {} with a one-page commit",
        fmt_ns(cpu.ns),
        fmt_ns(one.ns),
        if share > 1.0 { " ÷ 16" } else { "" },
        fmt_ns(best),
        durable::fmt_ratio(peer.ns / best),
    );
    if let (Some(pages), Some(log)) = (get("disk_redb_pages"), get("disk_redb_pages_contiguous")) {
        out += &format!(
            "; redb's {:.0} pages + fdatasync cost {} scattered, {} as one append (ours: {} per op)",
            pages.calls,
            fmt_ns(pages.ns),
            fmt_ns(log.ns),
            fmt_ns(ours.ns),
        );
    }
    out
}

/// Child mode: set up one engine, run one workload `n` times between two markers on
/// stderr, exit.
fn probe(spec: &str, w: &Workload) {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    let [engine, workload, n] = parts[..] else {
        panic!("WA_STORE_PROBE must be \"<engine> <workload> <n>\", got {spec:?}");
    };
    let n: u64 = n.parse().expect("a count");
    let all = All::open();
    let engine = all.by_name(engine);
    populate(engine, w);
    // Inputs (and the prekeys messages remove) are made before the start marker, so the
    // traced section holds the workload's store work only.
    let inputs: Vec<Input> = (1..=n).map(|r| input(engine, w, workload, r)).collect();
    eprintln!("probe: start {spec}");
    let start = Instant::now();
    for i in inputs {
        run(engine, i);
    }
    eprintln!("probe: end after {:?}", start.elapsed());
    check(engine, w, workload, n);
}

/// The syscall report: every engine × workload in a child under `strace -f`.
fn syscalls(n: u64, only: Option<&str>) {
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!("syscalls per op, {n} ops per engine and workload (strace -f, between markers)");
    println!();
    println!(
        "| workload | engine | fsyncs per op | ops per fsync | write calls per op | KiB written per op |"
    );
    println!("|---|---|---|---|---|---|");
    for workload in WORKLOADS {
        if only.is_some_and(|o| !o.split(',').any(|x| x == workload)) {
            continue;
        }
        for engine in ENGINES {
            if engine == "redb_tmpfs" {
                continue;
            }
            let log = dir.path().join("trace.txt");
            let status = std::process::Command::new("strace")
                .args(["-f", "-qq", "-e"])
                .arg("trace=fsync,fdatasync,write,pwrite64,writev,pwritev,pwritev2")
                .arg("-o")
                .arg(&log)
                .arg(&exe)
                .env("WA_STORE_PROBE", format!("{engine} {workload} {n}"))
                .env_remove("WA_STORE_SYSCALLS")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("strace (apt-get install strace)");
            assert!(status.success(), "{engine} {workload}: {status}");
            let text = std::fs::read_to_string(&log).unwrap();
            let s = durable::parse_strace(&text).expect("both markers in the trace");
            let ops = (n * ops_per_round(workload)) as f64;
            println!(
                "{}",
                table_row(&[
                    workload.to_owned(),
                    engine.to_owned(),
                    format!("{:.2}", s.syncs as f64 / ops),
                    if s.syncs == 0 {
                        "—".to_owned()
                    } else {
                        format!("{:.1}", ops / s.syncs as f64)
                    },
                    format!("{:.1}", s.writes as f64 / ops),
                    format!("{:.1}", s.bytes as f64 / ops / 1024.0),
                ])
            );
        }
    }
}

/// The commit anatomy: bytes and write calls of one durable redb commit by the number
/// of tables it changes (one row each), after a warm-up, on a tmpfs file.
fn anatomy() {
    use redb::TableDefinition;
    const TABLES: [&str; 5] = ["t0", "t1", "t2", "t3", "t4"];
    const ROWS: u32 = 1000;
    let ram = std::env::var_os("WA_BENCH_RAM_DIR")
        .map_or_else(|| PathBuf::from("/dev/shm"), PathBuf::from);
    let dir = tempfile::tempdir_in(ram).unwrap();
    println!(
        "one durable redb commit (redb defaults), one row changed in each of k tables of {ROWS} rows"
    );
    println!();
    println!("| value size | tables changed | KiB written per commit | write calls per commit |");
    println!("|---|---|---|---|");
    for value in [100usize, 2048] {
        for k in [0usize, 1, 2, 3, 5] {
            let path = dir.path().join(format!("anatomy-{value}-{k}.redb"));
            let db = redb::Database::create(&path).unwrap();
            let mut rng = fastrand::Rng::with_seed(0xa7a);
            let mut bytes = |n: usize| -> Vec<u8> { (0..n).map(|_| rng.u8(..)).collect() };
            let key = |i: u32| format!("55119876{:05}.{}", 50001 + i / 4, i % 4);
            let txn = db.begin_write().unwrap();
            for name in TABLES {
                let mut t = txn
                    .open_table(TableDefinition::<&[u8], &[u8]>::new(name))
                    .unwrap();
                for i in 0..ROWS {
                    t.insert(key(i).as_bytes(), bytes(value).as_slice())
                        .unwrap();
                }
            }
            txn.commit().unwrap();
            let mut sizes = Vec::new();
            let mut calls = Vec::new();
            let mut pick = fastrand::Rng::with_seed(0x5e1);
            for round in 0..300 {
                let txn = db.begin_write().unwrap();
                for name in &TABLES[..k] {
                    let mut t = txn
                        .open_table(TableDefinition::<&[u8], &[u8]>::new(name))
                        .unwrap();
                    let i = pick.u32(..ROWS);
                    t.insert(key(i).as_bytes(), bytes(value).as_slice())
                        .unwrap();
                }
                let before = IoCounters::now().unwrap_or_default();
                txn.commit().unwrap();
                let io = IoCounters::now().unwrap_or_default().since(before);
                // The first commits still move the allocator's free space around.
                if round >= 50 {
                    sizes.push(io.bytes as f64);
                    calls.push(io.calls as f64);
                }
            }
            println!(
                "{}",
                table_row(&[
                    format!("{value} B"),
                    k.to_string(),
                    format!("{:.1}", median(sizes).unwrap() / 1024.0),
                    format!("{:.0}", median(calls).unwrap()),
                ])
            );
        }
    }
}

fn main() {
    let w = Workload::new(SEED);
    let only = std::env::var("WA_STORE_WORKLOADS").ok();
    if let Ok(spec) = std::env::var("WA_STORE_PROBE") {
        probe(&spec, &w);
        return;
    }
    if std::env::var_os("WA_STORE_ANATOMY").is_some() {
        anatomy();
        return;
    }
    if let Ok(n) = std::env::var("WA_STORE_SYSCALLS") {
        syscalls(
            n.parse().expect("WA_STORE_SYSCALLS: an op count"),
            only.as_deref(),
        );
        return;
    }
    let rounds = std::env::var("WA_STORE_ROUNDS")
        .map_or(300, |r| r.parse().expect("WA_STORE_ROUNDS: a count"));
    report(rounds, only.as_deref(), &w);
}
