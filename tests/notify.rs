//! Built-in notifications end to end: a breach while waiting, its final
//! figure, a probe that cannot be opened and a failing channel reach a local
//! receiver for every webhook flavour (Feishu and DingTalk signatures
//! checked), and email through the real SMTP/IMAP test server. Filters hold;
//! failed deliveries are retried and counted; a restart between the breach
//! and the delivery neither drops nor repeats anything.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine;
use supportprobe::clock::SystemClock;
use supportprobe::daemon::{self, RunOptions};
use supportprobe::model::Priority;
use supportprobe::store::NewProbe;

const FEISHU_SECRET: &str = "feishu-test-secret";
const DINGTALK_SECRET: &str = "SECdingtalk-test";

#[derive(Clone, Debug)]
struct Received {
    path: String,
    query: BTreeMap<String, String>,
    headers: HeaderMap,
    body: serde_json::Value,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Answer 503 to this many requests on /webhook first.
    fail_first: Arc<Mutex<u32>>,
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&k, msg).as_ref())
}

async fn receive(
    State(rx): State<Receiver>,
    Path(path): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if path == "webhook" {
        let mut left = rx.fail_first.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response();
        }
    }
    // Check the platforms' signatures the way the platforms do.
    if path == "feishu" {
        let ts: i64 = body["timestamp"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
        let expected = hmac_b64(format!("{ts}\n{FEISHU_SECRET}").as_bytes(), b"");
        if body["sign"].as_str() != Some(expected.as_str()) || (chrono::Utc::now().timestamp() - ts).abs() > 3600 {
            return axum::Json(serde_json::json!({"code": 19021, "msg": "sign match fail"})).into_response();
        }
    }
    if path == "dingtalk" {
        let ts = query.get("timestamp").cloned().unwrap_or_default();
        let expected = hmac_b64(DINGTALK_SECRET.as_bytes(), format!("{ts}\n{DINGTALK_SECRET}").as_bytes());
        if query.get("sign") != Some(&expected) || query.get("access_token").map(String::as_str) != Some("ding-token") {
            return axum::Json(serde_json::json!({"errcode": 310000, "errmsg": "sign not match"})).into_response();
        }
    }
    rx.got.lock().unwrap().push(Received { path: path.clone(), query, headers, body });
    match path.as_str() {
        "feishu" => axum::Json(serde_json::json!({"code": 0, "msg": "success", "data": {}})).into_response(),
        "dingtalk" | "wecom" => axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"})).into_response(),
        "slack" => "ok".into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn start_receiver(rx: Receiver, listener: tokio::net::TcpListener) {
    let app = Router::new().route("/{path}", post(receive)).with_state(rx);
    tokio::spawn(async move { axum::serve(listener, app).await });
}

impl Receiver {
    /// Notification ids (and events) received on a path.
    fn ids(&self, path: &str) -> Vec<(String, String)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| {
                let text = r.body.to_string();
                let id = r.body["id"].as_str().map(String::from).unwrap_or_else(|| text.clone());
                let event = r.body["event"].as_str().map(String::from).unwrap_or_default();
                (id, event)
            })
            .collect()
    }

    fn texts(&self, path: &str) -> Vec<String> {
        self.got.lock().unwrap().iter().filter(|r| r.path == path).map(|r| r.body.to_string()).collect()
    }
}

