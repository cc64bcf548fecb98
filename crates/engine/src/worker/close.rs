//! The courtesy close: our last message and, where we may, the ticket marked solved.

use serde_json::json;
use tracing::{info, warn};

use super::*;
use crate::channel::{Channel, ChannelError, Operation, TicketStatus};
use crate::lifecycle::ResolvedBy;
use crate::probe::kind;
use crate::scenario::Scenario;
use crate::store::{NewEvent, Probe, StoreError};

impl Worker {
    /// Records the end of the courtesy close (done, not needed, or given up).
    pub(super) fn record_closed(&mut self, p: &Probe, note: &str) -> Result<(), StoreError> {
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
    pub(super) async fn close(&mut self, p: Probe) -> Result<(), StoreError> {
        let r = self.refresh(&p)?;
        if r.has(kind::CLOSED) || self.gate.blocked(self.ctx.clock.instant()) {
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
        self.gate.wait(self.spec.min_request_interval.std(), &*self.ctx.clock).await;
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
