//! I/O fault injection through a redb `StorageBackend` that fails the N-th
//! write or the N-th fsync, N swept over every call a workload makes, and a
//! "disk full" variant where every write from the N-th on fails with
//! `ErrorKind::StorageFull`.
//!
//! Each trial starts from a committed baseline, runs the workload on the
//! faulty backend, then reopens the file on a healthy one and checks: the
//! failing call returned an error carrying the injected I/O error, nothing
//! committed before is lost, every call that returned `Ok` is durable, the
//! failed call is all-or-nothing, and `check` is clean.

mod common;

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use common::{Plan, TestBackend, pattern};
use wa_core::store::{
    AppStateMutationMAC, AppSyncStore, ProtocolStore, SignalStore, StoreError, StoreResult,
};
use wa_store_redb::{RedbOptions, RedbStore};

const CHAT: &str = "5511987650001@s.whatsapp.net";

#[derive(Debug, Clone, Copy)]
enum Op {
    Session(u32),
    Prekeys(u32),
    Macs(u32),
    Take,
}

const WORKLOAD: &[Op] = &[
    Op::Session(0),
    Op::Prekeys(0),
    Op::Session(1),
    Op::Macs(0),
    Op::Take,
    Op::Session(2),
    Op::Prekeys(1),
    Op::Macs(1),
    Op::Session(3),
];

fn session(i: u32) -> (String, Vec<u8>) {
    (format!("w{i}.0"), pattern(u64::from(i) + 100, 700))
}

fn prekeys(i: u32) -> Vec<(u32, Bytes)> {
    (0..200)
        .map(|j| {
            let id = 10_000 * (i + 1) + j;
            (id, Bytes::from(pattern(u64::from(id), 100)))
        })
        .collect()
}

fn macs(i: u32) -> Vec<AppStateMutationMAC> {
    (0..150u64)
        .map(|j| AppStateMutationMAC {
            index_mac: pattern(u64::from(i) << 20 | j, 32),
            value_mac: pattern(u64::from(i) << 20 | j | 1 << 40, 32),
        })
        .collect()
}

fn collection(i: u32) -> String {
    format!("regular_high.{i}")
}

/// Rows committed before any fault.
async fn write_baseline(store: &RedbStore) {
    for i in 0..20u64 {
        store
            .put_session(&format!("base{i}.0"), &pattern(i, 500))
            .await
            .expect("baseline session");
    }
    let keys: Vec<(u32, Bytes)> = (1..=300)
        .map(|id| (id, Bytes::from(pattern(u64::from(id) << 8, 100))))
        .collect();
    store
        .store_prekeys_batch(&keys, true)
        .await
        .expect("baseline prekeys");
    store
        .store_sent_message(CHAT, "keep", b"kept payload", 1)
        .await
        .expect("baseline message");
}

async fn check_baseline(store: &RedbStore, context: &str) {
    for i in 0..20u64 {
        assert_eq!(
            store
                .get_session(&format!("base{i}.0"))
                .await
                .expect("read baseline")
                .as_deref(),
            Some(pattern(i, 500).as_slice()),
            "{context}: committed session base{i} lost"
        );
    }
    let ids: Vec<u32> = (1..=300).collect();
    let got = store.load_prekeys_batch(&ids).await.expect("read prekeys");
    assert_eq!(got.len(), 300, "{context}: committed prekeys lost");
    for (id, record) in got {
        assert_eq!(
            record.as_ref(),
            pattern(u64::from(id) << 8, 100),
            "{context}"
        );
    }
}

#[derive(Debug)]
enum Outcome {
    Unit(StoreResult<()>),
    Taken(StoreResult<Option<Vec<u8>>>),
}

impl Outcome {
    fn err(&self) -> Option<&StoreError> {
        match self {
            Outcome::Unit(Err(e)) | Outcome::Taken(Err(e)) => Some(e),
            _ => None,
        }
    }
}

