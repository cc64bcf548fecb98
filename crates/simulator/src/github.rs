//! The simulated vendors' GitHub: the issues REST API under
//! `/{vendor}/github/`, with GitHub's JSON shapes, `Link` pagination, Bearer
//! authentication and its error bodies (401 "Bad credentials", 404, 422, and
//! the rate limit as a 403 with `x-ratelimit-remaining: 0` and
//! `x-ratelimit-reset`). The vendor's acknowledgement comes from a triage
//! bot (a GitHub App), its assistant is a bot user, its people are members.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Author, Comment, SimTicket, Simulator, VendorState, rfc3339};
use super::{Refusal, check_token, guarded, offset_page, with_headers};
use supportprobe_core::lifecycle::Ts;

/// Our account at the simulated GitHub.
pub const LOGIN: &str = "supportprobe-poc";
const LOGIN_ID: i64 = 5_001;

pub(super) fn routes() -> Router<Simulator> {
    let repo = "/{vendor}/github/repos/{owner}/{repo}";
    Router::new()
        .route("/{vendor}/github/user", get(user))
        .route(&format!("{repo}/issues"), get(list_issues).post(create_issue))
        .route(&format!("{repo}/issues/{{number}}"), get(show_issue).patch(update_issue))
        .route(&format!("{repo}/issues/{{number}}/comments"), get(list_comments).post(add_comment))
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    page: Option<usize>,
    per_page: Option<usize>,
    direction: Option<String>,
    creator: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "message": message, "documentation_url": "https://docs.github.com/rest", "status": status.as_u16().to_string() });
    (status, axum::Json(body)).into_response()
}

fn with_vendor(
    sim: &Simulator,
    vendor: &str,
    headers: &HeaderMap,
    f: impl FnOnce(&mut VendorState, Ts) -> Response,
) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("token ")));
    let refuse = |r| match r {
        Refusal::UnknownVendor => error(StatusCode::NOT_FOUND, "Not Found"),
        Refusal::NoCredential | Refusal::WrongCredential => error(StatusCode::UNAUTHORIZED, "Bad credentials"),
        Refusal::Limited(wait) => {
            let reset = chrono::Utc::now().timestamp() + i64::try_from(wait).unwrap_or(60);
            with_headers(
                error(StatusCode::FORBIDDEN, &format!("API rate limit exceeded for user ID {LOGIN_ID}.")),
                [("x-ratelimit-remaining", "0".to_string()), ("x-ratelimit-reset", reset.to_string())],
            )
        }
    };
    guarded(sim, vendor, |t| check_token(t, given), refuse, f)
}

fn api_base(headers: &HeaderMap, vendor: &str) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}/{vendor}/github")
}

fn slug(name: &str, i: usize) -> String {
    let s: String =
        name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == ' ').collect::<String>().trim().replace(' ', "-");
    if s.is_empty() { format!("support-engineer-{i}") } else { s.to_ascii_lowercase() }
}

fn user_json(v: &VendorState, a: Author) -> (Value, &'static str, Value) {
    match a {
        Author::Requester => {
            (json!({ "login": LOGIN, "id": LOGIN_ID, "type": "User", "site_admin": false }), "NONE", Value::Null)
        }
        Author::System => (
            json!({ "login": "issue-triage[bot]", "id": 6_001, "type": "Bot", "site_admin": false }),
            "NONE",
            json!({ "id": 7_001, "slug": "issue-triage", "name": "Issue Triage" }),
        ),
        Author::Bot => (
            json!({ "login": "support-assistant[bot]", "id": 6_002, "type": "Bot", "site_admin": false }),
            "NONE",
            Value::Null,
        ),
        Author::Agent(i) => {
            let name = v.profile.agents.get(i).cloned().unwrap_or_default();
            (
                json!({ "login": slug(&name, i), "id": 8_001 + i as i64, "type": "User", "site_admin": false }),
                "MEMBER",
                Value::Null,
            )
        }
    }
}

fn closed_at(t: &SimTicket, now: Ts) -> Option<Ts> {
    t.vendor_solved_at(now).or(t.requester_solved_at.filter(|at| *at <= now))
}

fn issue_json(v: &VendorState, t: &SimTicket, base: &str, owner: &str, repo: &str, now: Ts) -> Value {
    let closed = closed_at(t, now);
    let comments = t.visible(now).count().saturating_sub(1);
    json!({
        "url": format!("{base}/repos/{owner}/{repo}/issues/{}", t.id),
        "html_url": format!("https://github.example/{owner}/{repo}/issues/{}", t.id),
        "id": 900_000_000 + t.id,
        "number": t.id,
        "title": t.subject,
        "body": t.description,
        "user": user_json(v, Author::Requester).0,
        "labels": [],
        "state": if closed.is_some() { "closed" } else { "open" },
        "state_reason": closed.map(|_| "completed"),
        "locked": false,
        "comments": comments,
        "created_at": rfc3339(t.created_at),
        "updated_at": rfc3339(t.updated_at(now)),
        "closed_at": closed.map(rfc3339),
        "author_association": "NONE",
    })
}

fn comment_json(v: &VendorState, c: &Comment, t: &SimTicket, base: &str, owner: &str, repo: &str) -> Value {
    let (user, association, app) = user_json(v, c.author);
    json!({
        "url": format!("{base}/repos/{owner}/{repo}/issues/comments/{}", c.id),
        "html_url": format!("https://github.example/{owner}/{repo}/issues/{}#issuecomment-{}", t.id, c.id),
        "issue_url": format!("{base}/repos/{owner}/{repo}/issues/{}", t.id),
        "id": c.id,
        "user": user,
        "created_at": rfc3339(c.at),
        "updated_at": rfc3339(c.at),
        "author_association": association,
        "body": c.body,
        "performed_via_github_app": app,
    })
}

