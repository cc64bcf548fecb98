//! The engine: the scheduler and one worker per vendor channel, sharing the
//! store, config and clock through [`Ctx`]. Every task is tracked and stops
//! on the shutdown token; the store is written transaction by transaction,
//! so stopping at any point loses nothing.

#![forbid(unsafe_code)]

pub mod failpoint;
mod gate;
pub mod outbox;
pub mod probe;
pub mod scheduler;
pub mod worker;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span};

// The other crates' modules under the paths the engine names them by.
use supportprobe_channels::webhook;
use supportprobe_core::{
    calendar, classify, clock, duration, lifecycle, model, redact, reference, scenario, sla, template,
};
use {supportprobe_channels as channel, supportprobe_config as config, supportprobe_store as store};

use crate::clock::Clock;
use crate::config::Config;
use crate::store::{NewProbe, Store, StoreError};

/// Sleeps `d` on `clock`'s time: on the runtime's timer for a clock that
/// moves by itself; until it has been moved that far for a manual one, so
/// tests drive the scheduler and workers without waiting.
pub async fn sleep(clock: &dyn Clock, d: std::time::Duration) {
    let until = clock.instant() + d;
    loop {
        // Taken before looking at the time, so a move in between is not missed.
        let Some(moved) = clock.advanced() else {
            tokio::time::sleep_until(until.into()).await;
            return;
        };
        if clock.instant() >= until {
            return;
        }
        moved.await;
    }
}

/// Runs store work (reading and deriving a probe, recording what a look
/// found, classifying it) without holding up the async worker thread: on the
/// daemon's multi-threaded runtime the thread hands its other tasks to another
/// one meanwhile (`block_in_place`); elsewhere (a single-threaded test
/// runtime) it simply runs.
///
/// At most one such section per core runs at a time. Without the bound, a
/// hundred channel workers at 30-s polls had dozens of threads in it at once,
/// and each thread inside the classifier takes a search cache of its own for
/// every pattern (the regex pool keeps them all): half the heap at 10,000
/// probes in flight was those caches. More threads than cores would not
/// finish the work sooner either.
pub(crate) fn off_async<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| {
                // A section inside a section already holds a turn.
                let _turn = (!INSIDE.get()).then(|| SECTIONS.enter());
                f()
            })
        }
        _ => f(),
    }
}

/// A counting gate for [`off_async`]: as many sections as cores.
struct Sections {
    inside: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
    limit: usize,
}

struct Turn<'a>(&'a Sections);

thread_local! {
    static INSIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Sections {
    fn enter(&self) -> Turn<'_> {
        let mut n = self.inside.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while *n >= self.limit {
            n = self.freed.wait(n).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *n += 1;
        INSIDE.set(true);
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        INSIDE.set(false);
        let mut n = self.0.inside.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *n -= 1;
        self.0.freed.notify_one();
    }
}

static SECTIONS: std::sync::LazyLock<Sections> = std::sync::LazyLock::new(|| Sections {
    inside: std::sync::Mutex::new(0),
    freed: std::sync::Condvar::new(),
    limit: cores(),
});

/// The cores this process may use (two when the system cannot say): what the
/// store sections and the runtime's blocking threads are sized by.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Handles shared by the engine's tasks.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    /// Webhook wake-ups for the channel workers.
    pub pokes: crate::webhook::Pokes,
    /// Rate budgets, shared by a vendor's channels and kept across reloads.
    pub budgets: crate::channel::budget::Budgets,
    /// Each channel worker's load and poll freshness, for `/metrics`.
    pub loads: Loads,
}

/// One channel's load, as its worker last published it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Load {
    /// Probes waiting on the vendor (polled routinely).
    pub active: u32,
    /// Now minus the oldest last successful look among them, in seconds.
    pub staleness_secs: f64,
    pub configured_interval_secs: f64,
    /// The rate budget the channel's requests draw on, and its rate per minute.
    pub budget: Option<(String, f64)>,
    /// Requests a poll costs, as measured (a moving average).
    pub requests_per_poll: f64,
    /// The platform's shortest gap between two polls of the channel (Slack's tiers).
    pub poll_gap_secs: Option<f64>,
}

/// Every channel's [`Load`], shared by the workers and `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Loads(Arc<std::sync::Mutex<std::collections::BTreeMap<(String, String), Load>>>);

impl Loads {
    pub fn set(&self, vendor: &str, channel: &str, load: Load) {
        let mut m = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.insert((vendor.to_string(), channel.to_string()), load);
    }

