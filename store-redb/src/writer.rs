//! The single writer thread and group commit.
//!
//! Every write of a store becomes an *operation*: a closure that does its
//! work inside a redb write transaction. Callers queue operations on a
//! channel and await a one-shot reply. The writer thread takes the first
//! queued operation, then every other one already waiting (up to
//! [`MAX_GROUP`]), runs them one after another inside **one** write
//! transaction and commits it once: one fsync for the whole group.
//!
//! Waiting for followers: when a commit answers a group of k callers, those
//! callers typically queue their next writes a moment later, one after another
//! as their executor gets to them. Started at once, the next transaction would
//! hold only the first few, and the others would need a commit of their own.
//! So when the previous group had k > 1 operations, the next one began right
//! after it (the writer was not idle longer than that commit took) and fewer
//! than k operations are queued, the writer waits for more, until k are
//! queued or a bound passes: a quarter of the previous commit's duration, at
//! most [`MAX_FOLLOWER_WAIT`]. A lone caller (groups of one) never waits, nor
//! does a full group.
//!
//! Failure rules, so one bad operation never fails or half-applies others:
//!
//! - An operation whose own logic fails (for example it meets a corrupt record)
//!   gets its error. The transaction, which may hold part of that operation's
//!   writes, is aborted and the rest of the group runs again in a fresh
//!   transaction without it. Operations are deterministic functions of their
//!   input and the committed state, so the rerun is exactly what would have
//!   happened had the failed operation never been queued.
//! - A failed commit (I/O error, disk full) fails every operation of the
//!   group with a copy of the error; none of them is applied.
//! - A panic inside redb (only possible on a damaged file) fails the group
//!   and closes the writer: later writes return an error until the store is
//!   reopened ("fail closed"). Reads keep working.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Database, WriteTransaction};
use wa_core::store::{StoreError, StoreResult};

use crate::error;

/// The most operations one transaction gathers.
pub(crate) const MAX_GROUP: usize = 512;

/// Queue capacity; a full queue makes writers wait (backpressure).
const QUEUE: usize = 4096;

/// The longest the writer waits for followers before it starts a transaction
/// (see the module documentation).
const MAX_FOLLOWER_WAIT: Duration = Duration::from_millis(1);

/// The wait for followers is at most the previous commit's duration divided
/// by this.
const FOLLOWER_WAIT_SHARE: u32 = 4;

/// A queued operation with its reply channel, type-erased.
trait Job: Send {
    /// Runs the operation inside `txn`; `false` when it failed.
    fn run(&mut self, txn: &WriteTransaction) -> bool;
    /// Sends the result of the last run to the caller.
    fn finish(self: Box<Self>);
    /// Sends `err` to the caller instead.
    fn fail(self: Box<Self>, err: StoreError);
}

struct Op<T, F> {
    f: F,
    out: Option<StoreResult<T>>,
    reply: async_channel::Sender<StoreResult<T>>,
}

