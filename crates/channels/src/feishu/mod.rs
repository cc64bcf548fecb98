//! Feishu / Lark: a thread in the vendor's support group, through the
//! `im/v1` API as our app (bot) in the group.
//!
//! - auth: `POST /open-apis/auth/v3/tenant_access_token/internal` with the
//!   app id and secret; the token is kept until five minutes before its
//!   `expire` and fetched again when Feishu says it is invalid (codes
//!   99991661, 99991663, 99991668).
//! - open: `POST /open-apis/im/v1/messages?receive_id_type=chat_id` (text);
//!   the message id is the thread, its `create_time` (milliseconds) the start.
//! - poll: `GET /open-apis/im/v1/messages?container_id_type=chat` from the
//!   probe's start, `page_token` pages; the messages whose `root_id` is the
//!   probe's message are its replies.
//! - reply / close: `POST /open-apis/im/v1/messages/{id}/reply` in the thread.
//! - find: our own messages in the group's recent history with the reference.
//!
//! Authors: `sender_type: app` from our app is us, from another app a bot;
//! `system` messages (joins, pins) and, when `our_tenant_key` is set and
//! matches, our colleagues are bystanders: recorded, not counted; other
//! `user` senders are the vendor's people. One message of a page that does
//! not read is skipped and counted, never the page. Feishu reports failures as `{"code": N, "msg": …}`: 99991400 is
//! its rate limit (wait for `x-ogw-ratelimit-reset`), 99991663/99991661
//! invalid tokens, 10003/10014 wrong app credentials.

pub mod config;
pub mod webhook;

use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::client::Http;
use crate::lifecycle::Ts;
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus, clip_body};
pub use config::FeishuSettings;

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // Feishu/Lark IM APIs: 1,000/min and 50/s per app.
    rate_per_minute: Some(1000),
    // The root message, then the chat's history since it.
    requests_per_poll: 2.0,
    poll_gap: None,
    webhooks: webhook::WEBHOOKS,
};

const MAX_PAGES: usize = 50;
const TOKEN_INVALID: [i64; 3] = [99_991_661, 99_991_663, 99_991_668];

#[derive(Debug)]
pub struct FeishuChannel {
    http: Http,
    settings: FeishuSettings,
    api: Url,
    token: Mutex<Option<(String, Instant)>>,
    /// Items skipped while reading, until the worker counts them.
    problems: crate::Problems,
}

#[derive(Debug, Deserialize)]
struct Sender {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    sender_type: Option<String>,
    #[serde(default)]
    tenant_key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Item {
    message_id: String,
    #[serde(default)]
    root_id: Option<String>,
    #[serde(default)]
    msg_type: Option<String>,
    create_time: String,
    #[serde(default)]
    deleted: Option<bool>,
    #[serde(default)]
    sender: Option<Sender>,
    #[serde(default)]
    body: Option<Body>,
}

/// Feishu's millisecond timestamps, sent as strings.
fn millis(field: &str, s: &str) -> Result<Ts, ChannelError> {
    s.parse::<i64>()
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .ok_or_else(|| ChannelError::Malformed(format!("`{field}` is not a millisecond timestamp: {s:?}")))
}

/// The text of a message's `content` (JSON in a string): `text`, or a post's paragraphs.
pub fn text_of(msg_type: &str, content: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(content) else { return content.to_string() };
    match msg_type {
        "text" => v["text"].as_str().unwrap_or("").to_string(),
        "post" => {
            // {"title": …, "content": [[{"tag": "text", "text": …}, …], …]} (or per locale)
            let post = if v.get("content").is_some() {
                &v
            } else {
                v.as_object().and_then(|o| o.values().next()).unwrap_or(&v)
            };
            let mut out =
                post["title"].as_str().filter(|t| !t.is_empty()).map(|t| format!("{t}\n")).unwrap_or_default();
            for line in post["content"].as_array().into_iter().flatten() {
                let words: Vec<&str> =
                    line.as_array().into_iter().flatten().filter_map(|e| e["text"].as_str()).collect();
                out.push_str(&words.join(""));
                out.push('\n');
            }
            out.trim().to_string()
        }
        _ => format!("[{msg_type}]"),
    }
}

fn feishu_error(code: i64, msg: &str, retry_after: Option<Duration>) -> ChannelError {
    match code {
        99_991_400 => ChannelError::RateLimited { retry_after },
        c if TOKEN_INVALID.contains(&c) => ChannelError::Auth { status: None, message: format!("Feishu {c}: {msg}") },
        10_003 | 10_014 | 99_991_672 | 99_991_679 => {
            ChannelError::Auth { status: None, message: format!("Feishu {code}: {msg}") }
        }
        230_001 | 230_002 | 230_011 | 231_003 => ChannelError::NotFound { message: format!("Feishu {code}: {msg}") },
        c if c >= 99_991_000 => {
            ChannelError::Server { status: 200, message: format!("Feishu {c}: {msg}"), retry_after }
        }
        c => ChannelError::Rejected { status: 200, message: format!("Feishu {c}: {msg}") },
    }
}

impl FeishuChannel {
    pub fn new(http: Http, settings: FeishuSettings) -> FeishuChannel {
        let api = crate::client::api_root(&settings.api_url);
        FeishuChannel { http, settings, api, token: Mutex::new(None), problems: crate::Problems::default() }
    }

