//! The Jira Service Management adapter against a fake speaking the
//! `servicedeskapi` wire format: a request and its public comments in the
//! documented shapes (DateDTOs with milliseconds and `+0800` offsets, an
//! Automation for Jira comment by an `app` account, an agent, the reporter),
//! account types from `/rest/api/3/user`, customer transitions, errors.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use supportprobe::channel::client::Http;
use supportprobe::channel::jira_sm::JiraSmChannel;
use supportprobe::channel::jira_sm::JiraSmSettings;
use supportprobe::channel::{Channel, ChannelError, TicketStatus};
use supportprobe::classify::{AuthorKind, ClassifyOverrides, classify};
use supportprobe::config::{Secret, SecretSource};
use supportprobe::model::ReplyClass;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> ResponseTemplate {
    fixture_with(200, name)
}

fn fixture_with(status: u16, name: &str) -> ResponseTemplate {
    let text =
        std::fs::read_to_string(format!("{}/tests/fixtures/jira_sm/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    ResponseTemplate::new(status).set_body_raw(text, "application/json")
}

fn channel(server: &MockServer) -> JiraSmChannel {
    let settings = JiraSmSettings {
        base_url: server.uri().parse().unwrap(),
        email: "poc@example.com".into(),
        api_token: Secret::new("atl-token-s3cr3t"),
        api_token_source: SecretSource::Literal,
        service_desk_id: "10".into(),
        request_type_id: "25".into(),
        close_transition: None,
    };
    JiraSmChannel::new(Http::new(Duration::from_secs(5)).unwrap(), settings)
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

async fn account(server: &MockServer, id: &str, kind: &str) {
    Mock::given(method("GET"))
        .and(path("/rest/api/3/user"))
        .and(query_param("accountId", id))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "accountId": id, "accountType": kind, "active": true })),
        )
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn poll_reads_request_and_comments_to_the_millisecond() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/servicedeskapi/request/RTC-4521"))
        .respond_with(fixture("request.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/servicedeskapi/request/RTC-4521/comment"))
        .and(query_param("public", "true"))
        .and(query_param("internal", "false"))
        .respond_with(fixture("comments.json"))
        .mount(&server)
        .await;
    account(&server, "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", "app").await;
    account(&server, "5b10ac8d82e05b22cc7d4ef5", "atlassian").await;
    let jira = channel(&server);
    let snap = jira.poll("RTC-4521").await.unwrap();
    // A second look asks Jira about no account again (expect(1) above).
    jira.poll("RTC-4521").await.unwrap();
    assert_eq!(snap.status, TicketStatus::Solved, "status category DONE");
    assert_eq!(snap.status_at, Some(utc("2026-11-23T06:30:00.250Z")));
    let seen: Vec<(AuthorKind, DateTime<Utc>)> = snap.messages.iter().map(|m| (m.author_kind, m.at)).collect();
    assert_eq!(
        seen,
        [
            (AuthorKind::Bot, utc("2026-11-23T02:14:09.102Z")),
            (AuthorKind::Agent, utc("2026-11-23T03:02:41.733Z")),
            (AuthorKind::Requester, utc("2026-11-23T03:20:05.004Z")),
        ]
    );
    let classes: Vec<ReplyClass> =
        snap.messages.iter().map(|m| classify(&m.facts(&[]), &ClassifyOverrides::default()).class).collect();
    assert_eq!(classes, [ReplyClass::Bot, ReplyClass::Human, ReplyClass::Ours], "Automation for Jira is no person");
    assert_eq!(snap.messages[1].author_name, "Lin Wei");
}

