//! Slack: a thread in the vendor's shared support channel (Slack Connect),
//! through the Web API.
//!
//! - open: `chat.postMessage` to the channel; the message's `ts` is the
//!   thread (and the probe's start, to the microsecond).
//! - poll: `conversations.replies` for the thread, following
//!   `response_metadata.next_cursor`; `auth.test` once says who we are.
//! - reply / close: `chat.postMessage` with `thread_ts`.
//! - find: `conversations.history` of the channel, our messages with the reference.
//!
//! Authors: our user is us; other members of our own team (`team`) are our
//! colleagues: reported as bystanders, recorded and not counted; `bot_id` or `subtype: bot_message` is a bot
//! (Slack's own marking); everyone else in the shared channel is the
//! vendor's people. One message that does not read is skipped and counted,
//! never the page. Resolution: the configured reaction (default
//! `white_check_mark`) on the thread's first message by someone else —
//! Slack gives reactions no time, so the resolution is timed at the vendor's
//! last message before it was seen — or the scenario's resolution pattern.
//!
//! Slack answers HTTP 200 with `{"ok": false, "error": …}`: `invalid_auth`,
//! `not_authed`, `token_revoked`, `account_inactive` are authentication
//! failures; `channel_not_found`, `thread_not_found` not found; `ratelimited`
//! (HTTP 429 with `Retry-After`) a rate limit. Each method keeps Slack's tier:
//! `chat.postMessage` at most once a second, `conversations.*` (tier 3) at
//! most 50 a minute.

pub mod config;
pub mod webhook;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, OnceCell};
use tracing::debug;

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::client::Http;
use crate::lifecycle::Ts;
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus, clip_body};
pub use config::SlackSettings;

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // Slack tier 3 (conversations.history/replies): 50+/min per method.
    rate_per_minute: Some(50),
    // One call: conversations.replies.
    requests_per_poll: 1.0,
    poll_gap: Some(TIER3_GAP),
    webhooks: webhook::WEBHOOKS,
};

const MAX_PAGES: usize = 50;
/// Crash recovery reads at most this many pages of the channel (200 each).
const RECOVERY_PAGES: usize = 5;

#[derive(Debug)]
pub struct SlackChannel {
    http: Http,
    settings: SlackSettings,
    api: Url,
    me: OnceCell<(String, String)>,
    /// Last call per method, for Slack's per-method tiers.
    last_call: Mutex<HashMap<&'static str, Instant>>,
    /// Items skipped while reading, until the worker counts them.
    problems: crate::Problems,
}

#[derive(Debug, Deserialize)]
struct SlackMessage {
    ts: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    user_profile: Option<Value>,
    #[serde(default)]
    reactions: Vec<Reaction>,
}

#[derive(Debug, Deserialize)]
struct Reaction {
    name: String,
    #[serde(default)]
    users: Vec<String>,
}

/// Slack's `ts`: seconds and microseconds (`1503435956.000247`).
pub fn parse_ts(ts: &str) -> Option<Ts> {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    if micros.len() > 6 || !secs.bytes().all(|b| b.is_ascii_digit()) || !micros.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let micros: u32 = format!("{micros:0<6}").parse().ok()?;
    chrono::DateTime::from_timestamp(secs, micros * 1000)
}

/// Slack's tier 3 (`conversations.replies`, `conversations.history`): about
/// 50 calls a minute per method and workspace, whatever else the plan allows.
pub const TIER3_GAP: Duration = Duration::from_millis(1200);

/// How long a method waits between calls (Slack's tiers).
fn spacing(method: &str) -> Duration {
    match method {
        "chat.postMessage" => Duration::from_secs(1),
        _ => TIER3_GAP,
    }
}

fn slack_error(error: &str, retry_after: Option<Duration>) -> ChannelError {
    match error {
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" | "missing_scope" => {
            ChannelError::Auth { status: None, message: format!("Slack: {error}") }
        }
        "channel_not_found" | "thread_not_found" | "message_not_found" => {
            ChannelError::NotFound { message: format!("Slack: {error}") }
        }
        "ratelimited" => ChannelError::RateLimited { retry_after },
        "fatal_error" | "internal_error" | "service_unavailable" | "request_timeout" => {
            ChannelError::Server { status: 200, message: format!("Slack: {error}"), retry_after }
        }
        other => ChannelError::Rejected { status: 200, message: format!("Slack: {other}") },
    }
}

impl SlackChannel {
    pub fn new(http: Http, settings: SlackSettings) -> SlackChannel {
        let api = crate::client::api_root(&settings.api_url);
        SlackChannel {
            http,
            settings,
            api,
            me: OnceCell::new(),
            last_call: Mutex::new(HashMap::new()),
            problems: crate::Problems::default(),
        }
    }

