//! Concurrency: 16 threads on the same keys, exactly-once takes, readers
//! never seeing half a batch, and the group commit itself (made deterministic
//! by holding the writer's fsync at a gate while more writes queue up).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use bytes::Bytes;
use common::{Plan, TestBackend, pattern};
use smol::future::poll_once;
use wa_core::store::{AppStateMutationMAC, AppSyncStore, ProtocolStore, SignalStore, StoreError};
use wa_store_redb::{RedbOptions, RedbStore};

const THREADS: usize = 16;

fn file_store(dir: &tempfile::TempDir, name: &str) -> RedbStore {
    RedbStore::open(dir.path().join(name)).expect("open")
}

/// Every thread writes its own keys and, interleaved, the same 4 hot keys.
/// Afterwards every distinct key holds its writer's last value, and each hot
/// key holds the last value written to it by one of the threads, whole.
#[test]
fn sixteen_threads_no_lost_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = file_store(&dir, "lost-update.redb");
    let barrier = Arc::new(Barrier::new(THREADS));
    let value = |t: usize, i: usize| pattern((t as u64) << 32 | i as u64, 300 + t * 10);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                smol::block_on(async {
                    for i in 0..30 {
                        store
                            .put_session(&format!("own.{t}.{}", i % 10), &value(t, i))
                            .await
                            .expect("own key");
                        store
                            .put_session(&format!("hot.{}", i % 4), &value(t, i))
                            .await
                            .expect("hot key");
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    smol::block_on(async {
        for t in 0..THREADS {
            for k in 0..10 {
                let got = store.get_session(&format!("own.{t}.{k}")).await.unwrap();
                assert_eq!(
                    got.as_deref(),
                    Some(value(t, 20 + k).as_slice()),
                    "own.{t}.{k} lost its last write"
                );
            }
        }
        for k in 0..4 {
            let got = store
                .get_session(&format!("hot.{k}"))
                .await
                .unwrap()
                .unwrap();
            // Each thread's last write to hot.k.
            let last_i = (0..30).filter(|i| i % 4 == k).max().unwrap();
            let lasts: Vec<Vec<u8>> = (0..THREADS).map(|t| value(t, last_i)).collect();
            assert!(
                lasts.iter().any(|v| v.as_slice() == got.as_ref()),
                "hot.{k} holds a value that is no thread's last write"
            );
        }
    });
}

/// 200 stored messages, 16 threads each trying to take all of them: every
/// message is handed out exactly once, with its payload.
#[test]
fn sixteen_threads_take_each_message_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = file_store(&dir, "takes.redb");
    let chat = "120363021033254949@g.us";
    let n = 200;
    smol::block_on(async {
        for i in 0..n {
            store
                .store_sent_message(chat, &format!("M{i}"), &pattern(i, 40), 100)
                .await
                .unwrap();
        }
    });
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut order: Vec<u64> = (0..n).collect();
                fastrand::Rng::with_seed(t as u64).shuffle(&mut order);
                smol::block_on(async {
                    let mut won = Vec::new();
                    for i in order {
                        if let Some(p) = store
                            .take_sent_message(chat, &format!("M{i}"))
                            .await
                            .unwrap()
                        {
                            assert_eq!(p, pattern(i, 40), "M{i} payload");
                            won.push(i);
                        }
                    }
                    won
                })
            })
        })
        .collect();
    let mut winners: BTreeMap<u64, usize> = BTreeMap::new();
    for t in threads {
        for i in t.join().expect("taker thread") {
            *winners.entry(i).or_default() += 1;
        }
    }
    assert_eq!(
        winners.len() as u64,
        n,
        "some messages were never handed out"
    );
    assert!(
        winners.values().all(|&c| c == 1),
        "messages handed out more than once: {:?}",
        winners.iter().filter(|(_, c)| **c > 1).collect::<Vec<_>>()
    );
}

