//! Shared test harness: simulated vendors on port 0, a config pointing at
//! them, and helpers to read the ground truth and wait for conditions.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use supportprobe::clock::SystemClock;
use supportprobe::config::Config;
use supportprobe::engine::Ctx;
use supportprobe::simulator::{Simulator, Truth};
use supportprobe::store::Store;
use tokio_util::sync::CancellationToken;

pub const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub sim: SocketAddr,
    pub stop_sim: CancellationToken,
    /// One set of rate budgets for every `ctx()`, as in the daemon.
    pub budgets: supportprobe::channel::budget::Budgets,
}

impl Harness {
    pub fn ctx(&self) -> Ctx {
        Ctx {
            config: self.config.clone(),
            store: self.store.clone(),
            clock: Arc::new(SystemClock),
            pokes: Default::default(),
            budgets: self.budgets.clone(),
            loads: Default::default(),
        }
    }

    pub async fn truth(&self) -> Vec<Truth> {
        truth(self.sim).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop_sim.cancel();
    }
}

/// Renders a config template: `{SIM}` is the simulator's address, `{DATA}`
/// the data directory, `{PROBES}` a probes directory.
pub fn render(template: &str, sim: &str, data: &Path, probes: &Path) -> String {
    template
        .replace("{SIM}", sim)
        .replace("{DATA}", &data.display().to_string())
        .replace("{PROBES}", &probes.display().to_string())
}

pub fn test_probes() -> PathBuf {
    Path::new(MANIFEST).join("tests/fixtures/probes")
}

/// Starts the template's simulated vendors on a free port, then loads the
/// config pointing at them.
pub async fn harness(template: &str, probes: &Path) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config_path = dir.path().join("supportprobe.toml");
    std::fs::write(&config_path, render(template, "127.0.0.1:9", &data, probes)).unwrap();
    let (_, settings) = supportprobe::simulated::load(&config_path).unwrap_or_else(|e| panic!("{e}"));
    let settings = settings.expect("the template has a [simulator] section");
    let listener = supportprobe::simulator::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let sim = listener.local_addr().unwrap();
    let stop_sim = CancellationToken::new();
    tokio::spawn(supportprobe::simulator::serve(Simulator::new(&settings), listener, stop_sim.clone()));
    std::fs::write(&config_path, render(template, &sim.to_string(), &data, probes)).unwrap();
    let config = Arc::new(Config::load(&config_path).unwrap_or_else(|e| panic!("{e}")));
    let store = Arc::new(Store::open(&config.daemon.data_dir).unwrap());
    Harness { dir, config_path, config, store, sim, stop_sim, budgets: Default::default() }
}

/// The shipped demo config, on free ports, with its own data directory.
pub async fn demo_harness() -> Harness {
    let demo = std::fs::read_to_string(Path::new(MANIFEST).join("config/demo.toml")).unwrap();
    let template = demo
        .replace("listen = \"127.0.0.1:9897\"", "listen = \"127.0.0.1:0\"")
        .replace("127.0.0.1:9898", "{SIM}")
        .replace("data_dir = \"../data/demo\"", "data_dir = \"{DATA}\"")
        .replace("probes_dir = \"../probes\"", "probes_dir = \"{PROBES}\"");
    harness(&template, &Path::new(MANIFEST).join("probes")).await
}

pub async fn truth(sim: SocketAddr) -> Vec<Truth> {
    supportprobe::channel::client::install_crypto_provider();
    reqwest::get(format!("http://{sim}/_sim/truth")).await.unwrap().json().await.unwrap()
}

/// Polls `check` until it returns `Some`, or panics after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn parse(t: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc()
}

/// Runs `promtool check metrics` on an exposition when promtool is
/// installed; the test script installs it and sets SUPPORTPROBE_REQUIRE_TOOLS.
pub fn promtool_check_metrics(text: &str) {
    let required = std::env::var_os("SUPPORTPROBE_REQUIRE_TOOLS").is_some();
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if !required => {
            eprintln!("promtool not available ({e}); skipping the promtool check (scripts/test.sh installs it)");
            return;
        }
        Err(e) => panic!("promtool is required (SUPPORTPROBE_REQUIRE_TOOLS is set) but cannot run: {e}"),
    };
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool check metrics:\n{report}");
}

