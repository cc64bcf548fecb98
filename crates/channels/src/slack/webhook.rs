//! Slack's signed requests: `X-Slack-Signature: v0=HEX(HMAC-SHA256(signing secret, "v0:" +
//! X-Slack-Request-Timestamp + ":" + body))`, within five minutes; the thread `ts` names the ticket.

use reqwest::header::HeaderMap;
use ring::hmac;
use serde_json::Value;
use supportprobe_core::lifecycle::Ts;

use crate::webhook::{Handshake, WebhookError, Webhooks, fresh, header, hex, text};

/// How this platform's webhooks are checked and read (see [`crate::webhook`]).
pub const WEBHOOKS: Option<Webhooks> =
    Some(Webhooks { verify, ticket, handshake: Some(Handshake { signed: true, challenge: url_verification }) });

fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8], now: Ts) -> Result<(), WebhookError> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    const S: &str = "x-slack-signature";
    const T: &str = "x-slack-request-timestamp";
    let sig = header(headers, S)?;
    let ts = header(headers, T)?;
    let mac = sig.strip_prefix("v0=").and_then(hex).ok_or(WebhookError::Malformed(S))?;
    let mut base = format!("v0:{ts}:").into_bytes();
    base.extend_from_slice(body);
    hmac::verify(&key, &base, &mac).map_err(|_| WebhookError::Mismatch)?;
    let at: i64 = ts.parse().map_err(|_| WebhookError::Malformed(T))?;
    fresh(now, at)
}

fn ticket(_secret: &[u8], v: &Value) -> Option<String> {
    text(&v["event"]["thread_ts"]).or_else(|| text(&v["event"]["message"]["thread_ts"]))
}

/// The Events API checks the URL with a signed `url_verification` event whose challenge is echoed.
fn url_verification(_secret: &[u8], _headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, WebhookError> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return Ok(None) };
    Ok((v["type"] == "url_verification").then(|| v["challenge"].as_str().map(String::from)).flatten())
}
