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
        let problems = err.lines().filter(|l| l.starts_with("error: ") || l.starts_with("warning: ")).count();
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

/// Ten typical mistakes in one three-vendor file: `check` names every one in
/// one run, sorted by position, each located, with what was expected and a
/// near name where there is one; an unset secret is a warning for plain
/// `check` (it does not talk to vendors) and an error for `check --online`.
#[test]
fn check_reports_every_mistake_in_one_run() {
    let bin = env!("CARGO_BIN_EXE_supportprobe");
    let path = "tests/fixtures/config/invalid-ten-mistakes.toml";
    let out = Command::new(bin)
        .args(["check", "--config", path])
        .env("TWILIO_ZENDESK_TOKEN", "tok-twilio")
        .env_remove("TWILIO_ZENDSK_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("tok-twilio"), "{stderr}");
    let located: Vec<(usize, usize)> = stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(&format!("--> {path}:")))
        .map(|lc| {
            let (l, c) = lc.split_once(':').unwrap();
            (l.parse().unwrap(), c.parse().unwrap())
        })
        .collect();
    let mut sorted = located.clone();
    sorted.sort();
    assert_eq!(located, sorted, "sorted by position:\n{stderr}");
    for (line, expected) in [
        (4, "unknown field `lisen`"),
        (8, "unknown time zone `Asia/Shangai`"),
        (15, "unknown calendar `cn-busines`"),
        (17, "invalid URL `agora.zendesk.com`"),
        (23, "duplicate key `name`"),
        (25, "invalid duration `an hour`"),
        (29, "environment variable `TWILIO_ZENDSK_TOKEN` is not set"),
        (38, "missing field `username`"),
        (40, "unknown field `max_open`"),
        (44, "unknown vendor `twillio`"),
        (45, "cron `0 10 * * Tue` has 5 fields"),
        (50, "`phone` matches no channel of any vendor"),
    ] {
        let block = stderr
            .split("\n\n")
            .find(|b| b.contains(expected))
            .unwrap_or_else(|| panic!("no `{expected}` in\n{stderr}"));
        assert!(block.contains(&format!("--> {path}:{line}:")), "`{expected}` at line {line}:\n{block}");
        assert!(block.lines().any(|l| l.trim_end().ends_with('^')), "a caret under `{expected}`:\n{block}");
    }
    let block = |needle: &str| stderr.split("\n\n").find(|b| b.contains(needle)).unwrap().to_string();
    assert!(block("`lisen`").contains("help: did you mean `listen`?"));
    assert!(block("cn-busines").contains("help: did you mean `cn-business`?"));
    assert!(block("twillio").contains("help: did you mean `twilio`?"));
    assert!(block("TWILIO_ZENDSK_TOKEN").contains("help: did you mean `TWILIO_ZENDESK_TOKEN`?"));
    assert!(block("TWILIO_ZENDSK_TOKEN").starts_with("warning: "), "plain check: a warning");
    assert!(block("duplicate key").contains(&format!("note: first defined at {path}:22:1")));
    assert!(block("`phone`").starts_with("warning: "));
    assert!(stderr.trim_end().ends_with("10 problems found, and 3 warnings"), "{stderr}");

    // `check --online` needs the secret: the same variable is an error.
    let out = Command::new(bin)
        .args(["check", "--online", "--config", path])
        .env("TWILIO_ZENDESK_TOKEN", "tok-twilio")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let env_block = stderr.split("\n\n").find(|b| b.contains("TWILIO_ZENDSK_TOKEN")).unwrap();
    assert!(env_block.starts_with("error: "), "{env_block}");
    assert!(stderr.trim_end().ends_with("11 problems found, and 2 warnings"), "{stderr}");
}

