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

use super::Ctx;
use super::probe::{Refreshed, kind, refresh_cached};
use crate::channel::{AnyChannel, Channel, ChannelError, OpenRequest, Operation, Snapshot, Ticket, TicketStatus};
use crate::classify::{AuthorKind, classify};
use crate::config::ChannelSpec;
use crate::lifecycle::{ResolvedBy, Ts};
use crate::model::{ReplyClass, State};
use crate::scenario::{FollowUpAfter, ResolutionSignal, Scenario};
use crate::store::{ChannelState, NewEvent, Probe, StoreError, StoredEvent};
use crate::template::Vars;

/// Open attempts before a probe is given up as failed.
const MAX_OPEN_ATTEMPTS: u32 = 5;
/// How long failed recovery lookups go on before an open whose outcome is
/// unknown is given up (saying a ticket may exist).
const LOOKUP_FOR_HOURS: i64 = 24;
/// Courtesy-close attempts before we record it as done anyway.
const MAX_CLOSE_ATTEMPTS: usize = 5;
/// Longest back-off after repeated transient errors.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How much of a reply's text is kept in the event log.
const EXCERPT_CHARS: usize = 500;
/// Consecutive "not found" answers, spaced by a doubling back-off from the
/// poll interval, after which a ticket is given up as gone (with a one-minute
/// poll interval: about half an hour).
const GONE_AFTER: u32 = 5;
/// Consecutive transient failures after which a channel counts as failing
/// (an authentication failure counts at once).
const FAILING_AFTER: u32 = 3;

/// Spacing and back-off for one channel's calls.
#[derive(Debug, Default)]
struct Gate {
    last_call: Option<Instant>,
    backoff_until: Option<Instant>,
    failures: u32,
}

impl Gate {
    fn blocked(&self) -> bool {
        self.backoff_until.is_some_and(|t| Instant::now() < t)
    }

    async fn wait(&mut self, gap: Duration) {
        if let Some(last) = self.last_call {
            let ready = last + gap;
            if ready > Instant::now() {
                tokio::time::sleep_until(ready.into()).await;
            }
        }
        self.last_call = Some(Instant::now());
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.backoff_until = None;
    }

    fn failed(&mut self, e: &ChannelError) {
        let wait = if let Some(ra) = e.retry_after() {
            Some(ra)
        } else if e.is_transient() || matches!(e, ChannelError::Auth { .. }) {
            self.failures = self.failures.saturating_add(1);
            Some(Duration::from_secs(1u64 << self.failures.min(8)).min(MAX_BACKOFF))
        } else {
            None
        };
        if let Some(w) = wait {
            self.backoff_until = Some(Instant::now() + w.min(MAX_BACKOFF));
        }
    }
}

/// Whether a snapshot is of our ticket: a history that shows our own opening
/// message must carry the probe's reference somewhere (our open always
/// writes it into the body). A ticket whose id the vendor reused for someone
/// else's shows none; a history without our messages (a mailbox search) is
/// not judged.
fn carries_reference(snap: &Snapshot, reference: &str) -> bool {
    let has_ours = snap.messages.iter().any(|m| m.author_kind == AuthorKind::Requester);
    !has_ours
        || snap
            .messages
            .iter()
            .any(|m| m.body.contains(reference) || m.subject.as_deref().is_some_and(|s| s.contains(reference)))
}

/// An event found in a channel snapshot, owned until it is written.
struct Found {
    kind: &'static str,
    key: String,
    at: Ts,
    class: Option<ReplyClass>,
    rule: Option<String>,
    author: Option<String>,
    detail: serde_json::Value,
}

impl Found {
    fn new(kind: &'static str, key: String, at: Ts, detail: serde_json::Value) -> Found {
        Found { kind, key, at, class: None, rule: None, author: None, detail }
    }

