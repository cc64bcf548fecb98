//! Jira Service Management, from the customer's side: the `servicedeskapi`
//! customer requests and their comments (Basic `email:API token`).
//!
//! - open: `POST /rest/servicedeskapi/request` with the service desk, the
//!   request type and `summary`/`description`.
//! - poll: `GET /rest/servicedeskapi/request/{key}` (`currentStatus` with its
//!   `statusCategory` and `statusDate`), then the public comments
//!   (`?public=true&internal=false`, `start`/`limit` until `isLastPage`).
//!   Timestamps are Jira's `DateDTO`s: `epochMillis` is exact; `iso8601`
//!   (`2026-11-23T10:14:07+0800`, no colon in the offset) is the fallback.
//! - reply: `POST /rest/servicedeskapi/request/{key}/comment` with `public: true`.
//! - close: the comment, then the customer transition named like
//!   `close_transition` (default: the first whose name says resolve, close
//!   or done), when the desk offers one.
//! - find: our own requests (`requestOwnership=OWNED_REQUESTS`) searched for
//!   the reference.
//!
//! Authors: the request's reporter is us; other authors are looked up once
//! (`GET /rest/api/3/user`): `accountType: app` is a bot or automation,
//! `atlassian` an agent, another `customer` a bystander (reported, not
//! counted). A lookup that fails (a customer token without "Browse users",
//! Data Center, which has no such endpoint) makes that one author unknown,
//! counted once as a problem; it never fails the poll. Data Center's user
//! shape (`key`/`name` instead of `accountId`) and integer comment ids are
//! read too; one comment that does not read is skipped and counted. Internal
//! comments are never requested. A request whose status category is `DONE`
//! is resolved at its `statusDate`.

pub mod config;
pub mod webhook;

use std::collections::HashMap;

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;
use tracing::debug;

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::client::Http;
use crate::lifecycle::Ts;
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus, clip_body};
pub use config::JiraSmSettings;

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // Jira Cloud limits are cost-based and unpublished: a conservative rate.
    rate_per_minute: Some(100),
    // The request, then its comments.
    requests_per_poll: 2.0,
    poll_gap: None,
    webhooks: webhook::WEBHOOKS,
};

const PAGE: usize = 50;
const MAX_PAGES: usize = 100;

#[derive(Debug)]
pub struct JiraSmChannel {
    http: Http,
    settings: JiraSmSettings,
    base: Url,
    /// accountId → accountType, looked up once (a failed lookup is remembered as `unknown`).
    account_types: Mutex<HashMap<String, String>>,
    /// Items and authors that could not be read, until the worker counts them.
    problems: crate::Problems,
}

/// Jira's date: several renderings of one instant.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DateDto {
    #[serde(default)]
    epoch_millis: Option<i64>,
    #[serde(default)]
    iso8601: Option<String>,
}

impl DateDto {
    fn instant(&self, field: &str) -> Result<Ts, ChannelError> {
        if let Some(ms) = self.epoch_millis {
            return chrono::DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| ChannelError::Malformed(format!("`{field}.epochMillis` out of range: {ms}")));
        }
        let iso = self.iso8601.as_deref().unwrap_or("");
        parse_jira_time(iso).ok_or_else(|| ChannelError::Malformed(format!("`{field}` is not a Jira date: {iso:?}")))
    }
}

/// Jira's ISO 8601: `2026-11-23T10:14:07+0800` or with milliseconds
/// `2026-11-23T10:14:07.123+0800` (offset without a colon), or RFC 3339.
pub fn parse_jira_time(s: &str) -> Option<Ts> {
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserDto {
    #[serde(default)]
    account_id: Option<String>,
    /// Data Center identifies users by `key` and `name`.
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    status_category: Option<String>,
    #[serde(default)]
    status_date: Option<DateDto>,
}

#[derive(Debug, Deserialize)]
struct Links {
    #[serde(default)]
    web: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    issue_key: String,
    created_date: DateDto,
    #[serde(default)]
    reporter: Option<UserDto>,
    #[serde(default)]
    current_status: Option<Status>,
    #[serde(default)]
    request_field_values: Vec<FieldValue>,
    #[serde(rename = "_links", default)]
    links: Option<Links>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldValue {
    #[serde(default)]
    field_id: Option<String>,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Paged<T> {
    values: Vec<T>,
    #[serde(default)]
    is_last_page: Option<bool>,
}

impl UserDto {
    /// The user's id: Cloud's `accountId`, else Data Center's `key` or `name`.
    fn id(&self) -> Option<String> {
        [&self.account_id, &self.key, &self.name].into_iter().flatten().find(|s| !s.is_empty()).cloned()
    }
}

fn loose_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if !s.is_empty() => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("`id` is not a string or number: {other}"))),
    }
}

