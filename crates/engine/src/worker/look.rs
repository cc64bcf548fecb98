//! Looking at a ticket: one poll, a ticket gone or reused, and what the look found recorded as
//! events (the pure part is [`super::ingest`]).

use std::time::Duration;

use tracing::{debug, info, warn};

use super::*;
use crate::channel::{Channel, ChannelError, Operation, Snapshot};
use crate::classify::AuthorKind;
use crate::model::State;
use crate::probe::kind;
use crate::scenario::ResolutionSignal;
use crate::store::{NewEvent, Probe, StoreError, StoredEvent};

/// Whether a snapshot is of our ticket: a history that shows our own opening
/// message must carry the probe's reference somewhere (our open always
/// writes it into the body). A ticket whose id the vendor reused for someone
/// else's shows none; a history without our messages (a mailbox search) is
/// not judged.
pub(super) fn carries_reference(snap: &Snapshot, reference: &str) -> bool {
    let has_ours = snap.messages.iter().any(|m| m.author_kind == AuthorKind::Requester);
    !has_ours
        || snap
            .messages
            .iter()
            .any(|m| m.body.contains(reference) || m.subject.as_deref().is_some_and(|s| s.contains(reference)))
}

impl Worker {
    /// Reads the channel and records what is new. Returns whether it succeeded.
    /// `events` are the probe's stored events as the caller last read them.
    pub(super) async fn poll(&mut self, p: &Probe, gap: Duration, events: &[StoredEvent]) -> Result<bool, StoreError> {
        let Some(ticket) = p.ticket_id.clone() else { return Ok(false) };
        if self.gone.get(&p.id).is_some_and(|(_, until)| self.ctx.clock.instant() < *until) {
            // Its ticket was not found a moment ago: no look, forced or not, before its back-off ends.
            return Ok(false);
        }
        self.gate.wait(gap, &*self.ctx.clock).await;
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
                crate::off_async(|| self.ingest(p, &snap, events))?;
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
                    self.gone.insert(p.id, (misses, self.ctx.clock.instant() + wait));
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
    pub(super) fn lost(&mut self, p: &Probe, reason: &str) -> Result<(), StoreError> {
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
        let n = crate::outbox::probe_lost(&self.ctx.config, p, reason, now);
        crate::outbox::enqueue(&self.ctx.config, &self.ctx.store, &n, now)?;
        self.end_with(p, kind::LOST, reason)
    }

    /// Classifies and records every message and the status.
    /// Records what a look found: the events [`ingest::found`] reads off the snapshot.
    pub(super) fn ingest(&mut self, p: &Probe, snap: &Snapshot, events: &[StoredEvent]) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        let config = self.ctx.config.clone();
        let overrides = config.vendor(&p.vendor).map(|v| v.classify.clone()).unwrap_or_default();
        let scenario = self.scenario(&p.scenario);
        let pattern = scenario
            .as_ref()
            .filter(|s| s.accepts(ResolutionSignal::Pattern))
            .and_then(|s| s.resolution.pattern.clone());
        let ours = self.channel.identity();
        let rules = ingest::Rules {
            reference: &p.reference,
            overrides: &overrides,
            pattern: pattern.as_ref(),
            status_resolves: p.state.is_active()
                && scenario.as_ref().is_some_and(|s| s.accepts(ResolutionSignal::Status)),
            ours: &ours,
        };
        let found = ingest::found(&rules, snap, events, now);
        let rows: Vec<NewEvent<'_>> = found.iter().map(ingest::Found::event).collect();
        let new = self.ctx.store.append_all(p.id, &rows, now)?;
        if new > 0 {
            debug!(new, "recorded new events");
        }
        Ok(())
    }
}
