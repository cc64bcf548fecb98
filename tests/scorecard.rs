//! The POC scorecard: figures against ground truth to the second (Kaplan–Meier
//! medians with unanswered probes censored at their last look, "not reached"
//! when fewer than half were answered), every number of the report on the demo
//! equal to what the store and `probes --json` say, the four formats, ratings
//! (CLI and API, with the token), and the live pages in a real browser.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use supportprobe::clock::SystemClock;
use supportprobe::config::{Config, SourceFile};
use supportprobe::daemon::{self, RunOptions};
use supportprobe::model::{Priority, ReplyClass};
use supportprobe::store::{NewEvent, NewProbe, Store};
use supportprobe_report::{Lang, Options};

const BIN: &str = env!("CARGO_BIN_EXE_supportprobe");

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 1, 0, 0).unwrap()
}

fn minutes(m: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(m)
}

/// A probe opened at `t0() + open` minutes, answered by a person `answer` minutes
/// after opening (or never), last looked at `t0() + look` minutes, expired at the last look when unanswered.
fn probe(store: &Store, config: &Config, vendor: &str, n: u32, open: i64, answer: Option<i64>, look: i64) {
    let reference = format!("SP-{vendor}-{n}").to_uppercase();
    let np = NewProbe {
        reference: &reference,
        slot: None,
        vendor,
        channel: "tickets",
        kind: "zendesk",
        scenario: "p1",
        priority: Priority::P1,
        due_at: minutes(open),
        give_up_after: chrono::Duration::minutes(20),
        follow_up_delay: None,
        manual: false,
        counted: true,
    };
    let id = store.insert_probe(&np, minutes(open)).unwrap().unwrap();
    let opened = NewEvent { kind: "opened", key: "opened", at: Some(minutes(open)), ..Default::default() };
    store.append(id, &opened, minutes(open)).unwrap();
    if let Some(a) = answer {
        let detail =
            serde_json::json!({ "message_id": format!("{n}"), "author_name": "Li Wei", "excerpt": "We are on it" });
        let key = format!("reply:{n}");
        let reply = NewEvent {
            kind: "reply",
            key: &key,
            at: Some(minutes(open + a)),
            class: Some(ReplyClass::Human),
            rule: Some("relay:zendesk:agent"),
            author: Some("9001"),
            detail: Some(detail),
        };
        store.append(id, &reply, minutes(open + a)).unwrap();
    } else {
        let expired = NewEvent { kind: "expired", key: "expired", at: Some(minutes(look)), ..Default::default() };
        store.append(id, &expired, minutes(look)).unwrap();
    }
    store.note_look(id, minutes(look));
    store.write_looks().unwrap();
    let p = store.probe(id).unwrap().unwrap();
    supportprobe::engine::probe::refresh(config, store, &p, minutes(look)).unwrap();
}

fn row<'a>(sc: &'a Value, vendor: &str, channel: &str, priority: &str, measure: &str) -> &'a Value {
    sc["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vendor"] == vendor)
        .unwrap_or_else(|| panic!("no vendor {vendor}"))["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["channel"] == channel && r["priority"] == priority && r["measure"] == measure)
        .unwrap_or_else(|| panic!("no row {vendor}/{channel}/{priority}/{measure}"))
}

