//! Zendesk's signed webhooks: `X-Zendesk-Webhook-Signature: BASE64(HMAC-SHA256(secret,
//! timestamp + body))` with `X-Zendesk-Webhook-Signature-Timestamp` (RFC 3339), within five
//! minutes; event webhooks name the ticket in `detail.id` / `subject`, triggers in `ticket.id` / `ticket_id`.

use base64::Engine;
use reqwest::header::HeaderMap;
use ring::hmac;
use serde_json::Value;
use supportprobe_core::lifecycle::Ts;

use crate::webhook::{WebhookError, Webhooks, fresh, header, text};

/// How this platform's webhooks are checked and read (see [`crate::webhook`]).
pub const WEBHOOKS: Option<Webhooks> = Some(Webhooks { verify, ticket, handshake: None });

fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8], now: Ts) -> Result<(), WebhookError> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    const S: &str = "x-zendesk-webhook-signature";
    const T: &str = "x-zendesk-webhook-signature-timestamp";
    let sig = header(headers, S)?;
    let ts = header(headers, T)?;
    let mac = base64::engine::general_purpose::STANDARD.decode(sig).map_err(|_| WebhookError::Malformed(S))?;
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(body);
    hmac::verify(&key, &signed, &mac).map_err(|_| WebhookError::Mismatch)?;
    let at = chrono::DateTime::parse_from_rfc3339(ts).map_err(|_| WebhookError::Malformed(T))?;
    fresh(now, at.timestamp())
}

fn ticket(_secret: &[u8], v: &Value) -> Option<String> {
    text(&v["detail"]["id"])
        .filter(|_| v["type"].as_str().is_some_and(|t| t.starts_with("zen:event-type:ticket")))
        .or_else(|| v["subject"].as_str().and_then(|s| s.strip_prefix("zen:ticket:")).map(String::from))
        .or_else(|| text(&v["ticket"]["id"]))
        .or_else(|| text(&v["ticket_id"]))
}
