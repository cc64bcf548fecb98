//! Zendesk, from the customer's side: the Requests API, as the requester.
//!
//! - open: `POST /api/v2/requests.json` with subject, first comment and
//!   (optionally) the priority mapped to urgent/high/normal/low.
//! - poll: `GET /api/v2/requests/{id}.json` for status and `updated_at`,
//!   then `GET /api/v2/requests/{id}/comments.json?include=users`, following
//!   `next_page` (offset) or `links.next` (cursor) on the same origin only.
//! - reply: `PUT /api/v2/requests/{id}.json` with a comment.
//! - close: the same PUT with `"solved": true` (requesters may solve only when
//!   Zendesk's `can_be_solved_by_me` allows; a 422 then falls back to the
//!   comment alone).
//! - find: scans the requester's own requests, newest first, for the
//!   reference (not the search API: its index lags minutes behind).
//!
//! Authors: the requester's comments are ours; `via.channel = "rule"`
//! (triggers, automations) and system authors are automation; sideloaded
//! users with `agent: true` are vendor agents; any other end user (a CC'd
//! colleague, another customer on a shared request) is a bystander: reported,
//! not counted. A comment's text is `plain_body`, else `body`, else
//! `html_body` reduced to text (Zendesk leaves `plain_body` empty on some
//! channels). One comment or user that does not read is skipped and counted,
//! never the page. Timestamps are Zendesk's own `created_at`.

pub mod config;
pub mod webhook;

use std::collections::HashMap;

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::client::Http;
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus, clip_body, parse_time};
pub use config::{ZendeskAuth, ZendeskSettings};

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // Zendesk Support API: Team plan 200/min (Growth/Professional 400, Enterprise 700).
    rate_per_minute: Some(200),
    // The ticket, then its comments.
    requests_per_poll: 2.0,
    poll_gap: None,
    webhooks: webhook::WEBHOOKS,
};

/// No ticket needs more pages of comments than this; a server that keeps
/// sending `next_page` is broken or hostile.
const MAX_PAGES: usize = 100;

#[derive(Debug)]
pub struct ZendeskChannel {
    http: Http,
    settings: ZendeskSettings,
    /// `base_url` with a trailing slash, so relative joins keep its path.
    base: Url,
    /// Items skipped while reading, until the worker counts them.
    problems: crate::Problems,
}

#[derive(Debug, Deserialize)]
struct RequestEnvelope {
    request: ZRequest,
}

#[derive(Debug, Deserialize)]
struct ZRequest {
    id: u64,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    requester_id: Option<i64>,
    created_at: String,
    #[serde(default)]
    updated_at: Option<String>,
    /// The assigned group, when the help center shows it to end users.
    #[serde(default)]
    group_id: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    #[serde(default)]
    has_more: bool,
}

#[derive(Debug, Default, Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<String>,
}

/// Zendesk's two pagination styles: offset (`next_page`) and cursor (`meta.has_more` + `links.next`).
#[derive(Debug, Default, Deserialize)]
struct Paging {
    #[serde(default)]
    next_page: Option<String>,
    #[serde(default)]
    meta: Option<Meta>,
    #[serde(default)]
    links: Option<Links>,
}

impl Paging {
    fn next(self) -> Option<String> {
        self.next_page.filter(|s| !s.is_empty()).or_else(|| {
            let has_more = self.meta.is_some_and(|m| m.has_more);
            self.links.and_then(|l| l.next).filter(|s| has_more && !s.is_empty())
        })
    }
}

#[derive(Debug, Deserialize)]
struct RequestsPage {
    requests: Vec<ZRequest>,
    #[serde(flatten)]
    paging: Paging,
}

#[derive(Debug, Deserialize)]
struct CommentsPage {
    comments: Vec<Value>,
    #[serde(default)]
    users: Vec<Value>,
    #[serde(flatten)]
    paging: Paging,
}

#[derive(Debug, Deserialize)]
struct ZComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    plain_body: Option<String>,
    #[serde(default)]
    html_body: Option<String>,
    #[serde(default)]
    public: Option<bool>,
    author_id: i64,
    created_at: String,
    #[serde(default)]
    via: Option<Via>,
}

#[derive(Debug, Deserialize)]
struct Via {
    #[serde(default)]
    channel: Option<Value>,
    #[serde(default)]
    source: Option<ViaSource>,
}

