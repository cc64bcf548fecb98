//! Reload: SIGHUP and `POST /-/reload` re-read the config; an invalid config
//! keeps the old one running and sets the reload gauge to 0; the reload
//! endpoint requires the configured bearer token.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use supportprobe::clock::SystemClock;
use supportprobe::daemon::{self, RunOptions};

const BASE: &str = r#"
[daemon]
listen = "127.0.0.1:0"
data_dir = "{DATA}"
probes_dir = "{PROBES}"
api_token = "reload-secret"

[vendors.acme.promise]
P0 = { first_response = "5s" }
[vendors.acme.channels.tickets.zendesk]
base_url = "http://{SIM}/acme"
oauth_token = "x"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.acme]
human_delay = "1s"
"#;

/// Starts `run` on a config; returns the process and the address it serves on
/// (from its log: `... serving /metrics ... http=127.0.0.1:PORT`).
fn run_daemon(config: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_supportprobe"))
        .args(["run", "--no-simulator", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.split("http=").nth(1).map(|a| a.split_whitespace().next().unwrap_or("").to_string()))
        .expect("listen address in the log");
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit_once(' ')).and_then(|(_, v)| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_over_http_keeps_the_old_config_when_the_new_one_is_invalid() {
    let h = common::harness(BASE, &common::test_probes()).await;
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    supportprobe::channel::client::install_crypto_provider();
    let client = reqwest::Client::new();
    let base = format!("http://{}", running.http);
    let metrics = || async { client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap() };
    let promise = r#"supportprobe_promise_seconds{vendor="acme",priority="P0",measure="first_response"}"#;
    assert_eq!(gauge(&metrics().await, promise), Some(5.0));
    assert_eq!(gauge(&metrics().await, "supportprobe_config_last_reload_successful"), Some(1.0));

    // The endpoint wants the bearer token.
    let r = client.post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(format!("{base}/-/reload")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);

    // An invalid config is refused, explained, and the old one keeps running.
    let good = std::fs::read_to_string(&h.config_path).unwrap();
    std::fs::write(&h.config_path, good.replace("first_response = \"5s\"", "first_response = \"5 secunds\"")).unwrap();
    let r = client.post(format!("{base}/-/reload")).bearer_auth("reload-secret").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("invalid duration `5 secunds`") && body.contains("supportprobe.toml:9:"), "{body}");
    assert!(!body.contains("reload-secret"));
    let text = metrics().await;
    assert_eq!(gauge(&text, "supportprobe_config_last_reload_successful"), Some(0.0));
    assert_eq!(gauge(&text, promise), Some(5.0), "the old config is still in use");

    // A valid one is taken.
    std::fs::write(&h.config_path, good.replace("first_response = \"5s\"", "first_response = \"7s\"")).unwrap();
    let r = client.post(format!("{base}/-/reload")).bearer_auth("reload-secret").send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let text = metrics().await;
    assert_eq!(gauge(&text, "supportprobe_config_last_reload_successful"), Some(1.0));
    assert_eq!(gauge(&text, promise), Some(7.0));
    running.stop().await;
}

#[test]
fn sighup_reloads_the_running_daemon() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let h = rt.block_on(common::harness(BASE, &common::test_probes()));
    let (mut child, addr) = run_daemon(&h.config_path);
    let get = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            supportprobe::channel::client::install_crypto_provider();
            reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap()
        })
    };
    let promise = r#"supportprobe_promise_seconds{vendor="acme",priority="P0",measure="first_response"}"#;
    assert_eq!(gauge(&get(&rt), promise), Some(5.0));
    let good = std::fs::read_to_string(&h.config_path).unwrap();
    std::fs::write(&h.config_path, good.replace("first_response = \"5s\"", "first_response = \"9s\"")).unwrap();
    Command::new("sh").args(["-c", &format!("kill -HUP {}", child.id())]).status().unwrap();
    let mut value = None;
    for _ in 0..100 {
        value = gauge(&get(&rt), promise);
        if value == Some(9.0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(value, Some(9.0), "SIGHUP reloaded the config");
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP does not stop the daemon");
    Command::new("sh").args(["-c", &format!("kill -TERM {}", child.id())]).status().unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_second_daemon_on_the_same_data_directory_exits_at_once_naming_the_first() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let h = rt.block_on(common::harness(BASE, &common::test_probes()));
    let bin = env!("CARGO_BIN_EXE_supportprobe");
    let (mut first, _) = run_daemon(&h.config_path);

    let started = std::time::Instant::now();
    let second = Command::new(bin).args(["run", "--no-simulator", "--config"]).arg(&h.config_path).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second daemon must not run: {err}");
    assert!(started.elapsed() < Duration::from_secs(20), "it exits at once");
    let data = h.config.daemon.data_dir.display().to_string();
    assert!(err.contains("already running") && err.contains(&data), "names the data directory: {err}");
    assert!(err.contains(&format!("pid {}", first.id())), "names the holder: {err}");
    assert!(err.contains(" on ") && err.contains(" since "), "host and since: {err}");
    // `once` beside it starts no second engine, simulator or port: it hands the probe to the
    // daemon (found on the address the lock announces, although the config says port 0) and
    // prints the figures the daemon measured. It is a manual run, kept out of the statistics.
    let started = std::time::Instant::now();
    let once = Command::new(bin)
        .args(["once", "--scenario", "t-plain", "--vendor", "acme", "--channel", "tickets", "--config"])
        .arg(&h.config_path)
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&once.stdout), String::from_utf8_lossy(&once.stderr));
    assert!(once.status.success(), "{out}\n{err}");
    assert!(
        err.contains("a daemon is running on this data directory") && err.contains("it follows the probe"),
        "{err}"
    );
    assert!(!err.contains("Address already in use") && !err.contains("nothing answers"), "{err}");
    assert!(out.contains("state      closed"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(60), "the daemon was told at once, not at its next resync");
    let rows =
        Command::new(bin).args(["probes", "--json", "--manual", "--config"]).arg(&h.config_path).output().unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&rows.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["manual"].as_bool(), rows[0]["counted"].as_bool()), (Some(true), Some(false)));
    // Read-only commands keep working beside it.
    for args in [vec!["probes"], vec!["check"]] {
        let out = Command::new(bin).args(&args).arg("--config").arg(&h.config_path).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Command::new("sh").args(["-c", &format!("kill -TERM {}", first.id())]).status().unwrap();
    assert!(first.wait().unwrap().success());
    // Once the first is gone, the directory is free again.
    let lock = supportprobe::lock::DataDirLock::acquire(&h.config.daemon.data_dir);
    assert!(lock.is_ok(), "{lock:?}");
}

