//! The async runtime contract.
//!
//! The library never names an executor. A driver is given a [`Runtime`] and uses
//! it to spawn tasks, sleep and run blocking work; `wa-io-smol` ships one for smol,
//! and any executor (async-std, a GUI loop, a test harness) can provide its own.
//!
//! Spawned tasks are owned through an [`AbortHandle`]: dropping it cancels the
//! task, [`AbortHandle::detach`] lets it run to completion. Executors whose tasks
//! cannot be cancelled from outside can wrap the future with [`abortable`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A boxed, sendable future, the currency of [`Runtime`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the library needs from an async executor.
///
/// # Example: a runtime on smol
///
/// ```
/// use std::time::Duration;
/// use wa_core::runtime::{abortable, AbortHandle, BoxFuture, Runtime};
///
/// struct Smol;
///
/// impl Runtime for Smol {
///     fn spawn(&self, future: BoxFuture<'static, ()>) -> AbortHandle {
///         let (future, handle) = abortable(future);
///         smol::spawn(async move { let _ = future.await; }).detach();
///         handle
///     }
///     fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
///         Box::pin(async move { smol::Timer::after(duration).await; })
///     }
///     fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send + 'static>) -> BoxFuture<'static, ()> {
///         Box::pin(smol::unblock(f))
///     }
///     fn yield_now(&self) -> Option<BoxFuture<'static, ()>> {
///         Some(Box::pin(smol::future::yield_now()))
///     }
/// }
///
/// smol::block_on(async {
///     let rt = Smol;
///     let (tx, rx) = async_channel::bounded(1);
///     rt.spawn(Box::pin(async move { tx.send(7).await.unwrap(); })).detach();
///     assert_eq!(rx.recv().await.unwrap(), 7);
/// });
/// ```
pub trait Runtime: Send + Sync + 'static {
    /// Starts `future` in the background. Dropping the returned handle cancels it.
    fn spawn(&self, future: BoxFuture<'static, ()>) -> AbortHandle;

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Runs `f` where blocking is allowed (a thread pool) and completes when it has run.
    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send + 'static>) -> BoxFuture<'static, ()>;

    /// A future that yields once to the executor, or `None` when yielding is
    /// pointless on this runtime. Tight loops call it every
    /// [`Runtime::yield_frequency`] items.
    fn yield_now(&self) -> Option<BoxFuture<'static, ()>>;

    /// How many items a tight loop processes between yields. Defaults to 10;
    /// single-threaded executors should return 1.
    fn yield_frequency(&self) -> u32 {
        10
    }
}

/// Ownership of a spawned task: dropping it cancels the task.
///
/// [`AbortHandle::abort`] cancels now, [`AbortHandle::detach`] gives the task
/// up to run to completion, [`AbortHandle::noop`] is a handle that owns nothing.
#[must_use = "dropping an AbortHandle aborts its task; call .detach() to let it run"]
pub struct AbortHandle {
    abort: Mutex<Option<Box<dyn FnOnce() + Send + 'static>>>,
}

impl AbortHandle {
    /// A handle that calls `abort` (at most once) to cancel its task.
    pub fn new(abort: impl FnOnce() + Send + 'static) -> Self {
        Self {
            abort: Mutex::new(Some(Box::new(abort))),
        }
    }

    /// A handle that owns no task: aborting or dropping it does nothing.
    pub fn noop() -> Self {
        Self {
            abort: Mutex::new(None),
        }
    }

    fn take(&self) -> Option<Box<dyn FnOnce() + Send + 'static>> {
        // A poisoned lock only means another thread panicked mid-abort; the
        // Option inside is still valid.
        self.abort.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Cancels the task now. Later calls, and the drop, do nothing.
    pub fn abort(&self) {
        if let Some(f) = self.take() {
            f();
        }
    }

    /// Lets the task run to completion; the handle no longer cancels it.
    pub fn detach(self) {
        drop(self.take());
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let armed = self.abort.lock().map(|g| g.is_some()).unwrap_or(false);
        f.debug_struct("AbortHandle")
            .field("armed", &armed)
            .finish()
    }
}

/// The task behind an [`AbortHandle`] was aborted before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("task aborted")]
pub struct Aborted;

