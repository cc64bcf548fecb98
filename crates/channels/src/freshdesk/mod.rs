//! Freshdesk: tickets and their conversations through the v2 REST API
//! (`{base_url}/api/v2/`, Basic authentication with the API key as the user
//! name and `X` as the password).
//!
//! - open: `POST /tickets` with `email` (the requester), subject,
//!   description, `status: 2` (open), `source: 2` (portal) and the priority
//!   (1 low … 4 urgent).
//! - poll: `GET /tickets/{id}` (status: 2 open, 3 pending, 4 resolved,
//!   5 closed; `requester_id`), then `GET /tickets/{id}/conversations`,
//!   `per_page=100`, following the `Link` header's `rel="next"` on our origin.
//! - reply: `POST /tickets/{id}/notes` with `incoming: true, private: false`
//!   and the requester's `user_id` — how Freshdesk records a customer's reply
//!   made through the API.
//! - close: the same note, then `PUT /tickets/{id}` with `status: 4`.
//! - find: `GET /tickets?email=…&order_by=created_at&order_type=desc`.
//!
//! Authors: the requester's `user_id` (or an `incoming` conversation when
//! Freshdesk names no requester) is ours; an `incoming` conversation from
//! another contact (a CC'd colleague) is a bystander, reported and not
//! counted; `private` notes are agents talking among themselves and never
//! count; any other conversation is the vendor's (an agent's reply, or a bot
//! or automation the classifier recognises by its text). `from_email` comes
//! as `Name <address>` and is split into both; an empty `body_text` falls
//! back to the HTML `body`. One conversation that does not read is skipped
//! and counted, never the page.

pub mod config;

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::client::Http;
use crate::model::Priority;
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus, clip_body, parse_time};
pub use config::FreshdeskSettings;

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // Freshdesk: Growth 200/min, Pro 400, Enterprise 700; per-endpoint caps are lower.
    rate_per_minute: Some(100),
    // The ticket, then its conversations.
    requests_per_poll: 2.0,
    poll_gap: None,
    webhooks: None,
};

const MAX_PAGES: usize = 100;
const FIND_PAGES: usize = 3;

#[derive(Debug)]
pub struct FreshdeskChannel {
    /// Items skipped while reading, until the worker counts them.
    problems: crate::Problems,
    http: Http,
    settings: FreshdeskSettings,
    /// `{base_url}/api/v2/`.
    api: Url,
}

#[derive(Debug, Deserialize)]
struct FdTicket {
    id: u64,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    description_text: Option<String>,
    #[serde(default)]
    status: Option<i64>,
    #[serde(default)]
    requester_id: Option<i64>,
    created_at: String,
    #[serde(default)]
    updated_at: Option<String>,
    /// The group the ticket is assigned to.
    #[serde(default)]
    group_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Conversation {
    id: u64,
    #[serde(default)]
    body_text: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    incoming: bool,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    user_id: Option<i64>,
    #[serde(default)]
    source: Option<i64>,
    #[serde(default)]
    from_email: Option<String>,
    #[serde(default)]
    support_email: Option<String>,
    created_at: String,
}

/// Freshdesk's ticket status codes.
fn status_of(code: Option<i64>) -> TicketStatus {
    match code {
        Some(2) => TicketStatus::Open,
        Some(3) => TicketStatus::Pending,
        Some(4) => TicketStatus::Solved,
        Some(5) => TicketStatus::Closed,
        Some(other) => TicketStatus::Other(other.to_string()),
        None => TicketStatus::Other(String::new()),
    }
}

/// Freshdesk's priority codes: 1 low, 2 medium, 3 high, 4 urgent.
pub fn priority_code(p: Priority) -> i64 {
    match p {
        Priority::P0 => 4,
        Priority::P1 => 3,
        Priority::P2 => 2,
        Priority::P3 => 1,
    }
}

fn ticket_id(ticket: &str) -> Result<u64, ChannelError> {
    ticket
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && ticket.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ChannelError::Malformed(format!("`{ticket}` is not a Freshdesk ticket id")))
}

