//! The context every config table's check writes to: one problem per
//! mistake, located in the file, all of them collected before giving up, and
//! the helpers every channel's table needs (secrets from the environment or a
//! file, addresses, CA files, URLs), written once.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use supportprobe_core::diag::{Diagnostic, SourceFile};
use supportprobe_core::secret::{Secret, SecretSource, expand};
use toml::Spanned;

/// Whether secrets are read now or only checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secrets {
    /// For the commands that talk to vendors (`run`, `once`, `check --online`):
    /// an unset variable or a missing secret file is an error.
    Resolve,
    /// For the commands that only read (`probes`, `record`, `report`, `rate`,
    /// `classify`, plain `check`): one is a warning, and a placeholder stands in.
    Defer,
}

/// What stands in for a secret that a deferring read could not resolve. It is
/// a valid URL too, so a webhook URL that is all one variable still parses.
pub const UNRESOLVED: &str = "https://unresolved-secret.invalid/";

/// Collects problems while a config file's tables are checked.
pub struct Checker<'a> {
    pub file: &'a SourceFile,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub errors: Vec<Diagnostic>,
    /// Legal but probably not meant; located like errors.
    pub warnings: Vec<Diagnostic>,
    pub secrets: Secrets,
    /// Unset or empty environment variables: each reported once, at its first use.
    missing_env: std::collections::BTreeMap<String, (bool, Vec<std::ops::Range<usize>>)>,
}

impl<'a> Checker<'a> {
    pub fn new(file: &'a SourceFile, env: &'a dyn Fn(&str) -> Option<String>) -> Checker<'a> {
        Checker {
            file,
            env,
            errors: Vec::new(),
            warnings: Vec::new(),
            secrets: Secrets::Resolve,
            missing_env: Default::default(),
        }
    }

    pub fn err<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.errors.push(Diagnostic::at(self.file, spanned.span(), message));
    }

    /// An error with a "did you mean" among `candidates`.
    pub fn err_near<'c, T>(
        &mut self,
        spanned: &Spanned<T>,
        message: impl Into<String>,
        name: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) {
        self.errors.push(Diagnostic::at(self.file, spanned.span(), message).suggest(name, candidates));
    }

    pub fn warn<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.warnings.push(Diagnostic::at(self.file, spanned.span(), message).warning());
    }

    /// A warning about the whole file (no one place says it).
    pub fn warn_file(&mut self, message: impl Into<String>) {
        self.warnings.push(Diagnostic::in_file(self.file, message).warning());
    }

    /// Expands `${VAR}`s in a value that may hold a secret. An unset variable
    /// is collected (reported once by [`finish_env`](Self::finish_env)); under
    /// [`Secrets::Defer`] a placeholder stands in for it.
    pub fn expand(&mut self, value: &Spanned<String>) -> Option<(String, SecretSource)> {
        let missing = std::cell::RefCell::new(Vec::new());
        let defer = self.secrets == Secrets::Defer;
        let env = self.env;
        let lookup = |name: &str| match env(name) {
            Some(v) if !v.is_empty() => Some(v),
            got => {
                missing.borrow_mut().push((name.to_string(), got.is_some()));
                defer.then(|| UNRESOLVED.to_string())
            }
        };
        let out = expand(value.get_ref(), &lookup);
        for (name, empty) in missing.into_inner() {
            let entry = self.missing_env.entry(name).or_insert((empty, Vec::new()));
            entry.1.push(value.span());
        }
        match out {
            Ok(v) => Some(v),
            Err(e) if e.starts_with("environment variable") => None,
            Err(e) => {
                self.err(value, e);
                None
            }
        }
    }

    /// Reports every unset environment variable once, at its first use, with
    /// the others listed and a near name from the environment.
    pub fn finish_env(&mut self, env_names: &[String]) {
        for (name, (empty, mut spans)) in std::mem::take(&mut self.missing_env) {
            spans.sort_by_key(|s| s.start);
            spans.dedup();
            let first = spans[0].clone();
            let what = if empty { "is empty" } else { "is not set" };
            let mut d = Diagnostic::at(self.file, first, format!("environment variable `{name}` {what}"))
                .suggest(&name, env_names.iter().map(String::as_str));
            if spans.len() > 1 {
                let at: Vec<String> = spans[1..]
                    .iter()
                    .map(|s| {
                        let (l, c) = self.file.line_col(s.start);
                        format!("{l}:{c}")
                    })
                    .collect();
                d = d.note(format!("note: also used at {}", at.join(", ")));
            }
            match self.secrets {
                Secrets::Resolve => self.errors.push(d),
                Secrets::Defer => self
                    .warnings
                    .push(d.note("note: `run`, `once` and `check --online` need it; this command does not").warning()),
            }
        }
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
        (Some(v), None) => cx.expand(v).map(|(s, src)| (Secret::new(s), src)),
        (None, Some(f)) => {
            let path = resolve_path(&cx.file.path, f.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(s) if !s.trim().is_empty() => Some((
                    Secret::new(s.trim_end_matches(['\n', '\r'])),
                    SecretSource::File(path.display().to_string()),
                )),
                Ok(_) => unresolved_file(cx, f, format!("secret file {} is empty", path.display())),
                Err(e) => unresolved_file(cx, f, format!("cannot read secret file {}: {e}", path.display())),
            }
        }
        (None, None) => None,
    }
}

/// A secret file that cannot be read: an error, or under [`Secrets::Defer`] a warning and a placeholder.
fn unresolved_file(cx: &mut Checker<'_>, f: &Spanned<PathBuf>, message: String) -> Option<(Secret, SecretSource)> {
    match cx.secrets {
        Secrets::Resolve => {
            cx.err(f, message);
            None
        }
        Secrets::Defer => {
            cx.warn(f, format!("{message}: `run`, `once` and `check --online` need it; this command does not"));
            Some((Secret::new(UNRESOLVED), SecretSource::File(f.get_ref().display().to_string())))
        }
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
