//! Configuration: the TOML file a team writes for its POC, read strictly.
//!
//! Reading happens in two steps. Serde types (`raw`) mirror the file with
//! `deny_unknown_fields` everywhere and validated newtypes for durations,
//! cron expressions, time zones and patterns, so the TOML parser points at a
//! bad value itself. Then [`validate`](validate::validate) resolves
//! references (vendors, channels, calendars, scenarios), secrets and paths,
//! collecting *every* problem with its location before giving up.
#![forbid(unsafe_code)]

pub use supportprobe_core::diag;
pub mod raw;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

// The core's modules under the paths this crate names them by.
use supportprobe_channels as channel;
use supportprobe_core::{calendar, classify, duration, model, scenario, value};

use crate::calendar::Calendar;
use crate::channel::ChannelKind;
use crate::classify::ClassifyOverrides;
use crate::duration::Dur;
use crate::model::{NotifyEvent, NotifyKind, Priority, PromiseMeasure};
use crate::scenario::Scenario;
pub use diag::{Diagnostic, Diagnostics, SourceFile};
pub use supportprobe_channels::email::config::SmtpSettings;
pub use supportprobe_channels::{ChannelSettings, ChannelSpec};
pub use supportprobe_core::secret::{self, Secret, SecretSource};

pub use diag::toml_diagnostic;

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from, for messages and relative paths.
    pub file: SourceFile,
    pub daemon: Daemon,
    pub calendars: BTreeMap<String, Arc<Calendar>>,
    pub vendors: BTreeMap<String, Vendor>,
    /// Scenarios used by schedules, by id.
    pub scenarios: BTreeMap<String, Arc<Scenario>>,
    pub schedules: Vec<Schedule>,
    /// Notification targets, by name.
    pub notify: BTreeMap<String, NotifyTarget>,
    /// How the scorecard grades.
    pub scorecard: ScorecardGrades,
    /// Things that are legal but probably not what was meant (located).
    pub warnings: Vec<Diagnostic>,
}

/// `[scorecard]`: where a share within promise makes a grade.
#[derive(Clone, Copy, Debug)]
pub struct ScorecardGrades {
    pub excellent: Option<f64>,
    pub acceptable: Option<f64>,
    pub min_judged: u64,
}

impl ScorecardGrades {
    /// The thresholds for a vendor whose `compliance_target` is `target`: (excellent, acceptable).
    pub fn for_target(&self, target: f64) -> (f64, f64) {
        let acceptable = self.acceptable.unwrap_or(target);
        let excellent = self.excellent.unwrap_or(1.0 - (1.0 - acceptable) / 2.0).max(acceptable);
        (excellent, acceptable)
    }
}

#[derive(Clone, Debug)]
pub struct Daemon {
    pub listen: SocketAddr,
    /// Where the SQLite store lives (resolved against the config file's directory).
    pub data_dir: PathBuf,
    /// Where scenario files live (resolved against the config file's directory).
    pub probes_dir: PathBuf,
    /// Do everything but send: probes are planned, rendered and logged, then skipped.
    pub dry_run: bool,
    /// Fires missed while the daemon was down are still run if at most this late.
    pub misfire_grace: Dur,
    /// How long shutdown waits for in-flight channel calls.
    pub shutdown_grace: Dur,
    /// Required as `Authorization: Bearer …` by `POST /-/reload` when set.
    pub api_token: Option<Secret>,
}

/// A vendor whose support is measured.
#[derive(Clone, Debug)]
pub struct Vendor {
    pub id: String,
    pub name: String,
    pub promises: BTreeMap<Priority, Promise>,
    pub channels: BTreeMap<String, ChannelSpec>,
    pub caps: Caps,
    pub classify: ClassifyOverrides,
    /// Technical responders (escalation); none: the first handoff counts.
    pub engineers: supportprobe_core::communication::Engineers,
    /// Share of judged measures expected within promise (default 0.9).
    pub compliance_target: f64,
    /// The vendor's API limit for all its channels together, per minute.
    pub rate_limit_per_minute: Option<u32>,
    /// A budget shared with other vendors naming it.
    pub rate_budget: Option<String>,
}

/// What a vendor promised for one priority.
#[derive(Clone, Debug)]
pub struct Promise {
    pub targets: BTreeMap<PromiseMeasure, Dur>,
    pub calendar: Arc<Calendar>,
}

/// Responsible-probing limits for one vendor.
#[derive(Clone, Debug, Default)]
pub struct Caps {
    /// At most this many probes waiting on the vendor at once.
    pub max_open: Option<u32>,
    /// At most this many probes opened in any 24 hours.
    pub max_per_day: Option<u32>,
    /// No new probes; those in flight are still followed to the end.
    pub paused: bool,
    /// Absolute quiet periods (e.g. the vendor's release freeze).
    pub quiet: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Weekly quiet hours, as a calendar whose open hours are quiet.
    pub quiet_weekly: Option<Arc<Calendar>>,
}

