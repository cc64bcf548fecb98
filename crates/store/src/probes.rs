//! Probes: one row per probe, created when a schedule fires (or `once` runs), before any channel
//! call; `reference` is the idempotency key at the vendor, `slot` makes a fire idempotent.

use rusqlite::{Connection, Row, params};
use supportprobe_core::lifecycle::Ts;
use supportprobe_core::model::{Outcome, Priority, State};

use crate::*;

/// Sets a probe's change number above every other: inside the write
/// transaction, so change numbers follow commit order across processes.
pub(crate) const NEXT_REV: &str = "rev = (SELECT COALESCE(MAX(rev), 0) + 1 FROM probes)";

/// One probe as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub id: i64,
    pub reference: String,
    pub slot: Option<String>,
    pub vendor: String,
    /// The channel id within the vendor.
    pub channel: String,
    /// The channel kind (`zendesk`), the metric label.
    pub kind: String,
    pub scenario: String,
    pub priority: Priority,
    pub state: State,
    pub outcome: Option<Outcome>,
    pub due_at: Ts,
    pub give_up_after: chrono::Duration,
    pub follow_up_delay: Option<chrono::Duration>,
    pub attempts: u32,
    pub next_attempt_at: Option<Ts>,
    /// Our clock when we first asked the channel to open it.
    pub sent_at: Option<Ts>,
    pub ticket_id: Option<String>,
    pub ticket_url: Option<String>,
    pub opened_at: Option<Ts>,
    pub first_response_at: Option<Ts>,
    pub first_human_response_at: Option<Ts>,
    pub resolved_at: Option<Ts>,
    pub resolved_by: Option<String>,
    pub expired_at: Option<Ts>,
    pub closed_at: Option<Ts>,
    pub bot_turns: u32,
    pub responders: u32,
    /// Our clock at the last successful look at the channel.
    pub known_until: Option<Ts>,
    pub note: Option<String>,
    pub created_at: Ts,
    /// The first reply by one of the vendor's engineers (or, without any configured, the first handoff).
    pub escalated_at: Option<Ts>,
    /// The vendor's first request for logs, versions or reproduction steps, and the rule that saw it.
    pub diagnostics_at: Option<Ts>,
    pub diagnostics_rule: Option<String>,
    /// Times the vendor marked it solved and the conversation went on after.
    pub reopened: u32,
    /// Opened inside the promise calendar's hours.
    pub in_hours: Option<bool>,
    /// Started by hand (`once`), not by a schedule.
    pub manual: bool,
    /// In the POC's figures (metrics, scorecard): scheduled probes, and manual ones run with `--count`.
    pub counted: bool,
}

/// How many columns [`PROBE_COLUMNS`] names: the index of a column selected after them.
pub(crate) const PROBE_COLUMN_COUNT: usize = 37;

pub(crate) const PROBE_COLUMNS: &str =
    "id, reference, slot, vendor, channel, kind, scenario, priority, state, outcome, due_at,
    give_up_after_ms, follow_up_delay_ms, attempts, next_attempt_at, sent_at, ticket_id, ticket_url, opened_at,
    first_response_at, first_human_response_at, resolved_at, resolved_by, expired_at, closed_at, bot_turns,
    responders, (SELECT known_until FROM looks WHERE looks.probe_id = probes.id), note, created_at, escalated_at,
    diagnostics_at, diagnostics_rule, reopened, in_hours, manual, counted";

/// Reads one probe row; the outer error is SQLite's, the inner a corrupt value.
pub(crate) fn probe_from_row(r: &Row<'_>) -> Result<Result<Probe, StoreError>, rusqlite::Error> {
    let t = |i: usize, column: &'static str| -> Result<Option<Ts>, StoreError> { opt_ts(column, r.get(i)?) };
    let build = || -> Result<Probe, StoreError> {
        Ok(Probe {
            id: r.get(0)?,
            reference: r.get(1)?,
            slot: r.get(2)?,
            vendor: r.get(3)?,
            channel: r.get(4)?,
            kind: r.get(5)?,
            scenario: r.get(6)?,
            priority: parse_enum("priority", &r.get::<_, String>(7)?)?,
            state: parse_enum("state", &r.get::<_, String>(8)?)?,
            outcome: r.get::<_, Option<String>>(9)?.map(|o| parse_enum("outcome", &o)).transpose()?,
            due_at: parse_ts("due_at", &r.get::<_, String>(10)?)?,
            give_up_after: chrono::Duration::milliseconds(r.get(11)?),
            follow_up_delay: r.get::<_, Option<i64>>(12)?.map(chrono::Duration::milliseconds),
            attempts: r.get(13)?,
            next_attempt_at: t(14, "next_attempt_at")?,
            sent_at: t(15, "sent_at")?,
            ticket_id: r.get(16)?,
            ticket_url: r.get(17)?,
            opened_at: t(18, "opened_at")?,
            first_response_at: t(19, "first_response_at")?,
            first_human_response_at: t(20, "first_human_response_at")?,
            resolved_at: t(21, "resolved_at")?,
            resolved_by: r.get(22)?,
            expired_at: t(23, "expired_at")?,
            closed_at: t(24, "closed_at")?,
            bot_turns: r.get(25)?,
            responders: r.get(26)?,
            known_until: t(27, "known_until")?,
            note: r.get(28)?,
            created_at: parse_ts("created_at", &r.get::<_, String>(29)?)?,
            escalated_at: t(30, "escalated_at")?,
            diagnostics_at: t(31, "diagnostics_at")?,
            diagnostics_rule: r.get(32)?,
            reopened: r.get(33)?,
            in_hours: r.get(34)?,
            manual: r.get(35)?,
            counted: r.get(PROBE_COLUMN_COUNT - 1)?,
        })
    };
    Ok(build())
}

