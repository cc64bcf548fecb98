//! The simulated vendors' Intercom: conversations under `/{vendor}/intercom/`
//! — `POST /conversations` from a contact, `GET /conversations/{id}` with
//! its `conversation_parts`, `POST /conversations/{id}/reply`, `POST
//! /conversations/search` — with Intercom's shapes (Unix-second timestamps,
//! author types `user`/`bot`/`admin`, Fin's `from_ai_agent`, `state`) and its
//! error list (`{"type": "error.list", "errors": [...]}`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Author, Comment, SimTicket, Simulator, VendorState};
use super::{Refusal, check_token, guarded, with_headers};
use supportprobe_core::lifecycle::Ts;

pub(super) fn routes() -> Router<Simulator> {
    let api = "/{vendor}/intercom";
    Router::new()
        .route(&format!("{api}/conversations"), post(create))
        .route(&format!("{api}/conversations/search"), post(search))
        .route(&format!("{api}/conversations/{{id}}"), get(show))
        .route(&format!("{api}/conversations/{{id}}/reply"), post(reply))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({ "type": "error.list", "request_id": "000sim", "errors": [{ "code": code, "message": message }] });
    (status, axum::Json(body)).into_response()
}

fn with_vendor(
    sim: &Simulator,
    vendor: &str,
    headers: &HeaderMap,
    f: impl FnOnce(&mut VendorState, Ts) -> Response,
) -> Response {
    let token = super::bearer(headers);
    let refuse = |r| match r {
        Refusal::UnknownVendor => error(StatusCode::NOT_FOUND, "not_found", "Resource Not Found"),
        Refusal::NoCredential | Refusal::WrongCredential => {
            error(StatusCode::UNAUTHORIZED, "unauthorized", "Access Token Invalid")
        }
        Refusal::Limited(wait) => {
            let reset = chrono::Utc::now().timestamp() + i64::try_from(wait).unwrap_or(10);
            with_headers(
                error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded", "Exceeded rate limit"),
                [("x-ratelimit-remaining", "0".to_string()), ("x-ratelimit-reset", reset.to_string())],
            )
        }
    };
    guarded(sim, vendor, |t| check_token(t, token), refuse, f)
}

fn author(v: &VendorState, a: Author, contact: &str) -> Value {
    match a {
        Author::Requester => {
            json!({ "type": "user", "id": contact, "name": "POC Requester", "email": "poc@example.com" })
        }
        Author::System => {
            json!({ "type": "bot", "id": "991267", "name": "Operator", "email": "operator+sim@intercom.io" })
        }
        Author::Bot => {
            json!({ "type": "admin", "id": "991268", "name": "Fin", "email": "fin@sim.example", "from_ai_agent": true, "is_ai_answer": true })
        }
        Author::Agent(i) => json!({
            "type": "admin", "id": (5_000_000 + i).to_string(),
            "name": v.profile.agents.get(i).cloned().unwrap_or_default(), "email": format!("agent{i}@sim.example"),
            "from_ai_agent": false, "is_ai_answer": false
        }),
    }
}

fn contact_of(t: &SimTicket) -> String {
    // The contact is remembered in the description's first line by `create`.
    t.subject.split_once('\u{1f}').map_or_else(|| "contact".to_string(), |(c, _)| c.to_string())
}

