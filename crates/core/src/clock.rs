//! Time as a handle passed in, so the pure modules never read a clock and
//! tests can control time where they need to.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Where the engine gets its time: the wall clock (what figures are measured
/// in) and a monotonic one (what spacing, back-off and timers are measured in).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;

    /// A monotonic instant; moves with [`now`](Clock::now) on a manual clock.
    fn instant(&self) -> Instant {
        Instant::now()
    }

    /// On a clock that moves only when told to: a future that completes the
    /// next time it is moved, so a sleeper on this clock's time can look
    /// again. `None` for a clock that moves by itself (sleep on the runtime).
    fn advanced(&self) -> Option<Advanced<'_>> {
        None
    }
}

/// Completes once the [`ManualClock`] it came from has been moved since.
#[derive(Debug)]
pub struct Advanced<'a> {
    clock: &'a ManualClock,
    seen: u64,
}

impl std::future::Future for Advanced<'_> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut m = self.clock.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.generation != self.seen {
            return std::task::Poll::Ready(());
        }
        m.waiting.push(cx.waker().clone());
        std::task::Poll::Pending
    }
}

/// The real clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests): its wall time and its
/// monotonic instant move together, forward only.
#[derive(Debug)]
pub struct ManualClock(Mutex<Manual>);

#[derive(Debug)]
struct Manual {
    at: DateTime<Utc>,
    start: Instant,
    moved: Duration,
    /// Counts the moves; sleepers wait for it to change.
    generation: u64,
    waiting: Vec<std::task::Waker>,
}

impl Manual {
    fn wake_sleepers(&mut self) {
        self.generation += 1;
        for w in self.waiting.drain(..) {
            w.wake();
        }
    }
}

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(Manual {
            at,
            start: Instant::now(),
            moved: Duration::ZERO,
            generation: 0,
            waiting: Vec::new(),
        }))
    }

    /// Sets the wall time; the monotonic instant moves by as much when it is later.
    pub fn set(&self, at: DateTime<Utc>) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let later = (at - m.at).to_std().unwrap_or(Duration::ZERO);
        m.moved += later;
        m.at = at;
        m.wake_sleepers();
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.at += by;
        m.moved += by.to_std().unwrap_or(Duration::ZERO);
        m.wake_sleepers();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).at
    }

    fn instant(&self) -> Instant {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.start + m.moved
    }

    fn advanced(&self) -> Option<Advanced<'_>> {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner()).generation;
        Some(Advanced { clock: self, seen })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_its_wall_time_and_its_instant_together() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-04T09:00:00Z").unwrap().with_timezone(&Utc);
        let c = ManualClock::new(t0);
        let i0 = c.instant();
        c.advance(chrono::Duration::seconds(90));
        assert_eq!(c.now() - t0, chrono::Duration::seconds(90));
        assert_eq!(c.instant() - i0, Duration::from_secs(90));
        c.set(t0 + chrono::Duration::seconds(100));
        assert_eq!(c.instant() - i0, Duration::from_secs(100));
        // Setting it back moves the wall time only: a monotonic clock never goes back.
        c.set(t0);
        assert_eq!((c.now(), c.instant() - i0), (t0, Duration::from_secs(100)));
    }

    #[test]
    fn a_sleeper_on_a_manual_clock_wakes_when_the_clock_moves_and_not_before() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let c = ManualClock::new(DateTime::parse_from_rfc3339("2026-12-04T09:00:00Z").unwrap().with_timezone(&Utc));
        let mut moved = std::pin::pin!(c.advanced().expect("a manual clock says when it moves"));
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(moved.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(moved.as_mut().poll(&mut cx), Poll::Pending, "nothing moved it");
        c.advance(chrono::Duration::seconds(1));
        assert_eq!(moved.as_mut().poll(&mut cx), Poll::Ready(()));
        assert!(SystemClock.advanced().is_none(), "the real clock moves by itself");
    }
}
