//! `supportprobe run`: the store, the HTTP endpoints, the engine and (when
//! configured) the simulated vendors, started together and stopped together.
//!
//! Reload (SIGHUP or `POST /-/reload`) re-reads the config file. A valid
//! config replaces the engine generation: the running scheduler and workers
//! stop after their current step (every change they made is in the store),
//! and new ones start from the store with the new config. An invalid config
//! keeps the old one running and sets `supportprobe_config_last_reload_successful`
//! to 0. The listen address, data directory and simulator are fixed for the
//! life of the process; changing them needs a restart (and says so).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::clock::Clock;
use crate::config::Config;
use crate::engine::{self, Ctx};
use crate::metrics::DaemonFacts;
pub use crate::server::request_reload;
use crate::server::{self, AppState, Control};
use crate::store::Store;

#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Start the `[simulator]` section's vendors in this process.
    pub simulator: bool,
}

/// A running daemon.
#[derive(Debug)]
pub struct Running {
    /// Where `/metrics` is served.
    pub http: SocketAddr,
    /// Where the in-process simulator listens, if started.
    pub simulator: Option<SocketAddr>,
    pub store: Arc<Store>,
    pub shutdown: CancellationToken,
    control: mpsc::Sender<Control>,
    tracker: TaskTracker,
    grace: std::time::Duration,
    /// The data directory's lock, held until the daemon is gone.
    _lock: crate::lock::DataDirLock,
}

/// One engine generation: the scheduler and workers of one config.
struct Generation {
    token: CancellationToken,
    tracker: TaskTracker,
}

fn start_generation(ctx: &Ctx, shutdown: &CancellationToken) -> Generation {
    let token = shutdown.child_token();
    let tracker = TaskTracker::new();
    engine::spawn(ctx, &tracker, &token);
    let notifier = crate::notify::Notifier {
        config: ctx.config.clone(),
        store: ctx.store.clone(),
        clock: ctx.clock.clone(),
        enqueued: &crate::engine::outbox::ENQUEUED,
    };
    tracker.spawn(crate::notify::run(notifier, token.clone()).instrument(tracing::info_span!("notifier")));
    tracker.close();
    Generation { token, tracker }
}

impl Generation {
    async fn stop(self, grace: std::time::Duration) {
        self.token.cancel();
        self.tracker.close();
        // Never two generations on one channel: the next starts only when this one is gone.
        // Every channel call and wait races the token, so this is quick; keep saying so if not.
        while tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            warn!(
                ?grace,
                tasks = self.tracker.len(),
                "the old engine has not stopped yet; still waiting before starting the new one"
            );
        }
    }
}

