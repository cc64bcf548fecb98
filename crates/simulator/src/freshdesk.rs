//! The simulated vendors' Freshdesk: the v2 REST API under
//! `/{vendor}/freshdesk/api/v2/`, with Freshdesk's JSON shapes (status and
//! priority codes, conversations with `incoming`/`private`/`user_id`),
//! `Link` pagination, Basic authentication with the API key, and its error
//! bodies (401 `invalid_credentials`, 404, 400 validation errors, 429 with
//! `Retry-After`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Author, Comment, SimTicket, Simulator, VendorState, rfc3339};
use super::{Refusal, check_token, guarded, offset_page, with_headers};
use supportprobe_core::lifecycle::Ts;
use supportprobe_core::model::Priority;

const REQUESTER_ID: i64 = 90_000_001;

pub(super) fn routes() -> Router<Simulator> {
    let api = "/{vendor}/freshdesk/api/v2";
    Router::new()
        .route(&format!("{api}/tickets"), get(list_tickets).post(create_ticket))
        .route(&format!("{api}/tickets/{{id}}"), get(show_ticket).put(update_ticket))
        .route(&format!("{api}/tickets/{{id}}/conversations"), get(list_conversations))
        .route(&format!("{api}/tickets/{{id}}/notes"), post(add_note))
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    page: Option<usize>,
    per_page: Option<usize>,
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, json!({ "code": "not_found", "message": "Record not found" }))
}

fn invalid(field: &str, message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        json!({ "description": "Validation failed", "errors": [{ "field": field, "message": message, "code": "invalid_value" }] }),
    )
}

fn with_vendor(
    sim: &Simulator,
    vendor: &str,
    headers: &HeaderMap,
    f: impl FnOnce(&mut VendorState, Ts) -> Response,
) -> Response {
    let key = super::basic_user(headers);
    let refuse = |r| match r {
        Refusal::UnknownVendor => not_found(),
        Refusal::NoCredential | Refusal::WrongCredential => error(
            StatusCode::UNAUTHORIZED,
            json!({ "code": "invalid_credentials", "message": "You have to be logged in to perform this action." }),
        ),
        Refusal::Limited(wait) => with_headers(
            error(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "message": "You have exceeded the limit of requests per minute" }),
            ),
            [("retry-after", wait.to_string()), ("x-ratelimit-remaining", "0".into())],
        ),
    };
    guarded(sim, vendor, |t| check_token(t, key.as_deref()), refuse, f)
}

fn base(headers: &HeaderMap, vendor: &str) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}/{vendor}/freshdesk/api/v2")
}

fn status_code(t: &SimTicket, now: Ts) -> i64 {
    match t.status(now) {
        "solved" => 4,
        "pending" => 3,
        _ => 2,
    }
}

fn priority_code(p: Option<Priority>) -> i64 {
    // Freshdesk's documented priority codes: 1 low, 2 medium, 3 high, 4 urgent.
    p.map_or(1, |p| match p {
        Priority::P0 => 4,
        Priority::P1 => 3,
        Priority::P2 => 2,
        Priority::P3 => 1,
    })
}

fn ticket_json(t: &SimTicket, now: Ts) -> Value {
    json!({
        "id": t.id,
        "subject": t.subject,
        "description": format!("<div>{}</div>", t.description),
        "description_text": t.description,
        "status": status_code(t, now),
        "priority": priority_code(t.priority),
        "source": 2,
        "type": "Incident",
        "requester_id": REQUESTER_ID,
        "responder_id": null,
        "group_id": t.group(now),
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "fr_escalated": false,
        "spam": false,
        "is_escalated": false,
        "tags": [],
        "due_by": rfc3339(t.created_at + chrono::Duration::days(3)),
        "fr_due_by": rfc3339(t.created_at + chrono::Duration::days(1)),
        "created_at": rfc3339(t.created_at),
        "updated_at": rfc3339(t.updated_at(now)),
    })
}

fn conversation_json(v: &VendorState, c: &Comment, t: &SimTicket) -> Value {
    let support = format!("support@{}.example", v.profile.vendor);
    let (incoming, user_id, from) = match c.author {
        Author::Requester => (true, REQUESTER_ID, "poc@example.com".to_string()),
        Author::System => (false, 60_000_001, support.clone()),
        Author::Bot => (false, 70_000_001, support.clone()),
        Author::Agent(i) => (false, 80_000_001 + i as i64, support.clone()),
    };
    json!({
        "id": c.id,
        "body": format!("<div>{}</div>", c.body),
        "body_text": c.body,
        "incoming": incoming,
        "private": false,
        "user_id": user_id,
        "support_email": if incoming { Value::Null } else { json!(support) },
        "source": if incoming { 2 } else { 0 },
        "category": 2,
        "ticket_id": t.id,
        "to_emails": if incoming { json!([]) } else { json!(["poc@example.com"]) },
        "from_email": from,
        "cc_emails": [],
        "bcc_emails": null,
        "attachments": [],
        "created_at": rfc3339(c.at),
        "updated_at": rfc3339(c.at),
    })
}

