//! The `[vendors.VENDOR.channels.CHANNEL.freshdesk]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use std::path::PathBuf;

use serde::Deserialize;
use supportprobe_core::secret::{Secret, SecretSource};
use toml::Spanned;

use crate::check::{Checker, HttpUrl, mailbox, yes};

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

#[derive(Clone, Debug)]
pub struct FreshdeskSettings {
    /// `https://DOMAIN.freshdesk.com`.
    pub base_url: reqwest::Url,
    /// The requester's address.
    pub email: String,
    pub api_key: Secret,
    pub api_key_source: SecretSource,
    pub set_priority: bool,
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, table: &Spanned<RawFreshdesk>) -> Option<FreshdeskSettings> {
    let fd = table.get_ref();
    let email = mailbox(cx, &fd.email).map(|m| m.email.to_string());
    let (api_key, api_key_source) =
        cx.required_secret(table, "freshdesk", &fd.api_key, &fd.api_key_file, "api_key", "")?;
    Some(FreshdeskSettings {
        base_url: fd.base_url.0.clone(),
        email: email?,
        api_key,
        api_key_source,
        set_priority: fd.set_priority,
    })
}

impl FreshdeskSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let f = self;
        format!("{} (auth: API key for tickets of {}, {})", f.base_url, f.email, f.api_key_source)
    }
}