#[derive(Debug, Deserialize)]
struct ViaSource {
    #[serde(default)]
    rel: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ZUser {
    id: i64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    agent: Option<bool>,
}

fn status_of(s: Option<&str>) -> TicketStatus {
    match s.unwrap_or("") {
        "new" | "open" => TicketStatus::Open,
        "pending" | "hold" => TicketStatus::Pending,
        "solved" => TicketStatus::Solved,
        "closed" => TicketStatus::Closed,
        other => TicketStatus::Other(other.to_string()),
    }
}

impl ZendeskChannel {
    pub fn new(http: Http, settings: ZendeskSettings) -> ZendeskChannel {
        let base = crate::client::api_root(&settings.base_url);
        ZendeskChannel { http, settings, base, problems: crate::Problems::default() }
    }

    fn url(&self, path: &str) -> Result<Url, ChannelError> {
        crate::client::endpoint(&self.base, path)
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let rb = self.http.client.request(method, url).header("Accept", "application/json");
        match &self.settings.auth {
            ZendeskAuth::Token { email, token, .. } => rb.basic_auth(format!("{email}/token"), Some(token.expose())),
            ZendeskAuth::Password { email, password, .. } => rb.basic_auth(email, Some(password.expose())),
            ZendeskAuth::Bearer { token, .. } => rb.bearer_auth(token.expose()),
        }
    }

    /// A pagination link, accepted only on our own origin.
    fn follow(&self, link: &str) -> Result<Url, ChannelError> {
        crate::client::same_origin(&self.base, link)
    }

    fn ticket_path(ticket: &str) -> Result<String, ChannelError> {
        if ticket.is_empty() || !ticket.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ChannelError::Malformed(format!("`{ticket}` is not a Zendesk request id")));
        }
        Ok(format!("api/v2/requests/{ticket}.json"))
    }

    fn ticket_of(&self, r: &ZRequest) -> Result<Ticket, ChannelError> {
        let url = self.base.join(&format!("hc/requests/{}", r.id)).ok().map(String::from);
        Ok(Ticket { id: r.id.to_string(), url, created_at: parse_time("created_at", &r.created_at)? })
    }

    async fn put(&self, ticket: &str, body: Value) -> Result<(), ChannelError> {
        let url = self.url(&Self::ticket_path(ticket)?)?;
        self.http.send(self.request(Method::PUT, url).json(&body)).await.map(|_| ())
    }

    fn message_of(c: &ZComment, users: &HashMap<i64, &ZUser>, requester: Option<i64>) -> Result<Message, ChannelError> {
        let user = users.get(&c.author_id);
        let via_channel = c.via.as_ref().and_then(|v| v.channel.as_ref()).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let rel = c.via.as_ref().and_then(|v| v.source.as_ref()).and_then(|s| s.rel.clone());
        let (kind, evidence) = if Some(c.author_id) == requester {
            (AuthorKind::Requester, Some("requester_id".to_string()))
        } else if via_channel.as_deref() == Some("rule") {
            let rel = rel.as_deref().unwrap_or("rule");
            (AuthorKind::Automation, Some(format!("via.channel=rule ({rel})")))
        } else if c.author_id < 0 {
            (AuthorKind::Automation, Some("system author".to_string()))
        } else {
            match user.and_then(|u| u.agent) {
                Some(true) => (AuthorKind::Agent, Some("users.agent=true".to_string())),
                Some(false) => (AuthorKind::Bystander, Some("end user, not the requester".to_string())),
                None => (AuthorKind::Unknown, None),
            }
        };
        let text = |s: &Option<String>| s.as_deref().filter(|t| !t.trim().is_empty()).map(str::to_string);
        let body = text(&c.plain_body)
            .or_else(|| text(&c.body))
            .or_else(|| text(&c.html_body).map(|h| crate::mail::html_to_text(&h)))
            .unwrap_or_default();
        Ok(Message {
            id: c.id.to_string(),
            at: parse_time("comments[].created_at", &c.created_at)?,
            author_id: c.author_id.to_string(),
            author_name: user.and_then(|u| u.name.clone()).unwrap_or_else(|| format!("user {}", c.author_id)),
            author_email: user.and_then(|u| u.email.clone()),
            author_kind: kind,
            kind_evidence: evidence,
            body: clip_body(&body),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: None,
            matched_by: None,
        })
    }
}