impl FreshdeskChannel {
    pub fn new(http: Http, settings: FreshdeskSettings) -> Result<FreshdeskChannel, ChannelError> {
        let base = crate::client::api_root(&settings.base_url);
        let api = base.join("api/v2/").map_err(|e| ChannelError::Malformed(format!("bad base_url: {e}")))?;
        Ok(FreshdeskChannel { http, settings, api, problems: crate::Problems::default() })
    }

    fn url(&self, path: &str) -> Result<Url, ChannelError> {
        crate::client::endpoint(&self.api, path)
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http.client.request(method, url).basic_auth(self.settings.api_key.expose(), Some("X"))
    }

    /// One page and the next page's URL.
    async fn page<T: serde::de::DeserializeOwned>(&self, url: Url) -> Result<(T, Option<Url>), ChannelError> {
        self.http.linked_page(self.request(Method::GET, url), &self.api).await
    }

    async fn ticket(&self, id: u64) -> Result<FdTicket, ChannelError> {
        let t: FdTicket = self.http.json(self.request(Method::GET, self.url(&format!("tickets/{id}"))?)).await?;
        if t.id != id {
            return Err(ChannelError::Malformed(format!(
                "asked for ticket {id}, Freshdesk answered with ticket {}",
                t.id
            )));
        }
        Ok(t)
    }

    fn ticket_of(&self, t: &FdTicket) -> Result<Ticket, ChannelError> {
        let mut base = self.settings.base_url.clone();
        base.set_path(&format!("/helpdesk/tickets/{}", t.id));
        Ok(Ticket {
            id: t.id.to_string(),
            url: Some(base.to_string()),
            created_at: parse_time("created_at", &t.created_at)?,
        })
    }

    fn message_of(c: &Conversation, requester: Option<i64>) -> Result<Message, ChannelError> {
        let (kind, evidence) = if c.user_id.is_some() && c.user_id == requester {
            (AuthorKind::Requester, "user_id=requester_id")
        } else if c.incoming && requester.is_some() && c.user_id.is_some() {
            (AuthorKind::Bystander, "incoming from another contact")
        } else if c.incoming {
            (AuthorKind::Requester, "incoming=true")
        } else {
            (AuthorKind::Agent, "incoming=false")
        };
        let body = c
            .body_text
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| crate::mail::html_to_text(c.body.as_deref().unwrap_or("")));
        let user = c.user_id.map(|u| u.to_string()).unwrap_or_default();
        let (name, email) = match c.from_email.as_deref().map(name_and_address) {
            Some((n, a)) => (n.or_else(|| Some(a.clone())), Some(a)),
            None => (c.support_email.clone(), None),
        };
        Ok(Message {
            id: c.id.to_string(),
            at: parse_time("conversations[].created_at", &c.created_at)?,
            author_id: user.clone(),
            author_name: name.unwrap_or(user),
            author_email: email,
            author_kind: kind,
            kind_evidence: Some(format!("{evidence}, source={}", c.source.unwrap_or(-1))),
            body: clip_body(&body),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: None,
            matched_by: None,
        })
    }

    async fn note(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        let id = ticket_id(ticket)?;
        let requester = self.ticket(id).await?.requester_id;
        let mut note = json!({ "body": body, "incoming": true, "private": false });
        if let Some(r) = requester {
            note["user_id"] = json!(r);
        }
        let url = self.url(&format!("tickets/{id}/notes"))?;
        self.http.send(self.request(Method::POST, url).json(&note)).await.map(drop)
    }
}

/// `"Sam Rivera" <support@x.freshdesk.com>` → (`Sam Rivera`, `support@x.freshdesk.com`); a bare address stays one.
fn name_and_address(s: &str) -> (Option<String>, String) {
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let name = s[..a].trim().trim_matches(['"', '\'']).trim();
            (Some(name.to_string()).filter(|n| !n.is_empty()), s[a + 1..b].trim().to_ascii_lowercase())
        }
        _ => (None, s.trim().to_ascii_lowercase()),
    }
}

