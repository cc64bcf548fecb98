//! Looks: when each probe was last looked at, kept in memory and written together, in a narrow
//! table of its own.

use rusqlite::params;
use supportprobe_core::lifecycle::Ts;

use crate::*;

/// How long a look at a channel that found nothing new may stay unwritten.
/// Written for every probe at once, the pages of the probes table are
/// rewritten once per period rather than once per poll (10,000 probes polled
/// every 30 s wrote 1.8 MB/s one commit per poll). A crash loses at most this
/// much of "looked, nothing new": after a restart those probes are looked at
/// again a little sooner, nothing else.
pub const LOOKS_WRITTEN_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

impl Store {
    /// Records a successful look at a probe's channel (our clock when it
    /// started): this process sees it at once (every probe read carries it);
    /// it is written with every other look by [`Store::write_looks`], at
    /// least every [`LOOKS_WRITTEN_EVERY`] and at shutdown. Not a change of
    /// state or figures: no new change number, and `known_until` never moves back.
    pub fn note_look(&self, id: i64, at: Ts) {
        let mut looks = self.looks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let e = looks.entry(id).or_insert(at);
        *e = (*e).max(at);
    }

    /// Writes the looks not yet written, all in one transaction; kept for the
    /// next try if that fails. Returns how many were written (a look at a
    /// probe no longer in the store is dropped).
    pub fn write_looks(&self) -> Result<usize, StoreError> {
        let looks: Vec<(i64, Ts)> = {
            let mut l = self.looks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if l.is_empty() {
                return Ok(0);
            }
            l.drain().collect()
        };
        let written = (|| {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            let mut n = 0;
            for (id, at) in &looks {
                n += exec(
                    &tx,
                    "INSERT INTO looks(probe_id, known_until) SELECT id, ?2 FROM probes WHERE id = ?1
                     ON CONFLICT(probe_id) DO UPDATE SET known_until = MAX(known_until, excluded.known_until)",
                    params![id, ts(*at)],
                )?;
            }
            tx.commit()?;
            Ok::<_, StoreError>(n)
        })();
        match written {
            Ok(n) => Ok(n),
            Err(e) => {
                for (id, at) in looks {
                    self.note_look(id, at);
                }
                Err(e)
            }
        }
    }
}