    fn event(&self) -> NewEvent<'_> {
        NewEvent {
            kind: self.kind,
            key: &self.key,
            at: Some(self.at),
            class: self.class,
            rule: self.rule.as_deref(),
            author: self.author.as_deref(),
            detail: Some(self.detail.clone()),
        }
    }
}

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
            budgets: ctx.config.vendor(vendor).map(|v| ctx.budgets.for_channel(v, spec.kind)).unwrap_or_default(),
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
                    Ok(()) => synced = Some(Instant::now()),
                    Err(e) => {
                        self.ctx.store.note_failure(&e);
                        warn!(error = %e, kind = e.kind(), "store error reading the channel's probes; retrying");
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
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
                    () = tokio::time::sleep(sleep) => {}
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
                    warn!(vendor = %self.vendor, channel = %self.spec.id, error = %e, kind = e.kind(), "store error; retrying");
                    // The failed probe is worked on again after a pause, not in a tight loop.
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(REWORK_AFTER) => {}
                    }
                }
            }
        }
    }

    /// How long to sleep before the next due probe (zero: work now).
    fn sleep_for(&self, synced: Option<Instant>) -> Duration {
        let now = self.ctx.clock.now();
        let mut sleep = MAX_SLEEP.min(RESYNC_EVERY.saturating_sub(synced.map_or(RESYNC_EVERY, |t| t.elapsed())));
        if self.look_now.is_empty() {
            if let Some(next) = self.wake.values().min() {
                sleep = sleep.min((*next - now).to_std().unwrap_or(Duration::ZERO));
            }
        } else {
            sleep = Duration::ZERO;
        }
        // Nothing can be sent while the channel backs off.
        if let Some(until) = self.gate.backoff_until {
            sleep = sleep.max(until.saturating_duration_since(Instant::now()));
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
            if shutdown.is_cancelled() || self.gate.blocked() {
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
            self.worked.insert(id, Instant::now());
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
                        + chrono::Duration::from_std(until.saturating_duration_since(Instant::now()))
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

    /// When the probe's next follow-up falls due, if its trigger has happened.
    fn follow_up_due(&mut self, p: &Probe, r: &Refreshed) -> Option<Ts> {
        let scenario = self.scenario(&p.scenario)?;
        for (i, fu) in scenario.follow_ups.iter().enumerate() {
            let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if r.derived.follow_ups.iter().any(|f| f.seq == seq) {
                continue;
            }
            let trigger = self.follow_up_trigger(fu.after, seq, r)?;
            return Some(trigger + p.follow_up_delay.unwrap_or_else(|| fu.delay.chrono()));
        }
        None
    }

    fn follow_up_trigger(&self, after: FollowUpAfter, seq: u32, r: &Refreshed) -> Option<Ts> {
        match after {
            FollowUpAfter::Opened => r.derived.opened_at,
            FollowUpAfter::FirstHumanResponse => r.derived.first_human_at,
            FollowUpAfter::PreviousReply if seq == 1 => r.derived.first_human_at,
            FollowUpAfter::PreviousReply => {
                r.derived.follow_ups.iter().find(|f| f.seq == seq - 1).and_then(|f| f.replied_at)
            }
        }
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
        self.gate.failed(e);
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
            let n = crate::notify::channel_failing(
                &self.ctx.config,
                &self.vendor,
                self.spec.kind.as_str(),
                now,
                self.health.failures,
                &message,
            );
            crate::notify::enqueue(&self.ctx.config, &self.ctx.store, &n, now)?;
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

    /// Looks for the ticket an earlier attempt may have created; records it as
    /// opened when found. `Ok(true)` when found; a failed look is counted.
    async fn recover(
        &mut self,
        p: &Probe,
        gap: Duration,
        what: &str,
    ) -> Result<Result<bool, ChannelError>, StoreError> {
        self.gate.wait(gap).await;
        match self.channel.find(&p.reference).await {
            Ok(Some(ticket)) => {
                self.call_ok()?;
                info!(ticket = %ticket.id, "found the ticket {what} created");
                self.record_opened(p, &ticket, true)?;
                Ok(Ok(true))
            }
            Ok(None) => {
                self.gate.succeeded();
                Ok(Ok(false))
            }
            Err(e) => {
                self.count_error(Operation::Find, &e)?;
                Ok(Err(e))
            }
        }
    }

    /// A scheduled probe fell due: apply the responsible-probing rules, then open.
    async fn start(&mut self, p: Probe) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        let config = self.ctx.config.clone();
        let Some(vendor) = config.vendor(&p.vendor) else {
            return self.skip(&p, "vendor no longer configured");
        };
        if vendor.caps.paused {
            return self.skip(&p, "vendor paused");
        }
        if vendor.caps.is_quiet(now) {
            return self.skip(&p, "quiet period");
        }
        if let Some(max) = vendor.caps.max_open
            && self.ctx.store.count_open(&p.vendor)? >= max
        {
            return self.skip(&p, &format!("cap: {max} probes already open"));
        }
        if let Some(max) = vendor.caps.max_per_day
            && self.ctx.store.count_sent_since(&p.vendor, now - chrono::Duration::hours(24))? >= max
        {
            return self.skip(&p, &format!("cap: {max} probes in the last 24 hours"));
        }
        let Some(scenario) = self.scenario(&p.scenario) else {
            return self.skip(&p, "scenario no longer available");
        };
        if config.daemon.dry_run {
            let date = p.due_at.format("%Y-%m-%d").to_string();
            let msg = scenario.render_open(&self.vars(&p, &vendor.name, &date));
            info!(subject = %msg.subject, body = %msg.body, "dry run: would open");
            return self.skip(&p, "dry run");
        }
        self.open(p).await
    }

    async fn open(&mut self, p: Probe) -> Result<(), StoreError> {
        let config = self.ctx.config.clone();
        let (Some(vendor), Some(scenario)) = (config.vendor(&p.vendor), self.scenario(&p.scenario)) else {
            return self.skip(&p, "vendor or scenario no longer configured");
        };
        if self.gate.blocked() {
            return Ok(());
        }
        let gap = self.spec.min_request_interval.std();
        // An earlier attempt may have created the ticket before we lost the answer.
        if p.attempts > 0 {
            match self.recover(&p, gap, "an earlier attempt").await? {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                // Whether the earlier attempt created it is still unknown: look again later.
                Err(e) => return self.look_again(&p, &e),
            }
        }
        let now = self.ctx.clock.now();
        let attempt = self.ctx.store.begin_open_attempt(p.id, now)?;
        let key = format!("{}:{attempt}", kind::OPEN_INTENT);
        self.ctx.store.append(p.id, &NewEvent { kind: kind::OPEN_INTENT, key: &key, ..Default::default() }, now)?;
        let date = p.due_at.format("%Y-%m-%d").to_string();
        let msg = scenario.render_open(&self.vars(&p, &vendor.name, &date));
        let req = OpenRequest { reference: &p.reference, subject: &msg.subject, body: &msg.body, priority: p.priority };
        self.gate.wait(gap).await;
        match self.channel.open(&req).await {
            Ok(ticket) => {
                self.call_ok()?;
                crate::failpoint::hit("after_open");
                if let crate::config::ChannelSettings::Manual(m) = &self.spec.settings {
                    let n = crate::notify::manual_due(&self.ctx.config, &p, m, &msg.subject, &msg.body, now);
                    crate::notify::enqueue(&self.ctx.config, &self.ctx.store, &n, now)?;
                }
                self.record_opened(&p, &ticket, false)
            }
            Err(e) => {
                self.count_error(Operation::Open, &e)?;
                let p = self.reload(&p)?;
                // The vendor may have created it: look before giving up, or the
                // ticket would be an orphan, never measured nor closed.
                if e.outcome_unknown() && p.attempts >= MAX_OPEN_ATTEMPTS {
                    match self.recover(&p, gap, "the last attempt").await? {
                        Ok(true) => return Ok(()),
                        Ok(false) => {}
                        Err(find) => return self.look_again(&p, &find),
                    }
                }
                self.retry_or_fail(&p, &e)
            }
        }
    }

    /// The recovery lookup failed, so whether an earlier attempt created the
    /// ticket is unknown: never fail the probe (nor open again) on that; look
    /// again with a doubling back-off. Only after a day of failed looks is it
    /// given up, saying that a ticket may exist at the vendor.
    fn look_again(&mut self, p: &Probe, e: &ChannelError) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        let since = p.sent_at.unwrap_or(now);
        let message = crate::redact::redact(&e.to_string()).into_owned();
        if now - since > chrono::Duration::hours(LOOKUP_FOR_HOURS) {
            let e = ChannelError::Refused {
                message: format!(
                    "could not look up for {LOOKUP_FOR_HOURS} h whether the vendor created it (last: {message}); a ticket with reference {} may exist at the vendor",
                    p.reference
                ),
            };
            return self.retry_or_fail(p, &e);
        }
        let looks = self.lookups.entry(p.id).or_insert(0);
        *looks += 1;
        let backoff = e.retry_after().unwrap_or(Duration::from_secs(5u64 << (*looks).min(6))).min(MAX_BACKOFF);
        let at = now + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::minutes(5));
        self.ctx.store.set_retry(
            p.id,
            Some(at),
            &format!("looking up whether the last attempt created it: {message}"),
            now,
        )
    }

    fn retry_or_fail(&mut self, p: &Probe, e: &ChannelError) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        if e.is_transient() && p.attempts < MAX_OPEN_ATTEMPTS {
            let backoff = e.retry_after().unwrap_or(Duration::from_secs(5u64 << p.attempts.min(6))).min(MAX_BACKOFF);
            let at = now + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::minutes(5));
            let message = crate::redact::redact(&e.to_string()).into_owned();
            return self.ctx.store.set_retry(p.id, Some(at), &format!("open failed, retrying: {message}"), now);
        }
        let message = crate::redact::redact(&e.to_string()).into_owned();
        warn!(attempts = p.attempts, error = %message, "probe could not be opened");
        let key = format!("{}:{}", kind::OPEN_FAILED, p.attempts);
        let detail = json!({ "final": true, "error": message, "kind": e.kind() });
        self.ctx.store.append(
            p.id,
            &NewEvent { kind: kind::OPEN_FAILED, key: &key, detail: Some(detail), ..Default::default() },
            now,
        )?;
        self.ctx.store.set_note(p.id, &format!("open failed: {message}"), now)?;
        crate::notify::enqueue(
            &self.ctx.config,
            &self.ctx.store,
            &crate::notify::open_failed(&self.ctx.config, p, &message, now),
            now,
        )?;
        self.refresh(p).map(|_| ())
    }

    fn record_opened(&mut self, p: &Probe, ticket: &Ticket, recovered: bool) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        self.ctx.store.set_ticket(p.id, &ticket.id, ticket.url.as_deref(), now)?;
        let detail = json!({ "ticket_id": ticket.id, "url": ticket.url, "recovered": recovered });
        let e = NewEvent {
            kind: kind::OPENED,
            key: kind::OPENED,
            at: Some(ticket.created_at),
            detail: Some(detail),
            ..Default::default()
        };
        self.ctx.store.append(p.id, &e, now)?;
        info!(ticket = %ticket.id, "probe opened");
        self.next_poll.insert(p.id, now);
        let p = self.reload(p)?;
        self.refresh(&p).map(|_| ())
    }

    /// Reads the channel and records what is new. Returns whether it succeeded.
    /// `events` are the probe's stored events as the caller last read them.
    async fn poll(&mut self, p: &Probe, gap: Duration, events: &[StoredEvent]) -> Result<bool, StoreError> {
        let Some(ticket) = p.ticket_id.clone() else { return Ok(false) };
        if self.gone.get(&p.id).is_some_and(|(_, until)| Instant::now() < *until) {
            // Its ticket was not found a moment ago: no look, forced or not, before its back-off ends.
            return Ok(false);
        }
        self.gate.wait(gap).await;
        let started = self.ctx.clock.now();
        let sent_before = self.channel.requests_sent();
        let result = self.channel.poll(&ticket).await;
        let sent = self.channel.requests_sent().saturating_sub(sent_before);
        let next = self.ctx.clock.now() + chrono::Duration::from_std(self.spec.poll_interval.std()).unwrap_or_default();
        self.next_poll.insert(p.id, next);
        for (kind, message) in self.channel.drain_problems() {
            warn!(kind, message = %message, "channel skipped something it could not read");
            let now = self.ctx.clock.now();
            self.ctx.store.count_error(&self.vendor, self.spec.kind.as_str(), "read", kind, &message, now)?;
        }
        match result {
            Ok(snap) if !carries_reference(&snap, &p.reference) => {
                self.call_ok()?;
                let reason = format!(
                    "ticket {ticket} no longer carries our reference {}: the vendor reused its id for someone else's ticket",
                    p.reference
                );
                self.lost(p, &reason)?;
                Ok(false)
            }
            Ok(snap) => {
                self.call_ok()?;
                if sent > 0 {
                    self.requests_per_poll = 0.9 * self.requests_per_poll + 0.1 * sent as f64;
                }
                self.gone.remove(&p.id);
                super::off_async(|| self.ingest(p, &snap, events))?;
                self.ctx.store.note_look(p.id, started);
                self.last_status.insert(p.id, snap.status);
                Ok(true)
            }
            Err(e @ ChannelError::NotFound { .. }) => {
                self.count_error(Operation::Poll, &e)?;
                // One probe's ticket, not the channel: back off for this probe alone,
                // doubling, and give it up after a bounded number of looks.
                let misses = self.gone.get(&p.id).map_or(0, |(n, _)| *n) + 1;
                if misses >= GONE_AFTER {
                    self.gone.remove(&p.id);
                    let reason = format!("ticket {ticket} is gone at the vendor ({misses} looks answered: {e})");
                    self.lost(p, &reason)?;
                } else {
                    let wait = (self.spec.poll_interval.std() * (1u32 << misses.min(10))).min(MAX_BACKOFF);
                    info!(misses, wait_secs = wait.as_secs_f32(), "ticket not found; looking again later");
                    self.gone.insert(p.id, (misses, Instant::now() + wait));
                }
                Ok(false)
            }
            Err(e) => {
                self.count_error(Operation::Poll, &e)?;
                Ok(false)
            }
        }
    }

    /// The probe's ticket is gone or not ours: record why, alert, stop.
    fn lost(&mut self, p: &Probe, reason: &str) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        self.next_poll.remove(&p.id);
        self.last_status.remove(&p.id);
        let p = &self.reload(p)?;
        if matches!(p.state, State::Resolved | State::Expired) {
            // Its figures are final already: only the courtesy close cannot be done.
            warn!(reason, "ticket lost after the probe ended; no courtesy close");
            return self.record_closed(p, &format!("no courtesy close: {reason}"));
        }
        warn!(reason, "probe lost; polling stopped");
        let n = crate::notify::probe_lost(&self.ctx.config, p, reason, now);
        crate::notify::enqueue(&self.ctx.config, &self.ctx.store, &n, now)?;
        self.end_with(p, kind::LOST, reason)
    }

    /// Classifies and records every message and the status.
    fn ingest(&mut self, p: &Probe, snap: &Snapshot, events: &[StoredEvent]) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        let config = self.ctx.config.clone();
        let overrides = config.vendor(&p.vendor).map(|v| v.classify.clone()).unwrap_or_default();
        let scenario = self.scenario(&p.scenario);
        let pattern = scenario
            .as_ref()
            .filter(|s| s.accepts(ResolutionSignal::Pattern))
            .and_then(|s| s.resolution.pattern.clone());
        let follow_marker = format!("[{}/f", p.reference);
        let close_marker = format!("[{}/close]", p.reference);
        let ours = self.channel.identity();
        // Relayed comments already recorded, by fingerprint: a platform relaying one again is not a new reply.
        let mut relayed: HashMap<String, String> = HashMap::new();
        // Messages already recorded are not classified again: the store keeps the first record of each.
        let mut recorded: HashSet<&str> = HashSet::new();
        for e in events.iter().filter(|e| e.kind == kind::REPLY) {
            recorded.insert(e.key.as_str());
            if let (Some(fp), Some(id)) = (
                e.detail.get("fingerprint").and_then(|v| v.as_str()),
                e.detail.get("message_id").and_then(|v| v.as_str()),
            ) {
                relayed.entry(fp.to_string()).or_insert_with(|| id.to_string());
            }
        }
        let mut found: Vec<Found> = Vec::new();
        for m in &snap.messages {
            if m.author_kind == AuthorKind::Requester {
                // Our own follow-ups and close, recognised by their markers.
                let seq = m
                    .body
                    .rfind(&follow_marker)
                    .and_then(|i| m.body[i + follow_marker.len()..].split(']').next())
                    .and_then(|s| s.parse::<u32>().ok());
                if let Some(seq) = seq {
                    found.push(Found::new(
                        kind::FOLLOW_UP,
                        format!("{}:{seq}", kind::FOLLOW_UP),
                        m.at,
                        json!({ "seq": seq, "message_id": m.id }),
                    ));
                } else if m.body.contains(&close_marker) {
                    found.push(Found::new(
                        kind::CLOSED,
                        kind::CLOSED.to_string(),
                        m.at,
                        json!({ "note": "courtesy close seen in the channel" }),
                    ));
                }
                continue;
            }
            let key = format!("{}:{}", kind::REPLY, m.id);
            if recorded.contains(key.as_str()) {
                continue;
            }
            // Everything else is recorded with its class and rule, bystanders and
            // our own words relayed back included: every decision is in the log.
            let c = classify(&m.facts(&ours), &overrides);
            let resolves = c.class == ReplyClass::Human && pattern.as_ref().is_some_and(|pat| pat.is_match(&c.judged));
            let excerpt: String = crate::redact::redact(&c.judged).chars().take(EXCERPT_CHARS).collect();
            let fingerprint =
                c.rule.starts_with("relay:").then(|| crate::classify::fingerprint(&m.author_name, &c.judged));
            let repeat_of = fingerprint.as_ref().and_then(|fp| {
                let first = relayed.entry(fp.clone()).or_insert_with(|| m.id.clone());
                (*first != m.id).then(|| first.clone())
            });
            let mut f = Found::new(
                kind::REPLY,
                key,
                m.at,
                json!({
                    "message_id": m.id, "author_name": m.author_name, "author_email": m.author_email,
                    "author_kind": m.author_kind.as_str(), "evidence": m.kind_evidence, "resolves": resolves,
                    "excerpt": excerpt, "subject": m.subject, "matched_by": m.matched_by,
                    "fingerprint": fingerprint, "repeat_of": repeat_of,
                }),
            );
            f.class = Some(c.class);
            f.rule = Some(c.rule);
            f.author = Some(m.author_id.clone());
            found.push(f);
        }
        if snap.status.is_resolved()
            && p.state.is_active()
            && scenario.as_ref().is_some_and(|s| s.accepts(ResolutionSignal::Status))
        {
            let at = snap.status_at.unwrap_or(now);
            found.push(Found::new(
                kind::VENDOR_RESOLVED,
                kind::VENDOR_RESOLVED.into(),
                at,
                json!({ "status": snap.status.as_str() }),
            ));
        }
        let rows: Vec<NewEvent<'_>> = found.iter().map(Found::event).collect();
        let new = self.ctx.store.append_all(p.id, &rows, now)?;
        if new > 0 {
            debug!(new, "recorded new events");
        }
        Ok(())
    }

    async fn follow(&mut self, p: Probe) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        let r = self.refresh(&p)?;
        let Some(opened) = r.derived.opened_at else { return Ok(()) };
        let give_up_at = opened + p.give_up_after;
        let known = p.known_until.unwrap_or(opened);

        // Look at the channel: routinely, and whenever something falls due.
        let due_by = crate::sla::next_deadline(&r.rows).into_iter().chain(std::iter::once(give_up_at)).min();
        let forced = self.look_now.contains(&p.id)
            || due_by.is_some_and(|t| t <= now && known < t)
            || self.intent_pending(&r, kind::FOLLOW_UP_INTENT, &[kind::FOLLOW_UP, kind::FOLLOW_UP_SENT], known);
        let routine = self.next_poll.get(&p.id).is_none_or(|t| *t <= now);
        let mut p = p;
        let mut r = r;
        if !self.gate.blocked()
            && (forced || routine)
            && self.poll(&p, self.spec.min_request_interval.std(), &r.events).await?
        {
            p = self.reload(&p)?;
            r = self.refresh(&p)?;
        }
        if !r.derived.state.is_active() {
            if let Some(by) = r.derived.resolved_by {
                info!(by = by.as_str(), "probe resolved");
            }
            return Ok(());
        }

        // Give up only once a successful look at the channel later than the give-up
        // time (which read the whole history) showed no resolution: never from
        // silence, however long the channel has been unreachable.
        let now = self.ctx.clock.now();
        let known = p.known_until.unwrap_or(opened);
        if now >= give_up_at && known >= give_up_at {
            let e = NewEvent { kind: kind::EXPIRED, key: kind::EXPIRED, at: Some(give_up_at), ..Default::default() };
            self.ctx.store.append(p.id, &e, now)?;
            let r = self.refresh(&p)?;
            info!(outcome = r.derived.outcome().map(|o| o.as_str()).unwrap_or(""), "probe expired");
            return Ok(());
        }
        self.follow_ups(&p, &r).await
    }

    /// Whether an intent was recorded without its result and the channel
    /// has not been looked at since: then look before acting again.
    fn intent_pending(&self, r: &Refreshed, intent: &str, results: &[&str], known: Ts) -> bool {
        let Some(last) = r.latest(intent) else { return false };
        let seq = last.detail.get("seq").and_then(|s| s.as_u64());
        let done = r
            .events
            .iter()
            .any(|e| results.contains(&e.kind.as_str()) && e.detail.get("seq").and_then(|s| s.as_u64()) == seq);
        !done && known <= last.observed_at
    }

    async fn follow_ups(&mut self, p: &Probe, r: &Refreshed) -> Result<(), StoreError> {
        let Some(scenario) = self.scenario(&p.scenario) else { return Ok(()) };
        let Some(ticket) = p.ticket_id.clone() else { return Ok(()) };
        let now = self.ctx.clock.now();
        let known = p.known_until.unwrap_or(now);
        for (i, fu) in scenario.follow_ups.iter().enumerate() {
            let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let timing = r.derived.follow_ups.iter().find(|f| f.seq == seq);
            if timing.is_some() {
                continue;
            }
            let Some(trigger) = self.follow_up_trigger(fu.after, seq, r) else { return Ok(()) };
            let delay = p.follow_up_delay.unwrap_or_else(|| fu.delay.chrono());
            if now < trigger + delay || self.gate.blocked() {
                return Ok(());
            }
            let prefix = format!("{}:{seq}:", kind::FOLLOW_UP_INTENT);
            if let Some(last) = r.latest(&prefix)
                && known <= last.observed_at
            {
                // Sent before a crash or error? The next poll tells.
                self.next_poll.insert(p.id, now);
                return Ok(());
            }
            let attempt = r.count(&prefix) + 1;
            let key = format!("{prefix}{attempt}");
            let e = NewEvent {
                kind: kind::FOLLOW_UP_INTENT,
                key: &key,
                detail: Some(json!({ "seq": seq })),
                ..Default::default()
            };
            self.ctx.store.append(p.id, &e, now)?;
            let config = self.ctx.config.clone();
            let name = config.vendor(&p.vendor).map_or(p.vendor.clone(), |v| v.name.clone());
            let date = now.format("%Y-%m-%d").to_string();
            let body =
                Scenario::render_marked(&fu.body, &self.vars(p, &name, &date), &format!("{}/f{seq}", p.reference));
            self.gate.wait(self.spec.min_request_interval.std()).await;
            match self.channel.reply(&ticket, &body).await {
                Ok(()) => {
                    self.call_ok()?;
                    crate::failpoint::hit("after_follow_up");
                    let now = self.ctx.clock.now();
                    let key = format!("{}:{seq}", kind::FOLLOW_UP_SENT);
                    let e = NewEvent {
                        kind: kind::FOLLOW_UP_SENT,
                        key: &key,
                        detail: Some(json!({ "seq": seq })),
                        ..Default::default()
                    };
                    self.ctx.store.append(p.id, &e, now)?;
                    info!(seq, "follow-up sent");
                    let soon =
                        now + chrono::Duration::from_std(self.spec.min_request_interval.std()).unwrap_or_default();
                    self.next_poll.insert(p.id, soon);
                    self.refresh(p)?;
                }
                Err(e) => self.count_error(Operation::Reply, &e)?,
            }
            return Ok(());
        }
        Ok(())
    }

    /// Records the end of the courtesy close (done, not needed, or given up).
    fn record_closed(&mut self, p: &Probe, note: &str) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        let e = NewEvent {
            kind: kind::CLOSED,
            key: kind::CLOSED,
            detail: Some(json!({ "note": note })),
            ..Default::default()
        };
        self.ctx.store.append(p.id, &e, now)?;
        info!(note, "probe closed");
        self.refresh(p).map(|_| ())
    }

    /// The courtesy close after resolution or expiry.
    async fn close(&mut self, p: Probe) -> Result<(), StoreError> {
        let r = self.refresh(&p)?;
        if r.has(kind::CLOSED) || self.gate.blocked() {
            return Ok(());
        }
        let now = self.ctx.clock.now();
        if !self.last_status.contains_key(&p.id) {
            // Not looked at since this process started: the vendor may have solved it
            // meanwhile, and a comment would reopen it. Look first.
            self.poll(&p, self.spec.min_request_interval.std(), &r.events).await?;
            return Ok(());
        }
        let vendor_solved = r.derived.resolved_by == Some(ResolvedBy::Status)
            || self.last_status.get(&p.id).is_some_and(TicketStatus::is_resolved);
        if vendor_solved {
            // Commenting on a solved ticket would reopen it: nothing to do.
            return self.record_closed(&p, "solved by the vendor");
        }
        let Some(ticket) = p.ticket_id.clone() else { return Ok(()) };
        let known = p.known_until.unwrap_or(now);
        let prefix = format!("{}:", kind::CLOSE_INTENT);
        if let Some(last) = r.latest(&prefix)
            && known <= last.observed_at
        {
            // Did the last attempt get through? Look before sending again.
            if self.poll(&p, self.spec.min_request_interval.std(), &r.events).await? {
                let p = self.reload(&p)?;
                let r = self.refresh(&p)?;
                if r.has(kind::CLOSED) {
                    return Ok(());
                }
            }
            return Ok(());
        }
        let attempts = r.count(&prefix);
        if attempts >= MAX_CLOSE_ATTEMPTS {
            warn!(attempts, "courtesy close failed repeatedly; recording it as closed");
            return self.record_closed(&p, "courtesy close failed; gave up");
        }
        let Some(scenario) = self.scenario(&p.scenario) else { return Ok(()) };
        let key = format!("{prefix}{}", attempts + 1);
        self.ctx.store.append(p.id, &NewEvent { kind: kind::CLOSE_INTENT, key: &key, ..Default::default() }, now)?;
        let config = self.ctx.config.clone();
        let name = config.vendor(&p.vendor).map_or(p.vendor.clone(), |v| v.name.clone());
        let date = now.format("%Y-%m-%d").to_string();
        let body = Scenario::render_marked(
            &scenario.close.body,
            &self.vars(&p, &name, &date),
            &format!("{}/close", p.reference),
        );
        self.gate.wait(self.spec.min_request_interval.std()).await;
        match self.channel.close(&ticket, Some(&body), scenario.close.solve).await {
            Ok(()) => {
                self.call_ok()?;
                crate::failpoint::hit("after_close");
                self.record_closed(&p, "courtesy close sent")
            }
            Err(e) => {
                self.count_error(Operation::Close, &e)?;
                if !e.is_transient() && !matches!(e, ChannelError::Auth { .. }) {
                    return self.record_closed(
                        &p,
                        &format!("courtesy close failed: {}", crate::redact::redact(&e.to_string())),
                    );
                }
                Ok(())
            }
        }
    }
}
