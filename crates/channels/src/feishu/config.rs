//! The `[vendors.VENDOR.channels.CHANNEL.feishu]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use std::path::PathBuf;

use serde::Deserialize;
use supportprobe_core::secret::{Secret, SecretSource};
use toml::Spanned;

use crate::check::{Checker, HttpUrl, api_url};

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

#[derive(Clone, Debug)]
pub struct FeishuSettings {
    pub api_url: reqwest::Url,
    pub app_id: String,
    pub app_secret: Secret,
    pub app_secret_source: SecretSource,
    pub chat_id: String,
    pub our_tenant_key: Option<String>,
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, table: &Spanned<RawFeishuChannel>) -> Option<FeishuSettings> {
    let f = table.get_ref();
    let chat = f.chat_id.get_ref();
    if !chat.starts_with("oc_") {
        cx.err(&f.chat_id, format!("`{chat}` is not a Feishu chat id (`oc_…`)"));
    }
    let (app_secret, app_secret_source) =
        cx.required_secret(table, "feishu", &f.app_secret, &f.app_secret_file, "app_secret", "")?;
    Some(FeishuSettings {
        api_url: api_url(&f.api_url, "https://open.feishu.cn"),
        app_id: f.app_id.clone(),
        app_secret,
        app_secret_source,
        chat_id: chat.clone(),
        our_tenant_key: f.our_tenant_key.clone(),
    })
}

impl FeishuSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let f = self;
        format!("group {} at {} as app {} (auth: {})", f.chat_id, f.api_url, f.app_id, f.app_secret_source)
    }
}
