//! The HTTP server under load that is not work: thousands of idle or slow
//! connections must not stop `/healthz`, `/metrics` or webhooks, and the
//! server drops the idle and slow ones itself.

mod common;

use std::sync::Arc;
use std::time::Duration;

use supportprobe::clock::SystemClock;
use supportprobe::daemon::{self, RunOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = r#"
[daemon]
listen = "127.0.0.1:0"
data_dir = "{DATA}"
probes_dir = "{PROBES}"

[vendors.zd.promise]
P0 = { first_response = "1h" }
[vendors.zd.channels.tickets]
webhook_secret = "zd-signing-secret"
[vendors.zd.channels.tickets.zendesk]
base_url = "http://{SIM}/zd"
email = "poc@example.com"
token = "tok"

[simulator]
listen = "127.0.0.1:0"
[simulator.vendors.zd]
token = "tok"
human_delay = "1m"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_idle_or_slow_connections_do_not_stop_health_metrics_or_webhooks() {
    // This process holds both ends of every connection.
    assert!(supportprobe::server::raise_open_files_limit() >= 7000, "the test needs 7,000 open files");
    let h = common::harness(CONFIG, &common::test_probes()).await;
    let running =
        daemon::start(h.config.clone(), RunOptions { simulator: false }, Arc::new(SystemClock)).await.unwrap();
    let addr = running.http;
    let mut idle = Vec::new();
    for i in 0..3000 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 10 == 0 {
            // A slow client: half a request head, then nothing.
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        }
        idle.push(s);
    }
    supportprobe::channel::client::install_crypto_provider();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let base = format!("http://{addr}");
    for _ in 0..3 {
        let r = client.get(format!("{base}/healthz")).send().await.expect("/healthz answers");
        assert_eq!(r.status(), 200);
        let r = client.get(format!("{base}/metrics")).send().await.expect("/metrics answers");
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("supportprobe_build_info"));
        // An unsigned webhook is refused, promptly.
        let r = client.post(format!("{base}/webhooks/zd/tickets")).body("{}").send().await.expect("webhooks answer");
        assert_eq!(r.status(), 401);
    }
    // The server closes the slow and the idle connections itself after its header timeout.
    let limit = supportprobe::server::HEADER_READ_TIMEOUT + Duration::from_secs(10);
    for s in idle.iter_mut().take(2) {
        let mut buf = [0u8; 512];
        let closed = tokio::time::timeout(limit, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // a 408 before closing is fine
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "an idle or slow connection was still open after {limit:?}");
    }
    drop(idle);
    running.stop().await;
}
