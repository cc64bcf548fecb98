//! Serde mirror of the config file. Every table denies unknown keys; every
//! value that can be checked alone is a validated newtype, so the TOML parser
//! reports it with its location. See the README's configuration reference.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::classify::ClassifyOverrides;
use crate::duration::Dur;
use crate::model::Priority;
pub use crate::value::{ListenAddr, Share};
pub use supportprobe_channels::RawChannel;
pub use supportprobe_channels::check::{HttpUrl, yes};
pub use supportprobe_channels::email::config::{SmtpTls, default_tls};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub calendars: BTreeMap<Spanned<String>, RawCalendar>,
    #[serde(default)]
    pub vendors: BTreeMap<Spanned<String>, RawVendor>,
    #[serde(default)]
    pub schedules: Vec<RawSchedule>,
    /// The simulated vendors' table: read by the simulator's own schema
    /// (`supportprobe-simulator`), not by the daemon's.
    pub simulator: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub notify: BTreeMap<Spanned<String>, Spanned<RawNotify>>,
    #[serde(default)]
    pub scorecard: RawScorecard,
}

/// How the scorecard grades (`[scorecard]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScorecard {
    /// Within promise at least this share: `excellent` (default: half the misses the vendor's target allows).
    pub excellent: Option<Share>,
    /// At least this share: `acceptable` (default: the vendor's `compliance_target`).
    pub acceptable: Option<Share>,
    /// Fewer judged probes than this: `insufficient_data` (default 5).
    pub min_judged: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    #[serde(default = "default_listen")]
    pub listen: ListenAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "default_probes_dir")]
    pub probes_dir: PathBuf,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default = "default_misfire_grace")]
    pub misfire_grace: Dur,
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: Dur,
    /// Bearer token required by the mutating HTTP endpoints (`POST /-/reload`).
    pub api_token: Option<Spanned<String>>,
    pub api_token_file: Option<Spanned<PathBuf>>,
}

impl Default for RawDaemon {
    fn default() -> Self {
        RawDaemon {
            listen: default_listen(),
            data_dir: default_data_dir(),
            probes_dir: default_probes_dir(),
            dry_run: false,
            misfire_grace: default_misfire_grace(),
            shutdown_grace: default_shutdown_grace(),
            api_token: None,
            api_token_file: None,
        }
    }
}

fn default_listen() -> ListenAddr {
    ListenAddr(SocketAddr::from(([127, 0, 0, 1], 9897)))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_probes_dir() -> PathBuf {
    PathBuf::from("probes")
}
fn default_misfire_grace() -> Dur {
    Dur::from_secs(300)
}
fn default_shutdown_grace() -> Dur {
    Dur::from_secs(10)
}

/// An IANA time zone name, checked on read.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct TzName(pub Tz);

impl TryFrom<String> for TzName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Tz::from_str(&s)
            .map(TzName)
            .map_err(|_| format!("unknown time zone `{s}` (expected an IANA name such as `Asia/Shanghai` or `UTC`)"))
    }
}

/// A 6- or 7-field cron expression (`sec min hour day month weekday [year]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct CronExpr {
    pub schedule: cron::Schedule,
    pub text: String,
}