fn paginate<T: Clone>(items: &[T], q: &PageQuery, cap: u32, url: &str) -> (Vec<T>, Option<String>) {
    let p = offset_page(items, q.page, q.per_page, 30, cap);
    let link = p.more.then(|| format!(r#"<{url}?page={}&per_page={}>; rel="next""#, p.page + 1, p.per_page));
    (p.items, link)
}

fn with_link(body: Value, link: Option<String>) -> Response {
    with_headers(axum::Json(body).into_response(), link.map(|l| ("link", l)))
}

fn index(v: &VendorState, id: &str) -> Option<usize> {
    v.ticket_on("freshdesk", id.parse().ok()?)
}

fn json_body(body: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            json!({ "description": "Validation failed", "errors": [{ "message": format!("Invalid JSON: {e}") }] }),
        ))
    })
}

async fn list_tickets(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let mut all: Vec<&SimTicket> = v.tickets.iter().filter(|t| t.channel == "freshdesk").collect();
        all.reverse();
        let (page, link) = paginate(&all, &q, v.profile.page_size, &format!("{}/tickets", base(&headers, &vendor)));
        with_link(json!(page.iter().map(|t| ticket_json(t, now)).collect::<Vec<_>>()), link)
    })
}

async fn create_ticket(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        if p["email"].as_str().is_none_or(|e| !e.contains('@')) {
            return invalid("email", "It should be a valid email address");
        }
        let Some(subject) = p["subject"].as_str().filter(|s| !s.trim().is_empty()) else {
            return invalid("subject", "It should not be blank");
        };
        let description = p["description"].as_str().unwrap_or("").to_string();
        let priority = match p.get("priority").and_then(Value::as_i64) {
            None => None,
            Some(4) => Some(Priority::P0),
            Some(3) => Some(Priority::P1),
            Some(2) => Some(Priority::P2),
            Some(1) => Some(Priority::P3),
            Some(_) => return invalid("priority", "It should be one of these values: '1,2,3,4'"),
        };
        let id = v.create("freshdesk", subject.to_string(), description, priority, now);
        let Some(t) = v.tickets.iter().find(|t| t.id == id) else { return not_found() };
        (StatusCode::CREATED, axum::Json(ticket_json(t, now))).into_response()
    })
}

async fn show_ticket(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| match index(v, &id) {
        Some(i) => axum::Json(ticket_json(&v.tickets[i], now)).into_response(),
        None => not_found(),
    })
}

async fn update_ticket(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &id) else { return not_found() };
        if matches!(p["status"].as_i64(), Some(4 | 5)) {
            v.requester_solve(i, now);
        }
        axum::Json(ticket_json(&v.tickets[i], now)).into_response()
    })
}

async fn list_conversations(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &id) else { return not_found() };
        let t = &v.tickets[i];
        // The opening message is the ticket's description, not a conversation.
        let visible: Vec<&Comment> = t.visible(now).skip(1).collect();
        let url = format!("{}/tickets/{}/conversations", base(&headers, &vendor), t.id);
        let (page, link) = paginate(&visible, &q, v.profile.page_size, &url);
        with_link(json!(page.iter().map(|c| conversation_json(v, c, t)).collect::<Vec<_>>()), link)
    })
}

async fn add_note(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &id) else { return not_found() };
        let Some(text) = p["body"].as_str().filter(|s| !s.trim().is_empty()) else {
            return invalid("body", "It should not be blank");
        };
        if p["incoming"].as_bool() != Some(true) || p["private"].as_bool() == Some(true) {
            return invalid("incoming", "Only the requester's public notes are simulated");
        }
        v.requester_comment(i, text.to_string(), now);
        let t = &v.tickets[i];
        let Some(c) = t.comments.iter().rev().find(|c| c.author == Author::Requester && c.at <= now) else {
            return not_found();
        };
        (StatusCode::CREATED, axum::Json(conversation_json(v, c, t))).into_response()
    })
}
