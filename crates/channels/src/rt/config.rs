//! The `[vendors.VENDOR.channels.CHANNEL.rt]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use std::path::PathBuf;

use serde::Deserialize;
use supportprobe_core::secret::{Secret, SecretSource};
use toml::Spanned;

use crate::check::{Checker, HttpUrl, mailbox, secret_from, yes};

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

#[derive(Clone, Debug)]
pub struct RtSettings {
    /// RT's web root; REST2 is at `REST/2.0/` under it.
    pub base_url: reqwest::Url,
    pub queue: String,
    /// Our address, set as the ticket's requestor.
    pub requestor: String,
    pub auth: RtAuth,
    pub resolve_on_close: bool,
}

#[derive(Clone, Debug)]
pub enum RtAuth {
    Basic { username: String, password: Secret, source: SecretSource },
    Token { token: Secret, source: SecretSource },
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, rr: &Spanned<RawRt>) -> Option<RtSettings> {
    let r = rr.get_ref();
    let requestor = mailbox(cx, &r.requestor).map(|m| m.email.to_string());
    let basic = r.password.is_some() || r.password_file.is_some();
    let token = r.token.is_some() || r.token_file.is_some();
    let auth = match (basic, token) {
        (true, true) => {
            cx.err(rr, "rt: give either `password` (with `username`) or `token`, not both");
            None
        }
        (false, false) => {
            cx.err(rr, "rt: credentials missing: set `password` (with `username`) or `token`");
            None
        }
        (true, false) => {
            let secret = secret_from(cx, &r.password, &r.password_file, "password");
            match (&r.username, secret) {
                (Some(u), Some((password, source))) => Some(RtAuth::Basic { username: u.clone(), password, source }),
                (None, _) => {
                    cx.err(rr, "rt: `password` needs `username`");
                    None
                }
                _ => None,
            }
        }
        (false, true) => {
            secret_from(cx, &r.token, &r.token_file, "token").map(|(token, source)| RtAuth::Token { token, source })
        }
    };
    if r.queue.trim().is_empty() {
        cx.err(rr, "rt: `queue` is empty");
    }
    Some(RtSettings {
        base_url: r.base_url.0.clone(),
        queue: r.queue.clone(),
        requestor: requestor?,
        auth: auth?,
        resolve_on_close: r.resolve_on_close,
    })
}

impl RtSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let r = self;
        let auth = match &r.auth {
            RtAuth::Basic { username, source, .. } => format!("password for {username}, {source}"),
            RtAuth::Token { source, .. } => format!("auth token, {source}"),
        };
        format!("{}REST/2.0 queue {} as {} (auth: {auth})", r.base_url, r.queue, r.requestor)
    }
}
