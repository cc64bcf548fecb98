//! Secrets: credentials that come from the environment (`"${VAR}"`) or a
//! file (`token_file = "/run/secrets/x"`), and whose `Debug` is redacted so
//! they cannot reach a log line, an error or `check` output by accident.

use std::fmt;

/// A resolved secret value. There is deliberately no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        // Masked wherever it might show up later (a vendor echoing our headers).
        crate::redact::register(&value);
        Secret(value)
    }

    /// The value, for the one place that sends it (an auth header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret came from, for `check` output (never the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Env(Vec<String>),
    File(String),
    Literal,
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(vars) => write!(f, "from ${{{}}}", vars.join("}, ${")),
            SecretSource::File(p) => write!(f, "from file {p}"),
            SecretSource::Literal => f.write_str("inline in the config file"),
        }
    }
}

/// Expands every `${NAME}` in `value` from `env`. `$${` is a literal `${`.
pub fn expand(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, SecretSource), String> {
    let mut out = String::new();
    let mut vars = Vec::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = t;
        } else if let Some(t) = tail.strip_prefix("${") {
            let end = t.find('}').ok_or("unclosed `${` (write `$${` for a literal `${`)")?;
            let name = &t[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`${{{name}}}` is not an environment variable name"));
            }
            match env(name) {
                Some(v) if !v.is_empty() => out.push_str(&v),
                Some(_) => return Err(format!("environment variable `{name}` is empty")),
                None => return Err(format!("environment variable `{name}` is not set")),
            }
            vars.push(name.to_string());
            rest = &t[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    let source = if vars.is_empty() { SecretSource::Literal } else { SecretSource::Env(vars) };
    Ok((out, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_reports_source() {
        assert_eq!(expand("${TOKEN}", &env).unwrap(), ("s3cret".into(), SecretSource::Env(vec!["TOKEN".into()])));
        assert_eq!(expand("a$${b}", &env).unwrap().0, "a${b}");
        assert_eq!(expand("plain", &env).unwrap().1, SecretSource::Literal);
        assert!(expand("${MISSING}", &env).unwrap_err().contains("`MISSING` is not set"));
        assert!(expand("${EMPTY}", &env).unwrap_err().contains("is empty"));
        assert!(expand("${TOKEN", &env).unwrap_err().contains("unclosed"));
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("s3cret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(!format!("{:?}", Some(s)).contains("s3cret"));
    }
}