    /// Calls a Web API method; `args` go in the query for reads and as JSON for writes.
    async fn call(&self, method: &'static str, args: Value, write: bool) -> Result<Value, ChannelError> {
        {
            let mut last = self.last_call.lock().await;
            if let Some(t) = last.get(method) {
                let wait = spacing(method).saturating_sub(t.elapsed());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            last.insert(method, Instant::now());
        }
        let url = self.api.join(method).map_err(|e| ChannelError::Malformed(format!("bad Slack URL: {e}")))?;
        let rb = if write {
            self.http.client.request(Method::POST, url).json(&args)
        } else {
            let pairs: Vec<(String, String)> = args
                .as_object()
                .map(|o| {
                    o.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), String::from))).collect()
                })
                .unwrap_or_default();
            self.http.client.request(Method::GET, url).query(&pairs)
        };
        let answer = self.http.send_full(rb.bearer_auth(self.settings.token.expose())).await?;
        let v: Value = crate::client::decode(&answer.body)?;
        match v["ok"].as_bool() {
            Some(true) => return Ok(v),
            Some(false) => {}
            // A 200 without `ok` is no answer Slack gives: a proxy's or a broken one.
            // For a write, whether it was applied is unknown (the worker looks before retrying).
            None => return Err(ChannelError::Malformed(format!("{method} answered without `ok`"))),
        }
        let retry = crate::client::rate_limit_wait(&answer.headers, chrono::Utc::now());
        Err(slack_error(v["error"].as_str().unwrap_or("unknown_error"), retry))
    }

    async fn me(&self) -> Result<&(String, String), ChannelError> {
        self.me
            .get_or_try_init(|| async {
                let v = self.call("auth.test", json!({}), false).await?;
                let user = v["user_id"].as_str().unwrap_or_default().to_string();
                let team = v["team_id"].as_str().unwrap_or_default().to_string();
                Ok::<_, ChannelError>((user, team))
            })
            .await
    }

    fn message_of(&self, m: &SlackMessage, me: &(String, String)) -> Result<Option<Message>, ChannelError> {
        let at = parse_ts(&m.ts)
            .ok_or_else(|| ChannelError::Malformed(format!("`ts` is not a Slack timestamp: {:?}", m.ts)))?;
        let user = m.user.clone().unwrap_or_default();
        let (kind, evidence) = if !user.is_empty() && user == me.0 && m.bot_id.is_none() {
            (AuthorKind::Requester, "our user".to_string())
        } else if let Some(b) = &m.bot_id {
            (AuthorKind::Bot, format!("bot_id={b}"))
        } else if m.subtype.as_deref() == Some("bot_message") {
            (AuthorKind::Bot, "subtype=bot_message".to_string())
        } else if m.team.as_deref().is_some_and(|t| t == me.1) {
            debug!(user, "a colleague in the shared channel; recorded, not counted");
            (AuthorKind::Bystander, "a member of our own team".to_string())
        } else {
            (AuthorKind::Agent, format!("user of team {}", m.team.as_deref().unwrap_or("?")))
        };
        let name = m
            .user_profile
            .as_ref()
            .and_then(|p| p["real_name"].as_str().or(p["display_name"].as_str()))
            .map(String::from)
            .or_else(|| m.username.clone())
            .unwrap_or_else(|| user.clone());
        Ok(Some(Message {
            id: m.ts.clone(),
            at,
            author_id: if user.is_empty() { m.bot_id.clone().unwrap_or_default() } else { user },
            author_name: name,
            author_email: None,
            author_kind: kind,
            kind_evidence: Some(evidence),
            body: clip_body(m.text.as_deref().unwrap_or("")),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: None,
            matched_by: None,
        }))
    }

    fn thread(ticket: &str) -> Result<&str, ChannelError> {
        parse_ts(ticket)
            .map(|_| ticket)
            .ok_or_else(|| ChannelError::Malformed(format!("`{ticket}` is not a Slack thread ts")))
    }

    async fn post(&self, text: &str, thread: Option<&str>) -> Result<Value, ChannelError> {
        let mut args = json!({ "channel": self.settings.channel, "text": text });
        if let Some(t) = thread {
            args["thread_ts"] = json!(t);
        }
        self.call("chat.postMessage", args, true).await
    }
}

