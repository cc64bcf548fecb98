//! Bad luck at the vendor, injected by the simulator (`/_sim/faults/NAME`):
//! each test is a case where a figure once went wrong, with the fault that
//! caused it, checked against the simulator's ground truth to the second.

mod common;

use std::time::Duration;

use common::{Harness, harness, parse, test_probes, wait_for};
use supportprobe::engine::probe::kind;
use supportprobe::model::{Measure, Outcome, State};
use supportprobe::simulator::Truth;
use supportprobe::sla::Verdict;
use tokio_util::sync::CancellationToken;

const CONFIG: &str = r#"
[daemon]
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.z.promise]
P0 = { first_response = "6s", resolution = "40s" }
[vendors.z.channels.tickets]
poll_interval = "300ms"
min_request_interval = "10ms"
timeout = "2s"
[vendors.z.channels.tickets.zendesk]
base_url = "http://{SIM}/z"
email = "poc@example.com"
token = "tok-z"

[vendors.s.promise]
P0 = { first_response = "6s", resolution = "40s" }
[vendors.s.channels.chat]
poll_interval = "300ms"
min_request_interval = "10ms"
timeout = "2s"
[vendors.s.channels.chat.slack]
api_url = "http://{SIM}/s/slack/api"
channel = "C0TEST"
token = "tok-s"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.z]
token = "tok-z"
human_delay = "2s"
resolution_delay = "2s"
[simulator.vendors.s]
token = "tok-s"
human_delay = "2s"
resolution_delay = "2s"
"#;

/// `POST /_sim/faults/{vendor}` with a JSON body.
async fn fault(h: &Harness, vendor: &str, body: serde_json::Value) {
    supportprobe::channel::client::install_crypto_provider();
    let r =
        reqwest::Client::new().post(format!("http://{}/_sim/faults/{vendor}", h.sim)).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
}

/// Runs one `t-plain` probe to its end (give-up after `give_up` seconds);
/// `during` is called once the ticket is open.
async fn probe_with<F, Fut>(h: &Harness, vendor: &str, channel: &str, give_up: i64, during: F) -> i64
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let ctx = h.ctx();
    let scenario = h.config.scenario("t-plain").unwrap();
    let (vendor_, channel_) = (vendor.to_string(), channel.to_string());
    let run = tokio::spawn(async move {
        supportprobe::engine::once(
            &ctx,
            &scenario,
            &vendor_,
            &channel_,
            Some(chrono::Duration::seconds(give_up)),
            true,
            CancellationToken::new(),
        )
        .await
        .unwrap()
    });
    let ticket = wait_for("the ticket to be opened", Duration::from_secs(20), || async {
        h.store.all_probes().unwrap().into_iter().find(|p| p.vendor == vendor).and_then(|p| p.ticket_id)
    })
    .await;
    during(ticket).await;
    tokio::time::timeout(Duration::from_secs(150), run).await.expect("the probe ends").unwrap()
}

