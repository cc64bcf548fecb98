//! Signed webhooks at `/webhooks/{vendor}/{channel}`: a platform tells us
//! something changed and the channel's worker looks at once instead of at
//! its next poll (polling stays the fallback). Each platform's own
//! verification; a missing, wrong or stale signature is refused and wakes
//! nothing.
//!
//! Each platform's verification lives in its channel's folder (`KIND/webhook.rs`):
//!
//! - GitHub: `X-Hub-Signature-256: sha256=HEX(HMAC-SHA256(secret, body))`.
//! - Jira: `X-Hub-Signature: sha256=HEX(HMAC-SHA256(secret, body))`.
//! - Intercom: `X-Hub-Signature: sha1=HEX(HMAC-SHA1(client secret, body))`.
//! - Feishu: `X-Lark-Signature: HEX(SHA-256(timestamp + nonce + Encrypt Key +
//!   body))` within five minutes; encrypted bodies (AES-256-CBC) are
//!   decrypted to answer Feishu's URL verification.
//! - Slack: `X-Slack-Signature: v0=HEX(HMAC-SHA256(signing secret,
//!   "v0:" + X-Slack-Request-Timestamp + ":" + body))`, within five minutes.
//! - Zendesk: `X-Zendesk-Webhook-Signature: BASE64(HMAC-SHA256(secret,
//!   timestamp + body))` with `X-Zendesk-Webhook-Signature-Timestamp`
//!   (RFC 3339), accepted within five minutes of our clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;

use crate::ChannelKind;
use crate::lifecycle::Ts;

/// How far a signed timestamp may be from our clock (replays are refused).
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// Why a webhook was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("malformed header {0}")]
    Malformed(&'static str),
    #[error("signature does not match")]
    Mismatch,
    #[error("timestamp outside the {REPLAY_WINDOW_SECS} s window")]
    Stale,
    #[error("the {0} channel takes no webhooks")]
    Unsupported(ChannelKind),
}

pub fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, WebhookError> {
    let v = headers.get(name).ok_or(WebhookError::Missing(name))?;
    v.to_str().map(str::trim).map_err(|_| WebhookError::Malformed(name))
}

pub fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Checks a webhook for a channel of `kind` signed with `secret`.
pub fn verify(kind: ChannelKind, secret: &[u8], headers: &HeaderMap, body: &[u8], now: Ts) -> Result<(), WebhookError> {
    let hooks = crate::platform(kind).webhooks.ok_or(WebhookError::Unsupported(kind))?;
    (hooks.verify)(secret, headers, body, now)
}

/// Checks one platform's signature: `(secret, headers, body, now)`.
pub type Verify = fn(&[u8], &HeaderMap, &[u8], Ts) -> Result<(), WebhookError>;

/// How one platform's webhooks are checked and read: each channel kind that
/// takes webhooks has one in its folder (`KIND/webhook.rs`).
#[derive(Clone, Copy, Debug)]
pub struct Webhooks {
    /// Checks the signature (and, where the platform signs one, the timestamp).
    pub verify: Verify,
    /// The ticket a verified payload is about, as the channel names its tickets.
    pub ticket: fn(secret: &[u8], payload: &serde_json::Value) -> Option<String>,
    /// The URL-verification handshake the platform sends when its webhook is
    /// set up, if it has one.
    pub handshake: Option<Handshake>,
}

/// Answers a handshake: `(secret, headers, body)` to the challenge to echo, if the request is one.
pub type Challenge = fn(&[u8], &HeaderMap, &[u8]) -> Result<Option<String>, WebhookError>;

/// A platform's URL-verification handshake: `challenge` says what to echo
/// back as `{"challenge": …}` when a request is the handshake (`Ok(None)`
/// when it is not). Platforms that do not sign it are asked before the
/// signature is checked, the others after.
#[derive(Clone, Copy, Debug)]
pub struct Handshake {
    pub signed: bool,
    pub challenge: Challenge,
}