#[derive(Default)]
struct AbortState {
    aborted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// A future wrapped by [`abortable`]: it resolves to `Err(Aborted)` (dropping the
/// inner future) as soon as its handle aborts.
pub struct Abortable<F> {
    inner: Pin<Box<F>>,
    state: Arc<AbortState>,
}

impl<F> fmt::Debug for Abortable<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Abortable")
            .field("aborted", &self.state.aborted.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Abortable<F> {
    type Output = Result<F::Output, Aborted>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.state.aborted.load(Ordering::Acquire) {
            return Poll::Ready(Err(Aborted));
        }
        if let Poll::Ready(v) = self.inner.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        *self.state.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        // Re-check after storing the waker so an abort racing this poll is not lost.
        if self.state.aborted.load(Ordering::Acquire) {
            return Poll::Ready(Err(Aborted));
        }
        Poll::Pending
    }
}

/// Wraps `future` so that the returned [`AbortHandle`] can cancel it on any
/// executor: after `abort()` (or dropping the handle) the wrapper resolves to
/// `Err(Aborted)` at its next poll and the inner future is dropped with it.
pub fn abortable<F: Future>(future: F) -> (Abortable<F>, AbortHandle) {
    let state = Arc::new(AbortState::default());
    let remote = Arc::clone(&state);
    let handle = AbortHandle::new(move || {
        remote.aborted.store(true, Ordering::Release);
        if let Some(w) = remote
            .waker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            w.wake();
        }
    });
    (
        Abortable {
            inner: Box::pin(future),
            state,
        },
        handle,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting() -> (AbortHandle, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&n);
        (
            AbortHandle::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
            }),
            n,
        )
    }

    #[test]
    fn drop_aborts() {
        let (h, n) = counting();
        drop(h);
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn abort_runs_once_even_with_a_later_drop() {
        let (h, n) = counting();
        h.abort();
        h.abort();
        drop(h);
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn detach_never_aborts() {
        let (h, n) = counting();
        h.detach();
        assert_eq!(n.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn noop_is_inert() {
        let h = AbortHandle::noop();
        h.abort();
        assert!(format!("{h:?}").contains("armed: false"));
        drop(h);
    }

    /// A drop guard that reports when the future holding it is dropped.
    struct Dropped(Option<async_channel::Sender<()>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.try_send(());
            }
        }
    }

    struct TestRuntime;
    impl Runtime for TestRuntime {
        fn spawn(&self, future: BoxFuture<'static, ()>) -> AbortHandle {
            let (f, h) = abortable(future);
            smol::spawn(async move {
                let _ = f.await;
            })
            .detach();
            h
        }
        fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
            Box::pin(async move {
                smol::Timer::after(d).await;
            })
        }
        fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send + 'static>) -> BoxFuture<'static, ()> {
            Box::pin(smol::unblock(f))
        }
        fn yield_now(&self) -> Option<BoxFuture<'static, ()>> {
            Some(Box::pin(smol::future::yield_now()))
        }
    }

    /// Spawns a task parked forever; returns its handle and a channel that fires
    /// when the task's future is dropped.
    fn parked(rt: &TestRuntime) -> (AbortHandle, async_channel::Receiver<()>) {
        let (tx, rx) = async_channel::bounded(1);
        let guard = Dropped(Some(tx));
        let h = rt.spawn(Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }));
        (h, rx)
    }

    fn within<T>(f: impl Future<Output = T>) -> Option<T> {
        smol::block_on(futures_lite::future::or(async { Some(f.await) }, async {
            smol::Timer::after(Duration::from_secs(5)).await;
            None
        }))
    }

    #[test]
    fn a_spawned_task_is_cancelled_by_drop_and_by_abort() {
        let rt = TestRuntime;
        let (h, rx) = parked(&rt);
        drop(h);
        assert_eq!(within(rx.recv()), Some(Ok(())));

        let (h, rx) = parked(&rt);
        smol::block_on(smol::future::yield_now());
        h.abort();
        assert_eq!(within(rx.recv()), Some(Ok(())));
    }

    #[test]
    fn a_detached_task_runs_to_completion() {
        let rt = TestRuntime;
        let (tx, rx) = async_channel::bounded(1);
        let sleep = rt.sleep(Duration::from_millis(20));
        rt.spawn(Box::pin(async move {
            sleep.await;
            tx.send(42u8).await.unwrap();
        }))
        .detach();
        assert_eq!(within(rx.recv()), Some(Ok(42)));
    }

    #[test]
    fn spawn_blocking_runs_the_closure_and_defaults_hold() {
        let rt = TestRuntime;
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        within(rt.spawn_blocking(Box::new(move || r.store(true, Ordering::SeqCst)))).unwrap();
        assert!(ran.load(Ordering::SeqCst));
        assert_eq!(rt.yield_frequency(), 10);
        within(rt.yield_now().unwrap()).unwrap();
    }

    #[test]
    fn abortable_completes_normally_when_not_aborted() {
        let (f, h) = abortable(async { 5 });
        assert_eq!(smol::block_on(f), Ok(5));
        drop(h);
        let (f, h) = abortable(std::future::pending::<u8>());
        h.abort();
        assert_eq!(smol::block_on(f), Err(Aborted));
    }
}
