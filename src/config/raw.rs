//! Serde mirror of the config file. Every table denies unknown keys; every
//! value that can be checked alone is a validated newtype, so the TOML parser
//! reports it with its location. See the README's configuration reference.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::classify::ClassifyOverrides;
use crate::duration::Dur;
use crate::model::Priority;
pub use crate::value::{ListenAddr, Share};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub calendars: BTreeMap<Spanned<String>, RawCalendar>,
    #[serde(default)]
    pub vendors: BTreeMap<Spanned<String>, RawVendor>,
    #[serde(default)]
    pub schedules: Vec<RawSchedule>,
    /// The simulated vendors' table: read by the simulator's own schema
    /// (`supportprobe-simulator`), not by the daemon's.
    pub simulator: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub notify: BTreeMap<Spanned<String>, Spanned<RawNotify>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    #[serde(default = "default_listen")]
    pub listen: ListenAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "default_probes_dir")]
    pub probes_dir: PathBuf,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default = "default_misfire_grace")]
    pub misfire_grace: Dur,
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: Dur,
    /// Bearer token required by the mutating HTTP endpoints (`POST /-/reload`).
    pub api_token: Option<Spanned<String>>,
    pub api_token_file: Option<Spanned<PathBuf>>,
}

impl Default for RawDaemon {
    fn default() -> Self {
        RawDaemon {
            listen: default_listen(),
            data_dir: default_data_dir(),
            probes_dir: default_probes_dir(),
            dry_run: false,
            misfire_grace: default_misfire_grace(),
            shutdown_grace: default_shutdown_grace(),
            api_token: None,
            api_token_file: None,
        }
    }
}

fn default_listen() -> ListenAddr {
    ListenAddr(SocketAddr::from(([127, 0, 0, 1], 9897)))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_probes_dir() -> PathBuf {
    PathBuf::from("probes")
}
fn default_misfire_grace() -> Dur {
    Dur::from_secs(300)
}
fn default_shutdown_grace() -> Dur {
    Dur::from_secs(10)
}

/// An IANA time zone name, checked on read.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct TzName(pub Tz);

impl TryFrom<String> for TzName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Tz::from_str(&s)
            .map(TzName)
            .map_err(|_| format!("unknown time zone `{s}` (expected an IANA name such as `Asia/Shanghai` or `UTC`)"))
    }
}

/// A 6- or 7-field cron expression (`sec min hour day month weekday [year]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct CronExpr {
    pub schedule: cron::Schedule,
    pub text: String,
}

impl TryFrom<String> for CronExpr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let fields = s.split_whitespace().count();
        if fields == 5 {
            return Err(format!(
                "cron `{s}` has 5 fields; supportprobe uses 6 (sec min hour day month weekday), e.g. `0 {s}`"
            ));
        }
        if !(6..=7).contains(&fields) {
            return Err(format!(
                "cron `{s}` has {fields} fields; expected 6 (sec min hour day month weekday) or 7 (with year)"
            ));
        }
        let schedule = cron::Schedule::from_str(&s).map_err(|e| format!("invalid cron `{s}`: {e}"))?;
        Ok(CronExpr { schedule, text: s })
    }
}