impl TryFrom<String> for CronExpr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let fields = s.split_whitespace().count();
        if fields == 5 {
            return Err(format!(
                "cron `{s}` has 5 fields; supportprobe uses 6 (sec min hour day month weekday), e.g. `0 {s}`"
            ));
        }
        if !(6..=7).contains(&fields) {
            return Err(format!(
                "cron `{s}` has {fields} fields; expected 6 (sec min hour day month weekday) or 7 (with year)"
            ));
        }
        let schedule = cron::Schedule::from_str(&s).map_err(|e| format!("invalid cron `{s}`: {e}"))?;
        Ok(CronExpr { schedule, text: s })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    pub timezone: TzName,
    /// `mon-fri = "09:00-18:00"`; keys are weekday sets, values time ranges.
    #[serde(default)]
    pub weekly: BTreeMap<Spanned<String>, Spanned<String>>,
    /// A built-in set (`"cn"`), or a list of sets, dates and inclusive
    /// ranges: `["cn", "2026-12-24", "2026-10-01..2026-10-07"]`.
    #[serde(default)]
    pub holidays: Holidays,
    /// Make-up working days: `"2026-10-10" = "09:00-18:00"`.
    #[serde(default)]
    pub workdays: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVendor {
    pub name: Option<String>,
    #[serde(default)]
    pub promise: BTreeMap<Priority, RawPromise>,
    #[serde(default)]
    pub channels: BTreeMap<Spanned<String>, Spanned<RawChannel>>,
    #[serde(default)]
    pub caps: RawCaps,
    #[serde(default)]
    pub classify: ClassifyOverrides,
    /// The vendor's technical responders: the first to answer is the escalation.
    #[serde(default)]
    pub engineers: supportprobe_core::communication::Engineers,
    /// Share of judged measures that should meet the promise (the compliance alert's threshold).
    pub compliance_target: Option<Share>,
    /// The vendor's API limit, all its channels together (requests per minute).
    pub rate_limit_per_minute: Option<Spanned<u32>>,
    /// Vendors naming the same budget share one (e.g. several repositories read with our one token).
    pub rate_budget: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPromise {
    pub first_response: Option<Dur>,
    pub next_reply: Option<Dur>,
    pub resolution: Option<Dur>,
    /// Periodic update: the longest silence while answered and unresolved.
    pub update_interval: Option<Dur>,
    pub calendar: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaps {
    pub max_open: Option<u32>,
    pub max_per_day: Option<u32>,
    #[serde(default)]
    pub paused: bool,
    /// Time zone for `quiet` and `quiet_weekly` (default UTC).
    pub timezone: Option<TzName>,
    /// `"2026-12-24..2026-12-26"` (whole days) or `"2026-12-24T18:00..2026-12-25T09:00"`.
    #[serde(default)]
    pub quiet: Vec<Spanned<String>>,
    #[serde(default)]
    pub quiet_weekly: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub scenario: Spanned<String>,
    /// Vendor ids, or `["*"]` for all.
    pub vendors: Spanned<Vec<Spanned<String>>>,
    /// Channel ids or kinds; all channels of each vendor when absent.
    pub channels: Option<Vec<Spanned<String>>>,
    /// Read as text and parsed when references are checked, so a bad cron
    /// does not take its schedule's references out of the check.
    pub cron: Spanned<String>,
    pub timezone: Option<TzName>,
    pub jitter: Option<Dur>,
    pub give_up_after: Option<Dur>,
    pub follow_up_delay: Option<Dur>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A notification target: filters plus exactly one kind table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// Events to send (all when empty).
    #[serde(default)]
    pub events: Vec<crate::model::NotifyEvent>,
    /// Vendors to send about (all when empty).
    #[serde(default)]
    pub vendors: Vec<Spanned<String>>,
    /// Priorities to send about (all when empty; channel events have no priority and always pass).
    #[serde(default)]
    pub priorities: Vec<Priority>,
    pub webhook: Option<RawWebhook>,
    pub slack: Option<RawUrlOnly>,
    pub feishu: Option<RawSigned>,
    pub dingtalk: Option<RawSigned>,
    pub wecom: Option<RawUrlOnly>,
    pub email: Option<Spanned<RawEmail>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// May hold `${VAR}`: webhook URLs often carry a token.
    pub url: Spanned<String>,
    /// Extra headers, e.g. `{ Authorization = "Bearer ${HOOK_TOKEN}" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUrlOnly {
    pub url: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigned {
    pub url: Spanned<String>,
    /// The group bot's signing secret, when signature checking is on.
    pub secret: Option<Spanned<String>>,
    pub secret_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    /// PEM CA certificates trusted besides the system's (a private CA).
    pub ca_file: Option<Spanned<PathBuf>>,
    pub from: Spanned<String>,
    pub to: Vec<Spanned<String>>,
}

/// `holidays = "cn"` or `holidays = ["cn", "2026-12-24"]`: one entry or a
/// list, each entry keeping its place in the file.
#[derive(Debug, Default)]
pub struct Holidays(pub Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for Holidays {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Holidays, D::Error> {
        // A lone string keeps the span of the whole value.
        let whole = Spanned::<HolidaysValue>::deserialize(d)?;
        let span = whole.span();
        Ok(Holidays(match whole.into_inner() {
            HolidaysValue::One(s) => vec![Spanned::new(span, s)],
            HolidaysValue::Many(v) => v,
        }))
    }
}

/// The two shapes `holidays` takes, before spans are attached.
enum HolidaysValue {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for HolidaysValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HolidaysValue, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = HolidaysValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a holiday set name (`\"cn\"`) or a list of set names, dates and ranges")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HolidaysValue, E> {
                Ok(HolidaysValue::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<HolidaysValue, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Spanned<String>>()? {
                    out.push(v);
                }
                Ok(HolidaysValue::Many(out))
            }
        }
        d.deserialize_any(Visit)
    }
}
