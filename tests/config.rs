//! Config files: every kind of error is rejected with its file, line, column
//! and what was expected (one fixture per kind, the rendered message
//! snapshotted), cross-reference errors are reported all at once, secrets
//! never appear, and every shipped config is accepted.

use std::path::{Path, PathBuf};
use std::process::Command;

use supportprobe::config::{Config, SourceFile};

fn env(name: &str) -> Option<String> {
    match name {
        "DEMO_TOKEN"
        | "AGORA_ZENDESK_TOKEN"
        | "TWILIO_ZENDESK_TOKEN"
        | "FEISHU_SIGNING_SECRET"
        | "SMTP_PASSWORD"
        | "POC_MAIL_PASSWORD"
        | "YUNXIN_RT_TOKEN"
        | "GITHUB_TOKEN"
        | "AGORA_GITHUB_WEBHOOK_SECRET"
        | "TWILIO_SLACK_TOKEN"
        | "TWILIO_SLACK_SIGNING_SECRET"
        | "YUNXIN_FEISHU_APP_SECRET"
        | "YUNXIN_FEISHU_ENCRYPT_KEY"
        | "SUPPORTPROBE_API_TOKEN" => Some(format!("secret-value-of-{name}")),
        "FEISHU_WEBHOOK_URL" | "SLACK_WEBHOOK_URL" => Some(format!("https://hooks.example.com/secret-value-of-{name}")),
        _ => None,
    }
}

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("tests/fixtures/config")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("invalid-"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_invalid_fixture_is_rejected_with_its_location() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 20, "one fixture per kind of error");
    for path in fixtures {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let err = match supportprobe::simulated::load_with_env(&path, &env) {
            Ok(_) => panic!("{name} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(!err.contains("secret-value-of"), "{name} leaks a secret:\n{err}");
        // Every problem is located: `--> FILE:LINE:COL`, in the config or the scenario it uses.
        let located = err.lines().filter(|l| l.trim_start().starts_with("--> ")).count();
        let problems = err.lines().filter(|l| l.starts_with("error: ")).count();
        assert!(problems > 0 && located == problems, "{name}: every problem needs a location\n{err}");
        assert!(
            err.lines().filter(|l| l.trim_start().starts_with("--> ")).all(|l| l.split(':').count() == 3),
            "{name}: locations are FILE:LINE:COL\n{err}"
        );
        insta::assert_snapshot!(name, err);
    }
}

#[test]
fn cross_reference_errors_are_reported_together() {
    let err =
        Config::load_with_env(Path::new("tests/fixtures/config/invalid-many-references.toml"), &env).unwrap_err().0;
    let messages: Vec<&str> = err.iter().map(|d| d.message.as_str()).collect();
    for expected in [
        "unknown calendar `us-business`",
        "environment variable `TWILIO_TOKEN` is not set",
        "unknown vendor `twillio`",
        "unknown scenario `p9-unknown`",
        "vendor `agora` has no channel `email`",
    ] {
        assert!(messages.iter().any(|m| m.contains(expected)), "missing `{expected}` in {messages:#?}");
    }
}

#[test]
fn shipped_configs_are_accepted() {
    for entry in std::fs::read_dir("config").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let config = Config::load_with_env(&path, &env).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
            assert!(!config.schedules.is_empty(), "{} schedules something", path.display());
            assert!(config.warnings.is_empty(), "{}: {:?}", path.display(), config.warnings);
        }
    }
}

