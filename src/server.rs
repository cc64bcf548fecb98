//! The daemon's HTTP endpoints: `/metrics` (derived from the store at each
//! scrape), `/healthz` (the process answers), `/readyz` (the store is
//! reachable and the engine has started), and the mutating ones, which need
//! the configured bearer token: `POST /-/reload` and
//! `POST /api/v1/probes/{reference}/events` (what an operator recorded).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::DaemonFacts;
use crate::store::Store;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The config in use; replaced on reload.
    pub config: RwLock<Arc<Config>>,
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    /// Set once the engine's tasks are running.
    pub ready: AtomicBool,
    pub facts: Mutex<DaemonFacts>,
    /// Where reload requests go (the daemon's control task).
    pub control: mpsc::Sender<Control>,
    /// Wakes channel workers when a verified webhook arrives.
    pub pokes: crate::webhook::Pokes,
    /// Each channel's load and poll freshness, published by the workers.
    pub loads: crate::engine::Loads,
    /// The metrics aggregates, kept up to date from the store's changes.
    pub live: crate::metrics::Live,
}

impl AppState {
    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(crate::pages::index))
        .route("/vendors/{id}", get(crate::pages::vendor))
        .route("/probes/{reference}", get(crate::pages::probe))
        .route("/api/v1/scorecard", get(crate::pages::scorecard_json))
        .route("/api/v1/probes", get(crate::pages::probes_json))
        .route("/api/v1/probes/{reference}/rating", post(crate::pages::rate))
        .route("/metrics", get(metrics_handler))
        .route("/docs/alerts", get(crate::pages::alerts_runbook))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .route("/-/reload", post(reload_handler))
        .route("/-/resync", post(resync_handler))
        .route("/api/v1/probes/{reference}/events", post(record_handler))
        .route("/webhooks/{vendor}/{channel}", post(webhook_handler))
        .with_state(state)
}

/// Checks that a mutating request carries the configured bearer token. Without
/// a configured `[daemon] api_token` the mutating endpoints are off (403);
/// a missing or wrong token is 401.
#[allow(clippy::result_large_err)]
pub fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let Some(token) = state.config().daemon.api_token.clone() else {
        return Err((StatusCode::FORBIDDEN, "this endpoint needs `api_token` (or `api_token_file`) in [daemon]\n")
            .into_response());
    };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Constant-time comparison: the token must not leak through response timing.
    let ok = given.is_some_and(|g| {
        let (a, b) = (g.trim().as_bytes(), token.expose().as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    });
    if ok {
        Ok(())
    } else {
        Err((StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "missing or wrong bearer token\n")
            .into_response())
    }
}

/// `POST /api/v1/probes/{reference}/events` with `{"event": "answered"|"human"|"resolved", "at": RFC 3339, "note": …}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    event: crate::record::RecordEvent,
    #[serde(default)]
    at: Option<chrono::DateTime<chrono::FixedOffset>>,
    #[serde(default)]
    note: Option<String>,
    /// Override a first human response the channel already measured.
    #[serde(default)]
    force: bool,
}

async fn record_handler(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(reference): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let body: RecordBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid body: {e}\n")).into_response(),
    };
    let (config, store, r) = (state.config(), state.store.clone(), reference.clone());
    let done = tokio::task::spawn_blocking(move || {
        let at = body.at.map(|t| t.with_timezone(&chrono::Utc));
        crate::record::record(&config, &store, &r, body.event, at, body.note.as_deref(), "api", body.force)
    })
    .await;
    use crate::record::RecordError;
    match done {
        Ok(Ok(line)) => {
            // The probe's worker reads it again now (it sleeps until something is due).
            if let Ok(Some(p)) = state.store.probe_by_reference(&reference) {
                state.pokes.resync(&p.vendor, &p.channel);
            }
            (StatusCode::OK, format!("{line}\n")).into_response()
        }
        Ok(Err(e @ RecordError::UnknownProbe(_))) => (StatusCode::NOT_FOUND, format!("{e}\n")).into_response(),
        Ok(Err(e @ (RecordError::Duplicate { .. } | RecordError::AlreadyMeasured { .. }))) => {
            (StatusCode::CONFLICT, format!("{e}\n")).into_response()
        }
        Ok(Err(e @ RecordError::Invalid(_))) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")).into_response(),
        Ok(Err(e)) => {
            warn!(error = %crate::channel::error_chain(&e), "cannot record");
            (StatusCode::INTERNAL_SERVER_ERROR, "store unavailable\n").into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    }
}

