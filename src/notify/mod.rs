//! Built-in notifications, for teams without Alertmanager.
//!
//! The engine writes notifications into the store as an outbox, at the
//! moment it records what they are about — a breach while waiting
//! (`unanswered_past_promise`), a breach made final (`promise_breached`: the
//! late answer arrived, or the probe ended unanswered), a probe that could not
//! be opened (`open_failed`), a channel that keeps failing
//! (`channel_failing`) — with one pending delivery per target whose filters
//! (events, vendors, priorities) match. Each notification has a unique key,
//! so recording it twice does nothing.
//!
//! The notifier task delivers pending deliveries, retries failures with
//! exponential back-off (honouring `Retry-After`), and marks each delivery in
//! the store, so a restart neither repeats a delivered notification nor
//! drops a pending one. (A crash in the instant between a receiver accepting
//! a message and the store recording it can repeat that one message; every
//! message carries its key — `Idempotency-Key` header, `id` field, email
//! `Message-ID` — so receivers can drop the repeat.)

pub mod send;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::duration::human_secs;
use crate::engine::Ctx;
use crate::lifecycle::Ts;
use crate::model::{NotifyEvent, Priority};
use crate::store::{Probe, Store, StoreError};

/// Delivery attempts before a notification is given up (about 1.5 hours of retries).
const MAX_ATTEMPTS: u32 = 12;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How often the notifier looks for due deliveries.
const TICK: Duration = Duration::from_millis(500);

/// One notification, as stored and as sent to JSON webhooks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per notification; receivers can use it to drop repeats.
    pub id: String,
    pub event: NotifyEvent,
    pub vendor: String,
    pub vendor_name: String,
    pub channel: String,
    pub priority: Option<Priority>,
    /// The promise concerned: `first_response`, `next_reply` or `resolution`.
    pub measure: Option<String>,
    pub promise_seconds: Option<f64>,
    /// How long it took, or has been waiting (wall clock).
    pub elapsed_seconds: Option<f64>,
    pub deadline: Option<String>,
    pub probe: Option<String>,
    pub ticket_id: Option<String>,
    pub ticket_url: Option<String>,
    pub scenario: Option<String>,
    pub at: String,
    /// One line for chat titles and email subjects.
    pub summary: String,
    /// What happened and what to look at, for the person paged.
    pub description: String,
}

impl Notification {
    /// The text chat targets send.
    pub fn text(&self) -> String {
        format!("[supportprobe] {}\n{}", self.summary, self.description)
    }
}

fn vendor_name(config: &Config, vendor: &str) -> String {
    config.vendor(vendor).map_or_else(|| vendor.to_string(), |v| v.name.clone())
}

fn rfc(t: Ts) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A breach of a probe's promise: while waiting, or made final.
pub fn breach(config: &Config, p: &Probe, row: &crate::sla::MeasureRow, final_: bool, now: Ts) -> Notification {
    let measure = crate::engine::probe::promise_name(row.measure);
    let name = vendor_name(config, &p.vendor);
    let promise = row.target.map(|d| d.secs()).unwrap_or_default();
    let calendar =
        config.promise(&p.vendor, p.priority).map_or_else(|| "24x7".to_string(), |pr| pr.calendar.name().to_string());
    let ticket = p.ticket_url.clone().or_else(|| p.ticket_id.clone()).unwrap_or_else(|| "-".into());
    let (event, summary, elapsed) = match (final_, row.end, row.wall_secs) {
        (false, _, _) => {
            let waited = (now - row.start).num_seconds();
            (
                NotifyEvent::UnansweredPastPromise,
                format!(
                    "{name} {} {measure} promise missed: no answer after {} (promised {})",
                    p.priority,
                    human_secs(waited),
                    human_secs(promise)
                ),
                Some(waited as f64),
            )
        }
        (true, Some(_), Some(took)) => (
            NotifyEvent::PromiseBreached,
            format!(
                "{name} {} {measure} took {} against a promise of {}",
                p.priority,
                human_secs(took as i64),
                human_secs(promise)
            ),
            Some(took),
        ),
        (true, _, _) => (
            NotifyEvent::PromiseBreached,
            format!("{name} {} {measure} promise missed: never reached before the probe ended", p.priority),
            None,
        ),
    };
    let deadline = row.deadline.map(rfc);
    let description = format!(
        "{name} promised {measure} within {} ({calendar} calendar) for {}. Deadline: {}. Probe {} (scenario {}), ticket {ticket} via {}.",
        human_secs(promise),
        p.priority,
        deadline.as_deref().unwrap_or("-"),
        p.reference,
        p.scenario,
        p.kind
    );
    let key = match event {
        NotifyEvent::UnansweredPastPromise => format!("unanswered:{}:{measure}:{}", p.reference, row.seq),
        _ => format!("breached:{}:{measure}:{}", p.reference, row.seq),
    };
    Notification {
        id: key,
        event,
        vendor: p.vendor.clone(),
        vendor_name: name,
        channel: p.kind.clone(),
        priority: Some(p.priority),
        measure: Some(measure.to_string()),
        promise_seconds: row.target.map(|d| d.as_secs_f64()),
        elapsed_seconds: elapsed,
        deadline,
        probe: Some(p.reference.clone()),
        ticket_id: p.ticket_id.clone(),
        ticket_url: p.ticket_url.clone(),
        scenario: Some(p.scenario.clone()),
        at: rfc(now),
        summary,
        description,
    }
}

