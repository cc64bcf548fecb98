//! The `http` channel: a REST ticket API described in config, for vendors
//! without an adapter of their own.
//!
//! Requests are templates: `{{subject}}`, `{{body}}`, `{{reference}}`,
//! `{{priority}}` and `{{id}}` are replaced — JSON-encoded in bodies,
//! percent-encoded in paths. Answers are read with JSON pointers (RFC 6901):
//! the new ticket's id and creation time; the ticket's status (and when it
//! changed); the array of replies and, in each reply, its id, time, body,
//! author, and the field whose value says what the author is (`kinds` maps
//! values to `requester`, `agent`, `bot` or `automation`; unmapped values are
//! `default_kind`). Times may be RFC 3339 strings or Unix seconds or
//! milliseconds. Replies are read page after page, following a `next`
//! pointer or a `Link: rel="next"` header, on the API's own server only.
//! A `find` listing lets crash recovery recognise a ticket whose creation
//! answer was lost by the reference in its subject or description.

pub mod config;

use reqwest::{Method, Url};
use serde_json::Value;

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::client::Http;
use crate::lifecycle::Ts;
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus, clip_body, parse_time};
pub use config::{GenericCall, GenericSettings};

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // A described API: its limit is the vendor's `rate_limit_per_minute`.
    rate_per_minute: None,
    // One call: the described request.
    requests_per_poll: 1.0,
    poll_gap: None,
    webhooks: None,
};

/// At most this many pages of replies are read for one ticket.
const MAX_PAGES: usize = 50;

#[derive(Debug)]
pub struct GenericChannel {
    http: Http,
    settings: GenericSettings,
    base: Url,
    /// Items skipped while reading, until the worker counts them.
    problems: crate::Problems,
}

fn pointer<'a>(v: &'a Value, p: &str, what: &str) -> Result<&'a Value, ChannelError> {
    v.pointer(p).ok_or_else(|| ChannelError::Malformed(format!("the answer has no `{p}` ({what})")))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An RFC 3339 string, or Unix seconds / milliseconds (as a number or numeric string).
pub fn time_of(v: &Value, what: &str) -> Result<Ts, ChannelError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    if let Some(n) = n {
        let ms = if n > 1e11 { n } else { n * 1000.0 };
        return chrono::DateTime::from_timestamp_millis(ms.round() as i64)
            .ok_or_else(|| ChannelError::Malformed(format!("`{what}` is out of range: {n}")));
    }
    parse_time(what, v.as_str().unwrap_or(""))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn fill(template: &str, vars: &[(&str, &str)], json: bool) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        let value = if json { serde_json::to_string(v).unwrap_or_default() } else { percent_encode(v) };
        out = out.replace(&format!("{{{{{k}}}}}"), &value);
    }
    out
}

impl GenericChannel {
    pub fn new(http: Http, settings: GenericSettings) -> GenericChannel {
        let base = crate::client::api_root(&settings.base_url);
        GenericChannel { http, settings, base, problems: crate::Problems::default() }
    }

    /// One described call: its decoded answer (`null` when empty) and the
    /// next page's URL, from the `next` pointer or a `Link` header.
    async fn exchange(
        &self,
        call: &GenericCall,
        vars: &[(&str, &str)],
        next: Option<&str>,
    ) -> Result<(Value, Option<Url>), ChannelError> {
        let path = fill(&call.path, vars, false);
        let url = crate::client::endpoint(&self.base, &path)?;
        if url.origin() != self.base.origin() {
            return Err(ChannelError::Malformed(format!("`{path}` leaves the API's server")));
        }
        let method = Method::from_bytes(call.method.as_bytes()).unwrap_or(Method::GET);
        let body = call.body.as_ref().map(|b| fill(b, vars, true));
        self.send(method, url, body, next).await
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<String>,
        next: Option<&str>,
    ) -> Result<(Value, Option<Url>), ChannelError> {
        let mut rb = self.http.client.request(method, url).header("Accept", "application/json");
        for (k, v) in &self.settings.headers {
            rb = rb.header(k.as_str(), v.expose());
        }
        if let Some(body) = body {
            rb = rb.header("Content-Type", "application/json").body(body);
        }
        let answer = self.http.send_full(rb).await?;
        let value = if answer.body.is_empty() { Value::Null } else { crate::client::decode(&answer.body)? };
        let link = match next.and_then(|p| value.pointer(p)) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
            _ => answer.next_link(),
        };
        let next_url = link.map(|l| crate::client::same_origin(&self.base, l)).transpose()?;
        Ok((value, next_url))
    }

    async fn run(&self, call: &GenericCall, vars: &[(&str, &str)]) -> Result<Value, ChannelError> {
        self.exchange(call, vars, None).await.map(|(v, _)| v)
    }

    fn message_of(&self, r: &Value) -> Result<Message, ChannelError> {
        let s = &self.settings.poll;
        let kind_value = s.reply_author_kind.as_deref().and_then(|p| r.pointer(p)).map(text).unwrap_or_default();
        let kind_name =
            self.settings.kinds.get(&kind_value).map_or(self.settings.default_kind.as_str(), String::as_str);
        let kind = match kind_name {
            "requester" => AuthorKind::Requester,
            "bot" => AuthorKind::Bot,
            "automation" => AuthorKind::Automation,
            "agent" => AuthorKind::Agent,
            "bystander" => AuthorKind::Bystander,
            _ => AuthorKind::Unknown,
        };
        let author = s.reply_author.as_deref().and_then(|p| r.pointer(p)).map(text).unwrap_or_default();
        Ok(Message {
            id: text(pointer(r, &s.reply_id, "reply id")?),
            at: time_of(pointer(r, &s.reply_at, "reply time")?, &s.reply_at)?,
            author_id: author.clone(),
            author_name: author,
            author_email: None,
            author_kind: kind,
            kind_evidence: Some(format!("{}={kind_value}", s.reply_author_kind.as_deref().unwrap_or("(default)"))),
            body: clip_body(&text(pointer(r, &s.reply_body, "reply body")?)),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: None,
            matched_by: None,
        })
    }
}

