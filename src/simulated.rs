//! How the binary composes the simulator (`supportprobe-simulator`): the
//! daemon's config ignores the `[simulator]` table, which this reads with the
//! simulator's own schema against the config's calendars, and starts the
//! simulated vendors in this process for `run`, `once` and `simulate`.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument as _, error, info, info_span};

use crate::config::{Config, Diagnostics};
use crate::simulator::{self, Settings, Simulator};

/// The `[simulator]` table of the config's file, if it has one.
pub fn settings(config: &Config) -> Result<Option<Settings>, Diagnostics> {
    Settings::read(&config.file, &config.calendars)
}

/// The config at `path` and its simulated vendors, every problem of either reported.
pub fn load_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Option<Settings>), Diagnostics> {
    let config = Config::load_with_env(path, env)?;
    let simulator = settings(&config)?;
    Ok((config, simulator))
}

/// [`load_with_env`] with the process environment.
pub fn load(path: &Path) -> Result<(Config, Option<Settings>), Diagnostics> {
    let config = Config::load(path)?;
    let simulator = settings(&config)?;
    Ok((config, simulator))
}

/// The config and its simulated vendors, secrets only checked for (plain `check`).
pub fn load_offline(path: &Path) -> Result<(Config, Option<Settings>), Diagnostics> {
    let config = Config::load_offline(path)?;
    let simulator = settings(&config)?;
    Ok((config, simulator))
}

/// Starts the simulated vendors on `settings.listen`, serving until
/// `shutdown`; returns the address they listen on.
pub async fn start(
    settings: &Settings,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = simulator::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} for the simulator", settings.listen))?;
    let addr = listener.local_addr()?;
    info!(%addr, vendors = settings.vendors.len(), "simulated vendors listening");
    let sim = Simulator::new(settings);
    tracker.spawn(
        async move {
            if let Err(e) = simulator::serve(sim, listener, shutdown).await {
                error!(error = %crate::channel::error_chain(&e), "simulator stopped");
            }
        }
        .instrument(info_span!("simulator")),
    );
    Ok(addr)
}
