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
# GitHub's default budget (80/min) spaces the open's calls and the first poll
# by ~0.8 s: the person answers after that first look.
human_delay = "6s"
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
    supportprobe::channel::client::install_crypto_provider();
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

const EVERY_PLATFORM: &str = r#"
[daemon]
listen = "127.0.0.1:0"
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.v.promise]
P0 = { first_response = "1h" }
[vendors.v.channels.tickets]
webhook_secret = "zendesk-secret"
[vendors.v.channels.tickets.zendesk]
base_url = "http://{SIM}/v"
email = "poc@example.com"
token = "tok"
[vendors.v.channels.sdk]
webhook_secret = "github-secret"
[vendors.v.channels.sdk.github]
api_url = "http://{SIM}/v/github"
repository = "v/sdk"
token = "tok"
[vendors.v.channels.portal]
webhook_secret = "jira-secret"
[vendors.v.channels.portal.jira_sm]
base_url = "http://{SIM}/v/jira"
email = "poc@example.com"
api_token = "tok"
service_desk_id = "2"
request_type_id = "11"
[vendors.v.channels.chat]
webhook_secret = "slack-signing-secret"
[vendors.v.channels.chat.slack]
api_url = "http://{SIM}/v/slack/api"
channel = "C0V"
token = "tok"
[vendors.v.channels.messenger]
webhook_secret = "intercom-client-secret"
[vendors.v.channels.messenger.intercom]
api_url = "http://{SIM}/v/intercom"
contact_id = "6657a1b2c3d4e5f6a7b8c9d0"
token = "tok"
[vendors.v.channels.group]
webhook_secret = "feishu-encrypt-key"
[vendors.v.channels.group.feishu]
api_url = "http://{SIM}/v/feishu"
app_id = "cli_a1b2c3d4e5f60001"
app_secret = "tok"
chat_id = "oc_v"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.v]
token = "tok"
human_delay = "2s"
"#;

