//! Rate budgets: how many API requests a vendor's channels may make, shared
//! by every channel (and every worker) that draws on the same limit, so that
//! together they never exceed it — whatever the number of probes.
//!
//! A request may go when the budget it draws on allows it:
//!
//! * the **vendor** budget when the vendor has `rate_limit_per_minute` (its
//!   plan's limit, for every channel of it together; vendors naming the same
//!   `rate_budget` share one, e.g. several vendors' SDK repositories read with
//!   our one GitHub token);
//! * otherwise the **platform** budget of the channel's kind, at the
//!   platform's documented default limit for the lowest paid plan (Zendesk
//!   200/min, GitHub 80 content requests/min, Slack tier 3 50/min …).
//!
//! Each budget keeps the instants of the requests of the last minute (never
//! more than its limit in any 60 s) and spaces requests evenly, with bursts
//! of at most two seconds' worth (so a look a webhook asks for goes at once). It adapts to
//! what the vendor says: a 429 blocks it for `Retry-After` (or a few seconds)
//! and lowers the rate by a quarter, recovered a tenth a minute without 429;
//! `X-RateLimit-Remaining`/`Reset` (and `RateLimit-*`, Zendesk's
//! `X-Rate-Limit-Remaining`, Freshdesk's, GitHub's, Intercom's, Feishu's
//! `x-ogw-ratelimit-*`) spread what remains over the time to the reset.
//!
//! Requests waiting for a budget take their turn in the order they came (a
//! line per budget, ordered by one process-wide ticket, so a request drawing
//! on two budgets never waits on one that waits on it): a channel polling
//! often cannot starve another channel of the same vendor that waits to open.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{StatusCode, header::HeaderMap};

use crate::ChannelKind;

/// The platform's documented default (lowest plan), requests per minute.
pub fn platform_default(kind: ChannelKind) -> Option<u32> {
    crate::platform(kind).rate_per_minute
}

/// Requests one poll of a ticket usually costs on the platform, before the
/// worker has measured its own: what `check` plans with.
pub fn requests_per_poll(kind: ChannelKind) -> f64 {
    crate::platform(kind).requests_per_poll
}

#[derive(Debug)]
struct State {
    /// The configured or documented limit, per minute.
    limit: u32,
    /// The rate in use (lowered after 429s), per minute.
    rate: f64,
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// The vendor's own word: no request before this, to spread what remains.
    not_before: Option<Instant>,
    last_429: Option<Instant>,
    last_recovery: Instant,
    /// Tickets of the requests waiting for this budget, first come first.
    line: BTreeSet<u64>,
}

/// One shared limit.
#[derive(Debug)]
pub struct Budget {
    pub name: String,
    state: Mutex<State>,
    /// Woken when a request leaves the line: the next one's turn.
    turn: tokio::sync::Notify,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Budget {
    pub fn new(name: &str, limit: u32) -> Budget {
        let limit = limit.max(1);
        Budget {
            name: name.to_string(),
            state: Mutex::new(State {
                limit,
                rate: f64::from(limit),
                sent: VecDeque::new(),
                blocked_until: None,
                not_before: None,
                last_429: None,
                last_recovery: Instant::now(),
                line: BTreeSet::new(),
            }),
            turn: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configured limit changed (a reload): keep the history, take the new limit.
    pub fn set_limit(&self, limit: u32) {
        let mut s = self.lock();
        let limit = limit.max(1);
        if s.limit != limit {
            s.rate = s.rate.min(f64::from(limit));
            if s.rate >= f64::from(s.limit) {
                s.rate = f64::from(limit);
            }
            s.limit = limit;
        }
    }

    /// The rate in use, per minute (for tests and logs).
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// How long to wait before a request may go; `Duration::ZERO` takes the slot.
    fn try_take(&self, now: Instant) -> Duration {
        let mut s = self.lock();
        while s.sent.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            s.sent.pop_front();
        }
        // Recover a tenth of the limit per quiet minute after a 429.
        if s.rate < f64::from(s.limit)
            && s.last_429.is_none_or(|t| now.duration_since(t) >= WINDOW)
            && now.duration_since(s.last_recovery) >= WINDOW
        {
            s.rate = (s.rate + f64::from(s.limit) / 10.0).min(f64::from(s.limit));
            s.last_recovery = now;
        }
        let mut wait = Duration::ZERO;
        if let Some(u) = s.blocked_until.filter(|u| *u > now) {
            wait = wait.max(u - now);
        }
        if let Some(u) = s.not_before.filter(|u| *u > now) {
            wait = wait.max(u - now);
        }
        // 2 % headroom: the vendor counts at its end, a moment later than we do.
        let allowed = ((s.rate * 0.98).floor() as usize).max(1);
        if s.sent.len() >= allowed
            && let Some(oldest) = s.sent.get(s.sent.len() - allowed)
        {
            wait = wait.max((*oldest + WINDOW).saturating_duration_since(now));
        }
        // Even spacing at the rate in use, allowing a short burst (two seconds'
        // worth of requests): a look a webhook asked for goes at once, and the
        // average over any `burst` requests stays within the rate.
        let gap = Duration::from_secs_f64(60.0 / (s.rate * 0.98).max(1.0));
        let burst = ((s.rate * 0.98 / 30.0).floor() as usize).max(1);
        if s.sent.len() >= burst
            && let Some(first) = s.sent.get(s.sent.len() - burst)
        {
            wait = wait.max((*first + gap * u32::try_from(burst).unwrap_or(1)).saturating_duration_since(now));
        }
        if wait.is_zero() {
            s.sent.push_back(now);
        }
        wait
    }

    /// Reads what the vendor said about its limit.
    pub fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        let now = Instant::now();
        let mut s = self.lock();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = crate::client::rate_limit_wait(headers, chrono::Utc::now())
                .unwrap_or(Duration::from_secs(5))
                .min(Duration::from_secs(300));
            s.blocked_until = Some(s.blocked_until.map_or(now + wait, |u| u.max(now + wait)));
            s.rate = (s.rate * 0.75).max(f64::from(s.limit) / 10.0).max(1.0);
            s.last_429 = Some(now);
            s.last_recovery = now;
            tracing::warn!(budget = %self.name, rate_per_min = s.rate, wait_secs = wait.as_secs_f32(), "rate limited: slowing down");
            return;
        }
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| headers.get(*n))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        let remaining = get(&[
            "x-ratelimit-remaining",
            "ratelimit-remaining",
            "x-rate-limit-remaining",
            "x-ogw-ratelimit-remaining",
        ]);
        if let Some(remaining) = remaining.filter(|r| r.is_finite() && *r >= 0.0) {
            let until_reset = reset_in(headers);
            match until_reset {
                Some(d) if remaining < 1.0 => s.not_before = Some(now + d),
                // Spread what remains over the time to the reset.
                Some(d) => s.not_before = Some(now + d.div_f64(remaining.max(1.0)).min(Duration::from_secs(60))),
                None if remaining < 1.0 => s.not_before = Some(now + Duration::from_secs(5)),
                None => {}
            }
        }
    }
}