impl Caps {
    /// Whether `t` falls in a quiet period.
    pub fn is_quiet(&self, t: DateTime<Utc>) -> bool {
        self.quiet.iter().any(|(a, b)| *a <= t && t < *b) || self.quiet_weekly.as_ref().is_some_and(|c| c.is_open(t))
    }
}

/// A probe target: one channel of one vendor.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub vendor: String,
    pub channel: String,
}

/// When a scenario runs, and against which targets.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Position in the file, for messages.
    pub index: usize,
    pub scenario: Arc<Scenario>,
    pub targets: Vec<Target>,
    pub cron: cron::Schedule,
    pub cron_text: String,
    pub timezone: Tz,
    /// Each fire is delayed by a random amount up to this, so probes do not arrive on the dot.
    pub jitter: Dur,
    /// The scenario's give-up time, or the schedule's override.
    pub give_up_after: Dur,
    /// Overrides every follow-up's delay (the demo uses it to compress time).
    pub follow_up_delay: Option<Dur>,
}

impl Schedule {
    /// A stable key for one target of this schedule, used for the fire cursor
    /// and the idempotency of scheduled slots across restarts.
    pub fn target_key(&self, target: &Target) -> String {
        format!("{}|{}|{}|{}|{}", self.scenario.id, target.vendor, target.channel, self.cron_text, self.timezone.name())
    }
}

/// A notification target: what it wants, and where it goes.
#[derive(Clone, Debug)]
pub struct NotifyTarget {
    pub name: String,
    /// Events it wants (all when empty).
    pub events: Vec<NotifyEvent>,
    /// Vendors it wants (all when empty).
    pub vendors: Vec<String>,
    /// Priorities it wants (all when empty).
    pub priorities: Vec<Priority>,
    pub sink: Sink,
}

impl NotifyTarget {
    pub fn kind(&self) -> NotifyKind {
        match self.sink {
            Sink::Webhook { .. } => NotifyKind::Webhook,
            Sink::Slack { .. } => NotifyKind::Slack,
            Sink::Feishu { .. } => NotifyKind::Feishu,
            Sink::Dingtalk { .. } => NotifyKind::Dingtalk,
            Sink::Wecom { .. } => NotifyKind::Wecom,
            Sink::Email(_) => NotifyKind::Email,
        }
    }

    /// Whether this target wants a notification (channel events have no
    /// priority and pass the priority filter).
    pub fn wants(&self, event: NotifyEvent, vendor: &str, priority: Option<Priority>) -> bool {
        (self.events.is_empty() || self.events.contains(&event))
            && (self.vendors.is_empty() || self.vendors.iter().any(|v| v == vendor))
            && (self.priorities.is_empty() || priority.is_none_or(|p| self.priorities.contains(&p)))
    }
}

/// Where a notification goes. URLs are secrets: group-bot and webhook URLs carry tokens.
#[derive(Clone, Debug)]
pub enum Sink {
    /// Generic JSON webhook.
    Webhook { url: Secret, headers: Vec<(String, Secret)> },
    /// Slack incoming webhook.
    Slack { url: Secret },
    /// Feishu/Lark custom group bot, optionally signed.
    Feishu { url: Secret, secret: Option<Secret> },
    /// DingTalk custom group bot, optionally signed.
    Dingtalk { url: Secret, secret: Option<Secret> },
    /// WeCom (WeChat Work) group bot.
    Wecom { url: Secret },
    /// Email through SMTP.
    Email(EmailSink),
}

#[derive(Clone, Debug)]
pub struct EmailSink {
    pub smtp: SmtpSettings,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
}

impl Vendor {
    /// Whose rate budget this vendor's channels draw on.
    pub fn rate_owner(&self) -> supportprobe_channels::budget::RateOwner<'_> {
        supportprobe_channels::budget::RateOwner {
            id: &self.id,
            rate_budget: self.rate_budget.as_deref(),
            rate_limit_per_minute: self.rate_limit_per_minute,
        }
    }
}

pub use supportprobe_channels::check::Secrets;

/// The names in the process environment (for "did you mean" on an unset variable).
fn env_names() -> Vec<String> {
    std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()).collect()
}

