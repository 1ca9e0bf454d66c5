//! Messaging backlog: an offline queue of `<message>` stanzas handled on reconnect.
//!
//! Prepared outside the timing: a [`Network`] with one receiving device and 100 sender
//! [`Party`]s; in rounds, every sender sends one text to the receiver, until the
//! receiver's queue holds `N` messages (`$WA_BACKLOG_N`, default 10,000; a multiple of 100).
//! Each sender's first message is a `pkmsg` that starts its session; the receiver never
//! answers while offline, so every later one is a `pkmsg` too (same base key, in-chain:
//! no X3DH after the first). The queue is taken with `Network::take_queue` and marshalled
//! with `wa_core::binary::marshal`, so the timed part starts from bytes.
//!
//! Timed, per message: `decode_frame` → `Messenger::receive` → the job's steps against
//! the store (`Need::load`, then `apply_batch` of the outcome: a durable commit on redb)
//! → the receipt stanza marshalled to bytes (after the commit: "commit before receipt").
//! Every iteration handles the whole backlog from the same initial store state: a fresh
//! `MemoryStore`, or a copy of a prepared redb file (`RedbStore`, `Durability::Immediate`,
//! in `$WA_BENCH_DIR` or the system temp dir), both filled with the receiver's device,
//! prekeys and signed prekeys, copied from its Party's `MemoryStore` through the store
//! traits. Store setup and teardown are outside the timing (`iter_custom`).
//!
//! Variants (`backlog_<N>/<store>/<mode>`):
//! - `seq`: one job at a time, one `apply_batch` (one commit, one fsync on redb) per
//!   message, as a single sequential runner does;
//! - `group<K>`: K messages' outcome batches concatenated into one `apply_batch` per
//!   group, the group's receipts marshalled after its commit. A group also ends early
//!   when a message needs a record the group has written but not committed (its load
//!   would read stale state); with the round-robin queue that never happens for K ≤ 100.
//!   (Inbox writes, which every received message makes, are read by no `Need`.)
//! - `pending<K>` (K = 16, 64, 256): exactly the io-smol client driver's pipeline
//!   (`io-smol/src/client/messaging.rs`, `on_messages`, which takes up to 64 queued
//!   `<message>`s per group): groups of up to K consecutive messages, each job run by
//!   `wa_core::messaging::Pending::run` as the driver does (every `Step::Load` answered
//!   by `Pending::load`: the store read, then the group's uncommitted writes overlaid;
//!   every `Step::Commit` and `Step::Done` batch added to the `Pending`), then
//!   `Messenger::observe`; one `apply_batch(store, &pending.take())` per group
//!   (one durable commit on redb), then the group's receipts marshalled. Unlike
//!   `group<K>` a group never ends early: a repeated sender's job reads its session
//!   through the overlay (with 100 round-robin senders that happens for K > 100).
//!   `pending64` is the driver's setting.
//!
//! Before timing, a self-check runs the backlog once sequentially and once in one
//! unbounded group (K = N) on two `MemoryStore`s: the group must end early at every
//! repeated sender (N/100 commits) and leave every sender's session byte-identical to the
//! sequential run's (the job seeds are the same in both). The pending runner is checked
//! the same way, with K = 64 (⌈N/64⌉ commits) and with one unbounded group (K = N: one
//! commit, every repeated sender's session read through the overlay): the same receipt
//! bytes as the sequential run (N receipts, N distinct message ids: every message
//! delivered once) and every session byte-identical.
//!
//! `redb_nosync/<mode>` (`Durability::None`: no fsync) is a diagnostic, not a durable
//! store: it shows what the redb rows cost without the disk's flush.
//!
//! After each iteration (untimed) the bench checks that every message was delivered as a
//! `MessagingEvent::Message` and every receipt is a `<receipt>`.

use std::collections::HashSet;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput};
use futures_lite::future::block_on;
use wa_core::binary::{Jid, decode_frame, marshal};
use wa_core::message::SignalAddress;
use wa_core::messaging::{
    Job, MessagingEvent, Messenger, Need, Outcome, OwnDevice, Pending as Overlay, Step,
};
use wa_core::store::{Backend, Device, MemoryStore, SignalStore, WriteBatch, WriteOp, apply_batch};
use wa_core::testing::network::{Network, Party};
use wa_store_redb::{Durability, RedbOptions, RedbStore};

const SENDERS: usize = 100;
const RECEIVER: &str = "15550000";