async fn run_op(store: &RedbStore, op: Op) -> Outcome {
    match op {
        Op::Session(i) => {
            let (k, v) = session(i);
            Outcome::Unit(store.put_session(&k, &v).await)
        }
        Op::Prekeys(i) => Outcome::Unit(store.store_prekeys_batch(&prekeys(i), false).await),
        Op::Macs(i) => Outcome::Unit(store.put_mutation_macs(&collection(i), 7, &macs(i)).await),
        Op::Take => Outcome::Taken(store.take_sent_message(CHAT, "keep").await),
    }
}

/// Checks one operation's effect after reopening: `Ok` ones are there in
/// full; failed ones are there in full or not at all.
async fn check_op(store: &RedbStore, op: Op, outcome: &Outcome, context: &str) {
    let acked = outcome.err().is_none();
    match op {
        Op::Session(i) => {
            let (k, v) = session(i);
            let got = store.get_session(&k).await.expect("get_session");
            match got {
                Some(g) => assert_eq!(g.as_ref(), v.as_slice(), "{context}: {op:?} altered"),
                None => assert!(!acked, "{context}: acknowledged {op:?} lost"),
            }
        }
        Op::Prekeys(i) => {
            let want = prekeys(i);
            let ids: Vec<u32> = want.iter().map(|(id, _)| *id).collect();
            let got = store.load_prekeys_batch(&ids).await.expect("load");
            assert!(
                got.len() == want.len() || got.is_empty() && !acked,
                "{context}: {op:?} (acked: {acked}) has {} of {} rows",
                got.len(),
                want.len()
            );
            if !got.is_empty() {
                assert_eq!(got, want, "{context}: {op:?} altered");
            }
        }
        Op::Macs(i) => {
            let mut present = 0;
            for m in macs(i) {
                if let Some(v) = store
                    .get_mutation_mac(&collection(i), &m.index_mac)
                    .await
                    .expect("get_mutation_mac")
                {
                    assert_eq!(v, m.value_mac, "{context}: {op:?} altered");
                    present += 1;
                }
            }
            assert!(
                present == 150 || present == 0 && !acked,
                "{context}: {op:?} (acked: {acked}) has {present} of 150 rows"
            );
        }
        Op::Take => {
            if let Outcome::Taken(Ok(got)) = outcome {
                assert_eq!(
                    got.as_deref(),
                    Some(&b"kept payload"[..]),
                    "{context}: take of the baseline message"
                );
            }
            // Peek through the export: taking it here would hide a resurrection.
            let mut out = Vec::new();
            store.export(&mut out, false).expect("export");
            let present = String::from_utf8(out)
                .expect("utf-8")
                .lines()
                .any(|l| l.contains("sent_messages_v1") && l.contains("\"keep\""));
            assert!(
                !(acked && present),
                "{context}: an acknowledged take came back after reopen"
            );
        }
    }
}

/// What one trial saw.
struct Trial {
    fired: u64,
    /// Faults that hit a store call (the rest hit the shutdown).
    fired_in_calls: u64,
    writes: u64,
    syncs: u64,
}

