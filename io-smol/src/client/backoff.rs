//! [`ReconnectPolicy`]: when to connect again after a connection ends.

use std::time::Duration;

use rand_core::Rng;

/// How the client waits between connection attempts: capped exponential
/// backoff with jitter.
///
/// The `n`-th consecutive attempt without a login (counting from 1) waits a
/// delay drawn uniformly from `[d/2, d]`, where
/// `d = min(initial_delay · 2^(n−1), max_delay)` ("equal jitter": never less
/// than half the step, so a crowd of clients spreads out without hammering
/// the server straight away). A rate-limited stream (`<stream:error code="429">`)
/// doubles the step once more. A successful login resets the count; the
/// restart that follows pairing (`515`) reconnects at once.
///
/// ```
/// use std::time::Duration;
/// use wa_io_smol::client::ReconnectPolicy;
///
/// let policy = ReconnectPolicy::default();
/// assert_eq!(policy.step(1), Duration::from_secs(1));
/// assert_eq!(policy.step(4), Duration::from_secs(8));
/// assert_eq!(policy.step(100), Duration::from_secs(60)); // capped
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// The step before the first retry (default 1 s).
    pub initial_delay: Duration,
    /// The largest step (default 60 s).
    pub max_delay: Duration,
    /// Stop after this many consecutive failed attempts (a failed transport
    /// connect, or a connection that ended before logging in), reporting
    /// [`StopReason::GaveUp`](super::StopReason::GaveUp). `None` (the default)
    /// retries for ever.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// The defaults: 1 s doubling up to 60 s, retrying for ever.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ReconnectPolicy::initial_delay`].
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets [`ReconnectPolicy::max_delay`].
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets [`ReconnectPolicy::max_attempts`].
    pub fn with_max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The step `d` for the `attempt`-th consecutive attempt (1-based; 0 is
    /// treated as 1), before jitter.
    pub fn step(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// The delay before the `attempt`-th attempt: uniform in `[d/2, d]` with
    /// `d` from [`step`](Self::step) (doubled once when `rate_limited`, still
    /// capped), drawn from `rng`.
    pub fn delay(&self, attempt: u32, rate_limited: bool, rng: &mut impl Rng) -> Duration {
        let mut step = self.step(attempt);
        if rate_limited {
            step = step.saturating_mul(2).min(self.max_delay.max(step));
        }
        let half = step / 2;
        let span = u64::try_from((step - half).as_micros()).unwrap_or(u64::MAX);
        let jitter = match span.checked_add(1) {
            Some(n) => rng.next_u64() % n,
            None => rng.next_u64(),
        };
        half.saturating_add(Duration::from_micros(jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn steps_double_and_cap() {
        let p = ReconnectPolicy::new()
            .with_initial_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2));
        let steps: Vec<_> = (0..8).map(|n| p.step(n).as_millis()).collect();
        assert_eq!(steps, [100, 100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(p.step(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn jitter_stays_within_half_and_full_step_and_varies() {
        let p = ReconnectPolicy::default();
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let mut seen = std::collections::BTreeSet::new();
        for attempt in 1..=12 {
            for _ in 0..50 {
                let d = p.delay(attempt, false, &mut rng);
                let step = p.step(attempt);
                assert!(
                    d >= step / 2 && d <= step,
                    "{d:?} outside [{:?}, {step:?}]",
                    step / 2
                );
                seen.insert(d);
            }
        }
        assert!(seen.len() > 500, "jitter should spread the delays");
    }

    #[test]
    fn rate_limited_doubles_the_step_but_keeps_the_cap() {
        let p = ReconnectPolicy::default();
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        for _ in 0..100 {
            let d = p.delay(1, true, &mut rng);
            assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(2));
            let d = p.delay(30, true, &mut rng);
            assert!(d >= Duration::from_secs(30) && d <= Duration::from_secs(60));
        }
    }

    #[test]
    fn extreme_settings_do_not_panic() {
        let p = ReconnectPolicy::new()
            .with_initial_delay(Duration::MAX)
            .with_max_delay(Duration::MAX);
        let mut rng = ChaCha20Rng::from_seed([2; 32]);
        let d = p.delay(u32::MAX, true, &mut rng);
        assert!(d >= Duration::MAX / 2);
        let zero = ReconnectPolicy::new()
            .with_initial_delay(Duration::ZERO)
            .with_max_delay(Duration::ZERO);
        assert_eq!(zero.delay(5, true, &mut rng), Duration::ZERO);
    }
}
