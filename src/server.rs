//! The daemon's HTTP endpoints: `/metrics` (derived from the store at each
//! scrape), `/healthz` (the process answers) and `/readyz` (the store is
//! reachable and the engine has started).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::mpsc;
use tracing::warn;

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::{self, DaemonFacts};
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
    pub control: mpsc::Sender<crate::daemon::Control>,
}

impl AppState {
    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .route("/-/reload", post(reload_handler))
        .with_state(state)
}

/// Whether a mutating request carries the configured bearer token (any request
/// does when no token is configured; the default listen address is loopback).
pub fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = state.config().daemon.api_token.clone() else { return true };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Constant-time comparison: the token must not leak through response timing.
    given.is_some_and(|g| {
        let (a, b) = (g.trim().as_bytes(), token.expose().as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    })
}

async fn reload_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "missing or wrong bearer token\n")
            .into_response();
    }
    match crate::daemon::request_reload(&state.control).await {
        Ok(()) => (StatusCode::OK, "reloaded\n").into_response(),
        Err(e) => {
            (StatusCode::BAD_REQUEST, format!("config not reloaded; the running config is kept\n{e}\n")).into_response()
        }
    }
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    let s = state.clone();
    // The scrape reads the whole store: keep it off the async workers.
    let rendered = tokio::task::spawn_blocking(move || {
        let facts = *s.facts.lock().unwrap_or_else(|e| e.into_inner());
        metrics::render(&s.config(), &s.store, facts, s.clock.now())
    })
    .await;
    match rendered {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Ok(Err(e)) => {
            warn!(error = %format!("{e:#}"), "cannot render metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "store unavailable\n").into_response()
        }
        Err(e) => {
            warn!(error = %e, "metrics task failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

async fn ready_handler(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.cursor("_readyz")).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response(),
    }
}
