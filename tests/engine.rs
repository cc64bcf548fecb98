//! The engine end to end against the simulated vendors, in process: every
//! measured figure equals the simulator's ground truth to the second;
//! breaches are recorded while still waiting; responsible-probing rules hold;
//! a crash between "created" and "recorded" never opens a second ticket.

mod common;

use std::time::Duration;

use common::{harness, parse, test_probes, wait_for};
use supportprobe::channel::{Channel, OpenRequest};
use supportprobe::engine::probe::kind;
use supportprobe::model::{Outcome, Priority, ReplyClass, State};
use supportprobe::store::{NewEvent, NewProbe};
use tokio_util::sync::CancellationToken;

const TWO_VENDORS: &str = r#"
[daemon]
listen = "127.0.0.1:0"
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.fast]
name = "Fast RTC"
[vendors.fast.promise]
P0 = { first_response = "20s", next_reply = "20s", resolution = "1m" }
[vendors.fast.channels.tickets]
poll_interval = "500ms"
min_request_interval = "20ms"
[vendors.fast.channels.tickets.zendesk]
base_url = "http://{SIM}/fast"
email = "poc@example.com"
token = "tok-fast"

[vendors.botty]
name = "机器人云"
[vendors.botty.promise]
P0 = { first_response = "20s", resolution = "1m" }
[vendors.botty.channels.tickets]
poll_interval = "500ms"
min_request_interval = "20ms"
[vendors.botty.channels.tickets.zendesk]
base_url = "http://{SIM}/botty"
email = "poc@example.com"
token = "tok-botty"

[simulator]
listen = "127.0.0.1:0"

[simulator.vendors.fast]
token = "tok-fast"
auto_ack = "1s"
human_delay = "2s..4s"
resolution_delay = "3s..4s"
agents = ["Maya", "Tom"]
handoff_share = 0.5

[simulator.vendors.botty]
token = "tok-botty"
language = "zh"
bot_turns = 2
bot_delay = "1s"
human_delay = "4s..6s"
resolution_delay = "2s..3s"
"#;

