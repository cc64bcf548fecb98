//! GitHub: an issue on the vendor's public repository (their SDK's issue
//! tracker), through the REST API (`X-GitHub-Api-Version: 2022-11-28`).
//!
//! - open: `POST /repos/{owner}/{repo}/issues` with title, body and labels.
//! - poll: `GET /repos/{owner}/{repo}/issues/{number}` (state, `closed_at`,
//!   `state_reason`), then its comments, `per_page=100`, following the `Link`
//!   header's `rel="next"` on the same origin only.
//! - reply: `POST …/issues/{number}/comments`.
//! - close: the comment, then `PATCH …/issues/{number}` with
//!   `state: closed, state_reason: completed` (an issue's author may close it).
//! - find: the repository's issues created by us (`GET /user` says who we
//!   are), newest first, scanned for the reference; pull requests skipped.
//!
//! Authors: the issue's author is us; `user.type = "Bot"` or a comment made
//! through a GitHub App (`performed_via_github_app`) is a bot; the
//! repository's `OWNER`, `MEMBER` and `COLLABORATOR`s are the vendor's
//! people; anyone else is a bystander whose comment is not the vendor's
//! answer: reported as a bystander (recorded, not counted), or as an unknown
//! author the classifier judges when `staff_only = false`. One comment that
//! does not read is skipped and counted, never the page. A closed issue is
//! resolved at `closed_at`. Rate limits: 403/429 with
//! `x-ratelimit-remaining: 0` wait until `x-ratelimit-reset`.

pub mod config;
pub mod webhook;

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tracing::debug;

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::client::Http;
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus, clip_body, parse_time};
pub use config::GithubSettings;

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // GitHub: 5,000/hour per token, secondary limit 80 content-creating requests/min.
    rate_per_minute: Some(80),
    // The issue, then its comments.
    requests_per_poll: 2.0,
    poll_gap: None,
    webhooks: webhook::WEBHOOKS,
};

/// No issue has more pages of comments than this.
const MAX_PAGES: usize = 100;
/// Pages of our own issues crash recovery looks through.
const FIND_PAGES: usize = 3;

#[derive(Debug)]
pub struct GithubChannel {
    http: Http,
    settings: GithubSettings,
    /// The API root with a trailing slash.
    api: Url,
    /// Our login, from `GET /user`, once.
    login: OnceCell<String>,
    /// Items skipped while reading, until the worker counts them.
    problems: crate::Problems,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
    #[serde(default)]
    id: Option<i64>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct App {
    #[serde(default)]
    slug: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Issue {
    number: u64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    state_reason: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    user: Option<User>,
    created_at: String,
    #[serde(default)]
    closed_at: Option<String>,
    #[serde(default)]
    pull_request: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: Option<User>,
    created_at: String,
    #[serde(default)]
    author_association: Option<String>,
    #[serde(default)]
    performed_via_github_app: Option<App>,
}

fn status_of(state: Option<&str>, reason: Option<&str>) -> TicketStatus {
    match (state.unwrap_or(""), reason) {
        ("open", _) => TicketStatus::Open,
        ("closed", Some("not_planned")) => TicketStatus::Closed,
        ("closed", _) => TicketStatus::Solved,
        (other, _) => TicketStatus::Other(other.to_string()),
    }
}

fn number(ticket: &str) -> Result<u64, ChannelError> {
    ticket
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && ticket.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ChannelError::Malformed(format!("`{ticket}` is not a GitHub issue number")))
}

impl GithubChannel {
    pub fn new(http: Http, settings: GithubSettings) -> GithubChannel {
        let api = crate::client::api_root(&settings.api_url);
        GithubChannel { http, settings, api, login: OnceCell::new(), problems: crate::Problems::default() }
    }

