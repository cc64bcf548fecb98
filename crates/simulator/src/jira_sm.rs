//! The simulated vendors' Jira Service Management: the customer-facing
//! `servicedeskapi` under `/{vendor}/jira/rest/servicedeskapi/` (requests,
//! public comments with `start`/`limit`/`isLastPage`, customer
//! transitions), `GET /rest/api/3/user` for account types, Jira's `DateDTO`
//! timestamps (milliseconds, offsets without a colon), Basic authentication
//! and Jira's error bodies (`errorMessages`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Author, Comment, SimTicket, Simulator, VendorState};
use super::{Refusal, check_token, guarded, with_headers};
use supportprobe_core::lifecycle::Ts;

const CUSTOMER: &str = "qm:5d0c1f3a-poc-customer";

pub(super) fn routes() -> Router<Simulator> {
    let api = "/{vendor}/jira/rest/servicedeskapi/request";
    Router::new()
        .route(api, get(list).post(create))
        .route(&format!("{api}/{{key}}"), get(show))
        .route(&format!("{api}/{{key}}/comment"), get(comments).post(add_comment))
        .route(&format!("{api}/{{key}}/transition"), get(transitions).post(transition))
        .route("/{vendor}/jira/rest/api/3/user", get(user))
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    start: Option<usize>,
    limit: Option<usize>,
    #[serde(rename = "accountId")]
    account_id: Option<String>,
    #[serde(rename = "searchTerm")]
    search_term: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "errorMessage": message, "errorMessages": [message], "errors": {} }))).into_response()
}

fn with_vendor(
    sim: &Simulator,
    vendor: &str,
    headers: &HeaderMap,
    f: impl FnOnce(&mut VendorState, Ts) -> Response,
) -> Response {
    let secret = super::basic_password(headers);
    let refuse = |r| match r {
        Refusal::UnknownVendor => error(StatusCode::NOT_FOUND, "Site not found"),
        Refusal::NoCredential | Refusal::WrongCredential => {
            error(StatusCode::UNAUTHORIZED, "Client must be authenticated to access this resource.")
        }
        Refusal::Limited(wait) => with_headers(
            error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded."),
            [("retry-after", wait.to_string())],
        ),
    };
    guarded(sim, vendor, |t| check_token(t, secret.as_deref()), refuse, f)
}

fn date(t: Ts) -> Value {
    json!({
        "iso8601": t.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
        "jira": t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string(),
        "friendly": t.format("%d/%b/%y %-I:%M %p").to_string(),
        "epochMillis": t.timestamp_millis(),
    })
}

fn account(v: &VendorState, a: Author) -> (String, String, &'static str) {
    match a {
        Author::Requester => (CUSTOMER.into(), "POC Customer".into(), "customer"),
        Author::System => ("557058:jsm-automation".into(), "Automation for Jira".into(), "app"),
        Author::Bot => ("557058:virtual-agent".into(), "Virtual Agent".into(), "app"),
        Author::Agent(i) => (
            format!("5b10ac8d82e05b22cc7d4e{i:02}"),
            v.profile.agents.get(i).cloned().unwrap_or_else(|| format!("Agent {i}")),
            "atlassian",
        ),
    }
}

fn user_json(v: &VendorState, a: Author) -> Value {
    let (id, name, _) = account(v, a);
    json!({ "accountId": id, "displayName": name, "active": true, "timeZone": "Asia/Shanghai" })
}

fn key(t: &SimTicket) -> String {
    format!("SD-{}", t.id)
}

fn status_json(t: &SimTicket, now: Ts) -> Value {
    let solved = t.vendor_solved_at(now).or(t.requester_solved_at.filter(|at| *at <= now));
    let (status, category, at) = match (solved, t.status(now)) {
        (Some(at), _) => ("Resolved", "DONE", at),
        (None, "pending") => ("Waiting for customer", "INDETERMINATE", t.updated_at(now)),
        (None, "open") => ("Waiting for support", "INDETERMINATE", t.updated_at(now)),
        _ => ("Waiting for support", "NEW", t.created_at),
    };
    json!({ "status": status, "statusCategory": category, "statusDate": date(at) })
}

fn request_json(v: &VendorState, t: &SimTicket, base: &str, now: Ts) -> Value {
    json!({
        "_expands": ["participant", "status", "sla", "requestType", "serviceDesk", "attachment", "action", "comment"],
        "issueId": (10_000 + t.id).to_string(),
        "issueKey": key(t),
        "requestTypeId": "11",
        "serviceDeskId": "2",
        "createdDate": date(t.created_at),
        "reporter": user_json(v, Author::Requester),
        "requestFieldValues": [
            { "fieldId": "summary", "label": "Summary", "value": t.subject },
            { "fieldId": "description", "label": "Description", "value": t.description }
        ],
        "currentStatus": status_json(t, now),
        "_links": { "web": format!("{base}/servicedesk/customer/portal/2/{}", key(t)), "self": format!("{base}/rest/servicedeskapi/request/{}", 10_000 + t.id) },
    })
}

fn comment_json(v: &VendorState, c: &Comment) -> Value {
    json!({
        "id": c.id.to_string(),
        "body": c.body,
        "public": true,
        "author": user_json(v, c.author),
        "created": date(c.at),
    })
}

fn base(headers: &HeaderMap, vendor: &str) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}/{vendor}/jira")
}