const STALLING: &str = r#"
[daemon]
listen = "127.0.0.1:0"
data_dir = "{DATA}"
probes_dir = "{PROBES}"
shutdown_grace = "30s"

[vendors.acme.promise]
P0 = { first_response = "5m" }
[vendors.acme.channels.tickets]
poll_interval = "200ms"
min_request_interval = "10ms"
timeout = "60s"
[vendors.acme.channels.tickets.zendesk]
base_url = "http://{SIM}/acme"
oauth_token = "x"

[[schedules]]
scenario = "t-plain"
vendors = ["acme"]
cron = "* * * * * *"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.acme]
human_delay = "5m"
[simulator.vendors.acme.faults]
stall = "40s"
"#;

/// A reload while the vendor stalls every call: the old generation's worker
/// is cancelled inside its call (not awaited for 40 s, nor left running
/// beside the new one after a grace period).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_stops_the_old_generation_even_inside_a_stalled_call() {
    let h = common::harness(STALLING, &common::test_probes()).await;
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    let store = h.store.clone();
    common::wait_for("a probe to open", Duration::from_secs(20), || {
        let store = store.clone();
        async move { store.all_probes().ok()?.into_iter().find(|p| p.ticket_id.is_some()) }
    })
    .await;
    supportprobe::channel::client::install_crypto_provider();
    let faults = format!("http://{}/_sim/faults/acme", h.sim);
    let r = reqwest::Client::new().post(&faults).json(&serde_json::json!({ "rate": 1.0, "kinds": ["stall"] })).send();
    assert!(r.await.unwrap().status().is_success());
    // Let the worker enter a stalled call.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: u64 =
        reqwest::get(&faults).await.unwrap().json::<serde_json::Value>().await.unwrap()["injected"].as_u64().unwrap();
    assert!(before >= 1, "the worker is inside a stalled call");
    let started = std::time::Instant::now();
    running.reload().await.unwrap();
    let took = started.elapsed();
    // Far below both the 40 s stall and the 30 s shutdown grace the old code waited out.
    assert!(took < Duration::from_secs(10), "the reload waited {took:?} for the old generation");
    running.stop().await;
}
