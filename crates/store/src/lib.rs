//! The store: SQLite in the data directory, the source of truth.
//!
//! - `probes`: one row per probe, created when a schedule fires (or `once`
//!   runs), *before* any channel call. The `slot` column makes a schedule
//!   fire idempotent across restarts; `reference` is the idempotency key at
//!   the vendor.
//! - `events`: the append-only log of everything that happened to a probe
//!   (intents, replies with the channel's timestamp and ours, breaches,
//!   closes). `(probe_id, key)` is unique, so re-reading a channel's history
//!   after a crash records nothing twice.
//! - `measures`: the judged intervals of each probe (derived from events,
//!   kept for metrics and reports).
//! - `channel_errors`: counters by vendor, channel, operation and kind.
//! - `cursors`: the last fire of each schedule target.
//!
//! One module per concern: schema (migrations), probes, events, measures,
//! outbox, health, cursors and looks.
//!
//! WAL mode: the daemon writes while `probes` and `record` read and write
//! from other processes. Every multi-row change is one transaction.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, Row};

use supportprobe_core::lifecycle::Ts;

mod conversation;
mod cursors;
mod events;
mod health;
mod looks;
mod measures;
mod outbox;
mod probes;
mod ratings;
mod schema;

pub use conversation::turns;
pub use events::{NewEvent, StoredEvent};
pub use health::{ChannelState, ErrorCount, Health};
pub use looks::LOOKS_WRITTEN_EVERY;
pub use measures::{ProbeFigures, StoredMeasure};
pub use outbox::{DeliveryCount, DueDelivery, NewNotification, Notification};
pub(crate) use probes::{NEXT_REV, insert_probe};
pub use probes::{NewProbe, Probe, ProbeFilter};
pub use ratings::{RATING, Rating, Solved, StoredRating, current_quality, ratings_in};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SQLite's own words are part of the message (`database or disk is full`).
    #[error("store error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("cannot open the store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the store {path} is damaged; SQLite's integrity check says: {report}. \
         Restore it from a backup, or move it aside to start with an empty one"
    )]
    Integrity { path: PathBuf, report: String },
    #[error(
        "store at {path} has schema version {found}, newer than this build understands ({known}); upgrade supportprobe"
    )]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("corrupt value `{value}` in column {column}")]
    Corrupt { column: &'static str, value: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite(e)
    }
}

impl StoreError {
    /// The `kind` label of `supportprobe_store_errors_total`.
    pub fn kind(&self) -> &'static str {
        use rusqlite::ErrorCode as C;
        let sqlite = match self {
            StoreError::Sqlite(e) | StoreError::Open { source: e, .. } => e.sqlite_error_code(),
            StoreError::Integrity { .. } | StoreError::Corrupt { .. } => return "corrupt",
            StoreError::CreateDir { .. } => return "io",
            StoreError::TooNew { .. } => return "version",
        };
        match sqlite {
            Some(C::DiskFull) => "disk_full",
            Some(C::DatabaseBusy | C::DatabaseLocked) => "busy",
            Some(C::DatabaseCorrupt | C::NotADatabase) => "corrupt",
            Some(C::ReadOnly) => "read_only",
            Some(C::SystemIoFailure | C::CannotOpen | C::PermissionDenied) => "io",
            _ => "other",
        }
    }
}

pub fn ts(t: Ts) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_ts(column: &'static str, s: &str) -> Result<Ts, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt { column, value: s.to_string() })
}

pub(crate) fn opt_ts(column: &'static str, s: Option<String>) -> Result<Option<Ts>, StoreError> {
    s.map(|s| parse_ts(column, &s)).transpose()
}

pub(crate) fn parse_enum<T: std::str::FromStr>(column: &'static str, s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt { column, value: s.to_string() })
}

pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    health: Health,
    /// Store calls made so far (each takes the connection once): how tests
    /// and benchmarks see that idle is idle.
    calls: std::sync::atomic::AtomicU64,
    /// Successful looks at channels not yet written (probe → our clock at the
    /// look): see [`Store::note_look`].
    looks: Mutex<HashMap<i64, Ts>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) `DIR/supportprobe.sqlite` and migrates it.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source })?;
        let path = dir.join("supportprobe.sqlite");
        let conn = Connection::open(&path).map_err(|source| StoreError::Open { path: path.clone(), source })?;
        let store = Store::init(conn, path.clone()).map_err(|e| match e {
            StoreError::Sqlite(source) => StoreError::Open { path: path.clone(), source },
            other => other,
        })?;
        store.check_integrity()?;
        Ok(store)
    }

    /// Opens the store to read and list it (`probes`): migrated like
    /// [`Store::open`], without the integrity check, whose time grows with the
    /// file (a second for a 300 MB store) — only writers need it.
    pub fn open_for_reading(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source })?;
        let path = dir.join("supportprobe.sqlite");
        let conn = Connection::open(&path).map_err(|source| StoreError::Open { path: path.clone(), source })?;
        Store::init(conn, path.clone()).map_err(|e| match e {
            StoreError::Sqlite(source) => StoreError::Open { path: path.clone(), source },
            other => other,
        })
    }

    /// A second, read-only connection to the same store (the metrics' own):
    /// its long reads never hold up the writers (WAL lets both run at once).
    /// An in-memory store has no second connection: `None`.
    pub fn reader(&self) -> Result<Option<Store>, StoreError> {
        if self.path == Path::new(":memory:") {
            return Ok(None);
        }
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|source| StoreError::Open { path: self.path.clone(), source })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "cache_size", -4096)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Some(Store {
            conn: Mutex::new(conn),
            path: self.path.clone(),
            health: Health::default(),
            calls: Default::default(),
            looks: Default::default(),
        }))
    }

    /// SQLite's quick integrity check (every page and index, in time linear in
    /// the file): a damaged store is refused, never written to.
    pub fn check_integrity(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("PRAGMA quick_check(20)")?;
        let lines: Vec<String> = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<_, _>>()?;
        if lines.len() == 1 && lines[0] == "ok" {
            return Ok(());
        }
        Err(StoreError::Integrity { path: self.path.clone(), report: lines.join("; ") })
    }

    /// Caps the store file at its current size plus `extra_pages` pages, as a
    /// full disk would (fault injection for tests; SQLite answers "database or
    /// disk is full"). `None` lifts the cap.
    pub fn limit_size(&self, extra_pages: Option<u64>) -> Result<(), StoreError> {
        let conn = self.conn();
        let pages: u64 = row(&conn, "PRAGMA page_count", [], |r| r.get(0))?;
        let max = extra_pages.map_or(1_073_741_823, |e| pages + e);
        row(&conn, &format!("PRAGMA max_page_count = {max}"), [], |_| Ok(()))?;
        Ok(())
    }

    /// A private in-memory store (tests, benchmarks).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL in WAL mode survives a killed process; only an OS crash can lose the last commits.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A deliberate page cache: 4 MiB holds the working set (in-flight probes, their
        // events, the indexes) while staying small next to the daemon's own memory;
        // the daemon reads what changed, not whole tables.
        conn.pragma_update(None, "cache_size", -4096)?;
        conn.set_prepared_statement_cache_capacity(64);
        let store = Store {
            conn: Mutex::new(conn),
            path,
            health: Health::default(),
            calls: Default::default(),
            looks: Default::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// How many store calls have been made through this handle.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the database file and its WAL, for the health dashboard.
    pub fn size_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [&self.path, &wal].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
    }

    // ---- scheduling ----------------------------------------------------

    // ---- probes ----------------------------------------------------------

    /// Runs `f` in one read transaction: every query in it sees the same
    /// snapshot of the store (for a reader connection; see [`Store::reader`]).
    pub fn snapshot<R>(&self, f: impl FnOnce(&Store) -> Result<R, StoreError>) -> Result<R, StoreError> {
        exec(&self.conn(), "BEGIN", [])?;
        let r = f(self);
        let end = exec(&self.conn(), if r.is_ok() { "COMMIT" } else { "ROLLBACK" }, []);
        let r = r?;
        end?;
        Ok(r)
    }

    /// SQLite's `data_version`: changes when another connection (another
    /// process: `record`, `probes`) commits to the store. Cheap: no table is read.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(row(&self.conn(), "PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// Rows this process's connection has written so far (SQLite's total
    /// changes): unchanged means nothing was written in between.
    pub fn changes(&self) -> u64 {
        self.conn().total_changes()
    }

    // ---- events ------------------------------------------------------------

    // ---- channel health ------------------------------------------------------

    // ---- notification outbox ------------------------------------------------

    // ---- channel errors ------------------------------------------------------
}

/// Runs a statement through the connection's statement cache: each SQL text
/// is prepared once per connection.
pub(crate) fn exec(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(p)
}

/// Reads one row through the statement cache.
pub(crate) fn row<T>(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(p, f)
}

#[cfg(test)]
mod tests {
    use rusqlite::params;
    use supportprobe_core::duration;
    use supportprobe_core::model::{Measure, Priority, ReplyClass, State};
    use supportprobe_core::sla::{MeasureRow, Verdict};

    use super::schema::MIGRATIONS;
    use super::*;

    fn t(s: i64) -> Ts {
        DateTime::from_timestamp(1_790_000_000 + s, 0).unwrap()
    }

