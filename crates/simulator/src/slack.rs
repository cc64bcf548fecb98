//! The simulated vendors' Slack: a shared support channel's Web API under
//! `/{vendor}/slack/api/` — `auth.test`, `chat.postMessage` (a new message
//! opens a thread; `thread_ts` replies in it), `conversations.replies` and
//! `conversations.history` with cursors — with Slack's shapes (`ts` with
//! microseconds, `bot_id`/`subtype: bot_message`, `team`, reactions) and its
//! errors (`{"ok": false, "error": "invalid_auth"}` with HTTP 200,
//! `ratelimited` with HTTP 429 and `Retry-After`). The vendor's people react
//! with `white_check_mark` when they post the fix.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Author, Comment, SimTicket, Simulator, VendorState, slack_ts};
use super::{Refusal, check_token, guarded, with_headers};
use supportprobe_core::lifecycle::Ts;

const OUR_USER: &str = "U0POCUSER1";
const OUR_TEAM: &str = "T0OURTEAM1";
const VENDOR_TEAM: &str = "T0VENDOR01";

pub(super) fn routes() -> Router<Simulator> {
    let api = "/{vendor}/slack/api";
    Router::new()
        .route(&format!("{api}/auth.test"), get(auth_test).post(auth_test))
        .route(&format!("{api}/chat.postMessage"), post(post_message))
        .route(&format!("{api}/conversations.replies"), get(replies))
        .route(&format!("{api}/conversations.history"), get(history))
}

#[derive(Debug, Default, Deserialize)]
struct Q {
    channel: Option<String>,
    ts: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn fail(error: &str) -> Response {
    axum::Json(json!({ "ok": false, "error": error })).into_response()
}

fn with_vendor(
    sim: &Simulator,
    vendor: &str,
    headers: &HeaderMap,
    f: impl FnOnce(&mut VendorState, Ts) -> Response,
) -> Response {
    let token = super::bearer(headers);
    let refuse = |r| match r {
        Refusal::UnknownVendor => fail("team_not_found"),
        Refusal::NoCredential => fail("not_authed"),
        Refusal::WrongCredential => fail("invalid_auth"),
        Refusal::Limited(wait) => with_headers(
            (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({ "ok": false, "error": "ratelimited" }))).into_response(),
            [("retry-after", wait.to_string())],
        ),
    };
    guarded(sim, vendor, |t| check_token(t, token), refuse, f)
}

fn message_json(v: &VendorState, t: &SimTicket, c: &Comment, parent: &str, now: Ts) -> Value {
    let ts = slack_ts(t.stamp(c.at, c.id));
    let mut m = match c.author {
        Author::Requester => json!({ "type": "message", "user": OUR_USER, "team": OUR_TEAM, "text": c.body }),
        Author::System => json!({
            "type": "message", "subtype": "bot_message", "bot_id": "B0ACKBOT01", "username": "Support Intake",
            "text": c.body
        }),
        Author::Bot => json!({
            "type": "message", "user": "U0ASSIST01", "bot_id": "B0ASSIST01", "team": VENDOR_TEAM,
            "app_id": "A0ASSIST01", "text": c.body,
            "bot_profile": { "id": "B0ASSIST01", "name": "Support Assistant", "app_id": "A0ASSIST01" }
        }),
        Author::Agent(i) => {
            let name = v.profile.agents.get(i).cloned().unwrap_or_default();
            json!({
                "type": "message", "user": format!("U0AGENT{i:03}"), "team": VENDOR_TEAM, "text": c.body,
                "user_profile": { "real_name": name, "display_name": name, "team": VENDOR_TEAM }
            })
        }
    };
    m["ts"] = json!(ts);
    m["thread_ts"] = json!(parent);
    if ts == parent {
        m["reply_count"] = json!(t.visible(now).count().saturating_sub(1));
        if let Some(solver) = t.visible(now).find(|c| c.solves).map(|c| c.author) {
            let user = match solver {
                Author::Agent(i) => format!("U0AGENT{i:03}"),
                _ => "U0ASSIST01".into(),
            };
            m["reactions"] = json!([{ "name": "white_check_mark", "users": [user], "count": 1 }]);
        }
    }
    m
}

fn thread_index(v: &VendorState, ts: &str) -> Option<usize> {
    v.tickets.iter().position(|t| t.channel == "slack" && t.platform_id() == ts)
}

async fn auth_test(State(sim): State<Simulator>, Path(vendor): Path<String>, headers: HeaderMap) -> Response {
    with_vendor(&sim, &vendor, &headers, |_, _| {
        axum::Json(json!({ "ok": true, "url": "https://ours.slack.com/", "team": "Our Team", "user": "poc", "team_id": OUR_TEAM, "user_id": OUR_USER }))
            .into_response()
    })
}

async fn post_message(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(p) = serde_json::from_slice::<Value>(&body) else { return fail("invalid_json") };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(channel) = p["channel"].as_str() else { return fail("channel_not_found") };
        let Some(text) = p["text"].as_str().filter(|t| !t.trim().is_empty()) else { return fail("no_text") };
        let (i, comment) = match p["thread_ts"].as_str() {
            Some(parent) => {
                let Some(i) = thread_index(v, parent) else { return fail("thread_not_found") };
                v.requester_comment(i, text.to_string(), now);
                let c =
                    v.tickets[i].comments.iter().rev().find(|c| c.author == Author::Requester && c.at <= now).cloned();
                (i, c)
            }
            None => {
                let subject = text.lines().next().unwrap_or("").trim_matches('*').to_string();
                let id = v.create("slack", subject, text.to_string(), None, now);
                let i = v.tickets.iter().position(|t| t.id == id).unwrap_or(0);
                (i, v.tickets[i].comments.first().cloned())
            }
        };
        let Some(c) = comment else { return fail("internal_error") };
        let t = &v.tickets[i];
        let parent = t.platform_id();
        let m = message_json(v, t, &c, &parent, now);
        axum::Json(json!({ "ok": true, "channel": channel, "ts": m["ts"], "message": m })).into_response()
    })
}

async fn replies(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    Query(q): Query<Q>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        if q.channel.is_none() {
            return fail("channel_not_found");
        }
        let Some(i) = q.ts.as_deref().and_then(|ts| thread_index(v, ts)) else { return fail("thread_not_found") };
        let t = &v.tickets[i];
        let parent = t.platform_id();
        let all: Vec<Value> = t.visible(now).map(|c| message_json(v, t, c, &parent, now)).collect();
        cursor_page(&all, &q, v.profile.page_size)
    })
}

/// Cursor pagination: `limit` messages from the cursor, `has_more` and the next cursor.
fn cursor_page(all: &[Value], q: &Q, page_size: u32) -> Response {
    let limit = q.limit.unwrap_or(100).clamp(1, 200).min(page_size as usize);
    let start: usize =
        q.cursor.as_deref().and_then(|c| c.strip_prefix("next:")).and_then(|n| n.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let more = start + limit < all.len();
    let next = if more { format!("next:{}", start + limit) } else { String::new() };
    axum::Json(json!({ "ok": true, "messages": page, "has_more": more, "response_metadata": { "next_cursor": next } }))
        .into_response()
}

async fn history(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    Query(q): Query<Q>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        if q.channel.is_none() {
            return fail("channel_not_found");
        }
        let parents: Vec<Value> = v
            .tickets
            .iter()
            .rev()
            .filter(|t| t.channel == "slack")
            .filter_map(|t| t.comments.first().map(|c| message_json(v, t, c, &t.platform_id(), now)))
            .collect();
        cursor_page(&parents, &q, v.profile.page_size)
    })
}