/// Everything an iteration starts from.
struct Backlog {
    device: Device,
    prekeys: Vec<(u32, Bytes, bool)>,
    signed_prekeys: Vec<(u32, Vec<u8>)>,
    stanzas: Vec<Bytes>,
    now: i64,
}

fn prepare(n: usize) -> Backlog {
    let mut net = Network::new();
    let receiver = Party::join(&mut net, RECEIVER, 0, 1);
    let mut senders: Vec<Party> = (0..SENDERS)
        .map(|i| Party::join(&mut net, &format!("1556{i:04}"), 0, 1000 + i as u64))
        .collect();
    let to = Jid::pn(RECEIVER);
    for round in 0..n / SENDERS {
        for s in &mut senders {
            let text = format!("backlog text {round} from {}, a short chat line", s.jid);
            s.send_text(&mut net, &to, &text);
        }
    }
    let queue = net.take_queue(&receiver.jid);
    let stanzas: Vec<Bytes> = queue
        .iter()
        .filter(|s| s.tag == "message")
        .map(|s| Bytes::from(marshal(s).expect("marshal")))
        .collect();
    assert_eq!(stanzas.len(), n, "queued messages");

    // The receiver's state, read back through the store traits.
    let store = &receiver.store;
    let device = receiver.device();
    let max = block_on(store.get_max_prekey_id()).expect("memory store");
    let mut prekeys = Vec::new();
    for id in 1..=max {
        if let Some(record) = block_on(store.load_prekey(id)).expect("memory store") {
            let uploaded = block_on(store.is_prekey_uploaded(id))
                .expect("memory store")
                .unwrap_or(false);
            prekeys.push((id, record, uploaded));
        }
    }
    let signed_prekeys = block_on(store.load_all_signed_prekeys()).expect("memory store");
    Backlog {
        device,
        prekeys,
        signed_prekeys,
        stanzas,
        now: net.now() as i64,
    }
}

/// Writes the receiver's initial state into `store`.
fn fill(store: &impl Backend, b: &Backlog) {
    block_on(async {
        store.save(&b.device).await?;
        for uploaded in [false, true] {
            let keys: Vec<(u32, Bytes)> = b
                .prekeys
                .iter()
                .filter(|p| p.2 == uploaded)
                .map(|p| (p.0, p.1.clone()))
                .collect();
            if !keys.is_empty() {
                store.store_prekeys_batch(&keys, uploaded).await?;
            }
        }
        for (id, record) in &b.signed_prekeys {
            store.store_signed_prekey(*id, record).await?;
        }
        wa_core::store::StoreResult::Ok(())
    })
    .expect("fill store");
}

fn messenger(b: &Backlog) -> Messenger {
    let own = OwnDevice::from_device(&b.device).expect("registered receiver");
    Messenger::new(own, [7; 32])
}

/// What an iteration produced (checked outside the timing).
#[derive(Default)]
struct Tally {
    messages: usize,
    receipts: Vec<Bytes>,
    commits: usize,
}

/// Runs one receive job to its outcome; `before_load` may commit pending work first.
fn run_job(store: &impl Backend, job: &mut Job, mut before_load: impl FnMut(&Need)) -> Outcome {
    loop {
        match job.step() {
            Step::Load(need) => {
                before_load(&need);
                job.provide(block_on(need.load(store)).expect("load"));
            }
            Step::Query(_) => job.answer(Err("no network in the backlog bench".into())),
            Step::Commit(batch) => {
                block_on(apply_batch(store, &batch)).expect("commit");
                job.committed();
            }
            Step::Done(outcome) => return outcome,
        }
    }
}

fn count_messages(tally: &mut Tally, outcome: &Outcome) {
    tally.messages += outcome
        .events
        .iter()
        .filter(|e| matches!(e, MessagingEvent::Message(_)))
        .count();
}

/// One job at a time, one commit per message. Never inlined: a call boundary for
/// `valgrind --tool=callgrind --toggle-collect='backlog::run_sequential*'`.
#[inline(never)]
fn run_sequential(store: &impl Backend, m: &mut Messenger, b: &Backlog, tally: &mut Tally) {
    for bytes in &b.stanzas {
        let node = decode_frame(bytes).expect("decode");
        let mut job = m.receive(&node, b.now);
        let outcome = run_job(store, &mut job, |_| {});
        block_on(apply_batch(store, &outcome.batch)).expect("commit");
        tally.commits += 1;
        m.observe(&outcome);
        for stanza in &outcome.stanzas {
            tally
                .receipts
                .push(Bytes::from(marshal(stanza).expect("marshal")));
        }
        count_messages(tally, &outcome);
    }
}