/// Starts everything; returns once listening.
pub async fn start(config: Arc<Config>, opts: RunOptions, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    // One daemon per data directory: a second one exits here, naming the first.
    let mut lock = crate::lock::DataDirLock::acquire(&config.daemon.data_dir)?;
    let store = Arc::new(
        Store::open(&config.daemon.data_dir)
            .with_context(|| format!("cannot open the store in {}", config.daemon.data_dir.display()))?,
    );
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();

    let mut sim_addr = None;
    if opts.simulator
        && let Some(settings) =
            crate::simulated::settings(&config).map_err(|d| anyhow::anyhow!("invalid configuration\n{d}"))?
    {
        sim_addr = Some(crate::simulated::start(&settings, &tracker, shutdown.clone()).await?);
    }

    let (control, mut requests) = mpsc::channel::<Control>(4);
    let state = Arc::new(AppState {
        config: RwLock::new(config.clone()),
        store: store.clone(),
        clock: clock.clone(),
        ready: false.into(),
        facts: Mutex::new(DaemonFacts { config_reload_ok: true, config_loaded_at: clock.now() }),
        control: control.clone(),
        pokes: crate::webhook::Pokes::default(),
        loads: crate::engine::Loads::default(),
        live: crate::metrics::Live::default(),
    });
    let pokes = state.pokes.clone();
    let listener = tokio::net::TcpListener::bind(config.daemon.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.daemon.listen))?;
    let http = listener.local_addr()?;
    if let Err(e) = lock.announce_listen(http) {
        warn!(error = %e, "cannot write the listen address into the data directory's lock file");
    }
    info!(%http, "serving /metrics, /healthz, /readyz, POST /-/reload, /api/v1/probes/REF/events, /webhooks/VENDOR/CHANNEL");
    let token = shutdown.clone();
    let app = server::router(state.clone());
    tracker.spawn(
        async move {
            server::serve(listener, app, token).await;
        }
        .instrument(info_span!("http")),
    );

    if config.daemon.dry_run {
        warn!("dry run: probes are planned and logged but nothing is sent to any vendor");
    }
    let grace = config.daemon.shutdown_grace.std();
    let budgets = crate::channel::budget::Budgets::default();
    let ctx = Ctx {
        config: config.clone(),
        store: store.clone(),
        clock: clock.clone(),
        pokes: pokes.clone(),
        budgets: budgets.clone(),
        loads: state.loads.clone(),
    };
    // The store's data version is read before any worker reads its probes: a
    // probe another process adds from here on is seen as a change, however
    // soon after the start it lands.
    let version = store.data_version().ok();
    let mut generation = start_generation(&ctx, &shutdown);
    state.ready.store(true, Ordering::Relaxed);
    // The metrics aggregates are built from the store in the background: the
    // first scrape waits for them, nothing else does.
    {
        let s = state.clone();
        tracker.spawn_blocking(move || {
            let started = std::time::Instant::now();
            match s.live.warm(&s.config(), &s.store, s.clock.now()) {
                Ok(()) => info!(ms = started.elapsed().as_millis() as u64, "metrics built from the store"),
                Err(e) => warn!(error = %e, "cannot build the metrics from the store yet; the first scrape retries"),
            }
        });
    }
    // Another process (`record`) changed the store: the workers read their probes again.
    tracker.spawn(
        watch_store(store.clone(), version, pokes.clone(), shutdown.clone()).instrument(info_span!("store-watch")),
    );

    // The control task owns the engine generation.
    let token = shutdown.clone();
    let base = ctx.clone();
    tracker.spawn(
        async move {
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    request = requests.recv() => match request {
                        Some(Control::Reload(reply)) => {
                            let result = reload(&state, &base, &token, &mut generation).await;
                            let _ = reply.send(result);
                        }
                        None => break,
                    },
                }
            }
            generation.stop(grace).await;
        }
        .instrument(info_span!("control")),
    );
    Ok(Running { http, simulator: sim_addr, store: ctx.store, shutdown, control, tracker, grace, _lock: lock })
}

/// Polls SQLite's `data_version` every two seconds (no table is read): when
/// another process has committed, every worker reads its probes again. Writes
/// the workers' looks at their channels every [`crate::store::LOOKS_WRITTEN_EVERY`]
/// (and [`Running::stop`] once more when the engine has stopped).
async fn watch_store(
    store: Arc<Store>,
    mut last: Option<i64>,
    pokes: crate::webhook::Pokes,
    shutdown: CancellationToken,
) {
    let mut looks_written = std::time::Instant::now();
    let write_looks = |store: &Store| match store.write_looks() {
        Ok(n) => debug!(looks = n, "looks at the channels written"),
        Err(e) => {
            store.note_failure(&e);
            warn!(error = %crate::channel::error_chain(&e), kind = e.kind(), "cannot write the looks at the channels; kept for the next try");
        }
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
        if looks_written.elapsed() >= crate::store::LOOKS_WRITTEN_EVERY {
            looks_written = std::time::Instant::now();
            let s = store.clone();
            let _ = tokio::task::spawn_blocking(move || write_looks(&s)).await;
        }
        match store.data_version() {
            Ok(v) => {
                if last.is_some_and(|l| l != v) {
                    debug!("the store was changed by another process; workers read their probes again");
                    pokes.resync_all();
                }
                last = Some(v);
            }
            Err(e) => debug!(error = %crate::channel::error_chain(&e), "cannot read the store's data version"),
        }
    }
}

