//! Channel adapters: one way each to open a ticket or chat at a vendor, read
//! what came back, reply and close.
//!
//! Adapters report facts — the platform's own timestamps, how the platform
//! describes each author, the ticket status — and never judge: the engine
//! classifies, moves the lifecycle and holds figures against promises.
//! One trait; one folder per channel kind (its adapter, its config table and
//! check, its `check` line); one line per kind in [`registry`].
#![forbid(unsafe_code)]

pub mod budget;
pub mod check;
pub mod client;
pub mod email;
pub mod feishu;
pub mod freshdesk;
pub mod github;
pub mod http;
pub mod intercom;
pub mod jira_sm;
pub mod manual;
pub mod registry;
pub mod rt;
pub mod slack;
pub mod webhook;
pub mod zendesk;

pub use registry::{AnyChannel, ChannelKind, ChannelSettings, ChannelSpec, RawChannel, build, channel_from};
pub use supportprobe_core::error_chain;
// The core's modules under the paths the adapters name them by.
use supportprobe_core::{classify, lifecycle, mail, model, redact, reference};

use std::future::Future;
use std::time::Duration;

use crate::classify::{AuthorKind, ReplyFacts};
use crate::lifecycle::Ts;
use crate::model::Priority;

/// What to open.
#[derive(Clone, Debug)]
pub struct OpenRequest<'a> {
    pub reference: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub priority: Priority,
}

/// A ticket (or chat thread) at the vendor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The channel's id for it.
    pub id: String,
    /// Where a person can look at it, if the channel has such a page.
    pub url: Option<String>,
    /// When the channel says it was created.
    pub created_at: Ts,
}

/// The ticket status as the platform reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    Open,
    Pending,
    /// Solved by the vendor (or by us).
    Solved,
    /// Closed for good; no more comments possible.
    Closed,
    Other(String),
}

impl TicketStatus {
    pub fn is_resolved(&self) -> bool {
        matches!(self, TicketStatus::Solved | TicketStatus::Closed)
    }

    pub fn as_str(&self) -> &str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::Solved => "solved",
            TicketStatus::Closed => "closed",
            TicketStatus::Other(s) => s,
        }
    }
}

/// One message in the ticket's history, as the platform reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The platform's id, unique within the ticket.
    pub id: String,
    /// The platform's timestamp.
    pub at: Ts,
    pub author_id: String,
    pub author_name: String,
    pub author_email: Option<String>,
    pub author_kind: AuthorKind,
    /// The platform field that decided `author_kind`.
    pub kind_evidence: Option<String>,
    /// The text as the platform gives it: quoted history, a helpdesk's
    /// notification layout and all (the classifier takes them apart).
    pub body: String,
    /// Mail headers (email-borne channels); empty for API channels.
    pub headers: Vec<(String, String)>,
    /// The MIME type of every part of a mail; empty for API channels.
    pub parts: Vec<String>,
    pub subject: Option<String>,
    /// How the message was matched to the probe (email threading rule), if it had to be.
    pub matched_by: Option<&'static str>,
}

impl Message {
    /// What the classifier decides on; `ours` are our names and addresses
    /// on the channel ([`Channel::identity`]).
    pub fn facts<'a>(&'a self, ours: &'a [String]) -> ReplyFacts<'a> {
        ReplyFacts {
            author_id: &self.author_id,
            author_name: &self.author_name,
            author_email: self.author_email.as_deref(),
            author_kind: self.author_kind,
            kind_evidence: self.kind_evidence.as_deref(),
            headers: &self.headers,
            subject: self.subject.as_deref(),
            body: &self.body,
            parts: &self.parts,
            ours,
        }
    }
}

/// What the channel shows for a ticket now.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub status: TicketStatus,
    /// When the status was last changed, by the channel's clock, if known.
    pub status_at: Option<Ts>,
    /// Every message, oldest first, including ours.
    pub messages: Vec<Message>,
    /// The team (group) the ticket is assigned to, where the platform shows it
    /// to the requester (Zendesk's and Freshdesk's `group_id`): a move to an
    /// engineers' team is an escalation.
    pub team: Option<String>,
}

