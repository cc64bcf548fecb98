//! The context every config table's check writes to: one problem per
//! mistake, located in the file, all of them collected before giving up, and
//! the helpers every channel's table needs (secrets from the environment or a
//! file, addresses, CA files, URLs), written once.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use supportprobe_core::diag::{Diagnostic, SourceFile};
use supportprobe_core::secret::{Secret, SecretSource, expand};
use toml::Spanned;

/// Collects problems while a config file's tables are checked.
pub struct Checker<'a> {
    pub file: &'a SourceFile,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<String>,
}

impl<'a> Checker<'a> {
    pub fn new(file: &'a SourceFile, env: &'a dyn Fn(&str) -> Option<String>) -> Checker<'a> {
        Checker { file, env, errors: Vec::new(), warnings: Vec::new() }
    }

    pub fn err<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.errors.push(Diagnostic::at(self.file, spanned.span(), message));
    }

    pub fn err_span(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        self.errors.push(Diagnostic::at(self.file, span, message));
    }

    /// A secret a channel cannot work without: `KEY` or `KEY_file`, an error
    /// at `table` naming both when neither is set (`what` says what it is).
    pub fn required_secret<T>(
        &mut self,
        table: &Spanned<T>,
        kind: &str,
        value: &Option<Spanned<String>>,
        file: &Option<Spanned<PathBuf>>,
        key: &str,
        what: &str,
    ) -> Option<(Secret, SecretSource)> {
        if value.is_none() && file.is_none() {
            self.err(table, format!("{kind}: credentials missing: set `{key}` or `{key}_file`{what}"));
            return None;
        }
        secret_from(self, value, file, key)
    }
}

pub fn secret_from(
    cx: &mut Checker<'_>,
    value: &Option<Spanned<String>>,
    file: &Option<Spanned<PathBuf>>,
    key: &str,
) -> Option<(Secret, SecretSource)> {
    match (value, file) {
        (Some(_), Some(f)) => {
            cx.err(f, format!("set either `{key}` or `{key}_file`, not both"));
            None
        }
        (Some(v), None) => match expand(v.get_ref(), cx.env) {
            Ok((s, src)) => Some((Secret::new(s), src)),
            Err(e) => {
                cx.err(v, e);
                None
            }
        },
        (None, Some(f)) => {
            let path = resolve_path(&cx.file.path, f.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(s) if !s.trim().is_empty() => Some((
                    Secret::new(s.trim_end_matches(['\n', '\r'])),
                    SecretSource::File(path.display().to_string()),
                )),
                Ok(_) => {
                    cx.err(f, format!("secret file {} is empty", path.display()));
                    None
                }
                Err(e) => {
                    cx.err(f, format!("cannot read secret file {}: {e}", path.display()));
                    None
                }
            }
        }
        (None, None) => None,
    }
}

pub fn mailbox(cx: &mut Checker<'_>, s: &Spanned<String>) -> Option<lettre::message::Mailbox> {
    match s.get_ref().parse() {
        Ok(m) => Some(m),
        Err(e) => {
            cx.err(s, format!("`{}` is not an email address ({e})", s.get_ref()));
            None
        }
    }
}

/// The CA certificates of a `ca_file` (PEM), or none.
pub fn ca_from(
    cx: &mut Checker<'_>,
    file: &Option<Spanned<PathBuf>>,
) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let Some(f) = file else { return Vec::new() };
    let path = resolve_path(&cx.file.path, f.get_ref());
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            cx.err(f, format!("cannot read CA file {}: {e}", path.display()));
            return Vec::new();
        }
    };
    match rustls::pki_types::CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => certs,
        Ok(_) => {
            cx.err(f, format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()));
            Vec::new()
        }
        Err(e) => {
            cx.err(f, format!("{} is not valid PEM: {e}", path.display()));
            Vec::new()
        }
    }
}

/// Checks that a table has exactly one kind sub-table (`zendesk`, `slack`, …),
/// reporting at `name` otherwise.
pub fn exactly_one_kind(
    cx: &mut Checker<'_>,
    name: &Spanned<String>,
    what: &str,
    present: &[Option<&str>],
    example: &str,
    all: &[&str],
) -> bool {
    let kinds: Vec<&str> = present.iter().flatten().copied().collect();
    if kinds.len() == 1 {
        return true;
    }
    let found =
        if kinds.is_empty() { "no kind table".to_string() } else { format!("several kinds ({})", kinds.join(", ")) };
    cx.err(
        name,
        format!(
            "{what} `{}` has {found}; add exactly one, e.g. `{example}` (kinds: {})",
            name.get_ref(),
            all.join(", ")
        ),
    );
    false
}

pub fn known(names: impl Iterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = names.map(|n| n.as_ref().to_string()).collect();
    if v.is_empty() { "none defined".to_string() } else { format!("defined: {}", v.join(", ")) }
}

pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn resolve_path(config_file: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let base = config_file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    base.join(p)
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

pub fn yes() -> bool {
    true
}

/// A configured API root, or the platform's public one.
pub fn api_url(configured: &Option<HttpUrl>, default: &str) -> reqwest::Url {
    configured.as_ref().map_or_else(|| reqwest::Url::parse(default).expect("a valid URL"), |u| u.0.clone())
}
