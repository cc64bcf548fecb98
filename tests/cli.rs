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
