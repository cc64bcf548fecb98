//! The Zendesk adapter against a fake that speaks Zendesk's documented wire
//! format: documented payloads, pagination, authentication headers, and every
//! error shape (401, 403, 404, 422, 429 with and without Retry-After, 5xx,
//! timeouts, malformed and oversized bodies, hostile pagination links).

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use supportprobe::channel::client::Http;
use supportprobe::channel::zendesk::ZendeskChannel;
use supportprobe::channel::zendesk::{ZendeskAuth, ZendeskSettings};
use supportprobe::channel::{Channel, ChannelError, OpenRequest, TicketStatus};
use supportprobe::classify::{AuthorKind, ClassifyOverrides, classify};
use supportprobe::config::{Secret, SecretSource};
use supportprobe::model::{Priority, ReplyClass};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "s3cr3t-api-token";

fn fixture(name: &str, server: &MockServer) -> String {
    let text =
        std::fs::read_to_string(format!("{}/tests/fixtures/zendesk/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.replace("https://company.zendesk.com", &server.uri())
}

fn channel(server: &MockServer, auth: ZendeskAuth) -> ZendeskChannel {
    channel_with_timeout(server, auth, Duration::from_secs(5))
}

fn channel_with_timeout(server: &MockServer, auth: ZendeskAuth, timeout: Duration) -> ZendeskChannel {
    let settings =
        ZendeskSettings { base_url: server.uri().parse().unwrap(), auth, set_priority: true, recovery_pages: 2 };
    ZendeskChannel::new(Http::new(timeout).unwrap(), settings)
}

fn token_auth() -> ZendeskAuth {
    ZendeskAuth::Token { email: "poc@example.com".into(), token: Secret::new(TOKEN), source: SecretSource::Literal }
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[tokio::test]
async fn open_sends_the_documented_request_with_token_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/requests.json"))
        .and(header("authorization", basic("poc@example.com/token", TOKEN).as_str()))
        .and(body_json(serde_json::json!({
            "request": { "subject": "[SP-7K3Q9X2M] Calls drop", "comment": { "body": "Hello" }, "priority": "urgent" }
        })))
        .respond_with(ResponseTemplate::new(201).set_body_string(fixture("request_show.json", &server)))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server, token_auth());
    let req = OpenRequest {
        reference: "SP-7K3Q9X2M",
        subject: "[SP-7K3Q9X2M] Calls drop",
        body: "Hello",
        priority: Priority::P0,
    };
    let ticket = ch.open(&req).await.unwrap();
    assert_eq!(ticket.id, "35436");
    assert_eq!(ticket.created_at, utc("2009-07-20T22:55:29Z"), "Zendesk's own created_at");
    assert_eq!(ticket.url.as_deref(), Some(format!("{}/hc/requests/35436", server.uri()).as_str()));
}

#[tokio::test]
async fn password_and_oauth_authentication() {
    let server = MockServer::start().await;
    let body = fixture("request_show.json", &server);
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436.json"))
        .and(header("authorization", basic("poc@example.com", "pw").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(body.clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436.json"))
        .and(header("authorization", "Bearer oauth-xyz"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436/comments.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"comments":[],"users":[],"next_page":null}"#))
        .mount(&server)
        .await;
    let pw = ZendeskAuth::Password {
        email: "poc@example.com".into(),
        password: Secret::new("pw"),
        source: SecretSource::Literal,
    };
    channel(&server, pw).poll("35436").await.unwrap();
    let oauth = ZendeskAuth::Bearer { token: Secret::new("oauth-xyz"), source: SecretSource::Literal };
    channel(&server, oauth).poll("35436").await.unwrap();
}

#[tokio::test]
async fn poll_reads_documented_payloads_across_pages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("request_show.json", &server)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436/comments.json"))
        .and(query_param("include", "users"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("comments_page1.json", &server)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436/comments.json"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("comments_page2.json", &server)))
        .expect(1)
        .mount(&server)
        .await;
    let snap = channel(&server, token_auth()).poll("35436").await.unwrap();
    assert_eq!(snap.status, TicketStatus::Open);
    assert_eq!(snap.status_at, Some(utc("2011-05-05T10:38:52Z")));
    assert_eq!(snap.team.as_deref(), Some("360004812"), "the assigned group, shown to end users");
    let got: Vec<(&str, AuthorKind, &str)> =
        snap.messages.iter().map(|m| (m.id.as_str(), m.author_kind, m.author_name.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("1274", AuthorKind::Requester, "Poc Requester"),
            ("1275", AuthorKind::Automation, "Sally Agent"),
            ("1280", AuthorKind::Agent, "Zendesk AI agent"),
            ("1281", AuthorKind::Agent, "Sally Agent"),
            ("1282", AuthorKind::Automation, "user -1"),
        ],
        "the internal note is skipped; authors come from the platform's fields"
    );
    assert_eq!(snap.messages[1].kind_evidence.as_deref(), Some("via.channel=rule (trigger)"));
    assert_eq!(snap.messages[3].at, utc("2009-07-20T23:55:29Z"), "offsets are honoured");
    assert_eq!(snap.messages[3].body, "Thanks for your help!");
}

#[tokio::test]
async fn pagination_to_another_server_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("request_show.json", &server)))
        .mount(&server)
        .await;
    let page1 = fixture("comments_page1.json", &server).replace(&server.uri(), "https://evil.example");
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436/comments.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string(page1))
        .mount(&server)
        .await;
    let err = channel(&server, token_auth()).poll("35436").await.unwrap_err();
    assert!(matches!(err, ChannelError::Malformed(_)), "{err:?}");
    assert!(err.to_string().contains("another server"), "{err}");
}

#[tokio::test]
async fn cursor_pagination_is_followed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/1.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"request":{"id":1,"status":"solved","requester_id":5,"created_at":"2026-11-23T10:00:00Z","updated_at":"2026-11-23T11:00:00Z"}}"#,
        ))
        .mount(&server)
        .await;
    let next = format!("{}/api/v2/requests/1/comments.json?page%5Bafter%5D=abc", server.uri());
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/1/comments.json"))
        .and(query_param("page[after]", "abc"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"comments":[{"id":2,"body":"Fixed.","public":true,"author_id":7,"created_at":"2026-11-23T10:30:00Z"}],
                "users":[{"id":7,"name":"Agent","agent":true}],"meta":{"has_more":false},"links":{"next":null}}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/1/comments.json"))
        .and(query_param("include", "users"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"comments":[{{"id":1,"body":"Help","public":true,"author_id":5,"created_at":"2026-11-23T10:00:00Z"}}],
                "users":[],"meta":{{"has_more":true,"after_cursor":"abc"}},"links":{{"next":"{next}"}}}}"#
        )))
        .expect(1)
        .mount(&server)
        .await;
    let snap = channel(&server, token_auth()).poll("1").await.unwrap();
    assert_eq!(snap.status, TicketStatus::Solved);
    assert_eq!(snap.messages.len(), 2);
}