/// A URL with an http or https scheme.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpUrl(pub reqwest::Url);

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let url = reqwest::Url::parse(&s).map_err(|e| format!("invalid URL `{s}`: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("URL `{s}` must start with https:// (or http:// for local tests)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("put credentials in the token/password keys, not in the URL".into());
        }
        Ok(HttpUrl(url))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    pub timezone: TzName,
    /// `mon-fri = "09:00-18:00"`; keys are weekday sets, values time ranges.
    #[serde(default)]
    pub weekly: BTreeMap<Spanned<String>, Spanned<String>>,
    /// `"2026-10-01..2026-10-07"` or single dates.
    #[serde(default)]
    pub holidays: Vec<Spanned<String>>,
    /// Make-up working days: `"2026-10-10" = "09:00-18:00"`.
    #[serde(default)]
    pub workdays: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVendor {
    pub name: Option<String>,
    #[serde(default)]
    pub promise: BTreeMap<Priority, RawPromise>,
    #[serde(default)]
    pub channels: BTreeMap<Spanned<String>, Spanned<RawChannel>>,
    #[serde(default)]
    pub caps: RawCaps,
    #[serde(default)]
    pub classify: ClassifyOverrides,
    /// Share of judged measures that should meet the promise (the compliance alert's threshold).
    pub compliance_target: Option<Share>,
    /// The vendor's API limit, all its channels together (requests per minute).
    pub rate_limit_per_minute: Option<Spanned<u32>>,
    /// Vendors naming the same budget share one (e.g. several repositories read with our one token).
    pub rate_budget: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPromise {
    pub first_response: Option<Dur>,
    pub next_reply: Option<Dur>,
    pub resolution: Option<Dur>,
    pub calendar: Option<Spanned<String>>,
}

/// A channel table: shared settings plus exactly one kind table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    pub poll_interval: Option<Dur>,
    pub min_request_interval: Option<Dur>,
    pub timeout: Option<Dur>,
    /// The platform's webhook signing secret: replies are noticed at once.
    pub webhook_secret: Option<Spanned<String>>,
    pub webhook_secret_file: Option<Spanned<PathBuf>>,
    pub zendesk: Option<Spanned<RawZendesk>>,
    pub email: Option<Spanned<RawEmailChannel>>,
    pub rt: Option<Spanned<RawRt>>,
    pub github: Option<Spanned<RawGithub>>,
    pub manual: Option<Spanned<RawManual>>,
    pub freshdesk: Option<Spanned<RawFreshdesk>>,
    pub jira_sm: Option<Spanned<RawJiraSm>>,
    pub slack: Option<Spanned<RawSlackChannel>>,
    pub intercom: Option<Spanned<RawIntercom>>,
    pub feishu: Option<Spanned<RawFeishuChannel>>,
    pub http: Option<Spanned<RawGeneric>>,
}

/// A REST ticket API described in config (see `channel::generic`). Field
/// paths are JSON pointers; they keep their spans so a mistake is shown
/// where it was written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeneric {
    pub base_url: HttpUrl,
    /// Sent with every request; values may be secrets (`${VAR}`).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Spanned<String>>,
    pub open: RawGenericOpen,
    pub poll: RawGenericPoll,
    pub reply: RawGenericCall,
    pub close: Option<RawGenericCall>,
    /// How to find a ticket by its reference (crash recovery).
    pub find: Option<RawGenericFind>,
    /// Author-kind field values to `requester`, `agent`, `bot` or `automation`.
    #[serde(default)]
    pub kinds: std::collections::BTreeMap<String, Spanned<String>>,
    /// For values `kinds` does not map (default `agent`).
    pub default_kind: Option<Spanned<String>>,
    /// Status values that mean resolved.
    #[serde(default)]
    pub resolved_values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenericCall {
    /// Default `POST`.
    pub method: Option<Spanned<String>>,
    pub path: String,
    pub body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenericOpen {
    /// Default `POST`.
    pub method: Option<Spanned<String>>,
    pub path: String,
    pub body: Option<String>,
    /// JSON pointer to the new ticket's id.
    pub id: Spanned<String>,
    pub created_at: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenericPoll {
    /// The request that returns the replies (GET).
    pub path: String,
    /// A separate request for the status, when the replies' answer lacks it.
    pub status_path: Option<String>,
    pub status: Option<Spanned<String>>,
    pub status_at: Option<Spanned<String>>,
    pub replies: Spanned<String>,
    pub reply_id: Spanned<String>,
    pub reply_at: Spanned<String>,
    pub reply_body: Spanned<String>,
    pub reply_author: Option<Spanned<String>>,
    pub reply_author_kind: Option<Spanned<String>>,
    /// JSON pointer to the next page's URL (absent, null or empty: the last
    /// page). A `Link: <…>; rel="next"` header is followed without it.
    pub next: Option<Spanned<String>>,
}

/// A listing of our tickets in which a lost ticket is recognised by its
/// reference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenericFind {
    /// The request (GET) that lists our tickets, newest first if it can;
    /// may use `{{reference}}` when the API can search.
    pub path: String,
    /// JSON pointer to the array of tickets in the answer.
    pub items: Spanned<String>,
    /// Within a ticket: its id, and its creation time (the probe is timed from it).
    pub id: Spanned<String>,
    pub created_at: Spanned<String>,
    /// Within a ticket: the fields that may carry the reference (subject, description).
    pub matches: Spanned<Vec<Spanned<String>>>,
    /// JSON pointer to the next page's URL (or a `Link` header).
    pub next: Option<Spanned<String>>,
    /// How many pages to read at most (default 5).
    pub pages: Option<Spanned<u32>>,
}

/// A Feishu / Lark support group, through our app (bot) in it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeishuChannel {
    /// `https://open.feishu.cn` (Lark: `https://open.larksuite.com`).
    pub api_url: Option<HttpUrl>,
    pub app_id: String,
    pub app_secret: Option<Spanned<String>>,
    pub app_secret_file: Option<Spanned<PathBuf>>,
    /// The support group's chat id (`oc_…`).
    pub chat_id: Spanned<String>,
    /// Our tenant: members of it in the group are colleagues, not the vendor.
    pub our_tenant_key: Option<String>,
}

/// An Intercom conversation started by our contact.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntercom {
    /// `https://api.intercom.io` (or the EU/AU region's API).
    pub api_url: Option<HttpUrl>,
    pub token: Option<Spanned<String>>,
    pub token_file: Option<Spanned<PathBuf>>,
    /// Our contact's Intercom id: conversations are started as it.
    pub contact_id: String,
}

