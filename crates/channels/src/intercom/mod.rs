//! Intercom: a conversation started by our contact, through the REST API
//! (`Intercom-Version: 2.11`, Bearer token).
//!
//! - open: `POST /conversations` from our contact (`from: {type: user, id}`);
//!   Intercom answers with the message and its `conversation_id`.
//! - poll: `GET /conversations/{id}`: `state` (open, snoozed, closed) and
//!   its `conversation_parts`; timestamps are Unix seconds.
//! - reply / close: `POST /conversations/{id}/reply` as the user (a contact
//!   cannot close a conversation; the reply is the courtesy close).
//! - find: `POST /conversations/search` on the source body.
//!
//! Authors: `user`/`lead`/`contact` parts by our contact are ours (other
//! contacts are bystanders: recorded, not counted); `bot` parts (Operator,
//! workflows) and admin parts flagged `from_ai_agent` / `is_ai_answer` (Fin)
//! are bots; other `admin` parts are people. A part of any type that carries
//! a body is a message — an admin's `close`, `assign_and_close` or `snoozed`
//! with "here is the fix, closing" is that person's reply; `note`s are
//! internal and skipped; state changes without a body and `team` parts are
//! reported as bystanders. One part that does not read is skipped and
//! counted, never the conversation. A conversation closed is resolved at its
//! last `close` part.

pub mod config;
pub mod webhook;

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::client::Http;
use crate::lifecycle::Ts;
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus, clip_body};
pub use config::IntercomSettings;

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // Intercom: 1,000/min per app by default (spread over 10 s windows).
    rate_per_minute: Some(1000),
    // One call: the conversation.
    requests_per_poll: 1.0,
    poll_gap: None,
    webhooks: webhook::WEBHOOKS,
};

#[derive(Debug)]
pub struct IntercomChannel {
    http: Http,
    settings: IntercomSettings,
    api: Url,
    /// Items skipped while reading, until the worker counts them.
    problems: crate::Problems,
}

#[derive(Debug, Deserialize)]
struct Author {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "loose_id")]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    from_ai_agent: Option<bool>,
    #[serde(default)]
    is_ai_answer: Option<bool>,
}

fn loose_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(deserialize_with = "string_id")]
    id: String,
    #[serde(default)]
    part_type: Option<String>,
    #[serde(default)]
    body: Option<String>,
    created_at: i64,
    #[serde(default)]
    author: Option<Author>,
}

fn string_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    loose_id(d)?.ok_or_else(|| serde::de::Error::custom("missing id"))
}

#[derive(Debug, Deserialize)]
struct Parts {
    #[serde(default)]
    conversation_parts: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Source {
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    author: Option<Author>,
}

#[derive(Debug, Deserialize)]
struct Conversation {
    #[serde(deserialize_with = "string_id")]
    id: String,
    created_at: i64,
    #[serde(default)]
    updated_at: Option<i64>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    conversation_parts: Option<Parts>,
}

fn unix(field: &str, secs: i64) -> Result<Ts, ChannelError> {
    chrono::DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| ChannelError::Malformed(format!("`{field}` is not a Unix time: {secs}")))
}

fn conversation_id(ticket: &str) -> Result<&str, ChannelError> {
    if ticket.is_empty() || ticket.len() > 32 || !ticket.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ChannelError::Malformed(format!("`{ticket}` is not an Intercom conversation id")));
    }
    Ok(ticket)
}

impl IntercomChannel {
    pub fn new(http: Http, settings: IntercomSettings) -> IntercomChannel {
        let api = crate::client::api_root(&settings.api_url);
        IntercomChannel { http, settings, api, problems: crate::Problems::default() }
    }

    fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder, ChannelError> {
        let url = crate::client::endpoint(&self.api, path)?;
        Ok(self
            .http
            .client
            .request(method, url)
            .header("Accept", "application/json")
            .header("Intercom-Version", "2.11")
            .bearer_auth(self.settings.token.expose()))
    }

    fn message_of(&self, p: &Part) -> Result<Option<Message>, ChannelError> {
        let part_type = p.part_type.as_deref().unwrap_or("comment");
        let html = p.body.as_deref().unwrap_or("");
        let has_body = !crate::mail::html_to_text(html).trim().is_empty();
        if part_type == "note" || part_type.starts_with("note_") {
            return Ok(None); // internal to the vendor; a contact never sees it
        }
        let a = p.author.as_ref();
        let kind_name = a.and_then(|a| a.kind.as_deref()).unwrap_or("");
        let id = a.and_then(|a| a.id.clone()).unwrap_or_default();
        let (kind, evidence) = match kind_name {
            _ if part_type != "comment" && !has_body => {
                (AuthorKind::Bystander, format!("part_type={part_type} without a body"))
            }
            "user" | "lead" | "contact" if id == self.settings.contact_id => {
                (AuthorKind::Requester, "our contact".to_string())
            }
            "user" | "lead" | "contact" => (AuthorKind::Bystander, format!("another {kind_name}")),
            "bot" => (AuthorKind::Bot, format!("author.type=bot, part_type={part_type}")),
            "admin" if a.is_some_and(|a| a.from_ai_agent == Some(true) || a.is_ai_answer == Some(true)) => {
                (AuthorKind::Bot, "from_ai_agent".to_string())
            }
            "admin" => (AuthorKind::Agent, format!("author.type=admin, part_type={part_type}")),
            "team" => (AuthorKind::Bystander, "author.type=team".to_string()),
            other => (AuthorKind::Unknown, format!("author.type={other}")),
        };
        Ok(Some(Message {
            id: p.id.clone(),
            at: unix("conversation_parts[].created_at", p.created_at)?,
            author_id: id,
            author_name: a.and_then(|a| a.name.clone()).unwrap_or_default(),
            author_email: a.and_then(|a| a.email.clone()),
            author_kind: kind,
            kind_evidence: Some(evidence),
            body: clip_body(&crate::mail::html_to_text(html)),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: None,
            matched_by: None,
        }))
    }

