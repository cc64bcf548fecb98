//! Sending one notification to one target, in each platform's own format:
//!
//! - `webhook`: the [`Notification`] as JSON, with `Idempotency-Key`.
//! - `slack` incoming webhook: `{"text": …}`; answers `ok`.
//! - `feishu`/Lark custom bot: `{"msg_type":"text","content":{"text":…}}`,
//!   signed with `timestamp` and `sign` = base64(HMAC-SHA256 keyed by
//!   `timestamp + "\n" + secret` over an empty message); answers `{"code":0}`.
//! - `dingtalk` custom bot: `{"msgtype":"text","text":{"content":…}}`, signed
//!   with `&timestamp=MS&sign=` base64(HMAC-SHA256 keyed by the secret over
//!   `MS + "\n" + secret`) in the URL; answers `{"errcode":0}`.
//! - `wecom` group bot: `{"msgtype":"text","text":{"content":…}}`; answers `{"errcode":0}`.
//! - `email`: a plain-text message through SMTP (none, STARTTLS or TLS).
//!
//! Errors never contain the target URL: group-bot and webhook URLs carry tokens.

use std::time::Duration;

use base64::Engine;
use lettre::AsyncTransport;
use reqwest::{StatusCode, header};
use ring::hmac;
use serde_json::{Value, json};

use super::Notification;
use crate::channel::email::smtp_transport;
use crate::config::{EmailSink, Sink};

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String, retry_after: Option<Duration> },
    #[error("refused with code {code}: {message}")]
    Refused { code: i64, message: String },
    #[error("cannot reach the target: {0}")]
    Transport(String),
    #[error("email: {0}")]
    Email(String),
}

impl SendError {
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Feishu/Lark: base64(HMAC-SHA256, key = `timestamp + "\n" + secret`, message empty).
pub fn feishu_sign(secret: &str, timestamp: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, format!("{timestamp}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, b"").as_ref())
}

/// DingTalk: base64(HMAC-SHA256, key = secret, message = `timestamp_ms + "\n" + secret`).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    base64::engine::general_purpose::STANDARD
        .encode(hmac::sign(&key, format!("{timestamp_ms}\n{secret}").as_bytes()).as_ref())
}

#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
}

impl Sender {
    pub fn new() -> Result<Sender, SendError> {
        let http = crate::channel::client::shared_client().map_err(|e| SendError::Transport(e.to_string()))?;
        Ok(Sender { http })
    }

    pub async fn send(&self, sink: &Sink, n: &Notification) -> Result<(), SendError> {
        let text = n.text();
        match sink {
            Sink::Webhook { url, headers } => {
                let mut rb = self.http.post(url.expose()).header("Idempotency-Key", &n.id).json(n);
                for (k, v) in headers {
                    rb = rb.header(k.as_str(), v.expose());
                }
                self.post(rb).await.map(drop)
            }
            Sink::Slack { url } => {
                self.post(self.http.post(url.expose()).json(&json!({ "text": text }))).await.map(drop)
            }
            Sink::Feishu { url, secret } => {
                let mut body = json!({ "msg_type": "text", "content": { "text": text } });
                if let Some(secret) = secret {
                    let ts = chrono::Utc::now().timestamp();
                    body["timestamp"] = json!(ts.to_string());
                    body["sign"] = json!(feishu_sign(secret.expose(), ts));
                }
                let reply = self.post(self.http.post(url.expose()).json(&body)).await?;
                // Newer answers carry `code`; older ones `StatusCode`.
                check_code(&reply, &["code", "StatusCode"], &["msg", "StatusMessage"])
            }
            Sink::Dingtalk { url, secret } => {
                let mut url =
                    reqwest::Url::parse(url.expose()).map_err(|_| SendError::Transport("invalid URL".into()))?;
                if let Some(secret) = secret {
                    let ts = chrono::Utc::now().timestamp_millis();
                    url.query_pairs_mut()
                        .append_pair("timestamp", &ts.to_string())
                        .append_pair("sign", &dingtalk_sign(secret.expose(), ts));
                }
                let body = json!({ "msgtype": "text", "text": { "content": text } });
                let reply = self.post(self.http.post(url).json(&body)).await?;
                check_code(&reply, &["errcode"], &["errmsg"])
            }
            Sink::Wecom { url } => {
                let body = json!({ "msgtype": "text", "text": { "content": text } });
                let reply = self.post(self.http.post(url.expose()).json(&body)).await?;
                check_code(&reply, &["errcode"], &["errmsg"])
            }
            Sink::Email(e) => send_email(e, n).await,
        }
    }

