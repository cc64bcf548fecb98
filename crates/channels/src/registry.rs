//! The one place every channel kind is registered: a line per kind below
//! gives its config table (`RawChannel`), its settings (`ChannelSettings`),
//! its adapter (`AnyChannel` and every delegating `match`), its check and the
//! line `check` prints. Each kind's folder holds the rest.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use supportprobe_core::duration::Dur;
use supportprobe_core::secret::{Secret, SecretSource};
use toml::Spanned;

use crate::budget::Budget;
use crate::check::{Checker, exactly_one_kind, secret_from};
use crate::{Channel, ChannelError, OpenRequest, Snapshot, Ticket};

/// One way to reach a vendor's support.
#[derive(Clone, Debug)]
pub struct ChannelSpec {
    /// The user's name for it (`tickets`), unique within the vendor.
    pub id: String,
    pub kind: ChannelKind,
    /// How often each open probe is polled.
    pub poll_interval: Dur,
    /// The least time between two requests to this channel, whatever the number of open probes.
    pub min_request_interval: Dur,
    /// Per-request timeout.
    pub timeout: Dur,
    /// The secret the platform signs its webhooks with, when webhooks are set up.
    pub webhook_secret: Option<Secret>,
    /// Where the webhook secret comes from (for `check`).
    pub webhook_secret_source: Option<SecretSource>,
    pub settings: ChannelSettings,
}

macro_rules! registry {
    ($($Variant:ident => $module:ident::$Adapter:ident($Settings:ident, $Raw:ident)),* $(,)?) => {
        /// A kind of support channel. Its name (the folder's) is the config
        /// table's name and the `channel` metric label.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ChannelKind {
            $($Variant,)*
        }

        impl ChannelKind {
            pub const ALL: &'static [ChannelKind] = &[$(ChannelKind::$Variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ChannelKind::$Variant => stringify!($module),)*
                }
            }

            /// Whether what a probe posts there is public (a GitHub issue on the vendor's repository).
            pub fn is_public(self) -> bool {
                self.as_str() == "github"
            }
        }

        /// A channel table: shared settings plus exactly one kind table.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawChannel {
            pub poll_interval: Option<Dur>,
            pub min_request_interval: Option<Dur>,
            pub timeout: Option<Dur>,
            /// The platform's webhook signing secret: replies are noticed at once.
            pub webhook_secret: Option<Spanned<String>>,
            pub webhook_secret_file: Option<Spanned<PathBuf>>,
            $(pub $module: Option<Spanned<crate::$module::config::$Raw>>,)*
        }

        /// A channel kind's settings, as checked.
        #[derive(Clone, Debug)]
        pub enum ChannelSettings {
            $($Variant(Box<crate::$module::config::$Settings>),)*
        }

        impl ChannelSettings {
            /// How `check` shows the channel (secrets only as where they come from).
            pub fn describe(&self) -> String {
                match self {
                    $(ChannelSettings::$Variant(s) => s.describe(),)*
                }
            }
        }

        /// The one kind table of a channel table, checked.
        fn kind_from(cx: &mut Checker<'_>, vendor: &str, id: &Spanned<String>, c: &RawChannel) -> Option<(ChannelKind, ChannelSettings)> {
            let present = [$(c.$module.as_ref().map(|_| stringify!($module)),)*];
            let example = format!("[vendors.{vendor}.channels.{}.zendesk]", id.get_ref());
            let all: Vec<&str> = ChannelKind::ALL.iter().map(|k| k.as_str()).collect();
            if !exactly_one_kind(cx, id, "channel", &present, &example, &all) {
                return None;
            }
            $(if let Some(t) = &c.$module {
                return crate::$module::config::from_raw(cx, t)
                    .map(|s| (ChannelKind::$Variant, ChannelSettings::$Variant(Box::new(s))));
            })*
            None
        }

        /// What the platform of a channel kind imposes and offers (its folder's `PLATFORM`).
        pub fn platform(kind: ChannelKind) -> &'static crate::Platform {
            match kind {
                $(ChannelKind::$Variant => &crate::$module::PLATFORM,)*
            }
        }

        /// Every adapter, built from config by [`build`].
        #[derive(Debug)]
        pub enum AnyChannel {
            $($Variant(Box<crate::$module::$Adapter>),)*
        }

        /// Builds the adapter for a configured channel; its HTTP requests draw on `budgets`.
        pub fn build(spec: &ChannelSpec, budgets: Vec<Arc<Budget>>) -> Result<AnyChannel, ChannelError> {
            let http = crate::client::Http::new(spec.timeout.std())?.with_budgets(budgets);
            Ok(match &spec.settings {
                $(ChannelSettings::$Variant(s) => {
                    AnyChannel::$Variant(Box::new(crate::$module::build(http, s, spec.timeout.std())?))
                })*
            })
        }

        impl Channel for AnyChannel {
            fn kind(&self) -> ChannelKind {
                match self { $(AnyChannel::$Variant(c) => c.kind(),)* }
            }

            fn drain_problems(&self) -> Vec<(&'static str, String)> {
                match self { $(AnyChannel::$Variant(c) => c.drain_problems(),)* }
            }

            fn requests_sent(&self) -> u64 {
                match self { $(AnyChannel::$Variant(c) => c.requests_sent(),)* }
            }

            fn identity(&self) -> Vec<String> {
                match self { $(AnyChannel::$Variant(c) => c.identity(),)* }
            }

            async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
                match self { $(AnyChannel::$Variant(c) => c.open(req).await,)* }
            }

            async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
                match self { $(AnyChannel::$Variant(c) => c.find(reference).await,)* }
            }

            async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
                match self { $(AnyChannel::$Variant(c) => c.poll(ticket).await,)* }
            }

            async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
                match self { $(AnyChannel::$Variant(c) => c.reply(ticket, body).await,)* }
            }

            async fn close(&self, ticket: &str, body: Option<&str>, solve: bool) -> Result<(), ChannelError> {
                match self { $(AnyChannel::$Variant(c) => c.close(ticket, body, solve).await,)* }
            }
        }
    };
}