/// The operation a channel call was part of: the `operation` metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Open,
    Find,
    Poll,
    Reply,
    Close,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Open => "open",
            Operation::Find => "find",
            Operation::Poll => "poll",
            Operation::Reply => "reply",
            Operation::Close => "close",
        }
    }
}

/// Why a channel call failed. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("authentication failed{}: {message}", http_hint(.status))]
    Auth { status: Option<u16>, message: String },
    #[error("not found (HTTP 404): {message}")]
    NotFound { message: String },
    #[error("rate limited (HTTP 429){}", retry_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("server error (HTTP {status}): {message}{}", retry_hint(.retry_after))]
    Server { status: u16, message: String, retry_after: Option<Duration> },
    #[error("request rejected (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("timed out after {}s", .0.as_secs_f32())]
    Timeout(Duration),
    #[error("cannot reach {host}: {cause}")]
    Unreachable {
        host: String,
        /// The transport's causes, e.g. "client error (Connect): tcp connect error: Connection refused (os error 111)".
        cause: String,
    },
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A connection-level failure outside HTTP (IMAP, SMTP).
    #[error("cannot reach {host}: {message}")]
    Connection { host: String, message: String },
    /// The server refused for good (e.g. an SMTP 5xx: no such recipient).
    #[error("refused: {message}")]
    Refused { message: String },
}

/// Things an adapter met while reading that belong to no call's result — an
/// item of a page it could not read — kept until the worker drains them
/// ([`Channel::drain_problems`]) and counts each once.
#[derive(Debug, Default)]
pub struct Problems(std::sync::Mutex<Vec<(&'static str, String)>>);

impl Problems {
    pub fn push(&self, kind: &'static str, message: String) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((kind, message));
    }

    /// An item of `what` (e.g. `comments[]`) that could not be read, named by its id.
    pub fn unreadable(&self, what: &str, item: &serde_json::Value, why: impl std::fmt::Display) {
        let id = ["id", "message_id", "key", "ts", "uuid"]
            .iter()
            .find_map(|k| item.get(k).filter(|v| !v.is_null()))
            .map_or_else(|| "without an id".to_string(), |v| format!("id {}", v.to_string().trim_matches('"')));
        let message = format!("skipped one item of {what} ({id}): {why}");
        tracing::warn!(what, %message, "skipped an unreadable item; the rest of the page is kept");
        self.push("unparseable", message);
    }

    pub fn drain(&self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Reads each item of a page on its own: an item that does not have the
/// platform's documented shape is skipped and reported, never the page.
pub fn items<T: serde::de::DeserializeOwned>(
    values: Vec<serde_json::Value>,
    what: &str,
    problems: &Problems,
) -> Vec<T> {
    values
        .into_iter()
        .filter_map(|v| match T::deserialize(&v) {
            Ok(t) => Some(t),
            Err(e) => {
                problems.unreadable(what, &v, e);
                None
            }
        })
        .collect()
}

/// Message bodies are stored and classified up to this many bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A body cut to [`MAX_BODY_BYTES`] on a character boundary.
pub fn clip_body(s: &str) -> String {
    if s.len() <= MAX_BODY_BYTES {
        return s.to_string();
    }
    let mut end = MAX_BODY_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A platform timestamp (RFC 3339 / ISO 8601 with offset), named in the error if it is not one.
pub fn parse_time(field: &str, s: &str) -> Result<Ts, ChannelError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| ChannelError::Malformed(format!("`{field}` is not an ISO 8601 time: {s:?}")))
}

fn http_hint(status: &Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

fn retry_hint(d: &Option<Duration>) -> String {
    d.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default()
}

impl ChannelError {
    /// The `kind` label of `supportprobe_channel_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelError::Auth { .. } => "auth",
            ChannelError::NotFound { .. } => "not_found",
            ChannelError::RateLimited { .. } => "rate_limited",
            ChannelError::Server { .. } => "server",
            ChannelError::Rejected { .. } => "rejected",
            ChannelError::Timeout(_) => "timeout",
            ChannelError::Unreachable { .. } => "unreachable",
            ChannelError::Malformed(_) => "malformed",
            ChannelError::Connection { .. } => "unreachable",
            ChannelError::Refused { .. } => "rejected",
        }
    }

    /// Worth trying again later: the vendor side may recover by itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChannelError::RateLimited { .. }
                | ChannelError::Server { .. }
                | ChannelError::Timeout(_)
                | ChannelError::Unreachable { .. }
                | ChannelError::Malformed(_)
                | ChannelError::Connection { .. }
        )
    }

    /// Whether a call that changes something at the vendor may have been
    /// applied although it failed (timeout, reset, a malformed success, a
    /// server error after the request was sent): look before retrying or
    /// giving up, never send again blindly.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            ChannelError::Server { .. }
                | ChannelError::Timeout(_)
                | ChannelError::Unreachable { .. }
                | ChannelError::Malformed(_)
                | ChannelError::Connection { .. }
        )
    }

    /// How long the vendor asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ChannelError::RateLimited { retry_after } | ChannelError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The adapter contract.