/// A writer rewrites the same 812 prekeys generation after generation and
/// adds 500 MACs per generation; readers on other threads always see one
/// whole generation of prekeys and whole batches of MACs.
#[test]
fn readers_never_see_half_a_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = file_store(&dir, "batches.redb");
    let ids: Vec<u32> = (1..=812).collect();
    let macs = |generation: u8| -> Vec<AppStateMutationMAC> {
        (0..500u32)
            .map(|j| AppStateMutationMAC {
                index_mac: j.to_be_bytes().to_vec(),
                value_mac: vec![generation; 32],
            })
            .collect()
    };
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let store = store.clone();
            let ids = ids.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut seen = BTreeSet::new();
                smol::block_on(async {
                    while !done.load(Ordering::Acquire) {
                        let got = store.load_prekeys_batch(&ids).await.unwrap();
                        let gens: BTreeSet<u8> = got.iter().map(|(_, rec)| rec[0]).collect();
                        assert!(
                            got.is_empty() || got.len() == ids.len() && gens.len() == 1,
                            "reader {r} saw {} rows of generations {gens:?}",
                            got.len()
                        );
                        seen.extend(gens);
                        // MACs: each generation is a new collection of 500;
                        // one read transaction (stats) sees whole ones only.
                        let stats = store.stats().unwrap();
                        let macs = stats
                            .tables
                            .iter()
                            .find(|t| t.table == "mutation_macs_v1")
                            .unwrap()
                            .rows;
                        assert_eq!(macs % 500, 0, "reader {r} saw {macs} MAC rows");
                    }
                });
                seen
            })
        })
        .collect();
    smol::block_on(async {
        for generation in 1..=25u8 {
            let keys: Vec<(u32, Bytes)> = ids
                .iter()
                .map(|&id| (id, Bytes::from(vec![generation; 100])))
                .collect();
            store.store_prekeys_batch(&keys, false).await.unwrap();
            store
                .put_mutation_macs(
                    &format!("regular.{generation}"),
                    u64::from(generation),
                    &macs(generation),
                )
                .await
                .unwrap();
        }
    });
    done.store(true, Ordering::Release);
    for r in readers {
        let seen = r.join().expect("reader thread");
        assert!(seen.iter().all(|g| (1..=25).contains(g)), "{seen:?}");
    }
}

/// Opens a store on the gated test backend.
fn gated_store(dir: &tempfile::TempDir, name: &str) -> (RedbStore, Arc<Plan>) {
    let plan = Arc::new(Plan::default());
    let store = RedbStore::with_backend(
        TestBackend::open(&dir.path().join(name), Arc::clone(&plan)),
        RedbOptions::default(),
    )
    .expect("open on the test backend");
    plan.armed.store(true, Ordering::SeqCst);
    (store, plan)
}

/// While the writer is stuck in one commit's fsync, 15 more writes queue up;
/// they then go out in one transaction, so the 16 writes cost 2 commits
/// instead of 16.
#[test]
fn group_commit_gathers_queued_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, plan) = gated_store(&dir, "group.redb");
    smol::block_on(async {
        plan.hold_next_sync();
        let mut first = store.put_session("first.0", b"first");
        assert!(
            poll_once(&mut first).await.is_none(),
            "the write waits for its commit"
        );
        plan.wait_until_held();
        let held_at = plan.syncs.load(Ordering::SeqCst);
        let names: Vec<String> = (0..15).map(|i| format!("queued.{i}")).collect();
        let values: Vec<Vec<u8>> = (0..15).map(|i| pattern(i, 2000)).collect();
        let mut rest: Vec<_> = names
            .iter()
            .zip(&values)
            .map(|(k, v)| store.put_session(k, v))
            .collect();
        for f in &mut rest {
            assert!(
                poll_once(f).await.is_none(),
                "queued behind the held commit"
            );
        }
        plan.release();
        first.await.expect("first write");
        for f in rest {
            f.await.expect("queued write");
        }
        let group_syncs = plan.syncs.load(Ordering::SeqCst) - held_at;
        eprintln!("15 queued writes were committed with {group_syncs} fsync(s)");
        assert!(
            group_syncs <= 2,
            "15 queued writes took {group_syncs} fsyncs: they were not grouped"
        );
        for i in 0..15 {
            assert_eq!(
                store
                    .get_session(&format!("queued.{i}"))
                    .await
                    .unwrap()
                    .as_deref(),
                Some(pattern(i, 2000).as_slice())
            );
        }
    });
}

