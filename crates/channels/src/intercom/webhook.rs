//! Intercom's signed webhooks: `X-Hub-Signature: sha1=HEX(HMAC-SHA1(client secret, body))`;
//! the conversation id names the ticket.

use reqwest::header::HeaderMap;
use ring::hmac;
use serde_json::Value;
use supportprobe_core::lifecycle::Ts;

use crate::webhook::{WebhookError, Webhooks, header, hex, text};

/// How this platform's webhooks are checked and read (see [`crate::webhook`]).
pub const WEBHOOKS: Option<Webhooks> = Some(Webhooks { verify, ticket, handshake: None });

fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8], _now: Ts) -> Result<(), WebhookError> {
    // Intercom signs with HMAC-SHA1 of the body, keyed by the app's client secret.
    const H: &str = "x-hub-signature";
    let sig = header(headers, H)?;
    let mac = sig.strip_prefix("sha1=").and_then(hex).ok_or(WebhookError::Malformed(H))?;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    hmac::verify(&key, body, &mac).map_err(|_| WebhookError::Mismatch)
}

fn ticket(_secret: &[u8], v: &Value) -> Option<String> {
    text(&v["data"]["item"]["id"]).filter(|_| v["data"]["item"]["type"].as_str().is_none_or(|t| t == "conversation"))
}