fn template(rx: SocketAddr, late: SocketAddr, email: Option<&str>) -> String {
    let email = email.map_or(String::new(), |smtp| {
        let (host, port) = smtp.split_once(':').unwrap();
        format!(
            r#"
[notify.mail]
events = ["unanswered_past_promise"]
[notify.mail.email]
host = "{host}"
port = {port}
tls = "none"
from = "supportprobe <alerts@example.test>"
to = ["probe@example.test"]
"#
        )
    });
    format!(
        r#"
[daemon]
listen = "127.0.0.1:0"
data_dir = "{{DATA}}"
probes_dir = "{{PROBES}}"

[vendors.slow]
name = "Slow Vendor"
[vendors.slow.promise]
P0 = {{ first_response = "2s" }}
[vendors.slow.channels.tickets]
poll_interval = "300ms"
min_request_interval = "10ms"
[vendors.slow.channels.tickets.zendesk]
base_url = "http://{{SIM}}/slow"
oauth_token = "slow-token"

[vendors.broken]
name = "Broken Vendor"
[vendors.broken.channels.tickets]
poll_interval = "300ms"
min_request_interval = "10ms"
[vendors.broken.channels.tickets.zendesk]
base_url = "http://{{SIM}}/broken"
oauth_token = "wrong-token"

[notify.hook]
[notify.hook.webhook]
url = "http://{rx}/webhook"
headers = {{ Authorization = "Bearer hook-token" }}

[notify.chat]
vendors = ["slow"]
priorities = ["P0"]
[notify.chat.slack]
url = "http://{rx}/slack"

[notify.lark]
vendors = ["slow"]
[notify.lark.feishu]
url = "http://{rx}/feishu"
secret = "{FEISHU_SECRET}"

[notify.ding]
vendors = ["slow"]
[notify.ding.dingtalk]
url = "http://{rx}/dingtalk?access_token=ding-token"
secret = "{DINGTALK_SECRET}"

[notify.wx]
vendors = ["slow"]
[notify.wx.wecom]
url = "http://{rx}/wecom?key=wecom-key"

[notify.only-broken]
vendors = ["broken"]
events = ["open_failed"]
[notify.only-broken.webhook]
url = "http://{rx}/filtered"

[notify.late]
events = ["unanswered_past_promise"]
[notify.late.webhook]
url = "http://{late}/late"
{email}
[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.slow]
token = "slow-token"
auto_ack = "1s"
human_delay = "6s"
[simulator.vendors.broken]
token = "right-token"
human_delay = "1s"
"#
    )
}

