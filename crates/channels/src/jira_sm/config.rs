//! The `[vendors.VENDOR.channels.CHANNEL.jira_sm]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use std::path::PathBuf;

use serde::Deserialize;
use supportprobe_core::secret::{Secret, SecretSource};
use toml::Spanned;

use crate::check::{Checker, HttpUrl, mailbox};

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

#[derive(Clone, Debug)]
pub struct JiraSmSettings {
    pub base_url: reqwest::Url,
    pub email: String,
    pub api_token: Secret,
    pub api_token_source: SecretSource,
    pub service_desk_id: String,
    pub request_type_id: String,
    pub close_transition: Option<String>,
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, table: &Spanned<RawJiraSm>) -> Option<JiraSmSettings> {
    let js = table.get_ref();
    let email = mailbox(cx, &js.email).map(|m| m.email.to_string());
    let token = cx.required_secret(table, "jira_sm", &js.api_token, &js.api_token_file, "api_token", "");
    for (key, v) in [("service_desk_id", &js.service_desk_id), ("request_type_id", &js.request_type_id)] {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            cx.err(table, format!("jira_sm: `{key} = \"{v}\"` is not a numeric id"));
        }
    }
    let (api_token, api_token_source) = token?;
    Some(JiraSmSettings {
        base_url: js.base_url.0.clone(),
        email: email?,
        api_token,
        api_token_source,
        service_desk_id: js.service_desk_id.clone(),
        request_type_id: js.request_type_id.clone(),
        close_transition: js.close_transition.clone(),
    })
}

impl JiraSmSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let j = self;
        format!(
            "{} service desk {} request type {} (auth: API token for {}, {})",
            j.base_url, j.service_desk_id, j.request_type_id, j.email, j.api_token_source
        )
    }
}
