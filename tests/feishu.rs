//! The Feishu adapter against a fake speaking the `im/v1` wire format: a
//! tenant token fetched once and again when Feishu calls it invalid, a thread
//! in the documented message shapes (our app, the vendor's helpdesk app, a
//! system message, a `post` from the vendor's engineer, a colleague from our
//! own tenant, an unrelated message), millisecond times, and Feishu's codes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use supportprobe::channel::client::Http;
use supportprobe::channel::feishu::FeishuChannel;
use supportprobe::channel::feishu::FeishuSettings;
use supportprobe::channel::{Channel, ChannelError};
use supportprobe::classify::{AuthorKind, ClassifyOverrides, classify};
use supportprobe::config::{Secret, SecretSource};
use supportprobe::model::ReplyClass;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn channel(server: &MockServer) -> FeishuChannel {
    let settings = FeishuSettings {
        api_url: server.uri().parse().unwrap(),
        app_id: "cli_a1b2c3d4e5f60001".into(),
        app_secret: Secret::new("feishu-app-s3cr3t"),
        app_secret_source: SecretSource::Literal,
        chat_id: "oc_5ad11d72b830411d72b836c20".into(),
        our_tenant_key: Some("736588c9260f175d".into()),
    };
    FeishuChannel::new(Http::new(Duration::from_secs(5)).unwrap(), settings)
}

fn fixture(name: &str) -> ResponseTemplate {
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/feishu/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    ResponseTemplate::new(200).set_body_raw(text, "application/json")
}

fn ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap()
}

/// Hands out `t-1`, then `t-2`, …
struct Tokens(Arc<AtomicUsize>);

impl Respond for Tokens {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200)
            .set_body_json(json!({ "code": 0, "msg": "ok", "tenant_access_token": format!("t-{n}"), "expire": 7200 }))
    }
}

/// Polls the documented thread, with the first tenant token refused as
/// expired, the group's history served from `history`; checks what every such
/// poll must show and returns the channel for more checks.
async fn poll_the_thread(history: &str) -> FeishuChannel {
    let server = MockServer::start().await;
    let issued = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/open-apis/auth/v3/tenant_access_token/internal"))
        .and(body_json(json!({ "app_id": "cli_a1b2c3d4e5f60001", "app_secret": "feishu-app-s3cr3t" })))
        .respond_with(Tokens(issued.clone()))
        .mount(&server)
        .await;
    // The first token is refused as expired; the second works.
    Mock::given(header("authorization", "Bearer t-1"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({ "code": 99991663, "msg": "Invalid access token for authorization." })),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open-apis/im/v1/messages/om_dc13264520392913993dd051dba21dcf"))
        .and(header("authorization", "Bearer t-2"))
        .respond_with(fixture("root.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open-apis/im/v1/messages"))
        .and(query_param("container_id_type", "chat"))
        .and(query_param("container_id", "oc_5ad11d72b830411d72b836c20"))
        .and(query_param("start_time", "1795400047"))
        .and(header("authorization", "Bearer t-2"))
        .respond_with(fixture(history))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let snap = ch.poll("om_dc13264520392913993dd051dba21dcf").await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 2, "fetched again once after 99991663");
    let seen: Vec<(AuthorKind, DateTime<Utc>)> = snap.messages.iter().map(|m| (m.author_kind, m.at)).collect();
    assert_eq!(
        seen,
        [
            (AuthorKind::Requester, ms(1_795_400_047_481)),
            (AuthorKind::Bot, ms(1_795_400_049_102)),
            (AuthorKind::Agent, ms(1_795_402_961_733)),
            (AuthorKind::Bystander, ms(1_795_403_000_000)),
        ],
        "our colleague is a bystander; the group's system message and what is outside the thread are not the thread's"
    );
    assert_eq!(snap.messages[2].body, "您好，我是技术支持王工，麻烦提供两台设备的 SDK 日志。");
    let classes: Vec<ReplyClass> =
        snap.messages.iter().map(|m| classify(&m.facts(&[]), &ClassifyOverrides::default()).class).collect();
    assert_eq!(classes, [ReplyClass::Ours, ReplyClass::Bot, ReplyClass::Human, ReplyClass::Bystander]);
    ch
}

#[tokio::test]
async fn a_thread_read_with_a_token_refreshed_once() {
    let ch = poll_the_thread("history.json").await;
    assert!(ch.drain_problems().is_empty());
}

#[tokio::test]
async fn one_malformed_item_is_skipped_and_counted_not_the_page() {
    let ch = poll_the_thread("history_one_malformed.json").await;
    let problems = ch.drain_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, "unparseable");
    assert!(problems[0].1.contains("om_1a2b3c4d5e6f0000000000000000bad1"), "the item is named: {problems:?}");
}

#[tokio::test]
async fn feishu_codes_become_clear_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/open-apis/auth/v3/tenant_access_token/internal"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "code": 0, "msg": "ok", "tenant_access_token": "t-ok", "expire": 7200 })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open-apis/im/v1/messages/om_ratelimited"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-ogw-ratelimit-reset", "9")
                .set_body_json(json!({ "code": 99991400, "msg": "request trigger frequency limit" })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open-apis/im/v1/messages/om_gone"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({ "code": 230011, "msg": "The message was withdrawn." })),
        )
        .mount(&server)
        .await;
    let f = channel(&server);
    assert!(
        matches!(f.poll("om_ratelimited").await.unwrap_err(), ChannelError::RateLimited { retry_after: Some(d) } if d.as_secs() == 9)
    );
    assert!(matches!(f.poll("om_gone").await.unwrap_err(), ChannelError::NotFound { .. }));
    assert!(matches!(f.poll("../../auth").await.unwrap_err(), ChannelError::Malformed(_)));

    let wrong = MockServer::start().await;
    Mock::given(path("/open-apis/auth/v3/tenant_access_token/internal"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "code": 10014, "msg": "app secret invalid" })))
        .mount(&wrong)
        .await;
    let e = channel(&wrong).poll("om_x").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Auth { message, .. } if message.contains("10014")), "{e:?}");
    assert!(!format!("{e:?}").contains("feishu-app-s3cr3t"));
}
