//! Events: the append-only log of everything that happened to a probe; `(probe_id, key)` is
//! unique, so re-reading a channel's history after a crash records nothing twice.

use rusqlite::{Connection, OptionalExtension, params};
use supportprobe_core::lifecycle::Ts;
use supportprobe_core::model::ReplyClass;

use crate::*;

/// An event to append.
#[derive(Clone, Debug, Default)]
pub struct NewEvent<'a> {
    pub kind: &'a str,
    /// Unique per probe: the same key is never recorded twice.
    pub key: &'a str,
    /// The channel's timestamp where it has one; ours otherwise.
    pub at: Option<Ts>,
    pub class: Option<ReplyClass>,
    pub rule: Option<&'a str>,
    pub author: Option<&'a str>,
    pub detail: Option<serde_json::Value>,
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub at: Ts,
    pub observed_at: Ts,
    pub class: Option<ReplyClass>,
    pub rule: Option<String>,
    pub author: Option<String>,
    pub detail: serde_json::Value,
}

pub(crate) fn append(conn: &Connection, probe_id: i64, e: &NewEvent<'_>, now: Ts) -> Result<bool, StoreError> {
    let n = exec(
        conn,
        "INSERT OR IGNORE INTO events(probe_id, kind, key, at, observed_at, class, rule, author, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            probe_id,
            e.kind,
            e.key,
            ts(e.at.unwrap_or(now)),
            ts(now),
            e.class.map(ReplyClass::as_str),
            e.rule,
            e.author,
            e.detail.as_ref().map(|d| d.to_string()),
        ],
    )?;
    Ok(n == 1)
}

impl Store {
    /// Appends an event unless one with the same key exists. Returns whether it was new.
    pub fn append(&self, probe_id: i64, e: &NewEvent<'_>, now: Ts) -> Result<bool, StoreError> {
        let conn = self.conn();
        append(&conn, probe_id, e, now)
    }

    /// Appends several events in one transaction; returns how many were new.
    pub fn append_all(&self, probe_id: i64, events: &[NewEvent<'_>], now: Ts) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut n = 0;
        for e in events {
            if append(&tx, probe_id, e, now)? {
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    pub fn has_event(&self, probe_id: i64, key: &str) -> Result<bool, StoreError> {
        Ok(row(&self.conn(), "SELECT 1 FROM events WHERE probe_id = ?1 AND key = ?2", params![probe_id, key], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
    }

    /// A probe's events in the order they were recorded: our own observation
    /// sequence (vendor timestamps are on another clock and never order them).
    pub fn events(&self, probe_id: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, key, at, observed_at, class, rule, author, detail, probe_id FROM events
             WHERE probe_id = ?1 ORDER BY id",
        )?;
        Self::read_events(&mut stmt, params![probe_id]).map(|v| v.into_iter().map(|(_, e)| e).collect())
    }

    /// Every event decided by `rule` (e.g. `manual:human:forced`), with its probe's id.
    pub fn events_with_rule(&self, rule: &str) -> Result<Vec<(i64, StoredEvent)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, key, at, observed_at, class, rule, author, detail, probe_id FROM events
             WHERE rule = ?1 ORDER BY probe_id, at, id",
        )?;
        Self::read_events(&mut stmt, params![rule])
    }

    pub(crate) fn read_events(
        stmt: &mut rusqlite::Statement<'_>,
        args: impl rusqlite::Params,
    ) -> Result<Vec<(i64, StoredEvent)>, StoreError> {
        let rows = stmt.query_map(args, |r| {
            let build = || -> Result<(i64, StoredEvent), StoreError> {
                Ok((
                    r.get(9)?,
                    StoredEvent {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        key: r.get(2)?,
                        at: parse_ts("at", &r.get::<_, String>(3)?)?,
                        observed_at: parse_ts("observed_at", &r.get::<_, String>(4)?)?,
                        class: r.get::<_, Option<String>>(5)?.map(|c| parse_enum("class", &c)).transpose()?,
                        rule: r.get(6)?,
                        author: r.get(7)?,
                        detail: r
                            .get::<_, Option<String>>(8)?
                            .and_then(|d| serde_json::from_str(&d).ok())
                            .unwrap_or(serde_json::Value::Null),
                    },
                ))
            };
            Ok(build())
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// Reply counts by vendor, channel kind and class, for metrics.
    pub fn reply_counts(&self) -> Result<Vec<(String, String, String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT p.vendor, p.kind, e.class, COUNT(*) FROM events e JOIN probes p ON p.id = e.probe_id
             WHERE e.kind = 'reply' AND e.class IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (v, k, c, n) = row?;
            out.push((v, k, c, u64::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }

    /// Calls `f` with each reply event recorded after event id `after`:
    /// `(event id, probe id, class)`. Returns the highest id seen.
    pub fn scan_replies(&self, after: i64, mut f: impl FnMut(i64, i64, &str)) -> Result<i64, StoreError> {
        let conn = self.conn();
        // Up to the newest event now: events that are not replies move the mark too,
        // so they are not read again; a reply recorded meanwhile is read next time.
        let top: i64 = row(&conn, "SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, probe_id, class FROM events
             WHERE id > ?1 AND id <= ?2 AND kind = 'reply' AND class IS NOT NULL ORDER BY id",
        )?;
        let mut rows = stmt.query([after, top])?;
        while let Some(r) = rows.next()? {
            let class: String = r.get(2)?;
            f(r.get(0)?, r.get(1)?, &class);
        }
        Ok(top.max(after))
    }
}