/// A notification about one probe as a whole (no measure), named `EVENT:REF`.
fn about_probe(
    config: &Config,
    p: &Probe,
    event: NotifyEvent,
    now: Ts,
    summary: String,
    description: String,
) -> Notification {
    Notification {
        id: format!("{event}:{}", p.reference),
        event,
        vendor: p.vendor.clone(),
        vendor_name: vendor_name(config, &p.vendor),
        channel: p.kind.clone(),
        priority: Some(p.priority),
        measure: None,
        promise_seconds: None,
        elapsed_seconds: None,
        deadline: None,
        probe: Some(p.reference.clone()),
        ticket_id: p.ticket_id.clone(),
        ticket_url: p.ticket_url.clone(),
        scenario: Some(p.scenario.clone()),
        at: rfc(now),
        summary,
        description,
    }
}

/// A probe that could not be opened.
pub fn open_failed(config: &Config, p: &Probe, error: &str, now: Ts) -> Notification {
    let name = vendor_name(config, &p.vendor);
    about_probe(
        config,
        p,
        NotifyEvent::OpenFailed,
        now,
        format!("{name} {} probe {} could not be opened via {}", p.priority, p.reference, p.kind),
        format!(
            "After {} attempt(s) the {} channel refused the probe: {error}. Check the channel's credentials and the vendor's status; nothing was measured.",
            p.attempts, p.kind
        ),
    )
}

/// An opened probe ended without a figure: its ticket vanished at the vendor
/// or its id now names a ticket that is not ours.
pub fn probe_lost(config: &Config, p: &Probe, reason: &str, now: Ts) -> Notification {
    let name = vendor_name(config, &p.vendor);
    about_probe(
        config,
        p,
        NotifyEvent::ProbeLost,
        now,
        format!("{name} {} probe {} was lost at the vendor ({})", p.priority, p.reference, p.kind),
        format!(
            "{reason}. Polling stopped and nothing more will be sent to it; the probe ends as failed and what was measured before stays."
        ),
    )
}

/// A manual probe (phone hotline, account manager) is due: what to do and say.
pub fn manual_due(
    config: &Config,
    p: &Probe,
    m: &crate::config::ManualSettings,
    subject: &str,
    body: &str,
    now: Ts,
) -> Notification {
    let name = vendor_name(config, &p.vendor);
    let instructions = m.instructions.as_deref().map(|i| format!(" {i}")).unwrap_or_default();
    Notification {
        id: format!("manual_probe_due:{}", p.reference),
        event: NotifyEvent::ManualProbeDue,
        vendor: p.vendor.clone(),
        vendor_name: name.clone(),
        channel: p.kind.clone(),
        priority: Some(p.priority),
        measure: None,
        promise_seconds: None,
        elapsed_seconds: None,
        deadline: None,
        probe: Some(p.reference.clone()),
        ticket_id: Some(p.reference.clone()),
        ticket_url: None,
        scenario: Some(p.scenario.clone()),
        at: rfc(now),
        summary: format!("{name} {} manual probe {} is due now: contact {}", p.priority, p.reference, m.contact),
        description: format!(
            "Contact {}.{instructions} Say:\n\n{subject}\n\n{body}\n\nThen record what happened and when: \
             `supportprobe record {r} --event answered|human|resolved --at TIME --config CONFIG`, or \
             POST /api/v1/probes/{r}/events with {{\"event\": \"human\", \"at\": \"TIME\"}}. \
             Without a record the probe expires unanswered.",
            m.contact,
            r = p.reference
        ),
    }
}