    fn url(&self, path: &str) -> Result<Url, ChannelError> {
        crate::client::endpoint(&self.api, path)
    }

    /// Sends and unwraps `{"code": 0, "data": …}`. Feishu explains failures
    /// with its own `code`, with HTTP 200 or a 4xx; a body without one is
    /// judged by its HTTP status.
    async fn exchange(&self, rb: reqwest::RequestBuilder) -> Result<Value, ChannelError> {
        let a = self.http.send_any(rb).await?;
        let v: Option<Value> = serde_json::from_slice(&a.body).ok();
        match v.as_ref().and_then(|v| v["code"].as_i64()) {
            Some(0) if a.status.is_success() => Ok(v.unwrap_or_default()),
            Some(code) if code != 0 => {
                let wait = crate::client::rate_limit_wait(&a.headers, chrono::Utc::now());
                Err(feishu_error(code, v.as_ref().and_then(|v| v["msg"].as_str()).unwrap_or(""), wait))
            }
            _ if !a.status.is_success() => Err(crate::client::status_error(&a)),
            _ => Err(ChannelError::Malformed(match v {
                Some(_) => "Feishu answered without `code`".into(),
                None => format!("invalid JSON from Feishu ({} bytes)", a.body.len()),
            })),
        }
    }

    async fn token(&self, fresh: bool) -> Result<String, ChannelError> {
        let mut t = self.token.lock().await;
        if !fresh
            && let Some((tok, until)) = t.as_ref()
            && Instant::now() < *until
        {
            return Ok(tok.clone());
        }
        let url = self.url("open-apis/auth/v3/tenant_access_token/internal")?;
        let body = json!({ "app_id": self.settings.app_id, "app_secret": self.settings.app_secret.expose() });
        let v = self.exchange(self.http.client.request(Method::POST, url).json(&body)).await?;
        let tok = v["tenant_access_token"]
            .as_str()
            .ok_or_else(|| ChannelError::Malformed("no tenant_access_token".into()))?;
        let expire = v["expire"].as_u64().unwrap_or(7200);
        *t = Some((tok.to_string(), Instant::now() + Duration::from_secs(expire.saturating_sub(300).max(60))));
        Ok(tok.to_string())
    }

    /// A call with the tenant token, fetched again once if Feishu says it is no longer valid.
    async fn call(&self, method: Method, url: Url, body: Option<Value>) -> Result<Value, ChannelError> {
        for fresh in [false, true] {
            let token = self.token(fresh).await?;
            let mut rb = self.http.client.request(method.clone(), url.clone()).bearer_auth(token);
            if let Some(b) = &body {
                rb = rb.json(b);
            }
            match self.exchange(rb).await {
                Err(ChannelError::Auth { message, .. })
                    if !fresh && TOKEN_INVALID.iter().any(|c| message.contains(&c.to_string())) => {}
                other => return other,
            }
        }
        Err(ChannelError::Auth { status: None, message: "Feishu keeps refusing a fresh tenant token".into() })
    }