/// What each platform sends: its signature headers for `body` with `secret` at `at`.
fn platform_headers(
    channel: &str,
    secret: &str,
    body: &[u8],
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<(&'static str, String)> {
    let sha256 = |data: &[u8]| hex(&hmac_sha256(secret, data));
    match channel {
        "tickets" => signed("zd", secret, body, at),
        "sdk" => signed("gh", secret, body, at),
        "portal" => vec![("x-hub-signature", format!("sha256={}", sha256(body)))],
        "chat" => {
            let ts = at.timestamp().to_string();
            let mut base = format!("v0:{ts}:").into_bytes();
            base.extend_from_slice(body);
            vec![("x-slack-signature", format!("v0={}", sha256(&base))), ("x-slack-request-timestamp", ts)]
        }
        "messenger" => {
            let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
            vec![("x-hub-signature", format!("sha1={}", hex(hmac::sign(&key, body).as_ref())))]
        }
        "group" => {
            let (ts, nonce) = (at.timestamp().to_string(), "a1b2c3".to_string());
            let mut data = format!("{ts}{nonce}{secret}").into_bytes();
            data.extend_from_slice(body);
            let sig = hex(ring::digest::digest(&ring::digest::SHA256, &data).as_ref());
            vec![("x-lark-signature", sig), ("x-lark-request-timestamp", ts), ("x-lark-request-nonce", nonce)]
        }
        other => panic!("no platform for {other}"),
    }
}

/// Feishu's encryption of an event: AES-256-CBC under SHA-256(Encrypt Key), IV first, base64.
fn feishu_encrypt(key: &str, plain: &[u8]) -> String {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    let k = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let iv = [7u8; 16];
    let mut out = iv.to_vec();
    out.extend(
        cbc::Encryptor::<aes::Aes256>::new_from_slices(k.as_ref(), &iv).unwrap().encrypt_padded_vec_mut::<Pkcs7>(plain),
    );
    base64::engine::general_purpose::STANDARD.encode(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_platform_is_verified_its_own_way_at_the_endpoint() {
    let h = common::harness(EVERY_PLATFORM, &common::test_probes()).await;
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    supportprobe::channel::client::install_crypto_provider();
    let client = reqwest::Client::new();
    let post = |channel: &str, headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let mut rb = client.post(format!("http://{}/webhooks/v/{channel}", running.http)).body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        async move {
            let resp = rb.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let secrets = [
        ("tickets", "zendesk-secret"),
        ("sdk", "github-secret"),
        ("portal", "jira-secret"),
        ("chat", "slack-signing-secret"),
        ("messenger", "intercom-client-secret"),
        ("group", "feishu-encrypt-key"),
    ];
    let body = br#"{"event":"comment_added","id":1}"#.to_vec();
    let now = chrono::Utc::now();
    for (channel, secret) in secrets {
        let valid = post(channel, platform_headers(channel, secret, &body, now), body.clone()).await;
        assert_eq!(valid.0, 200, "{channel}: valid signature: {}", valid.1);
        let tampered =
            post(channel, platform_headers(channel, secret, &body, now), br#"{"event":"x","id":2}"#.to_vec()).await;
        assert_eq!(tampered.0, 401, "{channel}: tampered body");
        let wrong = post(channel, platform_headers(channel, "not-the-secret", &body, now), body.clone()).await;
        assert_eq!(wrong.0, 401, "{channel}: wrong secret");
        assert!(!wrong.1.contains(secret), "{channel}: the answer names no secret");
        let missing = post(channel, vec![], body.clone()).await;
        assert_eq!(missing.0, 401, "{channel}: no signature");
        // Zendesk, Slack and Feishu sign a timestamp; GitHub, Jira and Intercom sign the body only.
        if ["tickets", "chat", "group"].contains(&channel) {
            let old = now - chrono::Duration::minutes(6);
            let stale = post(channel, platform_headers(channel, secret, &body, old), body.clone()).await;
            assert_eq!(stale.0, 401, "{channel}: stale timestamp");
            assert!(stale.1.contains("window"), "{channel}: {}", stale.1);
        }
    }

    // Slack's URL check is signed and answered with its challenge; unsigned, refused.
    let check = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#.to_vec();
    let (status, text) =
        post("chat", platform_headers("chat", "slack-signing-secret", &check, now), check.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    assert_eq!(post("chat", vec![], check).await.0, 401);

    // Feishu's URL check, plain and encrypted with the Encrypt Key; another key cannot pass it.
    let plain = br#"{"challenge":"ajls384kdjx98XX","token":"xxxxxx","type":"url_verification"}"#;
    let (status, text) = post("group", vec![], plain.to_vec()).await;
    assert_eq!((status, text.contains("ajls384kdjx98XX")), (200, true), "{text}");
    let encrypted = format!(r#"{{"encrypt":"{}"}}"#, feishu_encrypt("feishu-encrypt-key", plain));
    let (status, text) = post("group", vec![], encrypted.into_bytes()).await;
    assert_eq!((status, text.contains("ajls384kdjx98XX")), (200, true), "{text}");
    let forged = format!(r#"{{"encrypt":"{}"}}"#, feishu_encrypt("another-key", plain));
    assert_eq!(post("group", vec![], forged.into_bytes()).await.0, 401);
    // An unsigned Feishu event that is not a URL check is refused.
    assert_eq!(post("group", vec![], body.clone()).await.0, 401);
    running.stop().await;
}

/// Each platform's webhook names the ticket it is about, read from payloads
/// laid out as the platforms document them (tests/fixtures/webhooks): the
/// daemon looks at that probe first. A payload naming no ticket gives no hint
/// (every probe is looked at), and a hostile one gives nothing usable.
#[test]
fn a_webhook_names_the_ticket_it_is_about() {
    use supportprobe::channel::ChannelKind;
    use supportprobe::webhook::ticket_hint;
    let dir = format!("{}/tests/fixtures/webhooks", env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(format!("{dir}/MANIFEST.toml")).unwrap()).unwrap();
    let entries = manifest["payload"].as_array().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for e in entries {
        let file = e["file"].as_str().unwrap();
        let kind: ChannelKind = e["kind"].as_str().unwrap().parse().unwrap();
        let body = std::fs::read(format!("{dir}/{file}")).unwrap();
        let want = e["hint"].as_str().unwrap();
        let got = ticket_hint(kind, b"secret", &body);
        assert_eq!(got.as_deref().unwrap_or(""), want, "{file}");
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), 6, "every platform with webhooks has a payload: {kinds:?}");
    let listed: std::collections::BTreeSet<&str> = entries.iter().map(|e| e["file"].as_str().unwrap()).collect();
    for f in std::fs::read_dir(&dir).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        assert!(name == "MANIFEST.toml" || listed.contains(name.as_str()), "{name} is not in the manifest");
    }
    // Not JSON, an id that is no id, a payload about something else.
    assert_eq!(ticket_hint(ChannelKind::Github, b"s", b"\xff\xfe not json"), None);
    assert_eq!(ticket_hint(ChannelKind::Github, b"s", br#"{"issue":{"number":"1 OR 1=1\n"}}"#), None);
    assert_eq!(
        ticket_hint(
            ChannelKind::Github,
            b"s",
            &format!(r#"{{"issue":{{"number":"{}"}}}}"#, "9".repeat(500)).into_bytes()
        ),
        None
    );
    assert_eq!(ticket_hint(ChannelKind::Intercom, b"s", br#"{"data":{"item":{"type":"contact","id":"77"}}}"#), None);
    assert_eq!(ticket_hint(ChannelKind::Zendesk, b"s", br#"{"type":"zen:event-type:user.active_changed","detail":{"id":"6596848315901"},"subject":"zen:user:6596848315901"}"#), None);
}