/// A channel whose calls keep failing.
pub fn channel_failing(
    config: &Config,
    vendor: &str,
    kind: &str,
    since: Ts,
    failures: u32,
    error: &str,
) -> Notification {
    let name = vendor_name(config, vendor);
    Notification {
        id: format!("channel_failing:{vendor}:{kind}:{}", rfc(since)),
        event: NotifyEvent::ChannelFailing,
        vendor: vendor.to_string(),
        vendor_name: name.clone(),
        channel: kind.to_string(),
        priority: None,
        measure: None,
        promise_seconds: None,
        elapsed_seconds: None,
        deadline: None,
        probe: None,
        ticket_id: None,
        ticket_url: None,
        scenario: None,
        at: rfc(since),
        summary: format!("{name}: the {kind} channel is failing ({failures} failed calls in a row)"),
        description: format!(
            "Since {}, calls to {name}'s {kind} channel fail: {error}. Probes wait and retry; figures are not lost, but breaches cannot be confirmed until it recovers.",
            rfc(since)
        ),
    }
}

/// Records a notification with a delivery for every target that wants it.
/// Returns whether it was new.
pub fn enqueue(config: &Config, store: &Store, n: &Notification, now: Ts) -> Result<bool, StoreError> {
    let targets: Vec<&str> =
        config.notify.values().filter(|t| t.wants(n.event, &n.vendor, n.priority)).map(|t| t.name.as_str()).collect();
    if targets.is_empty() {
        return Ok(false);
    }
    let payload = serde_json::to_value(n).unwrap_or(serde_json::Value::Null);
    let row = crate::store::NewNotification {
        key: &n.id,
        event: n.event.as_str(),
        vendor: &n.vendor,
        priority: n.priority,
        payload: &payload,
    };
    let new = store.enqueue_notification(&row, &targets, now)?;
    if new {
        ENQUEUED.notify_one();
    }
    Ok(new)
}

/// Wakes the notifier when a notification is queued (it sleeps until the
/// next delivery is due otherwise).
static ENQUEUED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Longest sleep of the notifier: a delivery queued by another process
/// (`record`) is picked up within it.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// Delivers due notifications until cancelled.
pub async fn run(ctx: Ctx, shutdown: CancellationToken) {
    if ctx.config.notify.is_empty() {
        return;
    }
    let sender = match send::Sender::new() {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot build the notification client; notifications stay queued");
            return;
        }
    };
    loop {
        match deliver_due(&ctx, &sender, &shutdown).await {
            Ok(_) => ctx.store.note_success(),
            Err(e) => {
                ctx.store.note_failure(&e);
                warn!(error = %e, kind = e.kind(), "notifier store error; retrying");
            }
        }
        // Sleep until the next retry is due, or something is queued.
        let now = ctx.clock.now();
        let sleep = match ctx.store.next_delivery_at() {
            Ok(Some(t)) => (t - now).to_std().unwrap_or(Duration::ZERO).max(TICK).min(MAX_IDLE),
            _ => MAX_IDLE,
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(sleep) => {}
            () = ENQUEUED.notified() => {}
        }
    }
}

async fn deliver_due(ctx: &Ctx, sender: &send::Sender, shutdown: &CancellationToken) -> Result<(), StoreError> {
    let due = ctx.store.due_deliveries(ctx.clock.now(), 50)?;
    for d in due {
        if shutdown.is_cancelled() {
            break;
        }
        let now = ctx.clock.now();
        let Some(target) = ctx.config.notify.get(&d.target) else {
            ctx.store.finish_delivery(
                d.notification_id,
                &d.target,
                "dropped",
                None,
                Some("target no longer configured"),
                now,
            )?;
            continue;
        };
        let n: Notification = match serde_json::from_value(d.payload.clone()) {
            Ok(n) => n,
            Err(e) => {
                ctx.store.finish_delivery(
                    d.notification_id,
                    &d.target,
                    "failed",
                    None,
                    Some(&format!("unreadable: {e}")),
                    now,
                )?;
                continue;
            }
        };
        let result = sender.send(&target.sink, &n).await;
        let now = ctx.clock.now();
        match result {
            Ok(()) => {
                ctx.store.finish_delivery(d.notification_id, &d.target, "delivered", None, None, now)?;
                info!(target = %d.target, kind = target.kind().as_str(), event = %d.event, id = %d.key, "notification delivered");
            }
            Err(e) => {
                let attempts = d.attempts + 1;
                let message = e.to_string();
                if attempts >= MAX_ATTEMPTS {
                    warn!(target = %d.target, event = %d.event, attempts, error = %message, "notification given up");
                    ctx.store.finish_delivery(d.notification_id, &d.target, "failed", None, Some(&message), now)?;
                } else {
                    let wait = e.retry_after().unwrap_or(Duration::from_secs(1 << attempts.min(10))).min(MAX_BACKOFF);
                    let next = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(10));
                    warn!(target = %d.target, event = %d.event, attempts, retry_in = ?wait, error = %message, "notification not delivered; will retry");
                    ctx.store.finish_delivery(
                        d.notification_id,
                        &d.target,
                        "pending",
                        Some(next),
                        Some(&message),
                        now,
                    )?;
                }
            }
        }
    }
    Ok(())
}
