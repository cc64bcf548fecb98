//! `supportprobe run`: the store, the HTTP endpoints, the engine and (when
//! configured) the simulated vendors, started together and stopped together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span, warn};

use crate::clock::Clock;
use crate::config::Config;
use crate::engine::{self, Ctx};
use crate::metrics::DaemonFacts;
use crate::server::{self, AppState};
use crate::simulator::{self, Simulator};
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
    tracker: TaskTracker,
    grace: std::time::Duration,
}

/// Starts everything; returns once listening.
pub async fn start(config: Arc<Config>, opts: RunOptions, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    let store = Arc::new(
        Store::open(&config.daemon.data_dir)
            .with_context(|| format!("cannot open the store in {}", config.daemon.data_dir.display()))?,
    );
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();

    let mut sim_addr = None;
    if let (true, Some(settings)) = (opts.simulator, &config.simulator) {
        let listener = simulator::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {} for the simulator", settings.listen))?;
        let addr = listener.local_addr()?;
        info!(%addr, vendors = settings.vendors.len(), "simulated vendors listening");
        let sim = Simulator::new(settings);
        let token = shutdown.clone();
        tracker.spawn(
            async move {
                if let Err(e) = simulator::serve(sim, listener, token).await {
                    error!(error = %e, "simulator stopped");
                }
            }
            .instrument(info_span!("simulator")),
        );
        sim_addr = Some(addr);
    }

    let state = Arc::new(AppState {
        config: config.clone(),
        store: store.clone(),
        clock: clock.clone(),
        ready: false.into(),
        facts: Mutex::new(DaemonFacts { config_reload_ok: true, config_loaded_at: clock.now() }),
    });
    let listener = tokio::net::TcpListener::bind(config.daemon.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.daemon.listen))?;
    let http = listener.local_addr()?;
    info!(%http, "serving /metrics, /healthz, /readyz");
    let token = shutdown.clone();
    let app = server::router(state.clone());
    tracker.spawn(
        async move {
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await {
                error!(error = %e, "HTTP server stopped");
            }
        }
        .instrument(info_span!("http")),
    );

    if config.daemon.dry_run {
        warn!("dry run: probes are planned and logged but nothing is sent to any vendor");
    }
    let ctx = Ctx { config: config.clone(), store: store.clone(), clock };
    engine::spawn(&ctx, &tracker, &shutdown);
    state.ready.store(true, Ordering::Relaxed);
    Ok(Running { http, simulator: sim_addr, store, shutdown, tracker, grace: config.daemon.shutdown_grace.std() })
}

impl Running {
    /// Stops every task, waiting up to the shutdown grace for in-flight calls.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(self.grace, self.tracker.wait()).await.is_err() {
            warn!(grace = ?self.grace, "some tasks did not stop in time; exiting anyway (the store is consistent)");
        } else {
            info!("stopped");
        }
    }
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => info!("SIGINT received; shutting down"),
                    _ = term.recv() => info!("SIGTERM received; shutting down"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