/// One operation of a group meets a corrupt record: it alone fails (with
/// `Corrupt` naming table and key), every other operation of the group
/// commits, and the corrupt record is left in place.
#[test]
fn a_failing_operation_does_not_fail_its_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("isolated-failure.redb");
    let chat = "5511987650001@s.whatsapp.net";
    drop(RedbStore::open(&path).expect("create"));
    {
        // Plant garbage as the value of (device 1, chat, "BAD") in
        // sent_messages_v1: device id 4 bytes big-endian with the sign bit
        // flipped, the escaped chat, the 00 01 terminator, the message id.
        let db = redb::Database::open(&path).expect("raw open");
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&[u8], &[u8]> =
                redb::TableDefinition::new("sent_messages_v1");
            let mut t = txn.open_table(def).unwrap();
            let mut key = vec![0x80, 0, 0, 1];
            key.extend_from_slice(chat.as_bytes());
            key.extend_from_slice(&[0, 1]);
            key.extend_from_slice(b"BAD");
            t.insert(key.as_slice(), &[1u8, 0xff, 0xff, 0xff][..])
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let plan = Arc::new(Plan::default());
    let store = RedbStore::with_backend(
        TestBackend::open(&path, Arc::clone(&plan)),
        RedbOptions::default(),
    )
    .expect("open");
    plan.armed.store(true, Ordering::SeqCst);
    smol::block_on(async {
        plan.hold_next_sync();
        let mut first = store.put_session("first.0", b"first");
        assert!(poll_once(&mut first).await.is_none());
        plan.wait_until_held();
        let before_names: Vec<String> = (0..7).map(|i| format!("before.{i}")).collect();
        let after_names: Vec<String> = (0..7).map(|i| format!("after.{i}")).collect();
        let mut before: Vec<_> = before_names
            .iter()
            .map(|k| store.put_session(k, b"v"))
            .collect();
        for f in &mut before {
            assert!(poll_once(f).await.is_none());
        }
        let mut bad = store.take_sent_message(chat, "BAD");
        assert!(poll_once(&mut bad).await.is_none());
        let mut after: Vec<_> = after_names
            .iter()
            .map(|k| store.put_session(k, b"v"))
            .collect();
        for f in &mut after {
            assert!(poll_once(f).await.is_none());
        }
        plan.release();
        first.await.expect("first");
        for f in before.into_iter().chain(after) {
            f.await.expect("a healthy operation of the group failed");
        }
        match bad.await {
            Err(StoreError::Corrupt { table, key, detail }) => {
                assert_eq!(table, "sent_messages_v1");
                assert!(key.contains("BAD") && key.contains(chat), "{key}");
                assert!(!detail.is_empty());
            }
            other => panic!("take of a corrupt record: {other:?}"),
        }
        for name in (0..7).flat_map(|i| [format!("before.{i}"), format!("after.{i}")]) {
            assert!(
                store.has_session(&name).await.unwrap(),
                "{name} not committed"
            );
        }
    });
    let report = store.check().expect("check");
    assert_eq!(
        report.problems.len(),
        1,
        "the corrupt record stays: {:?}",
        report.problems
    );
    assert_eq!(report.problems[0].table, "sent_messages_v1");
}

/// The commit of a group fails (its fsync errors): every operation of the
/// group gets the error, and after reopening the group is all there or all
/// absent (a failed fsync does not say whether the bytes reached the disk).
#[test]
fn a_failed_commit_fails_every_operation_of_its_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("failed-commit.redb");
    {
        let plan = Arc::new(Plan::default());
        let store = RedbStore::with_backend(
            TestBackend::open(&path, Arc::clone(&plan)),
            RedbOptions::default(),
        )
        .expect("open");
        plan.armed.store(true, Ordering::SeqCst);
        smol::block_on(async {
            plan.hold_next_sync();
            let mut first = store.put_session("first.0", b"first");
            assert!(poll_once(&mut first).await.is_none());
            plan.wait_until_held();
            let next = plan.syncs.load(Ordering::SeqCst) + 1;
            plan.fail_sync_at.store(next, Ordering::SeqCst);
            let names: Vec<String> = (0..15).map(|i| format!("group.{i}")).collect();
            let mut group: Vec<_> = names.iter().map(|k| store.put_session(k, b"v")).collect();
            for f in &mut group {
                assert!(poll_once(f).await.is_none());
            }
            plan.release();
            first.await.expect("the held commit succeeds");
            for (i, f) in group.into_iter().enumerate() {
                match f.await {
                    Err(StoreError::Io(e)) => assert_eq!(e.to_string(), "injected fault"),
                    other => panic!("group.{i}: {other:?}"),
                }
            }
            // The store failed closed: later writes are refused, not lost silently.
            assert!(store.put_session("later.0", b"v").await.is_err());
        });
    }
    let store = RedbStore::open(&path).expect("reopen");
    smol::block_on(async {
        assert!(store.has_session("first.0").await.unwrap());
        let present = {
            let mut n = 0;
            for i in 0..15 {
                n += usize::from(store.has_session(&format!("group.{i}")).await.unwrap());
            }
            n
        };
        assert!(
            present == 0 || present == 15,
            "{present} of 15 rows of one transaction"
        );
        assert!(!store.has_session("later.0").await.unwrap());
    });
}