/// Time to the reset a response announces, at most an hour.
fn reset_in(headers: &HeaderMap) -> Option<Duration> {
    let names = ["x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset", "x-ogw-ratelimit-reset"];
    crate::client::reset_in(headers, &names, chrono::Utc::now()).map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// Process-wide order of arrival at the budgets.
static TICKETS: AtomicU64 = AtomicU64::new(0);

/// A request's place in the line of each budget it draws on; leaving (taking
/// the slot, or being dropped — a cancelled call) lets the next one go.
struct Place<'a> {
    budgets: &'a [Arc<Budget>],
    ticket: u64,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        for b in self.budgets {
            b.lock().line.remove(&self.ticket);
            b.turn.notify_waiters();
        }
    }
}

/// Waits until every budget allows a request, then holds a slot in each.
/// Requests are served in the order they came: a request that finds others
/// waiting queues behind them.
pub async fn acquire(budgets: &[Arc<Budget>]) {
    if budgets.is_empty() {
        return;
    }
    let place = Place { budgets, ticket: TICKETS.fetch_add(1, Ordering::Relaxed) };
    for b in budgets {
        b.lock().line.insert(place.ticket);
    }
    loop {
        // Listen for the next turn before looking, so a turn given meanwhile is not missed.
        let turns: Vec<_> = budgets.iter().map(|b| b.turn.notified()).collect();
        let ahead = budgets.iter().position(|b| b.lock().line.first() != Some(&place.ticket));
        if let Some(i) = ahead {
            // Someone came earlier: wait for them to go (with a safety net against a lost wake-up).
            let mut turns = turns;
            let _ = tokio::time::timeout(Duration::from_secs(1), turns.swap_remove(i)).await;
            continue;
        }
        let now = Instant::now();
        let waits: Vec<Duration> = budgets.iter().map(|b| b.try_take(now)).collect();
        let wait = waits.iter().max().copied().unwrap_or_default();
        if wait.is_zero() {
            drop(place);
            return;
        }
        // One of them said wait: give back the slots the others gave.
        for (b, w) in budgets.iter().zip(&waits) {
            if w.is_zero() {
                b.give_back(now);
            }
        }
        tokio::time::sleep(wait).await;
    }
}

impl Budget {
    fn give_back(&self, at: Instant) {
        let mut s = self.lock();
        if let Some(i) = s.sent.iter().rposition(|t| *t == at) {
            s.sent.remove(i);
        }
    }
}

/// Whose budget a channel's requests draw on: the vendor's own, or one it
/// shares with other vendors under a name, with the vendor's limit if it set one.
#[derive(Clone, Copy, Debug)]
pub struct RateOwner<'a> {
    pub id: &'a str,
    pub rate_budget: Option<&'a str>,
    pub rate_limit_per_minute: Option<u32>,
}