/// A signed timestamp (seconds since the epoch) within the replay window of `now`.
pub fn fresh(now: Ts, at: i64) -> Result<(), WebhookError> {
    if (now.timestamp() - at).abs() > REPLAY_WINDOW_SECS {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

/// A JSON string or number as text; `None` for anything else or an empty string.
pub fn text(x: &serde_json::Value) -> Option<String> {
    match x {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a channel kind takes webhooks.
pub fn supported(kind: ChannelKind) -> bool {
    crate::platform(kind).webhooks.is_some()
}

/// The ticket a verified webhook is about, as the channel names its tickets
/// (the id our probe stores): GitHub's issue number, Zendesk's ticket id
/// (event webhooks' `detail.id` / `subject`, or a trigger's `ticket.id` /
/// `ticket_id`), Jira's issue key, Slack's thread `ts`, Intercom's
/// conversation id, Feishu's root message id (decrypted with the Encrypt Key
/// when the event is encrypted). `None` when the payload names none: then
/// every probe of the channel is looked at. A hint only chooses what to fetch
/// first; nothing in it is recorded.
pub fn ticket_hint(kind: ChannelKind, secret: &[u8], body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let hint = (crate::platform(kind).webhooks?.ticket)(secret, &v);
    // A ticket id is short and printable; anything else is not one of ours.
    hint.filter(|h| h.len() <= 128 && h.chars().all(|c| c.is_ascii_graphic()))
}

/// What a channel worker is asked to do when woken.
#[derive(Debug, Default, PartialEq)]
pub struct Hints {
    /// Look at every unfinished probe now (a webhook naming no ticket we can read).
    pub all: bool,
    /// Read the channel's probes from the store again (new probes, changes by another process).
    pub resync: bool,
    /// Tickets a verified webhook named: their probes are looked at first.
    pub tickets: Vec<String>,
}

/// More named tickets than this waiting for one worker: look at everything instead.
const MAX_HINTED_TICKETS: usize = 1024;

/// One channel worker's wake-up: a notification plus what it is about.
#[derive(Debug, Default)]
pub struct Wake {
    notify: tokio::sync::Notify,
    hints: Mutex<Hints>,
}

impl Wake {
    /// Resolves when woken (at once if woken since the last wait).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// What the wake-ups since the last call asked for.
    pub fn take(&self) -> Hints {
        std::mem::take(&mut *self.hints.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn with(&self, f: impl FnOnce(&mut Hints)) {
        f(&mut self.hints.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        self.notify.notify_one();
    }
}

/// Wake-ups for channel workers, by `vendor/channel id`; shared by the HTTP
/// server, the scheduler and the engine (and kept across reloads).
#[derive(Clone, Debug, Default)]
pub struct Pokes(Arc<Mutex<HashMap<String, Arc<Wake>>>>);

impl Pokes {
    /// The wake-up a worker waits on.
    pub fn for_channel(&self, vendor: &str, channel: &str) -> Arc<Wake> {
        let mut m = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.entry(format!("{vendor}/{channel}")).or_default().clone()
    }

    /// A webhook that names no ticket: the worker looks at every probe.
    pub fn poke(&self, vendor: &str, channel: &str) {
        self.for_channel(vendor, channel).with(|h| h.all = true);
    }

    /// A webhook about one ticket: its probe is looked at first.
    pub fn poke_ticket(&self, vendor: &str, channel: &str, ticket: String) {
        self.for_channel(vendor, channel).with(|h| {
            if h.tickets.len() >= MAX_HINTED_TICKETS {
                h.all = true;
            } else if !h.tickets.contains(&ticket) {
                h.tickets.push(ticket);
            }
        });
    }

    /// The channel's probes changed in the store (a new one scheduled).
    pub fn resync(&self, vendor: &str, channel: &str) {
        self.for_channel(vendor, channel).with(|h| h.resync = true);
    }

    /// Every worker reads its probes again (another process changed the store).
    pub fn resync_all(&self) {
        let wakes: Vec<Arc<Wake>> =
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect();
        for w in wakes {
            w.with(|h| h.resync = true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use ring::hmac;

    use crate::feishu::webhook::{challenge as feishu_challenge, decrypt as feishu_decrypt};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    /// GitHub's documented test vector: secret "It's a Secret to Everybody",
    /// payload "Hello, World!".
    #[test]
    fn github_documented_vector() {
        let now = chrono::Utc::now();
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let h = headers(&[("x-hub-signature-256", sig)]);
        assert_eq!(verify(ChannelKind::Github, b"It's a Secret to Everybody", &h, b"Hello, World!", now), Ok(()));
        assert_eq!(
            verify(ChannelKind::Github, b"It's a Secret to Everybody", &h, b"Hello, World?", now),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(verify(ChannelKind::Github, b"wrong", &h, b"Hello, World!", now), Err(WebhookError::Mismatch));
        assert_eq!(
            verify(ChannelKind::Github, b"x", &HeaderMap::new(), b"", now),
            Err(WebhookError::Missing("x-hub-signature-256"))
        );
        let h = headers(&[("x-hub-signature-256", "sha1=abc")]);
        assert_eq!(
            verify(ChannelKind::Github, b"x", &h, b"", now),
            Err(WebhookError::Malformed("x-hub-signature-256"))
        );
    }

    /// Slack's documented example request.
    #[test]
    fn slack_documented_vector() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let h = headers(&[
            ("x-slack-signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
            ("x-slack-request-timestamp", "1531420618"),
        ]);
        let at = chrono::DateTime::from_timestamp(1_531_420_618 + 60, 0).unwrap();
        assert_eq!(verify(ChannelKind::Slack, secret, &h, body.as_bytes(), at), Ok(()));
        let late = chrono::DateTime::from_timestamp(1_531_420_618 + 301, 0).unwrap();
        assert_eq!(verify(ChannelKind::Slack, secret, &h, body.as_bytes(), late), Err(WebhookError::Stale));
        assert_eq!(verify(ChannelKind::Slack, b"wrong", &h, body.as_bytes(), at), Err(WebhookError::Mismatch));
        let tampered = body.replace("roadrunner", "coyote");
        assert_eq!(verify(ChannelKind::Slack, secret, &h, tampered.as_bytes(), at), Err(WebhookError::Mismatch));
    }

    #[test]
    fn intercom_signature() {
        let now = chrono::Utc::now();
        let body = br#"{"type":"notification_event","topic":"conversation.admin.replied"}"#;
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"client-secret");
        let good =
            format!("sha1={}", hmac::sign(&key, body).as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>());
        let h = headers(&[("x-hub-signature", &good)]);
        assert_eq!(verify(ChannelKind::Intercom, b"client-secret", &h, body, now), Ok(()));
        assert_eq!(verify(ChannelKind::Intercom, b"other", &h, body, now), Err(WebhookError::Mismatch));
        assert_eq!(verify(ChannelKind::Intercom, b"client-secret", &h, b"{}", now), Err(WebhookError::Mismatch));
    }

    /// Feishu's documented decryption example: key "test key", plaintext "hello world".
    #[test]
    fn feishu_decryption_and_signature() {
        let plain = feishu_decrypt(b"test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").unwrap();
        assert_eq!(plain, b"hello world");
        assert_ne!(
            feishu_decrypt(b"other key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="),
            Ok(b"hello world".to_vec())
        );
        assert_eq!(feishu_decrypt(b"k", "not base64!"), Err(WebhookError::Malformed("encrypt")));

        let body = br#"{"schema":"2.0","header":{"event_type":"im.message.receive_v1"}}"#;
        let (ts, nonce) = ("1795400047", "13f8e64b");
        let mut data = format!("{ts}{nonce}encrypt-key").into_bytes();
        data.extend_from_slice(body);
        let sig: String =
            ring::digest::digest(&ring::digest::SHA256, &data).as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let h =
            headers(&[("x-lark-signature", &sig), ("x-lark-request-timestamp", ts), ("x-lark-request-nonce", nonce)]);
        let at = chrono::DateTime::from_timestamp(1_795_400_100, 0).unwrap();
        assert_eq!(verify(ChannelKind::Feishu, b"encrypt-key", &h, body, at), Ok(()));
        assert_eq!(verify(ChannelKind::Feishu, b"other", &h, body, at), Err(WebhookError::Mismatch));
        assert_eq!(verify(ChannelKind::Feishu, b"encrypt-key", &h, b"{}", at), Err(WebhookError::Mismatch));
        let late = chrono::DateTime::from_timestamp(1_795_400_047 + 400, 0).unwrap();
        assert_eq!(verify(ChannelKind::Feishu, b"encrypt-key", &h, body, late), Err(WebhookError::Stale));
        assert_eq!(
            feishu_challenge(b"k", br#"{"challenge":"ajls384kdjx98XX","token":"xxx","type":"url_verification"}"#),
            Ok(Some("ajls384kdjx98XX".into()))
        );
        assert_eq!(feishu_challenge(b"k", br#"{"type":"event_callback"}"#), Ok(None));
    }

    #[test]
    fn jira_signature() {
        let now = chrono::Utc::now();
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let h = headers(&[("x-hub-signature", sig)]);
        let secret = b"It's a Secret to Everybody";
        assert_eq!(verify(ChannelKind::JiraSm, secret, &h, b"Hello, World!", now), Ok(()));
        assert_eq!(verify(ChannelKind::JiraSm, secret, &h, b"Hello, World", now), Err(WebhookError::Mismatch));
        assert_eq!(verify(ChannelKind::JiraSm, b"wrong", &h, b"Hello, World!", now), Err(WebhookError::Mismatch));
        let wrong_header = headers(&[("x-hub-signature-256", sig)]);
        assert_eq!(
            verify(ChannelKind::JiraSm, secret, &wrong_header, b"Hello, World!", now),
            Err(WebhookError::Missing("x-hub-signature"))
        );
    }

    #[test]
    fn zendesk_signature_and_window() {
        let secret = b"dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
        let ts = "2026-11-24T02:00:00Z";
        let body = br#"{"type":"zen:event-type:ticket.comment_added"}"#;
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let mut signed = ts.as_bytes().to_vec();
        signed.extend_from_slice(body);
        let sig = base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, &signed).as_ref());
        let h = headers(&[("x-zendesk-webhook-signature", &sig), ("x-zendesk-webhook-signature-timestamp", ts)]);
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(verify(ChannelKind::Zendesk, secret, &h, body, at("2026-11-24T02:04:00Z")), Ok(()));
        assert_eq!(
            verify(ChannelKind::Zendesk, secret, &h, body, at("2026-11-24T02:06:00Z")),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify(ChannelKind::Zendesk, secret, &h, b"{}", at("2026-11-24T02:00:00Z")),
            Err(WebhookError::Mismatch)
        );
        let moved = headers(&[
            ("x-zendesk-webhook-signature", &sig),
            ("x-zendesk-webhook-signature-timestamp", "2026-11-24T02:05:00Z"),
        ]);
        assert_eq!(
            verify(ChannelKind::Zendesk, secret, &moved, body, at("2026-11-24T02:05:00Z")),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify(ChannelKind::Email, secret, &h, body, at("2026-11-24T02:00:00Z")),
            Err(WebhookError::Unsupported(ChannelKind::Email))
        );
    }
}