    fn message_of(&self, m: &Item) -> Result<Option<Message>, ChannelError> {
        if m.deleted == Some(true) {
            return Ok(None);
        }
        let sender = m.sender.as_ref();
        let id = sender.and_then(|s| s.id.clone()).unwrap_or_default();
        let (kind, evidence) = match sender.and_then(|s| s.sender_type.as_deref()) {
            Some("app") if id == self.settings.app_id => (AuthorKind::Requester, "our app".to_string()),
            Some("app") => (AuthorKind::Bot, "sender_type=app".to_string()),
            Some("system") => (AuthorKind::Bystander, "sender_type=system".to_string()),
            Some("user") => {
                let ours = self.settings.our_tenant_key.as_deref();
                if ours.is_some() && sender.and_then(|s| s.tenant_key.as_deref()) == ours {
                    (AuthorKind::Bystander, "a user of our own tenant".to_string())
                } else {
                    (AuthorKind::Agent, "sender_type=user".to_string())
                }
            }
            other => (AuthorKind::Unknown, format!("sender_type={}", other.unwrap_or("?"))),
        };
        let text = text_of(
            m.msg_type.as_deref().unwrap_or("text"),
            m.body.as_ref().and_then(|b| b.content.as_deref()).unwrap_or(""),
        );
        Ok(Some(Message {
            id: m.message_id.clone(),
            at: millis("create_time", &m.create_time)?,
            author_id: id.clone(),
            author_name: id,
            author_email: None,
            author_kind: kind,
            kind_evidence: Some(evidence),
            body: clip_body(&text),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: None,
            matched_by: None,
        }))
    }

    /// The group's messages since `from` (all pages).
    async fn history(&self, from: Ts) -> Result<Vec<Item>, ChannelError> {
        let mut items = Vec::new();
        let mut pages = crate::client::Pages::new(String::new(), MAX_PAGES, "messages");
        while let Some(page_token) = pages.take()? {
            let mut url = self.url("open-apis/im/v1/messages")?;
            url.query_pairs_mut()
                .append_pair("container_id_type", "chat")
                .append_pair("container_id", &self.settings.chat_id)
                .append_pair("start_time", &from.timestamp().to_string())
                .append_pair("sort_type", "ByCreateTimeAsc")
                .append_pair("page_size", "50");
            if !page_token.is_empty() {
                url.query_pairs_mut().append_pair("page_token", &page_token);
            }
            let v = self.call(Method::GET, url, None).await?;
            let Value::Array(page) = v["data"]["items"].clone() else {
                return Err(ChannelError::Malformed("im/v1/messages: `data.items` is not a list".into()));
            };
            items.extend(crate::items::<Item>(page, "data.items", &self.problems));
            let next = v["data"]["page_token"].as_str().unwrap_or("").to_string();
            pages.then((v["data"]["has_more"].as_bool() == Some(true) && !next.is_empty()).then_some(next));
        }
        Ok(items)
    }

    fn message_id(ticket: &str) -> Result<&str, ChannelError> {
        let ok = ticket.starts_with("om_")
            && ticket.len() <= 64
            && ticket.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok { Ok(ticket) } else { Err(ChannelError::Malformed(format!("`{ticket}` is not a Feishu message id"))) }
    }