fn truth_of<'a>(truth: &'a [Truth], reference: &str) -> &'a Truth {
    truth.iter().find(|t| t.reference.as_deref() == Some(reference)).expect("the ticket at the vendor")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_across_the_give_up_time_is_no_verdict() {
    let h = harness(CONFIG, &test_probes()).await;
    // The vendor answers at +2 s and solves at +4 s; its API answers 503 from just
    // after the open until a minute past the give-up time (+6 s) — longer than
    // any grace a timer on our clock could give.
    let outage = serde_json::json!({ "outage_secs": 70, "outage_fault": "server_error" });
    let id = probe_with(&h, "z", "tickets", 6, |_| fault(&h, "z", outage)).await;
    let p = h.store.probe(id).unwrap().unwrap();
    let truth = h.truth().await;
    let t = truth_of(&truth, &p.reference);
    assert_eq!(p.state, State::Closed, "{p:#?}");
    assert_eq!(p.outcome, Some(Outcome::Resolved), "the vendor solved it during the outage: {p:#?}");
    assert_eq!(p.expired_at, None, "no expiry from silence");
    assert_eq!(p.first_human_response_at, t.first_human_reply_at.as_deref().map(parse));
    assert_eq!(p.resolved_at, t.resolved_at.as_deref().map(parse));
    let measures = h.store.measures_of(id).unwrap();
    assert!(measures.iter().all(|m| m.verdict != Verdict::Breached), "the vendor met both promises: {measures:#?}");
    let fh = measures.iter().find(|m| m.measure == Measure::FirstHumanResponse).unwrap();
    let want = (parse(t.first_human_reply_at.as_deref().unwrap()) - parse(&t.opened_at)).num_seconds() as f64;
    assert_eq!(fh.wall_secs, Some(want));
    assert!(t.requester_messages_at.is_empty(), "no courtesy close onto the solved ticket: {t:#?}");
    assert!(!t.closed_by_requester);
    assert!(h.store.events(id).unwrap().iter().all(|e| e.kind != kind::EXPIRED && e.kind != kind::BREACH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_with_an_unknown_outcome_is_looked_up_not_sent_again() {
    let h = harness(CONFIG, &test_probes()).await;
    // Zendesk creates the ticket, then the connection drops; Slack posts the
    // message and answers 200 without `ok` (a proxy mangled it).
    fault(&h, "z", serde_json::json!({ "next": [{ "fault": "reset_after", "method": "POST" }] })).await;
    fault(&h, "s", serde_json::json!({ "next": [{ "fault": "malformed_success", "method": "POST" }] })).await;
    let (a, b) =
        tokio::join!(probe_with(&h, "z", "tickets", 40, |_| async {}), probe_with(&h, "s", "chat", 40, |_| async {}));
    let truth = h.truth().await;
    for id in [a, b] {
        let p = h.store.probe(id).unwrap().unwrap();
        let tickets: Vec<&Truth> = truth.iter().filter(|t| t.reference.as_deref() == Some(&p.reference)).collect();
        assert_eq!(tickets.len(), 1, "one ticket for {}: {truth:#?}", p.vendor);
        let t = tickets[0];
        assert_eq!(p.ticket_id.as_deref(), Some(t.ticket_id.as_str()));
        let opened = h.store.events(id).unwrap().into_iter().find(|e| e.kind == kind::OPENED).unwrap();
        assert_eq!(opened.detail["recovered"], true, "found by the recovery lookup: {opened:?}");
        assert_eq!(p.state, State::Closed, "{p:#?}");
        assert_eq!(p.outcome, Some(Outcome::Resolved));
        assert_eq!(p.first_human_response_at, t.first_human_reply_at.as_deref().map(parse));
    }
}

const SLOW_VENDOR: &str = r#"
[daemon]
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.z.promise]
P0 = { first_response = "1m" }
[vendors.z.channels.tickets]
poll_interval = "300ms"
min_request_interval = "10ms"
[vendors.z.channels.tickets.zendesk]
base_url = "http://{SIM}/z"
email = "poc@example.com"
token = "tok-z"

[notify.oncall.webhook]
url = "http://{SIM}/_sim/webhook"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.z]
token = "tok-z"
human_delay = "5m"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_that_disappeared_backs_off_and_ends_failed_with_the_reason() {
    let h = harness(SLOW_VENDOR, &test_probes()).await;
    let id = probe_with(&h, "z", "tickets", 600, |ticket| fault(&h, "z", serde_json::json!({ "lose_ticket": ticket })))
        .await;
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!(p.state, State::Failed, "{p:#?}");
    assert_eq!(p.outcome, Some(Outcome::Failed));
    let note = p.note.clone().unwrap_or_default();
    assert!(note.contains("is gone at the vendor") && note.contains("404"), "{note}");
    // A doubling back-off from the 300 ms poll interval, five looks in all: never hammered.
    let not_found: u64 = h
        .store
        .error_counts()
        .unwrap()
        .iter()
        .filter(|e| e.operation == "poll" && e.kind == "not_found")
        .map(|e| e.count)
        .sum();
    assert_eq!(not_found, 5, "five looks, then given up");
    assert!(h.store.events(id).unwrap().iter().any(|e| e.kind == kind::LOST));
    assert!(h.store.notification_exists(&format!("probe_lost:{}", p.reference)).unwrap(), "the team is told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_ticket_id_is_not_ours_and_nothing_is_posted_into_it() {
    let h = harness(SLOW_VENDOR, &test_probes()).await;
    let mut reused = String::new();
    let id = probe_with(&h, "z", "tickets", 600, |ticket| {
        reused = ticket.clone();
        fault(&h, "z", serde_json::json!({ "reuse_ticket": ticket }))
    })
    .await;
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!(p.state, State::Failed, "{p:#?}");
    let note = p.note.clone().unwrap_or_default();
    assert!(note.contains("no longer carries our reference"), "{note}");
    let truth = h.truth().await;
    let t = truth.iter().find(|t| t.ticket_id == reused).unwrap();
    assert!(t.requester_messages_at.is_empty() && !t.closed_by_requester, "nothing posted into a stranger's ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_clock_running_ahead_still_ends_closed_with_true_figures() {
    let h = harness(CONFIG, &test_probes()).await;
    fault(&h, "z", serde_json::json!({ "clock_skew_secs": 300 })).await;
    let id = probe_with(&h, "z", "tickets", 40, |_| async {}).await;
    let p = h.store.probe(id).unwrap().unwrap();
    let truth = h.truth().await;
    let t = truth_of(&truth, &p.reference);
    assert_eq!(p.state, State::Closed, "{p:#?}");
    assert_eq!(p.outcome, Some(Outcome::Resolved));
    assert_eq!(p.opened_at, Some(parse(&t.opened_at)), "the vendor's own clock, five minutes ahead");
    assert!(parse(&t.opened_at) > chrono::Utc::now() + chrono::Duration::minutes(4));
    assert_eq!(p.first_human_response_at, t.first_human_reply_at.as_deref().map(parse));
    assert_eq!(p.resolved_at, t.resolved_at.as_deref().map(parse));
}

const SHARED_LIMIT: &str = r#"
[daemon]
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.busy]
rate_limit_per_minute = 40
[vendors.busy.promise]
P0 = { first_response = "1m" }
[vendors.busy.channels.tickets]
poll_interval = "200ms"
min_request_interval = "10ms"
[vendors.busy.channels.tickets.zendesk]
base_url = "http://{SIM}/busy"
email = "poc@example.com"
token = "tok-busy"
[vendors.busy.channels.sdk]
poll_interval = "200ms"
min_request_interval = "10ms"
[vendors.busy.channels.sdk.github]
api_url = "http://{SIM}/busy/github"
repository = "busy/sdk"
token = "tok-busy"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.busy]
token = "tok-busy"
human_delay = "5m"
rate_limit_per_minute = 40
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendors_channels_share_one_rate_budget() {
    let h = harness(SHARED_LIMIT, &test_probes()).await;
    let scenario = h.config.scenario("t-plain").unwrap();
    let stop = CancellationToken::new();
    let mut runs = Vec::new();
    // Three probes on each channel, each polled every 200 ms: far more than 40 a minute asked for.
    for channel in ["tickets", "sdk", "tickets", "sdk", "tickets", "sdk"] {
        let (ctx, scenario, token) = (h.ctx(), scenario.clone(), stop.clone());
        runs.push(tokio::spawn(async move {
            supportprobe::engine::once(&ctx, &scenario, "busy", channel, None, true, token).await.unwrap()
        }));
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    stop.cancel();
    for r in runs {
        r.await.unwrap();
    }
    let r: serde_json::Value =
        reqwest::get(format!("http://{}/_sim/faults/busy", h.sim)).await.unwrap().json().await.unwrap();
    assert_eq!(r["rate_limited"], 0, "the vendor never refused a request for its limit: {r}");
    let limited: u64 =
        h.store.error_counts().unwrap().iter().filter(|e| e.kind == "rate_limited").map(|e| e.count).sum();
    assert_eq!(limited, 0);
    let probes = h.store.all_probes().unwrap();
    for channel in ["tickets", "sdk"] {
        let opened = probes.iter().filter(|p| p.channel == channel && p.ticket_id.is_some()).count();
        assert!(opened >= 1, "{channel} kept working within the shared budget: {probes:#?}");
    }
}

const REFLECTING: &str = r#"
[daemon]
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.echo.promise]
P0 = { first_response = "1m" }
[vendors.echo.channels.tickets]
poll_interval = "300ms"
min_request_interval = "10ms"
[vendors.echo.channels.tickets.zendesk]
base_url = "http://{SIM}/echo"
email = "poc@example.com"
token = "tok-echo-0123456789abcdef"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.echo]
token = "tok-echo-0123456789abcdef"
human_delay = "5m"
[simulator.vendors.echo.faults]
rate = 1.0
kinds = ["reflect"]
"#;

