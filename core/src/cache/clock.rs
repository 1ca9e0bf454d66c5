//! The time source for TTLs.
//!
//! wa-core never reads the system clock, so a [`TypedCache`](super::TypedCache)
//! that expires entries is handed a [`Clock`]. The driver supplies one backed by
//! the OS monotonic clock; tests use [`ManualClock`] and move time by hand.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// A monotonic time source: how much time has passed since the clock's own origin.
///
/// The origin is arbitrary (the instant a driver started, zero in a test); only
/// differences between readings matter. Readings should never go backwards; if
/// one does, the cache treats the entries as younger, never as a reason to panic.
///
/// Any `Fn() -> Duration + Send + Sync` closure is a `Clock`, which is how a
/// driver plugs in the OS clock (this crate never does):
///
/// ```
/// use std::sync::Arc;
/// use std::time::Instant;
/// use wa_core::cache::Clock;
///
/// // In the driver crate, which may read the OS clock:
/// let origin = Instant::now();
/// let clock: Arc<dyn Clock> = Arc::new(move || origin.elapsed());
/// let t0 = clock.now();
/// assert!(clock.now() >= t0);
/// ```
pub trait Clock: Send + Sync {
    /// The time elapsed since this clock's origin.
    fn now(&self) -> Duration;
}

impl<F> Clock for F
where
    F: Fn() -> Duration + Send + Sync,
{
    fn now(&self) -> Duration {
        self()
    }
}

/// A [`Clock`] that only moves when told to: deterministic time for tests and
/// simulations.
///
/// It starts at zero. Share it through an `Arc`: keep one handle to advance
/// time and give the cache an `Arc<dyn Clock>` clone of it.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use wa_core::cache::{Clock, ManualClock};
///
/// let clock = Arc::new(ManualClock::new());
/// let for_cache: Arc<dyn Clock> = clock.clone();
/// assert_eq!(for_cache.now(), Duration::ZERO);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(for_cache.now(), Duration::from_secs(90));
/// ```
#[derive(Default)]
pub struct ManualClock {
    now: Mutex<Duration>,
}

impl ManualClock {
    /// A clock reading zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock reading `start`.
    pub fn starting_at(start: Duration) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by` (saturating at `Duration::MAX`).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = now.saturating_add(by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}