async fn once(h: &common::Harness, scenario: &str, vendor: &str) -> i64 {
    let s = h.config.scenario(scenario).unwrap();
    supportprobe::engine::once(&h.ctx(), &s, vendor, "tickets", None, true, CancellationToken::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measured_figures_equal_the_ground_truth() {
    let h = harness(TWO_VENDORS, &test_probes()).await;
    let (a, b, c, d) = tokio::join!(
        once(&h, "t-follow", "fast"),
        once(&h, "t-follow", "fast"),
        once(&h, "t-plain", "botty"),
        once(&h, "t-plain", "botty"),
    );
    let truth = h.truth().await;
    assert_eq!(truth.len(), 4, "one ticket per probe: {truth:#?}");
    for id in [a, b, c, d] {
        let p = h.store.probe(id).unwrap().unwrap();
        let t =
            truth.iter().find(|t| t.reference.as_deref() == Some(p.reference.as_str())).expect("ticket at the vendor");
        assert_eq!(p.state, State::Closed, "{p:#?}");
        assert_eq!(p.outcome, Some(Outcome::Resolved));
        assert_eq!(p.ticket_id.as_deref(), Some(t.ticket_id.as_str()));
        assert_eq!(p.opened_at, Some(parse(&t.opened_at)), "opened at the vendor's clock");
        let fhr = t.first_human_reply_at.as_deref().map(parse);
        assert_eq!(p.first_human_response_at, fhr, "first human response to the second");
        assert_eq!(p.resolved_at, t.resolved_at.as_deref().map(parse), "resolution to the second");
        let measures = h.store.measures_of(id).unwrap();
        let fh = measures.iter().find(|m| m.measure == supportprobe::model::Measure::FirstHumanResponse).unwrap();
        let truth_secs = (fhr.unwrap() - parse(&t.opened_at)).num_seconds() as f64;
        assert_eq!(fh.wall_secs, Some(truth_secs));
        assert_eq!(fh.business_secs, Some(truth_secs), "24x7 promise: business equals wall");
        assert!(t.closed_by_requester || p.resolved_at.is_some(), "courtesy close or vendor solve");
        if p.vendor == "botty" {
            assert_eq!(p.bot_turns, 2, "two bot turns before a person");
            let replies: Vec<_> = h.store.events(id).unwrap().into_iter().filter(|e| e.kind == kind::REPLY).collect();
            assert_eq!(replies.iter().filter(|e| e.class == Some(ReplyClass::Bot)).count(), 2);
            assert_eq!(replies.iter().filter(|e| e.class == Some(ReplyClass::Human)).count(), 2);
        } else {
            assert_eq!(p.bot_turns, 1, "the auto-acknowledgement precedes the person");
            // The follow-up went out after the first human reply and was answered:
            // next reply = the first human reply after our follow-up, at the vendor's clock.
            let ours = parse(t.requester_messages_at.first().expect("our follow-up reached the vendor"));
            let answer = t.human_replies_at.iter().map(|s| parse(s)).find(|r| *r >= ours).expect("answered");
            let nr = measures.iter().find(|m| m.measure == supportprobe::model::Measure::NextReply).unwrap();
            assert_eq!(nr.wall_secs, Some((answer - ours).num_seconds() as f64));
        }
        assert!(h.store.measures_of(id).unwrap().iter().all(|m| m.verdict != supportprobe::sla::Verdict::Breached));
    }

    // The exported quantiles are exact: each vendor's median of its two first human
    // responses is the mean of the two true figures, p90 nine tenths of the way up.
    let facts = supportprobe::metrics::DaemonFacts { config_reload_ok: true, config_loaded_at: chrono::Utc::now() };
    let text = supportprobe::metrics::render(&h.config, &h.store, facts, chrono::Utc::now()).unwrap();
    for vendor in ["fast", "botty"] {
        let mut secs: Vec<f64> = truth
            .iter()
            .filter(|t| t.vendor == vendor)
            .map(|t| (parse(t.first_human_reply_at.as_deref().unwrap()) - parse(&t.opened_at)).num_seconds() as f64)
            .collect();
        secs.sort_by(f64::total_cmp);
        assert_eq!(secs.len(), 2);
        for (q, want) in [("50", (secs[0] + secs[1]) / 2.0), ("90", secs[0] + (secs[1] - secs[0]) * 0.9)] {
            let series = format!(
                "supportprobe_figure_quantile_seconds{{vendor=\"{vendor}\",channel=\"zendesk\",priority=\"P0\",\
                 measure=\"first_human_response\",clock=\"wall\",window=\"poc\",percentile=\"{q}\"}} "
            );
            let got: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(&series))
                .unwrap_or_else(|| panic!("{series} missing"))
                .parse()
                .unwrap();
            assert!((got - want).abs() < 1e-9, "{vendor} p{q}: {got} != {want}");
        }
    }
}

const SLOW: &str = r#"
[daemon]
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.slow.promise]
P0 = { first_response = "3s" }
[vendors.slow.channels.tickets]
poll_interval = "5s"
min_request_interval = "20ms"
[vendors.slow.channels.tickets.zendesk]
base_url = "http://{SIM}/slow"
oauth_token = "x"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.slow]
auto_ack = "1s"
human_delay = "9s"
resolution_delay = "1s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breach_is_recorded_at_the_deadline_while_still_waiting() {
    let h = harness(SLOW, &test_probes()).await;
    let ctx = h.ctx();
    let scenario = h.config.scenario("t-plain").unwrap();
    let run = tokio::spawn(async move {
        supportprobe::engine::once(&ctx, &scenario, "slow", "tickets", None, true, CancellationToken::new())
            .await
            .unwrap()
    });
    let store = h.store.clone();
    let (probe, breach) = wait_for("a breach event", Duration::from_secs(30), || {
        let store = store.clone();
        async move {
            let p = store.all_probes().ok()?.into_iter().next()?;
            let e = store.events(p.id).ok()?.into_iter().find(|e| e.kind == kind::BREACH)?;
            Some((p, e))
        }
    })
    .await;
    // Recorded while waiting: no human answer yet, although polling is every 5s.
    let p = h.store.probe(probe.id).unwrap().unwrap();
    assert_eq!(p.first_human_response_at, None, "the breach is known before the reply");
    assert_eq!(breach.at, p.opened_at.unwrap() + chrono::Duration::seconds(3), "stamped at the deadline");
    let t = h.truth().await;
    let human_at = parse(t[0].first_human_reply_at.as_deref().unwrap_or("2100-01-01T00:00:00Z"));
    assert!(breach.observed_at < human_at, "recorded before the vendor answered");
    let text = supportprobe::metrics::render(
        &h.config,
        &h.store,
        supportprobe::metrics::DaemonFacts { config_reload_ok: true, config_loaded_at: chrono::Utc::now() },
        chrono::Utc::now(),
    )
    .unwrap();
    assert!(
        text.contains(r#"supportprobe_waiting_past_promise{vendor="slow",channel="zendesk",priority="P0",measure="first_response"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"supportprobe_promise_breaches_total{vendor="slow",channel="zendesk",priority="P0",measure="first_response"} 1"#));
    let id = run.await.unwrap();
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!(p.state, State::Closed);
    assert_eq!(
        p.first_human_response_at,
        t[0].first_human_reply_at.as_deref().map(parse).or(p.first_human_response_at)
    );
    let events = h.store.events(id).unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == kind::BREACH).count(), 1, "recorded once");
}