impl<T, F> Job for Op<T, F>
where
    T: Send,
    F: FnMut(&WriteTransaction) -> StoreResult<T> + Send,
{
    fn run(&mut self, txn: &WriteTransaction) -> bool {
        let out = (self.f)(txn);
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn finish(self: Box<Self>) {
        let out = self.out.unwrap_or_else(|| Err(error::writer_gone()));
        // The caller may have stopped waiting; nothing to do then.
        let _ = self.reply.try_send(out);
    }

    fn fail(self: Box<Self>, err: StoreError) {
        let _ = self.reply.try_send(Err(err));
    }
}

/// `f` as a queued operation, and the channel its result comes back on.
fn job<T, F>(f: F) -> (Box<dyn Job>, async_channel::Receiver<StoreResult<T>>)
where
    T: Send + 'static,
    F: FnMut(&WriteTransaction) -> StoreResult<T> + Send + 'static,
{
    let (reply, answer) = async_channel::bounded(1);
    let op = Box::new(Op {
        f,
        out: None,
        reply,
    });
    (op, answer)
}

/// The handle on the writer thread. Dropping it lets the thread finish every
/// queued operation, then joins it.
pub(crate) struct Writer {
    queue: async_channel::Sender<Box<dyn Job>>,
    closed: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &self.queue.len())
            .field("failed_closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl Writer {
    /// Starts the writer thread on `db`. `durable` selects
    /// `redb::Durability::Immediate` (else `None`) for every commit.
    pub(crate) fn spawn(db: Arc<Database>, durable: bool) -> StoreResult<Self> {
        let (tx, rx) = async_channel::bounded::<Box<dyn Job>>(QUEUE);
        let closed = Arc::new(AtomicBool::new(false));
        let thread_closed = Arc::clone(&closed);
        let thread = std::thread::Builder::new()
            .name("wa-store-redb-writer".into())
            .spawn(move || run(&db, durable, &rx, &thread_closed))
            .map_err(StoreError::Io)?;
        Ok(Self {
            queue: tx,
            closed,
            thread: Some(thread),
        })
    }

    /// Queues `f` and waits for its result. `Ok` means the transaction that
    /// ran it committed (durably, unless the store opted out).
    ///
    /// If the returned future is dropped after the operation was queued, the
    /// operation still runs.
    pub(crate) async fn submit<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    {
        let (op, answer) = job(f);
        self.queue
            .send(op)
            .await
            .map_err(|_| error::writer_gone())?;
        answer.recv().await.map_err(|_| error::writer_gone())?
    }
}

impl Writer {
    /// [`Writer::submit`] for a caller outside any executor: blocks the
    /// calling thread until the transaction that ran `f` committed or failed.
    #[cfg(feature = "import-whatsapp-rust")]
    pub(crate) fn submit_blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    {
        let (op, answer) = job(f);
        self.queue
            .send_blocking(op)
            .map_err(|_| error::writer_gone())?;
        answer.recv_blocking().map_err(|_| error::writer_gone())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue.close();
        if let Some(thread) = self.thread.take() {
            // The thread catches engine panics itself; a join error would be
            // a bug in this module, and there is nobody left to report to.
            let _ = thread.join();
        }
    }
}

fn failed_closed() -> StoreError {
    StoreError::backend(
        "the store stopped writing after a storage engine failure; reopen it (reads still work)",
    )
}

/// The previous group, as far as waiting for followers is concerned.
#[derive(Clone, Copy, Debug, Default)]
struct LastGroup {
    /// Operations it held.
    ops: usize,
    /// How long its transaction took, from `begin_write` to the replies.
    took: Duration,
    /// When it ended; `None` before the first group.
    ended: Option<Instant>,
}

/// How long to wait for followers once `queued` operations are gathered, the
/// first of which arrived `idle` after the previous group ended; zero for no
/// wait.
fn follower_wait(last: &LastGroup, queued: usize, idle: Duration) -> Duration {
    if last.ops <= 1 || queued >= last.ops.min(MAX_GROUP) || idle > last.took {
        return Duration::ZERO;
    }
    (last.took / FOLLOWER_WAIT_SHARE).min(MAX_FOLLOWER_WAIT)
}

/// Wakes the writer thread, parked in [`recv_until`], when an operation is
/// queued.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The next queued operation, if one comes before `deadline` (and the queue
/// is not closed). `waker` must unpark the calling thread.
fn recv_until(
    rx: &async_channel::Receiver<Box<dyn Job>>,
    deadline: Instant,
    waker: &Waker,
) -> Option<Box<dyn Job>> {
    let mut cx = Context::from_waker(waker);
    let mut recv = std::pin::pin!(rx.recv());
    loop {
        if let Poll::Ready(job) = recv.as_mut().poll(&mut cx) {
            return job.ok();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        // Returns when woken, when `left` has passed, or spuriously.
        std::thread::park_timeout(left);
    }
}

/// Moves every queued operation into `group`, up to [`MAX_GROUP`].
fn drain_queue(rx: &async_channel::Receiver<Box<dyn Job>>, group: &mut Vec<Box<dyn Job>>) {
    while group.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
}

/// The writer thread's loop.
fn run(
    db: &Database,
    durable: bool,
    rx: &async_channel::Receiver<Box<dyn Job>>,
    closed: &AtomicBool,
) {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut last = LastGroup::default();
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = rx.recv_blocking() {
        let started = Instant::now();
        group.push(first);
        drain_queue(rx, &mut group);
        if closed.load(Ordering::Acquire) {
            for job in group.drain(..) {
                job.fail(failed_closed());
            }
            continue;
        }
        let idle = last
            .ended
            .map_or(Duration::MAX, |t| started.saturating_duration_since(t));
        let wait = follower_wait(&last, group.len(), idle);
        if !wait.is_zero() {
            let deadline = started + wait;
            let want = last.ops.min(MAX_GROUP);
            while group.len() < want {
                match recv_until(rx, deadline, &waker) {
                    Some(job) => {
                        group.push(job);
                        drain_queue(rx, &mut group);
                    }
                    None => break,
                }
            }
        }
        let ops = group.len();
        let began = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit_group(db, durable, &mut group);
        }));
        if let Err(payload) = outcome {
            closed.store(true, Ordering::Release);
            let err = error::engine_panic(payload.as_ref());
            tracing::error!(error = %err, "redb panicked in the writer; store failed closed");
            for job in group.drain(..) {
                job.fail(error::duplicate(&err));
            }
        }
        let ended = Instant::now();
        last = LastGroup {
            ops,
            took: ended - began,
            ended: Some(ended),
        };
    }
    if !durable && !closed.load(Ordering::Acquire) {
        // Make the non-durable commits durable at a clean shutdown.
        let flushed = db
            .begin_write()
            .map_err(error::transaction)
            .and_then(|txn| txn.commit().map_err(|e| error::commit(&e)));
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "final durable commit failed");
        }
    }
}

