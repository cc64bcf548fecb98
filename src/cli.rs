//! The command line. Library errors are printed once here, with their whole
//! chain (`{:#}`), so locations in config errors survive.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::daemon::{self, RunOptions};
use crate::duration::{Dur, human_secs};
use crate::model::{Measure, State};
use crate::sla::Verdict;
use crate::store::{Probe, Store, StoredMeasure};

#[derive(Debug, Parser)]
#[command(
    name = "supportprobe",
    version = concat!(env!("CARGO_PKG_VERSION"), " (revision ", env!("SUPPORTPROBE_REVISION"), ")"),
    about = "Measures, with evidence, how fast each vendor's support really answers"
)]
pub struct Cli {
    /// Log lines as `text` (for a terminal) or `json` (one object a line, for journald, Loki or a
    /// container platform); also `SUPPORTPROBE_LOG_FORMAT`.
    #[arg(long, global = true, env = "SUPPORTPROBE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: schedules, probes, /metrics.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Do not start the config's [simulator] vendors in this process.
        #[arg(long)]
        no_simulator: bool,
    },
    /// Validate the config and every scenario it uses, and print the plan. Every problem is
    /// reported in one run; secrets are only checked for (unset ones are warnings).
    Check {
        #[arg(long, short)]
        config: PathBuf,
        /// Also resolve every secret and log in to each channel with it (one read-only request
        /// per channel), reporting per channel.
        #[arg(long)]
        online: bool,
    },
    /// Open one probe now, follow it to the end and print its figures. Beside a running
    /// daemon on the same data directory, the daemon follows it and this waits for it.
    Once {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        scenario: String,
        #[arg(long)]
        vendor: String,
        /// Channel id or kind.
        #[arg(long)]
        channel: String,
        /// Give up sooner than the scenario says (e.g. `10m`).
        #[arg(long)]
        give_up_after: Option<Dur>,
        #[arg(long)]
        no_simulator: bool,
        /// Count this probe in the POC's figures (metrics, scorecard). Without it a manual
        /// run is kept and listed (`probes --manual`) but left out of every statistic.
        #[arg(long)]
        count: bool,
    },
    /// List probes from the store (streamed: any size of store in bounded memory).
    Probes {
        #[arg(long, short)]
        config: PathBuf,
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Only this vendor's probes (its id).
        #[arg(long)]
        vendor: Option<String>,
        /// Only probes of this channel (its id or kind, e.g. `zendesk`).
        #[arg(long)]
        channel: Option<String>,
        /// Only probes in this state (scheduled, opening, open, acknowledged, answered, resolved, expired, closed, failed, skipped).
        #[arg(long)]
        state: Option<State>,
        /// Only probes created since: an RFC 3339 instant or a duration back from now (`7d`, `12h`).
        #[arg(long, value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// Only probes created before: an RFC 3339 instant or a duration back from now.
        #[arg(long, value_parser = parse_since)]
        until: Option<DateTime<Utc>>,
        /// Only probes of this priority (P0-P3).
        #[arg(long)]
        priority: Option<crate::model::Priority>,
        /// Only probes of this scenario (its id).
        #[arg(long)]
        scenario: Option<String>,
        /// Only manual runs (`once`); `--manual=false`: only scheduled probes.
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        manual: Option<bool>,
        /// Order: `created` (the default, streamed), `first-human` or `resolution` (slowest first;
        /// reads the filtered probes into memory to sort them).
        #[arg(long, default_value = "created", value_parser = ["created", "first-human", "resolution"])]
        sort: String,
        /// Oldest first instead of newest first.
        #[arg(long)]
        reverse: bool,
        /// At most this many probes.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Run only the config's simulated vendors, as their own process.
    Simulate {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print `PATH<TAB>CLASS<TAB>RULE` for saved replies (.eml, reply .json, or directories of them).
    Classify {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also print, per message, the part that was judged (a relayed comment, or the body),
        /// every signal seen (headers, sender, MIME, layout, wording, platform) and the rule.
        #[arg(long)]
        explain: bool,
        /// Use this config's per-vendor classification overrides (with --vendor).
        #[arg(long, short, requires = "vendor")]
        config: Option<PathBuf>,
        #[arg(long, requires = "config")]
        vendor: Option<String>,
    },
    /// Record what a person saw (e.g. a resolution confirmed on the phone).
    Record {
        reference: String,
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long, value_enum)]
        event: crate::record::RecordEvent,
        /// When it happened (RFC 3339); now if absent.
        #[arg(long)]
        at: Option<DateTime<chrono::FixedOffset>>,
        /// A note kept with the event.
        #[arg(long)]
        note: Option<String>,
        /// Override a first human response the channel already measured (kept as an override:
        /// who, when, the old and the new value; `probes` shows it).
        #[arg(long)]
        force: bool,
    },
    /// The POC scorecard from the store: verdict, promise against reality, channels, charts,
    /// communication, evidence and method (reads only; works while the daemon runs).
    Report {
        #[arg(long, short)]
        config: PathBuf,
        /// Probes opened on or after this day (YYYY-MM-DD, UTC) or instant (RFC 3339).
        #[arg(long, value_parser = parse_day_start)]
        from: Option<DateTime<Utc>>,
        /// Probes opened up to the end of this day (YYYY-MM-DD, UTC), or before this instant.
        #[arg(long, value_parser = parse_day_end)]
        to: Option<DateTime<Utc>>,
        /// Only these vendors (ids; repeat or separate with commas).
        #[arg(long, value_delimiter = ',')]
        vendor: Vec<String>,
        #[arg(long, default_value = "html")]
        format: supportprobe_report::Format,
        /// Write here instead of stdout (CSV: FILE holds the rows, FILE-probes.csv the probes).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value = "en")]
        lang: supportprobe_report::Lang,
        /// Only probes opened inside (`in`) or outside (`out`) the promise calendar's hours.
        #[arg(long, value_parser = ["in", "out"])]
        hours: Option<String>,
    },
    /// Rate a probe's support as an evaluator: quality 1-5, solved or not, a note.
    /// A later rating by the same person replaces theirs; the history is kept.
    Rate {
        reference: String,
        #[arg(long, short)]
        config: PathBuf,
        /// 1 (poor) to 5 (excellent).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        quality: u8,
        #[arg(long)]
        solved: Option<crate::store::Solved>,
        #[arg(long)]
        note: Option<String>,
        /// Who rates (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Check { .. }
            | Command::Probes { .. }
            | Command::Record { .. }
            | Command::Classify { .. }
            | Command::Report { .. }
            | Command::Rate { .. }
    );
    init_tracing(if quiet { "warn" } else { "info" }, cli.log_format == "json");
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout; a closed pipe (`supportprobe probes | head`) ends the
/// output quietly instead of panicking like `println!` would.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}