/// A thread in the vendor's shared Slack channel (Slack Connect).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackChannel {
    /// `https://slack.com/api` by default.
    pub api_url: Option<HttpUrl>,
    /// The shared channel's id (`C0123ABCD`).
    pub channel: Spanned<String>,
    /// A user token (`xoxp-…`) or bot token (`xoxb-…`) with chat:write and the history scopes.
    pub token: Option<Spanned<String>>,
    pub token_file: Option<Spanned<PathBuf>>,
    /// The reaction on the thread that means "resolved".
    #[serde(default = "default_reaction")]
    pub resolved_reaction: String,
}

fn default_reaction() -> String {
    "white_check_mark".into()
}

/// Jira Service Management's customer requests, as the customer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJiraSm {
    /// `https://SITE.atlassian.net`.
    pub base_url: HttpUrl,
    /// The customer account's email (Basic `email:API token`).
    pub email: Spanned<String>,
    pub api_token: Option<Spanned<String>>,
    pub api_token_file: Option<Spanned<PathBuf>>,
    pub service_desk_id: String,
    pub request_type_id: String,
    /// The customer transition the courtesy close takes (default: one named resolve/close/done).
    pub close_transition: Option<String>,
}

/// A Freshdesk help desk, through its v2 REST API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFreshdesk {
    /// `https://DOMAIN.freshdesk.com` (no `/api/v2`).
    pub base_url: HttpUrl,
    /// The requester's address: tickets are opened for it.
    pub email: Spanned<String>,
    pub api_key: Option<Spanned<String>>,
    pub api_key_file: Option<Spanned<PathBuf>>,
    #[serde(default = "yes")]
    pub set_priority: bool,
}

/// A channel a person works: the phone hotline, the account manager.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManual {
    /// Whom to reach and how: `"+86 400 810 0000, option 2 (P0 hotline)"`.
    pub contact: String,
    /// What the operator should do besides saying the probe's text.
    pub instructions: Option<String>,
}

/// An issue on the vendor's public repository (their SDK's issue tracker).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGithub {
    /// `https://api.github.com`, or a GitHub Enterprise Server's `https://HOST/api/v3`.
    pub api_url: Option<HttpUrl>,
    /// `owner/repo`.
    pub repository: Spanned<String>,
    pub token: Option<Spanned<String>>,
    pub token_file: Option<Spanned<PathBuf>>,
    /// Labels put on every probe issue.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Only the repository's owners, members and collaborators (and bots) answer
    /// for the vendor; comments by other users are not counted.
    #[serde(default = "yes")]
    pub staff_only: bool,
}

/// Request Tracker over its REST2 API, as the requester.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRt {
    /// RT's web root (`https://rt.example.com/`); REST2 is at `REST/2.0/` under it.
    pub base_url: HttpUrl,
    #[serde(default = "default_queue")]
    pub queue: String,
    /// Our address: the ticket's requestor (REST2 does not default it to the caller).
    pub requestor: Spanned<String>,
    /// Basic authentication.
    pub username: Option<String>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    /// An RT auth token (`Authorization: token …`), instead of username and password.
    pub token: Option<Spanned<String>>,
    pub token_file: Option<Spanned<PathBuf>>,
    /// The courtesy close also sets the status to `resolved` (needs ModifyTicket).
    #[serde(default = "yes")]
    pub resolve_on_close: bool,
}

fn default_queue() -> String {
    "General".into()
}

