//! Following a probe while it waits: our scheduled follow-ups, each sent once.

use serde_json::json;
use tracing::info;

use super::*;
use crate::channel::{Channel, Operation};
use crate::lifecycle::Ts;
use crate::probe::{Refreshed, kind};
use crate::scenario::{FollowUpAfter, Scenario};
use crate::store::{NewEvent, Probe, StoreError};

impl Worker {
    /// When the probe's next follow-up falls due, if its trigger has happened.
    pub(super) fn follow_up_due(&mut self, p: &Probe, r: &Refreshed) -> Option<Ts> {
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

    pub(super) fn follow_up_trigger(&self, after: FollowUpAfter, seq: u32, r: &Refreshed) -> Option<Ts> {
        match after {
            FollowUpAfter::Opened => r.derived.opened_at,
            FollowUpAfter::FirstHumanResponse => r.derived.first_human_at,
            FollowUpAfter::PreviousReply if seq == 1 => r.derived.first_human_at,
            FollowUpAfter::PreviousReply => {
                r.derived.follow_ups.iter().find(|f| f.seq == seq - 1).and_then(|f| f.replied_at)
            }
        }
    }

    pub(super) async fn follow(&mut self, p: Probe) -> Result<(), StoreError> {
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
        if !self.gate.blocked(self.ctx.clock.instant())
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
    pub(super) fn intent_pending(&self, r: &Refreshed, intent: &str, results: &[&str], known: Ts) -> bool {
        let Some(last) = r.latest(intent) else { return false };
        let seq = last.detail.get("seq").and_then(|s| s.as_u64());
        let done = r
            .events
            .iter()
            .any(|e| results.contains(&e.kind.as_str()) && e.detail.get("seq").and_then(|s| s.as_u64()) == seq);
        !done && known <= last.observed_at
    }

    pub(super) async fn follow_ups(&mut self, p: &Probe, r: &Refreshed) -> Result<(), StoreError> {
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
            if now < trigger + delay || self.gate.blocked(self.ctx.clock.instant()) {
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
            self.gate.wait(self.spec.min_request_interval.std(), &*self.ctx.clock).await;
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
}
