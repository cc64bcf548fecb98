//! The contract every API adapter passes, run for each kind against the
//! simulator (which speaks each platform's wire format and knows the truth)
//! and against a hostile server:
//!
//! - the reference is carried to the vendor; auto-acknowledgements and bots
//!   are not counted as the human response; figures equal the truth to the
//!   second; one ticket per probe, its replies read across pages; crash
//!   recovery finds each ticket again by its reference, and nothing for a
//!   reference never sent;
//! - wrong credentials fail the probe for good, counted as an `auth` error,
//!   and the probe is kept (outcome `failed`), never lost;
//! - 401, 403, 404, 429 (with its wait), 5xx, malformed bodies and timeouts
//!   map to the same clear errors whatever the platform.

mod common;

use std::time::Duration;

use common::{harness, parse, test_probes};
use supportprobe::channel::{Channel, ChannelError};
use supportprobe::model::{Outcome, State};
use tokio_util::sync::CancellationToken;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every adapter the simulator speaks, with its kind table for a simulated vendor `v`.
const KINDS: [(&str, &str); 8] = [
    (
        "zendesk",
        "[vendors.{V}.channels.c.zendesk]\nbase_url = \"{BASE}/{V}\"\nemail = \"poc@example.com\"\ntoken = \"{TOKEN}\"",
    ),
    (
        "github",
        "[vendors.{V}.channels.c.github]\napi_url = \"{BASE}/{V}/github\"\nrepository = \"{V}/sdk\"\ntoken = \"{TOKEN}\"",
    ),
    (
        "freshdesk",
        "[vendors.{V}.channels.c.freshdesk]\nbase_url = \"{BASE}/{V}/freshdesk\"\nemail = \"poc@example.com\"\napi_key = \"{TOKEN}\"",
    ),
    (
        "jira_sm",
        "[vendors.{V}.channels.c.jira_sm]\nbase_url = \"{BASE}/{V}/jira\"\nemail = \"poc@example.com\"\napi_token = \"{TOKEN}\"\nservice_desk_id = \"2\"\nrequest_type_id = \"11\"",
    ),
    (
        "slack",
        "[vendors.{V}.channels.c.slack]\napi_url = \"{BASE}/{V}/slack/api\"\nchannel = \"C0SUPPORT1\"\ntoken = \"{TOKEN}\"",
    ),
    (
        "intercom",
        "[vendors.{V}.channels.c.intercom]\napi_url = \"{BASE}/{V}/intercom\"\ncontact_id = \"6657a1b2c3d4e5f6a7b8c9d0\"\ntoken = \"{TOKEN}\"",
    ),
    (
        "feishu",
        "[vendors.{V}.channels.c.feishu]\napi_url = \"{BASE}/{V}/feishu\"\napp_id = \"cli_a1b2c3d4e5\"\napp_secret = \"{TOKEN}\"\nchat_id = \"oc_sim_support_group\"",
    ),
    // The described REST channel, described here to speak the simulator's Zendesk.
    ("http", HTTP_TABLE),
];

const HTTP_TABLE: &str = r#"[vendors.{V}.channels.c.http]
base_url = "{BASE}/{V}/"
resolved_values = ["solved", "closed"]
[vendors.{V}.channels.c.http.headers]
Authorization = "Bearer {TOKEN}"
[vendors.{V}.channels.c.http.kinds]
"900001" = "requester"
"700001" = "bot"
"600001" = "automation"
[vendors.{V}.channels.c.http.open]
path = "api/v2/requests.json"
body = '{"request": {"subject": {{subject}}, "comment": {"body": {{body}}}}}'
id = "/request/id"
created_at = "/request/created_at"
[vendors.{V}.channels.c.http.poll]
path = "api/v2/requests/{{id}}/comments.json?per_page=100"
status_path = "api/v2/requests/{{id}}.json"
status = "/request/status"
status_at = "/request/updated_at"
replies = "/comments"
reply_id = "/id"
reply_at = "/created_at"
reply_body = "/plain_body"
reply_author = "/author_id"
reply_author_kind = "/author_id"
next = "/next_page"
[vendors.{V}.channels.c.http.find]
path = "api/v2/requests.json?sort_by=created_at&sort_order=desc"
items = "/requests"
id = "/id"
created_at = "/created_at"
matches = ["/subject", "/description"]
next = "/next_page"
[vendors.{V}.channels.c.http.reply]
method = "PUT"
path = "api/v2/requests/{{id}}.json"
body = '{"request": {"comment": {"body": {{body}}}}}'
[vendors.{V}.channels.c.http.close]
method = "PUT"
path = "api/v2/requests/{{id}}.json"
body = '{"request": {"solved": true}}'
"#;