/// The email channel: probes go out by SMTP to the vendor's support
/// address; replies come back to our mailbox, read over IMAP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailChannel {
    /// The vendor's support address.
    pub to: Spanned<String>,
    /// Our address (and the IMAP mailbox replies arrive in).
    pub from: Spanned<String>,
    /// Reply-To `local+REFERENCE@domain`, so replies carry the probe.
    #[serde(default = "yes")]
    pub plus_addressing: bool,
    /// Bcc our own mailbox, so crash recovery and follow-up timing can see what we sent.
    #[serde(default = "yes")]
    pub bcc_self: bool,
    /// Domain of our Message-IDs (default: `from`'s domain).
    pub message_id_domain: Option<String>,
    /// Mail larger than this is not parsed (default 10 MiB).
    pub max_message_bytes: Option<u64>,
    pub smtp: Spanned<RawSmtp>,
    pub imap: Spanned<RawImap>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    /// PEM CA certificates trusted besides the system's (a private CA).
    pub ca_file: Option<Spanned<PathBuf>>,
}

/// How to talk to the IMAP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapTls {
    /// Plain IMAP (loopback servers only).
    None,
    /// STARTTLS on port 143.
    Starttls,
    /// Implicit TLS on port 993.
    Tls,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImap {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default = "default_imap_tls")]
    pub tls: ImapTls,
    pub username: String,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    /// PEM CA certificates trusted besides the system's (a private CA).
    pub ca_file: Option<Spanned<PathBuf>>,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// Use IDLE when the server offers it (replies noticed at once).
    #[serde(default = "yes")]
    pub idle: bool,
}

fn default_imap_tls() -> ImapTls {
    ImapTls::Tls
}
fn default_mailbox() -> String {
    "INBOX".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZendesk {
    pub base_url: HttpUrl,
    pub email: Option<String>,
    pub token: Option<Spanned<String>>,
    pub token_file: Option<Spanned<PathBuf>>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    pub oauth_token: Option<Spanned<String>>,
    pub oauth_token_file: Option<Spanned<PathBuf>>,
    #[serde(default = "yes")]
    pub set_priority: bool,
    #[serde(default = "default_recovery_pages")]
    pub recovery_pages: u32,
}

fn yes() -> bool {
    true
}
fn default_recovery_pages() -> u32 {
    3
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaps {
    pub max_open: Option<u32>,
    pub max_per_day: Option<u32>,
    #[serde(default)]
    pub paused: bool,
    /// Time zone for `quiet` and `quiet_weekly` (default UTC).
    pub timezone: Option<TzName>,
    /// `"2026-12-24..2026-12-26"` (whole days) or `"2026-12-24T18:00..2026-12-25T09:00"`.
    #[serde(default)]
    pub quiet: Vec<Spanned<String>>,
    #[serde(default)]
    pub quiet_weekly: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub scenario: Spanned<String>,
    /// Vendor ids, or `["*"]` for all.
    pub vendors: Spanned<Vec<Spanned<String>>>,
    /// Channel ids or kinds; all channels of each vendor when absent.
    pub channels: Option<Vec<Spanned<String>>>,
    pub cron: CronExpr,
    pub timezone: Option<TzName>,
    pub jitter: Option<Dur>,
    pub give_up_after: Option<Dur>,
    pub follow_up_delay: Option<Dur>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A notification target: filters plus exactly one kind table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// Events to send (all when empty).
    #[serde(default)]
    pub events: Vec<crate::model::NotifyEvent>,
    /// Vendors to send about (all when empty).
    #[serde(default)]
    pub vendors: Vec<Spanned<String>>,
    /// Priorities to send about (all when empty; channel events have no priority and always pass).
    #[serde(default)]
    pub priorities: Vec<Priority>,
    pub webhook: Option<RawWebhook>,
    pub slack: Option<RawUrlOnly>,
    pub feishu: Option<RawSigned>,
    pub dingtalk: Option<RawSigned>,
    pub wecom: Option<RawUrlOnly>,
    pub email: Option<Spanned<RawEmail>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// May hold `${VAR}`: webhook URLs often carry a token.
    pub url: Spanned<String>,
    /// Extra headers, e.g. `{ Authorization = "Bearer ${HOOK_TOKEN}" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUrlOnly {
    pub url: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigned {
    pub url: Spanned<String>,
    /// The group bot's signing secret, when signature checking is on.
    pub secret: Option<Spanned<String>>,
    pub secret_file: Option<Spanned<PathBuf>>,
}

/// How to talk to the SMTP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP (loopback relays only).
    None,
    /// STARTTLS on the submission port (587).
    Starttls,
    /// Implicit TLS (465).
    Tls,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    /// PEM CA certificates trusted besides the system's (a private CA).
    pub ca_file: Option<Spanned<PathBuf>>,
    pub from: Spanned<String>,
    pub to: Vec<Spanned<String>>,
}

fn default_tls() -> SmtpTls {
    SmtpTls::Starttls
}