/// The keys a group has written but not committed.
#[derive(Default)]
struct Pending {
    batch: WriteBatch,
    stanzas: Vec<wa_core::binary::Node>,
    jobs: usize,
    addresses: HashSet<String>,
    prekeys: HashSet<u32>,
    sender_keys: HashSet<String>,
    pn_users: HashSet<String>,
    /// A write this bench does not track by key: commit before the next load.
    opaque: bool,
}

impl Pending {
    fn add(&mut self, outcome: &Outcome) {
        for op in outcome.batch.ops() {
            match op {
                WriteOp::PutSession { address, .. } | WriteOp::DeleteSession { address } => {
                    self.addresses.insert(address.clone());
                }
                WriteOp::PutIdentity { address, .. } => {
                    self.addresses.insert(address.clone());
                }
                WriteOp::RemovePreKey { id } => {
                    self.prekeys.insert(*id);
                }
                WriteOp::PutSenderKey { name, .. } | WriteOp::DeleteSenderKey { name } => {
                    self.sender_keys.insert(name.clone());
                }
                WriteOp::PutLidMapping(entry) => {
                    self.pn_users.insert(entry.phone_number.clone());
                }
                // The inbox (written by every received message since the messaging
                // inbox writes) is read by no `Need`.
                WriteOp::PutInbox(_) | WriteOp::RemoveInbox { .. } => {}
                _ => self.opaque = true,
            }
        }
        self.batch.extend(outcome.batch.clone());
        self.stanzas.extend(outcome.stanzas.iter().cloned());
        self.jobs += 1;
    }

    fn touches(&self, need: &Need) -> bool {
        self.opaque
            || need
                .sessions
                .iter()
                .chain(&need.identities)
                .any(|a| self.addresses.contains(a))
            || need.prekeys.iter().any(|id| self.prekeys.contains(id))
            || need
                .sender_keys
                .iter()
                .any(|n| self.sender_keys.contains(n))
            || need.lid_of.iter().any(|u| self.pn_users.contains(u))
    }

    /// One commit for the group, then its receipts.
    fn flush(&mut self, store: &impl Backend, tally: &mut Tally) {
        if self.jobs == 0 {
            return;
        }
        block_on(apply_batch(store, &self.batch)).expect("commit");
        tally.commits += 1;
        for stanza in &self.stanzas {
            tally
                .receipts
                .push(Bytes::from(marshal(stanza).expect("marshal")));
        }
        *self = Pending::default();
    }
}

/// Groups of `k` messages, one commit per group (never inlined, as above).
#[inline(never)]
fn run_grouped(store: &impl Backend, m: &mut Messenger, b: &Backlog, k: usize, tally: &mut Tally) {
    let mut pending = Pending::default();
    for bytes in &b.stanzas {
        let node = decode_frame(bytes).expect("decode");
        let mut job = m.receive(&node, b.now);
        let outcome = run_job(store, &mut job, |need| {
            if pending.touches(need) {
                pending.flush(store, tally);
            }
        });
        m.observe(&outcome);
        count_messages(tally, &outcome);
        pending.add(&outcome);
        if pending.jobs == k {
            pending.flush(store, tally);
        }
    }
    pending.flush(store, tally);
}

/// The io-smol driver's `on_messages` over the backlog: groups of up to `k`
/// messages, each job run by [`Overlay::run`] (`wa_core::messaging::Pending`: loads
/// through the group's uncommitted writes, `Step::Commit`/`Done` batches added), one
/// commit per group, then its receipts (never inlined, as above).
#[inline(never)]
fn run_pending(store: &impl Backend, m: &mut Messenger, b: &Backlog, k: usize, tally: &mut Tally) {
    for group in b.stanzas.chunks(k) {
        let mut pending = Overlay::new();
        let mut stanzas = Vec::new();
        for bytes in group {
            let node = decode_frame(bytes).expect("decode");
            let job = m.receive(&node, b.now);
            // Loads through the overlay, Commit and Done batches added to it.
            let outcome = block_on(pending.run(job, store)).expect("load");
            m.observe(&outcome);
            count_messages(tally, &outcome);
            stanzas.extend(outcome.stanzas);
        }
        let batch = pending.take();
        if !batch.is_empty() {
            block_on(apply_batch(store, &batch)).expect("commit");
            tally.commits += 1;
        }
        for stanza in &stanzas {
            tally
                .receipts
                .push(Bytes::from(marshal(stanza).expect("marshal")));
        }
    }
}

