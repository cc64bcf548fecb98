//! Dashboards and alerts against real servers: the demo daemon, a Prometheus
//! scraping it with the shipped rules, and an Alertmanager routing to a local
//! webhook receiver. Every expression of every dashboard panel and variable
//! (with variables substituted) must be valid and return data; the breach
//! alert for the demo's P0-missing vendor must reach the receiver with its
//! labels; `promtool check metrics` must accept the exposition.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use supportprobe::clock::SystemClock;
use supportprobe::daemon::{self, RunOptions};

/// Kills a server process when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()));
    if found.is_none() {
        assert!(
            std::env::var_os("SUPPORTPROBE_REQUIRE_TOOLS").is_none(),
            "{name} is required (scripts/test.sh installs it)"
        );
        eprintln!("{name} not installed; skipping (scripts/test.sh installs it)");
    }
    found
}

/// Grafana variables replaced the way a user selecting "All" would see them.
fn substitute(expr: &str) -> String {
    expr.replace("$vendor", ".*")
        .replace("$channel", ".*")
        .replace("$priority", ".*")
        .replace("$window", "poc")
        .replace("$__range", "1h")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
}

/// Every query of every dashboard: panel targets, and the metric behind each
/// `label_values(...)` variable.
fn dashboard_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(Path::new(common::MANIFEST).join("grafana/dashboards")).unwrap() {
        let path = e.unwrap().path();
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((format!("{file}: {} [{}]", p["title"], t["refId"]), substitute(expr)));
                }
            }
        }
        for v in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["definition"].as_str().and_then(|q| q.strip_prefix("label_values(")) {
                let metric = q.rsplit_once(',').map_or(q, |(m, _)| m).trim();
                out.push((format!("{file}: variable {}", v["name"]), substitute(metric)));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_return_data_and_the_breach_alert_reaches_alertmanager() {
    let (Some(prometheus), Some(alertmanager)) = (tool("prometheus"), tool("prometheus-alertmanager")) else { return };
    supportprobe::channel::client::install_crypto_provider();

    // The demo daemon.
    let h = common::demo_harness().await;
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    let work = h.dir.path();

    // A webhook receiver for Alertmanager.
    let alerts: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = alerts.clone();
    let app = Router::new().route(
        "/alerts",
        post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let rx = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rx_addr: SocketAddr = rx.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(rx, app).await });

    // Alertmanager, routing everything to the receiver at once.
    let am_port = free_port();
    std::fs::write(
        work.join("alertmanager.yml"),
        format!(
            "route:\n  receiver: test\n  group_by: [alertname, vendor, priority, measure]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: test\n    webhook_configs:\n      - url: http://{rx_addr}/alerts\n        send_resolved: false\n"
        ),
    )
    .unwrap();
    let out = Command::new("amtool").args(["check-config"]).arg(work.join("alertmanager.yml")).output();
    if let Ok(out) = out {
        assert!(out.status.success(), "amtool: {}", String::from_utf8_lossy(&out.stdout));
    }
    let _am = Server(
        Command::new(&alertmanager)
            .arg(format!("--config.file={}", work.join("alertmanager.yml").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .arg(format!("--storage.path={}", work.join("am").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Prometheus with the shipped rules, scraping every second.
    let rules = Path::new(common::MANIFEST).join("config/prometheus");
    let prom_port = free_port();
    let prom_config = work.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n  - {}\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{am_port}\"]\n\
             scrape_configs:\n  - job_name: supportprobe\n    static_configs:\n      - targets: [\"{}\"]\n",
            rules.join("rules.yml").display(),
            rules.join("alerts.yml").display(),
            running.http
        ),
    )
    .unwrap();
    let _prom = Server(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg(format!("--storage.tsdb.path={}", work.join("tsdb").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{prom_port}/api/v1/query");
    let query = |q: String| {
        let (client, api) = (client.clone(), api.clone());
        async move {
            let resp = client.get(&api).query(&[("query", q.as_str())]).send().await.ok()?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.ok()?;
            Some((status, body))
        }
    };
    common::wait_for("Prometheus to scrape the daemon", Duration::from_secs(60), || {
        let q = query("up{job=\"supportprobe\"} == 1".into());
        async move { q.await.filter(|(_, b)| b["data"]["result"].as_array().is_some_and(|r| !r.is_empty())) }
    })
    .await;

    // Every dashboard query is valid, and returns data once the demo has run a while.
    let queries = dashboard_queries();
    assert!(queries.len() > 40, "{} queries", queries.len());
    let mut empty: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        empty.clear();
        for (name, q) in &queries {
            let (status, body) = query(q.clone()).await.expect("Prometheus answers");
            assert_eq!(status, 200, "{name} is not a valid query: {q}\n{body}");
            assert_eq!(body["status"], "success", "{name}: {body}");
            if body["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
                empty.push(format!("{name}: {q}"));
            }
        }
        if empty.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    assert!(empty.is_empty(), "queries without data after 3 minutes of the demo:\n{}", empty.join("\n"));

    // The breach alert for the vendor that misses its P0 promise reaches the receiver, labelled.
    let got = alerts.clone();
    let alert = common::wait_for("SupportPromiseBreached for hanyun at the receiver", Duration::from_secs(120), || {
        let got = got.clone();
        async move {
            got.lock().unwrap().iter().flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default()).find(|a| {
                a["labels"]["alertname"] == "SupportPromiseBreached"
                    && a["labels"]["vendor"] == "hanyun"
                    && a["labels"]["priority"] == "P0"
                    && a["labels"]["measure"] == "first_response"
            })
        }
    })
    .await;
    // Hanyun is probed through Zendesk, its Freshdesk portal, Intercom and Feishu; any may breach first.
    let channel = alert["labels"]["channel"].as_str().unwrap();
    assert!(["zendesk", "freshdesk", "intercom", "feishu"].contains(&channel), "{alert}");
    let description = alert["annotations"]["description"].as_str().unwrap();
    // Named by its display name (supportprobe_vendor_info), routed as the POC team's ticket, linked.
    let name = &h.config.vendor("hanyun").unwrap().name;
    assert!(
        description.contains(&format!("{name} ({channel}) missed its P0 first_response promise (30s)")),
        "{description}"
    );
    assert_eq!(
        (alert["labels"]["severity"].as_str(), alert["labels"]["audience"].as_str()),
        (Some("ticket"), Some("poc-team"))
    );
    assert!(alert["annotations"]["runbook_url"].as_str().unwrap().ends_with("/docs/alerts#supportpromisebreached"));
    let page = client.get(format!("http://{}/docs/alerts", running.http)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<h2 id=\"supportpromisebreached\">"), "the runbook the alert links");

    // Prometheus scraped the daemon's own process metrics and the build's revision.
    for q in ["process_resident_memory_bytes{job=\"supportprobe\"} > 0", "supportprobe_build_info{revision!=\"\"}"] {
        let (_, body) = query(q.into()).await.unwrap();
        assert!(body["data"]["result"].as_array().is_some_and(|r| !r.is_empty()), "{q}: {body}");
    }
    // Asked for OpenMetrics (as Prometheus asks by default), the daemon answers in it.
    let om = client
        .get(format!("http://{}/metrics", running.http))
        .header("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .send()
        .await
        .unwrap();
    assert!(om.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text; version=1.0.0"));
    let om = om.text().await.unwrap();
    assert!(
        om.ends_with("# EOF\n") && om.contains("# TYPE supportprobe_promise_breaches counter\n"),
        "{}",
        &om[..500.min(om.len())]
    );

    // The exposition passes promtool.
    let text = client.get(format!("http://{}/metrics", running.http)).send().await.unwrap().text().await.unwrap();
    common::promtool_check_metrics(&text);
    running.stop().await;
}