/// A page of `items` and the `Link` header for it.
fn paginate<T: Clone>(items: &[T], q: &PageQuery, cap: u32, url: &str) -> (Vec<T>, Option<String>) {
    let p = offset_page(items, q.page, q.per_page, 30, cap);
    let (per_page, last) = (p.per_page, items.len().div_ceil(p.per_page).max(1));
    let link = p.more.then(|| {
        format!(
            r#"<{url}?per_page={per_page}&page={}>; rel="next", <{url}?per_page={per_page}&page={last}>; rel="last""#,
            p.page + 1
        )
    });
    (p.items, link)
}

fn with_link(body: Value, link: Option<String>) -> Response {
    with_headers(axum::Json(body).into_response(), link.map(|l| ("link", l)))
}

fn index(v: &VendorState, number: &str) -> Option<usize> {
    v.ticket_on("github", number.parse().ok()?)
}

fn json_body(body: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|_| Box::new(error(StatusCode::BAD_REQUEST, "Problems parsing JSON")))
}

fn invalid(field: &str) -> Response {
    let body = json!({
        "message": "Validation Failed",
        "errors": [{ "resource": "Issue", "field": field, "code": "missing_field" }],
        "documentation_url": "https://docs.github.com/rest",
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

async fn user(State(sim): State<Simulator>, Path(vendor): Path<String>, headers: HeaderMap) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, _| axum::Json(user_json(v, Author::Requester).0).into_response())
}

type RepoPath = (String, String, String);
type IssuePath = (String, String, String, String);

async fn list_issues(
    State(sim): State<Simulator>,
    Path((vendor, owner, repo)): Path<RepoPath>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let base = api_base(&headers, &vendor);
        let mut all: Vec<&SimTicket> = v
            .tickets
            .iter()
            .filter(|t| t.channel == "github" && q.creator.as_deref().is_none_or(|c| c == LOGIN))
            .collect();
        if q.direction.as_deref() != Some("asc") {
            all.reverse();
        }
        let (page, link) = paginate(&all, &q, v.profile.page_size, &format!("{base}/repos/{owner}/{repo}/issues"));
        let issues: Vec<Value> = page.iter().map(|t| issue_json(v, t, &base, &owner, &repo, now)).collect();
        with_link(json!(issues), link)
    })
}

async fn create_issue(
    State(sim): State<Simulator>,
    Path((vendor, owner, repo)): Path<RepoPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let payload = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(title) = payload["title"].as_str().filter(|s| !s.trim().is_empty()) else { return invalid("title") };
        let text = payload["body"].as_str().unwrap_or("").to_string();
        let id = v.create("github", title.to_string(), text, None, now);
        let base = api_base(&headers, &vendor);
        let Some(t) = v.tickets.iter().find(|t| t.id == id) else { return error(StatusCode::NOT_FOUND, "Not Found") };
        (StatusCode::CREATED, axum::Json(issue_json(v, t, &base, &owner, &repo, now))).into_response()
    })
}

async fn show_issue(
    State(sim): State<Simulator>,
    Path((vendor, owner, repo, number)): Path<IssuePath>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &number) else { return error(StatusCode::NOT_FOUND, "Not Found") };
        axum::Json(issue_json(v, &v.tickets[i], &api_base(&headers, &vendor), &owner, &repo, now)).into_response()
    })
}

async fn update_issue(
    State(sim): State<Simulator>,
    Path((vendor, owner, repo, number)): Path<IssuePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let payload = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &number) else { return error(StatusCode::NOT_FOUND, "Not Found") };
        if payload["state"].as_str() == Some("closed") {
            v.requester_solve(i, now);
        }
        axum::Json(issue_json(v, &v.tickets[i], &api_base(&headers, &vendor), &owner, &repo, now)).into_response()
    })
}

async fn list_comments(
    State(sim): State<Simulator>,
    Path((vendor, owner, repo, number)): Path<IssuePath>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &number) else { return error(StatusCode::NOT_FOUND, "Not Found") };
        let base = api_base(&headers, &vendor);
        let t = &v.tickets[i];
        // The opening comment is the issue's body, not a comment.
        let visible: Vec<&Comment> = t.visible(now).skip(1).collect();
        let url = format!("{base}/repos/{owner}/{repo}/issues/{}/comments", t.id);
        let (page, link) = paginate(&visible, &q, v.profile.page_size, &url);
        let comments: Vec<Value> = page.iter().map(|c| comment_json(v, c, t, &base, &owner, &repo)).collect();
        with_link(json!(comments), link)
    })
}

async fn add_comment(
    State(sim): State<Simulator>,
    Path((vendor, owner, repo, number)): Path<IssuePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let payload = match json_body(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    with_vendor(&sim, &vendor, &headers, |v, now| {
        let Some(i) = index(v, &number) else { return error(StatusCode::NOT_FOUND, "Not Found") };
        let Some(text) = payload["body"].as_str().filter(|s| !s.trim().is_empty()) else { return invalid("body") };
        v.requester_comment(i, text.to_string(), now);
        let t = &v.tickets[i];
        let Some(c) = t.comments.iter().rev().find(|c| c.author == Author::Requester && c.at <= now) else {
            return error(StatusCode::NOT_FOUND, "Not Found");
        };
        let base = api_base(&headers, &vendor);
        (StatusCode::CREATED, axum::Json(comment_json(v, c, t, &base, &owner, &repo))).into_response()
    })
}