    fn new_probe<'a>(reference: &'a str, slot: Option<&'a str>) -> NewProbe<'a> {
        NewProbe {
            reference,
            slot,
            vendor: "acme",
            channel: "tickets",
            kind: "zendesk",
            scenario: "p0",
            priority: Priority::P0,
            due_at: t(0),
            give_up_after: chrono::Duration::hours(1),
            follow_up_delay: None,
            manual: false,
            counted: true,
        }
    }

    #[test]
    fn looks_are_seen_at_once_written_together_and_never_move_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let a = s.insert_probe(&new_probe("SP-1", None), t(0)).unwrap().unwrap();
        let b = s.insert_probe(&new_probe("SP-2", None), t(0)).unwrap().unwrap();
        let other = Store::open_for_reading(dir.path()).unwrap();
        let rev = s.max_rev().unwrap();
        s.note_look(a, t(10));
        s.note_look(a, t(5));
        s.note_look(b, t(7));
        assert_eq!(s.probe(a).unwrap().unwrap().known_until, Some(t(10)), "this process sees the latest look");
        assert_eq!(
            s.unfinished("acme", "tickets").unwrap().iter().map(|p| p.known_until).collect::<Vec<_>>(),
            [Some(t(10)), Some(t(7))]
        );
        assert_eq!(other.probe(a).unwrap().unwrap().known_until, None, "not written yet");
        assert_eq!(s.write_looks().unwrap(), 2);
        assert_eq!(s.write_looks().unwrap(), 0, "written once");
        assert_eq!(other.probe(a).unwrap().unwrap().known_until, Some(t(10)));
        assert_eq!(other.probe(b).unwrap().unwrap().known_until, Some(t(7)));
        assert_eq!(s.max_rev().unwrap(), rev, "a look is not a change of state or figures");
        s.note_look(a, t(3));
        s.write_looks().unwrap();
        assert_eq!(other.probe(a).unwrap().unwrap().known_until, Some(t(10)), "never moved back");
    }

    #[test]
    fn fire_is_idempotent_per_slot() {
        let s = Store::open_in_memory().unwrap();
        let a = s.fire(&new_probe("SP-1", Some("slot-1")), "target", t(0), t(0)).unwrap();
        let b = s.fire(&new_probe("SP-2", Some("slot-1")), "target", t(0), t(1)).unwrap();
        assert!(a.is_some());
        assert_eq!(b, None, "the same slot never creates a second probe");
        assert_eq!(s.cursor("target").unwrap(), Some(t(0)));
        assert_eq!(s.all_probes().unwrap().len(), 1);
    }

    #[test]
    fn a_damaged_store_is_refused_with_its_path_and_sqlites_words() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            for i in 0..300 {
                s.insert_probe(&new_probe(&format!("SP-{i:05}"), None), t(i)).unwrap();
            }
        }
        let path = dir.path().join("supportprobe.sqlite");
        // Not a database at all.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("supportprobe.sqlite"), vec![0x42u8; 8192]).unwrap();
        let e = Store::open(other.path()).unwrap_err().to_string();
        assert!(e.contains("supportprobe.sqlite") && e.contains("not a database"), "{e}");
        // A page in the middle overwritten (a bad disk, a copy cut short).
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 4 * 4096, "{}", bytes.len());
        for b in &mut bytes[2 * 4096 + 100..3 * 4096] {
            *b = 0x5a;
        }
        std::fs::write(&path, &bytes).unwrap();
        let _ = std::fs::remove_file(dir.path().join("supportprobe.sqlite-wal"));
        let e = Store::open(dir.path()).unwrap_err();
        assert_eq!(e.kind(), "corrupt", "{e}");
        let e = e.to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("damaged") || e.contains("malformed"), "{e}");
    }

    #[test]
    fn a_full_disk_is_an_error_that_says_so_and_counts_by_kind() {
        let s = Store::open_in_memory().unwrap();
        s.limit_size(Some(0)).unwrap();
        let mut err = None;
        for i in 0..500 {
            if let Err(e) = s.insert_probe(&new_probe(&format!("SP-{i:05}"), None), t(i)) {
                err = Some(e);
                break;
            }
        }
        let e = err.expect("the capped store fills up");
        assert_eq!(e.kind(), "disk_full");
        assert!(e.to_string().contains("database or disk is full"), "{e}");
        s.note_failure(&e);
        assert!(s.failing());
        assert_eq!(s.failure_counts().get("disk_full"), Some(&1));
        s.note_success();
        assert!(!s.failing());
        s.limit_size(None).unwrap();
        assert!(s.insert_probe(&new_probe("SP-AFTER", None), t(0)).is_ok());
    }

    #[test]
    fn events_are_deduplicated_by_key_and_kept_in_recording_order() {
        let s = Store::open_in_memory().unwrap();
        let id = s.insert_probe(&new_probe("SP-1", None), t(0)).unwrap().unwrap();
        let reply = NewEvent {
            kind: "reply",
            key: "reply:7",
            at: Some(t(50)),
            class: Some(ReplyClass::Human),
            author: Some("alex"),
            ..Default::default()
        };
        assert!(s.append(id, &reply, t(60)).unwrap());
        assert!(!s.append(id, &reply, t(70)).unwrap(), "same key again is ignored");
        s.append(id, &NewEvent { kind: "opened", key: "opened", at: Some(t(1)), ..Default::default() }, t(2)).unwrap();
        let ev = s.events(id).unwrap();
        // Recorded order, not the events' own (vendor-clock) times.
        assert_eq!(ev.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["reply", "opened"]);
        assert_eq!(ev[0].observed_at, t(60));
        assert_eq!(ev[0].class, Some(ReplyClass::Human));
    }

    #[test]
    fn probes_survive_reopen_and_migrations_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.insert_probe(&new_probe("SP-1", None), t(0)).unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let p = s.probe_by_reference("SP-1").unwrap().unwrap();
        assert_eq!((p.state, p.priority, p.vendor.as_str()), (State::Scheduled, Priority::P0, "acme"));
        let v: i64 = s.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    /// A store written before the looks had a table of their own keeps every
    /// probe's last look, and writes new ones to the new table.
    #[test]
    fn looks_move_to_their_own_table_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("supportprobe.sqlite")).unwrap();
            for sql in &MIGRATIONS[..3] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 3).unwrap();
            for (id, known) in [(1, Some("2026-12-04T10:00:00.000Z")), (2, None)] {
                conn.execute(
                    "INSERT INTO probes(id, reference, vendor, channel, kind, scenario, priority, state, due_at,
                       give_up_after_ms, known_until, created_at, updated_at, rev)
                     VALUES (?1, 'SP-' || ?1, 'acme', 'tickets', 'zendesk', 's', 'P0', 'open', '2026-12-04T09:00:00.000Z',
                       1000, ?2, '2026-12-04T09:00:00.000Z', '2026-12-04T09:00:00.000Z', ?1)",
                    params![id, known],
                )
                .unwrap();
            }
        }
        let s = Store::open(dir.path()).unwrap();
        let at = |r: &str| s.probe_by_reference(r).unwrap().unwrap().known_until;
        assert_eq!(at("SP-1").map(ts).as_deref(), Some("2026-12-04T10:00:00.000Z"));
        assert_eq!(at("SP-2"), None);
        let later = DateTime::parse_from_rfc3339("2026-12-04T11:00:00Z").unwrap().to_utc();
        s.note_look(1, later);
        s.note_look(2, later);
        s.note_look(999, later);
        assert_eq!(s.write_looks().unwrap(), 2, "a look at a probe that does not exist is dropped, not an error");
        let other = Store::open(dir.path()).unwrap();
        assert_eq!(other.probe(1).unwrap().unwrap().known_until, Some(later));
        assert_eq!(other.probe(2).unwrap().unwrap().known_until, Some(later));
        let columns: Vec<String> = other
            .conn()
            .prepare("SELECT name FROM pragma_table_info('probes')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!columns.iter().any(|c| c == "known_until"), "{columns:?}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap().conn().pragma_update(None, "user_version", 99).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn a_recorded_breach_stays_breached() {
        let s = Store::open_in_memory().unwrap();
        let id = s.insert_probe(&new_probe("SP-1", None), t(0)).unwrap().unwrap();
        let mut row = MeasureRow {
            measure: Measure::FirstHumanResponse,
            seq: 0,
            start: t(0),
            end: None,
            wall_secs: None,
            business_secs: None,
            target: Some(duration::Dur::from_secs(60)),
            deadline: Some(t(60)),
            verdict: Verdict::Breached,
        };
        s.save_derived(id, &ProbeFigures::default(), std::slice::from_ref(&row), t(61)).unwrap();
        // A reply stamped before the deadline shows up only after the breach was recorded.
        row.verdict = Verdict::Met;
        row.end = Some(t(59));
        row.wall_secs = Some(59.0);
        s.save_derived(id, &ProbeFigures::default(), &[row], t(90)).unwrap();
        let m = s.measures_of(id).unwrap();
        assert_eq!(m[0].verdict, Verdict::Breached, "breach counters never go backwards");
        assert_eq!(m[0].wall_secs, Some(59.0), "the figure itself is updated");
    }

    #[test]
    fn error_counters_accumulate() {
        let s = Store::open_in_memory().unwrap();
        for _ in 0..3 {
            s.count_error("acme", "zendesk", "poll", "rate_limited", "429", t(0)).unwrap();
        }
        let e = s.error_counts().unwrap();
        assert_eq!((e.len(), e[0].count), (1, 3));
    }
}
