//! Crash consistency: a child process runs a scripted write workload and
//! prints every acknowledged operation; the parent SIGKILLs it at seeded
//! random points, reopens the file and checks that
//!
//! - every acknowledged write is present, byte for byte;
//! - every batch (812 prekeys, 500 MACs) is all there or all absent, and all
//!   there when acknowledged;
//! - every messaging `WriteBatch` (a session write with an inbox put, or with
//!   the inbox removal that acknowledges the message) is all there or all
//!   absent: the session's value tells which batch landed last, and the inbox
//!   entry is there exactly when the put landed and the removal did not;
//! - an acknowledged take never comes back;
//! - `check` finds nothing corrupt, and row counts match what survived.
//!
//! The child is this test binary run again (`crash_child_workload`, ignored
//! unless `WA_STORE_CRASH_CHILD` is set). It writes from 4 threads at once so
//! that kills also land in the middle of group commits.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::pattern;
use wa_core::store::{
    AppStateMutationMAC, AppSyncStore, InboxEntry, ProtocolStore, SignalStore, WriteBatch,
    apply_batch,
};
use wa_store_redb::RedbStore;

const CHILD_ENV: &str = "WA_STORE_CRASH_CHILD";
const ROUNDS: u64 = 50;
const ROUNDS_PER_FILE: u64 = 10;
const THREADS: u64 = 4;
/// Operations per child thread before it stops on its own (it is always
/// killed long before).
const MAX_OPS: u64 = 900;
const PREKEYS_PER_BATCH: u32 = 812;
const MACS_PER_BATCH: u32 = 500;
const CHAT: &str = "120363021033254949@g.us";
const INBOX_CHAT: &str = "5511987650009@s.whatsapp.net";

/// One workload step, identified by (round, thread, step).
type Step = (u64, u64, u64);

fn session_key((r, t, i): Step) -> String {
    format!("r{r}.t{t}.s{i}")
}

fn session_value((r, t, i): Step) -> Vec<u8> {
    pattern(r << 40 | t << 20 | i, 64 + (i as usize % 7) * 150)
}

fn prekey_ids((r, t, i): Step) -> Vec<u32> {
    let base = ((r * THREADS + t) * 1000 + i) * 1000;
    let base = u32::try_from(base).expect("prekey ids fit in u32");
    (base..base + PREKEYS_PER_BATCH).collect()
}

fn prekey_record(id: u32) -> Bytes {
    Bytes::from(pattern(u64::from(id) ^ 0xabc0_0000_0000, 100))
}

fn mac_collection((r, t, i): Step) -> String {
    format!("regular.r{r}.t{t}.b{i}")
}

fn mac(step: Step, j: u32) -> AppStateMutationMAC {
    let seed = (step.0 << 40 | step.1 << 32 | step.2 << 12 | u64::from(j)) ^ 0x3ac;
    AppStateMutationMAC {
        index_mac: pattern(seed, 32),
        value_mac: pattern(!seed, 32),
    }
}

fn message_id((r, t, i): Step) -> String {
    format!("3EB0.r{r}.t{t}.m{i}")
}

fn message_payload(step: Step) -> Vec<u8> {
    pattern(step.0 << 40 | step.1 << 20 | step.2 | 1 << 60, 200)
}

fn inbox_session((r, t, i): Step) -> String {
    format!("inbox.r{r}.t{t}.s{i}")
}

/// The session value written with the inbox put (`stage` 1) and with the
/// removal that acknowledges the message (`stage` 2).
fn inbox_session_value((r, t, i): Step, stage: u64) -> Vec<u8> {
    pattern(r << 40 | t << 20 | i | stage << 58, 120)
}

fn inbox_entry((r, t, i): Step) -> InboxEntry {
    InboxEntry {
        chat: INBOX_CHAT.into(),
        id: format!("3EB0.r{r}.t{t}.i{i}"),
        sender: format!("5511987650009:{t}@s.whatsapp.net"),
        // Negative ones too, and out of write order.
        timestamp: (r * 1000 + i) as i64 - 500 - (t as i64) * 7,
        payload: pattern(r << 40 | t << 20 | i | 1 << 61, 300),
    }
}

