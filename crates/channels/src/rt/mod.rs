//! Request Tracker (RT 5), from the requester's side: the REST2 API at
//! `{base_url}REST/2.0/`.
//!
//! - open: `POST /ticket` with `Queue`, `Subject`, `Content` and `Requestor`
//!   (REST2 does not make the caller the requestor), then `GET /ticket/{id}`
//!   for RT's own `Created`.
//! - poll: `GET /ticket/{id}` (status, requestors, `Resolved`), then the
//!   history `GET /ticket/{id}/history?fields=Type,Creator,Created,…` page by
//!   page (RT hides `total` from unprivileged users, so a full page means
//!   "ask for the next"). Each message-bearing transaction is read once —
//!   `GET /transaction/{id}/attachments` for the headers and parts, then
//!   `GET /attachment/{id}` for the text — and cached: transactions never change.
//! - reply: `POST /ticket/{id}/correspond`.
//! - close: the same correspondence, then `PUT /ticket/{id}` with
//!   `Status: resolved` when the requester may (it needs ModifyTicket).
//! - find: TicketSQL `Requestor.EmailAddress = … AND Subject LIKE 'REF'`,
//!   newest first.
//!
//! What counts (RT shows the requester only what it may see, so internal
//! comments never arrive; any `Comment` that does is skipped):
//! - `Create`/`Correspond` by a requestor are ours; by `RT_System` automation;
//!   by anyone else a vendor agent. The first attachment's headers go to the
//!   classifier, so an agent's out-of-office mailed into RT is recognised.
//! - `EmailRecord` (RT's record of mail it sent): marked `Auto-Submitted` or
//!   caused by us (`X-RT-Originator` is our address) it is RT's own
//!   auto-reply or notification — automation; otherwise it is the mailed copy
//!   of an agent's correspondence already counted, and is skipped.
//! - `Status` transactions time the status: `resolved` and `rejected` are
//!   resolutions.

pub mod config;

use std::collections::HashMap;

use base64::Engine;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::client::Http;
use crate::lifecycle::Ts;
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus, clip_body, parse_time};
pub use config::{RtAuth, RtSettings};

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // Request Tracker is self-hosted: no platform limit.
    rate_per_minute: None,
    // The ticket, then its history.
    requests_per_poll: 2.0,
    poll_gap: None,
    webhooks: None,
};

/// RT's largest page.
const PER_PAGE: usize = 100;
/// No ticket has more history pages than this; a server that keeps sending
/// full pages is broken or hostile.
const MAX_PAGES: usize = 100;
/// Tickets whose transactions are remembered at once.
const MAX_CACHED_TICKETS: usize = 1000;
/// RT's "never" for dates.
const RT_EPOCH: &str = "1970-01-01T00:00:00Z";
/// The user RT's scrips and automation act as.
const RT_SYSTEM: &str = "RT_System";

#[derive(Debug)]
pub struct RtChannel {
    http: Http,
    settings: RtSettings,
    /// `{base_url}REST/2.0/`.
    api: Url,
    /// Per ticket, what each transaction became (`None`: not a message).
    cache: Mutex<HashMap<String, HashMap<u64, Option<Message>>>>,
    /// Transactions skipped while reading, until the worker counts them.
    problems: crate::Problems,
}

/// `{"id": "root", "type": "user", "_url": …}`.
#[derive(Clone, Debug, Deserialize)]
struct Ref {
    #[serde(deserialize_with = "id_string")]
    id: String,
}

/// RT sends ids as numbers in some places and strings in others.
fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected an id, got {other}"))),
    }
}

#[derive(Debug, Deserialize)]
struct Created {
    #[serde(deserialize_with = "id_string")]
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RtTicket {
    #[serde(rename = "id", deserialize_with = "id_string")]
    id: String,
    #[serde(default)]
    status: Option<String>,
    created: String,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(default)]
    resolved: Option<String>,
    #[serde(default)]
    requestor: Vec<Ref>,
}