fn kind_table(kind: &str, vendor: &str, base: &str, token: &str) -> String {
    let (_, t) = KINDS.iter().find(|(k, _)| *k == kind).unwrap();
    t.replace("{V}", vendor).replace("{BASE}", base).replace("{TOKEN}", token)
}

fn config(kind: &str) -> String {
    format!(
        r#"
[daemon]
data_dir = "{{DATA}}"
probes_dir = "{{PROBES}}"

[vendors.botty.promise]
P0 = {{ first_response = "30s", resolution = "1m" }}
[vendors.botty.channels.c]
poll_interval = "500ms"
min_request_interval = "20ms"
{}

[vendors.locked.promise]
P0 = {{ first_response = "30s" }}
[vendors.locked.channels.c]
poll_interval = "500ms"
min_request_interval = "20ms"
{}

[simulator]
listen = "127.0.0.1:0"

[simulator.vendors.botty]
token = "tok-botty"
# Two items a page: every listing and every ticket's replies span pages.
page_size = 2
auto_ack = "1s"
bot_turns = 1
bot_delay = "1s"
human_delay = "3s..4s"
resolution_delay = "2s..3s"

[simulator.vendors.locked]
token = "the-right-token"
human_delay = "1s..2s"
"#,
        kind_table(kind, "botty", "http://{SIM}", "tok-botty"),
        kind_table(kind, "locked", "http://{SIM}", "a-wrong-token"),
    )
}

async fn measured_to_the_second(kind: &str) {
    let h = harness(&config(kind), &test_probes()).await;
    let s = h.config.scenario("t-follow").unwrap();
    let ctx = h.ctx();
    let (a, b) = tokio::join!(
        supportprobe::engine::once(&ctx, &s, "botty", "c", None, true, CancellationToken::new()),
        supportprobe::engine::once(&ctx, &s, "botty", "c", None, true, CancellationToken::new()),
    );
    let truth = h.truth().await;
    assert_eq!(truth.len(), 2, "{kind}: one ticket per probe: {truth:#?}");
    for id in [a.unwrap(), b.unwrap()] {
        let p = h.store.probe(id).unwrap().unwrap();
        let t = truth
            .iter()
            .find(|t| t.reference.as_deref() == Some(p.reference.as_str()))
            .unwrap_or_else(|| panic!("{kind}: the reference reached the vendor: {truth:#?}"));
        // The described REST channel talks to the simulator's Zendesk.
        assert_eq!(t.channel, if kind == "http" { "zendesk" } else { kind });
        assert_eq!(p.state, State::Closed, "{kind}: {p:#?}");
        assert_eq!(p.ticket_id.as_deref(), Some(t.ticket_id.as_str()), "{kind}");
        assert_eq!(p.opened_at, Some(parse(&t.opened_at)), "{kind}: opened at the platform's clock");
        assert_eq!(p.first_human_response_at, t.first_human_reply_at.as_deref().map(parse), "{kind}: first human");
        assert!(p.first_response_at < p.first_human_response_at, "{kind}: the acknowledgement came first");
        assert_eq!(p.bot_turns, 2, "{kind}: acknowledgement and bot, neither human");
        assert_eq!(p.resolved_at, t.resolved_at.as_deref().map(parse), "{kind}: resolution");
        assert_eq!(p.outcome, Some(Outcome::Resolved), "{kind}");
    }
    // Crash recovery: each ticket is found again by its reference, across pages.
    let spec = h.config.vendor("botty").unwrap().channels["c"].clone();
    let channel = supportprobe::channel::build(&spec, Vec::new()).unwrap();
    for p in h.store.all_probes().unwrap() {
        let found = channel.find(&p.reference).await.unwrap_or_else(|e| panic!("{kind}: find: {e}"));
        let found = found.unwrap_or_else(|| panic!("{kind}: {} not found again", p.reference));
        assert_eq!(Some(found.id), p.ticket_id, "{kind}: the same ticket");
    }
    assert!(channel.find("SP-0000NONE").await.unwrap().is_none(), "{kind}: a reference never sent");
}

