//! The Slack adapter against a fake speaking the Web API's wire format:
//! `conversations.replies` in the documented shape (an intake bot's
//! `bot_message`, the vendor's engineer from another team in the shared
//! channel, a colleague from our own team, the ✅ reaction), cursors,
//! `chat.postMessage`, and Slack's `{"ok": false}` errors and 429s.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use supportprobe::channel::client::Http;
use supportprobe::channel::slack::SlackChannel;
use supportprobe::channel::slack::SlackSettings;
use supportprobe::channel::{Channel, ChannelError, OpenRequest, TicketStatus};
use supportprobe::classify::{AuthorKind, ClassifyOverrides, classify};
use supportprobe::config::{Secret, SecretSource};
use supportprobe::model::{Priority, ReplyClass};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn channel(server: &MockServer) -> SlackChannel {
    let settings = SlackSettings {
        api_url: format!("{}/api", server.uri()).parse().unwrap(),
        channel: "C0SUPPORT1".into(),
        token: Secret::new("xoxp-s3cr3t"),
        token_source: SecretSource::Literal,
        resolved_reaction: "white_check_mark".into(),
    };
    SlackChannel::new(Http::new(Duration::from_secs(5)).unwrap(), settings)
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

async fn auth(server: &MockServer) {
    Mock::given(path("/api/auth.test"))
        .and(header("authorization", "Bearer xoxp-s3cr3t"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "url": "https://acme.slack.com/", "team": "ACME", "user": "poc",
            "team_id": "T061EG9R6", "user_id": "U061F7AUR"
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_thread_read_as_slack_sends_it() {
    let server = MockServer::start().await;
    auth(&server).await;
    let replies =
        std::fs::read_to_string(format!("{}/tests/fixtures/slack/replies.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    Mock::given(method("GET"))
        .and(path("/api/conversations.replies"))
        .and(query_param("channel", "C0SUPPORT1"))
        .and(query_param("ts", "1795400047.481000"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(replies, "application/json"))
        .mount(&server)
        .await;
    let snap = channel(&server).poll("1795400047.481000").await.unwrap();
    let seen: Vec<(AuthorKind, DateTime<Utc>)> = snap.messages.iter().map(|m| (m.author_kind, m.at)).collect();
    assert_eq!(
        seen,
        [
            (AuthorKind::Requester, utc("2026-11-23T02:14:07.481Z")),
            (AuthorKind::Bot, utc("2026-11-23T02:14:09.102300Z")),
            (AuthorKind::Agent, utc("2026-11-23T03:02:41.733100Z")),
            (AuthorKind::Bystander, utc("2026-11-23T03:03:20.000200Z")),
            (AuthorKind::Agent, utc("2026-11-23T03:06:41.000300Z")),
        ],
        "our colleague's +1 is reported as a bystander, not the vendor's"
    );
    assert_eq!(snap.messages[2].author_name, "Lin Wei");
    assert_eq!(snap.status, TicketStatus::Solved, "the vendor's ✅ on the thread");
    assert_eq!(snap.status_at, Some(utc("2026-11-23T03:06:41.000300Z")), "timed at the vendor's last message");
    let classes: Vec<ReplyClass> =
        snap.messages.iter().map(|m| classify(&m.facts(&[]), &ClassifyOverrides::default()).class).collect();
    assert_eq!(
        classes,
        [ReplyClass::Ours, ReplyClass::Bot, ReplyClass::Human, ReplyClass::Bystander, ReplyClass::Human]
    );
}

#[tokio::test]
async fn posting_and_slack_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(body_json(json!({ "channel": "C0SUPPORT1", "text": "*[SP-7K3Q9X2M] Calls drop*\nHello" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "channel": "C0SUPPORT1", "ts": "1795400047.481000",
            "message": { "type": "message", "user": "U061F7AUR", "text": "*[SP-7K3Q9X2M] Calls drop*\nHello", "ts": "1795400047.481000" }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(body_json(
            json!({ "channel": "C0SUPPORT1", "text": "logs [SP-7K3Q9X2M/f1]", "thread_ts": "1795400047.481000" }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": false, "error": "invalid_auth" })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/conversations.replies"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_json(json!({ "ok": false, "error": "ratelimited" })),
        )
        .mount(&server)
        .await;
    let slack = channel(&server);
    let req = OpenRequest {
        reference: "SP-7K3Q9X2M",
        subject: "[SP-7K3Q9X2M] Calls drop",
        body: "Hello",
        priority: Priority::P0,
    };
    let t = slack.open(&req).await.unwrap();
    assert_eq!((t.id.as_str(), t.created_at), ("1795400047.481000", utc("2026-11-23T02:14:07.481Z")));
    let e = slack.reply(&t.id, "logs [SP-7K3Q9X2M/f1]").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Auth { message, .. } if message.contains("invalid_auth")), "{e:?}");
    auth(&server).await;
    let e = slack.poll(&t.id).await.unwrap_err();
    assert!(matches!(e, ChannelError::RateLimited { retry_after: Some(d) } if d.as_secs() == 30), "{e:?}");
    assert!(matches!(slack.poll("not-a-ts").await.unwrap_err(), ChannelError::Malformed(_)));
}
