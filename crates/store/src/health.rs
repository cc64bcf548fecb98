//! Health: the store's own failures (for `/readyz` and metrics), each channel's state and its
//! error counters.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rusqlite::params;
use supportprobe_core::lifecycle::Ts;

use crate::*;

/// Store failures seen by the daemon's tasks: counted by kind for
/// `supportprobe_store_errors_total`, and remembered so `/readyz` says not
/// ready while the store keeps failing.
#[derive(Debug, Default)]
pub struct Health {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    /// When the last failure happened, unless a success came after it.
    failing_since: Mutex<Option<std::time::Instant>>,
}

/// A channel error counter.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorCount {
    pub vendor: String,
    pub channel: String,
    pub operation: String,
    pub kind: String,
    pub count: u64,
    pub last_message: String,
}

/// A channel's health, as the worker last saw it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelState {
    pub vendor: String,
    pub channel: String,
    /// Consecutive failed calls.
    pub failures: u32,
    /// Set while the channel counts as failing.
    pub failing_since: Option<Ts>,
    pub last_error: Option<String>,
}

impl Store {
    /// Records a failure of a store call made by one of the daemon's tasks.
    pub fn note_failure(&self, e: &StoreError) {
        *self.health.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(e.kind()).or_insert(0) += 1;
        let mut since = self.health.failing_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        since.get_or_insert_with(std::time::Instant::now);
    }

    /// A task's pass over the store succeeded: it is not failing (any more).
    pub fn note_success(&self) {
        let mut since = self.health.failing_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if since.is_some() {
            *since = None;
        }
    }

    /// Whether the store has been failing, with no success since.
    pub fn failing(&self) -> bool {
        self.health.failing_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some()
    }

    /// Failures by kind since the process started.
    pub fn failure_counts(&self) -> BTreeMap<&'static str, u64> {
        self.health.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn channel_state(&self, vendor: &str, channel: &str) -> Result<Option<ChannelState>, StoreError> {
        Ok(self.channel_states()?.into_iter().find(|c| c.vendor == vendor && c.channel == channel))
    }

    pub fn channel_states(&self) -> Result<Vec<ChannelState>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT vendor, channel, failures, failing_since, last_error FROM channel_state ORDER BY 1, 2",
        )?;
        let rows = stmt.query_map([], |r| {
            let build = || -> Result<ChannelState, StoreError> {
                Ok(ChannelState {
                    vendor: r.get(0)?,
                    channel: r.get(1)?,
                    failures: r.get(2)?,
                    failing_since: opt_ts("failing_since", r.get(3)?)?,
                    last_error: r.get(4)?,
                })
            };
            Ok(build())
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    pub fn set_channel_state(&self, c: &ChannelState, now: Ts) -> Result<(), StoreError> {
        exec(&self.conn(),
            "INSERT INTO channel_state(vendor, channel, failures, failing_since, last_error, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(vendor, channel) DO UPDATE SET failures = excluded.failures,
               failing_since = excluded.failing_since, last_error = excluded.last_error, updated_at = excluded.updated_at",
            params![c.vendor, c.channel, c.failures, c.failing_since.map(ts), c.last_error, ts(now)],
        )?;
        Ok(())
    }

    pub fn count_error(
        &self,
        vendor: &str,
        channel: &str,
        operation: &str,
        kind: &str,
        message: &str,
        now: Ts,
    ) -> Result<(), StoreError> {
        exec(
            &self.conn(),
            "INSERT INTO channel_errors(vendor, channel, operation, kind, count, last_at, last_message)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)
             ON CONFLICT(vendor, channel, operation, kind) DO UPDATE SET count = count + 1,
               last_at = excluded.last_at, last_message = excluded.last_message",
            params![vendor, channel, operation, kind, ts(now), message],
        )?;
        Ok(())
    }

    pub fn error_counts(&self) -> Result<Vec<ErrorCount>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT vendor, channel, operation, kind, count, last_message FROM channel_errors ORDER BY 1, 2, 3, 4",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ErrorCount {
                vendor: r.get(0)?,
                channel: r.get(1)?,
                operation: r.get(2)?,
                kind: r.get(3)?,
                count: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                last_message: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
