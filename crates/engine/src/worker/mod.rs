//! One worker per vendor channel: opens due probes, follows open ones, sends
//! follow-ups, expires and closes — one channel call at a time, so a vendor's
//! API sees an even, bounded request rate whatever the number of probes.
//!
//! Every channel call that changes something at the vendor is preceded by an
//! intent event in the store and followed by its result; after a crash, an
//! intent without a result is resolved by looking at the channel first
//! (`find` for opens, our markers in the history for follow-ups and closes),
//! never by sending again blindly.
//!
//! Polling: each active probe is polled every `poll_interval`, routine polls
//! spaced `poll_interval / active probes` apart (at least
//! `min_request_interval`); a poll is forced when a promise or the give-up
//! time falls due, so breaches are recorded the moment they are known.
//! `Retry-After` and transient errors put the whole channel in back-off.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

mod admission;
mod close;
mod follow_up;
mod ingest;
mod look;
mod open;

use super::Ctx;
use super::probe::{Refreshed, kind, refresh_cached};
use crate::channel::{AnyChannel, ChannelError, Operation, TicketStatus};
use crate::config::ChannelSpec;
use crate::gate::{Gate, MAX_BACKOFF};
use crate::lifecycle::Ts;
use crate::model::State;
use crate::scenario::Scenario;
use crate::store::{ChannelState, NewEvent, Probe, StoreError};
use crate::template::Vars;

/// Open attempts before a probe is given up as failed.
const MAX_OPEN_ATTEMPTS: u32 = 5;
/// How long failed recovery lookups go on before an open whose outcome is
/// unknown is given up (saying a ticket may exist).
const LOOKUP_FOR_HOURS: i64 = 24;
/// Courtesy-close attempts before we record it as done anyway.
const MAX_CLOSE_ATTEMPTS: usize = 5;
/// Longest back-off after repeated transient errors.
/// How much of a reply's text is kept in the event log.
pub(crate) const EXCERPT_CHARS: usize = 500;
/// Consecutive "not found" answers, spaced by a doubling back-off from the
/// poll interval, after which a ticket is given up as gone (with a one-minute
/// poll interval: about half an hour).
const GONE_AFTER: u32 = 5;
/// Consecutive transient failures after which a channel counts as failing
/// (an authentication failure counts at once).
const FAILING_AFTER: u32 = 3;

pub struct Worker {
    ctx: Ctx,
    vendor: String,
    spec: ChannelSpec,
    channel: AnyChannel,
    /// In `once` mode, the one probe this worker follows.
    only: Option<i64>,
    gate: Gate,
    /// The channel's unfinished probes as last read or written by this worker.
    cache: BTreeMap<i64, Probe>,
    /// When each probe next needs attention (our clock): nothing is read or
    /// written for a probe before it.
    wake: HashMap<i64, Ts>,
    /// When each probe's next routine look is due (our clock).
    next_poll: HashMap<i64, Ts>,
    /// The last time each probe was worked on, so a step that could not
    /// proceed is not repeated in a tight loop.
    worked: HashMap<i64, Instant>,
    /// Probes to look at now, whatever their poll schedule (a webhook named them).
    look_now: VecDeque<i64>,
    last_status: HashMap<i64, TicketStatus>,
    /// Failed recovery lookups per probe (for their back-off).
    lookups: HashMap<i64, u32>,
    /// Consecutive "not found" answers per probe, and no look before the instant.
    gone: HashMap<i64, (u32, Instant)>,
    /// Each probe's measures as stored, so an unchanged probe is not rewritten.
    saved: HashMap<i64, Vec<super::probe::SavedRow>>,
    /// The last derivation of a probe, valid while the store's connection has
    /// changed nothing since (`Store::changes`): rescheduling after a look that
    /// found nothing new does not derive the probe a second time.
    last_refreshed: Option<(i64, u64, Refreshed)>,
    /// Requests a successful poll costs (a moving average, from the platform's estimate).
    requests_per_poll: f64,
    scenarios: HashMap<String, Arc<Scenario>>,
    /// The rate budgets the channel's requests draw on (for its published load).
    budgets: Vec<Arc<crate::channel::budget::Budget>>,
    /// The channel's health, persisted so a restart does not re-announce a failure.
    health: ChannelState,
}

/// How often a worker reads its probes from the store again even when nobody
/// said they changed (a safety net: the scheduler and the store watcher wake it).
const RESYNC_EVERY: Duration = Duration::from_secs(300);
/// Longest sleep: wall-clock jumps are noticed within it.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// A probe whose step could not proceed (a failed forced look, a close to
/// retry) is worked on again no sooner than this (or its poll interval).
const REWORK_AFTER: Duration = Duration::from_secs(1);