/// Prints one protocol line and flushes it: the parent reads it as soon as
/// the operation is acknowledged.
fn say(kind: &str, (r, t, i): Step) {
    let mut out = std::io::stdout().lock();
    // `@@` marks our lines among the test harness's own output; the final `;`
    // tells a whole line from one cut by the kill.
    let _ = writeln!(out, "@@{kind} {r} {t} {i};");
    let _ = out.flush();
}

#[test]
#[ignore = "child process of crash_consistency_under_sigkill (needs WA_STORE_CRASH_CHILD)"]
fn crash_child_workload() {
    let spec = std::env::var(CHILD_ENV).expect("run by crash_consistency_under_sigkill");
    let mut parts = spec.splitn(3, '|');
    let round: u64 = parts.next().unwrap().parse().unwrap();
    let seed: u64 = parts.next().unwrap().parse().unwrap();
    let path = parts.next().unwrap().to_owned();
    let store = RedbStore::open(&path).expect("child: open");
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                smol::block_on(async {
                    let mut rng = fastrand::Rng::with_seed(seed ^ ((t + 1) * 0x9e37_79b9));
                    for i in 0..MAX_OPS {
                        let step = (round, t, i);
                        match rng.u8(0..24) {
                            0..=9 => {
                                store
                                    .put_session(&session_key(step), &session_value(step))
                                    .await
                                    .expect("put_session");
                                say("S", step);
                            }
                            10..=12 => {
                                let keys: Vec<(u32, Bytes)> = prekey_ids(step)
                                    .into_iter()
                                    .map(|id| (id, prekey_record(id)))
                                    .collect();
                                say("P-BEGIN", step);
                                store
                                    .store_prekeys_batch(&keys, false)
                                    .await
                                    .expect("store_prekeys_batch");
                                say("P", step);
                            }
                            13..=15 => {
                                let macs: Vec<AppStateMutationMAC> =
                                    (0..MACS_PER_BATCH).map(|j| mac(step, j)).collect();
                                say("M-BEGIN", step);
                                store
                                    .put_mutation_macs(&mac_collection(step), i, &macs)
                                    .await
                                    .expect("put_mutation_macs");
                                say("M", step);
                            }
                            20..=23 => {
                                // As messaging writes a decrypted message: the
                                // session and the inbox entry in one batch.
                                let mut batch = WriteBatch::new();
                                batch
                                    .put_session(inbox_session(step), inbox_session_value(step, 1));
                                batch.put_inbox(inbox_entry(step));
                                say("I-BEGIN", step);
                                assert!(apply_batch(&store, &batch).await.expect("inbox batch"));
                                say("I", step);
                                // Every other message is acknowledged at once,
                                // again together with a session write.
                                if i % 2 == 0 {
                                    let mut batch = WriteBatch::new();
                                    batch.put_session(
                                        inbox_session(step),
                                        inbox_session_value(step, 2),
                                    );
                                    batch.remove_inbox(INBOX_CHAT, inbox_entry(step).id);
                                    say("IA-BEGIN", step);
                                    assert!(apply_batch(&store, &batch).await.expect("ack batch"));
                                    say("IA", step);
                                }
                            }
                            _ => {
                                say("STORE-BEGIN", step);
                                store
                                    .store_sent_message(
                                        CHAT,
                                        &message_id(step),
                                        &message_payload(step),
                                        1_700_000_000,
                                    )
                                    .await
                                    .expect("store_sent_message");
                                say("STORED", step);
                                let got = store
                                    .take_sent_message(CHAT, &message_id(step))
                                    .await
                                    .expect("take_sent_message");
                                assert_eq!(got, Some(message_payload(step)));
                                say("TAKEN", step);
                            }
                        }
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().expect("child thread");
    }
}

/// What the parent learned from the children's output so far.
#[derive(Default)]
struct Model {
    sessions: Vec<Step>,
    prekeys_begun: BTreeSet<Step>,
    prekeys_acked: BTreeSet<Step>,
    macs_begun: BTreeSet<Step>,
    macs_acked: BTreeSet<Step>,
    store_begun: BTreeSet<Step>,
    stored: BTreeSet<Step>,
    taken: BTreeSet<Step>,
    inbox_begun: BTreeSet<Step>,
    inbox_acked: BTreeSet<Step>,
    inbox_ack_begun: BTreeSet<Step>,
    inbox_ack_acked: BTreeSet<Step>,
    /// Inbox entries found present after their round.
    inbox_present: u64,
    /// Batches found complete after their round (the rest were found absent).
    prekey_batches_present: u64,
    mac_batches_present: u64,
    acks: u64,
}

impl Model {
    /// Records one line; returns whether it acknowledged an operation.
    fn record(&mut self, line: &str) -> bool {
        let Some(body) = line.split("@@").nth(1) else {
            return false;
        };
        let Some(body) = body.trim_end().strip_suffix(';') else {
            return false;
        };
        let f: Vec<&str> = body.split(' ').collect();
        assert_eq!(f.len(), 4, "malformed child line {line:?}");
        let n = |s: &str| s.parse::<u64>().expect("number");
        let step = (n(f[1]), n(f[2]), n(f[3]));
        let ack = match f[0] {
            "S" => {
                self.sessions.push(step);
                true
            }
            "P-BEGIN" => {
                self.prekeys_begun.insert(step);
                false
            }
            "P" => self.prekeys_acked.insert(step),
            "M-BEGIN" => {
                self.macs_begun.insert(step);
                false
            }
            "M" => self.macs_acked.insert(step),
            "STORE-BEGIN" => {
                self.store_begun.insert(step);
                false
            }
            "STORED" => self.stored.insert(step),
            "TAKEN" => self.taken.insert(step),
            "I-BEGIN" => {
                self.inbox_begun.insert(step);
                false
            }
            "I" => self.inbox_acked.insert(step),
            "IA-BEGIN" => {
                self.inbox_ack_begun.insert(step);
                false
            }
            "IA" => self.inbox_ack_acked.insert(step),
            other => panic!("unknown child line kind {other:?}"),
        };
        self.acks += u64::from(ack);
        ack
    }
}

/// Runs one child and SIGKILLs it after `kill_after` acknowledgements plus
/// `delay`, recording everything it acknowledged.
fn run_child(
    path: &std::path::Path,
    round: u64,
    seed: u64,
    kill_after: u64,
    delay: Duration,
    model: &mut Model,
) {
    let log = path.with_extension(format!("child-{round}.stderr"));
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "crash_child_workload",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(CHILD_ENV, format!("{round}|{seed}|{}", path.display()))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("stderr log"))
        .spawn()
        .expect("spawn child");
    let mut reader = BufReader::new(child.stdout.take().expect("child stdout"));
    let mut acks = 0;
    let mut killed = false;
    let kill = |child: &mut std::process::Child| {
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL the child");
    };
    if kill_after == 0 {
        kill(&mut child);
        killed = true;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).expect("read child");
        if n == 0 {
            break;
        }
        // A line without its newline was cut by the kill: not acknowledged.
        if line.last() != Some(&b'\n') {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        if model.record(&text) {
            acks += 1;
        }
        if !killed && acks >= kill_after {
            kill(&mut child);
            killed = true;
        }
    }
    let status = child.wait().expect("wait for child");
    if !killed {
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("round {round}: child ended before the kill point ({status}):\n{stderr}");
    }
}

fn verify_round(path: &std::path::Path, round: u64, model: &mut Model) {
    let store = RedbStore::open(path)
        .unwrap_or_else(|e| panic!("round {round}: reopen after SIGKILL failed: {e} ({e:?})"));
    smol::block_on(async {
        // Every acknowledged single write, from every round so far.
        for &step in &model.sessions {
            let got = store
                .get_session(&session_key(step))
                .await
                .expect("get_session");
            assert_eq!(
                got.as_deref(),
                Some(session_value(step).as_slice()),
                "round {round}: acknowledged session {step:?} lost or altered"
            );
        }
        // This round's batches: all or nothing, all when acknowledged.
        for &step in model.prekeys_begun.iter().filter(|s| s.0 == round) {
            let ids = prekey_ids(step);
            let got = store
                .load_prekeys_batch(&ids)
                .await
                .expect("load_prekeys_batch");
            let acked = model.prekeys_acked.contains(&step);
            assert!(
                got.is_empty() && !acked || got.len() == ids.len(),
                "round {round}: prekey batch {step:?} (acked: {acked}) has {} of {} rows",
                got.len(),
                ids.len()
            );
            for (id, record) in &got {
                assert_eq!(record, &prekey_record(*id), "prekey {id} altered");
            }
            model.prekey_batches_present += u64::from(!got.is_empty());
        }
        for &step in model.macs_begun.iter().filter(|s| s.0 == round) {
            let name = mac_collection(step);
            let mut present = 0;
            for j in 0..MACS_PER_BATCH {
                let m = mac(step, j);
                if let Some(v) = store
                    .get_mutation_mac(&name, &m.index_mac)
                    .await
                    .expect("get_mutation_mac")
                {
                    assert_eq!(v, m.value_mac, "MAC {step:?}/{j} altered");
                    present += 1;
                }
            }
            let acked = model.macs_acked.contains(&step);
            assert!(
                present == 0 && !acked || present == MACS_PER_BATCH,
                "round {round}: MAC batch {step:?} (acked: {acked}) has {present} of {MACS_PER_BATCH} rows"
            );
            model.mac_batches_present += u64::from(present > 0);
        }
        // Acknowledged takes stay taken. Every other message the child began
        // to store is there with its payload or gone (never stored, or taken
        // before the kill); taking it here empties the table for the count
        // below.
        for &step in model.taken.iter().filter(|s| s.0 == round) {
            assert_eq!(
                store
                    .take_sent_message(CHAT, &message_id(step))
                    .await
                    .expect("take"),
                None,
                "round {round}: taken message {step:?} came back"
            );
        }
        for &step in model
            .store_begun
            .iter()
            .filter(|s| s.0 == round && !model.taken.contains(s))
        {
            if let Some(p) = store
                .take_sent_message(CHAT, &message_id(step))
                .await
                .expect("take")
            {
                assert_eq!(p, message_payload(step), "stored message {step:?} altered");
            }
        }
        // Messaging batches: the session says which batch landed last; the
        // inbox entry must agree.
        let inbox = store.list_inbox(usize::MAX).await.expect("list_inbox");
        for w in inbox.windows(2) {
            assert!(
                (w[0].timestamp, &w[0].chat, &w[0].id) < (w[1].timestamp, &w[1].chat, &w[1].id),
                "round {round}: inbox out of order"
            );
        }
        for &step in model.inbox_begun.iter().filter(|s| s.0 == round) {
            let want = inbox_entry(step);
            let listed = inbox.iter().find(|e| e.id == want.id);
            let session = store
                .get_session(&inbox_session(step))
                .await
                .expect("get_session");
            let put_acked = model.inbox_acked.contains(&step);
            let ack_acked = model.inbox_ack_acked.contains(&step);
            match session.as_deref() {
                None => {
                    assert!(
                        listed.is_none() && !put_acked,
                        "round {round}: inbox batch {step:?} (acked: {put_acked}) half there: \
                         entry without its session"
                    );
                }
                Some(v) if v == inbox_session_value(step, 1) => {
                    assert_eq!(
                        listed,
                        Some(&want),
                        "round {round}: inbox batch {step:?}: session without its entry"
                    );
                    assert!(
                        !ack_acked,
                        "round {round}: acknowledged removal {step:?} lost"
                    );
                    model.inbox_present += 1;
                }
                Some(v) if v == inbox_session_value(step, 2) => {
                    assert!(
                        listed.is_none() && model.inbox_ack_begun.contains(&step),
                        "round {round}: ack batch {step:?}: session advanced, entry still there"
                    );
                }
                Some(_) => panic!("round {round}: inbox session {step:?} altered"),
            }
        }
    });
    // Cumulative: row counts match every batch that survived any round, so a
    // batch of an earlier round cannot have been lost or half-lost since.
    let stats = store.stats().expect("stats");
    let rows = |table: &str| {
        stats
            .tables
            .iter()
            .find(|t| t.table == table)
            .map_or(0, |t| t.rows)
    };
    assert_eq!(
        rows("prekeys_v1"),
        model.prekey_batches_present * u64::from(PREKEYS_PER_BATCH),
        "round {round}: prekey rows"
    );
    assert_eq!(
        rows("mutation_macs_v1"),
        model.mac_batches_present * u64::from(MACS_PER_BATCH),
        "round {round}: MAC rows"
    );
    assert_eq!(
        rows("sent_messages_v1"),
        0,
        "round {round}: every message was taken"
    );
    assert_eq!(
        (rows("inbox_v1"), rows("inbox_index_v1")),
        (model.inbox_present, model.inbox_present),
        "round {round}: inbox rows"
    );
    let sessions: BTreeSet<&Step> = model.sessions.iter().collect();
    assert!(rows("sessions_v1") >= sessions.len() as u64);
    let report = store.check().expect("check");
    assert!(
        report.is_clean(),
        "round {round}: check found corruption: {:?}",
        report.problems
    );
}

#[test]
fn crash_consistency_under_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = fastrand::Rng::with_seed(0x5eed_c0de);
    let started = Instant::now();
    let mut totals = Model::default();
    // Rounds share a file in runs of ROUNDS_PER_FILE, so recovery runs again
    // and again on the same file and earlier rounds' data must survive later
    // kills, while the file stays small enough to verify quickly.
    for file in 0..ROUNDS / ROUNDS_PER_FILE {
        let path = dir.path().join(format!("crash-{file}.redb"));
        let mut model = Model::default();
        for round in 0..ROUNDS_PER_FILE {
            let seed = rng.u64(..);
            let kill_after = rng.u64(0..30);
            let delay = Duration::from_micros(rng.u64(0..3000));
            run_child(&path, round, seed, kill_after, delay, &mut model);
            verify_round(&path, round, &mut model);
        }
        // The command-line checker agrees.
        let out = Command::new(env!("CARGO_BIN_EXE_wa-store"))
            .args(["check", path.to_str().expect("utf-8 path")])
            .output()
            .expect("run wa-store check");
        assert!(
            out.status.success(),
            "wa-store check failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        totals.acks += model.acks;
        totals.sessions.extend(model.sessions);
        totals.prekeys_acked.extend(
            model
                .prekeys_acked
                .iter()
                .map(|s| (file, s.0, s.1 << 32 | s.2)),
        );
        totals.macs_acked.extend(
            model
                .macs_acked
                .iter()
                .map(|s| (file, s.0, s.1 << 32 | s.2)),
        );
        totals
            .taken
            .extend(model.taken.iter().map(|s| (file, s.0, s.1 << 32 | s.2)));
        totals.inbox_acked.extend(
            model
                .inbox_acked
                .iter()
                .map(|s| (file, s.0, s.1 << 32 | s.2)),
        );
        totals.inbox_ack_acked.extend(
            model
                .inbox_ack_acked
                .iter()
                .map(|s| (file, s.0, s.1 << 32 | s.2)),
        );
        totals.inbox_present += model.inbox_present;
        totals.prekey_batches_present += model.prekey_batches_present;
        totals.mac_batches_present += model.mac_batches_present;
    }
    eprintln!(
        "crash test: {ROUNDS} SIGKILL rounds, {} acknowledged ops ({} sessions, {} prekey and {} \
         MAC batches acked, {} takes, {} inbox puts and {} removals acked), {} prekey / {} MAC \
         batches survived, {} inbox entries left, {:.1?}",
        totals.acks,
        totals.sessions.len(),
        totals.prekeys_acked.len(),
        totals.macs_acked.len(),
        totals.taken.len(),
        totals.inbox_acked.len(),
        totals.inbox_ack_acked.len(),
        totals.prekey_batches_present,
        totals.mac_batches_present,
        totals.inbox_present,
        started.elapsed()
    );
}
