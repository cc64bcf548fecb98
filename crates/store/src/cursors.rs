//! Cursors: the last fire of each schedule target, so a restart neither repeats nor skips one.

use rusqlite::{OptionalExtension, params};
use supportprobe_core::lifecycle::Ts;

use crate::*;

impl Store {
    pub fn cursor(&self, target: &str) -> Result<Option<Ts>, StoreError> {
        let s: Option<String> =
            row(&self.conn(), "SELECT last_fire_at FROM cursors WHERE target = ?1", [target], |r| r.get(0))
                .optional()?;
        opt_ts("last_fire_at", s)
    }

    /// Records a schedule fire: creates its probe (unless the slot already
    /// exists) and moves the target's cursor, in one transaction. Returns
    /// the new probe id, or `None` if the slot was already there.
    pub fn fire(&self, probe: &NewProbe<'_>, target: &str, fire_at: Ts, now: Ts) -> Result<Option<i64>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = insert_probe(&tx, probe, now)?;
        exec(
            &tx,
            "INSERT INTO cursors(target, last_fire_at) VALUES (?1, ?2)
             ON CONFLICT(target) DO UPDATE SET last_fire_at = excluded.last_fire_at",
            params![target, ts(fire_at)],
        )?;
        tx.commit()?;
        Ok(id)
    }

    pub fn set_cursor(&self, target: &str, at: Ts) -> Result<(), StoreError> {
        exec(
            &self.conn(),
            "INSERT INTO cursors(target, last_fire_at) VALUES (?1, ?2)
             ON CONFLICT(target) DO UPDATE SET last_fire_at = excluded.last_fire_at",
            params![target, ts(at)],
        )?;
        Ok(())
    }
}