impl Channel for SlackChannel {
    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let text = format!("*{}*\n{}", req.subject, req.body);
        let v = self.post(&text, None).await?;
        let ts =
            v["ts"].as_str().ok_or_else(|| ChannelError::Malformed("chat.postMessage answered without `ts`".into()))?;
        let created_at = parse_ts(ts).ok_or_else(|| ChannelError::Malformed(format!("bad ts {ts:?}")))?;
        Ok(Ticket { id: ts.to_string(), url: None, created_at })
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        let me = self.me().await?.clone();
        // The channel's newest messages first; a lost probe is recent.
        let mut pages = crate::client::Pages::first(String::new(), RECOVERY_PAGES);
        while let Some(cursor) = pages.take()? {
            let mut args = json!({ "channel": self.settings.channel, "limit": "200" });
            if !cursor.is_empty() {
                args["cursor"] = json!(cursor);
            }
            let v = self.call("conversations.history", args, false).await?;
            let messages: Vec<SlackMessage> = serde_json::from_value(v["messages"].clone())
                .map_err(|e| ChannelError::Malformed(format!("conversations.history: {e}")))?;
            for m in messages {
                if m.user.as_deref() == Some(me.0.as_str())
                    && m.text.as_deref().is_some_and(|t| t.contains(reference))
                    && let Some(at) = parse_ts(&m.ts)
                {
                    return Ok(Some(Ticket { id: m.ts.clone(), url: None, created_at: at }));
                }
            }
            let next = v["response_metadata"]["next_cursor"].as_str().unwrap_or("").to_string();
            pages.then((!next.is_empty() && v["has_more"].as_bool() != Some(false)).then_some(next));
        }
        Ok(None)
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let thread = Self::thread(ticket)?;
        let me = self.me().await?.clone();
        let mut raw: Vec<(SlackMessage, Value)> = Vec::new();
        let mut pages = crate::client::Pages::new(String::new(), MAX_PAGES, "replies");
        while let Some(cursor) = pages.take()? {
            let mut args = json!({ "channel": self.settings.channel, "ts": thread, "limit": "200" });
            if !cursor.is_empty() {
                args["cursor"] = json!(cursor);
            }
            let v = self.call("conversations.replies", args, false).await?;
            let Value::Array(page) = v["messages"].clone() else {
                return Err(ChannelError::Malformed("conversations.replies: `messages` is not a list".into()));
            };
            for item in page {
                if let Some(m) = crate::items::<SlackMessage>(vec![item.clone()], "messages", &self.problems).pop() {
                    raw.push((m, item));
                }
            }
            let next = v["response_metadata"]["next_cursor"].as_str().unwrap_or("").to_string();
            pages.then((!next.is_empty() && v["has_more"].as_bool() != Some(false)).then_some(next));
        }
        let mut messages = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (m, item) in &raw {
            if seen.insert(m.ts.clone()) {
                match self.message_of(m, &me) {
                    Ok(msg) => messages.extend(msg),
                    Err(e) => self.problems.unreadable("messages", item, e),
                }
            }
        }
        messages.sort_by_key(|m| m.at);
        let parent = raw.iter().map(|(m, _)| m).find(|m| m.ts == thread);
        let reacted = parent.is_some_and(|p| {
            p.reactions.iter().any(|r| r.name == self.settings.resolved_reaction && r.users.iter().any(|u| *u != me.0))
        });
        let (status, status_at) = if reacted {
            let last_vendor = messages
                .iter()
                .filter(|m| !matches!(m.author_kind, AuthorKind::Requester | AuthorKind::Bystander))
                .map(|m| m.at)
                .max();
            (TicketStatus::Solved, last_vendor)
        } else {
            (TicketStatus::Open, None)
        };
        Ok(Snapshot { status, status_at, messages, team: None })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        self.post(body, Some(Self::thread(ticket)?)).await.map(drop)
    }

    async fn close(&self, ticket: &str, body: Option<&str>, _solve: bool) -> Result<(), ChannelError> {
        // A thread has no status to set; the courtesy message is the close.
        match body {
            Some(b) => self.reply(ticket, b).await,
            None => Ok(()),
        }
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    http: crate::client::Http,
    settings: &SlackSettings,
    _timeout: std::time::Duration,
) -> Result<SlackChannel, crate::ChannelError> {
    Ok(SlackChannel::new(http, settings.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_timestamps() {
        let t = parse_ts("1503435956.000247").unwrap();
        assert_eq!((t.timestamp(), t.timestamp_subsec_micros()), (1_503_435_956, 247));
        assert_eq!(parse_ts("1503435956.5").unwrap().timestamp_subsec_micros(), 500_000);
        assert!(parse_ts("1503435956").is_some());
        assert!(parse_ts("15034x5956.1").is_none() && parse_ts("1.1234567").is_none() && parse_ts("").is_none());
    }

    #[test]
    fn errors_by_name() {
        assert!(matches!(slack_error("invalid_auth", None), ChannelError::Auth { .. }));
        assert!(matches!(slack_error("channel_not_found", None), ChannelError::NotFound { .. }));
        assert!(matches!(
            slack_error("ratelimited", Some(Duration::from_secs(3))),
            ChannelError::RateLimited { retry_after: Some(_) }
        ));
        assert!(matches!(slack_error("msg_too_long", None), ChannelError::Rejected { .. }));
    }
}