/// Which probes `probes` lists.
#[derive(Clone, Debug, Default)]
pub struct ProbeFilter {
    pub vendor: Option<String>,
    /// A channel id or kind.
    pub channel: Option<String>,
    pub state: Option<State>,
    /// Created at or after.
    pub since: Option<Ts>,
    /// Created before.
    pub until: Option<Ts>,
    pub priority: Option<Priority>,
    pub scenario: Option<String>,
    /// Only probes started by hand (`once`), or only scheduled ones.
    pub manual: Option<bool>,
    /// Pages run from the newest probe back (`after` is then the id to go below).
    pub newest_first: bool,
}

/// A probe to create.
#[derive(Clone, Debug)]
pub struct NewProbe<'a> {
    pub reference: &'a str,
    pub slot: Option<&'a str>,
    pub vendor: &'a str,
    pub channel: &'a str,
    pub kind: &'a str,
    pub scenario: &'a str,
    pub priority: Priority,
    pub due_at: Ts,
    pub give_up_after: chrono::Duration,
    pub follow_up_delay: Option<chrono::Duration>,
    /// Started by hand (`once`).
    pub manual: bool,
    /// In the POC's figures.
    pub counted: bool,
}

pub(crate) fn insert_probe(conn: &Connection, p: &NewProbe<'_>, now: Ts) -> Result<Option<i64>, StoreError> {
    let n = exec(
        conn,
        "INSERT OR IGNORE INTO probes(reference, slot, vendor, channel, kind, scenario, priority, state, due_at,
         give_up_after_ms, follow_up_delay_ms, created_at, updated_at, rev, manual, counted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'scheduled', ?8, ?9, ?10, ?11, ?11,
                 (SELECT COALESCE(MAX(rev), 0) + 1 FROM probes), ?12, ?13)",
        params![
            p.reference,
            p.slot,
            p.vendor,
            p.channel,
            p.kind,
            p.scenario,
            p.priority.as_str(),
            ts(p.due_at),
            p.give_up_after.num_milliseconds(),
            p.follow_up_delay.map(|d| d.num_milliseconds()),
            ts(now),
            p.manual,
            p.counted,
        ],
    )?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

impl Store {
    /// Creates a probe outside any schedule (`once`).
    pub fn insert_probe(&self, probe: &NewProbe<'_>, now: Ts) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        insert_probe(&conn, probe, now)
    }

    pub(crate) fn query_probes(
        &self,
        sql_where: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Probe>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("SELECT {PROBE_COLUMNS} FROM probes {sql_where}"))?;
        let rows = stmt.query_map(params, probe_from_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        drop(stmt);
        drop(conn);
        let looks = self.looks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !looks.is_empty() {
            for p in &mut out {
                if let Some(at) = looks.get(&p.id)
                    && p.known_until.is_none_or(|k| k < *at)
                {
                    p.known_until = Some(*at);
                }
            }
        }
        Ok(out)
    }

    pub fn probe(&self, id: i64) -> Result<Option<Probe>, StoreError> {
        Ok(self.query_probes("WHERE id = ?1", &[&id])?.pop())
    }

    pub fn probe_by_reference(&self, reference: &str) -> Result<Option<Probe>, StoreError> {
        Ok(self.query_probes("WHERE reference = ?1", &[&reference])?.pop())
    }

    /// Probes of one channel that are not final, oldest first.
    pub fn unfinished(&self, vendor: &str, channel: &str) -> Result<Vec<Probe>, StoreError> {
        self.query_probes(
            "WHERE vendor = ?1 AND channel = ?2 AND state NOT IN ('closed', 'failed', 'skipped') ORDER BY due_at, id",
            &[&vendor, &channel],
        )
    }

    /// The highest change number (see `rev`): 0 for an empty store.
    pub fn max_rev(&self) -> Result<i64, StoreError> {
        Ok(row(&self.conn(), "SELECT COALESCE(MAX(rev), 0) FROM probes", [], |r| r.get(0))?)
    }

