//! The Freshdesk adapter against a fake speaking Freshdesk's v2 wire format:
//! ticket and conversation payloads in the documented shapes (an AI
//! assistant's reply, a private note, an agent's reply with quoted text, the
//! requester's incoming note), `Link` pagination, the customer-reply note,
//! status and priority codes, and Freshdesk's error bodies.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::json;
use supportprobe::channel::client::Http;
use supportprobe::channel::freshdesk::FreshdeskChannel;
use supportprobe::channel::freshdesk::FreshdeskSettings;
use supportprobe::channel::{Channel, ChannelError, OpenRequest, TicketStatus};
use supportprobe::classify::{AuthorKind, ClassifyOverrides, classify};
use supportprobe::config::{Secret, SecretSource};
use supportprobe::model::{Priority, ReplyClass};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "fd-api-key-s3cr3t";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/freshdesk/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn json_fixture(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

fn channel(server: &MockServer) -> FreshdeskChannel {
    let settings = FreshdeskSettings {
        base_url: server.uri().parse().unwrap(),
        email: "poc@example.com".into(),
        api_key: Secret::new(KEY),
        api_key_source: SecretSource::Literal,
        set_priority: true,
    };
    FreshdeskChannel::new(Http::new(Duration::from_secs(5)).unwrap(), settings).unwrap()
}

fn basic() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:X")))
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[tokio::test]
async fn poll_reads_conversations_across_pages_without_private_notes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/tickets/2187"))
        .and(header("authorization", basic().as_str()))
        .respond_with(json_fixture("ticket.json"))
        .mount(&server)
        .await;
    let next = format!(r#"<{}/api/v2/tickets/2187/conversations?page=2&per_page=100>; rel="next""#, server.uri());
    Mock::given(method("GET"))
        .and(path("/api/v2/tickets/2187/conversations"))
        .and(query_param("page", "2"))
        .respond_with(json_fixture("conversations_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/tickets/2187/conversations"))
        .respond_with(json_fixture("conversations_page1.json").insert_header("link", next.as_str()))
        .with_priority(10)
        .expect(1)
        .mount(&server)
        .await;
    let snap = channel(&server).poll("2187").await.unwrap();
    assert_eq!(snap.status, TicketStatus::Solved, "status 4 = resolved");
    assert_eq!(snap.status_at, Some(utc("2026-11-23T05:02:31Z")));
    assert_eq!(snap.team.as_deref(), Some("43000578234"), "the ticket's group");
    let ids: Vec<&str> = snap.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["43150001001", "43150001003", "43150001004"], "the private note is never seen");
    let kinds: Vec<AuthorKind> = snap.messages.iter().map(|m| m.author_kind).collect();
    assert_eq!(kinds, [AuthorKind::Agent, AuthorKind::Agent, AuthorKind::Requester]);
    assert_eq!(snap.messages[1].at, utc("2026-11-23T02:51:12Z"));
    let fd = snap
        .messages
        .iter()
        .find(|m| m.author_email.as_deref() == Some("support@yunxin.example") && m.author_name == "Wang Gong");
    assert!(
        fd.is_some(),
        "`Name <addr>` split into name and address: {:?}",
        snap.messages.iter().map(|m| (&m.author_name, &m.author_email)).collect::<Vec<_>>()
    );
    let judged = classify(&snap.messages[1].facts(&[]), &ClassifyOverrides::default()).judged;
    assert!(!judged.contains("中断约 3 秒") && judged.contains("SDK 日志"), "quoted text not judged: {judged}");
    let classes: Vec<ReplyClass> =
        snap.messages.iter().map(|m| classify(&m.facts(&[]), &ClassifyOverrides::default()).class).collect();
    assert_eq!(classes, [ReplyClass::Bot, ReplyClass::Human, ReplyClass::Ours], "the AI assistant is a bot");
}

#[tokio::test]
async fn open_reply_and_close_send_the_documented_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/tickets"))
        .and(body_json(json!({
            "email": "poc@example.com", "subject": "[SP-7K3Q9X2M] Calls drop", "description": "Hello",
            "status": 2, "source": 2, "priority": 4
        })))
        .respond_with(ResponseTemplate::new(201).set_body_raw(fixture("ticket.json"), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/tickets/2187"))
        .respond_with(json_fixture("ticket.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/tickets/2187/notes"))
        .and(body_json(json!({ "body": "Thanks [SP-7K3Q9X2M/close]", "incoming": true, "private": false, "user_id": 43021877650_i64 })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/tickets/2187"))
        .and(body_json(json!({ "status": 4 })))
        .respond_with(json_fixture("ticket.json"))
        .expect(1)
        .mount(&server)
        .await;
    let fd = channel(&server);
    let req = OpenRequest {
        reference: "SP-7K3Q9X2M",
        subject: "[SP-7K3Q9X2M] Calls drop",
        body: "Hello",
        priority: Priority::P0,
    };
    let t = fd.open(&req).await.unwrap();
    assert_eq!((t.id.as_str(), t.created_at), ("2187", utc("2026-11-23T02:14:07Z")));
    fd.reply("2187", "Thanks [SP-7K3Q9X2M/close]").await.unwrap();
    fd.close("2187", Some("Thanks [SP-7K3Q9X2M/close]"), true).await.unwrap();
}

#[tokio::test]
async fn errors_in_freshdesks_shapes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/tickets/1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({ "code": "invalid_credentials", "message": "You have to be logged in to perform this action." }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/tickets/2"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("retry-after", "41").insert_header("x-ratelimit-remaining", "0"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/tickets"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "description": "Validation failed",
            "errors": [{ "field": "email", "message": "There is no contact matching the given email", "code": "invalid_value" }]
        })))
        .mount(&server)
        .await;
    let fd = channel(&server);
    let e = fd.poll("1").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Auth { status: Some(401), message } if message.contains("logged in")), "{e:?}");
    assert!(!format!("{e:?}").contains(KEY));
    assert!(
        matches!(fd.poll("2").await.unwrap_err(), ChannelError::RateLimited { retry_after: Some(d) } if d.as_secs() == 41)
    );
    let req = OpenRequest { reference: "SP-7K3Q9X2M", subject: "x", body: "y", priority: Priority::P3 };
    let e = fd.open(&req).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Rejected { status: 400, message } if message.contains("Validation failed")),
        "{e:?}"
    );
}