#[tokio::test]
async fn find_scans_my_requests_newest_first() {
    let server = MockServer::start().await;
    let page2 = format!("{}/api/v2/requests.json?page=2", server.uri());
    Mock::given(method("GET"))
        .and(path("/api/v2/requests.json"))
        .and(query_param("sort_order", "desc"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"requests":[{{"id":9,"subject":"other","description":"x","created_at":"2026-11-23T10:00:00Z"}}],"next_page":"{page2}"}}"#
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests.json"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"requests":[{"id":7,"subject":"Re: something","description":"Reference: SP-7K3Q9X2M","created_at":"2026-11-23T09:00:00Z"}],"next_page":null}"#,
        ))
        .mount(&server)
        .await;
    let ch = channel(&server, token_auth());
    let found = ch.find("SP-7K3Q9X2M").await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.created_at), ("7", utc("2026-11-23T09:00:00Z")));
    assert_eq!(ch.find("SP-00000000").await.unwrap(), None);
}

#[tokio::test]
async fn reply_and_close_with_fallback_when_solving_is_not_allowed() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/requests/42.json"))
        .and(body_json(serde_json::json!({ "request": { "comment": { "body": "logs attached" } } })))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/requests/42.json"))
        .and(body_json(serde_json::json!({ "request": { "comment": { "body": "bye" }, "solved": true } })))
        .respond_with(ResponseTemplate::new(422).set_body_string(
            r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"base":[{"description":"Status: cannot be solved"}]}}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/requests/42.json"))
        .and(body_json(serde_json::json!({ "request": { "comment": { "body": "bye" } } })))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server, token_auth());
    ch.reply("42", "logs attached").await.unwrap();
    ch.close("42", Some("bye"), true).await.unwrap();
}

async fn error_for(status: u16, body: &str, retry_after: Option<&str>) -> ChannelError {
    let server = MockServer::start().await;
    let mut resp = ResponseTemplate::new(status).set_body_string(body);
    if let Some(ra) = retry_after {
        resp = resp.insert_header("Retry-After", ra);
    }
    Mock::given(method("GET")).respond_with(resp).expect(1).mount(&server).await;
    channel(&server, token_auth()).poll("35436").await.unwrap_err()
}

