//! The simulated vendors' Feishu: a support group's `im/v1` API under
//! `/{vendor}/feishu/open-apis/` — tenant access tokens, sending, replying in
//! a thread, reading a message and the group's history with `page_token` —
//! in Feishu's shapes (`{"code": 0, "msg": "success", "data": …}`,
//! millisecond `create_time` strings, `sender_type` app/user, JSON `content`
//! strings) and its failures (`code` 99991663 for a bad token, 10014 for a
//! wrong app secret, 99991400 with `x-ogw-ratelimit-reset`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Author, Comment, SimTicket, Simulator, VendorState};
use super::{Refusal, guarded, with_headers};
use supportprobe_core::lifecycle::Ts;

pub(super) fn routes() -> Router<Simulator> {
    let api = "/{vendor}/feishu/open-apis";
    Router::new()
        .route(&format!("{api}/auth/v3/tenant_access_token/internal"), post(token))
        .route(&format!("{api}/im/v1/messages"), get(list).post(send))
        .route(&format!("{api}/im/v1/messages/{{id}}"), get(show))
        .route(&format!("{api}/im/v1/messages/{{id}}/reply"), post(reply))
}

#[derive(Debug, Default, Deserialize)]
struct Q {
    container_id: Option<String>,
    start_time: Option<i64>,
    page_token: Option<String>,
    page_size: Option<usize>,
}

fn fail(status: StatusCode, code: i64, msg: &str) -> Response {
    (status, axum::Json(json!({ "code": code, "msg": msg, "error": { "log_id": "sim" } }))).into_response()
}

fn ok(data: Value) -> Response {
    axum::Json(json!({ "code": 0, "msg": "success", "data": data })).into_response()
}

/// Runs `f` with the app id our tenant token was issued to, after the
/// vendor's checks.
fn with_vendor(
    sim: &Simulator,
    vendor: &str,
    headers: &HeaderMap,
    f: impl FnOnce(&mut VendorState, Ts, String) -> Response,
) -> Response {
    // Tenant tokens are ours (`t-{vendor}-{app_id}`); the app secret was checked when one was issued.
    let app = super::bearer(headers).and_then(|t| t.strip_prefix(&format!("t-{vendor}-"))).map(String::from);
    let refuse = |r| match r {
        Refusal::UnknownVendor => fail(StatusCode::NOT_FOUND, 404, "not found"),
        Refusal::NoCredential | Refusal::WrongCredential => fail(
            StatusCode::BAD_REQUEST,
            99_991_663,
            "Invalid access token for authorization. Please make a request with token attached.",
        ),
        Refusal::Limited(wait) => with_headers(
            fail(StatusCode::BAD_REQUEST, 99_991_400, "request trigger frequency limit"),
            [("x-ogw-ratelimit-reset", wait.to_string())],
        ),
    };
    let authorized = if app.is_some() { Ok(()) } else { Err(Refusal::NoCredential) };
    guarded(sim, vendor, |_| authorized, refuse, |v, now| f(v, now, app.unwrap_or_default()))
}

fn app_of(t: &SimTicket) -> &str {
    t.subject.split_once('\u{1f}').map_or("", |(a, _)| a)
}

fn item(v: &VendorState, t: &SimTicket, c: &Comment, root: bool) -> Value {
    let sender = match c.author {
        Author::Requester => {
            json!({ "id": app_of(t), "id_type": "app_id", "sender_type": "app", "tenant_key": "our_tenant" })
        }
        Author::System => {
            json!({ "id": "cli_helpdesk_bot", "id_type": "app_id", "sender_type": "app", "tenant_key": "vendor_tenant" })
        }
        Author::Bot => {
            json!({ "id": "cli_ai_assistant", "id_type": "app_id", "sender_type": "app", "tenant_key": "vendor_tenant" })
        }
        Author::Agent(i) => {
            json!({ "id": format!("ou_agent{i}"), "id_type": "open_id", "sender_type": "user", "tenant_key": "vendor_tenant" })
        }
    };
    let _ = v;
    let root_id = message_id(t, t.comments.first().map_or(0, |c| c.id));
    let mut m = json!({
        "message_id": message_id(t, c.id),
        "msg_type": "text",
        "create_time": c.at.timestamp_millis().to_string(),
        "update_time": c.at.timestamp_millis().to_string(),
        "deleted": false,
        "updated": false,
        "chat_id": "oc_sim_support_group",
        "sender": sender,
        "body": { "content": json!({ "text": c.body }).to_string() },
        "mentions": []
    });
    if !root {
        m["root_id"] = json!(root_id.clone());
        m["parent_id"] = json!(root_id);
        m["thread_id"] = json!(format!("omt_{}", t.id));
    }
    m
}

fn message_id(t: &SimTicket, comment: u64) -> String {
    format!("om_t{}c{comment}", t.id)
}