    /// Every channel's load with its effective poll interval: the configured
    /// one, or longer where the polls of every channel drawing on the same
    /// budget (probes in flight × requests a poll costs) need more requests
    /// per minute than the budget carries, or the platform paces the polling
    /// method itself (Slack's tiers).
    pub fn snapshot(&self) -> Vec<(String, String, Load, f64)> {
        let m = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut demand: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
        for l in m.values() {
            if let Some((name, _)) = &l.budget {
                *demand.entry(name).or_default() +=
                    f64::from(l.active) * l.requests_per_poll.max(1.0) * 60.0 / l.configured_interval_secs.max(0.001);
            }
        }
        m.iter()
            .map(|((v, c), l)| {
                let mut effective = match &l.budget {
                    Some((name, rate)) => {
                        let need = demand.get(name.as_str()).copied().unwrap_or(0.0);
                        l.configured_interval_secs * (need / rate.max(0.001)).max(1.0)
                    }
                    None => l.configured_interval_secs,
                };
                // A platform that paces the polling method itself: one poll per gap at most.
                if let Some(gap) = l.poll_gap_secs {
                    effective = effective.max(f64::from(l.active) * gap);
                }
                (v.clone(), c.clone(), l.clone(), effective)
            })
            .collect()
    }
}

/// Starts the scheduler and every channel worker on `tracker`.
pub fn spawn(ctx: &Ctx, tracker: &TaskTracker, shutdown: &CancellationToken) {
    tracker.spawn(scheduler::run(ctx.clone(), shutdown.clone()).instrument(info_span!("scheduler")));
    for vendor in ctx.config.vendors.values() {
        for spec in vendor.channels.values() {
            match crate::channel::build(spec, ctx.budgets.for_channel(&vendor.rate_owner(), spec.kind)) {
                Ok(channel) => {
                    let w = worker::Worker::new(ctx.clone(), &vendor.id, spec.clone(), channel, None);
                    let span = info_span!("channel", vendor = %vendor.id, channel = %spec.kind);
                    tracker.spawn(w.run(shutdown.clone()).instrument(span));
                }
                Err(e) => {
                    error!(vendor = %vendor.id, channel = %spec.id, error = %supportprobe_core::error_chain(&e), "cannot build channel; it will not be probed")
                }
            }
        }
    }
    info!(vendors = ctx.config.vendors.len(), schedules = ctx.config.schedules.len(), "engine started");
}