const CAREFUL: &str = r#"
[daemon]
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.paused.caps]
paused = true
[vendors.paused.channels.tickets.zendesk]
base_url = "http://{SIM}/paused"
oauth_token = "x"

[vendors.quiet.caps]
quiet = ["2000-01-01..2100-01-01"]
[vendors.quiet.channels.tickets.zendesk]
base_url = "http://{SIM}/quiet"
oauth_token = "x"

[vendors.capped.caps]
max_per_day = 0
[vendors.capped.channels.tickets.zendesk]
base_url = "http://{SIM}/capped"
oauth_token = "x"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.paused]
human_delay = "1s"
[simulator.vendors.quiet]
human_delay = "1s"
[simulator.vendors.capped]
human_delay = "1s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_quiet_and_capped_vendors_are_not_probed() {
    let h = harness(CAREFUL, &test_probes()).await;
    for (vendor, note) in
        [("paused", "vendor paused"), ("quiet", "quiet period"), ("capped", "cap: 0 probes in the last 24 hours")]
    {
        let id = once(&h, "t-plain", vendor).await;
        let p = h.store.probe(id).unwrap().unwrap();
        assert_eq!((p.state, p.outcome, p.note.as_deref()), (State::Skipped, Some(Outcome::Skipped), Some(note)));
    }
    assert!(h.truth().await.is_empty(), "nothing was sent");

    // Dry run: planned and rendered, never sent.
    let dry = CAREFUL.replace("[daemon]", "[daemon]\ndry_run = true").replace("paused = true", "paused = false");
    let h = harness(&dry, &test_probes()).await;
    let id = once(&h, "t-plain", "paused").await;
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!((p.state, p.note.as_deref()), (State::Skipped, Some("dry run")));
    assert!(h.truth().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_created_before_a_crash_is_found_not_opened_again() {
    let h = harness(TWO_VENDORS, &test_probes()).await;
    let now = chrono::Utc::now();
    let reference = "SP-CRASH001";
    let id = h
        .store
        .insert_probe(
            &NewProbe {
                reference,
                slot: None,
                vendor: "fast",
                channel: "tickets",
                kind: "zendesk",
                scenario: "t-plain",
                priority: Priority::P0,
                due_at: now,
                give_up_after: chrono::Duration::seconds(40),
                follow_up_delay: None,
                manual: false,
                counted: true,
            },
            now,
        )
        .unwrap()
        .unwrap();
    // The previous process recorded its intent, the vendor created the ticket, then the process died.
    h.store.begin_open_attempt(id, now).unwrap();
    h.store.append(id, &NewEvent { kind: kind::OPEN_INTENT, key: "open_intent:1", ..Default::default() }, now).unwrap();
    let spec = h.config.channel("fast", "tickets").unwrap();
    let adapter = supportprobe::channel::build(spec, Vec::new()).unwrap();
    let subject = format!("[{reference}] Test probe without follow-ups");
    let req = OpenRequest { reference, subject: &subject, body: "Calls drop.", priority: Priority::P0 };
    let created = adapter.open(&req).await.unwrap();

    supportprobe::engine::follow(&h.ctx(), id, CancellationToken::new()).await.unwrap();
    let truth = h.truth().await;
    assert_eq!(truth.len(), 1, "no second ticket: {truth:#?}");
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!(p.ticket_id.as_deref(), Some(created.id.as_str()));
    assert_eq!(p.opened_at, Some(created.created_at));
    assert_eq!(p.first_human_response_at, truth[0].first_human_reply_at.as_deref().map(parse));
    let opened = h.store.events(id).unwrap().into_iter().find(|e| e.kind == kind::OPENED).unwrap();
    assert_eq!(opened.detail["recovered"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_can_record_the_resolution() {
    let template = TWO_VENDORS.replace("resolution_delay = \"3s..4s\"\n", "");
    let h = harness(&template, &test_probes()).await;
    let ctx = h.ctx();
    let scenario = h.config.scenario("t-manual").unwrap();
    let run = tokio::spawn(async move {
        supportprobe::engine::once(&ctx, &scenario, "fast", "tickets", None, true, CancellationToken::new())
            .await
            .unwrap()
    });
    let store = h.store.clone();
    let p = wait_for("a human answer", Duration::from_secs(30), || {
        let store = store.clone();
        async move { store.all_probes().ok()?.into_iter().find(|p| p.first_human_response_at.is_some()) }
    })
    .await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_supportprobe"))
        .args(["record", &p.reference, "--config"])
        .arg(&h.config_path)
        .args(["--event", "resolved", "--note", "confirmed on the phone"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = run.await.unwrap();
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!((p.state, p.resolved_by.as_deref()), (State::Closed, Some("manual")));
    let t = h.truth().await;
    assert!(t[0].closed_by_requester, "the courtesy close marked it solved at the vendor");
    // Recording twice is refused.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_supportprobe"))
        .args(["record", &p.reference, "--config"])
        .arg(&h.config_path)
        .args(["--event", "resolved"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

const LIMITED: &str = r#"
[daemon]
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.strict.channels.tickets]
poll_interval = "100ms"
min_request_interval = "10ms"
[vendors.strict.channels.tickets.zendesk]
base_url = "http://{SIM}/strict"
oauth_token = "x"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.strict]
human_delay = "1m"
rate_limit_per_minute = 6
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_honoured_and_counted() {
    let h = harness(LIMITED, &test_probes()).await;
    let ctx = h.ctx();
    let scenario = h.config.scenario("t-plain").unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let run = tokio::spawn(async move {
        supportprobe::engine::once(&ctx, &scenario, "strict", "tickets", None, true, token).await.unwrap()
    });
    let store = h.store.clone();
    wait_for("a 429", Duration::from_secs(20), || {
        let store = store.clone();
        async move { store.error_counts().ok()?.into_iter().find(|e| e.kind == "rate_limited") }
    })
    .await;
    // Retry-After is tens of seconds: during the next two seconds the worker must not call again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let errors = h.store.error_counts().unwrap();
    let limited: u64 = errors.iter().filter(|e| e.kind == "rate_limited").map(|e| e.count).sum();
    assert_eq!(limited, 1, "back-off after Retry-After, no hammering: {errors:?}");
    stop.cancel();
    let id = run.await.unwrap();
    let p = h.store.probe(id).unwrap().unwrap();
    assert!(p.state.is_active() || p.state == State::Opening, "the probe is kept, not lost: {:?}", p.state);
}

const IDLE: &str = r#"
[daemon]
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.calm.promise]
P0 = { first_response = "2h" }
[vendors.calm.channels.tickets]
poll_interval = "1h"
min_request_interval = "20ms"
[vendors.calm.channels.tickets.zendesk]
base_url = "http://{SIM}/calm"
email = "poc@example.com"
token = "tok-calm"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.calm]
token = "tok-calm"
# Acknowledged at once: the first look, right after the open, sees it.
auto_ack = "0s"
human_delay = "1h"
"#;

/// Cost follows work: once a probe is opened and looked at, nothing is due
/// for an hour, so the worker makes no store call and rewrites nothing while
/// it waits (it used to read and rewrite every probe several times a second).
/// Meanwhile the metrics kept incrementally, scrape after scrape, equal the
/// ones built from scratch from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_probe_costs_no_store_calls_and_incremental_metrics_equal_a_rebuild() {
    let h = harness(IDLE, &test_probes()).await;
    let ctx = h.ctx();
    let scenario = h.config.scenario("t-plain").unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let run = tokio::spawn(async move {
        supportprobe::engine::once(&ctx, &scenario, "calm", "tickets", None, true, token).await.unwrap()
    });
    let live = supportprobe::metrics::Live::default();
    let facts = supportprobe::metrics::DaemonFacts { config_reload_ok: true, config_loaded_at: chrono::Utc::now() };
    let loads = supportprobe::engine::Loads::default();
    let store = h.store.clone();
    let (config, l) = (h.config.clone(), live.clone());
    // Scraped while it happens: the probe is created, opened, acknowledged.
    wait_for("the auto-acknowledgement recorded", Duration::from_secs(20), || {
        let (store, config, l) = (store.clone(), config.clone(), l.clone());
        async move {
            l.render(&config, &store, &supportprobe::engine::Loads::default(), facts, chrono::Utc::now()).unwrap();
            store.all_probes().ok()?.into_iter().find(|p| p.first_response_at.is_some())
        }
    })
    .await;
    // Let the first look's writes settle, then watch a quiet stretch.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (calls, rev) = (h.store.calls(), h.store.max_rev().unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_calls = h.store.calls() - calls - 1;
    assert!(idle_calls <= 1, "{idle_calls} store calls in 3 s with nothing due");
    assert_eq!(h.store.max_rev().unwrap(), rev, "nothing rewritten while nothing changed");

    let now = chrono::Utc::now();
    let strip = |t: String| -> String {
        // The store's size and the process's own figures (CPU, memory, fds) move by themselves.
        let moving = |l: &str| {
            let name = l.strip_prefix("# HELP ").or_else(|| l.strip_prefix("# TYPE ")).unwrap_or(l);
            name.starts_with("supportprobe_store_size_bytes") || name.starts_with("process_")
        };
        t.lines().filter(|l| !moving(l)).collect::<Vec<_>>().join("\n")
    };
    let incremental = strip(live.render(&h.config, &h.store, &loads, facts, now).unwrap());
    let rebuilt = strip(supportprobe::metrics::render(&h.config, &h.store, facts, now).unwrap());
    assert!(incremental.contains(r#"supportprobe_replies_total{vendor="calm",channel="zendesk",class="auto_ack"} 1"#));
    assert!(
        incremental.contains(
            r#"supportprobe_open_probes{vendor="calm",channel="zendesk",priority="P0",state="acknowledged"} 1"#
        )
    );
    assert_eq!(incremental, rebuilt, "incremental aggregates equal a rebuild from the store");
    stop.cancel();
    run.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_another_process_adds_right_after_the_start_is_worked_on() {
    use std::sync::Arc;
    use supportprobe::daemon::{self, RunOptions};
    let h = harness(TWO_VENDORS, &test_probes()).await;
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(supportprobe::clock::SystemClock))
            .await
            .unwrap();
    // The workers have read their (no) probes by now; the store watch has not looked yet.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let reference = supportprobe::reference::generate("late-add");
    let id = h
        .store
        .insert_probe(
            &NewProbe {
                reference: &reference,
                slot: None,
                vendor: "fast",
                channel: "tickets",
                kind: "zendesk",
                scenario: "t-plain",
                priority: Priority::P0,
                due_at: chrono::Utc::now(),
                give_up_after: chrono::Duration::seconds(60),
                follow_up_delay: None,
                manual: false,
                counted: true,
            },
            chrono::Utc::now(),
        )
        .unwrap()
        .expect("a new reference");
    // Seen within a few store-watch rounds, not at the five-minute resync.
    let store = h.store.clone();
    wait_for("the added probe opened at the vendor", Duration::from_secs(15), || {
        let store = store.clone();
        async move { store.probe(id).ok()?.filter(|p| p.ticket_id.is_some()).map(|_| ()) }
    })
    .await;
    running.stop().await;
}

/// The scheduler runs on the engine's injected clock: on a manual clock it
/// sleeps until the clock is moved past the next fire, not for real time,
/// and the probe it writes is due at the fire's own instant.
#[tokio::test]
async fn the_scheduler_fires_on_a_manual_clock_without_waiting_for_real_time() {
    use std::sync::Arc;

    use supportprobe::clock::{Clock, ManualClock};
    use supportprobe::config::{Config, SourceFile};
    use supportprobe::store::Store;

    let dir = tempfile::tempdir().unwrap();
    let probes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("probes");
    let text = format!(
        r#"[daemon]
data_dir = "{data}"
probes_dir = "{probes}"
[vendors.hotline.promise]
P3 = {{ first_response = "1d" }}
[vendors.hotline.channels.phone.manual]
contact = "+86 400 810 0000"
[[schedules]]
scenario = "p3-docs-mismatch"
vendors = ["hotline"]
cron = "0 0 9 * * *"
"#,
        data = dir.path().display(),
        probes = probes.display()
    );
    let config = Arc::new(Config::parse(&SourceFile::new(std::path::Path::new("t.toml"), text), &|_| None).unwrap());
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-12-04T08:00:00Z").unwrap().to_utc();
    let clock = Arc::new(ManualClock::new(t0));
    let ctx = supportprobe::engine::Ctx {
        config,
        store: store.clone(),
        clock: clock.clone(),
        pokes: Default::default(),
        budgets: Default::default(),
        loads: Default::default(),
    };
    let token = CancellationToken::new();
    let started = std::time::Instant::now();
    let scheduler = tokio::spawn(supportprobe::engine::scheduler::run(ctx, token.clone()));
    // Whether the scheduler has written the probe yet; it gets a moment of real
    // time (it runs on another task), never an hour.
    let written = || async {
        for _ in 0..500 {
            if !store.all_probes().unwrap().is_empty() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    };
    assert!(!written().await, "nothing is due at 08:00");
    // The scheduler sleeps on the manual clock: moving it to 08:59:59 wakes it, and it finds nothing yet.
    clock.advance(chrono::Duration::seconds(3599));
    assert!(!written().await, "nothing is due at 08:59:59");
    clock.advance(chrono::Duration::seconds(2));
    assert!(written().await, "the 09:00 fire was recorded once the clock passed it");
    let probe = store.all_probes().unwrap().pop().unwrap();
    assert_eq!(probe.due_at, t0 + chrono::Duration::hours(1), "due at the fire, not when the scheduler woke");
    assert_eq!(probe.state, State::Scheduled);
    assert_eq!(clock.now(), t0 + chrono::Duration::seconds(3601));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "an hour of schedule took {:?} of real time",
        started.elapsed()
    );
    token.cancel();
    scheduler.await.unwrap();
}
