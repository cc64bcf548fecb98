//! The `http` channel (a REST ticket API described in config) against a fake
//! API: templated requests, JSON-pointer mappings, author kinds by value,
//! Unix seconds, milliseconds and RFC 3339 times, `Link` pagination with
//! duplicates across pages, a next link to another server refused, and the
//! described `find` listing used by crash recovery.

use supportprobe::channel::{AnyChannel, Channel, ChannelError, OpenRequest, TicketStatus};
use supportprobe::classify::AuthorKind;
use supportprobe::model::Priority;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn channel(server: &MockServer) -> (AnyChannel, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[daemon]
data_dir = "{data}"
[vendors.v.promise]
P0 = {{ first_response = "1h" }}
[vendors.v.channels.c.http]
base_url = "{uri}/api"
resolved_values = ["done"]
[vendors.v.channels.c.http.headers]
Authorization = "Bearer k-123"
[vendors.v.channels.c.http.kinds]
customer = "requester"
assistant = "bot"
[vendors.v.channels.c.http.open]
path = "tickets"
body = '{{"title": {{{{subject}}}}, "text": {{{{body}}}}, "urgency": {{{{priority}}}}}}'
id = "/ticket/id"
created_at = "/ticket/created"
[vendors.v.channels.c.http.poll]
path = "tickets/{{{{id}}}}/replies"
status_path = "tickets/{{{{id}}}}"
status = "/ticket/state"
status_at = "/ticket/updated"
replies = "/data"
reply_id = "/id"
reply_at = "/ts"
reply_body = "/text"
reply_author = "/who/name"
reply_author_kind = "/who/type"
[vendors.v.channels.c.http.reply]
path = "tickets/{{{{id}}}}/replies"
body = '{{"text": {{{{body}}}}}}'
[vendors.v.channels.c.http.find]
path = "tickets?mine=1"
items = "/data"
id = "/id"
created_at = "/created"
matches = ["/title"]
pages = 2
"#,
        data = dir.path().display(),
        uri = server.uri()
    );
    let file = dir.path().join("c.toml");
    std::fs::write(&file, config).unwrap();
    let config = supportprobe::config::Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let spec = config.vendor("v").unwrap().channels["c"].clone();
    (supportprobe::channel::build(&spec, Vec::new()).unwrap(), dir)
}

fn json(v: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[tokio::test]
async fn described_api_opens_reads_pages_and_finds_again() {
    supportprobe::channel::client::install_crypto_provider();
    let server = MockServer::start().await;
    let (c, _dir) = channel(&server);
    let uri = server.uri();

    // Open: the templates are filled JSON-safely and the answer read by pointer.
    Mock::given(method("POST"))
        .and(path("/api/tickets"))
        .and(header("authorization", "Bearer k-123"))
        .and(body_json(serde_json::json!({ "title": "Calls \"drop\" [SP-7K3Q9X2M]", "text": "Hi", "urgency": "P1" })))
        .respond_with(json(serde_json::json!({ "ticket": { "id": "T-9", "created": 1_795_400_047 } })))
        .expect(1)
        .mount(&server)
        .await;
    let t = c
        .open(&OpenRequest {
            reference: "SP-7K3Q9X2M",
            subject: "Calls \"drop\" [SP-7K3Q9X2M]",
            body: "Hi",
            priority: Priority::P1,
        })
        .await
        .unwrap();
    assert_eq!((t.id.as_str(), t.created_at), ("T-9", at("2026-11-23T02:14:07Z")));

    // Poll: two pages by Link header; a reply repeated on page 2 counts once.
    Mock::given(method("GET"))
        .and(path("/api/tickets/T-9"))
        .respond_with(json(
            serde_json::json!({ "ticket": { "state": "done", "updated": "2026-11-23T10:40:00+08:00" } }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/tickets/T-9/replies"))
        .and(query_param("page", "2"))
        .respond_with(json(serde_json::json!({ "data": [
            { "id": 2, "ts": "2026-11-23T10:15:00+08:00", "text": "I'm the assistant.", "who": { "name": "Aiden", "type": "assistant" } },
            { "id": 3, "ts": 1_795_400_460_123_i64, "text": "Restart the SFU, then it holds.", "who": { "name": "Li Wei", "type": "engineer" } }
        ] })))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/tickets/T-9/replies"))
        .respond_with(
            json(serde_json::json!({ "data": [
                { "id": 1, "ts": "1795400047", "text": "Calls drop", "who": { "name": "us", "type": "customer" } },
                { "id": 2, "ts": "2026-11-23T10:15:00+08:00", "text": "I'm the assistant.", "who": { "name": "Aiden", "type": "assistant" } }
            ] }))
            .insert_header("link", format!("<{uri}/api/tickets/T-9/replies?page=2>; rel=\"next\"").as_str()),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let snap = c.poll("T-9").await.unwrap();
    let seen: Vec<(String, AuthorKind, chrono::DateTime<chrono::Utc>)> =
        snap.messages.iter().map(|m| (m.id.clone(), m.author_kind, m.at)).collect();
    assert_eq!(
        seen,
        vec![
            ("1".into(), AuthorKind::Requester, at("2026-11-23T02:14:07Z")),
            ("2".into(), AuthorKind::Bot, at("2026-11-23T02:15:00Z")),
            ("3".into(), AuthorKind::Agent, at("2026-11-23T02:21:00.123Z")),
        ]
    );
    assert_eq!((snap.status, snap.status_at), (TicketStatus::Solved, Some(at("2026-11-23T02:40:00Z"))));

    // A next link to another server is refused, not followed with our header.
    Mock::given(method("GET"))
        .and(path("/api/tickets/T-10/replies"))
        .respond_with(
            json(serde_json::json!({ "data": [] }))
                .insert_header("link", "<https://collector.example/steal?page=2>; rel=\"next\""),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/tickets/T-10"))
        .respond_with(json(serde_json::json!({ "ticket": { "state": "open" } })))
        .mount(&server)
        .await;
    let e = c.poll("T-10").await.unwrap_err();
    assert!(matches!(&e, ChannelError::Malformed(m) if m.contains("another server")), "{e:?}");

    // Find: the lost ticket is on the listing's second page; nothing for a reference never sent.
    Mock::given(method("GET"))
        .and(path("/api/tickets"))
        .and(query_param("page", "2"))
        .respond_with(json(serde_json::json!({ "data": [
            { "id": "T-9", "title": "Calls \"drop\" [SP-7K3Q9X2M]", "created": 1_795_400_047 }
        ] })))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/tickets"))
        .and(query_param("mine", "1"))
        .respond_with(
            json(serde_json::json!({ "data": [ { "id": "T-11", "title": "Another [SP-AAAAAAAA]", "created": 1_795_400_999 } ] }))
                .insert_header("link", format!("<{uri}/api/tickets?mine=1&page=2>; rel=\"next\"").as_str()),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let found = c.find("SP-7K3Q9X2M").await.unwrap().expect("found on page 2");
    assert_eq!((found.id.as_str(), found.created_at), ("T-9", at("2026-11-23T02:14:07Z")));
    assert!(c.find("SP-NEVERSNT").await.unwrap().is_none());
}
