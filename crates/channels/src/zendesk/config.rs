//! The `[vendors.VENDOR.channels.CHANNEL.zendesk]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use std::path::PathBuf;

use serde::Deserialize;
use supportprobe_core::secret::{Secret, SecretSource};
use toml::Spanned;

use crate::check::{Checker, HttpUrl, secret_from, yes};

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

fn default_recovery_pages() -> u32 {
    3
}

#[derive(Clone, Debug)]
pub struct ZendeskSettings {
    /// `https://example.zendesk.com` (no `/api/v2`).
    pub base_url: reqwest::Url,
    pub auth: ZendeskAuth,
    /// Send the probe's priority as Zendesk's priority field (urgent/high/normal/low).
    pub set_priority: bool,
    /// How many pages of "my requests" crash recovery scans for a reference.
    pub recovery_pages: u32,
}

#[derive(Clone, Debug)]
pub enum ZendeskAuth {
    /// `email/token:TOKEN` Basic auth (an API token, impersonating the requester).
    Token { email: String, token: Secret, source: SecretSource },
    /// `email:password` Basic auth.
    Password { email: String, password: Secret, source: SecretSource },
    /// OAuth bearer token.
    Bearer { token: Secret, source: SecretSource },
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, rz: &Spanned<RawZendesk>) -> Option<ZendeskSettings> {
    let z = rz.get_ref();
    let given = [
        z.token.is_some() || z.token_file.is_some(),
        z.password.is_some() || z.password_file.is_some(),
        z.oauth_token.is_some() || z.oauth_token_file.is_some(),
    ];
    match given.iter().filter(|g| **g).count() {
        0 => {
            cx.err(
                rz,
                "zendesk: credentials missing: set `token` (with `email`), `password` (with `email`) or `oauth_token`",
            );
            return None;
        }
        1 => {}
        _ => {
            cx.err(rz, "zendesk: give exactly one of token, password or oauth_token");
            return None;
        }
    }
    // A secret that fails to resolve has recorded its own located error.
    let token = secret_from(cx, &z.token, &z.token_file, "token");
    let password = secret_from(cx, &z.password, &z.password_file, "password");
    let oauth = secret_from(cx, &z.oauth_token, &z.oauth_token_file, "oauth_token");
    let need_email = |cx: &mut Checker<'_>| -> Option<String> {
        match &z.email {
            Some(e) if e.contains('@') => Some(e.clone()),
            Some(e) => {
                cx.err(rz, format!("zendesk: `email = \"{e}\"` is not an email address"));
                None
            }
            None => {
                cx.err(rz, "zendesk: token and password authentication need `email` (the requester's address)");
                None
            }
        }
    };
    let auth = if let Some((token, source)) = token {
        ZendeskAuth::Token { email: need_email(cx)?, token, source }
    } else if let Some((password, source)) = password {
        ZendeskAuth::Password { email: need_email(cx)?, password, source }
    } else {
        let (token, source) = oauth?;
        ZendeskAuth::Bearer { token, source }
    };
    Some(ZendeskSettings {
        base_url: z.base_url.0.clone(),
        auth,
        set_priority: z.set_priority,
        recovery_pages: z.recovery_pages.max(1),
    })
}

impl ZendeskSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let z = self;
        let auth = match &z.auth {
            ZendeskAuth::Token { email, source, .. } => format!("API token for {email}, {source}"),
            ZendeskAuth::Password { email, source, .. } => format!("password for {email}, {source}"),
            ZendeskAuth::Bearer { source, .. } => format!("OAuth token, {source}"),
        };
        format!("{} (auth: {auth})", z.base_url)
    }
}