#[tokio::test]
async fn error_shapes_map_to_clear_errors() {
    let e = error_for(401, r#"{"error":"Couldn't authenticate you"}"#, None).await;
    assert_eq!(e.kind(), "auth");
    assert_eq!(e.to_string(), "authentication failed (HTTP 401): Couldn't authenticate you");
    assert!(!e.is_transient());

    let e = error_for(403, r#"{"error":{"title":"Forbidden","message":"You do not have access to this page."}}"#, None)
        .await;
    assert_eq!(e.to_string(), "authentication failed (HTTP 403): Forbidden: You do not have access to this page.");

    let e = error_for(404, r#"{"error":"RecordNotFound","description":"Not found"}"#, None).await;
    assert_eq!((e.kind(), e.to_string()), ("not_found", "not found (HTTP 404): RecordNotFound: Not found".into()));

    let e = error_for(429, "Rate limit exceeded", Some("93")).await;
    assert_eq!(e.kind(), "rate_limited");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(93)));
    assert_eq!(e.to_string(), "rate limited (HTTP 429), retry after 93s");

    let e = error_for(429, "", None).await;
    assert_eq!((e.kind(), e.retry_after()), ("rate_limited", None));
    assert!(e.is_transient());

    let e = error_for(503, "<html><body>Service Unavailable</body></html>", Some("30")).await;
    assert_eq!((e.kind(), e.retry_after()), ("server", Some(Duration::from_secs(30))));
    assert!(e.to_string().contains("HTTP 503"), "{e}");

    let e = error_for(500, "", None).await;
    assert_eq!(e.to_string(), "server error (HTTP 500): (empty body)");

    let e = error_for(200, r#"{"request": {"id": "not a number""#, None).await;
    assert_eq!(e.kind(), "malformed");
    assert!(e.to_string().starts_with("malformed response: invalid JSON"), "{e}");

    let e = error_for(
        200,
        r#"{"request": {"id": 1, "created_at": "2026-11-23T10:00:00Z", "updated_at": "yesterday"}}"#,
        None,
    )
    .await;
    assert_eq!(e.to_string(), "malformed response: `updated_at` is not an ISO 8601 time: \"yesterday\"");
}

#[tokio::test]
async fn error_messages_never_contain_the_secret() {
    for status in [401, 403, 404, 429, 500] {
        let e = error_for(status, r#"{"error":"bad","description":"see Authorization"}"#, None).await;
        assert!(!format!("{e} {e:?}").contains(TOKEN), "{e:?}");
    }
}

#[tokio::test]
async fn timeouts_are_reported_not_hung() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}").set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let ch = channel_with_timeout(&server, token_auth(), Duration::from_millis(300));
    let e = ch.poll("1").await.unwrap_err();
    assert_eq!(e.kind(), "timeout");
    assert!(e.is_transient());
}

#[tokio::test]
async fn unreachable_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let settings = ZendeskSettings {
        base_url: format!("http://{addr}").parse().unwrap(),
        auth: token_auth(),
        set_priority: false,
        recovery_pages: 1,
    };
    let ch = ZendeskChannel::new(Http::new(Duration::from_secs(2)).unwrap(), settings);
    let e = ch.poll("1").await.unwrap_err();
    assert_eq!(e.kind(), "unreachable");
    // With the cause, not a bare "cannot reach".
    let text = e.to_string();
    assert!(text.starts_with("cannot reach 127.0.0.1: "), "{text}");
    assert!(text.contains("Connection refused"), "{text}");
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let server = MockServer::start().await;
    let huge = format!(r#"{{"comments":[],"padding":"{}"}}"#, "x".repeat(9 << 20));
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_string(huge)).mount(&server).await;
    let e = channel(&server, token_auth()).poll("1").await.unwrap_err();
    assert_eq!(e.to_string(), "malformed response: response larger than 8 MiB");
}

#[tokio::test]
async fn hostile_ids_are_not_sent() {
    let server = MockServer::start().await;
    Mock::given(|_: &Request| true).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let e = channel(&server, token_auth()).poll("../users/me").await.unwrap_err();
    assert_eq!(e.kind(), "malformed");
}

#[tokio::test]
async fn empty_plain_body_cc_end_user_and_a_bad_comment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("request_show.json", &server)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/requests/35436/comments.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("comments_cc_and_empty_plain.json", &server)))
        .mount(&server)
        .await;
    let ch = channel(&server, token_auth());
    let snap = ch.poll("35436").await.expect("one bad comment does not fail the poll");
    let got: Vec<(&str, AuthorKind)> = snap.messages.iter().map(|m| (m.id.as_str(), m.author_kind)).collect();
    assert_eq!(got, [("1290", AuthorKind::Agent), ("1291", AuthorKind::Bystander)], "a CC'd end user is not us");
    assert!(snap.messages[0].body.contains("which SDK version you’re on"), "html_body used: {}", snap.messages[0].body);
    let classes: Vec<ReplyClass> =
        snap.messages.iter().map(|m| classify(&m.facts(&[]), &ClassifyOverrides::default()).class).collect();
    assert_eq!(classes, [ReplyClass::Human, ReplyClass::Bystander]);
    let problems = ch.drain_problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|(k, _)| *k == "unparseable"));
    assert!(
        problems.iter().any(|(_, m)| m.contains("1292")) && problems.iter().any(|(_, m)| m.contains("not-a-number"))
    );
}
