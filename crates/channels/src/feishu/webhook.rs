//! Feishu's signed events: `X-Lark-Signature: HEX(SHA-256(timestamp + nonce + Encrypt Key +
//! body))` within five minutes; encrypted bodies (AES-256-CBC) are decrypted (also to answer
//! Feishu's URL verification); the root message id names the ticket.

use base64::Engine;
use reqwest::header::HeaderMap;
use serde_json::Value;
use supportprobe_core::lifecycle::Ts;

use crate::webhook::{Handshake, WebhookError, Webhooks, fresh, header, hex, text};

/// How this platform's webhooks are checked and read (see [`crate::webhook`]).
pub const WEBHOOKS: Option<Webhooks> =
    Some(Webhooks { verify, ticket, handshake: Some(Handshake { signed: false, challenge: url_verification }) });

fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8], now: Ts) -> Result<(), WebhookError> {
    // SHA-256 over timestamp + nonce + Encrypt Key + body, in hex.
    const S: &str = "x-lark-signature";
    const T: &str = "x-lark-request-timestamp";
    const N: &str = "x-lark-request-nonce";
    let sig = header(headers, S)?;
    let ts = header(headers, T)?;
    let nonce = header(headers, N)?;
    let expected = hex(sig).ok_or(WebhookError::Malformed(S))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [ts.as_bytes(), nonce.as_bytes(), secret, body] {
        ctx.update(part);
    }
    let got = ctx.finish();
    let same = got.as_ref().len() == expected.len()
        && got.as_ref().iter().zip(&expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same {
        return Err(WebhookError::Mismatch);
    }
    let at: i64 = ts.parse().map_err(|_| WebhookError::Malformed(T))?;
    fresh(now, at)
}

fn ticket(secret: &[u8], v: &Value) -> Option<String> {
    let decrypted;
    let v = match v.get("encrypt").and_then(Value::as_str) {
        Some(enc) => {
            decrypted = serde_json::from_slice::<Value>(&decrypt(secret, enc).ok()?).ok()?;
            &decrypted
        }
        None => v,
    };
    let m = &v["event"]["message"];
    text(&m["root_id"]).or_else(|| text(&m["parent_id"]))
}

/// Feishu's encrypted events: `{"encrypt": BASE64}`, AES-256-CBC with the
/// SHA-256 of the Encrypt Key as key, the first 16 bytes as IV, PKCS#7.
pub fn decrypt(encrypt_key: &[u8], encrypted: &str) -> Result<Vec<u8>, WebhookError> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
    let data = base64::engine::general_purpose::STANDARD
        .decode(encrypted.trim())
        .map_err(|_| WebhookError::Malformed("encrypt"))?;
    if data.len() < 32 || data.len() % 16 != 0 {
        return Err(WebhookError::Malformed("encrypt"));
    }
    let key = ring::digest::digest(&ring::digest::SHA256, encrypt_key);
    let (iv, cipher) = data.split_at(16);
    cbc::Decryptor::<aes::Aes256>::new_from_slices(key.as_ref(), iv)
        .map_err(|_| WebhookError::Malformed("encrypt"))?
        .decrypt_padded_vec_mut::<Pkcs7>(cipher)
        .map_err(|_| WebhookError::Mismatch)
}

/// A Feishu URL-verification request's answer (`{"challenge": …}`), from a
/// plain or encrypted body; `None` for anything else.
pub fn challenge(encrypt_key: &[u8], body: &[u8]) -> Result<Option<String>, WebhookError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| WebhookError::Malformed("body"))?;
    let v = match v["encrypt"].as_str() {
        Some(e) => serde_json::from_slice(&decrypt(encrypt_key, e)?).map_err(|_| WebhookError::Mismatch)?,
        None => v,
    };
    Ok((v["type"].as_str() == Some("url_verification")).then(|| v["challenge"].as_str().map(String::from)).flatten())
}

/// Feishu checks the URL with an unsigned challenge (encrypted with the
/// Encrypt Key when one is set); a request without a signature that is not
/// one is refused as unsigned.
fn url_verification(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, WebhookError> {
    if headers.get("x-lark-signature").is_some() {
        return Ok(None);
    }
    challenge(secret, body)?.map(Some).ok_or(WebhookError::Missing("x-lark-signature"))
}
