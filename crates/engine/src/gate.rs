//! The rate gate of one channel: the least time between two calls, and the
//! back-off after failures. Time comes in as an argument (the engine's
//! clock), and [`Gate::wait`] sleeps on that clock, so it is tested on a
//! manual clock.

use std::time::{Duration, Instant};

use crate::channel::ChannelError;
use crate::clock::Clock;

/// The longest back-off after failures.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Spacing and back-off for one channel's calls.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    pub(crate) last_call: Option<Instant>,
    pub(crate) backoff_until: Option<Instant>,
    pub(crate) failures: u32,
}

impl Gate {
    /// Whether a back-off is still running at `now`.
    pub(crate) fn blocked(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|t| now < t)
    }

    /// How long to wait at `now` before the next call, at least `gap` after the last one.
    pub(crate) fn wait_for(&self, gap: Duration, now: Instant) -> Duration {
        self.last_call.map_or(Duration::ZERO, |last| (last + gap).saturating_duration_since(now))
    }

    /// Waits until a call may go, at least `gap` after the last one, and
    /// takes the turn (on `clock`'s time).
    pub(crate) async fn wait(&mut self, gap: Duration, clock: &dyn Clock) {
        let wait = self.wait_for(gap, clock.instant());
        if !wait.is_zero() {
            crate::sleep(clock, wait).await;
        }
        self.last_call = Some(clock.instant());
    }

    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
        self.backoff_until = None;
    }

    /// Backs off after `e` at `now`: as long as the vendor asked, else exponentially for a
    /// transient failure or a refused login; not at all for anything else.
    pub(crate) fn failed(&mut self, e: &ChannelError, now: Instant) {
        let wait = if let Some(ra) = e.retry_after() {
            Some(ra)
        } else if e.is_transient() || matches!(e, ChannelError::Auth { .. }) {
            self.failures = self.failures.saturating_add(1);
            Some(Duration::from_secs(1u64 << self.failures.min(8)).min(MAX_BACKOFF))
        } else {
            None
        };
        if let Some(w) = wait {
            self.backoff_until = Some(now + w.min(MAX_BACKOFF));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn clock() -> ManualClock {
        ManualClock::new(chrono::DateTime::parse_from_rfc3339("2026-12-04T09:00:00Z").unwrap().to_utc())
    }

    fn unreachable() -> ChannelError {
        ChannelError::Unreachable { host: "h".into(), cause: "refused".into() }
    }

    #[test]
    fn transient_failures_back_off_exponentially_up_to_the_cap_and_a_success_clears_it() {
        let c = clock();
        let mut g = Gate::default();
        for (n, expect) in [(1, 2), (2, 4), (3, 8)] {
            g.failed(&unreachable(), c.instant());
            assert_eq!(g.failures, n);
            assert!(g.blocked(c.instant()));
            c.advance(chrono::Duration::seconds(expect - 1));
            assert!(g.blocked(c.instant()), "still backing off {expect} s after failure {n}");
            c.advance(chrono::Duration::seconds(1));
            assert!(!g.blocked(c.instant()), "free {expect} s after failure {n}");
        }
        for _ in 0..20 {
            g.failed(&unreachable(), c.instant());
        }
        c.advance(chrono::Duration::seconds(255));
        assert!(g.blocked(c.instant()));
        c.advance(chrono::Duration::seconds(1));
        assert!(!g.blocked(c.instant()), "the doubling stops at 2^8 s");
        // However long the vendor asks for, never more than the cap.
        g.failed(&ChannelError::RateLimited { retry_after: Some(Duration::from_secs(3600)) }, c.instant());
        c.advance(chrono::Duration::seconds(299));
        assert!(g.blocked(c.instant()));
        c.advance(chrono::Duration::seconds(1));
        assert!(!g.blocked(c.instant()), "never more than {MAX_BACKOFF:?}");
        g.failed(&unreachable(), c.instant());
        g.succeeded();
        assert!(!g.blocked(c.instant()) && g.failures == 0);
    }

    #[test]
    fn the_vendors_retry_after_is_honoured_and_a_rejection_does_not_back_off() {
        let c = clock();
        let mut g = Gate::default();
        g.failed(&ChannelError::RateLimited { retry_after: Some(Duration::from_secs(30)) }, c.instant());
        assert_eq!(g.failures, 0, "a rate limit the vendor timed is not a failure of ours");
        c.advance(chrono::Duration::seconds(29));
        assert!(g.blocked(c.instant()));
        c.advance(chrono::Duration::seconds(1));
        assert!(!g.blocked(c.instant()));
        g.failed(&ChannelError::Rejected { status: 422, message: "bad field".into() }, c.instant());
        assert!(!g.blocked(c.instant()));
    }

    #[tokio::test]
    async fn calls_are_spaced_by_the_gap_on_the_clocks_time() {
        let c = clock();
        let mut g = Gate::default();
        g.wait(Duration::from_secs(5), &c).await;
        assert_eq!(g.wait_for(Duration::from_secs(5), c.instant()), Duration::from_secs(5));
        c.advance(chrono::Duration::seconds(3));
        assert_eq!(g.wait_for(Duration::from_secs(5), c.instant()), Duration::from_secs(2));
        c.advance(chrono::Duration::seconds(2));
        assert_eq!(g.wait_for(Duration::from_secs(5), c.instant()), Duration::ZERO);
        g.wait(Duration::from_secs(5), &c).await;
        assert_eq!(g.last_call, Some(c.instant()), "the turn is taken at the clock's instant");
    }
}