impl Channel for ZendeskChannel {
    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Zendesk
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let mut request = json!({ "subject": req.subject, "comment": { "body": req.body } });
        if self.settings.set_priority {
            request["priority"] = json!(req.priority.zendesk());
        }
        let url = self.url("api/v2/requests.json")?;
        let env: RequestEnvelope =
            self.http.json(self.request(Method::POST, url).json(&json!({ "request": request }))).await?;
        self.ticket_of(&env.request)
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        let mut url = self.url("api/v2/requests.json")?;
        url.query_pairs_mut()
            .append_pair("sort_by", "created_at")
            .append_pair("sort_order", "desc")
            .append_pair("per_page", "100");
        let mut pages = crate::client::Pages::first(url, self.settings.recovery_pages as usize);
        while let Some(url) = pages.take()? {
            let page: RequestsPage = self.http.json(self.request(Method::GET, url)).await?;
            for r in &page.requests {
                let hit = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains(reference));
                if hit(&r.subject) || hit(&r.description) {
                    return self.ticket_of(r).map(Some);
                }
            }
            pages.then(page.paging.next().map(|next| self.follow(&next)).transpose()?);
        }
        Ok(None)
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let url = self.url(&Self::ticket_path(ticket)?)?;
        let env: RequestEnvelope = self.http.json(self.request(Method::GET, url)).await?;
        let r = env.request;
        let status = status_of(r.status.as_deref());
        let status_at = r.updated_at.as_deref().map(|s| parse_time("updated_at", s)).transpose()?;

        let mut url = self.url(&format!("api/v2/requests/{ticket}/comments.json"))?;
        url.query_pairs_mut().append_pair("include", "users").append_pair("per_page", "100");
        let mut messages = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut pages = crate::client::Pages::new(url, MAX_PAGES, "comments");
        while let Some(url) = pages.take()? {
            let page: CommentsPage = self.http.json(self.request(Method::GET, url)).await?;
            let users: Vec<ZUser> = crate::items(page.users, "users", &self.problems);
            let users: HashMap<i64, &ZUser> = users.iter().map(|u| (u.id, u)).collect();
            for raw in page.comments {
                let Some(c) = crate::items::<ZComment>(vec![raw.clone()], "comments", &self.problems).pop() else {
                    continue;
                };
                // Requesters only see public comments; skip anything else defensively.
                if c.public == Some(false) || !seen.insert(c.id) {
                    continue;
                }
                match Self::message_of(&c, &users, r.requester_id) {
                    Ok(m) => messages.push(m),
                    Err(e) => self.problems.unreadable("comments", &raw, e),
                }
            }
            pages.then(page.paging.next().map(|next| self.follow(&next)).transpose()?);
        }
        messages.sort_by_key(|m| m.at);
        Ok(Snapshot { status, status_at, messages, team: r.group_id.map(|g| g.to_string()) })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        self.put(ticket, json!({ "request": { "comment": { "body": body } } })).await
    }

    async fn close(&self, ticket: &str, body: Option<&str>, solve: bool) -> Result<(), ChannelError> {
        let mut request = serde_json::Map::new();
        if let Some(b) = body {
            request.insert("comment".into(), json!({ "body": b }));
        }
        if solve {
            request.insert("solved".into(), json!(true));
        }
        if request.is_empty() {
            return Ok(());
        }
        match self.put(ticket, json!({ "request": request.clone() })).await {
            // Zendesk refuses `solved` unless `can_be_solved_by_me`: keep the comment.
            Err(ChannelError::Rejected { status: 422, .. }) if solve => match body {
                Some(b) => self.reply(ticket, b).await,
                None => Ok(()),
            },
            other => other,
        }
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    http: crate::client::Http,
    settings: &ZendeskSettings,
    _timeout: std::time::Duration,
) -> Result<ZendeskChannel, crate::ChannelError> {
    Ok(ZendeskChannel::new(http, settings.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_of(Some("new")), TicketStatus::Open);
        assert_eq!(status_of(Some("hold")), TicketStatus::Pending);
        assert!(status_of(Some("closed")).is_resolved());
        assert_eq!(status_of(Some("archived")), TicketStatus::Other("archived".into()));
        assert_eq!(status_of(None), TicketStatus::Other(String::new()));
    }

    #[test]
    fn ids_must_be_numeric() {
        assert!(ZendeskChannel::ticket_path("12345").is_ok());
        assert!(ZendeskChannel::ticket_path("../admin").is_err());
        assert!(ZendeskChannel::ticket_path("").is_err());
    }
}