#[tokio::test]
async fn open_comment_and_close_through_the_customer_transition() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/servicedeskapi/request"))
        .and(body_json(json!({
            "serviceDeskId": "10", "requestTypeId": "25",
            "requestFieldValues": { "summary": "[SP-7K3Q9X2M] Calls drop", "description": "Hello" }
        })))
        .respond_with(fixture_with(201, "request.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/servicedeskapi/request/RTC-4521/comment"))
        .and(body_json(json!({ "body": "Thanks [SP-7K3Q9X2M/close]", "public": true })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": "1" })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/servicedeskapi/request/RTC-4521/transition"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "size": 2, "start": 0, "limit": 50, "isLastPage": true,
            "values": [{ "id": "801", "name": "Cancel request" }, { "id": "761", "name": "Resolve this issue" }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/servicedeskapi/request/RTC-4521/transition"))
        .and(body_json(json!({ "id": "761" })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let jira = channel(&server);
    let req = supportprobe::channel::OpenRequest {
        reference: "SP-7K3Q9X2M",
        subject: "[SP-7K3Q9X2M] Calls drop",
        body: "Hello",
        priority: supportprobe::model::Priority::P1,
    };
    let t = jira.open(&req).await.unwrap();
    assert_eq!((t.id.as_str(), t.created_at), ("RTC-4521", utc("2026-11-23T02:14:07.481Z")));
    assert_eq!(t.url.as_deref(), Some("https://octortc.atlassian.net/servicedesk/customer/portal/10/RTC-4521"));
    jira.close("RTC-4521", Some("Thanks [SP-7K3Q9X2M/close]"), true).await.unwrap();
}

#[tokio::test]
async fn jira_errors_and_hostile_keys() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/servicedeskapi/request/RTC-1"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errorMessage": "Request does not exist or you do not have permission to see it.",
            "i18nErrorMessage": { "i18nKey": "sd.customer.request.not.found", "parameters": [] }
        })))
        .mount(&server)
        .await;
    let jira = channel(&server);
    assert!(matches!(jira.poll("RTC-1").await.unwrap_err(), ChannelError::NotFound { .. }));
    for bad in ["rtc-1", "RTC-", "../RTC-1", "1"] {
        assert!(matches!(jira.poll(bad).await.unwrap_err(), ChannelError::Malformed(_)), "{bad}");
    }
}

#[tokio::test]
async fn one_author_that_cannot_be_looked_up_and_one_bad_comment_do_not_fail_the_poll() {
    // A customer's API token without "Browse users" gets Jira's 403 for the user
    // lookup; Data Center authors come as key/name, ids as numbers.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/servicedeskapi/request/RTC-4521"))
        .respond_with(fixture("request.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/servicedeskapi/request/RTC-4521/comment"))
        .respond_with(fixture("comments_data_center.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/user"))
        .and(query_param("accountId", "JIRAUSER10100"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({ "errorMessages": ["You do not have the permission to see the specified user."], "errors": {} }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    account(&server, "5c2f1e0d9b8a7c6d5e4f3a2b", "customer").await;
    let jira = channel(&server);
    let snap = jira.poll("RTC-4521").await.expect("the poll succeeds");
    let seen: Vec<(&str, AuthorKind, &str)> =
        snap.messages.iter().map(|m| (m.id.as_str(), m.author_kind, m.author_id.as_str())).collect();
    assert_eq!(
        seen,
        [("20114", AuthorKind::Unknown, "JIRAUSER10100"), ("20115", AuthorKind::Bystander, "5c2f1e0d9b8a7c6d5e4f3a2b")],
        "the unknown author degrades to unknown, the other customer is a bystander"
    );
    let problems = jira.drain_problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().any(|(k, m)| *k == "auth" && m.contains("JIRAUSER10100")), "{problems:?}");
    assert!(problems.iter().any(|(k, m)| *k == "unparseable" && m.contains("20116")), "{problems:?}");
    // The failed lookup is remembered: the next poll asks nothing again (expect(1)), counts nothing again.
    jira.poll("RTC-4521").await.unwrap();
    assert!(jira.drain_problems().iter().all(|(k, _)| *k == "unparseable"));
    let c = classify(&snap.messages[0].facts(&[]), &ClassifyOverrides::default());
    assert_eq!(c.class, ReplyClass::Human, "an unknown author's words decide");
}
