//! GitHub's signed webhooks: `X-Hub-Signature-256: sha256=HEX(HMAC-SHA256(secret, body))`;
//! the issue number names the ticket.

use reqwest::header::HeaderMap;
use ring::hmac;
use serde_json::Value;
use supportprobe_core::lifecycle::Ts;

use crate::webhook::{WebhookError, Webhooks, header, hex, text};

/// How this platform's webhooks are checked and read (see [`crate::webhook`]).
pub const WEBHOOKS: Option<Webhooks> = Some(Webhooks { verify, ticket, handshake: None });

fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8], _now: Ts) -> Result<(), WebhookError> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    const H: &str = "x-hub-signature-256";
    let sig = header(headers, H)?;
    let mac = sig.strip_prefix("sha256=").and_then(hex).ok_or(WebhookError::Malformed(H))?;
    hmac::verify(&key, body, &mac).map_err(|_| WebhookError::Mismatch)
}

fn ticket(_secret: &[u8], v: &Value) -> Option<String> {
    text(&v["issue"]["number"])
}
