//! Secrets stay secret even when a vendor reflects them: every text that
//! leaves a channel call for a log line, the store or `probes --json` (error
//! messages, reply excerpts) goes through [`redact`] first.
//!
//! Two nets: every configured secret value (registered when the config is
//! read), and credential-shaped strings whatever their origin —
//! `Authorization:`/`Cookie:`/`X-Api-Key:`-style headers, `Bearer`/`Basic`/
//! `token` credentials, `api_key=`/`access_token=`-style parameters and JSON
//! fields, and the token formats of Slack (`xoxb-…`), GitHub (`ghp_…`,
//! `github_pat_…`), Feishu (`t-…`, `u-…`) and JWTs.

use std::borrow::Cow;
use std::sync::{LazyLock, RwLock};

use regex::Regex;

/// What a secret is replaced with.
pub const MASK: &str = "[redacted]";

/// Shorter values are not masked on their own (they would mask ordinary words);
/// the shape rules still catch them in headers and parameters.
const MIN_SECRET_LEN: usize = 6;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers a configured secret's value so it is masked wherever it shows up.
pub fn register(value: &str) {
    let value = value.trim();
    if value.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !all.iter().any(|s| s == value) {
        all.push(value.to_string());
        // Longest first, so a secret containing another is masked whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let rules: [(&str, &str); 5] = [
        // Header-like and JSON/form fields naming a credential: keep the name, mask the value.
        (
            r#"(?i)(\b(?:proxy-)?authorization|\bcookie|\bset-cookie|\bx-api-key|\bapi[-_]?key|\bapi[-_]?token|\baccess[-_]?token|\brefresh[-_]?token|\bclient[-_]?secret|\bapp[-_]?secret|\bpassword|\bpasswd|\bsecret|\bx-auth-token|\bprivate-token|\btoken)("?'?\s*[:=]\s*"?'?)(?:(?:bearer|basic|token|bot)\s+)?[^\s"',;&}\]]+"#,
            "${1}${2}[redacted]",
        ),
        // Credentials by scheme, wherever they are.
        (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}", "${1} [redacted]"),
        // Well-known token formats.
        (r"\b(?:xox[abposr]|xapp)-[A-Za-z0-9-]{8,}", "[redacted]"),
        (r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})", "[redacted]"),
        // JWTs (three base64url parts).
        (r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "[redacted]"),
    ];
    rules.iter().filter_map(|(re, to)| Regex::new(re).ok().map(|r| (r, *to))).collect()
});

/// The text with every secret and credential-shaped string masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let all = SECRETS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        for s in all.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
    }
    for (re, to) in SHAPES.iter() {
        if re.is_match(&out) {
            out = Cow::Owned(re.replace_all(&out, *to).into_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_secrets_and_credential_shapes_are_masked() {
        register("s3cr3t-token-value-42");
        let echoed = r#"{"error":"invalid","request":{"headers":{"Authorization":"Bearer s3cr3t-token-value-42","X-Api-Key":"k-123456"}},"note":"token=abcdef123 and https://x/?access_token=zzz999&x=1"}"#;
        let r = redact(echoed);
        for leaked in ["s3cr3t-token-value-42", "k-123456", "abcdef123", "zzz999"] {
            assert!(!r.contains(leaked), "{leaked} leaked: {r}");
        }
        assert!(
            r.contains("\"Authorization\":\"[redacted]") || r.contains("Authorization\":\"Bearer [redacted]"),
            "{r}"
        );
        assert!(r.contains("&x=1"), "the rest is kept: {r}");
        let r = redact("Authorization: Basic cG9jQGV4YW1wbGUuY29tL3Rva2VuOmFiYw==\r\nHost: x");
        assert!(!r.contains("cG9jQGV4"), "{r}");
        assert!(r.contains("Host: x"), "{r}");
        let r = redact("token xoxb-1234567890-abcdefghij and ghp_abcdefghijklmnopqrstuvwx12");
        assert!(!r.contains("xoxb-1234") && !r.contains("ghp_abc"), "{r}");
        // Ordinary words stay.
        assert_eq!(redact("Thanks, we will look at the logs today."), "Thanks, we will look at the logs today.");
        assert_eq!(redact("Our token bucket resets hourly"), "Our token bucket resets hourly");
    }
}
