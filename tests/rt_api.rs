//! The Request Tracker adapter against a fake serving payloads captured from
//! Debian's RT 5.0.3 (tests/fixtures/rt/: a requester's view of a ticket with
//! RT's auto-reply, an agent's correspondence, its mailed copy and the
//! resolution), plus RT's error shapes and hostile answers. The end-to-end
//! behaviour against a running RT is in tests/rt.rs.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::json;
use supportprobe::channel::client::Http;
use supportprobe::channel::rt::RtChannel;
use supportprobe::channel::rt::{RtAuth, RtSettings};
use supportprobe::channel::{Channel, ChannelError, OpenRequest, TicketStatus};
use supportprobe::classify::{AuthorKind, ClassifyOverrides, classify};
use supportprobe::config::{Secret, SecretSource};
use supportprobe::model::{Priority, ReplyClass};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PASSWORD: &str = "rt-s3cret-pw";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/rt/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn json_fixture(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

fn settings(server: &MockServer, auth: RtAuth) -> RtSettings {
    RtSettings {
        base_url: format!("{}/rt", server.uri()).parse().unwrap(),
        queue: "General".into(),
        requestor: "req1@example.test".into(),
        auth,
        resolve_on_close: true,
    }
}

fn basic_auth() -> RtAuth {
    RtAuth::Basic { username: "req1".into(), password: Secret::new(PASSWORD), source: SecretSource::Literal }
}

fn channel(server: &MockServer) -> RtChannel {
    RtChannel::new(Http::new(Duration::from_secs(5)).unwrap(), settings(server, basic_auth())).unwrap()
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// The captured ticket 3, each endpoint expected `times` times (`None`: any).
async fn mount_ticket(server: &MockServer, times: Option<u64>) {
    let api = "/rt/REST/2.0";
    let mut mocks = vec![
        Mock::given(method("GET")).and(path(format!("{api}/ticket/3"))).respond_with(json_fixture("ticket.json")),
        Mock::given(method("GET"))
            .and(path(format!("{api}/ticket/3/history")))
            .and(query_param("page", "1"))
            .respond_with(json_fixture("history.json")),
    ];
    let once = |m: Mock| match times {
        Some(n) => m.expect(n),
        None => m,
    };
    for t in [50, 51, 53, 54, 104] {
        mocks.push(once(
            Mock::given(method("GET"))
                .and(path(format!("{api}/transaction/{t}/attachments")))
                .respond_with(json_fixture(&format!("txn-{t}-attachments.json"))),
        ));
    }
    for a in [11, 13, 15] {
        mocks.push(once(
            Mock::given(method("GET"))
                .and(path(format!("{api}/attachment/{a}")))
                .respond_with(json_fixture(&format!("attachment-{a}.json"))),
        ));
    }
    // The mailed copies of the agent's correspondence and of the resolution are never read.
    for a in [17, 18, 61, 62] {
        mocks.push(
            Mock::given(method("GET"))
                .and(path(format!("{api}/attachment/{a}")))
                .respond_with(ResponseTemplate::new(500))
                .expect(0),
        );
    }
    for m in mocks {
        m.mount(server).await;
    }
}

#[tokio::test]
async fn poll_reads_a_real_rt_history_as_the_requester_sees_it() {
    let server = MockServer::start().await;
    mount_ticket(&server, Some(1)).await;
    let rt = channel(&server);
    let snap = rt.poll("3").await.unwrap();
    assert_eq!(snap.status, TicketStatus::Solved);
    assert_eq!(snap.status_at, Some(utc("2026-11-24T01:55:52Z")), "RT's Resolved");
    let seen: Vec<(&str, AuthorKind, &str)> =
        snap.messages.iter().map(|m| (m.id.as_str(), m.author_kind, m.author_id.as_str())).collect();
    assert_eq!(
        seen,
        vec![
            ("50", AuthorKind::Requester, "req1"),
            ("51", AuthorKind::Automation, "RT_System"),
            ("53", AuthorKind::Agent, "agentx"),
        ],
        "the mailed copies (54, 104) are not counted twice"
    );
    let [create, autoreply, agent] = &snap.messages[..] else { unreachable!() };
    assert_eq!(create.body, "body SP-TEST1");
    assert_eq!(create.at, utc("2026-11-24T01:47:52Z"));
    assert_eq!(autoreply.subject.as_deref(), Some("[rt.example.test #3] AutoReply: [SP-TEST1] hello"));
    assert!(autoreply.headers.iter().any(|(n, v)| n == "Auto-Submitted" && v == "auto-replied"));
    assert!(autoreply.body.starts_with("Greetings,"), "{}", autoreply.body);
    assert_eq!(agent.body, "Hi, agent here 你好");
    assert_eq!(agent.at, utc("2026-11-24T01:48:39Z"));

    // What the classifier makes of them.
    let class = |m: &supportprobe::channel::Message| classify(&m.facts(&[]), &ClassifyOverrides::default());
    assert_eq!(class(create).class, ReplyClass::Ours);
    assert_eq!((class(autoreply).class, class(autoreply).rule), (ReplyClass::AutoAck, "relay:rt:template".into()));
    assert_eq!(class(agent).class, ReplyClass::Human);
}

#[tokio::test]
async fn transactions_are_read_once_and_cached() {
    let server = MockServer::start().await;
    mount_ticket(&server, Some(1)).await;
    let rt = channel(&server);
    let first = rt.poll("3").await.unwrap();
    let second = rt.poll("3").await.unwrap();
    assert_eq!(first, second);
    // `expect(1)` on every transaction and attachment is verified when the server drops.
}

#[tokio::test]
async fn open_sets_queue_and_requestor_and_reads_rts_created_time() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rt/REST/2.0/ticket"))
        .and(header("authorization", basic("req1", PASSWORD).as_str()))
        .and(body_json(json!({
            "Queue": "General", "Subject": "[SP-TEST1] hello", "Content": "body SP-TEST1",
            "ContentType": "text/plain", "Requestor": "req1@example.test"
        })))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_raw(r#"{"_url":"http://rt/REST/2.0/ticket/3","id":"3","type":"ticket"}"#, "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/ticket/3"))
        .respond_with(json_fixture("ticket.json"))
        .mount(&server)
        .await;
    let req = OpenRequest {
        reference: "SP-TEST1",
        subject: "[SP-TEST1] hello",
        body: "body SP-TEST1",
        priority: Priority::P1,
    };
    let t = channel(&server).open(&req).await.unwrap();
    assert_eq!(t.id, "3");
    assert_eq!(t.created_at, utc("2026-11-24T01:47:52Z"));
    assert_eq!(t.url.as_deref(), Some(format!("{}/rt/Ticket/Display.html?id=3", server.uri()).as_str()));
}

#[tokio::test]
async fn find_searches_the_requesters_tickets_by_reference() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/tickets"))
        .and(query_param("query", "Requestor.EmailAddress = 'req1@example.test' AND Subject LIKE 'SP-TEST1'"))
        .and(query_param("orderby", "Created"))
        .and(query_param("order", "DESC"))
        .respond_with(json_fixture("search.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/tickets"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"items":[],"count":0,"page":1,"per_page":20,"total":0}"#, "application/json"),
        )
        .mount(&server)
        .await;
    let rt = channel(&server);
    let t = rt.find("SP-TEST1").await.unwrap().expect("found");
    assert_eq!((t.id.as_str(), t.created_at), ("3", utc("2026-11-24T01:47:52Z")));
    assert_eq!(rt.find("SP-NOTHERE").await.unwrap(), None);
}

#[tokio::test]
async fn reply_and_close_correspond_and_resolve_unless_rt_refuses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rt/REST/2.0/ticket/3/correspond"))
        .and(body_json(json!({ "Content": "thanks [SP-TEST1/close]", "ContentType": "text/plain" })))
        .respond_with(ResponseTemplate::new(201).set_body_raw(r#"["Correspondence added"]"#, "application/json"))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/rt/REST/2.0/ticket/3"))
        .and(body_json(json!({ "Status": "resolved" })))
        .respond_with(ResponseTemplate::new(403).set_body_raw(r#"{"message":"Forbidden"}"#, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let rt = channel(&server);
    rt.reply("3", "thanks [SP-TEST1/close]").await.unwrap();
    // Not allowed to resolve: the correspondence alone is the close.
    rt.close("3", Some("thanks [SP-TEST1/close]"), true).await.unwrap();
}

#[tokio::test]
async fn token_authentication_uses_rts_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/ticket/3"))
        .and(header("authorization", "token 1-14-abcdef"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(r#"{"message":"Unauthorized"}"#, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let auth = RtAuth::Token { token: Secret::new("1-14-abcdef"), source: SecretSource::Literal };
    let rt = RtChannel::new(Http::new(Duration::from_secs(5)).unwrap(), settings(&server, auth)).unwrap();
    let e = rt.poll("3").await.unwrap_err();
    assert!(matches!(e, ChannelError::Auth { status: Some(401), .. }), "{e:?}");
    let text = format!("{e} {e:?}");
    assert!(text.contains("Unauthorized") && !text.contains("abcdef"), "{text}");
}

#[tokio::test]
async fn history_pages_are_followed_and_endless_paging_is_refused() {
    let server = MockServer::start().await;
    let item = |id: u64| {
        json!({ "id": id.to_string(), "type": "transaction", "Type": "Status", "Creator": { "id": "agentx" },
                "Created": "2026-11-24T01:48:40Z", "Field": "Status", "NewValue": "open" })
    };
    let full: Vec<_> = (1..=100).map(item).collect();
    let ticket = fixture("ticket.json").replace(r#""Status" : "resolved""#, r#""Status" : "open""#);
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/ticket/3"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(ticket, "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/ticket/3/history"))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "items": full, "page": 1, "per_page": 100, "total": null })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/ticket/3/history"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "items": [item(101)], "page": 2, "per_page": 100 })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let snap = channel(&server).poll("3").await.unwrap();
    assert!(snap.messages.is_empty());
    assert_eq!(snap.status, TicketStatus::Open);

    // A server that always says "there is more".
    let hostile = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/ticket/3"))
        .respond_with(json_fixture("ticket.json"))
        .mount(&hostile)
        .await;
    let endless: Vec<_> = (1..=100).map(item).collect();
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/ticket/3/history"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "items": endless })))
        .expect(100)
        .mount(&hostile)
        .await;
    let e = channel(&hostile).poll("3").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Malformed(m) if m.contains("pages of history")), "{e:?}");
}

#[tokio::test]
async fn hostile_and_broken_answers_are_clear_errors() {
    // Another ticket than asked for.
    let server = MockServer::start().await;
    let other = fixture("ticket.json").replace(r#""id" : 3"#, r#""id" : 4"#);
    assert_ne!(other, fixture("ticket.json"), "the fixture's id was replaced");
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/ticket/3"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(other, "application/json"))
        .mount(&server)
        .await;
    let e = channel(&server).poll("3").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Malformed(m) if m.contains("ticket 4")), "{e:?}");

    // Attachment content that is not base64.
    let server = MockServer::start().await;
    mount_ticket(&server, None).await;
    Mock::given(method("GET"))
        .and(path("/rt/REST/2.0/attachment/15"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 15, "Content": "!!not base64!!" })))
        .with_priority(1)
        .mount(&server)
        .await;
    // One transaction whose attachment is broken is skipped and counted; the others are read.
    let rt = channel(&server);
    let good = rt.poll("3").await.expect("the poll succeeds without that transaction");
    let problems = rt.drain_problems();
    assert!(
        problems.len() == 1 && problems[0].0 == "unparseable" && problems[0].1.contains("attachment 15"),
        "{problems:?}"
    );
    assert!(!good.messages.is_empty());

    // Not JSON at all (a proxy's error page with status 200).
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>Login</html>"))
        .mount(&server)
        .await;
    let e = channel(&server).poll("3").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Malformed(m) if m.contains("invalid JSON")), "{e:?}");

    // RT's 404 shape.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_raw(r#"{"message":"Not Found"}"#, "application/json"))
        .mount(&server)
        .await;
    let e = channel(&server).poll("3").await.unwrap_err();
    assert!(matches!(&e, ChannelError::NotFound { message } if message == "Not Found"), "{e:?}");

    // Ids that are not RT ticket numbers never reach the server.
    let server = MockServer::start().await;
    Mock::given(|_: &Request| true).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    for bad in ["../user/root", "3?x=1", "", "12345678901234567890"] {
        let e = channel(&server).poll(bad).await.unwrap_err();
        assert!(matches!(e, ChannelError::Malformed(_)), "{bad}: {e:?}");
    }
}