/// How a run groups its commits (see the module docs).
#[derive(Clone, Copy)]
enum Mode {
    Seq,
    Group(usize),
    Pending(usize),
}

fn check(tally: &Tally, n: usize) {
    assert_eq!(tally.messages, n, "messages delivered");
    assert_eq!(tally.receipts.len(), n, "receipts");
    assert!(
        tally
            .receipts
            .iter()
            .all(|r| decode_frame(r).is_ok_and(|node| node.tag == "receipt")),
        "every answer is a receipt"
    );
}

/// Runs `mode` over the backlog on `store`, timed; returns the time and the tally.
fn timed(store: &impl Backend, b: &Backlog, mode: Mode) -> (Duration, Tally) {
    let mut m = messenger(b);
    let mut tally = Tally::default();
    let start = Instant::now();
    match mode {
        Mode::Seq => run_sequential(store, &mut m, b, &mut tally),
        Mode::Group(k) => run_grouped(store, &mut m, b, k, &mut tally),
        Mode::Pending(k) => run_pending(store, &mut m, b, k, &mut tally),
    }
    let elapsed = start.elapsed();
    black_box(&tally.receipts);
    (elapsed, tally)
}

/// The grouped runner against the sequential one (see the module docs).
fn self_check(b: &Backlog, n: usize) {
    let seq = MemoryStore::new();
    fill(&seq, b);
    let (_, t_seq) = timed(&seq, b, Mode::Seq);
    check(&t_seq, n);
    let grouped = MemoryStore::new();
    fill(&grouped, b);
    let (_, t_grouped) = timed(&grouped, b, Mode::Group(n));
    check(&t_grouped, n);
    assert_eq!(
        t_grouped.commits,
        n / SENDERS,
        "groups end at a repeated sender"
    );
    assert_eq!(t_seq.receipts, t_grouped.receipts, "same receipts");
    let mut senders = HashSet::new();
    for bytes in &b.stanzas {
        let node = decode_frame(bytes).expect("decode");
        senders.insert(node.attr_jid("from").expect("from"));
    }
    assert_eq!(senders.len(), SENDERS);
    for jid in &senders {
        let address = SignalAddress::of(jid).to_string();
        let a = block_on(seq.get_session(&address)).expect("memory store");
        let g = block_on(grouped.get_session(&address)).expect("memory store");
        assert!(a.is_some() && a == g, "session of {address}");
    }
    self_check_pending(b, n, &seq, &t_seq, &senders);
}

/// The pending runner (the driver's pipeline) against the sequential run: K = 64 and
/// one unbounded group.
fn self_check_pending(
    b: &Backlog,
    n: usize,
    seq: &MemoryStore,
    t_seq: &Tally,
    senders: &HashSet<Jid>,
) {
    let ids: HashSet<String> = t_seq
        .receipts
        .iter()
        .map(|r| {
            let node = decode_frame(r).expect("receipt");
            node.attr_str("id").expect("receipt id").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), n, "one receipt per message id");
    for (k, commits) in [(64, n.div_ceil(64)), (n, 1)] {
        let store = MemoryStore::new();
        fill(&store, b);
        let (_, t) = timed(&store, b, Mode::Pending(k));
        check(&t, n);
        assert_eq!(t.commits, commits, "pending{k}: one commit per group");
        assert_eq!(t.receipts, t_seq.receipts, "pending{k}: same receipts");
        for jid in senders {
            let address = SignalAddress::of(jid).to_string();
            let a = block_on(seq.get_session(&address)).expect("memory store");
            let p = block_on(store.get_session(&address)).expect("memory store");
            assert!(a.is_some() && a == p, "pending{k}: session of {address}");
        }
    }
}

