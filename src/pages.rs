//! The daemon's scorecard pages and their API: `/` (the scorecard, refreshing
//! itself), `/vendors/{id}`, `/probes/{reference}` (the transcript with classes
//! and rules, and the rating form), `GET /api/v1/scorecard` (the report's JSON),
//! `GET /api/v1/probes` (paged, filterable) and `POST
//! /api/v1/probes/{reference}/rating` (bearer token). Reading needs no token:
//! the daemon listens on loopback unless told otherwise.

// Handlers answer a refusal as early as they find it; a `Response` error is the plain way to.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use tracing::warn;

use crate::server::AppState;
use crate::store::Store;
use supportprobe_report::{Lang, Live, Options};

/// How often `/` reloads itself.
pub const REFRESH_SECONDS: u32 = 30;

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// `in` or `out`: only probes opened inside or outside the promise's hours.
    #[serde(default)]
    hours: Option<String>,
}

fn bad(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{msg}\n")).into_response()
}

fn lang_of(q: &PageQuery) -> Result<Lang, Response> {
    q.lang.as_deref().map_or(Ok(Lang::En), |l| l.parse().map_err(bad))
}

fn instant(s: &Option<String>, end_of_day: bool) -> Result<Option<chrono::DateTime<chrono::Utc>>, Response> {
    let Some(s) = s.as_deref().filter(|s| !s.is_empty()) else { return Ok(None) };
    supportprobe_report::parse_bound(s, end_of_day).map(Some).map_err(|e| bad(format!("`{s}`: {e}")))
}

/// Runs `f` on the daemon's store, off the async workers. The daemon's own
/// connection, not a reader of its own: it sees the last looks this process
/// made that are not written yet, so a probe still waiting is censored at its
/// true last look (each query takes the connection briefly; the engine's work
/// goes on between them).
async fn reading<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&crate::config::Config, &Store) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let s = state.clone();
    let done = tokio::task::spawn_blocking(move || {
        let config = s.config();
        f(&config, &s.store)
    })
    .await;
    match done {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            warn!(error = %format!("{e:#}"), "cannot read the scorecard");
            Err((StatusCode::INTERNAL_SERVER_ERROR, "store unavailable\n").into_response())
        }
        Err(_) => Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()),
    }
}

fn options(q: &PageQuery, vendors: Vec<String>) -> Result<Options, Response> {
    let in_hours = match q.hours.as_deref() {
        None | Some("") => None,
        Some("in") => Some(true),
        Some("out") => Some(false),
        Some(other) => return Err(bad(format!("hours=`{other}`: expected `in` or `out`"))),
    };
    Ok(Options { from: instant(&q.from, false)?, to: instant(&q.to, true)?, vendors, evidence: true, in_hours })
}

async fn scorecard_page(state: Arc<AppState>, q: PageQuery, vendors: Vec<String>) -> Response {
    let lang = match lang_of(&q) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let o = match options(&q, vendors) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let now = state.clock.now();
    let live = Live { refresh_seconds: REFRESH_SECONDS, rating: state.config().daemon.api_token.is_some() };
    let page = reading(&state, move |config, store| {
        let sc = supportprobe_report::scorecard(config, store, &o, now)?;
        Ok(supportprobe_report::html(&sc, lang, Some(&live))?)
    })
    .await;
    match page {
        Ok(html) => Html(html).into_response(),
        Err(r) => r,
    }
}

/// `GET /`: the scorecard of every vendor.
pub async fn index(State(state): State<Arc<AppState>>, Query(q): Query<PageQuery>) -> Response {
    scorecard_page(state, q, Vec::new()).await
}

/// `GET /vendors/{id}`: one vendor's scorecard.
pub async fn vendor(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    if state.config().vendor(&id).is_none() {
        return (StatusCode::NOT_FOUND, format!("no vendor `{id}`\n")).into_response();
    }
    scorecard_page(state, q, vec![id]).await
}

