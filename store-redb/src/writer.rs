//! The single writer thread and group commit.
//!
//! Every write of a store becomes an *operation*: a closure that does its
//! work inside a redb write transaction. Callers queue operations on a
//! channel and await a one-shot reply. The writer thread takes the first
//! queued operation, then every other one already waiting (up to
//! [`MAX_GROUP`]), runs them one after another inside **one** write
//! transaction and commits it once: one fsync for the whole group.
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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use redb::{Database, WriteTransaction};
use wa_core::store::{StoreError, StoreResult};

use crate::error;

/// The most operations one transaction gathers.
pub(crate) const MAX_GROUP: usize = 512;

/// Queue capacity; a full queue makes writers wait (backpressure).
const QUEUE: usize = 4096;

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
        let (reply, answer) = async_channel::bounded(1);
        let op: Box<dyn Job> = Box::new(Op {
            f,
            out: None,
            reply,
        });
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
        let (reply, answer) = async_channel::bounded(1);
        let op: Box<dyn Job> = Box::new(Op {
            f,
            out: None,
            reply,
        });
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

/// The writer thread's loop.
fn run(
    db: &Database,
    durable: bool,
    rx: &async_channel::Receiver<Box<dyn Job>>,
    closed: &AtomicBool,
) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = rx.recv_blocking() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if closed.load(Ordering::Acquire) {
            for job in group.drain(..) {
                job.fail(failed_closed());
            }
            continue;
        }
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