fn bench_dir() -> PathBuf {
    std::env::var_os("WA_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// A redb file holding the initial state, copied per iteration.
struct RedbTemplate {
    dir: tempfile::TempDir,
    file: PathBuf,
}

impl RedbTemplate {
    fn new(b: &Backlog) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("wa-backlog-")
            .tempdir_in(bench_dir())
            .expect("temp dir");
        let file = dir.path().join("template.redb");
        {
            let store = RedbStore::open(&file).expect("open redb");
            fill(&store, b);
        }
        RedbTemplate { dir, file }
    }

    fn fresh(&self, i: u64, durability: Durability) -> (RedbStore, PathBuf) {
        let path = self.dir.path().join(format!("iter-{i}.redb"));
        std::fs::copy(&self.file, &path).expect("copy redb file");
        let options = RedbOptions::builder().durability(durability).build();
        (
            RedbStore::open_with(&path, options).expect("open redb"),
            path,
        )
    }
}

fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

fn main() {
    let n: usize = std::env::var("WA_BACKLOG_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    assert!(
        n >= SENDERS && n.is_multiple_of(SENDERS),
        "WA_BACKLOG_N: a multiple of 100"
    );
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10)
        .configure_from_args();

    let t = Instant::now();
    let backlog = prepare(n);
    let pkmsgs = backlog
        .stanzas
        .iter()
        .filter(|s| {
            decode_frame(s).is_ok_and(|node| {
                node.child("enc").and_then(|e| e.attr_str("type")) == Some("pkmsg")
            })
        })
        .count();
    let bytes: usize = backlog.stanzas.iter().map(Bytes::len).sum();
    eprintln!(
        "backlog: {n} messages from {SENDERS} senders ({pkmsgs} pkmsg, {} msg), {bytes} bytes, \
         receiver with {} prekeys; prepared in {:.1} s",
        n - pkmsgs,
        backlog.prekeys.len(),
        t.elapsed().as_secs_f64()
    );
    self_check(&backlog, n);
    let template = RedbTemplate::new(&backlog);

    let mut g = c.benchmark_group(format!("backlog_{n}"));
    g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(n as u64));
    let modes: [(&str, Mode); 5] = [
        ("seq", Mode::Seq),
        ("group100", Mode::Group(100)),
        ("pending16", Mode::Pending(16)),
        ("pending64", Mode::Pending(64)),
        ("pending256", Mode::Pending(256)),
    ];
    for (name, mode) in modes {
        g.bench_function(format!("memory/{name}"), |bch| {
            bch.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let store = MemoryStore::new();
                    fill(&store, &backlog);
                    let (d, tally) = timed(&store, &backlog, mode);
                    check(&tally, n);
                    total += d;
                }
                total
            });
        });
        for (store_name, durability) in [
            ("redb", Durability::Immediate),
            ("redb_nosync", Durability::None),
        ] {
            let mut iteration = 0;
            g.bench_function(format!("{store_name}/{name}"), |bch| {
                bch.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        iteration += 1;
                        let (store, path) = template.fresh(iteration, durability);
                        let (d, tally) = timed(&store, &backlog, mode);
                        check(&tally, n);
                        eprintln!(
                            "  {store_name}/{name}: {:.2} s, {} commits",
                            d.as_secs_f64(),
                            tally.commits
                        );
                        drop(store);
                        remove(&path);
                        total += d;
                    }
                    total
                });
            });
        }
    }
    g.finish();
    c.final_summary();
    summary(n);
}

/// Messages/s per variant (medians from estimates.json: this run's for the variants it
/// measured, an earlier run's for any a filter left out), the ratios to `memory/seq` and
/// to the MemoryStore variant of the same mode.
fn summary(n: usize) {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("criterion");
    let estimates = match wa_benches::report::load(&dir) {
        Ok(e) => e,
        Err(e) => return eprintln!("no table: {e}"),
    };
    let group = format!("backlog_{n}");
    let rate = |id: &str| {
        estimates
            .get(&(group.clone(), id.to_owned()))
            .map(|e| n as f64 / (e.median_ns / 1e9))
    };
    let base = rate("memory/seq");
    let ratio =
        |r: f64, of: Option<f64>| of.map_or_else(|| "—".to_owned(), |b| format!("{:.3}", r / b));
    println!(
        "\n| variant | median per backlog | messages/s | ÷ memory/seq | ÷ memory, same mode |\n\
         |---|---|---|---|---|"
    );
    for mode in ["seq", "group100", "pending16", "pending64", "pending256"] {
        let memory = rate(&format!("memory/{mode}"));
        for store in ["memory", "redb", "redb_nosync"] {
            let id = format!("{store}/{mode}");
            if let Some(r) = rate(&id) {
                println!(
                    "| {id} | {:.3} s | {r:.0} | {} | {} |",
                    n as f64 / r,
                    ratio(r, base),
                    ratio(r, memory)
                );
            }
        }
    }
}