    /// Posts and returns the body of a 2xx answer.
    async fn post(&self, rb: reqwest::RequestBuilder) -> Result<String, SendError> {
        let resp = rb
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| SendError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::channel::client::parse_retry_after(v, chrono::Utc::now()));
        let body = resp.text().await.map_err(|e| SendError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            return Ok(body);
        }
        let message = crate::channel::client::error_excerpt(body.as_bytes());
        let retry_after = if status == StatusCode::TOO_MANY_REQUESTS {
            retry_after.or(Some(Duration::from_secs(30)))
        } else {
            retry_after
        };
        Err(SendError::Http { status: status.as_u16(), message, retry_after })
    }
}

/// Chat platforms answer HTTP 200 with an error code in the body.
fn check_code(body: &str, code_keys: &[&str], msg_keys: &[&str]) -> Result<(), SendError> {
    let v: Value = serde_json::from_str(body).map_err(|_| SendError::Refused {
        code: -1,
        message: format!("unexpected answer: {}", crate::channel::client::error_excerpt(body.as_bytes())),
    })?;
    let code = code_keys.iter().find_map(|k| v.get(*k).and_then(Value::as_i64));
    match code {
        Some(0) => Ok(()),
        Some(code) => {
            let message = msg_keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str)).unwrap_or("").to_string();
            Err(SendError::Refused { code, message })
        }
        None => Err(SendError::Refused { code: -1, message: format!("no result code in {}", code_keys.join("/")) }),
    }
}

async fn send_email(e: &EmailSink, n: &Notification) -> Result<(), SendError> {
    let err = |x: &dyn std::fmt::Display| SendError::Email(x.to_string());
    let mut builder = lettre::Message::builder()
        .from(e.from.clone())
        .subject(format!("[supportprobe] {}", n.summary))
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        // The key in the Message-ID lets a mailbox drop a repeat.
        .message_id(Some(format!(
            "<{}@supportprobe>",
            n.id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', ".")
        )));
    for to in &e.to {
        builder = builder.to(to.clone());
    }
    let message = builder.body(n.text()).map_err(|x| err(&x))?;
    smtp_transport(&e.smtp).map_err(|x| err(&x))?.send(message).await.map(drop).map_err(|x| err(&x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers computed independently (Python's hmac module).
    #[test]
    fn signatures_match_independent_implementations() {
        assert_eq!(feishu_sign("demo-feishu-secret", 1_599_360_473), "I14G+BylJBIS1VqI4nUg1mKqMAjMGZlFJGT36IJRUr8=");
        assert_eq!(
            dingtalk_sign("SECdemo-dingtalk", 1_599_360_473_000),
            "J/FUCNJJKLEi1J9N5V9Bglf6Z6MAA8zq7tGpXxeJ8Xw="
        );
    }

    #[test]
    fn platform_result_codes() {
        assert!(check_code(r#"{"code":0,"msg":"success","data":{}}"#, &["code", "StatusCode"], &["msg"]).is_ok());
        assert!(check_code(r#"{"StatusCode":0,"StatusMessage":"success"}"#, &["code", "StatusCode"], &["msg"]).is_ok());
        let e = check_code(
            r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
            &["code"],
            &["msg"],
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("refused with code 19021: sign match fail"), "{e}");
        assert!(check_code(r#"{"errcode":0,"errmsg":"ok"}"#, &["errcode"], &["errmsg"]).is_ok());
        assert!(check_code(r#"{"errcode":310000,"errmsg":"sign not match"}"#, &["errcode"], &["errmsg"]).is_err());
        assert!(check_code("<html>", &["errcode"], &["errmsg"]).is_err());
    }
}