fn probe<'a>(reference: &'a str, vendor: &'a str) -> NewProbe<'a> {
    // (references come from `reference::generate`, unique per run)
    NewProbe {
        reference,
        slot: None,
        vendor,
        channel: "tickets",
        kind: "zendesk",
        scenario: "t-plain",
        priority: Priority::P0,
        due_at: chrono::Utc::now(),
        give_up_after: chrono::Duration::seconds(30),
        follow_up_delay: None,
        manual: false,
        counted: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_every_target_once() {
    supportprobe::channel::client::install_crypto_provider();
    let rx = Receiver::default();
    *rx.fail_first.lock().unwrap() = 2;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rx_addr = listener.local_addr().unwrap();
    start_receiver(rx.clone(), listener).await;
    // The late receiver's port is reserved but nobody answers there until after a restart.
    let late_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let late_addr = late_listener.local_addr().unwrap();
    drop(late_listener);
    let mail = common::mail_stack();
    let h = common::harness(&template(rx_addr, late_addr, mail.as_ref().map(|m| m.0.as_str())), &common::test_probes())
        .await;

    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    let now = chrono::Utc::now();
    // Fresh references: the test mailbox outlives test runs.
    let slow_ref = supportprobe::reference::generate("notify-slow");
    h.store.insert_probe(&probe(&slow_ref, "slow"), now).unwrap();
    h.store.insert_probe(&probe(&supportprobe::reference::generate("notify-broken"), "broken"), now).unwrap();

    // The breach while waiting reaches every chat flavour.
    for path in ["slack", "feishu", "dingtalk", "wecom"] {
        let rx = rx.clone();
        common::wait_for(&format!("a notification on /{path}"), Duration::from_secs(30), || {
            let rx = rx.clone();
            async move {
                rx.texts(path).iter().any(|t| t.contains("Slow Vendor P0 first_response promise missed")).then_some(())
            }
        })
        .await;
    }
    // The webhook gets typed JSON with its idempotency key and headers, after two 503s.
    let rx2 = rx.clone();
    common::wait_for(
        "webhook: the breach, the final figure, the failed open, the failing channel",
        Duration::from_secs(40),
        || {
            let rx = rx2.clone();
            async move {
                let events: Vec<String> = rx.ids("webhook").into_iter().map(|(_, e)| e).collect();
                ["unanswered_past_promise", "promise_breached", "open_failed", "channel_failing"]
                    .iter()
                    .all(|e| events.iter().any(|x| x == e))
                    .then_some(())
            }
        },
    )
    .await;
    {
        let got = rx.got.lock().unwrap();
        let hook = got.iter().find(|r| r.path == "webhook" && r.body["event"] == "unanswered_past_promise").unwrap();
        assert_eq!(hook.headers["authorization"], "Bearer hook-token");
        assert_eq!(hook.headers["idempotency-key"], hook.body["id"].as_str().unwrap());
        let b = &hook.body;
        assert_eq!(
            (b["vendor"].as_str(), b["priority"].as_str(), b["measure"].as_str()),
            (Some("slow"), Some("P0"), Some("first_response"))
        );
        assert_eq!(b["promise_seconds"], 2.0);
        assert_eq!(b["probe"], slow_ref.as_str());
        let final_ = got.iter().find(|r| r.path == "webhook" && r.body["event"] == "promise_breached").unwrap();
        assert_eq!(final_.body["elapsed_seconds"], 6.0, "the final figure: answered after 6s against 2s");
        assert_eq!(got.iter().find(|r| r.path == "wecom").unwrap().query["key"], "wecom-key");
    }
    // Filters: the vendor-filtered chat targets never heard about the broken vendor;
    // the open_failed-only target heard nothing else.
    assert!(rx.texts("slack").iter().all(|t| !t.contains("Broken Vendor")));
    let filtered = rx.ids("filtered");
    assert_eq!(filtered.len(), 1, "{filtered:?}");
    assert_eq!(filtered[0].1, "open_failed");

    let body_search = format!("BODY \"{slow_ref}\"");
    if let Some((_, imap)) = &mail {
        let (imap, search) = (imap.clone(), body_search.clone());
        common::wait_for("the breach by email", Duration::from_secs(30), || {
            let (imap, search) = (imap.clone(), search.clone());
            async move {
                (common::imap_search(&imap, "probe@example.test", "probepass", &search).await.len() == 1).then_some(())
            }
        })
        .await;
    }

    // Restart while the late target still cannot be reached; then bring it up.
    let text = reqwest::get(format!("http://{}/metrics", running.http)).await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"supportprobe_notifications_pending{target="late"} 1"#), "{text}");
    assert!(text.contains(r#"supportprobe_channel_up{vendor="broken",channel="zendesk"} 0"#));
    let failed_hook: f64 = text
        .lines()
        .find(|l| l.starts_with(r#"supportprobe_notification_failed_attempts_total{target="hook"}"#))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap();
    assert!(failed_hook >= 2.0, "the two 503s were counted: {failed_hook}");
    running.stop().await;
    let late = Receiver::default();
    start_receiver(late.clone(), tokio::net::TcpListener::bind(late_addr).await.unwrap()).await;
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    let late2 = late.clone();
    common::wait_for("the late target after the restart", Duration::from_secs(60), || {
        let late = late2.clone();
        async move { (!late.ids("late").is_empty()).then_some(()) }
    })
    .await;
    // Give a repeat every chance to show up, then count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    running.stop().await;
    assert_eq!(late.ids("late").len(), 1, "delivered once after the restart");
    for path in ["webhook", "slack", "feishu", "dingtalk", "wecom", "filtered"] {
        let ids = rx.ids(path);
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "/{path} got a notification twice: {ids:?}");
    }
    if let Some((_, imap)) = &mail {
        let n = common::imap_search(imap, "probe@example.test", "probepass", &body_search).await;
        assert_eq!(n.len(), 1, "one email");
    }
    // No secret in anything sent.
    for r in rx.got.lock().unwrap().iter() {
        let t = r.body.to_string();
        assert!(!t.contains(FEISHU_SECRET) && !t.contains("slow-token") && !t.contains("wrong-token"), "{t}");
    }
}