async fn wrong_credentials_fail_and_are_counted(kind: &str) {
    let h = harness(&config(kind), &test_probes()).await;
    let s = h.config.scenario("t-plain").unwrap();
    let id =
        supportprobe::engine::once(&h.ctx(), &s, "locked", "c", None, true, CancellationToken::new()).await.unwrap();
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!((p.state, p.outcome), (State::Failed, Some(Outcome::Failed)), "{kind}: kept, as failed: {p:#?}");
    let errors = h.store.error_counts().unwrap();
    assert!(
        errors.iter().any(|e| e.operation == "open" && e.kind == "auth" && e.channel == kind),
        "{kind}: counted: {errors:?}"
    );
    assert!(errors.iter().all(|e| !e.last_message.contains("a-wrong-token")), "{errors:?}");
    assert!(h.truth().await.is_empty(), "{kind}: nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_measures_to_the_second_and_fails_cleanly() {
    for (kind, _) in KINDS {
        measured_to_the_second(kind).await;
        wrong_credentials_fail_and_are_counted(kind).await;
    }
}

/// One adapter of `kind` pointed at `server`, with a short timeout.
fn adapter(kind: &str, server: &MockServer) -> supportprobe::channel::AnyChannel {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let text = format!(
        "[daemon]\ndata_dir = \"{}\"\n[vendors.v.promise]\nP0 = {{ first_response = \"1m\" }}\n[vendors.v.channels.c]\ntimeout = \"1s\"\n{}\n",
        dir.path().display(),
        kind_table(kind, "v", &server.uri(), "tok")
    );
    std::fs::write(&path, text).unwrap();
    let config = supportprobe::config::Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let spec = config.vendor("v").unwrap().channels.values().next().unwrap().clone();
    supportprobe::channel::build(&spec, Vec::new()).unwrap()
}

/// What the error must be.
type Expect = fn(&ChannelError) -> bool;

#[tokio::test]
async fn every_adapter_maps_failures_to_the_same_clear_errors() {
    let cases: Vec<(&str, ResponseTemplate, Expect)> = vec![
        ("401", ResponseTemplate::new(401).set_body_string(r#"{"error":"Unauthorized"}"#), |e| {
            matches!(e, ChannelError::Auth { status: Some(401), .. })
        }),
        ("403", ResponseTemplate::new(403).set_body_string(r#"{"message":"Forbidden"}"#), |e| {
            matches!(e, ChannelError::Auth { status: Some(403), .. })
        }),
        ("404", ResponseTemplate::new(404).set_body_string(r#"{"message":"Not Found"}"#), |e| {
            matches!(e, ChannelError::NotFound { .. })
        }),
        (
            "429",
            ResponseTemplate::new(429).insert_header("retry-after", "17"),
            |e| matches!(e, ChannelError::RateLimited { retry_after: Some(d) } if d.as_secs() == 17),
        ),
        ("500", ResponseTemplate::new(500).set_body_string("<html>oops</html>"), |e| {
            matches!(e, ChannelError::Server { status: 500, .. }) && e.is_transient()
        }),
        ("503", ResponseTemplate::new(503).insert_header("retry-after", "5"), |e| {
            matches!(e, ChannelError::Server { status: 503, retry_after: Some(_), .. })
        }),
        ("malformed", ResponseTemplate::new(200).set_body_string("{\"truncated"), |e| {
            matches!(e, ChannelError::Malformed(_)) && e.is_transient()
        }),
        ("timeout", ResponseTemplate::new(200).set_delay(Duration::from_secs(3)), |e| {
            matches!(e, ChannelError::Timeout(_))
        }),
    ];
    for (kind, _) in KINDS {
        for (name, response, expected) in &cases {
            let server = MockServer::start().await;
            Mock::given(wiremock::matchers::any()).respond_with(response.clone()).mount(&server).await;
            let e = adapter(kind, &server)
                .poll(match kind {
                    "jira_sm" => "SD-12",
                    "slack" => "1795400047.000012",
                    "feishu" => "om_dc13264520392913993dd051dba21dcf",
                    _ => "12",
                })
                .await
                .unwrap_err();
            assert!(expected(&e), "{kind} / {name}: got {e:?}");
            assert!(!e.to_string().is_empty());
        }
    }
}
