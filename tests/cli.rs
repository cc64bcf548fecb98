//! The command line as users run it: `once` follows one probe to its end and
//! prints its figures; `probes --json` prints the documented fields with
//! RFC 3339 times and nulls; `probes` survives a closed pipe.

mod common;

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_supportprobe");

const ONE_VENDOR: &str = r#"
[daemon]
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.acme]
name = "Acme RTC"
[vendors.acme.promise]
P0 = { first_response = "2s", resolution = "1m" }
[vendors.acme.channels.tickets]
poll_interval = "300ms"
min_request_interval = "10ms"
[vendors.acme.channels.tickets.zendesk]
base_url = "http://{SIM}/acme"
email = "poc@example.com"
token = "s3cret-acme"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.acme]
token = "s3cret-acme"
auto_ack = "1s"
human_delay = "3s"
resolution_delay = "1s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_then_probes_json() {
    let h = common::harness(ONE_VENDOR, &common::test_probes()).await;
    let out = Command::new(BIN)
        .args([
            "once",
            "--no-simulator",
            "--scenario",
            "t-plain",
            "--vendor",
            "acme",
            "--channel",
            "zendesk",
            "--config",
        ])
        .arg(&h.config_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("state      closed (resolved)"), "{stdout}");
    assert!(
        stdout.contains("first_human_response   wall        3s  business        3s  breached (promise 2s)"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"), "no secret in output or logs");

    let out = Command::new(BIN).args(["probes", "--json", "--config"]).arg(&h.config_path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let truth = h.truth().await;
    assert_eq!(r["reference"], truth[0].reference.clone().unwrap());
    assert_eq!(
        (r["vendor"].as_str(), r["channel"].as_str(), r["priority"].as_str()),
        (Some("acme"), Some("zendesk"), Some("P0"))
    );
    assert_eq!((r["scenario"].as_str(), r["state"].as_str()), (Some("t-plain"), Some("closed")));
    assert_eq!(r["opened_at"], truth[0].opened_at);
    assert_eq!(r["first_human_response_at"], truth[0].first_human_reply_at.clone().unwrap());
    assert_eq!(r["first_human_response_seconds"], 3.0);
    assert_eq!(r["first_human_response_business_seconds"], 3.0);
    assert_eq!(r["resolved_at"], truth[0].resolved_at.clone().unwrap());
    assert_eq!(r["breaches"], serde_json::json!(["first_response"]));
    assert_eq!(r["first_any_reply_seconds"], 1.0, "the auto-acknowledgement");
    for key in ["first_response_at", "closed_at", "bot_turns", "handoffs", "outcome", "ticket_id"] {
        assert!(r.get(key).is_some(), "{key} missing");
    }

    // A reader that stops early is not an error.
    let mut child = Command::new(BIN)
        .args(["probes", "--config"])
        .arg(&h.config_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `once` is a manual run: kept and listed, left out of every POC figure
/// unless `--count`; `probes` lists newest first, filters and sorts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_is_left_out_of_the_figures_unless_counted_and_probes_filters_and_sorts() {
    // A notification target that takes breaches (nothing delivers in `once`: they stay queued).
    let with_notify = format!(
        "{ONE_VENDOR}\n[notify.team]\nevents = [\"promise_breached\"]\n[notify.team.webhook]\nurl = \"http://127.0.0.1:9/\"\n"
    );
    let h = common::harness(&with_notify, &common::test_probes()).await;
    let queued = || -> u64 {
        let store = supportprobe::store::Store::open(&h.config.daemon.data_dir).unwrap();
        store.delivery_counts().unwrap().iter().filter(|d| d.1 == "promise_breached").map(|d| d.3).sum()
    };
    let once = |count: bool| {
        let mut c = Command::new(BIN);
        c.args(["once", "--no-simulator", "--scenario", "t-plain", "--vendor", "acme", "--channel", "zendesk"]);
        if count {
            c.arg("--count");
        }
        let out = c.arg("--config").arg(&h.config_path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let probes = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = Command::new(BIN)
            .args(["probes", "--json"])
            .args(args)
            .arg("--config")
            .arg(&h.config_path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let metric = |name: &str| -> f64 {
        let facts = supportprobe::metrics::DaemonFacts { config_reload_ok: true, config_loaded_at: chrono::Utc::now() };
        let store = supportprobe::store::Store::open(&h.config.daemon.data_dir).unwrap();
        let text = supportprobe::metrics::render(&h.config, &store, facts, chrono::Utc::now()).unwrap();
        text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok()).sum()
    };
    let breaches = r#"supportprobe_promise_breaches_total{vendor="acme",channel="zendesk",priority="P0",measure="first_response"}"#;

    once(false);
    let rows = probes(&[]);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0]["manual"].as_bool(), rows[0]["counted"].as_bool()), (Some(true), Some(false)));
    assert_eq!(rows[0]["breaches"], serde_json::json!(["first_response"]), "measured all the same");
    assert_eq!(metric(breaches), 0.0, "a manual run is not in the POC's figures");
    assert_eq!(metric("supportprobe_probes_opened_total"), 0.0);
    assert_eq!(queued(), 0, "nobody is told of a manual run's breach");

    once(true);
    let rows = probes(&[]);
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["manual"].as_bool(), rows[0]["counted"].as_bool()), (Some(true), Some(true)), "newest first");
    assert!(rows[0]["opened_at"].as_str() >= rows[1]["opened_at"].as_str());
    assert_eq!(metric(breaches), 1.0, "--count puts it in");
    assert!(queued() > 0, "a counted run's breach is notified");
    let oldest = probes(&["--reverse"]);
    assert_eq!(oldest[0]["reference"], rows[1]["reference"]);
    assert_eq!(probes(&["--limit", "1"]).len(), 1);
    assert_eq!(probes(&["--manual=false"]).len(), 0);
    assert_eq!(probes(&["--priority", "P2"]).len(), 0);
    assert_eq!(probes(&["--scenario", "t-plain", "--sort", "first-human"]).len(), 2);

    // The table says which runs were manual and which of them count.
    let out = Command::new(BIN).args(["probes", "--config"]).arg(&h.config_path).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().next().unwrap().contains("NOTE"), "{table}");
    assert!(
        table.contains("manual, counted") && table.lines().filter(|l| l.ends_with("manual")).count() == 1,
        "{table}"
    );
}