impl Channel for GenericChannel {
    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Http
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let vars = [
            ("subject", req.subject),
            ("body", req.body),
            ("reference", req.reference),
            ("priority", req.priority.as_str()),
        ];
        let o = &self.settings.open;
        let v = self.run(&o.call, &vars).await?;
        let id = text(pointer(&v, &o.id, "new ticket's id")?);
        if id.is_empty() {
            return Err(ChannelError::Malformed(format!("`{}` is empty", o.id)));
        }
        let created_at = match &o.created_at {
            Some(p) => time_of(pointer(&v, p, "new ticket's creation time")?, p)?,
            None => chrono::Utc::now(),
        };
        Ok(Ticket { id, url: None, created_at })
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        // Without a described listing a lost creation answer is opened again.
        let Some(f) = &self.settings.find else { return Ok(None) };
        let first = self.exchange(&f.call, &[("reference", reference)], f.next.as_deref()).await?;
        let mut pages = crate::client::Pages::first(first, f.pages as usize);
        while let Some((page, next)) = pages.take()? {
            let items = pointer(&page, &f.items, "tickets")?
                .as_array()
                .ok_or_else(|| ChannelError::Malformed(format!("`{}` is not an array", f.items)))?;
            let carries =
                |t: &Value| f.matches.iter().any(|p| t.pointer(p).is_some_and(|v| text(v).contains(reference)));
            if let Some(t) = items.iter().find(|t| carries(t)) {
                let id = text(pointer(t, &f.id, "ticket id")?);
                if id.is_empty() {
                    return Err(ChannelError::Malformed(format!("`{}` of the found ticket is empty", f.id)));
                }
                // The probe is timed from the platform's creation time, never from now.
                let created_at = time_of(pointer(t, &f.created_at, "ticket's creation time")?, &f.created_at)?;
                return Ok(Some(Ticket { id, url: None, created_at }));
            }
            pages.then(match next {
                Some(url) => Some(self.send(Method::GET, url, None, f.next.as_deref()).await?),
                None => None,
            });
        }
        Ok(None)
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let vars = [("id", ticket)];
        let s = &self.settings.poll;
        let (v, first_next) = self.exchange(&s.call, &vars, s.next.as_deref()).await?;
        let status_doc = match &s.status_call {
            Some(c) => self.run(c, &vars).await?,
            None => v.clone(),
        };
        let status_text = s.status.as_deref().and_then(|p| status_doc.pointer(p)).map(text).unwrap_or_default();
        let status = if self.settings.resolved_values.iter().any(|r| r.eq_ignore_ascii_case(&status_text)) {
            TicketStatus::Solved
        } else {
            TicketStatus::Other(status_text)
        };
        let status_at = match s.status_at.as_deref().and_then(|p| status_doc.pointer(p)) {
            Some(t) if status.is_resolved() => Some(time_of(t, "status time")?),
            _ => None,
        };
        let mut messages: Vec<Message> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut pages = crate::client::Pages::new((v, first_next), MAX_PAGES, "replies");
        while let Some((page, next)) = pages.take()? {
            let list = pointer(&page, &s.replies, "replies")?
                .as_array()
                .ok_or_else(|| ChannelError::Malformed(format!("`{}` is not an array", s.replies)))?;
            for r in list {
                // One reply that does not have the described shape is skipped and counted, not the page.
                let m = match self.message_of(r) {
                    Ok(m) => m,
                    Err(e) => {
                        self.problems.unreadable("replies", r, e);
                        continue;
                    }
                };
                if seen.insert(m.id.clone()) {
                    messages.push(m);
                }
            }
            pages.then(match next {
                Some(url) => Some(self.send(Method::GET, url, None, s.next.as_deref()).await?),
                None => None,
            });
        }
        messages.sort_by_key(|m| m.at);
        Ok(Snapshot { status, status_at, messages, team: None })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        let vars = [("id", ticket), ("body", body)];
        self.run(&self.settings.reply, &vars).await.map(drop)
    }

    async fn close(&self, ticket: &str, body: Option<&str>, solve: bool) -> Result<(), ChannelError> {
        if let Some(b) = body {
            self.reply(ticket, b).await?;
        }
        if solve && let Some(c) = &self.settings.close {
            self.run(c, &[("id", ticket)]).await?;
        }
        Ok(())
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    http: crate::client::Http,
    settings: &GenericSettings,
    _timeout: std::time::Duration,
) -> Result<GenericChannel, crate::ChannelError> {
    Ok(GenericChannel::new(http, settings.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_times() {
        let vars = [("subject", "Calls \"drop\""), ("id", "a/b c")];
        assert_eq!(fill(r#"{"t": {{subject}}}"#, &vars, true), r#"{"t": "Calls \"drop\""}"#);
        assert_eq!(fill("tickets/{{id}}", &vars, false), "tickets/a%2Fb%20c");
        assert_eq!(time_of(&Value::from(1_795_400_047), "t").unwrap().timestamp(), 1_795_400_047);
        assert_eq!(time_of(&Value::from(1_795_400_047_481_i64), "t").unwrap().timestamp_millis(), 1_795_400_047_481);
        assert_eq!(time_of(&Value::from("2026-11-23T02:14:07Z"), "t").unwrap().timestamp(), 1_795_400_047);
        assert!(time_of(&Value::from("yesterday"), "t").is_err());
    }
}