impl Config {
    /// Reads and validates a config file, resolving its secrets from the
    /// process environment (for the commands that talk to vendors: `run`,
    /// `once`, `check --online`).
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        Config::load_from_process(path, Secrets::Resolve)
    }

    /// Reads a config for a command that only reads (`probes`, `record`,
    /// `report`, `rate`, `classify`, plain `check`): an unset secret is a
    /// warning in [`Config::warnings`], not an error.
    pub fn load_offline(path: &Path) -> Result<Config, Diagnostics> {
        Config::load_from_process(path, Secrets::Defer)
    }

    /// With the process environment: an unset variable's "did you mean"
    /// looks among the variables that are set.
    fn load_from_process(path: &Path, secrets: Secrets) -> Result<Config, Diagnostics> {
        let file = SourceFile::read(path, "config").map_err(|d| Diagnostics(vec![d]))?;
        Config::parse_inner(&file, &|name| std::env::var(name).ok(), env_names(), secrets)
    }

    /// As [`load`](Self::load), with an explicit environment (for tests).
    pub fn load_with_env(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Diagnostics> {
        let file = SourceFile::read(path, "config").map_err(|d| Diagnostics(vec![d]))?;
        Config::parse(&file, env)
    }

    pub fn parse(file: &SourceFile, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Diagnostics> {
        Config::parse_with(file, env, Secrets::Resolve)
    }

    /// Reads a whole file in two passes (see [`diag::read_all`]): every
    /// syntax, type and reference problem is found in one run, and the
    /// warnings beside them; errors and warnings come sorted by position.
    /// `env` is all that is known of the environment (no names to suggest).
    pub fn parse_with(
        file: &SourceFile,
        env: &dyn Fn(&str) -> Option<String>,
        secrets: Secrets,
    ) -> Result<Config, Diagnostics> {
        Config::parse_inner(file, env, Vec::new(), secrets)
    }

    fn parse_inner(
        file: &SourceFile,
        env: &dyn Fn(&str) -> Option<String>,
        env_names: Vec<String>,
        secrets: Secrets,
    ) -> Result<Config, Diagnostics> {
        let (raw, mut problems, pruned) = diag::read_all::<raw::RawConfig>(file);
        let Some(raw) = raw else { return Err(Diagnostics::sorted(problems)) };
        let reading = validate::Reading { env, env_names, secrets, pruned };
        let (config, mut found) = validate::validate(file, raw, &reading);
        problems.append(&mut found);
        match config {
            Some(mut c) if !problems.iter().any(Diagnostic::is_error) => {
                c.warnings = Diagnostics::sorted(std::mem::take(&mut c.warnings)).0;
                Ok(c)
            }
            _ => Err(Diagnostics::sorted(problems)),
        }
    }

    /// Loads a scenario that no schedule uses (for `once`).
    pub fn scenario(&self, id: &str) -> Result<Arc<Scenario>, Diagnostics> {
        if let Some(s) = self.scenarios.get(id) {
            return Ok(s.clone());
        }
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(Diagnostics(vec![Diagnostic::plain(format!(
                "`{id}` is not a scenario id (letters, digits, `-` and `_`)"
            ))]));
        }
        Scenario::load(&self.daemon.probes_dir, id).map(Arc::new).map_err(Diagnostics)
    }

    pub fn vendor(&self, id: &str) -> Option<&Vendor> {
        self.vendors.get(id)
    }

    /// The channel of a vendor by id or by kind.
    pub fn channel(&self, vendor: &str, channel: &str) -> Option<&ChannelSpec> {
        let v = self.vendors.get(vendor)?;
        v.channels.get(channel).or_else(|| v.channels.values().find(|c| c.kind.as_str() == channel))
    }

    /// The calendar a probe's business clock runs on: its promise's, or 24x7.
    pub fn promise(&self, vendor: &str, priority: Priority) -> Option<&Promise> {
        self.vendors.get(vendor)?.promises.get(&priority)
    }

    /// Every (vendor, channel kind, priority) a figure can be exported for:
    /// each channel of a vendor at each priority it has a promise for or a
    /// schedule sends. Their series exist from the first scrape.
    pub fn series_keys(&self) -> std::collections::BTreeSet<(String, String, Priority)> {
        let mut keys = std::collections::BTreeSet::new();
        for v in self.vendors.values() {
            for c in v.channels.values() {
                for priority in v.promises.keys() {
                    keys.insert((v.id.clone(), c.kind.as_str().to_string(), *priority));
                }
            }
        }
        for s in &self.schedules {
            for t in &s.targets {
                if let Some(c) = self.channel(&t.vendor, &t.channel) {
                    keys.insert((t.vendor.clone(), c.kind.as_str().to_string(), s.scenario.priority));
                }
            }
        }
        keys
    }

    /// Every configured promise target in seconds, for histogram buckets.
    pub fn promise_targets_secs(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .vendors
            .values()
            .flat_map(|v| v.promises.values())
            .flat_map(|p| p.targets.values())
            .map(|d| d.as_secs_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    }
}