impl Worker {
    pub fn new(ctx: Ctx, vendor: &str, spec: ChannelSpec, channel: AnyChannel, only: Option<i64>) -> Worker {
        let requests_per_poll = crate::channel::budget::requests_per_poll(spec.kind);
        let health =
            ChannelState { vendor: vendor.to_string(), channel: spec.kind.as_str().to_string(), ..Default::default() };
        Worker {
            budgets: ctx
                .config
                .vendor(vendor)
                .map(|v| ctx.budgets.for_channel(&v.rate_owner(), spec.kind))
                .unwrap_or_default(),
            ctx,
            vendor: vendor.to_string(),
            spec,
            channel,
            only,
            gate: Gate::default(),
            cache: BTreeMap::new(),
            wake: HashMap::new(),
            next_poll: HashMap::new(),
            worked: HashMap::new(),
            look_now: VecDeque::new(),
            last_status: HashMap::new(),
            gone: HashMap::new(),
            lookups: HashMap::new(),
            saved: HashMap::new(),
            last_refreshed: None,
            requests_per_poll,
            scenarios: HashMap::new(),
            health,
        }
    }

    /// Runs until cancelled (or, in `once` mode, until its probe is final).
    ///
    /// Work happens only when something is due: the worker sleeps until the
    /// earliest probe's wake time, a webhook, or a change in the store; a
    /// probe is read, derived and written only when it is worked on.
    pub async fn run(mut self, shutdown: CancellationToken) {
        match self.ctx.store.channel_state(&self.vendor, self.spec.kind.as_str()) {
            Ok(Some(h)) => self.health = h,
            Ok(None) => {}
            Err(e) => warn!(error = %format!("{e:#}"), "cannot read the channel's health; starting healthy"),
        }
        let wake = self.ctx.pokes.for_channel(&self.vendor, &self.spec.id);
        let mut synced: Option<Instant> = None;
        loop {
            let hints = wake.take();
            if hints.resync || synced.is_none_or(|t| t.elapsed() >= RESYNC_EVERY) {
                match self.sync() {
                    Ok(()) => synced = Some(self.ctx.clock.instant()),
                    Err(e) => {
                        self.ctx.store.note_failure(&e);
                        warn!(error = %supportprobe_core::error_chain(&e), kind = e.kind(), "store error reading the channel's probes; retrying");
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = crate::sleep(&*self.ctx.clock, Duration::from_secs(1)) => continue,
                        }
                    }
                }
            }
            self.apply(hints);
            if self.only.is_some() && self.cache.is_empty() {
                return;
            }
            let sleep = self.sleep_for(synced);
            if !sleep.is_zero() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = crate::sleep(&*self.ctx.clock, sleep) => {}
                    () = wake.notified() => continue,
                }
            }
            // Every channel call and wait (rate budget, back-off, a stalled vendor) is
            // raced against cancellation: a stopped generation does nothing more.
            // Dropping a pass midway is safe: each change at a vendor has its intent
            // recorded first and is looked up, never repeated blindly (as after a crash).
            let result = tokio::select! {
                () = shutdown.cancelled() => return,
                r = self.work(&shutdown) => r,
            };
            match result {
                Ok(()) => self.ctx.store.note_success(),
                Err(e) => {
                    self.ctx.store.note_failure(&e);
                    warn!(vendor = %self.vendor, channel = %self.spec.id, error = %supportprobe_core::error_chain(&e), kind = e.kind(), "store error; retrying");
                    // The failed probe is worked on again after a pause, not in a tight loop.
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = crate::sleep(&*self.ctx.clock, REWORK_AFTER) => {}
                    }
                }
            }
        }
    }

    /// How long to sleep before the next due probe (zero: work now).
    fn sleep_for(&self, synced: Option<Instant>) -> Duration {
        let now = self.ctx.clock.now();
        let mut sleep = MAX_SLEEP
            .min(RESYNC_EVERY.saturating_sub(
                synced.map_or(RESYNC_EVERY, |t| self.ctx.clock.instant().saturating_duration_since(t)),
            ));
        if self.look_now.is_empty() {
            if let Some(next) = self.wake.values().min() {
                sleep = sleep.min((*next - now).to_std().unwrap_or(Duration::ZERO));
            }
        } else {
            sleep = Duration::ZERO;
        }
        // Nothing can be sent while the channel backs off.
        if let Some(until) = self.gate.backoff_until {
            sleep = sleep.max(until.saturating_duration_since(self.ctx.clock.instant()));
        }
        sleep
    }

    /// Reads the channel's unfinished probes from the store; a probe that is
    /// new, or changed by someone else, is worked on now.
    fn sync(&mut self) -> Result<(), StoreError> {
        let mut probes = super::off_async(|| self.ctx.store.unfinished(&self.vendor, &self.spec.id))?;
        if let Some(id) = self.only {
            probes.retain(|p| p.id == id);
        }
        let now = self.ctx.clock.now();
        let live: HashSet<i64> = probes.iter().map(|p| p.id).collect();
        let gone: Vec<i64> = self.cache.keys().filter(|id| !live.contains(id)).copied().collect();
        for id in gone {
            self.forget(id);
        }
        // Probes waiting on the vendor that this worker has not seen yet (at start:
        // all of them) are first worked on spread over up to a minute, not all at
        // once: a restart with thousands in flight does not stall on itself. The
        // rest (due to open, to close, changed by someone) are worked on now.
        let fresh = probes.iter().filter(|p| p.state.is_active() && !self.cache.contains_key(&p.id)).count();
        let spread = self.spec.poll_interval.std().min(Duration::from_secs(60));
        let mut nth = 0u32;
        for p in probes {
            if self.cache.get(&p.id) == Some(&p) {
                continue;
            }
            let at = if p.state.is_active() && !self.cache.contains_key(&p.id) && fresh > 1 {
                nth += 1;
                now + chrono::Duration::from_std(spread.mul_f64(f64::from(nth - 1) / fresh as f64)).unwrap_or_default()
            } else {
                now
            };
            self.saved.remove(&p.id);
            if let (false, Some(known)) = (self.next_poll.contains_key(&p.id), p.known_until) {
                // Looked at before (by an earlier run): the next routine look is one
                // interval after that one, so a restart does not look at everything at once.
                let next = known + chrono::Duration::from_std(self.spec.poll_interval.std()).unwrap_or_default();
                self.next_poll.insert(p.id, next);
            }
            self.wake.insert(p.id, at);
            self.cache.insert(p.id, p);
        }
        Ok(())
    }

    /// Forgets what was kept for a probe that has finished or left the channel.
    fn forget(&mut self, id: i64) {
        self.cache.remove(&id);
        self.wake.remove(&id);
        self.next_poll.remove(&id);
        self.worked.remove(&id);
        self.last_status.remove(&id);
        self.gone.remove(&id);
        self.lookups.remove(&id);
        self.saved.remove(&id);
        self.look_now.retain(|x| *x != id);
        if self.last_refreshed.as_ref().is_some_and(|(p, ..)| *p == id) {
            self.last_refreshed = None;
        }
    }

    /// Turns a wake-up's hints into probes to look at now.
    fn apply(&mut self, hints: crate::webhook::Hints) {
        if hints.all {
            for (id, p) in &self.cache {
                if p.state.is_active() && !self.look_now.contains(id) {
                    self.look_now.push_back(*id);
                }
            }
        }
        for ticket in hints.tickets {
            // A hint, never data: the probe's own ticket is fetched and checked.
            match self.cache.values().find(|p| p.ticket_id.as_deref() == Some(ticket.as_str())) {
                Some(p) if !self.look_now.contains(&p.id) => self.look_now.push_front(p.id),
                Some(_) => {}
                None => debug!(%ticket, "webhook about a ticket that is not an unfinished probe of ours; ignored"),
            }
        }
    }

    /// Works on every probe that is due: those a webhook named first, then
    /// the rest by due time.
    async fn work(&mut self, shutdown: &CancellationToken) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        let mut due: Vec<(Ts, i64)> = self.wake.iter().filter(|(_, t)| **t <= now).map(|(id, t)| (*t, *id)).collect();
        due.sort_unstable();
        let hinted: Vec<i64> = self.look_now.iter().copied().collect();
        for id in hinted.into_iter().chain(due.into_iter().map(|(_, id)| id)) {
            if shutdown.is_cancelled() || self.gate.blocked(self.ctx.clock.instant()) {
                break;
            }
            let Some(p) = self.cache.get(&id).cloned() else {
                self.look_now.retain(|x| *x != id);
                continue;
            };
            if !self.look_now.contains(&id) && self.wake.get(&id).is_some_and(|t| *t > self.ctx.clock.now()) {
                continue;
            }
            let span = info_span!("probe", probe = %p.reference, vendor = %p.vendor, channel = %self.spec.kind);
            self.step(p).instrument(span).await?;
            self.look_now.retain(|x| *x != id);
            self.worked.insert(id, self.ctx.clock.instant());
            self.reschedule(id)?;
        }
        self.publish();
        Ok(())
    }

    /// Reads a probe back after working on it and sets when it next needs attention.
    fn reschedule(&mut self, id: i64) -> Result<(), StoreError> {
        let Some(p) = self.ctx.store.probe(id)? else {
            self.forget(id);
            return Ok(());
        };
        if p.state.is_final() || self.only.is_some_and(|o| o != id) {
            self.forget(id);
            return Ok(());
        }
        let at = self.next_wake(&p)?;
        self.wake.insert(id, at);
        self.cache.insert(id, p);
        Ok(())
    }

    /// When a probe next needs attention: its due time, its next attempt, its
    /// next routine look, the next promise deadline or give-up time it must be
    /// looked at for, its next follow-up, or soon (a close or a look to retry).
    fn next_wake(&mut self, p: &Probe) -> Result<Ts, StoreError> {
        let now = self.ctx.clock.now();
        let interval = self.spec.poll_interval.std();
        let soon = now + chrono::Duration::from_std(REWORK_AFTER.min(interval)).unwrap_or_default();
        let at = match p.state {
            State::Scheduled => p.due_at,
            State::Opening => p.next_attempt_at.unwrap_or(soon),
            State::Open | State::Acknowledged | State::Answered => {
                let r = match self.last_refreshed.take() {
                    Some((id, changes, r)) if id == p.id && changes == self.ctx.store.changes() => r,
                    _ => self.refresh(p)?,
                };
                let Some(opened) = r.derived.opened_at else { return Ok(soon) };
                let known = p.known_until.unwrap_or(opened);
                let give_up_at = opened + p.give_up_after;
                let mut at = self.next_poll.get(&p.id).copied().unwrap_or(now);
                // A deadline not yet looked past: look at it the moment it falls due.
                for t in crate::sla::next_deadline(&r.rows).into_iter().chain(std::iter::once(give_up_at)) {
                    if known < t {
                        at = at.min(t.max(soon));
                    }
                }
                if self.intent_pending(&r, kind::FOLLOW_UP_INTENT, &[kind::FOLLOW_UP, kind::FOLLOW_UP_SENT], known) {
                    at = at.min(soon);
                }
                if let Some(t) = self.follow_up_due(p, &r) {
                    at = at.min(t.max(soon));
                }
                if let Some((_, until)) = self.gone.get(&p.id) {
                    let until = now
                        + chrono::Duration::from_std(until.saturating_duration_since(self.ctx.clock.instant()))
                            .unwrap_or_default();
                    at = at.max(until);
                }
                at
            }
            // The courtesy close (or the look before it) is next.
            State::Resolved | State::Expired => soon,
            _ => now + chrono::Duration::from_std(RESYNC_EVERY).unwrap_or_default(),
        };
        Ok(at)
    }

    /// Publishes the channel's load and poll freshness for `/metrics` and `check`.
    fn publish(&self) {
        let now = self.ctx.clock.now();
        let mut active = 0u32;
        let mut oldest: Option<Ts> = None;
        for p in self.cache.values().filter(|p| p.state.is_active()) {
            active += 1;
            if let Some(k) = p.known_until.or(p.opened_at) {
                oldest = Some(oldest.map_or(k, |o| o.min(k)));
            }
        }
        let staleness = oldest.map_or(0.0, |o| (now - o).num_milliseconds().max(0) as f64 / 1000.0);
        let budget = self.budgets.iter().map(|b| (b.name.clone(), b.rate())).min_by(|a, b| a.1.total_cmp(&b.1));
        self.ctx.loads.set(
            &self.vendor,
            self.spec.kind.as_str(),
            super::Load {
                active,
                staleness_secs: staleness,
                configured_interval_secs: self.spec.poll_interval.std().as_secs_f64(),
                budget,
                requests_per_poll: self.requests_per_poll,
                poll_gap_secs: crate::channel::poll_gap(self.spec.kind).map(|g| g.as_secs_f64()),
            },
        );
    }

    async fn step(&mut self, p: Probe) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        match p.state {
            State::Scheduled if p.due_at <= now => self.start(p).await,
            State::Opening if p.next_attempt_at.is_none_or(|t| t <= now) => self.open(p).await,
            State::Open | State::Acknowledged | State::Answered => self.follow(p).await,
            State::Resolved | State::Expired => self.close(p).await,
            _ => Ok(()),
        }
    }

    fn scenario(&mut self, id: &str) -> Option<Arc<Scenario>> {
        if let Some(s) = self.scenarios.get(id) {
            return Some(s.clone());
        }
        let s = self.ctx.config.scenario(id).ok()?;
        self.scenarios.insert(id.to_string(), s.clone());
        Some(s)
    }

    fn vars<'a>(&'a self, p: &'a Probe, vendor_name: &'a str, date: &'a str) -> Vars<'a> {
        Vars {
            reference: &p.reference,
            vendor: vendor_name,
            vendor_id: &p.vendor,
            priority: p.priority.as_str(),
            scenario: &p.scenario,
            channel: self.spec.kind.as_str(),
            date,
        }
    }

    /// Counts and logs a channel error once, here where it is handled, and
    /// announces the channel as failing when it crosses the threshold.
    fn count_error(&mut self, op: Operation, e: &ChannelError) -> Result<(), StoreError> {
        self.gate.failed(e, self.ctx.clock.instant());
        let now = self.ctx.clock.now();
        let message = crate::redact::redact(&e.to_string()).into_owned();
        warn!(operation = op.as_str(), kind = e.kind(), error = %message, "channel call failed");
        self.ctx.store.count_error(&self.vendor, self.spec.kind.as_str(), op.as_str(), e.kind(), &message, now)?;
        // A missing ticket or a refused request is about one probe, not the channel.
        let auth = matches!(e, ChannelError::Auth { .. });
        if !(e.is_transient() || auth) {
            return Ok(());
        }
        self.health.failures += 1;
        self.health.last_error = Some(message.clone());
        if self.health.failing_since.is_none() && (auth || self.health.failures >= FAILING_AFTER) {
            self.health.failing_since = Some(now);
            warn!(failures = self.health.failures, "channel is failing");
            let n = crate::outbox::channel_failing(
                &self.ctx.config,
                &self.vendor,
                self.spec.kind.as_str(),
                now,
                self.health.failures,
                &message,
            );
            crate::outbox::enqueue(&self.ctx.config, &self.ctx.store, &n, now)?;
        }
        self.ctx.store.set_channel_state(&self.health, now)
    }

    /// A call succeeded: the channel is healthy again.
    fn call_ok(&mut self) -> Result<(), StoreError> {
        self.gate.succeeded();
        if self.health.failures == 0 && self.health.failing_since.is_none() {
            return Ok(());
        }
        if self.health.failing_since.is_some() {
            info!("channel recovered");
        }
        self.health.failures = 0;
        self.health.failing_since = None;
        self.ctx.store.set_channel_state(&self.health, self.ctx.clock.now())
    }

    fn refresh(&mut self, p: &Probe) -> Result<Refreshed, StoreError> {
        let now = self.ctx.clock.now();
        let mut saved = self.saved.remove(&p.id);
        let (config, store) = (&self.ctx.config, &self.ctx.store);
        let (r, breaches) = super::off_async(|| refresh_cached(config, store, p, now, &mut saved))?;
        if let Some(rows) = saved {
            self.saved.insert(p.id, rows);
        }
        self.last_refreshed = Some((p.id, store.changes(), r.clone()));
        for b in breaches {
            warn!(
                measure = super::probe::promise_name(b.measure),
                target = %b.target.map(|d| d.to_string()).unwrap_or_default(),
                deadline = %b.deadline.map(crate::store::ts).unwrap_or_default(),
                "promise breached"
            );
        }
        Ok(r)
    }

    fn reload(&self, p: &Probe) -> Result<Probe, StoreError> {
        Ok(self.ctx.store.probe(p.id)?.unwrap_or_else(|| p.clone()))
    }

    fn skip(&mut self, p: &Probe, reason: &str) -> Result<(), StoreError> {
        info!(reason, "probe skipped");
        self.end_with(p, kind::SKIPPED, reason)
    }

    /// Records an ending event (`skipped`, `lost`) with its reason, also as the probe's note.
    fn end_with(&mut self, p: &Probe, event: &'static str, reason: &str) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        let e = NewEvent { kind: event, key: event, detail: Some(json!({ "reason": reason })), ..Default::default() };
        self.ctx.store.append(p.id, &e, now)?;
        self.ctx.store.set_note(p.id, reason, now)?;
        self.refresh(p).map(|_| ())
    }
}