    fn url(&self, path: &str) -> Result<Url, ChannelError> {
        crate::client::endpoint(&self.api, path)
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("repos/{}/{}/{rest}", self.settings.owner, self.settings.repo)
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .client
            .request(method, url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .bearer_auth(self.settings.token.expose())
    }

    /// One page and the next page's URL.
    async fn page<T: serde::de::DeserializeOwned>(&self, url: Url) -> Result<(T, Option<Url>), ChannelError> {
        self.http.linked_page(self.request(Method::GET, url), &self.api).await
    }

    async fn login(&self) -> Result<&str, ChannelError> {
        self.login
            .get_or_try_init(|| async {
                let me: User = self.http.json(self.request(Method::GET, self.url("user")?)).await?;
                Ok::<_, ChannelError>(me.login)
            })
            .await
            .map(String::as_str)
    }

    fn ticket_of(&self, i: &Issue) -> Result<Ticket, ChannelError> {
        Ok(Ticket {
            id: i.number.to_string(),
            url: i.html_url.clone(),
            created_at: parse_time("created_at", &i.created_at)?,
        })
    }

    /// What a comment is, as GitHub describes its author; `None` for a bystander.
    fn message_of(&self, c: &Comment, requester: &str) -> Result<Option<Message>, ChannelError> {
        let login = c.user.as_ref().map_or("ghost", |u| u.login.as_str());
        let association = c.author_association.as_deref().unwrap_or("NONE");
        let (kind, evidence) = if login.eq_ignore_ascii_case(requester) {
            (AuthorKind::Requester, "issue author".to_string())
        } else if c.user.as_ref().and_then(|u| u.kind.as_deref()) == Some("Bot") {
            (AuthorKind::Bot, "user.type=Bot".to_string())
        } else if let Some(app) = &c.performed_via_github_app {
            (AuthorKind::Bot, format!("performed_via_github_app={}", app.slug.as_deref().unwrap_or("?")))
        } else if matches!(association, "OWNER" | "MEMBER" | "COLLABORATOR") {
            (AuthorKind::Agent, format!("author_association={association}"))
        } else if self.settings.staff_only {
            debug!(login, association, "comment by someone outside the vendor; recorded, not counted");
            (AuthorKind::Bystander, format!("author_association={association}, not staff"))
        } else {
            (AuthorKind::Unknown, format!("author_association={association}"))
        };
        Ok(Some(Message {
            id: c.id.to_string(),
            at: parse_time("comments[].created_at", &c.created_at)?,
            author_id: c.user.as_ref().and_then(|u| u.id).map_or_else(|| login.to_string(), |id| id.to_string()),
            author_name: login.to_string(),
            author_email: None,
            author_kind: kind,
            kind_evidence: Some(evidence),
            body: clip_body(c.body.as_deref().unwrap_or("")),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: None,
            matched_by: None,
        }))
    }

    async fn comment(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        let url = self.url(&self.repo_path(&format!("issues/{}/comments", number(ticket)?)))?;
        self.http.send(self.request(Method::POST, url).json(&json!({ "body": body }))).await.map(drop)
    }
}

impl Channel for GithubChannel {
    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Github
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let mut body = json!({ "title": req.subject, "body": req.body });
        if !self.settings.labels.is_empty() {
            body["labels"] = json!(self.settings.labels);
        }
        let url = self.url(&self.repo_path("issues"))?;
        let issue: Issue = self.http.json(self.request(Method::POST, url).json(&body)).await?;
        self.ticket_of(&issue)
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        let login = self.login().await?.to_string();
        let mut url = self.url(&self.repo_path("issues"))?;
        url.query_pairs_mut()
            .append_pair("creator", &login)
            .append_pair("state", "all")
            .append_pair("sort", "created")
            .append_pair("direction", "desc")
            .append_pair("per_page", "100");
        let mut pages = crate::client::Pages::first(url, FIND_PAGES);
        while let Some(url) = pages.take()? {
            let (issues, next): (Vec<Issue>, _) = self.page(url).await?;
            let hit = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains(reference));
            if let Some(i) = issues.iter().find(|i| i.pull_request.is_none() && (hit(&i.title) || hit(&i.body))) {
                return self.ticket_of(i).map(Some);
            }
            pages.then(next);
        }
        Ok(None)
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let n = number(ticket)?;
        let issue: Issue =
            self.http.json(self.request(Method::GET, self.url(&self.repo_path(&format!("issues/{n}")))?)).await?;
        if issue.number != n {
            return Err(ChannelError::Malformed(format!(
                "asked for issue {n}, GitHub answered with issue {}",
                issue.number
            )));
        }
        let requester = issue.user.as_ref().map(|u| u.login.clone()).unwrap_or_default();
        let status = status_of(issue.state.as_deref(), issue.state_reason.as_deref());
        let status_at = issue.closed_at.as_deref().map(|t| parse_time("closed_at", t)).transpose()?;
        let mut messages = vec![Message {
            id: format!("issue-{n}"),
            at: parse_time("created_at", &issue.created_at)?,
            author_id: issue.user.as_ref().and_then(|u| u.id).map(|i| i.to_string()).unwrap_or_default(),
            author_name: requester.clone(),
            author_email: None,
            author_kind: AuthorKind::Requester,
            kind_evidence: Some("issue author".into()),
            body: clip_body(issue.body.as_deref().unwrap_or("")),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: issue.title.clone(),
            matched_by: None,
        }];
        let mut url = self.url(&self.repo_path(&format!("issues/{n}/comments")))?;
        url.query_pairs_mut().append_pair("per_page", "100");
        let mut seen = std::collections::HashSet::new();
        let mut pages = crate::client::Pages::new(url, MAX_PAGES, "comments");
        while let Some(url) = pages.take()? {
            let (comments, next): (Vec<Value>, _) = self.page(url).await?;
            for raw in comments {
                let Some(c) = crate::items::<Comment>(vec![raw.clone()], "comments", &self.problems).pop() else {
                    continue;
                };
                if seen.insert(c.id) {
                    match self.message_of(&c, &requester) {
                        Ok(m) => messages.extend(m),
                        Err(e) => self.problems.unreadable("comments", &raw, e),
                    }
                }
            }
            pages.then(next);
        }
        messages.sort_by_key(|m| m.at);
        Ok(Snapshot { status, status_at, messages, team: None })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        self.comment(ticket, body).await
    }

    async fn close(&self, ticket: &str, body: Option<&str>, solve: bool) -> Result<(), ChannelError> {
        if let Some(b) = body {
            self.comment(ticket, b).await?;
        }
        if solve {
            let url = self.url(&self.repo_path(&format!("issues/{}", number(ticket)?)))?;
            let patch = json!({ "state": "closed", "state_reason": "completed" });
            self.http.send(self.request(Method::PATCH, url).json(&patch)).await?;
        }
        Ok(())
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    http: crate::client::Http,
    settings: &GithubSettings,
    _timeout: std::time::Duration,
) -> Result<GithubChannel, crate::ChannelError> {
    Ok(GithubChannel::new(http, settings.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_numbers() {
        assert_eq!(status_of(Some("open"), None), TicketStatus::Open);
        assert_eq!(status_of(Some("closed"), Some("completed")), TicketStatus::Solved);
        assert_eq!(status_of(Some("closed"), Some("not_planned")), TicketStatus::Closed);
        assert!(number("42").is_ok());
        assert!(number("0").is_err() && number("-1").is_err() && number("1/../x").is_err() && number("+4").is_err());
    }
}
