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

#![forbid(unsafe_code)]

pub mod send;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use supportprobe_core::clock;
use {supportprobe_channels as channel, supportprobe_config as config, supportprobe_store as store};

use crate::config::Config;
pub use crate::store::Notification;
use crate::store::{Store, StoreError};

/// Delivery attempts before a notification is given up (about 1.5 hours of retries).
const MAX_ATTEMPTS: u32 = 12;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How often the notifier looks for due deliveries.
const TICK: Duration = Duration::from_millis(500);

/// Longest sleep of the notifier: a delivery queued by another process
/// (`record`) is picked up within it.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// What the notifier works with: the running config's targets, the store
/// holding the outbox, the clock, and the wake-up the engine rings when it
/// queues a notification.
#[derive(Clone)]
pub struct Notifier {
    pub config: std::sync::Arc<Config>,
    pub store: std::sync::Arc<Store>,
    pub clock: std::sync::Arc<dyn crate::clock::Clock>,
    pub enqueued: &'static tokio::sync::Notify,
}

/// Delivers due notifications until cancelled.
pub async fn run(ctx: Notifier, shutdown: CancellationToken) {
    if ctx.config.notify.is_empty() {
        return;
    }
    let sender = match send::Sender::new() {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %supportprobe_core::error_chain(&e), "cannot build the notification client; notifications stay queued");
            return;
        }
    };
    loop {
        match deliver_due(&ctx, &sender, &shutdown).await {
            Ok(_) => ctx.store.note_success(),
            Err(e) => {
                ctx.store.note_failure(&e);
                warn!(error = %supportprobe_core::error_chain(&e), kind = e.kind(), "notifier store error; retrying");
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
            () = ctx.enqueued.notified() => {}
        }
    }
}

async fn deliver_due(ctx: &Notifier, sender: &send::Sender, shutdown: &CancellationToken) -> Result<(), StoreError> {
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
                let message = supportprobe_core::error_chain(&e);
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