fn trial(dir: &Path, name: &str, kind: ErrorKind, configure: impl FnOnce(&Plan)) -> Trial {
    // Every trial starts from a copy of one baseline file (written once:
    // its commits' fsyncs would dominate the sweep otherwise).
    let baseline = dir.join("baseline.redb");
    if !baseline.exists() {
        let tmp = dir.join("baseline.redb.tmp");
        smol::block_on(async {
            write_baseline(&RedbStore::open(&tmp).expect("open baseline")).await;
        });
        std::fs::rename(&tmp, &baseline).unwrap();
    }
    let path = dir.join(format!("{name}.redb"));
    std::fs::copy(&baseline, &path).unwrap();
    let plan = Arc::new(Plan::default());
    plan.set_kind(kind);
    configure(&plan);
    let (outcomes, fired_in_calls): (Vec<Outcome>, u64) = {
        let store = RedbStore::with_backend(
            TestBackend::open(&path, Arc::clone(&plan)),
            RedbOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: open on the test backend: {e}"));
        plan.armed.store(true, Ordering::SeqCst);
        let outcomes = smol::block_on(async {
            let mut v = Vec::new();
            for &op in WORKLOAD {
                v.push(run_op(&store, op).await);
            }
            // Reads on the live store after a fault: data or an error.
            if let Ok(got) = store.get_session("base0.0").await {
                assert_eq!(got.as_deref(), Some(pattern(0, 500).as_slice()), "{name}");
            }
            v
        });
        // Faults injected from here on hit the clean shutdown (no caller to
        // tell); the reopen below must still recover.
        let fired = plan.fired.load(Ordering::SeqCst);
        drop(store);
        (outcomes, fired)
    };
    let fired = plan.fired.load(Ordering::SeqCst);
    let first_err = outcomes.iter().find_map(Outcome::err);
    match (fired_in_calls, first_err) {
        (0, None) => {}
        (0, Some(e)) => panic!("{name}: no fault injected, yet an error: {e} ({e:?})"),
        (_, None) => panic!("{name}: a fault was injected but every call returned Ok"),
        (_, Some(StoreError::Io(e))) => {
            assert_eq!(
                e.kind(),
                kind,
                "{name}: the injected error surfaces with its kind"
            )
        }
        (_, Some(e)) => panic!("{name}: first error is not the injected I/O error: {e} ({e:?})"),
    }
    // Reopen on a healthy disk: the last committed state, nothing acked lost.
    let store = RedbStore::open(&path)
        .unwrap_or_else(|e| panic!("{name}: reopen after the fault: {e} ({e:?})"));
    smol::block_on(async {
        check_baseline(&store, name).await;
        for (&op, outcome) in WORKLOAD.iter().zip(&outcomes) {
            check_op(&store, op, outcome, name).await;
        }
        store
            .put_session("after.0", b"still writable")
            .await
            .unwrap_or_else(|e| panic!("{name}: write after reopen: {e}"));
    });
    let report = store.check().expect("check");
    assert!(report.is_clean(), "{name}: {:?}", report.problems);
    Trial {
        fired,
        fired_in_calls,
        writes: plan.writes.load(Ordering::SeqCst),
        syncs: plan.syncs.load(Ordering::SeqCst),
    }
}

#[test]
fn faults_on_every_write_and_sync_of_a_workload() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A clean run counts the workload's writes and syncs.
    let clean = trial(dir.path(), "clean", ErrorKind::Other, |_| {});
    assert_eq!(clean.fired, 0);
    assert!(clean.writes > 0 && clean.syncs >= WORKLOAD.len() as u64);
    let (mut injected, mut in_calls) = (0, 0);
    for n in 1..=clean.writes {
        let t = trial(dir.path(), &format!("write-{n}"), ErrorKind::Other, |p| {
            p.fail_write_at.store(n, Ordering::SeqCst)
        });
        injected += t.fired;
        in_calls += u64::from(t.fired_in_calls > 0);
    }
    for n in 1..=clean.syncs {
        let t = trial(dir.path(), &format!("sync-{n}"), ErrorKind::Other, |p| {
            p.fail_sync_at.store(n, Ordering::SeqCst)
        });
        injected += t.fired;
        in_calls += u64::from(t.fired_in_calls > 0);
    }
    assert!(
        injected >= clean.writes + clean.syncs,
        "every trial injected its fault"
    );
    eprintln!(
        "fault sweep: workload of {} calls makes {} writes and {} syncs; {} trials, {} with the \
         fault inside a store call (the rest in the clean shutdown)",
        WORKLOAD.len(),
        clean.writes,
        clean.syncs,
        clean.writes + clean.syncs,
        in_calls
    );
}

#[test]
fn disk_full_from_the_nth_write_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = trial(dir.path(), "clean", ErrorKind::StorageFull, |_| {});
    for n in 1..=clean.writes {
        let t = trial(
            dir.path(),
            &format!("full-{n}"),
            ErrorKind::StorageFull,
            |p| {
                p.fail_write_at.store(n, Ordering::SeqCst);
                p.sticky.store(true, Ordering::SeqCst);
            },
        );
        assert!(t.fired >= 1, "disk-full trial {n} injected nothing");
    }
}
