//! The simulated vendors' Zendesk: the end-user Requests API under
//! `/{vendor}/api/v2/`, with Zendesk's JSON shapes, offset pagination
//! (`page`, `per_page`, `next_page`), Basic/Bearer authentication and its
//! error bodies (401, 404, 422, 429 with `Retry-After`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Author, Comment, SimTicket, Simulator, VendorState, rfc3339};
use super::{Refusal, check_token, guarded, offset_page, with_headers};
use supportprobe_core::lifecycle::Ts;
use supportprobe_core::model::Priority;

const REQUESTER_ID: i64 = 900_001;
const SYSTEM_ID: i64 = 600_001;
const BOT_ID: i64 = 700_001;
const AGENT_BASE_ID: i64 = 800_001;

pub(super) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/{vendor}/api/v2/requests.json", get(list_requests).post(create_request))
        .route("/{vendor}/api/v2/requests/{id}", get(show_request).put(update_request))
        .route("/{vendor}/api/v2/requests/{id}/comments.json", get(list_comments))
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    page: Option<usize>,
    per_page: Option<usize>,
    sort_order: Option<String>,
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, json!({ "error": "RecordNotFound", "description": "Not found" }))
}

fn invalid(description: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "error": "RecordInvalid", "description": "Record validation errors",
                "details": { "base": [{ "description": description }] } }),
    )
}

/// The secret part of the credentials: the token, password or bearer token.
fn credential(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_string());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_user, secret) = text.split_once(':')?;
    Some(secret.to_string())
}

/// Finds the vendor, checks credentials and the rate limit, then runs `f`.
fn with_vendor(
    sim: &Simulator,
    vendor: &str,
    headers: &HeaderMap,
    f: impl FnOnce(&mut VendorState, Ts) -> Response,
) -> Response {
    let cred = credential(headers);
    let refuse = |r| match r {
        Refusal::UnknownVendor => not_found(),
        Refusal::NoCredential | Refusal::WrongCredential => {
            error(StatusCode::UNAUTHORIZED, json!({ "error": "Couldn't authenticate you" }))
        }
        Refusal::Limited(wait) => with_headers(
            error(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "error": "TooManyRequests", "description": "Rate limit exceeded. Please wait before retrying." }),
            ),
            [("retry-after", wait.to_string())],
        ),
    };
    guarded(sim, vendor, |t| check_token(t, cred.as_deref()), refuse, f)
}

fn base_url(headers: &HeaderMap, vendor: &str) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}/{vendor}")
}

fn request_json(t: &SimTicket, base: &str, now: Ts) -> Value {
    let status = t.status(now);
    json!({
        "url": format!("{base}/api/v2/requests/{}.json", t.id),
        "id": t.id,
        "status": status,
        "priority": t.priority.map(Priority::zendesk),
        "type": "incident",
        "subject": t.subject,
        "description": t.description,
        "organization_id": null,
        "via": { "channel": "api", "source": { "from": {}, "to": {}, "rel": null } },
        "custom_fields": [],
        "requester_id": REQUESTER_ID,
        "group_id": t.group(now),
        "collaborator_ids": [],
        "email_cc_ids": [],
        "is_public": true,
        "due_at": null,
        "can_be_solved_by_me": status != "new",
        "created_at": rfc3339(t.created_at),
        "updated_at": rfc3339(t.updated_at(now)),
        "recipient": null,
        "followup_source_id": null,
        "assignee_id": if status == "new" { Value::Null } else { json!(AGENT_BASE_ID) },
        "ticket_form_id": null,
        "fields": [],
    })
}

fn author_id(a: Author) -> i64 {
    match a {
        Author::Requester => REQUESTER_ID,
        Author::System => SYSTEM_ID,
        Author::Bot => BOT_ID,
        Author::Agent(i) => AGENT_BASE_ID + i as i64,
    }
}