#[derive(Debug, Deserialize)]
struct Comment {
    #[serde(deserialize_with = "loose_id")]
    id: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    public: Option<bool>,
    #[serde(default)]
    author: Option<UserDto>,
    created: DateDto,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Account {
    #[serde(default)]
    account_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Transition {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

fn issue_key(ticket: &str) -> Result<&str, ChannelError> {
    let ok = ticket.split_once('-').is_some_and(|(p, n)| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
    });
    if ok { Ok(ticket) } else { Err(ChannelError::Malformed(format!("`{ticket}` is not a Jira issue key"))) }
}

impl JiraSmChannel {
    pub fn new(http: Http, settings: JiraSmSettings) -> JiraSmChannel {
        let base = crate::client::api_root(&settings.base_url);
        JiraSmChannel {
            http,
            settings,
            base,
            account_types: Mutex::new(HashMap::new()),
            problems: crate::Problems::default(),
        }
    }

    fn url(&self, path: &str) -> Result<Url, ChannelError> {
        crate::client::endpoint(&self.base, path)
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .client
            .request(method, url)
            .header("Accept", "application/json")
            .basic_auth(&self.settings.email, Some(self.settings.api_token.expose()))
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: Url) -> Result<T, ChannelError> {
        self.http.json(self.request(Method::GET, url)).await
    }

    fn ticket_of(&self, r: &Request) -> Result<Ticket, ChannelError> {
        Ok(Ticket {
            id: r.issue_key.clone(),
            url: r.links.as_ref().and_then(|l| l.web.clone()),
            created_at: r.created_date.instant("createdDate")?,
        })
    }

    /// The author's account type; `unknown` when Jira will not say (the
    /// failure is counted once and remembered, so one author never fails a poll).
    async fn account_type(&self, account_id: &str) -> String {
        if account_id.is_empty() {
            return "unknown".into();
        }
        if let Some(t) = self.account_types.lock().await.get(account_id) {
            return t.clone();
        }
        let looked_up = async {
            let mut url = self.url("rest/api/3/user")?;
            url.query_pairs_mut().append_pair("accountId", account_id);
            self.get::<Account>(url).await
        };
        let t = match looked_up.await {
            Ok(a) => a.account_type.unwrap_or_else(|| "unknown".into()),
            Err(e) => {
                self.problems
                    .push(e.kind(), format!("author {account_id} could not be looked up ({e}); counted as unknown"));
                "unknown".into()
            }
        };
        self.account_types.lock().await.insert(account_id.to_string(), t.clone());
        t
    }

    async fn message_of(&self, c: &Comment, reporter: Option<&str>) -> Result<Option<Message>, ChannelError> {
        let account = c.author.as_ref().and_then(UserDto::id).unwrap_or_default();
        let (kind, evidence) = if !account.is_empty() && Some(account.as_str()) == reporter {
            (AuthorKind::Requester, "reporter".to_string())
        } else {
            match self.account_type(&account).await.as_str() {
                "app" => (AuthorKind::Bot, "accountType=app".to_string()),
                "atlassian" => (AuthorKind::Agent, "accountType=atlassian".to_string()),
                "customer" => (AuthorKind::Bystander, "accountType=customer, not the reporter".to_string()),
                other => (AuthorKind::Unknown, format!("accountType={other}")),
            }
        };
        Ok(Some(Message {
            id: c.id.clone(),
            at: c.created.instant("comment.created")?,
            author_id: account,
            author_name: c.author.as_ref().and_then(|a| a.display_name.clone()).unwrap_or_default(),
            author_email: c.author.as_ref().and_then(|a| a.email_address.clone()),
            author_kind: kind,
            kind_evidence: Some(evidence),
            body: clip_body(c.body.as_deref().unwrap_or("")),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: None,
            matched_by: None,
        }))
    }

    async fn comment(&self, key: &str, body: &str) -> Result<(), ChannelError> {
        let url = self.url(&format!("rest/servicedeskapi/request/{}/comment", issue_key(key)?))?;
        self.http.send(self.request(Method::POST, url).json(&json!({ "body": body, "public": true }))).await.map(drop)
    }
}

impl Channel for JiraSmChannel {
    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::JiraSm
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let body = json!({
            "serviceDeskId": self.settings.service_desk_id,
            "requestTypeId": self.settings.request_type_id,
            "requestFieldValues": { "summary": req.subject, "description": req.body },
        });
        let url = self.url("rest/servicedeskapi/request")?;
        let r: Request = self.http.json(self.request(Method::POST, url).json(&body)).await?;
        self.ticket_of(&r)
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        let mut url = self.url("rest/servicedeskapi/request")?;
        url.query_pairs_mut()
            .append_pair("searchTerm", reference)
            .append_pair("requestOwnership", "OWNED_REQUESTS")
            .append_pair("requestStatus", "ALL_REQUESTS")
            .append_pair("limit", "50");
        let page: Paged<Request> = self.get(url).await?;
        for r in &page.values {
            let text = r
                .request_field_values
                .iter()
                .filter(|f| matches!(f.field_id.as_deref(), Some("summary" | "description")))
                .filter_map(|f| f.value.as_ref().map(|v| v.to_string()))
                .collect::<String>();
            if text.contains(reference) {
                return self.ticket_of(r).map(Some);
            }
        }
        Ok(None)
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let key = issue_key(ticket)?;
        let r: Request = self.get(self.url(&format!("rest/servicedeskapi/request/{key}"))?).await?;
        if r.issue_key != key {
            return Err(ChannelError::Malformed(format!("asked for {key}, Jira answered with {}", r.issue_key)));
        }
        let reporter = r.reporter.as_ref().and_then(UserDto::id);
        let (status, status_at) = match &r.current_status {
            Some(s) => {
                let st = match s.status_category.as_deref() {
                    Some("DONE") => TicketStatus::Solved,
                    Some("NEW" | "INDETERMINATE") => TicketStatus::Open,
                    _ => TicketStatus::Other(s.status.clone().unwrap_or_default()),
                };
                (st, s.status_date.as_ref().map(|d| d.instant("statusDate")).transpose()?)
            }
            None => (TicketStatus::Other(String::new()), None),
        };
        let mut messages = Vec::new();
        let mut pages = crate::client::Pages::new(0, MAX_PAGES, "comments");
        while let Some(start) = pages.take()? {
            let mut url = self.url(&format!("rest/servicedeskapi/request/{key}/comment"))?;
            url.query_pairs_mut()
                .append_pair("public", "true")
                .append_pair("internal", "false")
                .append_pair("start", &start.to_string())
                .append_pair("limit", &PAGE.to_string());
            let page: Paged<serde_json::Value> = self.get(url).await?;
            let n = page.values.len();
            for raw in page.values {
                let Some(c) = crate::items::<Comment>(vec![raw.clone()], "comments", &self.problems).pop() else {
                    continue;
                };
                if c.public != Some(false) {
                    match self.message_of(&c, reporter.as_deref()).await {
                        Ok(m) => messages.extend(m),
                        Err(e) => self.problems.unreadable("comments", &raw, e),
                    }
                }
            }
            pages.then((!page.is_last_page.unwrap_or(n < PAGE) && n > 0).then_some(start + n));
        }
        messages.sort_by_key(|m| m.at);
        Ok(Snapshot { status, status_at, messages, team: None })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        self.comment(ticket, body).await
    }

    async fn close(&self, ticket: &str, body: Option<&str>, solve: bool) -> Result<(), ChannelError> {
        let key = issue_key(ticket)?;
        if let Some(b) = body {
            self.comment(key, b).await?;
        }
        if !solve {
            return Ok(());
        }
        let page: Paged<Transition> =
            self.get(self.url(&format!("rest/servicedeskapi/request/{key}/transition"))?).await?;
        let wanted = |name: &str| match &self.settings.close_transition {
            Some(w) => name.eq_ignore_ascii_case(w),
            None => {
                let n = name.to_ascii_lowercase();
                n.contains("resolve") || n.contains("close") || n.contains("done")
            }
        };
        let Some(t) = page.values.iter().find(|t| t.name.as_deref().is_some_and(wanted)) else {
            debug!(key, "no customer transition closes this request; the comment is the close");
            return Ok(());
        };
        let url = self.url(&format!("rest/servicedeskapi/request/{key}/transition"))?;
        self.http.send(self.request(Method::POST, url).json(&json!({ "id": t.id }))).await.map(drop)
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    http: crate::client::Http,
    settings: &JiraSmSettings,
    _timeout: std::time::Duration,
) -> Result<JiraSmChannel, crate::ChannelError> {
    Ok(JiraSmChannel::new(http, settings.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_dates() {
        let a = parse_jira_time("2026-11-23T10:14:07+0800").unwrap();
        assert_eq!(a.to_rfc3339(), "2026-11-23T02:14:07+00:00");
        let b = parse_jira_time("2026-11-23T10:14:07.123+0800").unwrap();
        assert_eq!(b.timestamp_millis() - a.timestamp_millis(), 123);
        assert!(parse_jira_time("2026-11-23T02:14:07Z").is_some());
        assert!(parse_jira_time("23/Nov/26 10:14 AM").is_none());
        let d = DateDto { epoch_millis: Some(1_795_400_047_123), iso8601: Some("garbage".into()) };
        assert_eq!(d.instant("x").unwrap().timestamp_millis(), 1_795_400_047_123, "epochMillis wins");
    }

    #[test]
    fn keys() {
        assert!(issue_key("SD-123").is_ok() && issue_key("RTC2-7").is_ok());
        assert!(
            issue_key("sd-1").is_err()
                && issue_key("SD-").is_err()
                && issue_key("../x-1").is_err()
                && issue_key("123").is_err()
        );
    }
}
