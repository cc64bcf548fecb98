//! How each platform signs the webhooks it sends: the simulated vendors sign
//! theirs this way, and tests and fuzzing sign with it too.
//!
//! - GitHub: `X-Hub-Signature-256: sha256=HEX(HMAC-SHA256(secret, body))`.
//! - Jira: `X-Hub-Signature: sha256=HEX(HMAC-SHA256(secret, body))`.
//! - Intercom: `X-Hub-Signature: sha1=HEX(HMAC-SHA1(client secret, body))`.
//! - Slack: `v0=HEX(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body))`.
//! - Zendesk: `BASE64(HMAC-SHA256(secret, timestamp + body))`, RFC 3339 timestamp.
//! - Feishu: `HEX(SHA-256(timestamp + nonce + Encrypt Key + body))`.

use base64::Engine;
use ring::hmac;
use supportprobe_core::lifecycle::Ts;

/// The headers a platform (`github`, `jira_sm`, `intercom`, `slack`, `zendesk`,
/// `feishu`) sends with `body` signed with `secret` at `now`,
/// as each platform documents them (written apart from the daemon's
/// verification, so that each checks the other).
pub fn headers(platform: &str, secret: &[u8], body: &[u8], now: Ts) -> Vec<(&'static str, String)> {
    let hexs = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let sha256 = |data: &[u8]| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), data);
    let mut out: Vec<(&'static str, String)> = Vec::new();
    match platform {
        "github" => out.push(("x-hub-signature-256", format!("sha256={}", hexs(sha256(body).as_ref())))),
        "jira_sm" => out.push(("x-hub-signature", format!("sha256={}", hexs(sha256(body).as_ref())))),
        "intercom" => {
            let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
            out.push(("x-hub-signature", format!("sha1={}", hexs(hmac::sign(&key, body).as_ref()))));
        }
        "slack" => {
            let ts = now.timestamp().to_string();
            let mut base = format!("v0:{ts}:").into_bytes();
            base.extend_from_slice(body);
            out.push(("x-slack-signature", format!("v0={}", hexs(sha256(&base).as_ref()))));
            out.push(("x-slack-request-timestamp", ts));
        }
        "zendesk" => {
            let ts = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let mut signed = ts.as_bytes().to_vec();
            signed.extend_from_slice(body);
            out.push((
                "x-zendesk-webhook-signature",
                base64::engine::general_purpose::STANDARD.encode(sha256(&signed)),
            ));
            out.push(("x-zendesk-webhook-signature-timestamp", ts));
        }
        "feishu" => {
            let ts = now.timestamp().to_string();
            let nonce = "fuzz-nonce".to_string();
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            for part in [ts.as_bytes(), nonce.as_bytes(), secret, body] {
                ctx.update(part);
            }
            out.push(("x-lark-signature", hexs(ctx.finish().as_ref())));
            out.push(("x-lark-request-timestamp", ts));
            out.push(("x-lark-request-nonce", nonce));
        }
        _ => {}
    }
    out
}