#[test]
fn check_prints_the_plan_without_secrets_and_fails_on_errors() {
    let bin = env!("CARGO_BIN_EXE_supportprobe");
    let out = Command::new(bin)
        .args(["check", "--config", "config/example.toml"])
        .env("AGORA_ZENDESK_TOKEN", "tok-agora-123456")
        .env("TWILIO_ZENDESK_TOKEN", "tok-twilio-654321")
        .env("FEISHU_WEBHOOK_URL", "https://open.feishu.cn/open-apis/bot/v2/hook/tok-feishu-hook")
        .env("FEISHU_SIGNING_SECRET", "tok-feishu-sign")
        .env("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/tok-slack")
        .env("SMTP_PASSWORD", "tok-smtp")
        .env("POC_MAIL_PASSWORD", "tok-mail")
        .env("YUNXIN_RT_TOKEN", "tok-rt-1-14")
        .env("GITHUB_TOKEN", "tok-github")
        .env("AGORA_GITHUB_WEBHOOK_SECRET", "tok-gh-hook")
        .env("TWILIO_SLACK_TOKEN", "tok-slack-bot")
        .env("TWILIO_SLACK_SIGNING_SECRET", "tok-slack-sign")
        .env("YUNXIN_FEISHU_APP_SECRET", "tok-feishu-app")
        .env("YUNXIN_FEISHU_ENCRYPT_KEY", "tok-feishu-encrypt")
        .env("SUPPORTPROBE_API_TOKEN", "tok-api")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("tok-"), "no secret in the plan: {stdout}");
    assert!(
        stdout.contains(
            "feishu-oncall (feishu): events unanswered_past_promise,open_failed,manual_probe_due; vendors all; priorities P0,P1"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("API token for rtc-poc@example.com, from ${AGORA_ZENDESK_TOKEN}"), "{stdout}");
    assert!(
        stdout.contains("portal (rt) https://support.yunxin.example/REST/2.0 queue POC as rtc-poc@example.com (auth: auth token, from ${YUNXIN_RT_TOKEN})"),
        "{stdout}"
    );
    assert!(stdout.contains("mail (email) to Yunxin Support <support@yunxin.example>"), "{stdout}");
    // Where each platform should send its webhooks, and where the signing secret comes from.
    assert!(
        stdout.contains(
            "webhook  POST http://127.0.0.1:9897/webhooks/agora/sdk (signing secret from ${AGORA_GITHUB_WEBHOOK_SECRET})"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("webhook  POST http://127.0.0.1:9897/webhooks/yunxin/group"), "{stdout}");
    assert!(!stdout.contains("webhooks/agora/tickets"), "no webhook line without a secret: {stdout}");
    assert!(stdout.contains("promise  P0  first_response 15m, next_reply 30m, resolution 4h  on 24x7"), "{stdout}");
    // Every target of every schedule lists its next three fires in the schedule's zone.
    let fire_lines: Vec<&str> = stdout.lines().filter(|l| l.contains("next: ")).collect();
    assert_eq!(fire_lines.len(), 19, "{stdout}");
    for l in fire_lines {
        assert_eq!(l.matches(" CST").count(), 3, "{l}");
    }

    let out = Command::new(bin)
        .args(["check", "--config", "tests/fixtures/config/invalid-many-references.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("problems found"), "{stderr}");
    let out = Command::new(bin).args(["check", "--config", "no/such/file.toml"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config no/such/file.toml"));
}

/// `check`'s load warning: a budget that cannot carry its channels' polls
/// (probes in flight × requests a poll costs × polls a minute) is named, with
/// how much less often polls will come; one that can is not.
#[test]
fn check_names_the_budget_that_cannot_carry_its_poll_intervals() {
    let text = format!(
        r#"
[daemon]
data_dir = "/tmp/unused"
probes_dir = "{}/probes"

[vendors.tight]
rate_limit_per_minute = 100
[vendors.tight.caps]
max_open = 50
[vendors.tight.channels.tickets]
poll_interval = "30s"
[vendors.tight.channels.tickets.zendesk]
base_url = "https://tight.zendesk.example"
email = "poc@example.com"
token = "t"

[vendors.roomy]
rate_limit_per_minute = 700
[vendors.roomy.caps]
max_open = 50
[vendors.roomy.channels.tickets]
poll_interval = "30s"
[vendors.roomy.channels.tickets.zendesk]
base_url = "https://roomy.zendesk.example"
email = "poc@example.com"
token = "t"

[vendors.snug]
rate_limit_per_minute = 220
[vendors.snug.caps]
max_open = 50
[vendors.snug.channels.tickets]
poll_interval = "30s"
[vendors.snug.channels.tickets.zendesk]
base_url = "https://snug.zendesk.example"
email = "poc@example.com"
token = "t"

[vendors.chatty]
rate_limit_per_minute = 700
[vendors.chatty.caps]
max_open = 50
[vendors.chatty.channels.group]
poll_interval = "30s"
[vendors.chatty.channels.group.slack]
channel = "C0SUPPORT1"
token = "xoxb-t"

[[schedules]]
scenario = "p1-messages-delayed"
vendors = ["*"]
cron = "0 * * * * *"
"#,
        env!("CARGO_MANIFEST_DIR")
    );
    let config =
        Config::parse(&SourceFile::new(Path::new("t.toml"), text), &|_| None).unwrap_or_else(|d| panic!("{d}"));
    let warnings = supportprobe::cli::load_warnings(&config, chrono::Utc::now());
    // 50 in flight (the cap) × 2 requests a Zendesk poll × 2 polls a minute = 200/min
    // against 98 usable of 100: about 2.0x less often. 700/min carries it.
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    let w = warnings.iter().find(|w| w.contains("tight")).unwrap();
    assert!(w.starts_with("rate budget of vendor tight cannot carry its poll intervals"), "{w}");
    assert!(w.contains("up to 50 probes in flight polled every 30s at about 2 requests a poll"), "{w}");
    assert!(w.contains("need 200 requests/min, it allows 100/min"), "{w}");
    assert!(w.contains("about 2.0x less often"), "{w}");
    // Slack paces conversations.replies (tier 3) whatever the budget: 50 threads × 1.2 s = 60 s a round.
    let w = warnings.iter().find(|w| w.contains("chatty")).unwrap();
    assert!(w.starts_with("chatty/group cannot be polled every 30s: slack allows one poll every 1.2s"), "{w}");
    assert!(w.contains("up to 50 probes in flight take 60s a round"), "{w}");
    assert!(w.contains("about 2.0x less often"), "{w}");
    // 200/min of 220 (91 %): it carries the polls, with no room for anything else.
    let w = warnings.iter().find(|w| w.contains("snug")).unwrap();
    assert!(w.starts_with("rate budget of vendor snug is nearly used by its poll intervals alone"), "{w}");
    assert!(w.contains("need 200 requests/min of the 220/min it allows (91 %)"), "{w}");
    assert!(!warnings.iter().any(|w| w.contains("roomy")), "{warnings:#?}");
}