fn init_tracing(default: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},hyper=warn,reqwest=warn")));
    if json {
        // One JSON object a line: timestamp, level, target, the span's fields (probe, vendor, channel) and the event's.
        let _ = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

/// The config for a command that does not talk to vendors: secrets need not be set.
fn load(path: &Path) -> anyhow::Result<Config> {
    match Config::load_offline(path) {
        Ok(c) => Ok(c),
        Err(d) => bail!("invalid configuration\n{d}"),
    }
}

/// The config and its `[simulator]` table, both checked.
fn load_with_simulator(path: &Path) -> anyhow::Result<(Config, Option<crate::simulator::Settings>)> {
    match crate::simulated::load(path) {
        Ok(c) => Ok(c),
        Err(d) => bail!("invalid configuration\n{d}"),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One async worker thread per core (the default); store work runs beside
    // them on blocking threads, started on demand and gone after 10 s idle.
    // Their number is bounded: when all are busy, a worker doing store work
    // keeps its core until it is done (`block_in_place` falls back to that)
    // instead of starting yet another thread. Unbounded, a hundred channel
    // workers at 30-s polls kept 127 threads alive.
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(4 * crate::engine::cores())
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { config, online } => check(&config, online),
        Command::Run { config, no_simulator } => {
            let config = Arc::new(load_with_simulator(&config)?.0);
            runtime()?.block_on(async move {
                let mut signals = daemon::Signals::install();
                let running =
                    daemon::start(config, RunOptions { simulator: !no_simulator }, Arc::new(SystemClock)).await?;
                while signals.next().await == daemon::Signal::Reload {
                    // The outcome is logged by the daemon and shown by the reload gauge.
                    let _ = running.reload().await;
                }
                running.stop().await;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Simulate { config } => {
            let (config, settings) = load_with_simulator(&config)?;
            let Some(settings) = settings else {
                bail!("{} has no [simulator] section", config.file.path.display());
            };
            runtime()?.block_on(async move {
                let mut signals = daemon::Signals::install();
                let token = CancellationToken::new();
                let tracker = tokio_util::task::TaskTracker::new();
                let addr = crate::simulated::start(&settings, &tracker, token.clone()).await?;
                // The first line of stdout, for scripts and tests that start it on port 0.
                emit(&format!("simulator listening on {addr}\n"))?;
                signals.stop().await;
                token.cancel();
                tracker.close();
                tracker.wait().await;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Once { config, scenario, vendor, channel, give_up_after, no_simulator, count } => {
            let (config, simulator) = load_with_simulator(&config)?;
            let config = Arc::new(config);
            let scenario = config.scenario(&scenario).map_err(|d| anyhow::anyhow!("{d}"))?;
            runtime()?.block_on(async move {
                let clock: Arc<dyn Clock> = Arc::new(SystemClock);
                let store = Arc::new(Store::open(&config.daemon.data_dir)?);
                let ctx = crate::engine::Ctx {
                    config: config.clone(),
                    store: store.clone(),
                    clock: clock.clone(),
                    pokes: Default::default(),
                    budgets: Default::default(),
                    loads: Default::default(),
                };
                let give_up = give_up_after.map(Dur::chrono);
                let token = CancellationToken::new();
                let stop = token.clone();
                let mut signals = daemon::Signals::install();
                tokio::spawn(async move {
                    signals.stop().await;
                    stop.cancel();
                });
                // One process changes things at vendors per data directory. When a daemon
                // holds it, the probe is handed to the daemon (it follows the store) and this
                // process only waits for its figures: no second simulator, no second port.
                let id = match crate::lock::DataDirLock::acquire(&config.daemon.data_dir) {
                    Ok(_lock) => {
                        let tracker = tokio_util::task::TaskTracker::new();
                        if let (false, Some(settings)) = (no_simulator, &simulator) {
                            crate::simulated::start(settings, &tracker, token.clone()).await.context(
                                "is a daemon or `supportprobe simulate` already serving the simulated vendors? \
                                 `once --no-simulator` uses those",
                            )?;
                        }
                        let id = crate::engine::once(&ctx, &scenario, &vendor, &channel, give_up, count, token.clone())
                            .await?;
                        token.cancel();
                        tracker.close();
                        tracker.wait().await;
                        id
                    }
                    Err(crate::lock::LockError::Held { holder, .. }) => {
                        let id = crate::engine::insert_once(&ctx, &scenario, &vendor, &channel, give_up, count)?;
                        eprintln!("a daemon is running on this data directory ({holder}): it follows the probe");
                        let addr = crate::lock::announced_listen(&holder).unwrap_or(config.daemon.listen);
                        hand_to_daemon(&config, addr, &store, id, token.clone()).await?
                    }
                    Err(e) => return Err(e.into()),
                };
                let p = store.probe(id)?.context("probe vanished from the store")?;
                let measures = store.measures_of(id)?;
                emit(&figures(&p, &measures))?;
                Ok(if p.state.is_final() { ExitCode::SUCCESS } else { ExitCode::from(2) })
            })
        }
        Command::Probes {
            config: path,
            json,
            vendor,
            channel,
            state,
            since,
            until,
            priority,
            scenario,
            manual,
            sort,
            reverse,
            limit,
        } => {
            let config = load(&path)?;
            if let Some(v) = &vendor {
                known_vendor(&config, &path, v)?;
            }
            let store = Store::open_for_reading(&config.daemon.data_dir)?;
            let filter = crate::store::ProbeFilter {
                vendor,
                channel,
                state,
                since,
                until,
                priority,
                scenario,
                manual,
                newest_first: !reverse,
            };
            let mut printer = ProbePrinter::new(json)?;
            let limit = limit.unwrap_or(usize::MAX);
            if sort == "created" {
                // Streamed in the store's order: reading stops at the limit.
                let mut left = limit;
                if left > 0 {
                    for_each_probe_row(&store, &filter, Some(&config), |row| {
                        printer.row(row)?;
                        left -= 1;
                        Ok(if left == 0 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
                    })?;
                }
            } else {
                let mut rows = Vec::new();
                for_each_probe_row(&store, &filter, Some(&config), |row| {
                    rows.push(row);
                    Ok(ControlFlow::Continue(()))
                })?;
                let key = |r: &ProbeRow| {
                    if sort == "first-human" { r.first_human_response_seconds } else { r.resolution_seconds }
                };
                // Slowest first; probes without the figure (still waiting) last.
                rows.sort_by(|a, b| match (key(a), key(b)) {
                    (Some(x), Some(y)) => y.total_cmp(&x),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                });
                if reverse {
                    rows.reverse();
                }
                for row in rows.into_iter().take(limit) {
                    printer.row(row)?;
                }
            }
            printer.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Classify { paths, config, vendor, explain } => {
            let overrides = match (config, vendor) {
                (Some(c), Some(v)) => {
                    let config = load(&c)?;
                    config.vendor(&v).with_context(|| format!("no vendor `{v}` in {}", c.display()))?.classify.clone()
                }
                _ => crate::classify::ClassifyOverrides::default(),
            };
            let mut out = String::new();
            let mut failed = false;
            for path in crate::replyfile::expand(&paths) {
                match crate::replyfile::explain_file(&path, &overrides) {
                    Ok(e) => {
                        let c = &e.classification;
                        out.push_str(&format!("{}\t{}\t{}\n", path.display(), c.class, c.rule));
                        if explain {
                            out.push_str(&format!("{e}\n"));
                        }
                    }
                    Err(e) => {
                        eprintln!("{}: {e}", path.display());
                        failed = true;
                    }
                }
            }
            emit(&out)?;
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Command::Record { reference, config, event, at, note, force } => {
            let config = load(&config)?;
            let store = Store::open(&config.daemon.data_dir)?;
            let at = at.map(|t| t.with_timezone(&Utc));
            let line = {
                let by = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
                crate::record::record(&config, &store, &reference, event, at, note.as_deref(), &by, force)?
            };
            emit(&format!("{line}\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { config: path, from, to, vendor, format, out, lang, hours } => {
            let config = load(&path)?;
            for v in &vendor {
                known_vendor(&config, &path, v)?;
            }
            let store = Store::open_for_reading(&config.daemon.data_dir)?;
            let in_hours = hours.map(|h| h == "in");
            let options = supportprobe_report::Options { from, to, vendors: vendor, evidence: true, in_hours };
            let sc = supportprobe_report::scorecard(&config, &store, &options, SystemClock.now())?;
            use supportprobe_report::Format;
            let (main, extra) = match format {
                Format::Html => (supportprobe_report::html(&sc, lang, None)?, None),
                Format::Markdown => (supportprobe_report::markdown(&sc, lang)?, None),
                Format::Json => (supportprobe_report::json(&sc), None),
                Format::Csv => (supportprobe_report::csv_rows(&sc), Some(supportprobe_report::csv_probes(&sc))),
            };
            match out {
                Some(file) => {
                    write_file(&file, &main)?;
                    if let Some(probes) = extra {
                        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                        let probes_file = file.with_file_name(format!("{stem}-probes.csv"));
                        write_file(&probes_file, &probes)?;
                        eprintln!("wrote {} and {}", file.display(), probes_file.display());
                    } else {
                        eprintln!("wrote {}", file.display());
                    }
                }
                None => {
                    emit(&main)?;
                    if extra.is_some() {
                        eprintln!("note: the probes' CSV is written only with --out FILE (as FILE-probes.csv)");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rate { reference, config, quality, solved, note, by } => {
            let config = load(&config)?;
            let store = Store::open(&config.daemon.data_dir)?;
            let by =
                by.unwrap_or_else(|| format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into())));
            let rating = crate::store::Rating { quality, solved, note };
            let line = crate::record::rate(&store, &reference, &by, rating, SystemClock.now())?;
            emit(&format!("{line}\n"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A vendor id given on the command line must be one of the config's: the
/// error lists them and names the nearest.
fn known_vendor(config: &Config, path: &Path, v: &str) -> anyhow::Result<()> {
    if config.vendor(v).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = config.vendors.keys().map(String::as_str).collect();
    let near = crate::config::diag::nearest(v, known.iter().copied())
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default();
    bail!("no vendor `{v}` in {} (its vendors: {}){near}", path.display(), known.join(", "))
}

/// Tells the running daemon to read its store now (`POST /-/resync`) and waits
/// until the probe is final (or Ctrl-C): the daemon does the work.
async fn hand_to_daemon(
    config: &Config,
    addr: std::net::SocketAddr,
    store: &Store,
    id: i64,
    stop: CancellationToken,
) -> anyhow::Result<i64> {
    crate::channel::client::install_crypto_provider();
    let mut req = reqwest::Client::new().post(format!("http://{addr}/-/resync"));
    if let Some(t) = &config.daemon.api_token {
        req = req.bearer_auth(t.expose());
    }
    match req.timeout(std::time::Duration::from_secs(10)).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => eprintln!(
            "note: the daemon on {addr} answered {} to /-/resync; it takes the probe at its next store read (within 5 minutes)",
            r.status()
        ),
        Err(e) => eprintln!(
            "note: nothing answers on {addr}, so the daemon holding the data directory was not told ({}); it takes the probe at its next store read (within 5 minutes)",
            crate::channel::error_chain(&e)
        ),
    }
    loop {
        let p = store.probe(id)?.context("probe vanished from the store")?;
        if p.state.is_final() {
            return Ok(id);
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(id),
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// Prints `probes` rows as a table (overrides listed under it) or a JSON array, streamed.
struct ProbePrinter {
    json: bool,
    first: bool,
    notes: String,
}

impl ProbePrinter {
    fn new(json: bool) -> anyhow::Result<ProbePrinter> {
        if !json {
            emit(&table_header())?;
        }
        Ok(ProbePrinter { json, first: true, notes: String::new() })
    }

    fn row(&mut self, row: ProbeRow) -> anyhow::Result<()> {
        if self.json {
            let sep = if self.first { "[\n" } else { ",\n" };
            emit(&format!("{sep}{}", indent(&serde_json::to_string_pretty(&row)?)))?;
        } else {
            emit(&table_line(&row))?;
            self.notes.push_str(&override_lines(&row));
        }
        self.first = false;
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        if self.json { emit(if self.first { "[]\n" } else { "\n]\n" }) } else { emit(&self.notes) }
    }
}

/// Writes a report file whole or not at all (a temporary file renamed over it).
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `--from`: a day (its start, UTC) or an instant.
fn parse_day_start(s: &str) -> Result<DateTime<Utc>, String> {
    supportprobe_report::parse_bound(s, false)
}

/// `--to`: a day (up to its end, UTC) or an instant.
fn parse_day_end(s: &str) -> Result<DateTime<Utc>, String> {
    supportprobe_report::parse_bound(s, true)
}

fn check(path: &Path, online: bool) -> anyhow::Result<ExitCode> {
    let loaded = if online { crate::simulated::load(path) } else { crate::simulated::load_offline(path) };
    let config = match loaded {
        Ok((c, _)) => c,
        Err(d) => {
            eprintln!("{d}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut out = String::new();
    plan(&config, Utc::now(), &mut out);
    emit(&out)?;
    if !online {
        return Ok(ExitCode::SUCCESS);
    }
    let failed = runtime()?.block_on(crate::online::check_online(&config, &mut |line| emit(&format!("{line}\n"))))?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The plan `check` prints: calendars, vendors with promises, channels and
/// caps, every schedule target's next three fires, and warnings. Secrets
/// appear only as where they come from.
pub fn plan(config: &Config, now: DateTime<Utc>, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "{}: valid ({} vendors, {} scenarios, {} schedules{})\n",
        config.file.path.display(),
        config.vendors.len(),
        config.scenarios.len(),
        config.schedules.len(),
        if config.daemon.dry_run { ", DRY RUN" } else { "" }
    );
    let _ = writeln!(out, "calendars");
    for (name, c) in &config.calendars {
        let _ = writeln!(out, "  {name:<16} {}", c.describe());
    }
    let _ = writeln!(out, "\nvendors");
    for v in config.vendors.values() {
        let _ = writeln!(out, "  {} \"{}\"", v.id, v.name);
        for c in v.channels.values() {
            let how = c.settings.describe();
            let _ = writeln!(out, "    channel  {} ({}) {how}; poll every {}", c.id, c.kind, c.poll_interval);
            if let Some(source) = &c.webhook_secret_source {
                let _ = writeln!(
                    out,
                    "    webhook  POST http://{}/webhooks/{}/{} (signing secret {source})",
                    config.daemon.listen, v.id, c.id
                );
            }
        }
        for (priority, p) in &v.promises {
            let targets: Vec<String> = p.targets.iter().map(|(m, d)| format!("{m} {d}")).collect();
            let _ = writeln!(out, "    promise  {priority}  {}  on {}", targets.join(", "), p.calendar.name());
        }
        let caps = &v.caps;
        let mut c = Vec::new();
        if let Some(n) = caps.max_open {
            c.push(format!("max_open {n}"));
        }
        if let Some(n) = caps.max_per_day {
            c.push(format!("max_per_day {n}"));
        }
        if !caps.quiet.is_empty() {
            c.push(format!("{} quiet period(s)", caps.quiet.len()));
        }
        if caps.quiet_weekly.is_some() {
            c.push("weekly quiet hours".into());
        }
        if caps.paused {
            c.push("PAUSED".into());
        }
        if !c.is_empty() {
            let _ = writeln!(out, "    caps     {}", c.join(", "));
        }
    }
    let _ = writeln!(out, "\nschedules");
    for s in &config.schedules {
        let _ = writeln!(
            out,
            "  #{} {} ({}) cron \"{}\" in {}, jitter {}, gives up after {}",
            s.index + 1,
            s.scenario.id,
            s.scenario.priority,
            s.cron_text,
            s.timezone.name(),
            s.jitter,
            s.give_up_after
        );
        let fires: Vec<String> = s
            .cron
            .after(&now.with_timezone(&s.timezone))
            .take(3)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S %Z").to_string())
            .collect();
        for t in &s.targets {
            let kind = config.channel(&t.vendor, &t.channel).map_or("?", |c| c.kind.as_str());
            let _ = writeln!(out, "     {}/{} ({kind})  next: {}", t.vendor, t.channel, fires.join(", "));
        }
    }
    if !config.notify.is_empty() {
        let _ = writeln!(out, "\nnotifications");
        for t in config.notify.values() {
            let list = |v: Vec<String>| if v.is_empty() { "all".to_string() } else { v.join(",") };
            let _ = writeln!(
                out,
                "  {} ({}): events {}; vendors {}; priorities {}",
                t.name,
                t.kind(),
                list(t.events.iter().map(|e| e.to_string()).collect()),
                list(t.vendors.clone()),
                list(t.priorities.iter().map(|p| p.to_string()).collect())
            );
        }
    }
    if let Ok(Some(sim)) = crate::simulated::settings(config) {
        let _ = writeln!(
            out,
            "\nsimulator on {}: {}",
            sim.listen,
            sim.vendors.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let mut warnings: Vec<String> = config
        .warnings
        .iter()
        .map(|w| {
            let mut line = match w.location() {
                Some(loc) => format!("{loc}: {}", w.message),
                None => w.message.clone(),
            };
            for n in &w.notes {
                line.push_str(&format!("\n    {n}"));
            }
            line
        })
        .collect();
    warnings.extend(load_warnings(config, now));
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings");
        for w in &warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    let n = warnings.len();
    let _ = writeln!(
        out,
        "\n{}: no problems, {}",
        config.file.path.display(),
        if n == 0 { "no warnings".to_string() } else { format!("{n} warning{}", if n == 1 { "" } else { "s" }) }
    );
}

/// Rate budgets that cannot carry their channels' poll intervals with as
/// many probes in flight as the schedules create within a give-up time (at
/// most the caps allow): each says what polls will really come every.
pub fn load_warnings(config: &Config, now: DateTime<Utc>) -> Vec<String> {
    use std::collections::BTreeMap;
    // Probes in flight at most, per (vendor, channel id).
    let mut in_flight: BTreeMap<(String, String), f64> = BTreeMap::new();
    for s in &config.schedules {
        let until = now + s.give_up_after.chrono();
        let fires = crate::engine::scheduler::fires_between(s, now, until).take(1_000_000).count() as f64;
        for t in &s.targets {
            *in_flight.entry((t.vendor.clone(), t.channel.clone())).or_default() += fires;
        }
    }
    // Caps bound what a vendor has open.
    let mut per_vendor: BTreeMap<String, f64> = BTreeMap::new();
    for ((v, _), n) in &in_flight {
        *per_vendor.entry(v.clone()).or_default() += n;
    }
    for ((v, _), n) in in_flight.iter_mut() {
        let Some(vendor) = config.vendor(v) else { continue };
        let total = per_vendor.get(v).copied().unwrap_or(0.0).max(1.0);
        let days = config
            .schedules
            .iter()
            .filter(|s| s.targets.iter().any(|t| &t.vendor == v))
            .map(|s| s.give_up_after.chrono().num_seconds() as f64 / 86_400.0)
            .fold(0.0, f64::max)
            .ceil()
            .max(1.0);
        let mut cap = f64::INFINITY;
        if let Some(m) = vendor.caps.max_open {
            cap = cap.min(f64::from(m));
        }
        if let Some(m) = vendor.caps.max_per_day {
            cap = cap.min(f64::from(m) * days);
        }
        // This channel's share of the vendor's cap.
        *n = n.min(cap * *n / total);
    }
    // Requests a minute each budget's polls need, and its limit.
    let mut budgets: BTreeMap<String, (f64, f64, Vec<String>)> = BTreeMap::new();
    for ((v, c), n) in &in_flight {
        let (Some(vendor), Some(spec)) = (config.vendor(v), config.channel(v, c)) else { continue };
        let owner = vendor.rate_budget.clone().unwrap_or_else(|| format!("vendor {}", vendor.id));
        let (key, limit) = match vendor.rate_limit_per_minute {
            Some(l) => (owner, l),
            None => match crate::channel::budget::platform_default(spec.kind) {
                Some(l) => (format!("{owner} / {}", spec.kind), l),
                None => continue,
            },
        };
        let per_poll = crate::channel::budget::requests_per_poll(spec.kind);
        let need = n * per_poll * 60.0 / spec.poll_interval.std().as_secs_f64().max(0.001);
        let e = budgets.entry(key).or_insert((0.0, f64::from(limit), Vec::new()));
        e.0 += need;
        e.2.push(format!(
            "{v}/{c}: up to {n:.0} probes in flight polled every {} at about {per_poll:.0} requests a poll",
            spec.poll_interval
        ));
    }
    let mut out = Vec::new();
    // Platforms that pace the polling method itself (Slack's tiers), whatever the budget.
    for ((v, c), n) in &in_flight {
        let Some(spec) = config.channel(v, c) else { continue };
        let Some(gap) = crate::channel::poll_gap(spec.kind) else { continue };
        let round = n * gap.as_secs_f64();
        let interval = spec.poll_interval.std().as_secs_f64().max(0.001);
        if round > interval {
            out.push(format!(
                "{v}/{c} cannot be polled every {}: {} allows one poll every {:.1}s, so up to {n:.0} probes in flight take {round:.0}s a round; polls will come about {:.1}x less often than configured (poll less often, or spread the probes over more channels)",
                spec.poll_interval,
                spec.kind,
                gap.as_secs_f64(),
                round / interval
            ));
        }
    }
    for (name, (need, limit, parts)) in budgets {
        // The budget keeps 2 % headroom below the limit.
        let usable = limit * 0.98;
        if need > usable {
            out.push(format!(
                "rate budget of {name} cannot carry its poll intervals: {} need {need:.0} requests/min, it allows {limit:.0}/min; polls will come about {:.1}x less often than configured (raise rate_limit_per_minute if the plan allows more, or poll less often)",
                parts.join("; "),
                need / usable
            ));
        } else if need > NEARLY_USED * usable {
            // Polls planned this close to the limit come late: opens, follow-ups,
            // courtesy closes, retries and longer threads draw on the same budget,
            // and the probe looked at last waits a whole round and its own poll.
            out.push(format!(
                "rate budget of {name} is nearly used by its poll intervals alone: {} need {need:.0} requests/min of the {limit:.0}/min it allows ({:.0} %); opens, follow-ups, retries and longer threads draw on it too, so polls will come late whenever they do (raise rate_limit_per_minute if the plan allows more, or poll less often)",
                parts.join("; "),
                100.0 * need / limit
            ));
        }
    }
    out.extend(holiday_coverage_warnings(config, now));
    out
}

/// How long before a built-in holiday set's data ends `check` starts warning:
/// a POC is typically planned a quarter ahead.
const HOLIDAY_DATA_NOTICE_DAYS: i64 = 90;

/// Calendars that name a built-in holiday set (`holidays = "cn"`) whose data
/// ends soon or has ended: after that day, that region's public holidays
/// count as business hours.
pub fn holiday_coverage_warnings(config: &Config, now: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    for cal in config.calendars.values() {
        let today = now.with_timezone(&cal.timezone()).date_naive();
        for (set, until) in cal.holiday_sets() {
            let left = (*until - today).num_days();
            if left > HOLIDAY_DATA_NOTICE_DAYS {
                continue;
            }
            let when = if left < 0 {
                format!("ended on {until}")
            } else {
                format!("ends on {until}, {left} day{} from now", if left == 1 { "" } else { "s" })
            };
            out.push(format!(
                "calendar `{}`: the built-in `{set}` holiday data {when}; after it that region's public holidays count as business hours (a newer supportprobe carries the next year, or list its dates under `holidays`)",
                cal.name()
            ));
        }
    }
    out
}

/// The share of a rate budget that polls alone may plan to use before `check`
/// warns. Measured at 10,000 probes in flight (`scripts/bench-scale.sh --poll
/// 30s`): vendors planned at 93-100 % of their budget were polled more than
/// 1.2x their interval apart, those at 72 % and below were not.
const NEARLY_USED: f64 = 0.85;

/// One probe as `probes --json` prints it.
#[derive(Debug, Serialize)]
pub struct ProbeRow {
    pub reference: String,
    pub vendor: String,
    pub channel: String,
    pub channel_id: String,
    pub priority: String,
    pub scenario: String,
    pub state: String,
    pub outcome: Option<String>,
    pub ticket_id: Option<String>,
    pub due_at: String,
    pub opened_at: Option<String>,
    pub first_response_at: Option<String>,
    pub first_any_reply_seconds: Option<f64>,
    pub first_human_response_at: Option<String>,
    pub first_human_response_seconds: Option<f64>,
    pub first_human_response_business_seconds: Option<f64>,
    pub next_reply_seconds: Vec<f64>,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    pub resolution_seconds: Option<f64>,
    pub resolution_business_seconds: Option<f64>,
    pub closed_at: Option<String>,
    pub bot_turns: u32,
    pub handoffs: u32,
    pub breaches: Vec<String>,
    pub note: Option<String>,
    /// Started by hand (`once`), and whether it counts in the POC's figures.
    pub manual: bool,
    pub counted: bool,
    /// First human responses a person overrode with `record --force`.
    pub overrides: Vec<OverrideRow>,
    /// Each ended silence between the vendor's people while answered and unresolved.
    pub update_interval_seconds: Vec<f64>,
    /// The longest of them, or the one still open if longer (at the last look).
    pub longest_silence_seconds: Option<f64>,
    pub open_silence_seconds: Option<f64>,
    /// Opened inside the promise calendar's hours.
    pub in_hours: Option<bool>,
    /// To the first technical responder (`escalation_basis` = engineer) or the first handoff.
    pub escalation_seconds: Option<f64>,
    pub escalated_by: Option<String>,
    pub escalation_basis: String,
    /// To the vendor's first request for logs, versions or reproduction steps, and the rule.
    pub asked_for_diagnostics_seconds: Option<f64>,
    pub diagnostics_rule: Option<String>,
    /// Times the vendor marked it solved and the conversation went on after.
    pub reopened: u32,
    /// Evaluators' current ratings, and their mean quality (1-5).
    pub ratings: u32,
    pub rating_quality: Option<f64>,
}

/// One forced override of a measured first human response.
#[derive(Clone, Debug, Serialize)]
pub struct OverrideRow {
    pub by: String,
    pub recorded_at: Option<String>,
    /// The first human response the channel had measured, and the rule that counted it.
    pub old_at: Option<String>,
    pub old_rule: Option<String>,
    pub new_at: String,
    pub note: Option<String>,
}

fn rfc(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// `--since`: an RFC 3339 instant, or a duration back from now.
fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d: Dur = s.parse().map_err(|e| format!("expected an RFC 3339 instant or a duration like `7d`: {e}"))?;
    Ok(Utc::now() - d.chrono())
}

/// Every line of a pretty-printed JSON value indented two spaces (an element of the streamed array).
fn indent(json: &str) -> String {
    json.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// Every probe as `probes --json` prints it, in memory (tests, small stores).
pub fn probe_rows(store: &Store) -> anyhow::Result<Vec<ProbeRow>> {
    let mut rows = Vec::new();
    for_each_probe_row(store, &crate::store::ProbeFilter::default(), None, |r| {
        rows.push(r);
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(rows)
}

/// Every forced override of a first human response, by probe id.
fn overrides_by_probe(store: &Store) -> anyhow::Result<BTreeMap<i64, Vec<OverrideRow>>> {
    let mut overrides: BTreeMap<i64, Vec<OverrideRow>> = BTreeMap::new();
    for (probe, e) in store.events_with_rule(crate::record::FORCED_RULE)? {
        let d = &e.detail;
        let text = |v: &serde_json::Value| v.as_str().map(String::from);
        overrides.entry(probe).or_default().push(OverrideRow {
            by: e.author.clone().unwrap_or_default(),
            recorded_at: text(&d["recorded_at"]),
            old_at: text(&d["replaces"]["at"]),
            old_rule: text(&d["replaces"]["rule"]),
            new_at: rfc(Some(e.at)).unwrap_or_default(),
            note: text(&d["note"]),
        });
    }
    Ok(overrides)
}

/// Calls `f` with each probe matching `filter`, oldest first, reading the
/// store a page at a time.
pub fn for_each_probe_row(
    store: &Store,
    filter: &crate::store::ProbeFilter,
    config: Option<&Config>,
    mut f: impl FnMut(ProbeRow) -> anyhow::Result<ControlFlow<()>>,
) -> anyhow::Result<()> {
    let mut overrides = overrides_by_probe(store)?;
    let mut after = 0;
    loop {
        let page = store.probes_page(filter, after, 500)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for p in page {
            let o = overrides.remove(&p.id).unwrap_or_default();
            if f(probe_row(store, config, &p, o)?)?.is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// One page of probes as `probes --json` prints them (the API's `GET /api/v1/probes`):
/// up to `limit` probes with ids above `after`, and the id to continue after.
pub fn probe_rows_page(
    store: &Store,
    config: Option<&Config>,
    filter: &crate::store::ProbeFilter,
    after: i64,
    limit: u32,
) -> anyhow::Result<(Vec<ProbeRow>, Option<i64>)> {
    let mut overrides = overrides_by_probe(store)?;
    let page = store.probes_page(filter, after, limit)?;
    let next = (page.len() == limit as usize).then(|| page.last().map(|p| p.id)).flatten();
    let mut rows = Vec::with_capacity(page.len());
    for p in page {
        let o = overrides.remove(&p.id).unwrap_or_default();
        rows.push(probe_row(store, config, &p, o)?);
    }
    Ok((rows, next))
}

/// One probe as `probes --json` prints it.
fn probe_row(
    store: &Store,
    config: Option<&Config>,
    p: &Probe,
    overrides: Vec<OverrideRow>,
) -> anyhow::Result<ProbeRow> {
    let ms = store.measures_of(p.id)?;
    let events = store.events(p.id)?;
    let extras = supportprobe_report::extras(config, p, &ms, &events, SystemClock.now());
    let conv = &extras.conversation;
    let (ratings, rating_quality) = crate::store::current_quality(&crate::store::ratings_in(&events));
    let get = |m: Measure| ms.iter().find(|x| x.measure == m);
    let mut breaches: Vec<String> = ms
        .iter()
        .filter(|m| m.verdict == Verdict::Breached)
        .map(|m| crate::engine::probe::promise_name(m.measure).to_string())
        .collect();
    breaches.dedup();
    let row = ProbeRow {
        reference: p.reference.clone(),
        vendor: p.vendor.clone(),
        channel: p.kind.clone(),
        channel_id: p.channel.clone(),
        priority: p.priority.to_string(),
        scenario: p.scenario.clone(),
        state: p.state.to_string(),
        outcome: p.outcome.map(|o| o.to_string()),
        ticket_id: p.ticket_id.clone(),
        due_at: rfc(Some(p.due_at)).unwrap_or_default(),
        opened_at: rfc(p.opened_at),
        first_response_at: rfc(p.first_response_at),
        first_any_reply_seconds: get(Measure::FirstResponse).and_then(|m| m.wall_secs),
        first_human_response_at: rfc(p.first_human_response_at),
        first_human_response_seconds: get(Measure::FirstHumanResponse).and_then(|m| m.wall_secs),
        first_human_response_business_seconds: get(Measure::FirstHumanResponse).and_then(|m| m.business_secs),
        next_reply_seconds: ms.iter().filter(|m| m.measure == Measure::NextReply).filter_map(|m| m.wall_secs).collect(),
        resolved_at: rfc(p.resolved_at),
        resolved_by: p.resolved_by.clone(),
        resolution_seconds: get(Measure::Resolution).and_then(|m| m.wall_secs),
        resolution_business_seconds: get(Measure::Resolution).and_then(|m| m.business_secs),
        closed_at: rfc(p.closed_at),
        bot_turns: p.bot_turns,
        handoffs: p.responders.saturating_sub(1),
        breaches,
        note: p.note.clone(),
        manual: p.manual,
        counted: p.counted,
        overrides,
        update_interval_seconds: ms
            .iter()
            .filter(|m| m.measure == Measure::UpdateInterval)
            .filter_map(|m| m.wall_secs)
            .collect(),
        longest_silence_seconds: extras.longest_silence_seconds,
        open_silence_seconds: extras.open_silence_seconds,
        in_hours: extras.in_hours,
        escalation_seconds: conv.escalation.seconds,
        escalated_by: conv.escalation.by.clone(),
        escalation_basis: conv.escalation.basis.to_string(),
        asked_for_diagnostics_seconds: conv.diagnostics.as_ref().map(|d| d.seconds),
        diagnostics_rule: conv.diagnostics.as_ref().map(|d| d.rule.clone()),
        reopened: conv.reopened,
        ratings,
        rating_quality,
    };
    Ok(row)
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |s| human_secs(s.round() as i64))
}

fn table_row(c: [&str; 11]) -> String {
    let line = format!(
        "{:<12} {:<12} {:<9} {:<3} {:<22} {:<12} {:>9} {:>9} {:>9}  {:<9} {}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]
    );
    format!("{}\n", line.trim_end())
}

fn table_header() -> String {
    table_row([
        "REFERENCE",
        "VENDOR",
        "CHANNEL",
        "PRI",
        "SCENARIO",
        "STATE",
        "1ST HUMAN",
        "BUSINESS",
        "RESOLVED",
        "BREACHES",
        "NOTE",
    ])
}

fn table_line(r: &ProbeRow) -> String {
    let (h, b, res, br) = (
        secs(r.first_human_response_seconds),
        secs(r.first_human_response_business_seconds),
        secs(r.resolution_seconds),
        r.breaches.join(","),
    );
    // A figure a person overrode is marked, and the override listed under the table.
    let h = if r.overrides.is_empty() { h } else { format!("{h}*") };
    // Why a probe was skipped or failed, and which ones were run by hand.
    let mut note = match r.state.as_str() {
        "skipped" | "failed" => r.note.clone().unwrap_or_default(),
        _ => String::new(),
    };
    if r.manual {
        note = format!(
            "manual{}{}",
            if r.counted { ", counted" } else { "" },
            if note.is_empty() { String::new() } else { format!("; {note}") }
        );
    }
    table_row([&r.reference, &r.vendor, &r.channel, &r.priority, &r.scenario, &r.state, &h, &b, &res, &br, &note])
}

fn override_lines(r: &ProbeRow) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for o in &r.overrides {
        let _ = writeln!(
            out,
            "* {}: first human response overridden by {} at {}: {} ({}) -> {}{}",
            r.reference,
            o.by,
            o.recorded_at.as_deref().unwrap_or("?"),
            o.old_at.as_deref().unwrap_or("-"),
            o.old_rule.as_deref().unwrap_or("-"),
            o.new_at,
            o.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
        );
    }
    out
}

/// The probes as a table, with the overrides listed under it.
pub fn table(rows: &[ProbeRow]) -> String {
    let mut out = table_header();
    for r in rows {
        out.push_str(&table_line(r));
    }
    for r in rows {
        out.push_str(&override_lines(r));
    }
    out
}

fn figures(p: &Probe, measures: &[StoredMeasure]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "probe      {} ({} {} via {}, {})", p.reference, p.vendor, p.priority, p.kind, p.scenario);
    let _ = writeln!(out, "ticket     {}", p.ticket_id.as_deref().unwrap_or("-"));
    let outcome = p.outcome.map(|o| format!(" ({o})")).unwrap_or_default();
    let _ = writeln!(out, "state      {}{outcome}", p.state);
    for m in measures {
        let seq = if m.measure == Measure::NextReply { format!(" #{}", m.seq) } else { String::new() };
        let target = m.target_secs.map(|t| format!(" (promise {})", human_secs(t as i64))).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<22} wall {:>9}  business {:>9}  {}{target}",
            format!("{}{seq}", m.measure),
            secs(m.wall_secs),
            secs(m.business_secs),
            m.verdict.as_str()
        );
    }
    let _ = writeln!(out, "bot turns  {}   handoffs {}", p.bot_turns, p.responders.saturating_sub(1));
    if let Some(n) = &p.note {
        let _ = writeln!(out, "note       {n}");
    }
    if !p.state.is_final() {
        let _ = writeln!(out, "(interrupted before the probe finished; `run` will continue it)");
    }
    out
}
