//! Opening a probe: the first call, crash recovery when the answer to a create was lost, and
//! retries while the outcome is unknown.

use std::time::Duration;

use serde_json::json;
use tracing::{info, warn};

use super::*;
use crate::channel::{Channel, ChannelError, OpenRequest, Operation, Ticket};
use crate::probe::kind;
use crate::store::{NewEvent, Probe, StoreError};

impl Worker {
    /// Looks for the ticket an earlier attempt may have created; records it as
    /// opened when found. `Ok(true)` when found; a failed look is counted.
    pub(super) async fn recover(
        &mut self,
        p: &Probe,
        gap: Duration,
        what: &str,
    ) -> Result<Result<bool, ChannelError>, StoreError> {
        self.gate.wait(gap, &*self.ctx.clock).await;
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
    pub(super) async fn start(&mut self, p: Probe) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        let config = self.ctx.config.clone();
        let Some(vendor) = config.vendor(&p.vendor) else {
            return self.skip(&p, "vendor no longer configured");
        };
        let store = &self.ctx.store;
        let refusal = super::admission::refusal(
            &vendor.caps,
            now,
            || store.count_open(&p.vendor),
            |since| store.count_sent_since(&p.vendor, since),
        )?;
        if let Some(reason) = refusal {
            return self.skip(&p, &reason);
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

    pub(super) async fn open(&mut self, p: Probe) -> Result<(), StoreError> {
        let config = self.ctx.config.clone();
        let (Some(vendor), Some(scenario)) = (config.vendor(&p.vendor), self.scenario(&p.scenario)) else {
            return self.skip(&p, "vendor or scenario no longer configured");
        };
        if self.gate.blocked(self.ctx.clock.instant()) {
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
        self.gate.wait(gap, &*self.ctx.clock).await;
        match self.channel.open(&req).await {
            Ok(ticket) => {
                self.call_ok()?;
                crate::failpoint::hit("after_open");
                if let crate::config::ChannelSettings::Manual(m) = &self.spec.settings {
                    let n = crate::outbox::manual_due(&self.ctx.config, &p, m, &msg.subject, &msg.body, now);
                    crate::outbox::enqueue(&self.ctx.config, &self.ctx.store, &n, now)?;
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
    pub(super) fn look_again(&mut self, p: &Probe, e: &ChannelError) -> Result<(), StoreError> {
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

    pub(super) fn retry_or_fail(&mut self, p: &Probe, e: &ChannelError) -> Result<(), StoreError> {
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
        crate::outbox::enqueue(
            &self.ctx.config,
            &self.ctx.store,
            &crate::outbox::open_failed(&self.ctx.config, p, &message, now),
            now,
        )?;
        self.refresh(p).map(|_| ())
    }

    pub(super) fn record_opened(&mut self, p: &Probe, ticket: &Ticket, recovered: bool) -> Result<(), StoreError> {
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
}