/// Every budget of the process, by name; kept across reloads so a new
/// engine generation does not start with a fresh minute.
#[derive(Clone, Debug, Default)]
pub struct Budgets(Arc<Mutex<HashMap<String, Arc<Budget>>>>);

impl Budgets {
    fn get(&self, name: String, limit: u32) -> Arc<Budget> {
        let mut all = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = all.entry(name.clone()).or_insert_with(|| Arc::new(Budget::new(&name, limit)));
        b.set_limit(limit);
        b.clone()
    }

    /// The budgets the requests of a channel of `kind` at `vendor` draw on.
    pub fn for_channel(&self, vendor: &RateOwner<'_>, kind: ChannelKind) -> Vec<Arc<Budget>> {
        let owner = vendor.rate_budget.map_or_else(|| format!("vendor {}", vendor.id), str::to_string);
        // The vendor's own limit (the user knows their plan) replaces the defaults.
        if let Some(limit) = vendor.rate_limit_per_minute {
            return vec![self.get(owner, limit)];
        }
        platform_default(kind).map(|limit| self.get(format!("{owner} / {kind}"), limit)).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_limit_in_any_minute_and_evenly_spaced() {
        let b = Budget::new("t", 120);
        let start = Instant::now();
        let mut taken = Vec::new();
        let mut now = start;
        while now < start + Duration::from_secs(180) {
            if b.try_take(now).is_zero() {
                taken.push(now);
            }
            now += Duration::from_millis(50);
        }
        for (i, t) in taken.iter().enumerate() {
            let in_window = taken[i..].iter().take_while(|u| u.duration_since(*t) < WINDOW).count();
            assert!(in_window <= 117, "{in_window} requests in a minute");
        }
        assert!(taken.len() >= 300, "the budget is used: {}", taken.len());
        // Short bursts of at most 3 (two seconds' worth at 120/min), then even spacing:
        // any 4 requests in a row span at least 3 gaps.
        assert!(taken.windows(4).all(|w| w[3].duration_since(w[0]) >= Duration::from_millis(3 * 510)));
        assert!(taken.windows(2).any(|w| w[1].duration_since(w[0]) < Duration::from_millis(100)), "a burst is allowed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_take_their_turn_in_the_order_they_came() {
        // Eight busy callers keep the budget full; one that comes later goes
        // before any of them goes a third time (once ahead of it in the line,
        // once more if it had its slot but had not counted it yet), and a
        // cancelled wait frees its place.
        let b = Arc::new(Budget::new("t", 1200));
        let granted: Arc<Vec<AtomicU64>> = Arc::new((0..8).map(|_| AtomicU64::new(0)).collect());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut hogs = Vec::new();
        for i in 0..8 {
            let (b, granted, stop) = (b.clone(), granted.clone(), stop.clone());
            hogs.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    acquire(std::slice::from_ref(&b)).await;
                    granted[i].fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let counts = || granted.iter().map(|g| g.load(Ordering::Relaxed)).collect::<Vec<_>>();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cancelled = tokio::time::timeout(Duration::from_millis(1), acquire(std::slice::from_ref(&b))).await;
        assert!(cancelled.is_err(), "the budget is full");
        assert!(b.lock().line.len() <= 8, "the cancelled wait left the line");
        for _ in 0..6 {
            let before = counts();
            acquire(std::slice::from_ref(&b)).await;
            let went: Vec<u64> = counts().iter().zip(&before).map(|(a, b)| a - b).collect();
            assert!(went.iter().all(|n| *n <= 2), "callers went again and again while one waited: {went:?}");
        }
        stop.store(true, Ordering::Relaxed);
        for h in hogs {
            h.await.unwrap();
        }
        assert!(b.lock().line.is_empty());
    }

    #[test]
    fn a_429_blocks_for_its_retry_after_and_lowers_the_rate() {
        let b = Budget::new("t", 100);
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        b.observe(StatusCode::TOO_MANY_REQUESTS, &h);
        assert_eq!(b.rate(), 75.0);
        let w = b.try_take(Instant::now());
        assert!(w > Duration::from_secs(6) && w <= Duration::from_secs(7), "{w:?}");
        b.observe(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new());
        assert!((b.rate() - 56.25).abs() < 1e-9);
    }

    #[test]
    fn remaining_and_reset_headers_spread_what_is_left() {
        let b = Budget::new("t", 1000);
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", (chrono::Utc::now().timestamp() + 30).to_string().parse().unwrap());
        b.observe(StatusCode::OK, &h);
        let w = b.try_take(Instant::now());
        assert!(w > Duration::from_secs(28) && w <= Duration::from_secs(31), "{w:?}");
        let b = Budget::new("t", 1000);
        let mut h = HeaderMap::new();
        h.insert("ratelimit-remaining", "10".parse().unwrap());
        h.insert("ratelimit-reset", "20".parse().unwrap());
        b.observe(StatusCode::OK, &h);
        let w = b.try_take(Instant::now());
        assert!(w > Duration::from_millis(1900) && w <= Duration::from_secs(2), "{w:?}");
    }
}