#[derive(Debug, Deserialize)]
struct Page<T> {
    items: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Txn {
    #[serde(rename = "id", deserialize_with = "id_string")]
    id: String,
    #[serde(rename = "Type", default)]
    kind: String,
    creator: Option<Ref>,
    created: String,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    new_value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttachmentMeta {
    #[serde(rename = "id", deserialize_with = "id_string")]
    id: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    headers: Option<String>,
    #[serde(default)]
    subject: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttachmentBody {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SearchHit {
    #[serde(rename = "id", deserialize_with = "id_string")]
    id: String,
    #[serde(default)]
    subject: Option<String>,
    created: String,
}

/// What a transaction's attachments say, before its text is read.
#[derive(Debug, Default)]
struct Parts {
    headers: Vec<(String, String)>,
    subject: Option<String>,
    /// The attachment with the text, and whether it is HTML.
    text: Option<(u64, bool)>,
}

/// `Name: value` lines as RT stores them, folded continuation lines joined.
pub fn parse_headers(raw: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in raw.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// A real RT date, or `None` for RT's "never".
fn rt_date(field: &str, s: Option<&str>) -> Result<Option<Ts>, ChannelError> {
    match s {
        None | Some("") | Some(RT_EPOCH) => Ok(None),
        Some(s) => parse_time(field, s).map(Some),
    }
}

fn status_of(s: &str) -> TicketStatus {
    match s {
        "new" | "open" => TicketStatus::Open,
        "stalled" => TicketStatus::Pending,
        "resolved" | "rejected" => TicketStatus::Solved,
        other => TicketStatus::Other(other.to_string()),
    }
}

fn ticket_id(ticket: &str) -> Result<&str, ChannelError> {
    if ticket.is_empty() || ticket.len() > 18 || !ticket.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ChannelError::Malformed(format!("`{ticket}` is not an RT ticket id")));
    }
    Ok(ticket)
}

/// A TicketSQL string literal.
fn sql_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl RtChannel {
    pub fn new(http: Http, settings: RtSettings) -> Result<RtChannel, ChannelError> {
        let base = crate::client::api_root(&settings.base_url);
        let api = base.join("REST/2.0/").map_err(|e| ChannelError::Malformed(format!("bad base_url: {e}")))?;
        Ok(RtChannel { http, settings, api, cache: Mutex::new(HashMap::new()), problems: crate::Problems::default() })
    }

    fn url(&self, path: &str) -> Result<Url, ChannelError> {
        crate::client::endpoint(&self.api, path)
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let rb = self.http.client.request(method, url).header("Accept", "application/json");
        match &self.settings.auth {
            RtAuth::Basic { username, password, .. } => rb.basic_auth(username, Some(password.expose())),
            RtAuth::Token { token, .. } => rb.header("Authorization", format!("token {}", token.expose())),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ChannelError> {
        self.http.json(self.request(Method::GET, self.url(path)?)).await
    }

    fn display_url(&self, id: &str) -> Option<String> {
        let base = crate::client::api_root(&self.settings.base_url);
        base.join(&format!("Ticket/Display.html?id={id}")).ok().map(String::from)
    }

    async fn ticket(&self, id: &str) -> Result<RtTicket, ChannelError> {
        let t: RtTicket = self.get(&format!("ticket/{}", ticket_id(id)?)).await?;
        if t.id != id {
            return Err(ChannelError::Malformed(format!("asked for ticket {id}, RT answered with ticket {}", t.id)));
        }
        Ok(t)
    }

    async fn history(&self, id: &str) -> Result<Vec<Txn>, ChannelError> {
        let mut all = Vec::new();
        let mut pages = crate::client::Pages::new(1, MAX_PAGES, "history");
        while let Some(page) = pages.take()? {
            let path = format!(
                "ticket/{id}/history?per_page={PER_PAGE}&page={page}&fields=Type,Creator,Created,Field,NewValue"
            );
            let p: Page<Txn> = self.get(&path).await?;
            let n = p.items.len();
            all.extend(p.items);
            pages.then((n >= PER_PAGE).then_some(page + 1));
        }
        Ok(all)
    }

    /// The headers and subject of one transaction, and which attachment holds its text.
    async fn parts(&self, txn: u64) -> Result<Parts, ChannelError> {
        let path = format!("transaction/{txn}/attachments?per_page={PER_PAGE}&fields=ContentType,Headers,Subject");
        let parts: Page<AttachmentMeta> = self.get(&path).await?;
        let mut parts = parts.items;
        parts.sort_by_key(|a| a.id.parse::<u64>().unwrap_or(u64::MAX));
        let Some(top) = parts.first() else { return Ok(Parts::default()) };
        let headers = parse_headers(top.headers.as_deref().unwrap_or(""));
        let subject = top.subject.clone().filter(|s| !s.is_empty());
        let inline = |a: &&AttachmentMeta| {
            let h = parse_headers(a.headers.as_deref().unwrap_or(""));
            !header(&h, "Content-Disposition")
                .is_some_and(|d| d.trim_start().to_ascii_lowercase().starts_with("attachment"))
        };
        let of_type = |t: &str| {
            parts.iter().filter(inline).find(|a| a.content_type.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(t)))
        };
        let text = match (of_type("text/plain"), of_type("text/html")) {
            (Some(p), _) => Some((p, false)),
            (None, Some(h)) => Some((h, true)),
            (None, None) => None,
        };
        let text = match text {
            Some((p, html)) => {
                let id = p.id.parse().map_err(|_| ChannelError::Malformed(format!("attachment id {:?}", p.id)))?;
                Some((id, html))
            }
            None => None,
        };
        Ok(Parts { headers, subject, text })
    }

    /// The text of one attachment, reduced to the reply itself.
    async fn text(&self, id: u64, html: bool) -> Result<String, ChannelError> {
        let body: AttachmentBody = self.get(&format!("attachment/{id}")).await?;
        let encoded: String = body.content.unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| ChannelError::Malformed(format!("attachment {id} content is not base64: {e}")))?;
        // RT stores text parts as UTF-8 (the original charset is in X-RT-Original-Encoding).
        let text = String::from_utf8_lossy(&bytes);
        let text = if html { crate::mail::html_to_text(&text) } else { text.into_owned() };
        Ok(clip_body(&text))
    }

    /// What one transaction means to us, or `None` when it is no message.
    async fn message(&self, t: &Txn, requestors: &[String]) -> Result<Option<Message>, ChannelError> {
        let creator = t.creator.as_ref().map(|c| c.id.clone()).unwrap_or_default();
        let txn: u64 = t.id.parse().map_err(|_| ChannelError::Malformed(format!("transaction id {:?}", t.id)))?;
        let (kind, evidence) = match t.kind.as_str() {
            "Create" | "Correspond" if requestors.iter().any(|r| r.eq_ignore_ascii_case(&creator)) => {
                (AuthorKind::Requester, "creator is a requestor")
            }
            "Create" | "Correspond" if creator == RT_SYSTEM => (AuthorKind::Automation, "creator RT_System"),
            "Create" | "Correspond" => (AuthorKind::Agent, "creator is not a requestor"),
            "EmailRecord" => (AuthorKind::Automation, "mail sent by RT"),
            _ => return Ok(None),
        };
        let Parts { headers, subject, text } = self.parts(txn).await?;
        if t.kind == "EmailRecord" {
            let automatic = header(&headers, "Auto-Submitted").is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"));
            let originator = header(&headers, "X-RT-Originator").or_else(|| header(&headers, "RT-Originator"));
            let caused_by_us = originator.is_some_and(|o| o.trim().eq_ignore_ascii_case(&self.settings.requestor));
            if !automatic && !caused_by_us {
                debug!(
                    txn,
                    ?originator,
                    "RT's mailed copy of someone's correspondence; counted once, as the correspondence"
                );
                return Ok(None);
            }
        }
        let body = match text {
            Some((id, html)) => self.text(id, html).await?,
            None => String::new(),
        };
        let author_email = match kind {
            AuthorKind::Automation => header(&headers, "From").map(str::to_string),
            _ => None,
        };
        Ok(Some(Message {
            id: t.id.clone(),
            at: parse_time("history[].Created", &t.created)?,
            author_id: creator.clone(),
            author_name: creator,
            author_email,
            author_kind: kind,
            kind_evidence: Some(evidence.to_string()),
            body,
            headers,
            parts: Vec::new(),
            subject,
            matched_by: None,
        }))
    }

    async fn correspond(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        let url = self.url(&format!("ticket/{}/correspond", ticket_id(ticket)?))?;
        let rb = self.request(Method::POST, url).json(&json!({ "Content": body, "ContentType": "text/plain" }));
        let (_, answer) = self.http.send(rb).await?;
        debug!(ticket, answer = %String::from_utf8_lossy(&answer), "RT correspondence");
        Ok(())
    }
}

impl Channel for RtChannel {
    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Rt
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let body = json!({
            "Queue": self.settings.queue,
            "Subject": req.subject,
            "Content": req.body,
            "ContentType": "text/plain",
            "Requestor": self.settings.requestor,
        });
        let created: Created = self.http.json(self.request(Method::POST, self.url("ticket")?).json(&body)).await?;
        let t = self.ticket(&created.id).await?;
        Ok(Ticket { url: self.display_url(&t.id), created_at: parse_time("Created", &t.created)?, id: t.id })
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        let query = format!(
            "Requestor.EmailAddress = {} AND Subject LIKE {}",
            sql_quote(&self.settings.requestor),
            sql_quote(reference)
        );
        let mut url = self.url("tickets")?;
        url.query_pairs_mut()
            .append_pair("query", &query)
            .append_pair("fields", "Subject,Created")
            .append_pair("orderby", "Created")
            .append_pair("order", "DESC")
            .append_pair("per_page", "20");
        let found: Page<SearchHit> = self.http.json(self.request(Method::GET, url)).await?;
        for hit in found.items {
            if hit.subject.as_deref().is_some_and(|s| s.contains(reference)) {
                ticket_id(&hit.id)?;
                let created_at = parse_time("Created", &hit.created)?;
                return Ok(Some(Ticket { url: self.display_url(&hit.id), created_at, id: hit.id }));
            }
        }
        Ok(None)
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let t = self.ticket(ticket).await?;
        let requestors: Vec<String> = t.requestor.iter().map(|r| r.id.clone()).collect();
        let history = self.history(&t.id).await?;
        let mut status_at = None;
        let mut messages = Vec::new();
        // Read outside the lock what is not cached yet; transactions never change.
        let known: HashMap<u64, Option<Message>> = self.cache.lock().await.get(&t.id).cloned().unwrap_or_default();
        let mut learned = HashMap::new();
        for txn in &history {
            if txn.kind == "Status" || txn.field.as_deref() == Some("Status") {
                status_at = Some(parse_time("history[].Created", &txn.created)?);
                debug!(ticket, to = ?txn.new_value, "RT status change");
                continue;
            }
            let Ok(id) = txn.id.parse::<u64>() else {
                self.problems
                    .push("unparseable", format!("skipped RT transaction with id {:?} on ticket {ticket}", txn.id));
                continue;
            };
            let m = match known.get(&id) {
                Some(m) => m.clone(),
                None => {
                    // One transaction RT answers nonsense for is skipped and counted once;
                    // a failing connection still fails the poll (it is retried).
                    let m = match self.message(txn, &requestors).await {
                        Ok(m) => m,
                        Err(ChannelError::Malformed(why)) => {
                            self.problems.push("unparseable", format!("skipped RT transaction {id}: {why}"));
                            None
                        }
                        Err(e) => return Err(e),
                    };
                    learned.insert(id, m.clone());
                    m
                }
            };
            messages.extend(m);
        }
        if !learned.is_empty() {
            let mut cache = self.cache.lock().await;
            // Probes that expire are never closed here: bound the cache; a re-read is cheap.
            if cache.len() >= MAX_CACHED_TICKETS && !cache.contains_key(&t.id) {
                cache.clear();
            }
            cache.entry(t.id.clone()).or_default().extend(learned);
        }
        let status = status_of(t.status.as_deref().unwrap_or(""));
        let status_at = match rt_date("Resolved", t.resolved.as_deref())? {
            Some(r) if status.is_resolved() => Some(r),
            _ => status_at.map_or_else(|| rt_date("LastUpdated", t.last_updated.as_deref()), |s| Ok(Some(s)))?,
        };
        messages.sort_by_key(|m| m.at);
        Ok(Snapshot { status, status_at, messages, team: None })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        self.correspond(ticket, body).await
    }

    async fn close(&self, ticket: &str, body: Option<&str>, solve: bool) -> Result<(), ChannelError> {
        if let Some(b) = body {
            self.correspond(ticket, b).await?;
        }
        if solve && self.settings.resolve_on_close {
            let url = self.url(&format!("ticket/{}", ticket_id(ticket)?))?;
            let rb = self.request(Method::PUT, url).json(&json!({ "Status": "resolved" }));
            match self.http.send(rb).await {
                // RT answers 200 with a list of messages, also when a change was refused.
                Ok((_, answer)) => debug!(ticket, answer = %String::from_utf8_lossy(&answer), "RT status update"),
                // Requesters without ModifyTicket: the correspondence is the close.
                Err(ChannelError::Auth { .. } | ChannelError::Rejected { .. }) => {
                    warn!(ticket, "RT did not let the requester resolve the ticket; left open");
                }
                Err(e) => return Err(e),
            }
        }
        // The ticket's messages stay cached until it is closed.
        self.cache.lock().await.remove(ticket);
        Ok(())
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    http: crate::client::Http,
    settings: &RtSettings,
    _timeout: std::time::Duration,
) -> Result<RtChannel, crate::ChannelError> {
    RtChannel::new(http, settings.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_of("new"), TicketStatus::Open);
        assert_eq!(status_of("stalled"), TicketStatus::Pending);
        assert!(status_of("resolved").is_resolved());
        assert!(status_of("rejected").is_resolved());
        assert_eq!(status_of("deleted"), TicketStatus::Other("deleted".into()));
    }

    #[test]
    fn headers_unfold() {
        let h =
            parse_headers("Subject: [rt #3] AutoReply:\n  hello\nAuto-Submitted: auto-replied\nbroken line\nX: a:b");
        assert_eq!(h[0], ("Subject".into(), "[rt #3] AutoReply: hello".into()));
        assert_eq!(header(&h, "auto-submitted"), Some("auto-replied"));
        assert_eq!(header(&h, "X"), Some("a:b"));
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn ids_and_quotes() {
        assert!(ticket_id("123").is_ok());
        assert!(ticket_id("1/../../admin").is_err());
        assert!(ticket_id("").is_err());
        assert_eq!(sql_quote("o'brien@x"), r"'o\'brien@x'");
        assert_eq!(rt_date("Resolved", Some(RT_EPOCH)).unwrap(), None);
        assert!(rt_date("Resolved", Some("yesterday")).is_err());
    }
}