    async fn reply_as_user(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        let rb = self.request(Method::POST, &format!("conversations/{}/reply", conversation_id(ticket)?))?;
        let payload = json!({
            "message_type": "comment", "type": "user", "intercom_user_id": self.settings.contact_id, "body": body
        });
        self.http.send(rb.json(&payload)).await.map(drop)
    }
}

impl Channel for IntercomChannel {
    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Intercom
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let body = json!({
            "from": { "type": "user", "id": self.settings.contact_id },
            "body": format!("{}\n\n{}", req.subject, req.body),
        });
        let v: Value = self.http.json(self.request(Method::POST, "conversations")?.json(&body)).await?;
        let id = match &v["conversation_id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(ChannelError::Malformed("the new message has no `conversation_id`".into())),
        };
        let created = v["created_at"].as_i64().ok_or_else(|| ChannelError::Malformed("no `created_at`".into()))?;
        conversation_id(&id)?;
        Ok(Ticket { id, url: None, created_at: unix("created_at", created)? })
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        let query = json!({ "query": { "field": "source.body", "operator": "~", "value": reference }, "pagination": { "per_page": 20 } });
        let v: Value = self.http.json(self.request(Method::POST, "conversations/search")?.json(&query)).await?;
        let list: Vec<Conversation> = serde_json::from_value(v["conversations"].clone())
            .map_err(|e| ChannelError::Malformed(format!("conversations/search: {e}")))?;
        for c in list {
            let mine = c.source.as_ref().and_then(|s| s.author.as_ref()).and_then(|a| a.id.as_deref())
                == Some(self.settings.contact_id.as_str());
            if mine && c.source.as_ref().and_then(|s| s.body.as_deref()).is_some_and(|b| b.contains(reference)) {
                return Ok(Some(Ticket { id: c.id.clone(), url: None, created_at: unix("created_at", c.created_at)? }));
            }
        }
        Ok(None)
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let id = conversation_id(ticket)?;
        let c: Conversation = self.http.json(self.request(Method::GET, &format!("conversations/{id}"))?).await?;
        if c.id != id {
            return Err(ChannelError::Malformed(format!(
                "asked for conversation {id}, Intercom answered with {}",
                c.id
            )));
        }
        let raw_parts = c.conversation_parts.map(|p| p.conversation_parts).unwrap_or_default();
        let mut parts: Vec<Part> = Vec::new();
        for raw in raw_parts {
            if let Some(p) = crate::items::<Part>(vec![raw.clone()], "conversation_parts", &self.problems).pop() {
                parts.push(p);
            }
        }
        let mut messages = Vec::new();
        if let Some(src) = &c.source {
            messages.push(Message {
                id: format!("source-{id}"),
                at: unix("created_at", c.created_at)?,
                author_id: self.settings.contact_id.clone(),
                author_name: src.author.as_ref().and_then(|a| a.name.clone()).unwrap_or_default(),
                author_email: None,
                author_kind: AuthorKind::Requester,
                kind_evidence: Some("conversation source".into()),
                body: clip_body(&crate::mail::html_to_text(src.body.as_deref().unwrap_or(""))),
                headers: Vec::new(),
                parts: Vec::new(),
                subject: None,
                matched_by: None,
            });
        }
        for p in &parts {
            match self.message_of(p) {
                Ok(m) => messages.extend(m),
                Err(e) => self.problems.push("unparseable", format!("skipped Intercom part {}: {e}", p.id)),
            }
        }
        messages.sort_by_key(|m| m.at);
        let (status, status_at) = match c.state.as_deref() {
            Some("closed") => {
                let closed =
                    parts.iter().filter(|p| p.part_type.as_deref() == Some("close")).map(|p| p.created_at).max();
                let at = closed.or(c.updated_at).map(|t| unix("close", t)).transpose()?;
                (TicketStatus::Solved, at)
            }
            Some("snoozed") => (TicketStatus::Pending, None),
            Some("open") => (TicketStatus::Open, None),
            other => (TicketStatus::Other(other.unwrap_or("").to_string()), None),
        };
        Ok(Snapshot { status, status_at, messages, team: None })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        self.reply_as_user(ticket, body).await
    }

    async fn close(&self, ticket: &str, body: Option<&str>, _solve: bool) -> Result<(), ChannelError> {
        match body {
            Some(b) => self.reply_as_user(ticket, b).await,
            None => Ok(()),
        }
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    http: crate::client::Http,
    settings: &IntercomSettings,
    _timeout: std::time::Duration,
) -> Result<IntercomChannel, crate::ChannelError> {
    Ok(IntercomChannel::new(http, settings.clone()))
}
