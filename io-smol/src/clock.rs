//! Where the client reads the time: [`Clock`], [`SystemClock`], and (feature
//! `test-server`) [`VirtualTime`], a clock and a [`Runtime`](wa_core::runtime::Runtime) whose time moves
//! only when a test says so.

use std::time::SystemTime;

#[cfg(feature = "test-server")]
pub use virtual_time::VirtualTime;

/// The client's source of time: a monotonic reading for deadlines and a wall
/// clock for certificate validity and the version cache. The driver reads
/// time only through it, so a test can substitute [`VirtualTime`].
pub trait Clock: Send + Sync + 'static {
    /// The current monotonic time.
    fn now(&self) -> std::time::Instant;

    /// The current wall-clock time.
    fn wall_clock(&self) -> SystemTime;
}

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }

    fn wall_clock(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[cfg(feature = "test-server")]
mod virtual_time {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::task::{Context, Poll, Waker};
    use std::time::{Duration, SystemTime};

    use wa_core::runtime::{AbortHandle, BoxFuture, Runtime};

    use super::Clock;
    use crate::SmolRuntime;

    /// How far a duration reaches past `base`, saturating.
    fn after(base: std::time::Instant, offset: Duration) -> std::time::Instant {
        base.checked_add(offset).unwrap_or(base)
    }

    #[derive(Default)]
    struct State {
        /// How far virtual time has moved since the start.
        elapsed: Duration,
        /// Sleepers to wake when time moves.
        wakers: Vec<Waker>,
    }

    /// A clock and a [`Runtime`] on virtual time: [`Runtime::sleep`] completes
    /// only once [`advance`](Self::advance) has moved the time past its
    /// deadline, and [`Clock::now`] is the start plus the time advanced.
    /// Tasks and blocking work run on smol as with [`SmolRuntime`].
    ///
    /// Give the same value to [`ClientBuilder::runtime`](crate::ClientBuilder::runtime)
    /// and [`ClientBuilder::clock`](crate::ClientBuilder::clock); then a test
    /// moves the client's timers (reconnect backoff, keepalive, IQ timeouts)
    /// by hand instead of waiting for them.
    #[derive(Clone)]
    pub struct VirtualTime {
        start: std::time::Instant,
        wall_start: SystemTime,
        state: Arc<Mutex<State>>,
    }

    impl VirtualTime {
        /// Virtual time starting now, wall clock included.
        pub fn new() -> VirtualTime {
            VirtualTime {
                start: std::time::Instant::now(),
                wall_start: SystemTime::now(),
                state: Arc::default(),
            }
        }

        /// How far the time has been advanced.
        pub fn elapsed(&self) -> Duration {
            self.lock().elapsed
        }

        /// Moves the time forward by `by` and wakes the sleepers whose
        /// deadline has come.
        pub fn advance(&self, by: Duration) {
            let wakers = {
                let mut state = self.lock();
                state.elapsed = state.elapsed.saturating_add(by);
                std::mem::take(&mut state.wakers)
            };
            for waker in wakers {
                waker.wake();
            }
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl Default for VirtualTime {
        fn default() -> Self {
            VirtualTime::new()
        }
    }

    impl std::fmt::Debug for VirtualTime {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("VirtualTime")
                .field("elapsed", &self.elapsed())
                .finish()
        }
    }

    impl Clock for VirtualTime {
        fn now(&self) -> std::time::Instant {
            after(self.start, self.elapsed())
        }

        fn wall_clock(&self) -> SystemTime {
            self.wall_start
                .checked_add(self.elapsed())
                .unwrap_or(self.wall_start)
        }
    }

    /// A sleep on virtual time.
    struct Sleep {
        deadline: Duration,
        state: Arc<Mutex<State>>,
    }

    impl Future for Sleep {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.elapsed >= self.deadline {
                return Poll::Ready(());
            }
            state.wakers.push(cx.waker().clone());
            Poll::Pending
        }
    }

    impl Runtime for VirtualTime {
        fn spawn(&self, future: BoxFuture<'static, ()>) -> AbortHandle {
            SmolRuntime.spawn(future)
        }

        fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
            let deadline = self.elapsed().saturating_add(duration);
            Box::pin(Sleep {
                deadline,
                state: Arc::clone(&self.state),
            })
        }

        fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send + 'static>) -> BoxFuture<'static, ()> {
            SmolRuntime.spawn_blocking(f)
        }

        fn yield_now(&self) -> Option<BoxFuture<'static, ()>> {
            SmolRuntime.yield_now()
        }
    }
}
