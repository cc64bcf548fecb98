//! The GitHub adapter against a fake speaking GitHub's REST wire format:
//! issue and comment payloads in the documented shapes (a GitHub App's
//! comment, a bot user, a member, a bystander), `Link` pagination, the
//! rate limit as 403 + `x-ratelimit-reset`, "Bad credentials", hostile links.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use supportprobe::channel::client::Http;
use supportprobe::channel::github::GithubChannel;
use supportprobe::channel::github::GithubSettings;
use supportprobe::channel::{Channel, ChannelError, OpenRequest, TicketStatus};
use supportprobe::classify::{AuthorKind, ClassifyOverrides, classify};
use supportprobe::config::{Secret, SecretSource};
use supportprobe::model::{Priority, ReplyClass};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "ghp_s3cr3tT0kenValue";
const REPO: &str = "/repos/octo-rtc/rtc-sdk-android";

fn fixture(name: &str, server: &MockServer) -> String {
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/github/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.replace("https://api.github.com", &server.uri())
}

fn json_fixture(name: &str, server: &MockServer) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name, server), "application/json")
}

fn channel(server: &MockServer, staff_only: bool) -> GithubChannel {
    let settings = GithubSettings {
        api_url: server.uri().parse().unwrap(),
        owner: "octo-rtc".into(),
        repo: "rtc-sdk-android".into(),
        token: Secret::new(TOKEN),
        token_source: SecretSource::Literal,
        labels: vec!["support-probe".into()],
        staff_only,
    };
    GithubChannel::new(Http::new(Duration::from_secs(5)).unwrap(), settings)
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

async fn mount_issue(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues/1347")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(json_fixture("issue.json", server))
        .mount(server)
        .await;
    let next = format!(r#"<{}{REPO}/issues/1347/comments?per_page=100&page=2>; rel="next""#, server.uri());
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues/1347/comments")))
        .and(query_param("page", "2"))
        .respond_with(json_fixture("comments_page2.json", server))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues/1347/comments")))
        .respond_with(json_fixture("comments_page1.json", server).insert_header("link", next.as_str()))
        .expect(1)
        .with_priority(10)
        .mount(server)
        .await;
}

#[tokio::test]
async fn poll_reads_issue_and_comments_across_pages() {
    let server = MockServer::start().await;
    mount_issue(&server).await;
    let snap = channel(&server, true).poll("1347").await.unwrap();
    assert_eq!(snap.status, TicketStatus::Solved, "closed as completed");
    assert_eq!(snap.status_at, Some(utc("2026-11-23T09:41:55Z")));
    let seen: Vec<(&str, AuthorKind, &str)> = snap
        .messages
        .iter()
        .map(|m| (m.author_name.as_str(), m.author_kind, m.kind_evidence.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("acme-rtc-poc", AuthorKind::Requester, "issue author"),
            ("github-actions[bot]", AuthorKind::Bot, "user.type=Bot"),
            ("someone-else", AuthorKind::Bystander, "author_association=NONE, not staff"),
            ("lin-maintainer", AuthorKind::Agent, "author_association=MEMBER"),
            ("acme-rtc-poc", AuthorKind::Requester, "issue author"),
            ("octo-rtc-support", AuthorKind::Bot, "user.type=Bot"),
        ],
        "the bystander's +1 is reported as a bystander, not the vendor's answer"
    );
    assert_eq!(snap.messages[3].at, utc("2026-11-23T03:47:10Z"), "created_at, not updated_at");
    let classes: Vec<ReplyClass> =
        snap.messages.iter().map(|m| classify(&m.facts(&[]), &ClassifyOverrides::default()).class).collect();
    assert_eq!(
        classes,
        [
            ReplyClass::Ours,
            ReplyClass::Bot,
            ReplyClass::Bystander,
            ReplyClass::Human,
            ReplyClass::Ours,
            ReplyClass::Bot
        ]
    );
}

#[tokio::test]
async fn bystanders_count_when_staff_only_is_off() {
    let server = MockServer::start().await;
    mount_issue(&server).await;
    let snap = channel(&server, false).poll("1347").await.unwrap();
    let bystander = snap.messages.iter().find(|m| m.author_name == "someone-else").expect("reported");
    assert_eq!(bystander.author_kind, AuthorKind::Unknown);
}

#[tokio::test]
async fn open_reply_and_close_send_the_documented_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/issues")))
        .and(body_json(json!({ "title": "[SP-7K3Q9X2M] Calls drop", "body": "Hello", "labels": ["support-probe"] })))
        .respond_with(ResponseTemplate::new(201).set_body_raw(fixture("issue.json", &server), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/issues/1347/comments")))
        .and(body_json(json!({ "body": "Thanks! [SP-7K3Q9X2M/close]" })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{REPO}/issues/1347")))
        .and(body_json(json!({ "state": "closed", "state_reason": "completed" })))
        .respond_with(json_fixture("issue.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    let gh = channel(&server, true);
    let req = OpenRequest {
        reference: "SP-7K3Q9X2M",
        subject: "[SP-7K3Q9X2M] Calls drop",
        body: "Hello",
        priority: Priority::P1,
    };
    let t = gh.open(&req).await.unwrap();
    assert_eq!((t.id.as_str(), t.created_at), ("1347", utc("2026-11-23T02:14:07Z")));
    assert_eq!(t.url.as_deref(), Some("https://github.com/octo-rtc/rtc-sdk-android/issues/1347"));
    gh.reply("1347", "Thanks! [SP-7K3Q9X2M/close]").await.unwrap();
    gh.close("1347", Some("Thanks! [SP-7K3Q9X2M/close]"), true).await.unwrap();
}

#[tokio::test]
async fn find_looks_through_our_own_issues() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(json_fixture("user.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    let issue: serde_json::Value = serde_json::from_str(&fixture("issue.json", &server)).unwrap();
    let mut pr = issue.clone();
    pr["number"] = json!(1400);
    pr["pull_request"] = json!({ "url": "x" });
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues")))
        .and(query_param("creator", "acme-rtc-poc"))
        .and(query_param("state", "all"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([pr, issue])))
        .mount(&server)
        .await;
    let gh = channel(&server, true);
    assert_eq!(gh.find("SP-7K3Q9X2M").await.unwrap().map(|t| t.id), Some("1347".into()), "the pull request is skipped");
    assert_eq!(gh.find("SP-NOTTHERE").await.unwrap(), None);
}

#[tokio::test]
async fn rate_limits_bad_credentials_and_hostile_answers() {
    let server = MockServer::start().await;
    let reset = (Utc::now().timestamp() + 30).to_string();
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues/1")))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.as_str())
                .set_body_json(json!({ "message": "API rate limit exceeded for user ID 181204532." })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues/2")))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({ "message": "Bad credentials", "status": "401" })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues/3")))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({ "message": "Resource not accessible by personal access token" })),
        )
        .mount(&server)
        .await;
    let gh = channel(&server, true);
    match gh.poll("1").await.unwrap_err() {
        ChannelError::RateLimited { retry_after: Some(d) } => assert!((25..=31).contains(&d.as_secs()), "{d:?}"),
        e => panic!("{e:?}"),
    }
    let e = gh.poll("2").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Auth { status: Some(401), message } if message == "Bad credentials"), "{e:?}");
    assert!(!format!("{e} {e:?}").contains(TOKEN));
    assert!(
        matches!(gh.poll("3").await.unwrap_err(), ChannelError::Auth { status: Some(403), .. }),
        "a 403 with requests left is about rights"
    );

    // A Link header pointing elsewhere is not followed (our token would go with it).
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues/1347")))
        .respond_with(json_fixture("issue.json", &server))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/issues/1347/comments")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .insert_header("link", r#"<https://evil.example/steal?page=2>; rel="next""#),
        )
        .mount(&server)
        .await;
    let e = channel(&server, true).poll("1347").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Malformed(m) if m.contains("another server")), "{e:?}");

    // Issue numbers that are not numbers never reach the server.
    let server = MockServer::start().await;
    Mock::given(|_: &Request| true).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    for bad in ["../../user", "1?x", "", "0"] {
        assert!(matches!(channel(&server, true).poll(bad).await.unwrap_err(), ChannelError::Malformed(_)), "{bad}");
    }
}