impl Channel for FreshdeskChannel {
    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Freshdesk
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let mut body = json!({
            "email": self.settings.email,
            "subject": req.subject,
            "description": req.body,
            "status": 2,
            "source": 2,
        });
        if self.settings.set_priority {
            body["priority"] = json!(priority_code(req.priority));
        }
        let t: FdTicket = self.http.json(self.request(Method::POST, self.url("tickets")?).json(&body)).await?;
        self.ticket_of(&t)
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        let mut url = self.url("tickets")?;
        url.query_pairs_mut()
            .append_pair("email", &self.settings.email)
            .append_pair("order_by", "created_at")
            .append_pair("order_type", "desc")
            .append_pair("per_page", "100");
        let mut pages = crate::client::Pages::first(url, FIND_PAGES);
        while let Some(url) = pages.take()? {
            let (tickets, next): (Vec<FdTicket>, _) = self.page(url).await?;
            let hit = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains(reference));
            if let Some(t) = tickets.iter().find(|t| hit(&t.subject) || hit(&t.description_text)) {
                return self.ticket_of(t).map(Some);
            }
            pages.then(next);
        }
        Ok(None)
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let id = ticket_id(ticket)?;
        let t = self.ticket(id).await?;
        let status = status_of(t.status);
        let status_at = t.updated_at.as_deref().map(|s| parse_time("updated_at", s)).transpose()?;
        let mut messages = Vec::new();
        let mut url = self.url(&format!("tickets/{id}/conversations"))?;
        url.query_pairs_mut().append_pair("per_page", "100");
        let mut seen = std::collections::HashSet::new();
        let mut pages = crate::client::Pages::new(url, MAX_PAGES, "conversations");
        while let Some(url) = pages.take()? {
            let (page, next): (Vec<serde_json::Value>, _) = self.page(url).await?;
            for raw in page {
                let Some(c) = crate::items::<Conversation>(vec![raw.clone()], "conversations", &self.problems).pop()
                else {
                    continue;
                };
                // Private notes are agents among themselves; a requester never sees them.
                if !c.private && seen.insert(c.id) {
                    match Self::message_of(&c, t.requester_id) {
                        Ok(m) => messages.push(m),
                        Err(e) => self.problems.unreadable("conversations", &raw, e),
                    }
                }
            }
            pages.then(next);
        }
        messages.sort_by_key(|m| m.at);
        Ok(Snapshot { status, status_at, messages, team: t.group_id.map(|g| g.to_string()) })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        self.note(ticket, body).await
    }

    async fn close(&self, ticket: &str, body: Option<&str>, solve: bool) -> Result<(), ChannelError> {
        if let Some(b) = body {
            self.note(ticket, b).await?;
        }
        if solve {
            let url = self.url(&format!("tickets/{}", ticket_id(ticket)?))?;
            self.http.send(self.request(Method::PUT, url).json(&json!({ "status": 4 }))).await?;
        }
        Ok(())
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    http: crate::client::Http,
    settings: &FreshdeskSettings,
    _timeout: std::time::Duration,
) -> Result<FreshdeskChannel, crate::ChannelError> {
    FreshdeskChannel::new(http, settings.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(status_of(Some(2)), TicketStatus::Open);
        assert_eq!(status_of(Some(3)), TicketStatus::Pending);
        assert!(status_of(Some(4)).is_resolved() && status_of(Some(5)).is_resolved());
        assert_eq!(status_of(Some(6)), TicketStatus::Other("6".into()));
        assert_eq!([Priority::P0, Priority::P3].map(priority_code), [4, 1]);
        assert!(ticket_id("12").is_ok() && ticket_id("x").is_err() && ticket_id("0").is_err());
    }
}