/// A platform's webhook: verified with the channel's `webhook_secret`, then the
/// channel's worker looks at once. Refusals record nothing.
async fn webhook_handler(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((vendor, channel)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let config = state.config();
    let Some(spec) = config.vendor(&vendor).and_then(|v| v.channels.get(&channel)) else {
        return (StatusCode::NOT_FOUND, "no such vendor channel\n").into_response();
    };
    let Some(secret) = &spec.webhook_secret else {
        return (StatusCode::NOT_FOUND, "no webhook configured for this channel (set webhook_secret)\n")
            .into_response();
    };
    let handshake = crate::channel::platform(spec.kind).webhooks.and_then(|w| w.handshake);
    let echo = |challenge: String| axum::Json(serde_json::json!({ "challenge": challenge })).into_response();
    // A platform that does not sign its URL-verification handshake is answered before verification.
    if let Some(h) = handshake.filter(|h| !h.signed) {
        match (h.challenge)(secret.expose().as_bytes(), &headers, &body) {
            Ok(Some(challenge)) => return echo(challenge),
            Ok(None) => {}
            Err(e) => return (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response(),
        }
    }
    match crate::webhook::verify(spec.kind, secret.expose().as_bytes(), &headers, &body, state.clock.now()) {
        Ok(()) => {
            if let Some(h) = handshake.filter(|h| h.signed)
                && let Ok(Some(challenge)) = (h.challenge)(secret.expose().as_bytes(), &headers, &body)
            {
                return echo(challenge);
            }
            match crate::webhook::ticket_hint(spec.kind, secret.expose().as_bytes(), &body) {
                Some(ticket) => {
                    tracing::debug!(%vendor, %channel, %ticket, "webhook verified; looking at its ticket now");
                    state.pokes.poke_ticket(&vendor, &channel, ticket);
                }
                None => {
                    tracing::debug!(%vendor, %channel, "webhook verified, naming no ticket; looking at every probe");
                    state.pokes.poke(&vendor, &channel);
                }
            }
            (StatusCode::OK, "ok\n").into_response()
        }
        Err(e) => {
            warn!(%vendor, %channel, error = %crate::channel::error_chain(&e), "webhook refused");
            (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response()
        }
    }
}

async fn reload_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    match request_reload(&state.control).await {
        Ok(()) => (StatusCode::OK, "reloaded\n").into_response(),
        Err(e) => {
            (StatusCode::BAD_REQUEST, format!("config not reloaded; the running config is kept\n{e}\n")).into_response()
        }
    }
}

/// Every worker reads its probes from the store now (a probe `once` added beside the daemon).
/// Harmless (it only makes the daemon read its own store sooner), so without
/// an `api_token` it is open; with one, the token is required.
async fn resync_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.config().daemon.api_token.is_some()
        && let Err(r) = authorize(&state, &headers)
    {
        return r;
    }
    state.pokes.resync_all();
    (StatusCode::OK, "resyncing\n").into_response()
}

async fn metrics_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let s = state.clone();
    let format = crate::metrics::Exposition::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    // The scrape reads what changed in the store since the last one: keep it off the async workers.
    let rendered = tokio::task::spawn_blocking(move || {
        let facts = *s.facts.lock().unwrap_or_else(|e| e.into_inner());
        s.live.render_as(&s.config(), &s.store, &s.loads, facts, s.clock.now(), format)
    })
    .await;
    match rendered {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, format.content_type())], text).into_response(),
        Ok(Err(e)) => {
            warn!(error = %format!("{e:#}"), "cannot render metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "store unavailable\n").into_response()
        }
        Err(e) => {
            warn!(error = %crate::channel::error_chain(&e), "metrics task failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

async fn ready_handler(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    }
    if state.control.is_closed() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the control task has stopped; restart the daemon\n").into_response();
    }
    if state.store.failing() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the store is failing (see supportprobe_store_errors_total)\n")
            .into_response();
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.cursor("_readyz")).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response(),
    }
}

/// How long a client may take to send a request's head, and how long a
/// keep-alive connection may sit idle between requests (hyper's header
/// timer runs while it waits for the next head): slow or idle clients are
/// dropped, never left to hold a slot.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Longest time one request may take end to end (a slow body included).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Most connections served at once; more are closed at once (and the
/// header timeout frees idle ones within seconds).
pub const MAX_CONNECTIONS: usize = 8192;

/// Raises the soft limit on open files to the hard one (as servers do), so
/// thousands of connections do not make `accept` fail; returns the limit.
pub fn raise_open_files_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let l = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let (current, maximum) = (l.current.unwrap_or(u64::MAX), l.maximum.unwrap_or(u64::MAX));
    if current < maximum && setrlimit(Resource::Nofile, Rlimit { current: l.maximum, maximum: l.maximum }).is_ok() {
        return maximum;
    }
    current
}

/// Serves `app` on `listener` until `shutdown`, with a header-read and idle
/// timeout, a per-request timeout and a connection cap below the open-files
/// limit, so `/healthz`, `/metrics` and webhooks keep answering under
/// thousands of idle or slow connections.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, shutdown: tokio_util::sync::CancellationToken) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let files = raise_open_files_limit();
    // Leave room for the store, the vendors' connections and the mail.
    let cap = MAX_CONNECTIONS.min(usize::try_from(files.saturating_sub(256)).unwrap_or(MAX_CONNECTIONS)).max(64);
    let permits = Arc::new(tokio::sync::Semaphore::new(cap));
    let connections = tokio_util::task::TaskTracker::new();
    let mut refused: u64 = 0;
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    warn!(error = %crate::channel::error_chain(&e), "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                warn!(cap, refused, "too many connections; closing new ones until some finish");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut app = app.clone();
                async move {
                    let call = tower_service::Service::call(&mut app, req.map(axum::body::Body::new));
                    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
                        Ok(r) => r,
                        Err(_) => Ok((StatusCode::REQUEST_TIMEOUT, "request took too long\n").into_response()),
                    }
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn).await;
                }
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), connections.wait()).await;
}

/// Requests to the daemon's control task.
#[derive(Debug)]
pub enum Control {
    /// Re-read the config file; the reply says what went wrong, if anything.
    Reload(oneshot::Sender<Result<(), String>>),
}

/// Asks the control task to reload and waits for the answer.
pub async fn request_reload(control: &mpsc::Sender<Control>) -> Result<(), String> {
    let (tx, rx) = oneshot::channel();
    control.send(Control::Reload(tx)).await.map_err(|_| "the daemon is shutting down".to_string())?;
    rx.await.map_err(|_| "the daemon is shutting down".to_string())?
}