/// Runs `group` in one transaction and completes every job, emptying `group`.
fn commit_group(db: &Database, durable: bool, group: &mut Vec<Box<dyn Job>>) {
    while !group.is_empty() {
        let mut txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                let err = error::transaction(e);
                for job in group.drain(..) {
                    job.fail(error::duplicate(&err));
                }
                return;
            }
        };
        if !durable && let Err(e) = txn.set_durability(redb::Durability::None) {
            let err = StoreError::backend(e);
            for job in group.drain(..) {
                job.fail(error::duplicate(&err));
            }
            return;
        }
        let failed = group.iter_mut().position(|job| !job.run(&txn));
        if let Some(i) = failed {
            if let Err(e) = txn.abort() {
                tracing::warn!(error = %e, "aborting a write transaction failed");
            }
            group.remove(i).finish();
            continue;
        }
        match txn.commit() {
            Ok(()) => {
                for job in group.drain(..) {
                    job.finish();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, ops = group.len(), "group commit failed");
                for job in group.drain(..) {
                    job.fail(error::commit(&e));
                }
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn last(ops: usize, took: Duration) -> LastGroup {
        LastGroup {
            ops,
            took,
            ended: Some(Instant::now()),
        }
    }

    #[test]
    fn a_lone_caller_never_waits() {
        // Before the first group, and after groups of one.
        assert_eq!(
            follower_wait(&LastGroup::default(), 1, Duration::MAX),
            Duration::ZERO
        );
        assert_eq!(
            follower_wait(&last(1, 5 * MS), 1, Duration::ZERO),
            Duration::ZERO
        );
        assert_eq!(
            follower_wait(&last(0, 5 * MS), 1, Duration::ZERO),
            Duration::ZERO
        );
    }

    #[test]
    fn no_wait_once_as_many_as_last_time_are_queued_or_the_group_is_full() {
        assert_eq!(
            follower_wait(&last(16, 4 * MS), 16, Duration::ZERO),
            Duration::ZERO
        );
        assert_eq!(
            follower_wait(&last(16, 4 * MS), 20, Duration::ZERO),
            Duration::ZERO
        );
        assert_eq!(
            follower_wait(&last(MAX_GROUP + 10, 4 * MS), MAX_GROUP, Duration::ZERO),
            Duration::ZERO
        );
    }

    #[test]
    fn no_wait_after_the_writer_was_idle_longer_than_the_last_commit() {
        assert_eq!(follower_wait(&last(16, 2 * MS), 3, 3 * MS), Duration::ZERO);
    }

    #[test]
    fn the_wait_is_a_share_of_the_last_commit_and_bounded() {
        assert_eq!(follower_wait(&last(16, 2 * MS), 3, Duration::ZERO), MS / 2);
        assert_eq!(follower_wait(&last(16, 40 * MS), 3, MS), MAX_FOLLOWER_WAIT);
        assert!(follower_wait(&last(2, Duration::from_secs(60)), 1, MS) <= MAX_FOLLOWER_WAIT);
    }

    struct Nop;

    impl Job for Nop {
        fn run(&mut self, _: &WriteTransaction) -> bool {
            true
        }
        fn finish(self: Box<Self>) {}
        fn fail(self: Box<Self>, _: StoreError) {}
    }

    /// `recv_until` is woken by a send from another thread (the deadline is
    /// far off: the test would hang, not fail, if the wake were lost) and
    /// returns `None` on a closed, empty queue and at a passed deadline.
    #[test]
    fn recv_until_wakes_on_a_send_and_stops_at_close_and_deadline() {
        let (tx, rx) = async_channel::bounded::<Box<dyn Job>>(4);
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let far = Instant::now() + Duration::from_secs(3600);
        let sender = std::thread::spawn({
            let tx = tx.clone();
            move || {
                std::thread::sleep(MS);
                tx.send_blocking(Box::new(Nop)).unwrap();
            }
        });
        assert!(recv_until(&rx, far, &waker).is_some());
        sender.join().unwrap();
        assert!(recv_until(&rx, Instant::now(), &waker).is_none());
        tx.close();
        assert!(recv_until(&rx, far, &waker).is_none());
    }
}