fn find(v: &VendorState, id: &str) -> Option<(usize, u64)> {
    let rest = id.strip_prefix("om_t")?;
    let (t, c) = rest.split_once('c')?;
    let (t, c): (u64, u64) = (t.parse().ok()?, c.parse().ok()?);
    v.tickets.iter().position(|x| x.id == t && x.channel == "feishu").map(|i| (i, c))
}

async fn token(State(sim): State<Simulator>, Path(vendor): Path<String>, body: Bytes) -> Response {
    let Ok(p) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, 9499, "Bad Request");
    };
    let vendors = sim.lock();
    let Some(v) = vendors.get(&vendor) else { return fail(StatusCode::NOT_FOUND, 404, "not found") };
    let app = p["app_id"].as_str().unwrap_or("");
    let secret = p["app_secret"].as_str().unwrap_or("");
    if app.is_empty() || v.profile.token.as_deref().is_some_and(|t| t != secret) {
        return fail(StatusCode::BAD_REQUEST, 10_014, "app secret invalid");
    }
    axum::Json(json!({ "code": 0, "msg": "ok", "tenant_access_token": format!("t-{vendor}-{app}"), "expire": 7200 }))
        .into_response()
}

async fn send(State(sim): State<Simulator>, Path(vendor): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(p) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, 9499, "Bad Request");
    };
    with_vendor(&sim, &vendor, &headers, |v, now, app| {
        if p["receive_id"].as_str().is_none_or(|c| !c.starts_with("oc_")) {
            return fail(
                StatusCode::BAD_REQUEST,
                230_001,
                "Your request contains an invalid request parameter, ext=invalid receive_id",
            );
        }
        let content: Value = serde_json::from_str(p["content"].as_str().unwrap_or("")).unwrap_or_default();
        let Some(text) = content["text"].as_str().filter(|t| !t.trim().is_empty()) else {
            return fail(StatusCode::BAD_REQUEST, 230_001, "invalid content");
        };
        let subject = format!("{app}\u{1f}{}", text.lines().next().unwrap_or(""));
        let id = v.create("feishu", subject, text.to_string(), None, now);
        let Some(t) = v.tickets.iter().find(|t| t.id == id) else { return fail(StatusCode::NOT_FOUND, 404, "gone") };
        let Some(c) = t.comments.first() else { return fail(StatusCode::NOT_FOUND, 404, "gone") };
        ok(item(v, t, c, true))
    })
}

async fn reply(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(p) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, 9499, "Bad Request");
    };
    with_vendor(&sim, &vendor, &headers, |v, now, _| {
        let Some((i, _)) = find(v, &id) else {
            return fail(StatusCode::BAD_REQUEST, 230_011, "The message was withdrawn or not found.");
        };
        let content: Value = serde_json::from_str(p["content"].as_str().unwrap_or("")).unwrap_or_default();
        let Some(text) = content["text"].as_str().filter(|t| !t.trim().is_empty()) else {
            return fail(StatusCode::BAD_REQUEST, 230_001, "invalid content");
        };
        v.requester_comment(i, text.to_string(), now);
        let t = &v.tickets[i];
        let Some(c) = t.comments.iter().rev().find(|c| c.author == Author::Requester && c.at <= now) else {
            return fail(StatusCode::NOT_FOUND, 404, "gone");
        };
        ok(item(v, t, c, false))
    })
}

async fn show(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now, _| {
        let Some((i, cid)) = find(v, &id) else {
            return fail(StatusCode::BAD_REQUEST, 230_011, "The message was withdrawn or not found.");
        };
        let t = &v.tickets[i];
        let first = t.comments.first().map(|c| c.id);
        match t.visible(now).find(|c| c.id == cid) {
            Some(c) => ok(json!({ "items": [item(v, t, c, Some(c.id) == first)] })),
            None => fail(StatusCode::BAD_REQUEST, 230_011, "The message was withdrawn or not found."),
        }
    })
}

async fn list(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    Query(q): Query<Q>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now, _| {
        if q.container_id.as_deref().is_none_or(|c| !c.starts_with("oc_")) {
            return fail(StatusCode::BAD_REQUEST, 230_001, "invalid container_id");
        }
        let from = q.start_time.unwrap_or(0) * 1000;
        let mut all: Vec<(Ts, u64, Value)> = Vec::new();
        for t in v.tickets.iter().filter(|t| t.channel == "feishu") {
            let first = t.comments.first().map(|c| c.id);
            for c in t.visible(now).filter(|c| c.at.timestamp_millis() >= from) {
                all.push((c.at, c.id, item(v, t, c, Some(c.id) == first)));
            }
        }
        all.sort_by_key(|(at, id, _)| (*at, *id));
        let size = q.page_size.unwrap_or(20).clamp(1, 50).min(v.profile.page_size as usize);
        let start: usize = q.page_token.as_deref().and_then(|p| p.parse().ok()).unwrap_or(0);
        let page: Vec<Value> = all.iter().skip(start).take(size).map(|(_, _, m)| m.clone()).collect();
        let more = start + size < all.len();
        ok(
            json!({ "has_more": more, "page_token": if more { (start + size).to_string() } else { String::new() }, "items": page }),
        )
    })
}