pub trait Channel {
    fn kind(&self) -> ChannelKind;

    /// Opens a ticket carrying `req.reference` in subject and body.
    fn open(&self, req: &OpenRequest<'_>) -> impl Future<Output = Result<Ticket, ChannelError>> + Send;

    /// Looks for a ticket we opened earlier with this reference (crash
    /// recovery: "did the create call we lost the answer to succeed?").
    fn find(&self, reference: &str) -> impl Future<Output = Result<Option<Ticket>, ChannelError>> + Send;

    /// Reads the ticket's status and whole history.
    fn poll(&self, ticket: &str) -> impl Future<Output = Result<Snapshot, ChannelError>> + Send;

    /// Adds a message of ours to the ticket.
    fn reply(&self, ticket: &str, body: &str) -> impl Future<Output = Result<(), ChannelError>> + Send;

    /// Things met while reading that belong to no call's result — mail that
    /// could not be parsed — as `(kind, message)`, each reported once. The
    /// worker counts them as channel errors (operation `read`).
    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// HTTP requests this channel has sent so far (0 where it sends none):
    /// what a poll costs against the rate budget, measured.
    fn requests_sent(&self) -> u64 {
        0
    }

    /// Our own names and addresses on this channel, so that our words are
    /// recognised when a platform relays them back (a helpdesk quoting our
    /// request in its notification).
    fn identity(&self) -> Vec<String> {
        Vec::new()
    }

    /// The courtesy close: posts `body` if given and marks the ticket solved
    /// if `solve` and the platform lets the requester do so.
    fn close(
        &self,
        ticket: &str,
        body: Option<&str>,
        solve: bool,
    ) -> impl Future<Output = Result<(), ChannelError>> + Send;
}

/// What a platform imposes and offers beyond its adapter: each channel kind's
/// folder declares one (`KIND::PLATFORM`), found by kind through [`platform`].
#[derive(Clone, Copy, Debug)]
pub struct Platform {
    /// The platform's documented default rate limit (lowest plan), requests
    /// per minute; a vendor's own `rate_limit_per_minute` replaces it.
    pub rate_per_minute: Option<u32>,
    /// Requests one poll of a ticket usually costs (a first page of each list
    /// it reads), before the worker has measured its own: what `check` plans with.
    pub requests_per_poll: f64,
    /// The shortest gap the platform allows between two polls of one channel,
    /// where it limits the polling method itself (beyond any rate budget): a
    /// channel polls at most once per gap however many probes are in flight.
    pub poll_gap: Option<std::time::Duration>,
    /// How its webhooks are checked and read, if it sends any we take.
    pub webhooks: Option<webhook::Webhooks>,
}

pub use registry::platform;

/// The platform's shortest gap between two polls of one channel, if it has one.
pub fn poll_gap(kind: ChannelKind) -> Option<std::time::Duration> {
    platform(kind).poll_gap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_respects_char_boundaries() {
        let s = "工".repeat(MAX_BODY_BYTES);
        let c = clip_body(&s);
        assert!(c.len() <= MAX_BODY_BYTES && c.len() > MAX_BODY_BYTES - 3 && c.chars().all(|ch| ch == '工'));
        assert_eq!(clip_body("short"), "short");
    }

    #[test]
    fn times_must_carry_an_offset() {
        assert_eq!(parse_time("t", "2026-11-24T01:47:52Z").unwrap().timestamp(), 1_795_484_872);
        let e = parse_time("Created", "2026-11-24 01:47:52").unwrap_err().to_string();
        assert!(e.contains("`Created`"), "{e}");
    }
}
