//! Time as the core sees it: a monotonic [`Instant`] that the caller supplies
//! (the core never reads a clock).

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point on the caller's monotonic clock: the time elapsed since an origin the
/// caller picks (the moment its driver started, or zero in a test).
///
/// Why not `std::time::Instant`: wa-core never reads a clock, and a
/// `std::time::Instant` can only be made by reading one, so tests and fuzzers
/// could not build virtual time with it. This type is plain data: tests start
/// at [`Instant::ZERO`] and add durations; a driver converts its OS readings with
/// [`Instant::from_std`] against an origin it took once, and turns a deadline
/// back into an OS instant with [`Instant::to_std`].
///
/// Arithmetic saturates: adding to the far future stays at the far future,
/// subtracting a later instant gives zero. Nothing here panics.
///
/// ```
/// use std::time::Duration;
/// use wa_core::time::Instant;
///
/// let t0 = Instant::ZERO;
/// let t1 = t0 + Duration::from_secs(20);
/// assert_eq!(t1 - t0, Duration::from_secs(20));
/// assert_eq!(t0 - t1, Duration::ZERO); // saturates, never panics
///
/// // In a driver, which may read the OS clock:
/// let origin = std::time::Instant::now();
/// let now = Instant::from_std(origin, std::time::Instant::now());
/// assert!(now.to_std(origin).is_some());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(Duration);

impl Instant {
    /// The origin of the clock.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `since_origin` after the origin.
    pub const fn from_origin(since_origin: Duration) -> Instant {
        Instant(since_origin)
    }

    /// The time from the origin to this instant.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// Converts an OS reading: `now - origin`, or [`Instant::ZERO`] if `now` is
    /// before `origin`.
    pub fn from_std(origin: std::time::Instant, now: std::time::Instant) -> Instant {
        Instant(now.saturating_duration_since(origin))
    }

    /// The OS instant this instant stands for, given the same origin as
    /// [`Instant::from_std`]; `None` if it does not fit the OS type.
    pub fn to_std(self, origin: std::time::Instant) -> Option<std::time::Instant> {
        origin.checked_add(self.0)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + duration`, or `None` on overflow.
    pub fn checked_add(self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(duration).map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturating: the result is at most `Duration::MAX` after the origin.
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturating: an earlier `self` gives zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({:?})", self.0)
    }
}
