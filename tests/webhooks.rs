//! Signed webhooks through the running daemon, for each platform that has
//! them: with an hour between polls, a reply is noticed only when the
//! platform's webhook arrives — a valid signature makes the worker look at
//! once; a tampered body, a stale timestamp, a wrong secret or no signature
//! get 401 and change nothing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use ring::hmac;
use supportprobe::clock::SystemClock;
use supportprobe::daemon::{self, RunOptions};

const CONFIG: &str = r#"
[daemon]
listen = "127.0.0.1:0"
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.zd.promise]
P0 = { first_response = "1h" }
[vendors.zd.channels.tickets]
poll_interval = "1h"
webhook_secret = "zd-signing-secret"
[vendors.zd.channels.tickets.zendesk]
base_url = "http://{SIM}/zd"
email = "poc@example.com"
token = "tok"
[vendors.zd.caps]
max_per_day = 1

[vendors.gh.promise]
P0 = { first_response = "1h" }
[vendors.gh.channels.sdk]
poll_interval = "1h"
webhook_secret = "gh-signing-secret"
[vendors.gh.channels.sdk.github]
api_url = "http://{SIM}/gh/github"
repository = "gh/sdk"
token = "tok"
[vendors.gh.caps]
max_per_day = 1

[[schedules]]
scenario = "t-plain"
vendors = ["*"]
cron = "* * * * * *"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.zd]
token = "tok"
human_delay = "2s"
[simulator.vendors.gh]
token = "tok"
human_delay = "2s"
"#;

fn hmac_sha256(secret: &str, data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), data).as_ref().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Headers a platform would send for `body` signed with `secret` at `ts`.
fn signed(vendor: &str, secret: &str, body: &[u8], ts: chrono::DateTime<chrono::Utc>) -> Vec<(&'static str, String)> {
    if vendor == "gh" {
        vec![
            ("x-hub-signature-256", format!("sha256={}", hex(&hmac_sha256(secret, body)))),
            ("x-github-event", "issue_comment".into()),
        ]
    } else {
        let ts = ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut data = ts.as_bytes().to_vec();
        data.extend_from_slice(body);
        let sig = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, &data));
        vec![("x-zendesk-webhook-signature", sig), ("x-zendesk-webhook-signature-timestamp", ts)]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_webhook_makes_the_daemon_look_at_once() {
    let h = common::harness(CONFIG, &common::test_probes()).await;
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    supportprobe::channel::http::install_crypto_provider();
    let client = reqwest::Client::new();
    for (vendor, channel, secret) in [("zd", "tickets", "zd-signing-secret"), ("gh", "sdk", "gh-signing-secret")] {
        let store = h.store.clone();
        let probe = common::wait_for("the probe to open", Duration::from_secs(20), || {
            let store = store.clone();
            async move { store.all_probes().ok()?.into_iter().find(|p| p.vendor == vendor && p.opened_at.is_some()) }
        })
        .await;
        // The person has answered at the platform by now; polling would not see it for an hour.
        let truth = common::wait_for("the simulated person to answer", Duration::from_secs(20), || async {
            h.truth()
                .await
                .into_iter()
                .find(|t| t.reference.as_deref() == Some(probe.reference.as_str()) && t.first_human_reply_at.is_some())
        })
        .await;
        let url = format!("http://{}/webhooks/{vendor}/{channel}", running.http);
        let body = br#"{"action":"created","comment":{"id":1}}"#;
        let now = chrono::Utc::now();
        let post = |headers: Vec<(&'static str, String)>, body: &'static [u8]| {
            let mut rb = client.post(&url).body(body);
            for (k, v) in headers {
                rb = rb.header(k, v);
            }
            rb.send()
        };
        let tampered =
            post(signed(vendor, secret, body, now), br#"{"action":"created","comment":{"id":2}}"#).await.unwrap();
        assert_eq!(tampered.status(), 401, "{vendor}: tampered body");
        assert_eq!(
            post(signed(vendor, "not-the-secret", body, now), body).await.unwrap().status(),
            401,
            "{vendor}: wrong secret"
        );
        assert_eq!(post(vec![], body).await.unwrap().status(), 401, "{vendor}: no signature");
        if vendor == "zd" {
            let stale = post(signed(vendor, secret, body, now - chrono::Duration::minutes(10)), body).await.unwrap();
            assert_eq!(stale.status(), 401, "stale timestamp");
            assert!(stale.text().await.unwrap().contains("window"));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let p = h.store.probe(probe.id).unwrap().unwrap();
        assert_eq!(p.first_human_response_at, None, "{vendor}: refused webhooks woke nothing");

        assert_eq!(
            post(signed(vendor, secret, body, chrono::Utc::now()), body).await.unwrap().status(),
            200,
            "{vendor}"
        );
        let p = common::wait_for("the reply to be read after the webhook", Duration::from_secs(5), || async {
            h.store.probe(probe.id).ok()?.filter(|p| p.first_human_response_at.is_some())
        })
        .await;
        assert_eq!(
            p.first_human_response_at,
            truth.first_human_reply_at.as_deref().map(common::parse),
            "{vendor}: to the second"
        );
    }
    let unknown = client.post(format!("http://{}/webhooks/nobody/x", running.http)).body("{}").send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    running.stop().await;
}