async fn reload(
    state: &AppState,
    base: &Ctx,
    shutdown: &CancellationToken,
    generation: &mut Generation,
) -> Result<(), String> {
    let current = state.config();
    let path = current.file.path.clone();
    // Loading and explaining run apart from the control task: whatever goes wrong
    // there (even a panic) is a failed reload, never a dead control task.
    let loaded = tokio::task::spawn_blocking(move || Config::load(&path).map_err(|d| d.to_string()))
        .await
        .unwrap_or_else(|e| Err(format!("the config could not be read: {e}")));
    let mut facts = *state.facts.lock().unwrap_or_else(|e| e.into_inner());
    let new = match loaded {
        Ok(c) => c,
        Err(message) => {
            facts.config_reload_ok = false;
            *state.facts.lock().unwrap_or_else(|e| e.into_inner()) = facts;
            error!(error = %message, "config reload failed; keeping the running config");
            return Err(message);
        }
    };
    for (what, changed) in [
        ("daemon.listen", new.daemon.listen != current.daemon.listen),
        ("daemon.data_dir", new.daemon.data_dir != current.daemon.data_dir),
        ("simulator", simulator_listen(&new) != simulator_listen(&current)),
    ] {
        if changed {
            warn!(setting = what, "this setting changes only on restart; the running value is kept");
        }
    }
    let new = Arc::new(new);
    let old =
        std::mem::replace(generation, Generation { token: CancellationToken::new(), tracker: TaskTracker::new() });
    old.stop(current.daemon.shutdown_grace.std()).await;
    // Store, clock, webhook wake-ups and rate budgets carry over; only the config is new.
    let ctx = Ctx { config: new.clone(), ..base.clone() };
    *generation = start_generation(&ctx, shutdown);
    *state.config.write().unwrap_or_else(|e| e.into_inner()) = new.clone();
    facts.config_reload_ok = true;
    facts.config_loaded_at = base.clock.now();
    *state.facts.lock().unwrap_or_else(|e| e.into_inner()) = facts;
    info!(vendors = new.vendors.len(), schedules = new.schedules.len(), "config reloaded");
    Ok(())
}

impl Running {
    /// Re-reads the config file (what SIGHUP does).
    pub async fn reload(&self) -> Result<(), String> {
        request_reload(&self.control).await
    }

    /// Stops every task, waiting up to the shutdown grace for in-flight calls.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        // The control task waits up to the grace for the engine; allow for that and the rest.
        if tokio::time::timeout(self.grace * 2, self.tracker.wait()).await.is_err() {
            warn!(grace = ?self.grace, "some tasks did not stop in time; exiting anyway (the store is consistent)");
        } else {
            info!("stopped");
        }
        // What the engine looked at since the last write is kept.
        match self.store.write_looks() {
            Ok(n) => debug!(looks = n, "looks at the channels written"),
            Err(e) => {
                warn!(error = %crate::channel::error_chain(&e), "cannot write the last looks at the channels (they will be looked at again)")
            }
        }
    }
}

/// What the `run` command waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Stop,
    Reload,
}

/// The process's signal handlers, installed once (SIGHUP would otherwise
/// terminate the process) and read in a loop.
pub struct Signals {
    #[cfg(unix)]
    streams: Option<[tokio::signal::unix::Signal; 3]>,
}

impl Signals {
    pub fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(a), Ok(b), Ok(c)) => Some([a, b, c]),
                _ => None,
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next SIGINT/SIGTERM (stop) or SIGHUP (reload).
    pub async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        if let Some([int, term, hup]) = &mut self.streams {
            return tokio::select! {
                _ = int.recv() => { info!("SIGINT received; shutting down"); Signal::Stop }
                _ = term.recv() => { info!("SIGTERM received; shutting down"); Signal::Stop }
                _ = hup.recv() => { info!("SIGHUP received; reloading the config"); Signal::Reload }
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        Signal::Stop
    }

    /// Waits for a stop signal, ignoring reloads (commands without a config to reload).
    pub async fn stop(&mut self) {
        while self.next().await != Signal::Stop {}
    }
}

/// Where the config's simulated vendors listen, if it has any.
fn simulator_listen(config: &Config) -> Option<SocketAddr> {
    crate::simulated::settings(config).ok().flatten().map(|s| s.listen)
}
