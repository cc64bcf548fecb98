//! The Intercom adapter against a fake speaking Intercom's REST wire format:
//! a conversation in the documented shape (Operator, Fin as an AI agent, an
//! assignment, an internal note, a teammate, our contact, the close) and
//! Intercom's error list.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use supportprobe::channel::client::Http;
use supportprobe::channel::intercom::IntercomChannel;
use supportprobe::channel::intercom::IntercomSettings;
use supportprobe::channel::{Channel, ChannelError, OpenRequest, TicketStatus};
use supportprobe::classify::{AuthorKind, ClassifyOverrides, classify};
use supportprobe::config::{Secret, SecretSource};
use supportprobe::model::{Priority, ReplyClass};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn channel(server: &MockServer) -> IntercomChannel {
    let settings = IntercomSettings {
        api_url: server.uri().parse().unwrap(),
        token: Secret::new("dG9rOmFiYw=="),
        token_source: SecretSource::Literal,
        contact_id: "6657a1b2c3d4e5f6a7b8c9d0".into(),
    };
    IntercomChannel::new(Http::new(Duration::from_secs(5)).unwrap(), settings)
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

#[tokio::test]
async fn a_conversation_read_as_intercom_sends_it() {
    let server = MockServer::start().await;
    let text =
        std::fs::read_to_string(format!("{}/tests/fixtures/intercom/conversation.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    Mock::given(method("GET"))
        .and(path("/conversations/147"))
        .and(header("intercom-version", "2.11"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(text, "application/json"))
        .mount(&server)
        .await;
    let snap = channel(&server).poll("147").await.unwrap();
    let seen: Vec<(&str, AuthorKind)> = snap.messages.iter().map(|m| (m.id.as_str(), m.author_kind)).collect();
    assert_eq!(
        seen,
        [
            ("source-147", AuthorKind::Requester),
            ("7001", AuthorKind::Bot),
            ("7002", AuthorKind::Bot),
            ("7003", AuthorKind::Bystander),
            ("7005", AuthorKind::Agent),
            ("7006", AuthorKind::Requester),
            ("7007", AuthorKind::Bystander),
        ],
        "the assignment and the empty close are bystanders, the internal note is never read"
    );
    assert_eq!(snap.messages[4].at, at(1_795_402_961));
    assert_eq!(snap.status, TicketStatus::Solved);
    assert_eq!(snap.status_at, Some(at(1_795_415_400)), "timed at the close part");
    let classes: Vec<ReplyClass> =
        snap.messages.iter().map(|m| classify(&m.facts(&[]), &ClassifyOverrides::default()).class).collect();
    assert_eq!(
        classes,
        [
            ReplyClass::Ours,
            ReplyClass::Bot,
            ReplyClass::Bot,
            ReplyClass::Bystander,
            ReplyClass::Human,
            ReplyClass::Ours,
            ReplyClass::Bystander
        ]
    );
}

#[tokio::test]
async fn starting_replying_and_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/conversations"))
        .and(body_json(json!({ "from": { "type": "user", "id": "6657a1b2c3d4e5f6a7b8c9d0" }, "body": "[SP-7K3Q9X2M] Calls drop\n\nHello" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "type": "user_message", "id": "403918330", "created_at": 1795400047, "message_type": "inapp", "conversation_id": "147"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/conversations/147/reply"))
        .and(body_json(json!({ "message_type": "comment", "type": "user", "intercom_user_id": "6657a1b2c3d4e5f6a7b8c9d0", "body": "thanks" })))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "type": "error.list", "request_id": "b3g8cpt3p4q4ov2bg6ug", "errors": [{ "code": "unauthorized", "message": "Access Token Invalid" }]
        })))
        .mount(&server)
        .await;
    let ic = channel(&server);
    let req = OpenRequest {
        reference: "SP-7K3Q9X2M",
        subject: "[SP-7K3Q9X2M] Calls drop",
        body: "Hello",
        priority: Priority::P1,
    };
    let t = ic.open(&req).await.unwrap();
    assert_eq!((t.id.as_str(), t.created_at), ("147", at(1_795_400_047)));
    let e = ic.reply("147", "thanks").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Auth { message, .. } if message.contains("Access Token Invalid")), "{e:?}");
    assert!(matches!(ic.poll("../admins").await.unwrap_err(), ChannelError::Malformed(_)));
}

#[tokio::test]
async fn an_admins_close_with_a_body_is_that_persons_reply() {
    let server = MockServer::start().await;
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/intercom/conversation_closed_with_reply.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    Mock::given(method("GET"))
        .and(path("/conversations/148"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(text, "application/json"))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let snap = ch.poll("148").await.expect("one bad part does not fail the conversation");
    let seen: Vec<(&str, AuthorKind)> = snap.messages.iter().map(|m| (m.id.as_str(), m.author_kind)).collect();
    assert_eq!(
        seen,
        [("source-148", AuthorKind::Requester), ("8101", AuthorKind::Bystander), ("8102", AuthorKind::Agent)]
    );
    let close = &snap.messages[2];
    assert_eq!(close.at, at(1_795_405_000));
    assert!(close.body.contains("upgrade to 4.2.1"), "{}", close.body);
    let c = classify(&close.facts(&[]), &ClassifyOverrides::default());
    assert_eq!(c.class, ReplyClass::Human, "the fix given while closing is the first human response");
    assert_eq!(snap.status, TicketStatus::Solved);
    let problems = ch.drain_problems();
    assert!(problems.len() == 1 && problems[0].0 == "unparseable" && problems[0].1.contains("8103"), "{problems:?}");
}
