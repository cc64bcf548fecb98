//! The `[vendors.VENDOR.channels.CHANNEL.slack]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use std::path::PathBuf;

use serde::Deserialize;
use supportprobe_core::secret::{Secret, SecretSource};
use toml::Spanned;

use crate::check::{Checker, HttpUrl, api_url};

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

#[derive(Clone, Debug)]
pub struct SlackSettings {
    pub api_url: reqwest::Url,
    pub channel: String,
    pub token: Secret,
    pub token_source: SecretSource,
    pub resolved_reaction: String,
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, table: &Spanned<RawSlackChannel>) -> Option<SlackSettings> {
    let s = table.get_ref();
    let ch = s.channel.get_ref();
    if ch.is_empty() || !ch.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        cx.err(&s.channel, format!("`{ch}` is not a Slack channel id (like `C0123ABCD`)"));
    }
    let (token, token_source) = cx.required_secret(table, "slack", &s.token, &s.token_file, "token", "")?;
    Some(SlackSettings {
        api_url: api_url(&s.api_url, "https://slack.com/api"),
        channel: ch.clone(),
        token,
        token_source,
        resolved_reaction: s.resolved_reaction.trim_matches(':').to_string(),
    })
}

impl SlackSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let s = self;
        format!(
            "channel {} at {} (auth: token, {}); resolved by :{}:",
            s.channel, s.api_url, s.token_source, s.resolved_reaction
        )
    }
}
