//! The manual channel (phone hotline) through the running daemon: the
//! schedule opens a probe, the operator is told through the notifiers what
//! to do and say, and records what happened over the HTTP API (bearer token
//! required); the recorded times are the figures, to the second.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use serde_json::json;
use supportprobe::clock::SystemClock;
use supportprobe::daemon::{self, RunOptions};
use supportprobe::model::{ReplyClass, State};

const CONFIG: &str = r#"
[daemon]
listen = "127.0.0.1:0"
data_dir = "{DATA}"
probes_dir = "{PROBES}"
api_token = "operator-secret"

[vendors.hotline]
name = "Hotline RTC"
[vendors.hotline.promise]
P1 = { first_response = "1m", resolution = "5m" }
[vendors.hotline.channels.phone]
poll_interval = "500ms"
[vendors.hotline.channels.phone.manual]
contact = "+86 400 810 0000, option 2"
instructions = "Ask for the P0 line."
[vendors.hotline.caps]
max_per_day = 1

[[schedules]]
scenario = "t-manual"
vendors = ["hotline"]
cron = "* * * * * *"

[notify.operator.webhook]
url = "http://{SIM}/_sim/webhook"

[simulator]
listen = "127.0.0.1:0"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_is_told_and_records_over_the_api() {
    let h = common::harness(CONFIG, &common::test_probes()).await;
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    supportprobe::channel::client::install_crypto_provider();
    let client = reqwest::Client::new();
    let base = format!("http://{}", running.http);

    let store = h.store.clone();
    let probe = common::wait_for("the manual probe to open", Duration::from_secs(20), || {
        let store = store.clone();
        async move { store.all_probes().ok()?.into_iter().find(|p| p.opened_at.is_some()) }
    })
    .await;
    let reference = probe.reference.clone();
    assert_eq!(probe.kind, "manual");

    // The operator's notice: whom to call, what to say, how to record.
    let notice = common::wait_for("the operator's notice", Duration::from_secs(20), || async {
        let all: Vec<serde_json::Value> =
            reqwest::get(format!("http://{}/_sim/notifications", h.sim)).await.ok()?.json().await.ok()?;
        all.into_iter().find(|n| n["event"] == "manual_probe_due")
    })
    .await;
    let text = notice.to_string();
    assert!(
        text.contains(&reference) && text.contains("+86 400 810 0000") && text.contains("Ask for the P0 line"),
        "{text}"
    );
    assert!(text.contains(&format!("/api/v1/probes/{reference}/events")), "{text}");

    let url = format!("{base}/api/v1/probes/{reference}/events");
    let opened = probe.opened_at.unwrap();
    let answered = (opened + chrono::Duration::seconds(1)).trunc_subsecs(0);
    let human =
        (Utc::now() - chrono::Duration::seconds(1)).trunc_subsecs(0).max(answered + chrono::Duration::seconds(1));
    let post = |body: serde_json::Value, token: Option<&'static str>| {
        let mut rb = client.post(&url).json(&body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    // Without the token, or with a wrong one: refused, nothing recorded.
    assert_eq!(post(json!({ "event": "human" }), None).await.unwrap().status(), 401);
    assert_eq!(post(json!({ "event": "human" }), Some("guess")).await.unwrap().status(), 401);
    assert!(h.store.probe(probe.id).unwrap().unwrap().first_response_at.is_none());
    // Bad requests are explained.
    let r = post(json!({ "event": "called" }), Some("operator-secret")).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("unknown variant"));
    let r = post(json!({ "event": "human", "at": "2020-01-01T00:00:00Z" }), Some("operator-secret")).await.unwrap();
    assert_eq!(r.status(), 422, "before the probe was opened");
    let r = client
        .post(format!("{base}/api/v1/probes/SP-NOSUCH00/events"))
        .bearer_auth("operator-secret")
        .json(&json!({ "event": "human" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The line answered (an IVR), then a person, then it was solved.
    for (event, at) in [("answered", answered), ("human", human)] {
        let r = post(json!({ "event": event, "at": at.to_rfc3339(), "note": "on the phone" }), Some("operator-secret"))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{event}: {}", r.text().await.unwrap());
    }
    let r = post(json!({ "event": "human", "at": human.to_rfc3339() }), Some("operator-secret")).await.unwrap();
    assert_eq!(r.status(), 409, "recorded once");
    let r = post(json!({ "event": "resolved" }), Some("operator-secret")).await.unwrap();
    assert_eq!(r.status(), 200);

    let p = common::wait_for("the probe to close", Duration::from_secs(20), || async {
        h.store.probe(probe.id).ok()?.filter(|p| p.state == State::Closed)
    })
    .await;
    assert_eq!(p.first_response_at, Some(answered));
    assert_eq!(p.first_human_response_at, Some(human));
    assert_eq!(p.bot_turns, 1, "the IVR answered first");
    assert!(p.resolved_at.is_some());
    let classes: Vec<_> =
        h.store.events(p.id).unwrap().into_iter().filter(|e| e.kind == "reply").map(|e| e.class.unwrap()).collect();
    assert_eq!(classes, [ReplyClass::AutoAck, ReplyClass::Human]);
    let opened: Vec<_> = h.store.all_probes().unwrap().into_iter().filter(|p| p.opened_at.is_some()).collect();
    assert_eq!(opened.len(), 1, "max_per_day holds (later fires are skipped)");
    running.stop().await;
}