// The registry: one line per channel kind, `Kind => folder::Adapter(Settings, RawTable)`;
// the folder's name is the kind's name in config, metrics and the store.
registry! {
    Zendesk => zendesk::ZendeskChannel(ZendeskSettings, RawZendesk),
    Email => email::EmailChannel(EmailSettings, RawEmailChannel),
    Rt => rt::RtChannel(RtSettings, RawRt),
    Github => github::GithubChannel(GithubSettings, RawGithub),
    Manual => manual::ManualChannel(ManualSettings, RawManual),
    Freshdesk => freshdesk::FreshdeskChannel(FreshdeskSettings, RawFreshdesk),
    JiraSm => jira_sm::JiraSmChannel(JiraSmSettings, RawJiraSm),
    Slack => slack::SlackChannel(SlackSettings, RawSlackChannel),
    Intercom => intercom::IntercomChannel(IntercomSettings, RawIntercom),
    Feishu => feishu::FeishuChannel(FeishuSettings, RawFeishuChannel),
    Http => http::GenericChannel(GenericSettings, RawGeneric),
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChannelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ChannelKind::ALL.iter().copied().find(|k| k.as_str() == s).ok_or_else(|| {
            let all: Vec<&str> = ChannelKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown channelkind `{s}` (expected one of: {})", all.join(", "))
        })
    }
}

impl serde::Serialize for ChannelKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ChannelKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A channel table of vendor `vendor`, checked: its kind table and the settings every channel shares.
pub fn channel_from(
    cx: &mut Checker<'_>,
    vendor: &str,
    id: &Spanned<String>,
    rc: &Spanned<RawChannel>,
) -> Option<ChannelSpec> {
    let c = rc.get_ref();
    let (kind, settings) = kind_from(cx, vendor, id, c)?;
    let (webhook_secret, webhook_secret_source) =
        secret_from(cx, &c.webhook_secret, &c.webhook_secret_file, "webhook_secret").unzip();
    if webhook_secret.is_some() && !crate::webhook::supported(kind) {
        cx.err_span(rc.span(), format!("the {kind} channel takes no webhooks; remove `webhook_secret`"));
    }
    let poll_interval = c.poll_interval.unwrap_or(Dur::from_secs(60));
    if poll_interval < Dur::from_millis(100) {
        cx.err_span(rc.span(), "poll_interval must be at least 100ms");
    }
    Some(ChannelSpec {
        id: id.get_ref().clone(),
        kind,
        poll_interval,
        min_request_interval: c.min_request_interval.unwrap_or(Dur::from_secs(1)),
        timeout: c.timeout.unwrap_or(Dur::from_secs(30)),
        webhook_secret,
        webhook_secret_source,
        settings,
    })
}
