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
//! WAL mode: the daemon writes while `probes` and `record` read and write
//! from other processes. Every multi-row change is one transaction.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::lifecycle::Ts;
use crate::model::{Measure, Outcome, Priority, ReplyClass, State};
use crate::sla::{MeasureRow, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}")]
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

/// Store failures seen by the daemon's tasks: counted by kind for
/// `supportprobe_store_errors_total`, and remembered so `/readyz` says not
/// ready while the store keeps failing.
#[derive(Debug, Default)]
pub struct Health {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    /// When the last failure happened, unless a success came after it.
    failing_since: Mutex<Option<std::time::Instant>>,
}

/// Schema migrations, applied in order; `PRAGMA user_version` is the count applied.
const MIGRATIONS: &[&str] = &[
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
];

/// Sets a probe's change number above every other: inside the write
/// transaction, so change numbers follow commit order across processes.
const NEXT_REV: &str = "rev = (SELECT COALESCE(MAX(rev), 0) + 1 FROM probes)";

pub fn ts(t: Ts) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(column: &'static str, s: &str) -> Result<Ts, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt { column, value: s.to_string() })
}

fn opt_ts(column: &'static str, s: Option<String>) -> Result<Option<Ts>, StoreError> {
    s.map(|s| parse_ts(column, &s)).transpose()
}

fn parse_enum<T: std::str::FromStr>(column: &'static str, s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt { column, value: s.to_string() })
}

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
}

const PROBE_COLUMNS: &str = "id, reference, slot, vendor, channel, kind, scenario, priority, state, outcome, due_at,
    give_up_after_ms, follow_up_delay_ms, attempts, next_attempt_at, sent_at, ticket_id, ticket_url, opened_at,
    first_response_at, first_human_response_at, resolved_at, resolved_by, expired_at, closed_at, bot_turns,
    responders, (SELECT known_until FROM looks WHERE looks.probe_id = probes.id), note, created_at";

/// Reads one probe row; the outer error is SQLite's, the inner a corrupt value.
fn probe_from_row(r: &Row<'_>) -> Result<Result<Probe, StoreError>, rusqlite::Error> {
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
}

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

/// How long a look at a channel that found nothing new may stay unwritten.
/// Written for every probe at once, the pages of the probes table are
/// rewritten once per period rather than once per poll (10,000 probes polled
/// every 30 s wrote 1.8 MB/s one commit per poll). A crash loses at most this
/// much of "looked, nothing new": after a restart those probes are looked at
/// again a little sooner, nothing else.
pub const LOOKS_WRITTEN_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn verdict_str(v: Verdict) -> &'static str {
    v.as_str()
}

fn parse_verdict(s: &str) -> Result<Verdict, StoreError> {
    match s {
        "pending" => Ok(Verdict::Pending),
        "met" => Ok(Verdict::Met),
        "breached" => Ok(Verdict::Breached),
        "void" => Ok(Verdict::Void),
        other => Err(StoreError::Corrupt { column: "verdict", value: other.to_string() }),
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

    fn migrate(&self) -> Result<(), StoreError> {
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

    /// How many store calls have been made through this handle.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
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

    /// Creates a probe outside any schedule (`once`).
    pub fn insert_probe(&self, probe: &NewProbe<'_>, now: Ts) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        insert_probe(&conn, probe, now)
    }

    // ---- probes ----------------------------------------------------------

    fn query_probes(&self, sql_where: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<Probe>, StoreError> {
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

    /// The highest change number (see `rev`): 0 for an empty store.
    pub fn max_rev(&self) -> Result<i64, StoreError> {
        Ok(row(&self.conn(), "SELECT COALESCE(MAX(rev), 0) FROM probes", [], |r| r.get(0))?)
    }

    /// SQLite's `data_version`: changes when another connection (another
    /// process: `record`, `probes`) commits to the store. Cheap: no table is read.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(row(&self.conn(), "PRAGMA data_version", [], |r| r.get(0))?)
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
            f(r.get(30)?, p);
        }
        Ok(())
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

    /// Up to `limit` probes matching `filter` with ids above `after`, by id
    /// (creation order): `probes` reads the store a page at a time, so its
    /// memory does not grow with the store.
    pub fn probes_page(&self, filter: &ProbeFilter, after: i64, limit: u32) -> Result<Vec<Probe>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {PROBE_COLUMNS} FROM probes
             WHERE id > ?5 AND (?1 IS NULL OR vendor = ?1) AND (?2 IS NULL OR channel = ?2 OR kind = ?2)
               AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR created_at >= ?4)
             ORDER BY id LIMIT ?6"
        ))?;
        let rows = stmt.query_map(
            params![filter.vendor, filter.channel, filter.state.map(State::as_str), filter.since.map(ts), after, limit],
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

    /// Rows this process's connection has written so far (SQLite's total
    /// changes): unchanged means nothing was written in between.
    pub fn changes(&self) -> u64 {
        self.conn().total_changes()
    }

    pub fn set_note(&self, id: i64, note: &str, now: Ts) -> Result<(), StoreError> {
        exec(
            &self.conn(),
            &format!("UPDATE probes SET note = ?2, updated_at = ?3, {NEXT_REV} WHERE id = ?1"),
            params![id, note, ts(now)],
        )?;
        Ok(())
    }

    /// Writes the derived columns and the judged measures of a probe in one transaction.
    pub fn save_derived(&self, id: i64, f: &ProbeFigures, rows: &[MeasureRow], now: Ts) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        exec(
            &tx,
            &format!(
                "UPDATE probes SET state = COALESCE(?2, state), outcome = ?3, opened_at = ?4, first_response_at = ?5,
             first_human_response_at = ?6, resolved_at = ?7, resolved_by = ?8, expired_at = ?9, closed_at = ?10,
             bot_turns = ?11, responders = ?12, updated_at = ?13, {NEXT_REV} WHERE id = ?1"
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

    fn query_measures(
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

    fn query_measures_from(
        &self,
        from: &str,
        order: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredMeasure>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT m.probe_id, p.vendor, p.kind, p.priority, m.measure, m.seq, m.wall_secs, m.business_secs,
                    m.target_secs, m.deadline_at, m.verdict, p.opened_at
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

    // ---- events ------------------------------------------------------------

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

    fn read_events(
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

    // ---- channel health ------------------------------------------------------

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

    // ---- notification outbox ------------------------------------------------

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

    // ---- channel errors ------------------------------------------------------

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

/// Runs a statement through the connection's statement cache: each SQL text
/// is prepared once per connection.
fn exec(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(p)
}

/// Reads one row through the statement cache.
fn row<T>(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(p, f)
}

fn insert_probe(conn: &Connection, p: &NewProbe<'_>, now: Ts) -> Result<Option<i64>, StoreError> {
    let n = exec(
        conn,
        "INSERT OR IGNORE INTO probes(reference, slot, vendor, channel, kind, scenario, priority, state, due_at,
         give_up_after_ms, follow_up_delay_ms, created_at, updated_at, rev)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'scheduled', ?8, ?9, ?10, ?11, ?11,
                 (SELECT COALESCE(MAX(rev), 0) + 1 FROM probes))",
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
        ],
    )?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

fn append(conn: &Connection, probe_id: i64, e: &NewEvent<'_>, now: Ts) -> Result<bool, StoreError> {
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

#[cfg(test)]
mod tests {
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
            target: Some(crate::duration::Dur::from_secs(60)),
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