    /// Calls `f` with each of the first `limit` probes changed after change
    /// number `rev` (every probe for 0), in change order, with its change
    /// number. Rows are read one at a time.
    pub fn scan_changed(&self, rev: i64, limit: u32, mut f: impl FnMut(i64, Probe)) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {PROBE_COLUMNS}, rev FROM probes WHERE rev > ?1 ORDER BY rev LIMIT ?2"))?;
        let mut rows = stmt.query(params![rev, limit])?;
        while let Some(r) = rows.next()? {
            let p = probe_from_row(r)??;
            f(r.get(PROBE_COLUMN_COUNT)?, p);
        }
        Ok(())
    }

    /// Up to `limit` probes matching `filter` with ids above `after`, by id
    /// (creation order): `probes` reads the store a page at a time, so its
    /// memory does not grow with the store.
    pub fn probes_page(&self, filter: &ProbeFilter, after: i64, limit: u32) -> Result<Vec<Probe>, StoreError> {
        let conn = self.conn();
        let (cmp, order, after) = if filter.newest_first {
            ("<", "DESC", if after <= 0 { i64::MAX } else { after })
        } else {
            (">", "ASC", after)
        };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {PROBE_COLUMNS} FROM probes
             WHERE id {cmp} ?5 AND (?1 IS NULL OR vendor = ?1) AND (?2 IS NULL OR channel = ?2 OR kind = ?2)
               AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR created_at >= ?4)
               AND (?7 IS NULL OR created_at < ?7) AND (?8 IS NULL OR priority = ?8)
               AND (?9 IS NULL OR scenario = ?9) AND (?10 IS NULL OR manual = ?10)
             ORDER BY id {order} LIMIT ?6"
        ))?;
        let rows = stmt.query_map(
            params![
                filter.vendor,
                filter.channel,
                filter.state.map(State::as_str),
                filter.since.map(ts),
                after,
                limit,
                filter.until.map(ts),
                filter.priority.map(|p| p.as_str()),
                filter.scenario,
                filter.manual
            ],
            probe_from_row,
        )?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Every probe, oldest first.
    pub fn all_probes(&self) -> Result<Vec<Probe>, StoreError> {
        self.query_probes("ORDER BY created_at, id", &[])
    }

    /// Probes of a vendor waiting on it (for the `max_open` cap).
    pub fn count_open(&self, vendor: &str) -> Result<u32, StoreError> {
        Ok(row(
            &self.conn(),
            "SELECT COUNT(*) FROM probes WHERE vendor = ?1 AND state IN ('opening', 'open', 'acknowledged', 'answered')",
            [vendor],
            |r| r.get(0),
        )?)
    }

    /// Probes of a vendor first sent at or after `since` (for `max_per_day`).
    pub fn count_sent_since(&self, vendor: &str, since: Ts) -> Result<u32, StoreError> {
        Ok(row(
            &self.conn(),
            "SELECT COUNT(*) FROM probes WHERE vendor = ?1 AND sent_at >= ?2",
            params![vendor, ts(since)],
            |r| r.get(0),
        )?)
    }

    /// Marks an open attempt: bumps the attempt count and notes our send time.
    pub fn begin_open_attempt(&self, id: i64, now: Ts) -> Result<u32, StoreError> {
        let conn = self.conn();
        exec(
            &conn,
            &format!(
                "UPDATE probes SET attempts = attempts + 1, sent_at = COALESCE(sent_at, ?2), next_attempt_at = NULL,
             updated_at = ?2, {NEXT_REV} WHERE id = ?1"
            ),
            params![id, ts(now)],
        )?;
        Ok(row(&conn, "SELECT attempts FROM probes WHERE id = ?1", [id], |r| r.get(0))?)
    }

    pub fn set_retry(&self, id: i64, at: Option<Ts>, note: &str, now: Ts) -> Result<(), StoreError> {
        exec(
            &self.conn(),
            &format!("UPDATE probes SET next_attempt_at = ?2, note = ?3, updated_at = ?4, {NEXT_REV} WHERE id = ?1"),
            params![id, at.map(ts), note, ts(now)],
        )?;
        Ok(())
    }

    pub fn set_ticket(&self, id: i64, ticket_id: &str, url: Option<&str>, now: Ts) -> Result<(), StoreError> {
        exec(
            &self.conn(),
            &format!("UPDATE probes SET ticket_id = ?2, ticket_url = ?3, updated_at = ?4, {NEXT_REV} WHERE id = ?1"),
            params![id, ticket_id, url, ts(now)],
        )?;
        Ok(())
    }

    pub fn set_note(&self, id: i64, note: &str, now: Ts) -> Result<(), StoreError> {
        exec(
            &self.conn(),
            &format!("UPDATE probes SET note = ?2, updated_at = ?3, {NEXT_REV} WHERE id = ?1"),
            params![id, note, ts(now)],
        )?;
        Ok(())
    }
}