#[test]
fn medians_are_kaplan_meier_with_unanswered_probes_censored_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[daemon]\ndata_dir = \"{}\"\n\
         [vendors.steady]\nname = \"Steady\"\n[vendors.steady.promise]\nP1 = {{ first_response = \"10m\" }}\n\
         [vendors.sparse]\nname = \"Sparse\"\n[vendors.sparse.promise]\nP1 = {{ first_response = \"10m\" }}\n",
        dir.path().display()
    );
    let config = Config::parse(&SourceFile::new(Path::new("t.toml"), text), &|_| None).unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Steady: answered after 2, 4, 6, 8 and 15 minutes; one never answered, last looked at after 20.
    for (n, answer) in [Some(2), Some(4), Some(6), Some(8), Some(15), None].into_iter().enumerate() {
        probe(&store, &config, "steady", n as u32, 60 * n as i64, answer, 60 * n as i64 + 20);
    }
    // Sparse: one of four answered (after 3 minutes); the other three waited 20, 25 and 30 minutes.
    probe(&store, &config, "sparse", 0, 0, Some(3), 20);
    for (n, look) in [(1, 20), (2, 25), (3, 30)] {
        probe(&store, &config, "sparse", n, 60 * n as i64, None, 60 * n as i64 + look);
    }
    let o = Options { evidence: true, ..Default::default() };
    let sc = supportprobe_report::scorecard(&config, &store, &o, minutes(600)).unwrap();
    let sc: Value = serde_json::from_str(&supportprobe_report::json(&sc)).unwrap();

    let r = row(&sc, "steady", "all", "P1", "first_response");
    // Kaplan–Meier by hand: S(2m) = 5/6, S(4m) = 4/6, S(6m) = 3/6 — the median is 6 minutes to the second.
    assert_eq!(r["median_seconds"], 360.0, "{r}");
    // S never falls to 10 %: the last one waited at least 20 minutes; p90 is not reached, not 15 minutes.
    assert_eq!(r["p90_seconds"], Value::Null, "{r}");
    // Judged: four met, the 15-minute answer and the never-answered one breached; Wilson(4, 6).
    assert_eq!((r["probes"].as_u64(), r["judged"].as_u64(), r["met"].as_u64()), (Some(6), Some(6), Some(4)));
    assert_eq!((r["breached"].as_u64(), r["unanswered"].as_u64()), (Some(2), Some(1)));
    assert!((r["compliance"].as_f64().unwrap() - 4.0 / 6.0).abs() < 1e-12);
    let ci = r["compliance_ci95"].as_array().unwrap();
    // Newcombe's method 3 for 4/6 (by the formula: 0.3000 to 0.9032).
    assert!(
        (ci[0].as_f64().unwrap() - 0.3000).abs() < 5e-4 && (ci[1].as_f64().unwrap() - 0.9032).abs() < 5e-4,
        "{ci:?}"
    );
    assert_eq!(r["worst_seconds"], 900.0);
    assert_eq!(r["longest_unanswered_seconds"], 1200.0);
    assert_eq!(r["grade"], "failing", "4 of 6 against the default 90 %");

    let s = row(&sc, "sparse", "all", "P1", "first_response");
    // One of four answered: the median is not reached — never "3 minutes" from the answered one alone.
    assert_eq!(s["median_seconds"], Value::Null, "{s}");
    assert_eq!(s["judged"], 4);
    assert_eq!(s["grade"], "insufficient_data", "below 5 judged");
    let sparse = sc["vendors"].as_array().unwrap().iter().find(|v| v["vendor"] == "sparse").unwrap();
    assert_eq!(sparse["verdict"][0]["median_not_reached"], true);

    // The ranking says the two are not significantly different (4/6 against 1/4).
    assert_eq!(sc["ranking"][0]["vendor"], "steady");
    assert_eq!(sc["ranking"][0]["versus_next"]["significant"], false, "{}", sc["ranking"]);

    // Every format says it the same way.
    let typed = supportprobe_report::scorecard(&config, &store, &o, minutes(600)).unwrap();
    let html = supportprobe_report::html(&typed, Lang::En, None).unwrap();
    assert!(html.contains("6 min") && html.contains("not reached"), "the median and the unreached one");
    let md = supportprobe_report::markdown(&typed, Lang::En).unwrap();
    assert!(md.contains("4 of 6 within promise (67 %, 95 % CI 30–90 %)"), "{md}");
    assert!(md.contains("median first human response not reached"), "{md}");
    let zh = supportprobe_report::markdown(&typed, Lang::Zh).unwrap();
    assert!(zh.contains("6 次中 4 次达标（67%，95% 置信区间 30–90%）") && zh.contains("未达到"), "{zh}");
    let csv = supportprobe_report::csv_rows(&typed);
    let steady_line = csv.lines().find(|l| l.starts_with("steady,Steady,all,P1,first_response,")).unwrap();
    assert!(steady_line.contains(",6,6,6,4,2,1,0,") && steady_line.contains(",360,,"), "{steady_line}");
    let probes_csv = supportprobe_report::csv_probes(&typed);
    assert_eq!(probes_csv.lines().count(), 1 + 10);

    // A period: only probes opened in it (steady's first three: opened at 0, 60 and 120 minutes).
    let o = Options {
        from: Some(minutes(0)),
        to: Some(minutes(121)),
        vendors: vec!["steady".into()],
        evidence: true,
        in_hours: None,
    };
    let sc = supportprobe_report::scorecard(&config, &store, &o, minutes(600)).unwrap();
    assert_eq!(sc.vendors.len(), 1);
    assert_eq!(sc.probes.len(), 3);
    assert_eq!(sc.method.probes_counted, 3);

    // Grades by the [scorecard] thresholds: 4 of 6 is acceptable at 60 %, and 4 judged suffice.
    let graded = format!(
        "{}[scorecard]\nacceptable = 0.6\nexcellent = 0.95\nmin_judged = 4\n",
        config.file.text.replace("[vendors.steady]", "[vendors.steady]\ncompliance_target = 0.99")
    );
    let graded = Config::parse(&SourceFile::new(Path::new("t.toml"), graded), &|_| None).unwrap();
    let sc = supportprobe_report::scorecard(&graded, &store, &Options::default(), minutes(600)).unwrap();
    let sc: Value = serde_json::from_str(&supportprobe_report::json(&sc)).unwrap();
    assert_eq!(row(&sc, "steady", "all", "P1", "first_response")["grade"], "acceptable");
    assert_eq!(row(&sc, "sparse", "all", "P1", "first_response")["grade"], "failing", "1 of 4, now judged");
}

