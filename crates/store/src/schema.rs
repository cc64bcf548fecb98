//! The schema and its migrations, applied in order; `PRAGMA user_version` counts those applied.

use crate::*;

/// Schema migrations, applied in order; `PRAGMA user_version` is the count applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: initial schema
    "CREATE TABLE probes (
        id INTEGER PRIMARY KEY,
        reference TEXT NOT NULL UNIQUE,
        slot TEXT UNIQUE,
        vendor TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        scenario TEXT NOT NULL,
        priority TEXT NOT NULL,
        state TEXT NOT NULL,
        outcome TEXT,
        due_at TEXT NOT NULL,
        give_up_after_ms INTEGER NOT NULL,
        follow_up_delay_ms INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        sent_at TEXT,
        ticket_id TEXT,
        ticket_url TEXT,
        opened_at TEXT,
        first_response_at TEXT,
        first_human_response_at TEXT,
        resolved_at TEXT,
        resolved_by TEXT,
        expired_at TEXT,
        closed_at TEXT,
        bot_turns INTEGER NOT NULL DEFAULT 0,
        responders INTEGER NOT NULL DEFAULT 0,
        known_until TEXT,
        note TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX probes_by_target ON probes(vendor, channel, state);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        probe_id INTEGER NOT NULL REFERENCES probes(id),
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        at TEXT NOT NULL,
        observed_at TEXT NOT NULL,
        class TEXT,
        rule TEXT,
        author TEXT,
        detail TEXT,
        UNIQUE(probe_id, key)
    );
    CREATE TABLE measures (
        probe_id INTEGER NOT NULL REFERENCES probes(id),
        measure TEXT NOT NULL,
        seq INTEGER NOT NULL,
        start_at TEXT NOT NULL,
        end_at TEXT,
        wall_secs REAL,
        business_secs REAL,
        target_secs REAL,
        deadline_at TEXT,
        verdict TEXT NOT NULL,
        PRIMARY KEY (probe_id, measure, seq)
    );
    CREATE TABLE channel_errors (
        vendor TEXT NOT NULL,
        channel TEXT NOT NULL,
        operation TEXT NOT NULL,
        kind TEXT NOT NULL,
        count INTEGER NOT NULL,
        last_at TEXT NOT NULL,
        last_message TEXT NOT NULL,
        PRIMARY KEY (vendor, channel, operation, kind)
    );
    CREATE TABLE cursors (
        target TEXT PRIMARY KEY,
        last_fire_at TEXT NOT NULL
    );",
    // 2: channel health and the notification outbox
    "CREATE TABLE channel_state (
        vendor TEXT NOT NULL,
        channel TEXT NOT NULL,
        failures INTEGER NOT NULL,
        failing_since TEXT,
        last_error TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (vendor, channel)
    );
    CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        event TEXT NOT NULL,
        vendor TEXT NOT NULL,
        priority TEXT,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        notification_id INTEGER NOT NULL REFERENCES notifications(id),
        target TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        delivered_at TEXT,
        PRIMARY KEY (notification_id, target)
    );
    CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);",
    // 3: a change number per probe, so readers (metrics, workers) catch up on
    // what changed instead of reading everything again
    "ALTER TABLE probes ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    UPDATE probes SET rev = id;
    CREATE INDEX probes_by_rev ON probes(rev);",
    // 4: the last successful look at each probe's channel in a narrow table of
    // its own: a batch of looks rewrites a few pages of short rows instead of
    // one page of the probes table per few probes (10 MB written after a
    // ramp to 10,000 probes in flight, WAL and checkpoint; about 0.2 MB now)
    "CREATE TABLE looks (
        probe_id INTEGER PRIMARY KEY REFERENCES probes(id),
        known_until TEXT NOT NULL
    );
    INSERT INTO looks(probe_id, known_until) SELECT id, known_until FROM probes WHERE known_until IS NOT NULL;
    ALTER TABLE probes DROP COLUMN known_until;",
    // 5: what a probe's conversation showed beyond the timed figures (escalation,
    // diagnostics asked for, reopened) and whether it was opened in the promise's hours
    "ALTER TABLE probes ADD COLUMN escalated_at TEXT;
    ALTER TABLE probes ADD COLUMN diagnostics_at TEXT;
    ALTER TABLE probes ADD COLUMN diagnostics_rule TEXT;
    ALTER TABLE probes ADD COLUMN reopened INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE probes ADD COLUMN in_hours INTEGER;",
    // 6: probes started by hand (`once`), and whether they count in the POC's figures
    "ALTER TABLE probes ADD COLUMN manual INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE probes ADD COLUMN counted INTEGER NOT NULL DEFAULT 1;",
];

impl Store {
    pub(crate) fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let version: i64 = row(&conn, "PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew { path: self.path.clone(), found: version, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }
}