fn index(v: &VendorState, key: &str) -> Option<usize> {
    v.ticket_on("jira_sm", key.strip_prefix("SD-")?.parse().ok()?)
}

fn json_body(body: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|_| Box::new(error(StatusCode::BAD_REQUEST, "Unexpected character in JSON")))
}

fn paged(values: Vec<Value>, start: usize, limit: usize, total: usize) -> Value {
    json!({ "size": values.len(), "start": start, "limit": limit, "isLastPage": start + values.len() >= total, "values": values })
}

async fn list(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let b = base(&headers, &vendor);
        let term = q.search_term.clone().unwrap_or_default();
        let all: Vec<Value> = v
            .tickets
            .iter()
            .rev()
            .filter(|t| t.channel == "jira_sm" && (t.subject.contains(&term) || t.description.contains(&term)))
            .map(|t| request_json(v, t, &b, now))
            .collect();
        let (start, limit) = (q.start.unwrap_or(0), q.limit.unwrap_or(50).clamp(1, 100));
        let total = all.len();
        axum::Json(paged(all.into_iter().skip(start).take(limit).collect(), start, limit, total)).into_response()
    })
}

async fn create(State(sim): State<Simulator>, Path(vendor): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let p = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let fields = &p["requestFieldValues"];
        let Some(summary) = fields["summary"].as_str().filter(|s| !s.trim().is_empty()) else {
            return error(StatusCode::BAD_REQUEST, "Summary: You must specify a summary of the issue.");
        };
        if p["serviceDeskId"].as_str().is_none() || p["requestTypeId"].as_str().is_none() {
            return error(StatusCode::BAD_REQUEST, "The service desk and request type are required.");
        }
        let description = fields["description"].as_str().unwrap_or("").to_string();
        let id = v.create("jira_sm", summary.to_string(), description, None, now);
        let Some(t) = v.tickets.iter().find(|t| t.id == id) else { return error(StatusCode::NOT_FOUND, "gone") };
        (StatusCode::CREATED, axum::Json(request_json(v, t, &base(&headers, &vendor), now))).into_response()
    })
}

async fn show(
    State(sim): State<Simulator>,
    Path((vendor, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| match index(v, &key) {
        Some(i) => axum::Json(request_json(v, &v.tickets[i], &base(&headers, &vendor), now)).into_response(),
        None => error(StatusCode::NOT_FOUND, "Request does not exist or you do not have permission to see it."),
    })
}

async fn comments(
    State(sim): State<Simulator>,
    Path((vendor, key)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &key) else {
            return error(StatusCode::NOT_FOUND, "Request does not exist or you do not have permission to see it.");
        };
        let t = &v.tickets[i];
        // The description is not a comment.
        let all: Vec<Value> = t.visible(now).skip(1).map(|c| comment_json(v, c)).collect();
        let (start, limit) =
            (q.start.unwrap_or(0), q.limit.unwrap_or(50).clamp(1, 100).min(v.profile.page_size as usize));
        let total = all.len();
        axum::Json(paged(all.into_iter().skip(start).take(limit).collect(), start, limit, total)).into_response()
    })
}

async fn add_comment(
    State(sim): State<Simulator>,
    Path((vendor, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &key) else {
            return error(StatusCode::NOT_FOUND, "Request does not exist or you do not have permission to see it.");
        };
        let Some(text) = p["body"].as_str().filter(|s| !s.trim().is_empty()) else {
            return error(StatusCode::BAD_REQUEST, "Comment body can not be empty!");
        };
        if p["public"].as_bool() == Some(false) {
            return error(StatusCode::FORBIDDEN, "Customers cannot add internal comments.");
        }
        v.requester_comment(i, text.to_string(), now);
        let t = &v.tickets[i];
        let Some(c) = t.comments.iter().rev().find(|c| c.author == Author::Requester && c.at <= now) else {
            return error(StatusCode::NOT_FOUND, "gone");
        };
        (StatusCode::CREATED, axum::Json(comment_json(v, c))).into_response()
    })
}

async fn transitions(
    State(sim): State<Simulator>,
    Path((vendor, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, _| match index(v, &key) {
        Some(_) => {
            axum::Json(paged(vec![json!({ "id": "761", "name": "Resolve this issue" })], 0, 50, 1)).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "Request does not exist or you do not have permission to see it."),
    })
}

async fn transition(
    State(sim): State<Simulator>,
    Path((vendor, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &key) else {
            return error(StatusCode::NOT_FOUND, "Request does not exist or you do not have permission to see it.");
        };
        if p["id"].as_str() != Some("761") {
            return error(StatusCode::BAD_REQUEST, "The transition is not valid for this request.");
        }
        v.requester_solve(i, now);
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn user(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, _| {
        let id = q.account_id.clone().unwrap_or_default();
        let agents = v.profile.agents.len().max(1);
        let found = [Author::Requester, Author::System, Author::Bot]
            .into_iter()
            .chain((0..agents).map(Author::Agent))
            .map(|a| account(v, a))
            .find(|(aid, _, _)| *aid == id);
        match found {
            Some((aid, name, kind)) => {
                axum::Json(json!({ "accountId": aid, "accountType": kind, "displayName": name, "active": true }))
                    .into_response()
            }
            None => error(
                StatusCode::NOT_FOUND,
                &format!("Specified user does not exist or you do not have required permissions: {id}"),
            ),
        }
    })
}
