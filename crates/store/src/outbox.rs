//! The outbox: notifications the engine queued, one delivery per target, retried until delivered
//! or given up.

use rusqlite::{OptionalExtension, params};
use supportprobe_core::lifecycle::Ts;
use supportprobe_core::model::NotifyEvent;
use supportprobe_core::model::Priority;

use crate::*;

/// A notification to record (the outbox row).
#[derive(Clone, Debug)]
pub struct NewNotification<'a> {
    /// Unique: the same key is never recorded twice.
    pub key: &'a str,
    pub event: &'a str,
    pub vendor: &'a str,
    pub priority: Option<Priority>,
    pub payload: &'a serde_json::Value,
}

/// A delivery that is due.
#[derive(Clone, Debug, PartialEq)]
pub struct DueDelivery {
    pub notification_id: i64,
    pub key: String,
    pub event: String,
    pub target: String,
    pub attempts: u32,
    pub payload: serde_json::Value,
}

/// Delivery counts for metrics: `(target, event, state, deliveries, failed attempts)`.
pub type DeliveryCount = (String, String, String, u64, u64);

impl Store {
    /// Records a notification and a pending delivery per target, once per
    /// key. Returns whether it was new.
    pub fn enqueue_notification(&self, n: &NewNotification<'_>, targets: &[&str], now: Ts) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let inserted = exec(
            &tx,
            "INSERT OR IGNORE INTO notifications(key, event, vendor, priority, payload, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![n.key, n.event, n.vendor, n.priority.map(Priority::as_str), n.payload.to_string(), ts(now)],
        )?;
        let n = inserted;
        if n == 1 {
            let id = tx.last_insert_rowid();
            for t in targets {
                exec(
                    &tx,
                    "INSERT INTO deliveries(notification_id, target, state, next_attempt_at) VALUES (?1, ?2, 'pending', ?3)",
                    params![id, t, ts(now)],
                )?;
            }
        }
        tx.commit()?;
        Ok(n == 1)
    }

    pub fn notification_exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(row(&self.conn(), "SELECT 1 FROM notifications WHERE key = ?1", [key], |_| Ok(())).optional()?.is_some())
    }

    /// When the next pending delivery is due, if any.
    pub fn next_delivery_at(&self) -> Result<Option<Ts>, StoreError> {
        let s: Option<String> =
            row(&self.conn(), "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'", [], |r| r.get(0))?;
        opt_ts("next_attempt_at", s)
    }

    /// Pending deliveries whose time has come, oldest first.
    pub fn due_deliveries(&self, now: Ts, limit: u32) -> Result<Vec<DueDelivery>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT d.notification_id, n.key, n.event, d.target, d.attempts, n.payload
             FROM deliveries d JOIN notifications n ON n.id = d.notification_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= ?1
             ORDER BY d.next_attempt_at, d.notification_id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![ts(now), limit], |r| {
            Ok(DueDelivery {
                notification_id: r.get(0)?,
                key: r.get(1)?,
                event: r.get(2)?,
                target: r.get(3)?,
                attempts: r.get(4)?,
                payload: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ends or reschedules a delivery: `state` is `delivered`, `failed`,
    /// `dropped` or `pending` (with `next` as the retry time).
    pub fn finish_delivery(
        &self,
        notification_id: i64,
        target: &str,
        state: &str,
        next: Option<Ts>,
        error: Option<&str>,
        now: Ts,
    ) -> Result<(), StoreError> {
        exec(&self.conn(),
            "UPDATE deliveries SET state = ?3, attempts = attempts + 1, next_attempt_at = COALESCE(?4, next_attempt_at),
               last_error = COALESCE(?5, last_error), delivered_at = CASE WHEN ?3 = 'delivered' THEN ?6 ELSE delivered_at END
             WHERE notification_id = ?1 AND target = ?2",
            params![notification_id, target, state, next.map(ts), error, ts(now)],
        )?;
        Ok(())
    }

    /// Delivery counts by target, event and state, with failed attempts.
    pub fn delivery_counts(&self) -> Result<Vec<DeliveryCount>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT d.target, n.event, d.state, COUNT(*),
                    SUM(CASE WHEN d.state = 'delivered' THEN d.attempts - 1 ELSE d.attempts END)
             FROM deliveries d JOIN notifications n ON n.id = d.notification_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?, r.get::<_, Option<i64>>(4)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (t, e, s, n, f) = row?;
            out.push((t, e, s, u64::try_from(n).unwrap_or(0), u64::try_from(f.unwrap_or(0)).unwrap_or(0)));
        }
        Ok(out)
    }
}

/// One notification, as stored and as sent to JSON webhooks.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