#[test]
fn every_figure_splits_by_whether_the_probe_was_opened_in_the_promises_hours() {
    let dir = tempfile::tempdir().unwrap();
    // Shanghai office hours; t0 is Monday 09:00 there.
    let text = format!(
        "[daemon]\ndata_dir = \"{}\"\n[calendars.office]\ntimezone = \"Asia/Shanghai\"\nweekly = {{ mon-fri = \"09:00-18:00\" }}\n\
         [vendors.office]\n[vendors.office.promise]\nP1 = {{ first_response = \"10m\", calendar = \"office\" }}\n",
        dir.path().display()
    );
    let config = Config::parse(&SourceFile::new(Path::new("t.toml"), text), &|_| None).unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Opened 09:00 and 10:00 (answered in 5 min), and 19:00 and 20:00 CST (answered after 3 hours).
    probe(&store, &config, "office", 0, 0, Some(5), 20);
    probe(&store, &config, "office", 1, 60, Some(5), 80);
    probe(&store, &config, "office", 2, 600, Some(180), 800);
    probe(&store, &config, "office", 3, 660, Some(180), 860);
    let split = |h| {
        let o = Options { in_hours: h, evidence: true, ..Default::default() };
        let sc = supportprobe_report::scorecard(&config, &store, &o, minutes(2000)).unwrap();
        serde_json::from_str::<Value>(&supportprobe_report::json(&sc)).unwrap()
    };
    let inside = split(Some(true));
    let r = row(&inside, "office", "all", "P1", "first_response");
    assert_eq!((r["probes"].as_u64(), r["median_seconds"].as_f64()), (Some(2), Some(300.0)));
    assert_eq!(
        (inside["method"]["excluded_other_hours"].as_u64(), inside["method"]["hours"].as_str()),
        (Some(2), Some("in_hours"))
    );
    let outside = split(Some(false));
    let r = row(&outside, "office", "all", "P1", "first_response");
    assert_eq!((r["probes"].as_u64(), r["median_seconds"].as_f64()), (Some(2), Some(10_800.0)));
    // 3 hours of wall clock at night, none of business time: the business clock still starts at 09:00.
    assert_eq!(r["median_business_seconds"].as_f64(), Some(0.0));
    assert!(outside["probes"].as_array().unwrap().iter().all(|p| p["in_hours"] == false));
    let all = split(None);
    let v = &all["vendors"][0];
    let hours: Vec<(&str, u64)> = v["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["when"].as_str().unwrap(), h["probes"].as_u64().unwrap()))
        .collect();
    assert_eq!(hours, vec![("in_hours", 2), ("out_of_hours", 2)]);
}

/// Kaplan–Meier's quantile by brute force: the first answer time where the
/// product-limit share still waiting is at most 1 − q.
fn km_quantile(mut obs: Vec<(f64, bool)>, q: f64) -> Option<f64> {
    obs.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut s = 1.0;
    let mut times: Vec<f64> = obs.iter().filter(|o| o.1).map(|o| o.0).collect();
    times.dedup();
    for t in times {
        let at_risk = obs.iter().filter(|o| o.0 >= t).count() as f64;
        let died = obs.iter().filter(|o| o.1 && o.0 == t).count() as f64;
        s *= 1.0 - died / at_risk;
        if s <= 1.0 - q + 1e-12 {
            return Some(t);
        }
    }
    None
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).env_remove("RUST_LOG").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn demo_until_every_vendor_is_judged(h: &common::Harness) -> daemon::Running {
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    let url = format!("http://{}/api/v1/scorecard", running.http);
    supportprobe::channel::client::install_crypto_provider();
    let client = reqwest::Client::new();
    common::wait_for("every demo vendor with judged first responses", Duration::from_secs(90), || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let sc: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            let ok = sc["vendors"].as_array()?.iter().all(|v| {
                v["verdict"]
                    .as_array()
                    .is_some_and(|l| l.iter().map(|l| l["judged"].as_u64().unwrap_or(0)).sum::<u64>() >= 3)
            });
            ok.then_some(())
        }
    })
    .await;
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_number_of_the_report_on_the_demo_equals_the_store_and_probes_json() {
    let h = common::demo_harness().await;
    let running = demo_until_every_vendor_is_judged(&h).await;
    let base = format!("http://{}", running.http);
    let client = reqwest::Client::new();

    // Ratings: the token is required; a bad one is refused with the reason; a good one counts.
    let sc: Value = client.get(format!("{base}/api/v1/scorecard")).send().await.unwrap().json().await.unwrap();
    let rated = sc["probes"].as_array().unwrap().iter().find(|p| p["vendor"] == "swiftrtc").unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{base}/api/v1/probes/{rated}/rating");
    let r = client.post(&url).body(r#"{"quality": 4}"#).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let token = "Bearer demo-api-token";
    let r = client.post(&url).header("Authorization", token).body(r#"{"quality": 9}"#).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("quality must be 1 to 5"));
    let body = r#"{"quality": 2, "solved": "partly", "note": "asked for logs twice", "by": "ann"}"#;
    let r = client.post(&url).header("Authorization", token).body(body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = client.post(format!("{base}/api/v1/probes/SP-NOSUCH/rating")).header("Authorization", token);
    assert_eq!(r.body(r#"{"quality": 3}"#).send().await.unwrap().status(), 404);
    // The paged probe list: pages of 5 cover every probe once.
    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let q = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let page: Value =
            client.get(format!("{base}/api/v1/probes?limit=5{q}")).send().await.unwrap().json().await.unwrap();
        seen.extend(page["probes"].as_array().unwrap().iter().map(|p| p["reference"].as_str().unwrap().to_string()));
        match page["next"].as_i64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let filtered: Value =
        client.get(format!("{base}/api/v1/probes?vendor=hanyun&limit=500")).send().await.unwrap().json().await.unwrap();
    assert!(filtered["probes"].as_array().unwrap().iter().all(|p| p["vendor"] == "hanyun"));
    running.stop().await;

    // From here the store is still: the CLI's report and the store are compared.
    let config_path = h.config_path.to_str().unwrap();
    let rows = supportprobe::cli::probe_rows(&h.store).unwrap();
    assert_eq!(seen.len(), rows.len(), "the API's pages list every probe once");
    // The CLI: a later rating by the same person replaces theirs.
    let line = run(&["rate", &rated, "--config", config_path, "--quality", "5", "--solved", "yes", "--by", "ann"]);
    assert!(line.contains("1 rating now count"), "{line}");

    let out = tempfile::tempdir().unwrap();
    let json_file = out.path().join("scorecard.json");
    run(&["report", "--config", config_path, "--format", "json", "--out", json_file.to_str().unwrap()]);
    let sc: Value = serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    let measures = h.store.all_measures().unwrap();
    let counted: Vec<_> = rows.iter().filter(|r| r.opened_at.is_some() && r.state != "skipped").collect();
    let mut checked = 0;
    for v in sc["vendors"].as_array().unwrap() {
        let vendor = v["vendor"].as_str().unwrap();
        for r in v["rows"].as_array().unwrap() {
            let (channel, priority, measure) =
                (r["channel"].as_str().unwrap(), r["priority"].as_str().unwrap(), r["measure"].as_str().unwrap());
            let stored_measure = if measure == "first_response" { "first_human_response" } else { measure };
            let mine: Vec<_> = counted
                .iter()
                .filter(|p| p.vendor == vendor && p.priority == priority && (channel == "all" || p.channel == channel))
                .collect();
            let refs: Vec<&str> = mine.iter().map(|p| p.reference.as_str()).collect();
            let ids: BTreeMap<i64, _> = refs
                .iter()
                .map(|r| {
                    let p = h.store.probe_by_reference(r).unwrap().unwrap();
                    (p.id, p)
                })
                .collect();
            let ms: Vec<_> = measures
                .iter()
                .filter(|m| ids.contains_key(&m.probe_id) && m.measure.as_str() == stored_measure)
                .collect();
            let verdicts = |v: &str| ms.iter().filter(|m| m.verdict.as_str() == v).count() as u64;
            let what = format!("{vendor}/{channel}/{priority}/{measure}: {r}");
            assert_eq!(r["intervals"].as_u64(), Some(ms.len() as u64), "{what}");
            assert_eq!(r["met"].as_u64(), Some(verdicts("met")), "{what}");
            assert_eq!(r["breached"].as_u64(), Some(verdicts("breached")), "{what}");
            assert_eq!(r["judged"].as_u64(), Some(verdicts("met") + verdicts("breached")), "{what}");
            if measure == "first_response" {
                // probes --json: the probes, and those a person never answered that stopped waiting.
                assert_eq!(r["probes"].as_u64(), Some(mine.len() as u64), "{what}");
                let gave_up = mine
                    .iter()
                    .filter(|p| p.first_human_response_seconds.is_none())
                    .filter(|p| ["resolved", "expired", "closed", "failed"].contains(&p.state.as_str()))
                    .count();
                assert_eq!(r["unanswered"].as_u64(), Some(gave_up as u64), "{what}");
            }
            if r["judged"].as_u64().unwrap() > 0 && r["target_seconds"].is_number() {
                let c = r["compliance"].as_f64().unwrap();
                assert!((c - verdicts("met") as f64 / r["judged"].as_f64().unwrap()).abs() < 1e-12, "{what}");
            }
            // The median and p90 by brute force over the stored intervals, censored at the last look.
            let obs: Vec<(f64, bool)> = ms
                .iter()
                .map(|m| match (m.end, m.wall_secs) {
                    (Some(_), Some(w)) => (w, true),
                    _ => {
                        let until = ids[&m.probe_id].known_until.unwrap_or(m.start).max(m.start);
                        ((until - m.start).num_milliseconds() as f64 / 1000.0, false)
                    }
                })
                .collect();
            for (key, q) in [("median_seconds", 0.5), ("p90_seconds", 0.9)] {
                assert_eq!(r[key].as_f64(), km_quantile(obs.clone(), q), "{key} of {what}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} rows checked");
    // Each probe's figures are those of probes --json.
    let by_ref: BTreeMap<&str, _> = rows.iter().map(|r| (r.reference.as_str(), r)).collect();
    let probes = sc["probes"].as_array().unwrap();
    assert_eq!(probes.len(), counted.len());
    for p in probes {
        let r = by_ref[p["reference"].as_str().unwrap()];
        let what = format!("{}", p["reference"]);
        assert_eq!(p["first_human_response_seconds"].as_f64(), r.first_human_response_seconds, "{what}");
        assert_eq!(p["first_human_response_business_seconds"].as_f64(), r.first_human_response_business_seconds);
        assert_eq!(p["resolution_seconds"].as_f64(), r.resolution_seconds, "{what}");
        let next: Vec<f64> = p["next_reply_seconds"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
        assert_eq!(next, r.next_reply_seconds, "{what}");
        let breaches: Vec<&str> = p["breaches"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(breaches, r.breaches.iter().map(String::as_str).collect::<Vec<_>>(), "{what}");
        assert_eq!(
            (p["bot_turns"].as_u64(), p["handoffs"].as_u64()),
            (Some(r.bot_turns.into()), Some(r.handoffs.into()))
        );
        assert_eq!(p["opened_at"].as_str(), r.opened_at.as_deref());
        assert_eq!(p["channel"].as_str(), Some(r.channel.as_str()));
        // Every message has its time, author, class and rule; the first is ours.
        let messages = p["messages"].as_array().unwrap();
        assert_eq!(messages[0]["class"], "ours", "{what}");
        assert!(messages.iter().all(|m| m["at"].is_string() && m["author"].is_string() && m["rule"].is_string()));
        // The first human reply of the transcript is the figure.
        let opened = common::parse(p["opened_at"].as_str().unwrap());
        let human =
            messages.iter().filter(|m| m["class"] == "human").map(|m| common::parse(m["at"].as_str().unwrap())).min();
        if let (Some(h), Some(secs)) = (human, r.first_human_response_seconds)
            && r.overrides.is_empty()
        {
            assert_eq!((h - opened).num_seconds() as f64, secs.round(), "{what}");
        }
    }
    // Asked for diagnostics: the simulated people ask for SDK logs and the version in their
    // first message (English and Chinese), so on Zendesk it is the first human response, to the second.
    let mut asked = 0;
    for r in &counted {
        if let Some(d) = r.asked_for_diagnostics_seconds {
            assert!(
                d >= r.first_human_response_seconds.unwrap() - 1e-9,
                "{}: asked before a person answered",
                r.reference
            );
        }
        if r.channel == "zendesk" && r.overrides.is_empty() && r.first_human_response_seconds.is_some() {
            assert_eq!(r.asked_for_diagnostics_seconds, r.first_human_response_seconds, "{}", r.reference);
            let lang = if r.vendor == "hanyun" { "diag:zh:" } else { "diag:en:" };
            assert!(r.diagnostics_rule.as_deref().is_some_and(|x| x.starts_with(lang)), "{:?}", r.diagnostics_rule);
            asked += 1;
        }
    }
    assert!(asked >= 3, "{asked} Zendesk probes checked for diagnostics");
    // The store keeps what the conversation showed, as the report reads it from the events.
    for p in probes {
        let stored = h.store.probe_by_reference(p["reference"].as_str().unwrap()).unwrap().unwrap();
        let at = |t: Option<chrono::DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let conv = &p["conversation"];
        let json_at =
            |v: &Value| v.as_str().map(|s| common::parse(s).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        assert_eq!(at(stored.escalated_at), json_at(&conv["escalation"]["at"]), "{}", p["reference"]);
        assert_eq!(at(stored.diagnostics_at), json_at(&conv["diagnostics"]["at"]), "{}", p["reference"]);
        assert_eq!(stored.diagnostics_rule.as_deref(), conv["diagnostics"]["rule"].as_str());
        assert_eq!(stored.in_hours, p["in_hours"].as_bool());
    }
    // SwiftRTC promises P0 updates every 30 s: the row is there, judged like the others.
    let u = row(&sc, "swiftrtc", "all", "P0", "update_interval");
    assert_eq!(u["target_seconds"], 30.0);
    // Chatterbox names an engineer: escalation is to her first reply, never before a person answered.
    let chatter = sc["vendors"].as_array().unwrap().iter().find(|v| v["vendor"] == "chatterbox").unwrap();
    assert_eq!(chatter["communication"]["escalation_basis"], "engineer");
    for p in probes.iter().filter(|p| p["vendor"] == "chatterbox") {
        if let Some(by) = p["conversation"]["escalation"]["by"].as_str() {
            assert_eq!(by, "Priya Nair");
        }
    }

    // SwiftRTC's escalation is its tickets moving to the engineers' group (after a handoff,
    // Zendesk only): never before a person answered, and only by that team.
    let swift_card = sc["vendors"].as_array().unwrap().iter().find(|v| v["vendor"] == "swiftrtc").unwrap();
    assert_eq!(swift_card["communication"]["escalation_basis"], "engineer");
    for p in probes.iter().filter(|p| p["vendor"] == "swiftrtc") {
        let e = &p["conversation"]["escalation"];
        if let Some(by) = e["by"].as_str() {
            assert_eq!((by, p["channel"].as_str()), ("team 360000102", Some("zendesk")), "{}", p["reference"]);
            assert!(e["seconds"].as_f64().unwrap() >= p["first_human_response_seconds"].as_f64().unwrap());
        }
    }

    // The rating: one current (ann's second), its history of two.
    let p = probes.iter().find(|p| p["reference"] == rated.as_str()).unwrap();
    let ratings = p["ratings"].as_array().unwrap();
    assert_eq!(ratings.len(), 2);
    assert_eq!((ratings[0]["replaced"].as_bool(), ratings[1]["quality"].as_u64()), (Some(true), Some(5)));
    let swift = sc["vendors"].as_array().unwrap().iter().find(|v| v["vendor"] == "swiftrtc").unwrap();
    assert_eq!(
        (swift["communication"]["ratings"].as_u64(), swift["communication"]["mean_quality"].as_f64()),
        (Some(1), Some(5.0))
    );
    // The method counts what it left out.
    let m = &sc["method"];
    assert_eq!(m["probes_counted"].as_u64(), Some(counted.len() as u64));
    let left_out: u64 = ["excluded_skipped", "excluded_dry_run", "excluded_failed_open", "excluded_not_opened_yet"]
        .iter()
        .map(|k| m[k].as_u64().unwrap())
        .sum();
    assert_eq!(m["probes_seen"].as_u64(), Some(counted.len() as u64 + left_out));

    // The other formats, from the same store.
    let html_file = out.path().join("scorecard.html");
    run(&["report", "--config", config_path, "--format", "html", "--out", html_file.to_str().unwrap()]);
    let html = std::fs::read_to_string(&html_file).unwrap();
    for v in h.config.vendors.values() {
        assert!(html.contains(&v.name), "{} in the HTML", v.name);
    }
    assert!(html.contains("<svg"), "charts inline");
    for external in ["<link", "src=\"http", "@import", "url("] {
        assert!(!html.contains(external), "the HTML report is self-contained: {external}");
    }
    let md = run(&["report", "--config", config_path, "--format", "md"]);
    assert!(
        md.contains("## SwiftRTC (swiftrtc)") && md.contains("| all channels |") || md.contains("**all channels**")
    );
    let csv_file = out.path().join("scorecard.csv");
    run(&["report", "--config", config_path, "--format", "csv", "--out", csv_file.to_str().unwrap()]);
    let csv = std::fs::read_to_string(&csv_file).unwrap();
    let total_rows: usize = sc["vendors"].as_array().unwrap().iter().map(|v| v["rows"].as_array().unwrap().len()).sum();
    assert_eq!(csv.lines().count(), 1 + total_rows);
    let probes_csv = std::fs::read_to_string(out.path().join("scorecard-probes.csv")).unwrap();
    assert_eq!(probes_csv.lines().count(), 1 + probes.len());
    let zh = run(&["report", "--config", config_path, "--format", "md", "--lang", "zh", "--vendor", "hanyun"]);
    assert!(zh.contains("首次人工响应") && zh.contains("瀚云通信") && !zh.contains("SwiftRTC"), "{zh}");
    // Unknown vendors and formats are refused with what was expected.
    let bad = Command::new(BIN).args(["report", "--config", config_path, "--vendor", "nosuch"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("its vendors: chatterbox, hanyun, swiftrtc"));
}

/// chromedriver on a free loopback port, with Debian's chromium headless; `None`
/// (the test skips) when they are not installed and the test script did not
/// ask for them.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Option<Driver> {
    supportprobe::channel::client::install_crypto_provider();
    let required = std::env::var_os("SUPPORTPROBE_REQUIRE_TOOLS").is_some();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if !required => {
            eprintln!("chromedriver not available ({e}); skipping the browser test (scripts/test.sh installs it)");
            return None;
        }
        Err(e) => panic!("chromedriver is required (SUPPORTPROBE_REQUIRE_TOOLS is set) but cannot run: {e}"),
    };
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver { child, url };
    common::wait_for("chromedriver to listen", Duration::from_secs(20), || {
        let url = format!("{}/status", driver.url);
        async move { reqwest::get(url).await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
    })
    .await;
    Some(driver)
}

async fn browser(driver: &Driver) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-dev-shm-usage", "--window-size=1280,1800"],
        }),
    );
    fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_scorecard_works_in_chromium_from_overview_to_a_rated_probe() {
    let Some(driver) = chromedriver().await else { return };
    let h = common::demo_harness().await;
    let running = demo_until_every_vendor_is_judged(&h).await;
    let base = format!("http://{}", running.http);
    let sc: Value = reqwest::get(format!("{base}/api/v1/scorecard")).await.unwrap().json().await.unwrap();
    let answered = sc["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["vendor"] == "swiftrtc" && p["first_human_response_seconds"].is_number())
        .expect("an answered SwiftRTC probe")["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let c = browser(&driver).await;
    let outcome = async {
        c.goto(&format!("{base}/")).await?;
        // Every vendor of the config has its section, and the ranking names each.
        let mut vendors = Vec::new();
        for s in c.find_all(Locator::Css("section.vendor")).await? {
            vendors.push(s.attr("data-vendor").await?.unwrap_or_default());
        }
        vendors.sort();
        let expected: Vec<String> = h.config.vendors.keys().cloned().collect();
        assert_eq!(vendors, expected);
        assert_eq!(c.find_all(Locator::Css("ol.ranking li")).await?.len(), expected.len());
        let title = c.find(Locator::Css("h1")).await?.text().await?;
        assert_eq!(title, "Support POC scorecard");
        // Into a probe of SwiftRTC that a person answered.
        let link = c.find(Locator::LinkText(&answered)).await?;
        let reference = link.text().await?;
        assert_eq!(reference, answered);
        link.click().await?;
        c.wait().for_element(Locator::Css("table.transcript tr.message")).await?;
        assert!(c.current_url().await?.as_str().ends_with(&format!("/probes/{reference}")));
        let rows = c.find_all(Locator::Css("table.transcript tr.message")).await?;
        assert!(rows.len() >= 2, "our message and the vendor's");
        let mut classes = Vec::new();
        for r in &rows {
            let cells = r.find_all(Locator::Css("td")).await?;
            let class = cells[2].text().await?;
            let rule = cells[3].find(Locator::Css("code")).await?.text().await?;
            assert!(!rule.is_empty(), "every message shows the rule that decided it");
            classes.push(class);
        }
        assert_eq!(classes[0], "ours");
        assert!(classes.iter().any(|c| c == "human"), "the person's answer is in the transcript: {classes:?}");
        // Rate it: a wrong token is refused on the page, the right one saves and the count shows it.
        c.find(Locator::Id("quality")).await?.select_by_value("4").await?;
        c.find(Locator::Id("solved")).await?.select_by_value("yes").await?;
        c.find(Locator::Id("note")).await?.send_keys("clear answer, asked for the SDK version").await?;
        c.find(Locator::Id("token")).await?.send_keys("wrong").await?;
        c.find(Locator::Id("save")).await?.click().await?;
        let status = c.find(Locator::Id("rating-status")).await?;
        common::wait_for("the refusal on the page", Duration::from_secs(10), || {
            let status = status.clone();
            async move { status.text().await.ok().filter(|t| t.starts_with("401")) }
        })
        .await;
        let token = c.find(Locator::Id("token")).await?;
        token.clear().await?;
        token.send_keys("demo-api-token").await?;
        c.find(Locator::Id("save")).await?.click().await?;
        common::wait_for("the rating on the reloaded page", Duration::from_secs(10), || {
            let c = c.clone();
            async move {
                let n = c.find(Locator::Css(".rating-count")).await.ok()?.text().await.ok()?;
                (n == "1").then_some(())
            }
        })
        .await;
        let q = c.find(Locator::Css(".rating-quality")).await?.text().await?;
        assert_eq!(q, "4");
        // The token is kept in this browser: the form has it after the reload.
        assert_eq!(c.find(Locator::Id("token")).await?.prop("value").await?.as_deref(), Some("demo-api-token"));
        Ok::<_, fantoccini::error::CmdError>(reference)
    }
    .await;
    let _ = c.close().await;
    let reference = outcome.unwrap();
    // The rating is on the report: the API's and the file's.
    let sc: Value = reqwest::get(format!("{base}/api/v1/scorecard")).await.unwrap().json().await.unwrap();
    let p = sc["probes"].as_array().unwrap().iter().find(|p| p["reference"] == reference.as_str()).unwrap();
    assert_eq!(p["ratings"][0]["quality"], 4);
    assert_eq!(p["ratings"][0]["solved"], "yes");
    assert_eq!(p["ratings"][0]["by"], "api");
    running.stop().await;
    let out = run(&["report", "--config", h.config_path.to_str().unwrap(), "--format", "md"]);
    let swift = out.split("## SwiftRTC").nth(1).unwrap();
    assert!(swift.contains("Evaluator ratings: 1; Mean quality (1–5): 4.0; Solved: yes 1"), "{swift}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_file_renders_offline_in_chromium_with_nothing_fetched() {
    let Some(driver) = chromedriver().await else { return };
    let h = common::demo_harness().await;
    let running = demo_until_every_vendor_is_judged(&h).await;
    running.stop().await;
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("scorecard.html");
    run(&["report", "--config", h.config_path.to_str().unwrap(), "--format", "html", "--out", file.to_str().unwrap()]);
    let probes = supportprobe::cli::probe_rows(&h.store).unwrap();
    let counted = probes.iter().filter(|p| p.opened_at.is_some() && p.state != "skipped").count();
    let c = browser(&driver).await;
    let outcome = async {
        c.goto(&format!("file://{}", file.display())).await?;
        // Nothing was fetched: no stylesheet, font, image or script from anywhere.
        let fetched = c.execute("return performance.getEntriesByType('resource').length", vec![]).await?;
        assert_eq!(fetched, serde_json::json!(0));
        assert_eq!(c.find_all(Locator::Css("section.vendor")).await?.len(), h.config.vendors.len());
        // Three charts per vendor, drawn (the Kaplan–Meier curves have paths).
        assert_eq!(c.find_all(Locator::Css("section.vendor figure.chart")).await?.len(), 3 * h.config.vendors.len());
        assert!(!c.find_all(Locator::Css("section.vendor svg path")).await?.is_empty());
        // Every probe's evidence is in the file, folded; opening one shows its transcript.
        let details = c.find_all(Locator::Css("details.probe")).await?;
        assert_eq!(details.len(), counted);
        // (On the reference: the summary also holds the vendor's ticket link.)
        details[0].find(Locator::Css("summary strong")).await?.click().await?;
        let shown = details[0].find_all(Locator::Css("tr.message")).await?;
        assert!(!shown.is_empty() && shown[0].is_displayed().await?);
        // The styles applied (inline CSS): a grade badge has its colour.
        let colour =
            c.execute("return getComputedStyle(document.querySelector('.grade')).backgroundColor", vec![]).await?;
        assert_ne!(colour, serde_json::json!("rgba(0, 0, 0, 0)"));
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = c.close().await;
    outcome.unwrap();
}
