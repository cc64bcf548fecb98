//! Measures: the judged intervals of each probe, derived from its events and kept for metrics
//! and reports.

use rusqlite::params;
use supportprobe_core::lifecycle::Ts;
use supportprobe_core::model::{Measure, Outcome, Priority, State};
use supportprobe_core::sla::{MeasureRow, Verdict};

use crate::*;

/// The derived columns of a probe, written together after each change.
#[derive(Clone, Debug, Default)]
pub struct ProbeFigures {
    pub state: Option<State>,
    pub outcome: Option<Outcome>,
    pub opened_at: Option<Ts>,
    pub first_response_at: Option<Ts>,
    pub first_human_response_at: Option<Ts>,
    pub resolved_at: Option<Ts>,
    pub resolved_by: Option<&'static str>,
    pub expired_at: Option<Ts>,
    pub closed_at: Option<Ts>,
    pub bot_turns: u32,
    pub responders: u32,
    pub escalated_at: Option<Ts>,
    pub diagnostics_at: Option<Ts>,
    pub diagnostics_rule: Option<String>,
    pub reopened: u32,
    pub in_hours: Option<bool>,
}

/// One judged measure, as stored (for metrics and output).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMeasure {
    pub probe_id: i64,
    pub vendor: String,
    pub kind: String,
    pub priority: Priority,
    pub measure: Measure,
    pub seq: u32,
    pub wall_secs: Option<f64>,
    pub business_secs: Option<f64>,
    pub target_secs: Option<f64>,
    pub deadline: Option<Ts>,
    pub verdict: Verdict,
    /// When the probe was opened at the vendor (for rolling windows).
    pub opened_at: Option<Ts>,
    /// When the interval began, and when it ended (`None`: not reached yet, or never).
    pub start: Ts,
    pub end: Option<Ts>,
}

pub(crate) fn verdict_str(v: Verdict) -> &'static str {
    v.as_str()
}

pub(crate) fn parse_verdict(s: &str) -> Result<Verdict, StoreError> {
    match s {
        "pending" => Ok(Verdict::Pending),
        "met" => Ok(Verdict::Met),
        "breached" => Ok(Verdict::Breached),
        "void" => Ok(Verdict::Void),
        other => Err(StoreError::Corrupt { column: "verdict", value: other.to_string() }),
    }
}

impl Store {
    /// Writes the derived columns and the judged measures of a probe in one transaction.
    pub fn save_derived(&self, id: i64, f: &ProbeFigures, rows: &[MeasureRow], now: Ts) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        exec(
            &tx,
            &format!(
                "UPDATE probes SET state = COALESCE(?2, state), outcome = ?3, opened_at = ?4, first_response_at = ?5,
             first_human_response_at = ?6, resolved_at = ?7, resolved_by = ?8, expired_at = ?9, closed_at = ?10,
             bot_turns = ?11, responders = ?12, updated_at = ?13, escalated_at = ?14, diagnostics_at = ?15,
             diagnostics_rule = ?16, reopened = ?17, in_hours = ?18, {NEXT_REV} WHERE id = ?1"
            ),
            params![
                id,
                f.state.map(State::as_str),
                f.outcome.map(Outcome::as_str),
                f.opened_at.map(ts),
                f.first_response_at.map(ts),
                f.first_human_response_at.map(ts),
                f.resolved_at.map(ts),
                f.resolved_by,
                f.expired_at.map(ts),
                f.closed_at.map(ts),
                f.bot_turns,
                f.responders,
                ts(now),
                f.escalated_at.map(ts),
                f.diagnostics_at.map(ts),
                f.diagnostics_rule,
                f.reopened,
                f.in_hours,
            ],
        )?;
        for r in rows {
            exec(&tx,
                "INSERT INTO measures(probe_id, measure, seq, start_at, end_at, wall_secs, business_secs, target_secs,
                 deadline_at, verdict) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(probe_id, measure, seq) DO UPDATE SET start_at = excluded.start_at, end_at = excluded.end_at,
                 wall_secs = excluded.wall_secs, business_secs = excluded.business_secs,
                 target_secs = excluded.target_secs, deadline_at = excluded.deadline_at,
                 verdict = CASE WHEN measures.verdict = 'breached' THEN 'breached' ELSE excluded.verdict END",
                params![
                    id,
                    r.measure.as_str(),
                    r.seq,
                    ts(r.start),
                    r.end.map(ts),
                    r.wall_secs,
                    r.business_secs,
                    r.target.map(|d| d.as_secs_f64()),
                    r.deadline.map(ts),
                    verdict_str(r.verdict),
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The stored verdicts of a probe's measures.
    pub fn measures_of(&self, probe_id: i64) -> Result<Vec<StoredMeasure>, StoreError> {
        self.query_measures("WHERE m.probe_id = ?1", &[&probe_id])
    }

    /// Every judged measure, for metrics.
    pub fn all_measures(&self) -> Result<Vec<StoredMeasure>, StoreError> {
        self.query_measures("", &[])
    }

    pub(crate) fn query_measures(
        &self,
        sql_where: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredMeasure>, StoreError> {
        self.query_measures_from(
            &format!("FROM measures m JOIN probes p ON p.id = m.probe_id {sql_where}"),
            "ORDER BY m.probe_id, m.measure, m.seq",
            params,
        )
    }

    pub(crate) fn query_measures_from(
        &self,
        from: &str,
        order: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredMeasure>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT m.probe_id, p.vendor, p.kind, p.priority, m.measure, m.seq, m.wall_secs, m.business_secs,
                    m.target_secs, m.deadline_at, m.verdict, p.opened_at, m.start_at, m.end_at
             {from} {order}"
        ))?;
        let rows = stmt.query_map(params, |r| {
            let build = || -> Result<StoredMeasure, StoreError> {
                Ok(StoredMeasure {
                    probe_id: r.get(0)?,
                    vendor: r.get(1)?,
                    kind: r.get(2)?,
                    priority: parse_enum("priority", &r.get::<_, String>(3)?)?,
                    measure: parse_enum("measure", &r.get::<_, String>(4)?)?,
                    seq: r.get(5)?,
                    wall_secs: r.get(6)?,
                    business_secs: r.get(7)?,
                    target_secs: r.get(8)?,
                    deadline: opt_ts("deadline_at", r.get(9)?)?,
                    verdict: parse_verdict(&r.get::<_, String>(10)?)?,
                    opened_at: opt_ts("opened_at", r.get(11)?)?,
                    start: parse_ts("start_at", &r.get::<_, String>(12)?)?,
                    end: opt_ts("end_at", r.get(13)?)?,
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

    /// The measures of probes whose change number is in `(after, upto]`: the changed
    /// probes found by their change number's index, then their measures by
    /// key (`CROSS JOIN` keeps SQLite from scanning every measure instead).
    pub fn measures_changed_between(&self, after: i64, upto: i64) -> Result<Vec<StoredMeasure>, StoreError> {
        self.query_measures_from(
            "FROM probes p CROSS JOIN measures m ON m.probe_id = p.id WHERE p.rev > ?1 AND p.rev <= ?2",
            "",
            &[&after, &upto],
        )
    }
}