#[test]
fn a_vendor_reflecting_our_credentials_leaks_them_nowhere() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let h = rt.block_on(harness(REFLECTING, &test_probes()));
    let bin = env!("CARGO_BIN_EXE_supportprobe");
    // Zendesk's API token auth is Basic base64("email/token:TOKEN"): both forms must stay hidden.
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode("poc@example.com/token:tok-echo-0123456789abcdef")
    };
    let once = std::process::Command::new(bin)
        .args([
            "once",
            "--scenario",
            "t-plain",
            "--vendor",
            "echo",
            "--channel",
            "tickets",
            "--no-simulator",
            "--config",
        ])
        .arg(&h.config_path)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&once.stdout), String::from_utf8_lossy(&once.stderr));
    assert!(log.contains("InvalidRequest"), "the vendor's error is reported: {log}");
    let probes =
        std::process::Command::new(bin).args(["probes", "--json", "--config"]).arg(&h.config_path).output().unwrap();
    let listing = String::from_utf8_lossy(&probes.stdout).to_string();
    assert!(listing.contains("open failed"), "{listing}");
    let store: String = h
        .store
        .error_counts()
        .unwrap()
        .iter()
        .map(|e| e.last_message.clone())
        .chain(h.store.all_probes().unwrap().iter().filter_map(|p| p.note.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(store.contains("InvalidRequest"), "{store}");
    for (place, text) in [("log", &log), ("probes --json", &listing), ("store", &store)] {
        assert!(!text.contains("tok-echo-0123456789abcdef"), "the token leaked into the {place}: {text}");
        assert!(!text.contains(&basic), "the Basic credential leaked into the {place}: {text}");
        assert!(!text.contains(&basic[..20]), "part of the Basic credential leaked into the {place}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lookup_after_an_unknown_outcome_never_fails_the_probe() {
    let h = harness(CONFIG, &test_probes()).await;
    // The create is applied but its answer lost; then the recovery lookup itself
    // is refused once (a 400). Neither may fail the probe: its ticket exists.
    let next = serde_json::json!({ "next": [
        { "fault": "reset_after", "method": "POST" },
        { "fault": "reflect", "method": "GET" },
    ] });
    fault(&h, "z", next).await;
    let id = probe_with(&h, "z", "tickets", 40, |_| async {}).await;
    let p = h.store.probe(id).unwrap().unwrap();
    let truth = h.truth().await;
    let tickets: Vec<&Truth> = truth.iter().filter(|t| t.reference.as_deref() == Some(&p.reference)).collect();
    assert_eq!(tickets.len(), 1, "{truth:#?}");
    assert_eq!(
        p.ticket_id.as_deref(),
        Some(tickets[0].ticket_id.as_str()),
        "the ticket is ours, not an orphan: {p:#?}"
    );
    assert_eq!(p.state, State::Closed);
    assert_eq!(p.outcome, Some(Outcome::Resolved));
    assert_eq!(p.first_human_response_at, tickets[0].first_human_reply_at.as_deref().map(parse));
}