/// Where the test mail stack is, when the test script started it
/// (`SUPPORTPROBE_SMTP`, `SUPPORTPROBE_IMAP`); `None` skips, unless tools are required.
pub fn mail_stack() -> Option<(String, String)> {
    match (std::env::var("SUPPORTPROBE_SMTP"), std::env::var("SUPPORTPROBE_IMAP")) {
        (Ok(smtp), Ok(imap)) => Some((smtp, imap)),
        _ if std::env::var_os("SUPPORTPROBE_REQUIRE_TOOLS").is_some() => {
            panic!("SUPPORTPROBE_SMTP/SUPPORTPROBE_IMAP are required (scripts/test.sh starts the mail stack)")
        }
        _ => {
            eprintln!("no mail stack (scripts/test.sh starts one); skipping the email part");
            None
        }
    }
}

/// A minimal IMAP client for tests: logs in, selects INBOX and runs one
/// SEARCH, returning the matching sequence numbers.
pub async fn imap_search(addr: &str, user: &str, pass: &str, criteria: &str) -> Vec<u32> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    lines.next_line().await.unwrap();
    let mut found = Vec::new();
    for (tag, cmd) in [
        ("a1", format!("LOGIN {user} {pass}")),
        ("a2", "SELECT INBOX".to_string()),
        ("a3", format!("SEARCH {criteria}")),
        ("a4", "LOGOUT".to_string()),
    ] {
        w.write_all(format!("{tag} {cmd}\r\n").as_bytes()).await.unwrap();
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("* SEARCH") {
                found = rest.split_whitespace().filter_map(|n| n.parse().ok()).collect();
            }
            if line.starts_with(tag) {
                assert!(line.contains(" OK"), "IMAP {cmd}: {line}");
                break;
            }
        }
    }
    found
}

/// Where the test Request Tracker is (`SUPPORTPROBE_RT`, e.g.
/// `http://127.0.0.1:18080`), when the test script started it; `None` skips,
/// unless tools are required.
pub fn rt_stack() -> Option<String> {
    match std::env::var("SUPPORTPROBE_RT") {
        Ok(rt) => Some(rt.trim_end_matches('/').to_string()),
        _ if std::env::var_os("SUPPORTPROBE_REQUIRE_TOOLS").is_some() => {
            panic!("SUPPORTPROBE_RT is required (scripts/test.sh starts Request Tracker)")
        }
        _ => {
            eprintln!("no Request Tracker (scripts/test.sh starts one); skipping the RT part");
            None
        }
    }
}

/// A test config with one vendor `vendor` (P0 promise: first response 3s,
/// next reply 30s, resolution 1m) and one channel `channel`, polled every
/// 500ms, whose kind table is `kind` (e.g. `[email]` followed by its keys,
/// table names relative to the channel).
pub fn one_channel_config(vendor: &str, channel: &str, kind: &str) -> String {
    let prefix = format!("vendors.{vendor}.channels.{channel}.");
    let kind = kind.replace("\n[", &format!("\n[{prefix}"));
    format!(
        r#"
[daemon]
data_dir = "{{DATA}}"
probes_dir = "{{PROBES}}"

[vendors.{vendor}]
name = "{vendor}"
[vendors.{vendor}.promise]
P0 = {{ first_response = "3s", next_reply = "30s", resolution = "1m" }}
[vendors.{vendor}.channels.{channel}]
poll_interval = "500ms"
min_request_interval = "10ms"
timeout = "10s"
{kind}

[simulator]
listen = "127.0.0.1:0"
"#
    )
}

/// The email kind table for the test mail stack: to `to`, from probe@example.test.
pub fn email_kind(to: &str, smtp: &str, imap: &str) -> String {
    let (sh, sp) = smtp.split_once(':').unwrap();
    let (ih, ip) = imap.split_once(':').unwrap();
    format!(
        r#"
[email]
to = "{to}"
from = "POC Team <probe@example.test>"
[email.smtp]
host = "{sh}"
port = {sp}
tls = "none"
[email.imap]
host = "{ih}"
port = {ip}
tls = "none"
username = "probe@example.test"
password = "probepass""#
    )
}

/// A tiny deterministic generator (xorshift64) for kill schedules and mutations.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}
