//! The `[vendors.VENDOR.channels.CHANNEL.github]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use std::path::PathBuf;

use serde::Deserialize;
use supportprobe_core::secret::{Secret, SecretSource};
use toml::Spanned;

use crate::check::{Checker, HttpUrl, api_url, yes};

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

#[derive(Clone, Debug)]
pub struct GithubSettings {
    /// The REST API root, `https://api.github.com` by default.
    pub api_url: reqwest::Url,
    pub owner: String,
    pub repo: String,
    pub token: Secret,
    pub token_source: SecretSource,
    pub labels: Vec<String>,
    pub staff_only: bool,
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, rg: &Spanned<RawGithub>) -> Option<GithubSettings> {
    let g = rg.get_ref();
    let repo = g.repository.get_ref();
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let parts = repo.split_once('/').filter(|(o, r)| valid(o) && valid(r));
    if parts.is_none() {
        cx.err(&g.repository, format!("`{repo}` is not a repository (expected `owner/repo`)"));
    }
    let token = cx.required_secret(rg, "github", &g.token, &g.token_file, "token", " (a token that may open issues)");
    let (owner, repo) = parts?;
    let (token, token_source) = token?;
    let api_url = api_url(&g.api_url, "https://api.github.com");
    Some(GithubSettings {
        api_url,
        owner: owner.to_string(),
        repo: repo.to_string(),
        token,
        token_source,
        labels: g.labels.clone(),
        staff_only: g.staff_only,
    })
}

impl GithubSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let g = self;
        format!(
            "{}/{} at {} (auth: token, {}{})",
            g.owner,
            g.repo,
            g.api_url,
            g.token_source,
            if g.staff_only { "; staff answers only" } else { "" }
        )
    }
}