fn conversation_json(v: &VendorState, t: &SimTicket, now: Ts) -> Value {
    let contact = contact_of(t);
    let solved = t.vendor_solved_at(now).or(t.requester_solved_at.filter(|at| *at <= now));
    let mut parts: Vec<Value> = t
        .visible(now)
        .skip(1)
        .map(|c: &Comment| {
            json!({
                "type": "conversation_part", "id": c.id.to_string(), "part_type": "comment",
                "body": format!("<p>{}</p>", c.body), "created_at": c.at.timestamp(), "updated_at": c.at.timestamp(),
                "notified_at": c.at.timestamp(), "assigned_to": null, "author": author(v, c.author, &contact),
                "attachments": [], "external_id": null, "redacted": false
            })
        })
        .collect();
    if let Some(at) = solved {
        parts.push(json!({
            "type": "conversation_part", "id": format!("{}9", t.id), "part_type": "close", "body": null,
            "created_at": at.timestamp(), "updated_at": at.timestamp(), "author": author(v, Author::Agent(0), &contact)
        }));
    }
    json!({
        "type": "conversation",
        "id": t.id.to_string(),
        "title": null,
        "created_at": t.created_at.timestamp(),
        "updated_at": t.updated_at(now).timestamp(),
        "waiting_since": null,
        "snoozed_until": null,
        "open": solved.is_none(),
        "state": if solved.is_some() { "closed" } else { "open" },
        "read": true,
        "priority": "not_priority",
        "source": {
            "type": "conversation", "id": format!("40{}", t.id), "delivered_as": "customer_initiated", "subject": "",
            "body": format!("<p>{}</p>", t.description), "author": author(v, Author::Requester, &contact), "attachments": [], "url": null
        },
        "contacts": { "type": "contact.list", "contacts": [{ "type": "contact", "id": contact }] },
        "conversation_parts": { "type": "conversation_part.list", "conversation_parts": parts, "total_count": t.visible(now).count().saturating_sub(1) }
    })
}

fn index(v: &VendorState, id: &str) -> Option<usize> {
    v.ticket_on("intercom", id.parse().ok()?)
}

async fn create(State(sim): State<Simulator>, Path(vendor): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(p) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "parameter_invalid", "Invalid JSON");
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(contact) = p["from"]["id"].as_str().filter(|s| !s.is_empty()) else {
            return error(StatusCode::BAD_REQUEST, "parameter_not_found", "from is required");
        };
        let Some(text) = p["body"].as_str().filter(|s| !s.trim().is_empty()) else {
            return error(StatusCode::BAD_REQUEST, "parameter_not_found", "body is required");
        };
        let subject = format!("{contact}\u{1f}{}", text.lines().next().unwrap_or(""));
        let id = v.create("intercom", subject, text.to_string(), None, now);
        json_created(id, now)
    })
}

fn json_created(id: u64, now: Ts) -> Response {
    axum::Json(json!({
        "type": "user_message", "id": format!("40{id}"), "created_at": now.timestamp(),
        "message_type": "inapp", "conversation_id": id.to_string()
    }))
    .into_response()
}

async fn show(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| match index(v, &id) {
        Some(i) => axum::Json(conversation_json(v, &v.tickets[i], now)).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "Resource Not Found"),
    })
}

async fn reply(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(p) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "parameter_invalid", "Invalid JSON");
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &id) else { return error(StatusCode::NOT_FOUND, "not_found", "Resource Not Found") };
        if p["type"].as_str() != Some("user") || p["message_type"].as_str() != Some("comment") {
            return error(StatusCode::BAD_REQUEST, "parameter_invalid", "Only user comments are simulated");
        }
        let Some(text) = p["body"].as_str().filter(|s| !s.trim().is_empty()) else {
            return error(StatusCode::BAD_REQUEST, "parameter_not_found", "body is required");
        };
        v.requester_comment(i, text.to_string(), now);
        axum::Json(conversation_json(v, &v.tickets[i], now)).into_response()
    })
}

async fn search(State(sim): State<Simulator>, Path(vendor): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(p) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "parameter_invalid", "Invalid JSON");
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let term = p["query"]["value"].as_str().unwrap_or("").to_string();
        let found: Vec<Value> = v
            .tickets
            .iter()
            .rev()
            .filter(|t| t.channel == "intercom" && t.description.contains(&term))
            .map(|t| conversation_json(v, t, now))
            .collect();
        axum::Json(json!({ "type": "conversation.list", "conversations": found, "total_count": found.len() }))
            .into_response()
    })
}
