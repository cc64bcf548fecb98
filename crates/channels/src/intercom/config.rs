//! The `[vendors.VENDOR.channels.CHANNEL.intercom]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use std::path::PathBuf;

use serde::Deserialize;
use supportprobe_core::secret::{Secret, SecretSource};
use toml::Spanned;

use crate::check::{Checker, HttpUrl, api_url};

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

#[derive(Clone, Debug)]
pub struct IntercomSettings {
    pub api_url: reqwest::Url,
    pub token: Secret,
    pub token_source: SecretSource,
    pub contact_id: String,
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, table: &Spanned<RawIntercom>) -> Option<IntercomSettings> {
    let i = table.get_ref();
    if i.contact_id.trim().is_empty() {
        cx.err(table, "intercom: `contact_id` is empty (our contact's Intercom id)");
    }
    let (token, token_source) = cx.required_secret(table, "intercom", &i.token, &i.token_file, "token", "")?;
    Some(IntercomSettings {
        api_url: api_url(&i.api_url, "https://api.intercom.io"),
        token,
        token_source,
        contact_id: i.contact_id.clone(),
    })
}

impl IntercomSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let i = self;
        format!("{} as contact {} (auth: token, {})", i.api_url, i.contact_id, i.token_source)
    }
}