/// The silent traps are warnings, located, and the file is still valid:
/// the same vendor twice, a burst past `max_open`, a P0 scenario on a public
/// GitHub channel, a channel filter that matches nothing, unset secrets.
#[test]
fn silent_traps_are_warned_about() {
    let text = format!(
        r#"
[daemon]
data_dir = "/tmp/unused"
probes_dir = "{}/probes"

[vendors.alpha.caps]
max_open = 3
[vendors.alpha.channels.tickets.zendesk]
base_url = "https://alpha.zendesk.example"
email = "poc@example.com"
token = "${{ALPHA_TOKEN}}"
[vendors.alpha.channels.sdk.github]
repository = "alpha/sdk"
token = "${{ALPHA_TOKEN}}"

[vendors.Alpha.channels.tickets.zendesk]
base_url = "https://alpha-2.zendesk.example"
email = "poc@example.com"
token = "t"

[vendors.beta.channels.tickets.zendesk]
base_url = "https://alpha.zendesk.example"
email = "poc@example.com"
token = "t"

[[schedules]]
scenario = "p0-call-drops"
vendors = ["alpha"]
cron = "0 0 3 * * *"

[[schedules]]
scenario = "p2-sdk-integration"
vendors = ["alpha"]
cron = "0 0 3 * * *"

[[schedules]]
scenario = "p3-docs-mismatch"
vendors = ["*"]
channels = ["tickets", "phone"]
cron = "0 0 3 * * *"
"#,
        env!("CARGO_MANIFEST_DIR")
    );
    let file = SourceFile::new(Path::new("t.toml"), text);
    let config =
        Config::parse_with(&file, &|_| None, supportprobe::config::Secrets::Defer).unwrap_or_else(|d| panic!("{d}"));
    let w: Vec<String> =
        config.warnings.iter().map(|d| format!("{} {}", d.location().unwrap_or_default(), d.message)).collect();
    let find = |needle: &str| {
        w.iter().find(|m| m.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` in {w:#?}")).clone()
    };
    assert!(find("vendor `Alpha` looks like vendor `alpha`").starts_with("t.toml:16:10 "), "{w:#?}");
    assert!(find("vendors `alpha` and `beta` have the same zendesk channel").starts_with("t.toml:21:"), "{w:#?}");
    // alpha: tickets + sdk (p0) + tickets + sdk (p2) + tickets (p3) at 03:00 = 5 against max_open 3.
    assert!(find("open 5 probes on vendor `alpha` at once").contains("past its max_open = 3: 2 are skipped"), "{w:#?}");
    let public = find("is a public github tracker");
    assert!(public.contains("scenario `p0-call-drops` is P0") && public.contains("PRODUCTION DOWN"), "{public}");
    assert!(!w.iter().any(|m| m.contains("p2-sdk-integration") && m.contains("public")), "a P2 is not warned: {w:#?}");
    assert!(find("`phone` matches no channel of any vendor").starts_with("t.toml:39:"), "{w:#?}");
    // One warning per unset variable, at its first use, the other uses listed.
    let env: Vec<&supportprobe::config::Diagnostic> =
        config.warnings.iter().filter(|d| d.message.contains("ALPHA_TOKEN")).collect();
    assert_eq!(env.len(), 1, "{w:#?}");
    assert_eq!(env[0].location().unwrap(), "t.toml:11:9");
    assert!(env[0].notes.iter().any(|n| n == "note: also used at 14:9"), "{:?}", env[0].notes);
    // The same file, for a command that talks to vendors: the unset variable is an error.
    let err = Config::parse(&file, &|_| None).unwrap_err();
    assert_eq!(err.errors(), 1, "{err}");
    assert!(err.to_string().contains("error: environment variable `ALPHA_TOKEN` is not set"), "{err}");
}

/// `holidays = "cn"` brings mainland China's published holidays and its 调休
/// make-up working days (worked on the calendar's ordinary weekday hours);
/// sets mix with dates; an unknown set is an error with a near name; `check`
/// warns when a set's data ends within the notice period.
#[test]
fn built_in_holiday_sets_bring_holidays_and_make_up_days() {
    use chrono::{NaiveDate, TimeZone, Utc};
    let text = r#"
[calendars.cn-business]
timezone = "Asia/Shanghai"
weekly = { mon-fri = "09:00-18:00" }
holidays = "cn"

[calendars.us-business]
timezone = "America/New_York"
weekly = { mon-fri = "09:00-17:00" }
holidays = ["us", "2026-12-24"]

[vendors.a.promise]
P2 = { first_response = "4h", calendar = "cn-business" }
P3 = { first_response = "1d", calendar = "us-business" }
[vendors.a.channels.tickets.zendesk]
base_url = "https://a.zendesk.example"
email = "poc@example.com"
token = "t"
"#;
    let file = SourceFile::new(Path::new("h.toml"), text.to_string());
    let config =
        Config::parse_with(&file, &|_| None, supportprobe::config::Secrets::Defer).unwrap_or_else(|d| panic!("{d}"));
    let cn = &config.calendars["cn-business"];
    let sh = |s: &str| chrono_tz::Asia::Shanghai.from_local_datetime(&s.parse().unwrap()).unwrap().with_timezone(&Utc);
    assert!(!cn.is_open(sh("2026-10-01T10:00:00")), "National Day");
    assert!(!cn.is_open(sh("2026-02-23T10:00:00")), "the last day of the 2026 Spring Festival");
    assert!(cn.is_open(sh("2026-02-24T10:00:00")));
    assert!(cn.is_open(sh("2026-10-10T10:00:00")), "Saturday 10 October 2026 is a make-up working day");
    assert!(!cn.is_open(sh("2026-10-10T18:30:00")), "on the ordinary weekday hours");
    assert!(!cn.is_open(sh("2026-10-11T10:00:00")), "an ordinary Sunday");
    // Thursday 8 October 09:00 to Monday 12 October 09:00: Thursday, Friday and the make-up Saturday.
    let hours = cn.business_between(sh("2026-10-08T09:00:00"), sh("2026-10-12T09:00:00"));
    assert_eq!(hours.num_seconds(), 27 * 3600);
    assert_eq!(cn.holiday_sets(), [("cn".to_string(), NaiveDate::from_ymd_opt(2026, 12, 31).unwrap())]);

    let us = &config.calendars["us-business"];
    let ny =
        |s: &str| chrono_tz::America::New_York.from_local_datetime(&s.parse().unwrap()).unwrap().with_timezone(&Utc);
    assert!(!us.is_open(ny("2026-11-26T10:00:00")), "Thanksgiving");
    assert!(!us.is_open(ny("2026-07-03T10:00:00")), "Independence Day observed on the Friday");
    assert!(!us.is_open(ny("2026-12-24T10:00:00")), "a date of its own beside the set");
    assert!(us.is_open(ny("2026-12-23T10:00:00")));

    // check: the cn data ends on 31 December 2026; the us data a year later.
    let late =
        supportprobe::cli::holiday_coverage_warnings(&config, Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap());
    assert_eq!(late.len(), 1, "{late:#?}");
    assert!(
        late[0].contains("calendar `cn-business`: the built-in `cn` holiday data ends on 2026-12-31, 24 days from now"),
        "{late:#?}"
    );
    let early =
        supportprobe::cli::holiday_coverage_warnings(&config, Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap());
    assert!(early.is_empty(), "{early:#?}");
    let after =
        supportprobe::cli::holiday_coverage_warnings(&config, Utc.with_ymd_and_hms(2027, 1, 5, 0, 0, 0).unwrap());
    assert!(after.iter().any(|w| w.contains("`cn` holiday data ended on 2026-12-31")), "{after:#?}");

    // An unknown set: an error at its place, with the near name.
    let bad = text.replace("holidays = \"cn\"", "holidays = [\"cnn\", \"2026-13-01\"]");
    let err =
        Config::parse_with(&SourceFile::new(Path::new("h.toml"), bad), &|_| None, supportprobe::config::Secrets::Defer)
            .unwrap_err()
            .to_string();
    assert!(err.contains("unknown holiday set `cnn` (built in: cn, hk, tw, sg, us, uk)"), "{err}");
    assert!(err.contains("help: did you mean `cn`?"), "{err}");
    assert!(err.contains("--> h.toml:5:13"), "{err}");
    assert!(err.contains("`2026-13-01` is not a date"), "{err}");
}
