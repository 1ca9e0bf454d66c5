//! Store workloads of docs/performance.md, timed by criterion: `RedbStore` against
//! `whatsapp-rust-sqlite-storage` 0.7 (the SQLite peer, driven through its own `wacore`
//! store traits on a Tokio runtime) and a plain rusqlite store with the same table shapes
//! at synchronous=FULL. The engines and workloads live in `store_common`.
//!
//! Criterion times one engine after another, seconds apart; the durable-write rows are
//! judged by the `store_durable` target instead, where the engines take turns op by op.
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

mod store_common;

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use store_common::*;

fn main() {
    let w = Workload::new(SEED);
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