/// `GET /probes/{reference}`: a probe's figures, transcript and ratings.
pub async fn probe(
    State(state): State<Arc<AppState>>,
    Path(reference): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let lang = match lang_of(&q) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let live = Live { refresh_seconds: 0, rating: state.config().daemon.api_token.is_some() };
    let (r, now) = (reference.clone(), state.clock.now());
    let page = reading(&state, move |config, store| {
        let Some(p) = supportprobe_report::probe_evidence(config, store, &r, now)? else { return Ok(None) };
        let name = config.vendor(&p.vendor).map_or(p.vendor.clone(), |v| v.name.clone());
        Ok(Some(supportprobe_report::probe_page(&p, &name, lang, Some(&live))?))
    })
    .await;
    match page {
        Ok(Some(html)) => Html(html).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, format!("no probe with reference {reference}\n")).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/v1/scorecard`: the report's JSON.
pub async fn scorecard_json(State(state): State<Arc<AppState>>, Query(q): Query<ScorecardQuery>) -> Response {
    let page = PageQuery { lang: None, from: q.from, to: q.to, hours: q.hours };
    let vendors: Vec<String> = q.vendor.map(|v| v.split(',').map(String::from).collect()).unwrap_or_default();
    let config = state.config();
    if let Some(v) = vendors.iter().find(|v| config.vendor(v).is_none()) {
        return (StatusCode::NOT_FOUND, format!("no vendor `{v}`\n")).into_response();
    }
    let o = match options(&page, vendors) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let now = state.clock.now();
    match reading(&state, move |config, store| Ok(supportprobe_report::scorecard(config, store, &o, now)?)).await {
        Ok(sc) => ([(header::CONTENT_TYPE, "application/json")], supportprobe_report::json(&sc)).into_response(),
        Err(r) => r,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ScorecardQuery {
    #[serde(default)]
    hours: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// Vendor ids, comma-separated.
    #[serde(default)]
    vendor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ProbesQuery {
    #[serde(default)]
    vendor: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    state: Option<String>,
    /// Created at or after (RFC 3339 or a day).
    #[serde(default)]
    since: Option<String>,
    /// Continue after this cursor (the previous page's `next`).
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    limit: Option<u32>,
}

/// At most this many probes per page of `GET /api/v1/probes`.
pub const MAX_PAGE: u32 = 500;

/// `GET /api/v1/probes?vendor=&channel=&state=&since=&after=&limit=`: probes as
/// `probes --json` prints them, oldest first, `{"probes": [...], "next": cursor|null}`.
pub async fn probes_json(State(state): State<Arc<AppState>>, Query(q): Query<ProbesQuery>) -> Response {
    let st = match q.state.as_deref().map(str::parse::<crate::model::State>).transpose() {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let since = match instant(&q.since, false) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let filter =
        crate::store::ProbeFilter { vendor: q.vendor, channel: q.channel, state: st, since, ..Default::default() };
    let after = q.after.unwrap_or(0);
    match reading(&state, move |config, store| crate::cli::probe_rows_page(store, Some(config), &filter, after, limit))
        .await
    {
        Ok((rows, next)) => {
            let body = serde_json::json!({ "probes": rows, "next": next });
            ([(header::CONTENT_TYPE, "application/json")], format!("{body:#}\n")).into_response()
        }
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingBody {
    quality: u8,
    #[serde(default)]
    solved: Option<crate::store::Solved>,
    #[serde(default)]
    note: Option<String>,
    /// Who rates; `api` when absent.
    #[serde(default)]
    by: Option<String>,
}

/// `POST /api/v1/probes/{reference}/rating` with `{"quality": 1-5, "solved": "yes"|"partly"|"no", "note": …, "by": …}`.
pub async fn rate(
    State(state): State<Arc<AppState>>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = crate::server::authorize(&state, &headers) {
        return r;
    }
    let body: RatingBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad(format!("invalid body: {e}")),
    };
    let (store, now) = (state.store.clone(), state.clock.now());
    let by = body.by.clone().unwrap_or_else(|| "api".into());
    let rating = crate::store::Rating { quality: body.quality, solved: body.solved, note: body.note };
    let done = tokio::task::spawn_blocking(move || crate::record::rate(&store, &reference, &by, rating, now)).await;
    use crate::record::RecordError;
    match done {
        Ok(Ok(line)) => (StatusCode::OK, format!("{line}\n")).into_response(),
        Ok(Err(e @ RecordError::UnknownProbe(_))) => (StatusCode::NOT_FOUND, format!("{e}\n")).into_response(),
        Ok(Err(e @ RecordError::Invalid(_))) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")).into_response(),
        Ok(Err(e)) => {
            warn!(error = %crate::channel::error_chain(&e), "cannot record a rating");
            (StatusCode::INTERNAL_SERVER_ERROR, "store unavailable\n").into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    }
}

/// The alert runbook (`docs/alerts.md`, built in): `/docs/alerts`, each
/// alert a section whose anchor is its name in lower case, so an alert's
/// `runbook_url` lands on it.
pub async fn alerts_runbook() -> Response {
    let body = markdown_page(include_str!("../docs/alerts.md"));
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// Just enough Markdown for the runbook: headings (with anchors), paragraphs,
/// lists and `code`, every character of the text escaped.
pub fn markdown_page(md: &str) -> String {
    fn esc(s: &str) -> String {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
    }
    fn inline(s: &str) -> String {
        // Backticks alternate between text and code.
        esc(s)
            .split('`')
            .enumerate()
            .map(|(i, part)| if i % 2 == 1 { format!("<code>{part}</code>") } else { part.to_string() })
            .collect()
    }
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>supportprobe alert runbook</title>\
         <style>body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em}code{background:#f2f2f2;padding:0 .2em}</style>\
         </head><body>\n",
    );
    let mut list: Option<&str> = None;
    let mut para: Vec<String> = Vec::new();
    let flush = |out: &mut String, para: &mut Vec<String>, list: &mut Option<&str>| {
        if !para.is_empty() {
            out.push_str(&format!("<p>{}</p>\n", inline(&para.join(" "))));
            para.clear();
        }
        if let Some(tag) = list.take() {
            out.push_str(&format!("</{tag}>\n"));
        }
    };
    for line in md.lines() {
        let t = line.trim();
        let item = t.strip_prefix("- ").map(|r| ("ul", r)).or_else(|| {
            let (n, rest) = t.split_once(". ")?;
            n.chars().all(|c| c.is_ascii_digit()).then_some(("ol", rest))
        });
        if let Some(h) = t.strip_prefix("## ") {
            flush(&mut out, &mut para, &mut list);
            let id: String = h.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
            out.push_str(&format!("<h2 id=\"{id}\">{}</h2>\n", inline(h)));
        } else if let Some(h) = t.strip_prefix("# ") {
            flush(&mut out, &mut para, &mut list);
            out.push_str(&format!("<h1>{}</h1>\n", inline(h)));
        } else if t.is_empty() {
            flush(&mut out, &mut para, &mut list);
        } else if let Some((tag, rest)) = item {
            if !para.is_empty() || list != Some(tag) {
                flush(&mut out, &mut para, &mut list);
                out.push_str(&format!("<{tag}>\n"));
                list = Some(tag);
            }
            out.push_str(&format!("<li>{}</li>\n", inline(rest)));
        } else if list.is_some() {
            // A list item's continuation line.
            if out.ends_with("</li>\n") {
                out.truncate(out.len() - "</li>\n".len());
                out.push_str(&format!(" {}</li>\n", inline(t)));
            }
        } else {
            para.push(t.to_string());
        }
    }
    flush(&mut out, &mut para, &mut list);
    out.push_str("</body></html>\n");
    out
}