/// Why `once` could not run.
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    #[error("unknown vendor `{0}`")]
    UnknownVendor(String),
    #[error("vendor `{vendor}` has no channel `{channel}`")]
    UnknownChannel { vendor: String, channel: String },
    #[error("cannot build the channel: {0}")]
    Channel(#[source] crate::channel::ChannelError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens one probe now and follows it to the end (or until `shutdown`).
/// Returns the probe's id.
pub async fn once(
    ctx: &Ctx,
    scenario: &crate::scenario::Scenario,
    vendor: &str,
    channel: &str,
    give_up_after: Option<chrono::Duration>,
    counted: bool,
    shutdown: CancellationToken,
) -> Result<i64, OnceError> {
    let id = insert_once(ctx, scenario, vendor, channel, give_up_after, counted)?;
    follow(ctx, id, shutdown).await?;
    Ok(id)
}

/// Creates a manual probe (marked `manual`; in the POC's figures only when
/// `counted`), due now, for whoever follows the store: this process, or a
/// running daemon told to look.
pub fn insert_once(
    ctx: &Ctx,
    scenario: &crate::scenario::Scenario,
    vendor: &str,
    channel: &str,
    give_up_after: Option<chrono::Duration>,
    counted: bool,
) -> Result<i64, OnceError> {
    let v = ctx.config.vendor(vendor).ok_or_else(|| OnceError::UnknownVendor(vendor.into()))?;
    let spec = ctx
        .config
        .channel(vendor, channel)
        .ok_or_else(|| OnceError::UnknownChannel { vendor: vendor.into(), channel: channel.into() })?
        .clone();
    let now = ctx.clock.now();
    let reference = crate::reference::generate(&format!("once|{vendor}|{channel}|{}", scenario.id));
    let id = ctx
        .store
        .insert_probe(
            &NewProbe {
                reference: &reference,
                slot: None,
                vendor: &v.id,
                channel: &spec.id,
                kind: spec.kind.as_str(),
                scenario: &scenario.id,
                priority: scenario.priority,
                due_at: now,
                give_up_after: give_up_after.unwrap_or_else(|| scenario.give_up_after.chrono()),
                follow_up_delay: None,
                manual: true,
                counted,
            },
            now,
        )?
        .ok_or_else(|| StoreError::Corrupt { column: "reference", value: reference.clone() })?;
    Ok(id)
}

/// Follows one existing probe, from wherever it is, to its end (or until `shutdown`).
pub async fn follow(ctx: &Ctx, probe_id: i64, shutdown: CancellationToken) -> Result<(), OnceError> {
    let p = ctx.store.probe(probe_id)?.ok_or(StoreError::Corrupt { column: "id", value: probe_id.to_string() })?;
    let spec = ctx
        .config
        .channel(&p.vendor, &p.channel)
        .ok_or_else(|| OnceError::UnknownChannel { vendor: p.vendor.clone(), channel: p.channel.clone() })?
        .clone();
    let budgets =
        ctx.config.vendor(&p.vendor).map(|v| ctx.budgets.for_channel(&v.rate_owner(), spec.kind)).unwrap_or_default();
    let adapter = crate::channel::build(&spec, budgets).map_err(OnceError::Channel)?;
    let w = worker::Worker::new(ctx.clone(), &p.vendor, spec.clone(), adapter, Some(probe_id));
    let span = info_span!("once", probe = %p.reference, vendor = %p.vendor, channel = %spec.kind);
    w.run(shutdown).instrument(span).await;
    ctx.store.write_looks()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many tasks doing store work at once on the daemon's kind of runtime:
    /// no more than one section per core runs at a time, a section inside a
    /// section does not wait for itself, and every one finishes.
    #[test]
    fn store_work_runs_at_most_one_section_per_core() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..24 {
                let (inside, most, done) = (inside.clone(), most.clone(), done.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..3 {
                        off_async(|| {
                            let n = inside.fetch_add(1, SeqCst) + 1;
                            most.fetch_max(n, SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(3));
                            off_async(|| std::thread::sleep(std::time::Duration::from_millis(1)));
                            inside.fetch_sub(1, SeqCst);
                        });
                        tokio::task::yield_now().await;
                    }
                    done.fetch_add(1, SeqCst);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(done.load(SeqCst), 24);
        assert!(most.load(SeqCst) <= SECTIONS.limit, "{} sections at once", most.load(SeqCst));
        assert!(most.load(SeqCst) >= 1);
    }

    fn load(active: u32, interval: f64, per_poll: f64, budget: Option<(&str, f64)>) -> Load {
        Load {
            active,
            staleness_secs: 0.0,
            configured_interval_secs: interval,
            budget: budget.map(|(n, r)| (n.to_string(), r)),
            requests_per_poll: per_poll,
            poll_gap_secs: None,
        }
    }

    #[test]
    fn the_effective_interval_sums_every_channel_drawing_on_a_budget() {
        let loads = Loads::default();
        // 60 probes × 2 requests a minute + 30 probes × 1 request every 30 s = 180/min on a 120/min budget.
        loads.set("a", "zendesk", load(60, 60.0, 2.0, Some(("shared", 120.0))));
        loads.set("b", "slack", load(30, 30.0, 1.0, Some(("shared", 120.0))));
        // 10 probes × 2 requests every 30 s = 40/min: carried.
        loads.set("c", "github", load(10, 30.0, 2.0, Some(("own", 80.0))));
        loads.set("d", "email", load(500, 60.0, 0.0, None));
        let got: std::collections::HashMap<String, f64> =
            loads.snapshot().into_iter().map(|(v, _, _, eff)| (v, eff)).collect();
        assert_eq!(got["a"], 90.0);
        assert_eq!(got["b"], 45.0);
        assert_eq!(got["c"], 30.0);
        assert_eq!(got["d"], 60.0, "no budget: the configured interval");
    }

    #[test]
    fn a_platform_that_paces_its_polling_method_lengthens_the_interval() {
        let loads = Loads::default();
        // 100 Slack threads, one conversations.replies each 1.2 s at most: 120 s a round,
        // though the budget (700/min) would carry polls every 30 s.
        let mut slack = load(100, 30.0, 1.0, Some(("v", 700.0)));
        slack.poll_gap_secs = Some(1.2);
        loads.set("v", "slack", slack);
        let (.., eff) = loads.snapshot().pop().unwrap();
        assert!((eff - 120.0).abs() < 1e-9, "{eff}");
    }
}