/// `check --online` logs in to each channel with the real credentials (one
/// read-only request, nothing opened) and says per channel; a wrong token
/// fails that channel, names why, and never prints the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_logs_in_to_each_channel_and_names_the_one_that_fails() {
    let h = common::harness(ONE_VENDOR, &common::test_probes()).await;
    let run =
        |path: &std::path::Path| Command::new(BIN).args(["check", "--online", "--config"]).arg(path).output().unwrap();
    let out = run(&h.config_path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.lines().any(|l| l.contains("acme/tickets (zendesk)") && l.contains("ok: credentials accepted")),
        "{stdout}"
    );
    assert!(stdout.contains("every channel logged in"), "{stdout}");
    assert!(h.truth().await.is_empty(), "nothing was opened at the vendor");

    let bad = h.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&h.config_path).unwrap().replacen(
            "token = \"s3cret-acme\"",
            "token = \"wrong-t0ken\"",
            1,
        ),
    )
    .unwrap();
    let out = run(&bad);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let line = stdout.lines().find(|l| l.contains("acme/tickets (zendesk)")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("FAILED") && line.contains("auth"), "{line}");
    assert!(!stdout.contains("wrong-t0ken") && !String::from_utf8_lossy(&out.stderr).contains("wrong-t0ken"));
    assert!(stdout.contains("1 channel failed to log in"), "{stdout}");
}