fn comment_json(c: &Comment, t: &SimTicket, base: &str) -> Value {
    let via = if c.author == Author::System {
        json!({ "channel": "rule", "source": { "to": {}, "from": { "id": 360_001, "title": "Notify requester of received request" }, "rel": "trigger" } })
    } else {
        json!({ "channel": "web", "source": { "from": {}, "to": {}, "rel": null } })
    };
    let html = format!("<div class=\"zd-comment\" dir=\"auto\"><p dir=\"auto\">{}</p></div>", html_escape(&c.body));
    json!({
        "url": format!("{base}/api/v2/requests/{}/comments/{}.json", t.id, c.id),
        "id": c.id,
        "type": "Comment",
        "request_id": t.id,
        "body": c.body,
        "html_body": html,
        "plain_body": c.body,
        "public": true,
        "author_id": author_id(c.author),
        "attachments": [],
        "via": via,
        "created_at": rfc3339(c.at),
    })
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn user_json(v: &VendorState, a: Author) -> Value {
    let (name, agent) = match a {
        Author::Requester => ("POC Requester".to_string(), false),
        Author::System => ("Support".to_string(), true),
        Author::Bot => {
            let name = if v.profile.language == super::Lang::Zh { "智能客服小助手" } else { "Answer Bot" };
            (name.to_string(), true)
        }
        Author::Agent(i) => (v.profile.agents.get(i).cloned().unwrap_or_else(|| format!("Agent {i}")), true),
    };
    json!({ "id": author_id(a), "name": name, "photo": null, "agent": agent, "organization_id": null })
}

/// Offset pagination: `(items of this page, next_page URL)`.
fn paginate<T: Clone>(items: &[T], q: &PageQuery, cap: u32, url: &str) -> (Vec<T>, Value) {
    let p = offset_page(items, q.page, q.per_page, 100, cap);
    let next = if p.more { json!(format!("{url}?page={}&per_page={}", p.page + 1, p.per_page)) } else { Value::Null };
    (p.items, next)
}

fn ticket_index(v: &VendorState, id: &str) -> Option<usize> {
    v.ticket_on("zendesk", id.strip_suffix(".json").unwrap_or(id).parse().ok()?)
}

fn parse_body(body: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            json!({ "error": "InvalidJSON", "description": format!("could not parse body: {e}") }),
        ))
    })
}

async fn list_requests(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let base = base_url(&headers, &vendor);
        let mut all: Vec<&SimTicket> = v.tickets.iter().filter(|t| t.channel == "zendesk").collect();
        if q.sort_order.as_deref() == Some("desc") {
            all.reverse();
        }
        let (page, next) = paginate(&all, &q, v.profile.page_size, &format!("{base}/api/v2/requests.json"));
        let requests: Vec<Value> = page.iter().map(|t| request_json(t, &base, now)).collect();
        axum::Json(json!({ "requests": requests, "next_page": next, "previous_page": null, "count": all.len() }))
            .into_response()
    })
}

async fn create_request(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let payload = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let r = &payload["request"];
        let Some(subject) = r["subject"].as_str().filter(|s| !s.trim().is_empty()) else {
            return invalid("Subject: cannot be blank");
        };
        let Some(description) = r["comment"]["body"].as_str().filter(|s| !s.trim().is_empty()) else {
            return invalid("Description: cannot be blank");
        };
        let priority = match r.get("priority").and_then(Value::as_str) {
            None => None,
            Some(p) => match Priority::from_zendesk(p) {
                Some(p) => Some(p),
                None => return invalid("Priority: is invalid"),
            },
        };
        let id = v.create("zendesk", subject.to_string(), description.to_string(), priority, now);
        let base = base_url(&headers, &vendor);
        let Some(t) = v.tickets.iter().find(|t| t.id == id) else { return not_found() };
        let mut resp =
            (StatusCode::CREATED, axum::Json(json!({ "request": request_json(t, &base, now) }))).into_response();
        if let Ok(loc) = HeaderValue::from_str(&format!("{base}/api/v2/requests/{id}.json")) {
            resp.headers_mut().insert(header::LOCATION, loc);
        }
        resp
    })
}

async fn show_request(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = ticket_index(v, &id) else { return not_found() };
        axum::Json(json!({ "request": request_json(&v.tickets[i], &base_url(&headers, &vendor), now) })).into_response()
    })
}

async fn update_request(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let payload = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = ticket_index(v, &id) else { return not_found() };
        let r = &payload["request"];
        let solve = r["solved"].as_bool() == Some(true) || r["solved"].as_str() == Some("true");
        if solve && v.tickets[i].status(now) == "new" {
            return invalid("Status: the request can't be solved by you yet (can_be_solved_by_me is false)");
        }
        if let Some(body) = r["comment"]["body"].as_str() {
            if body.trim().is_empty() {
                return invalid("Comment: cannot be blank");
            }
            v.requester_comment(i, body.to_string(), now);
        }
        if solve {
            v.requester_solve(i, now);
        }
        axum::Json(json!({ "request": request_json(&v.tickets[i], &base_url(&headers, &vendor), now) })).into_response()
    })
}

async fn list_comments(
    State(sim): State<Simulator>,
    Path((vendor, id)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = ticket_index(v, &id) else { return not_found() };
        let base = base_url(&headers, &vendor);
        let t = &v.tickets[i];
        let visible: Vec<&Comment> = t.visible(now).collect();
        let url = format!("{base}/api/v2/requests/{}/comments.json", t.id);
        let (page, next) = paginate(&visible, &q, v.profile.page_size, &url);
        let mut authors: Vec<Author> = page.iter().map(|c| c.author).collect();
        authors.sort_by_key(|a| author_id(*a));
        authors.dedup();
        let users: Vec<Value> = authors.into_iter().map(|a| user_json(v, a)).collect();
        let comments: Vec<Value> = page.iter().map(|c| comment_json(c, t, &base)).collect();
        axum::Json(json!({
            "comments": comments, "users": users, "organizations": [],
            "next_page": next, "previous_page": null, "count": visible.len(),
        }))
        .into_response()
    })
}