    async fn reply_in_thread(&self, ticket: &str, text: &str) -> Result<(), ChannelError> {
        let url = self.url(&format!("open-apis/im/v1/messages/{}/reply", Self::message_id(ticket)?))?;
        let body =
            json!({ "msg_type": "text", "content": json!({ "text": text }).to_string(), "reply_in_thread": true });
        self.call(Method::POST, url, Some(body)).await.map(drop)
    }
}

impl Channel for FeishuChannel {
    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Feishu
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let mut url = self.url("open-apis/im/v1/messages")?;
        url.query_pairs_mut().append_pair("receive_id_type", "chat_id");
        let text = format!("{}\n{}", req.subject, req.body);
        let body = json!({ "receive_id": self.settings.chat_id, "msg_type": "text", "content": json!({ "text": text }).to_string() });
        let v = self.call(Method::POST, url, Some(body)).await?;
        let id = v["data"]["message_id"].as_str().ok_or_else(|| ChannelError::Malformed("no message_id".into()))?;
        let at = millis("create_time", v["data"]["create_time"].as_str().unwrap_or(""))?;
        Ok(Ticket { id: Self::message_id(id)?.to_string(), url: None, created_at: at })
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        let since = chrono::Utc::now() - chrono::Duration::days(7);
        for m in self.history(since).await? {
            let ours = m.sender.as_ref().and_then(|s| s.id.as_deref()) == Some(self.settings.app_id.as_str());
            let text = m.body.as_ref().and_then(|b| b.content.as_deref()).unwrap_or("");
            if ours && m.root_id.is_none() && text.contains(reference) {
                return Ok(Some(Ticket {
                    id: m.message_id.clone(),
                    url: None,
                    created_at: millis("create_time", &m.create_time)?,
                }));
            }
        }
        Ok(None)
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let root = Self::message_id(ticket)?;
        // The probe's own message says where the thread starts; replies come after it.
        let url = self.url(&format!("open-apis/im/v1/messages/{root}"))?;
        let v = self.call(Method::GET, url, None).await?;
        let found: Vec<Item> = match v["data"]["items"].clone() {
            Value::Array(a) => crate::items(a, "data.items", &self.problems),
            _ => Vec::new(),
        };
        let root_item = found
            .into_iter()
            .next()
            .ok_or_else(|| ChannelError::NotFound { message: format!("Feishu message {root}") })?;
        let start = millis("create_time", &root_item.create_time)?;
        let mut messages: Vec<Message> = self.message_of(&root_item)?.into_iter().collect();
        let items = self.history(start).await?;
        for m in items.iter().filter(|m| m.root_id.as_deref() == Some(root) && m.message_id != root) {
            match self.message_of(m) {
                Ok(msg) => messages.extend(msg),
                Err(e) => self.problems.push("unparseable", format!("skipped Feishu message {}: {e}", m.message_id)),
            }
        }
        messages.sort_by_key(|m| m.at);
        messages.dedup_by(|a, b| a.id == b.id);
        Ok(Snapshot { status: TicketStatus::Open, status_at: None, messages, team: None })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        self.reply_in_thread(ticket, body).await
    }

    async fn close(&self, ticket: &str, body: Option<&str>, _solve: bool) -> Result<(), ChannelError> {
        match body {
            Some(b) => self.reply_in_thread(ticket, b).await,
            None => Ok(()),
        }
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    http: crate::client::Http,
    settings: &FeishuSettings,
    _timeout: std::time::Duration,
) -> Result<FeishuChannel, crate::ChannelError> {
    Ok(FeishuChannel::new(http, settings.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_and_times() {
        assert_eq!(text_of("text", r#"{"text":"你好 @_user_1"}"#), "你好 @_user_1");
        let post = r#"{"zh_cn":{"title":"进展","content":[[{"tag":"text","text":"已修复，"},{"tag":"a","text":"见文档","href":"x"}]]}}"#;
        assert_eq!(text_of("post", post), "进展\n已修复，见文档");
        assert_eq!(text_of("image", r#"{"image_key":"img_x"}"#), "[image]");
        assert_eq!(millis("t", "1795400047481").unwrap().timestamp_millis(), 1_795_400_047_481);
        assert!(millis("t", "soon").is_err());
        assert!(matches!(feishu_error(99_991_400, "limit", None), ChannelError::RateLimited { .. }));
        assert!(matches!(feishu_error(99_991_663, "token invalid", None), ChannelError::Auth { .. }));
        assert!(matches!(feishu_error(230_002, "bot not in chat", None), ChannelError::NotFound { .. }));
        assert!(FeishuChannel::message_id("om_dc13264520392913993dd051dba21dcf").is_ok());
        assert!(FeishuChannel::message_id("../x").is_err());
    }
}
