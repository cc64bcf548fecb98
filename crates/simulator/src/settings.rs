//! The simulator's own config schema: the `[simulator]` table of a config
//! file, read by this crate (the daemon's config ignores the table). Errors
//! are located in the same file, like the daemon's.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use supportprobe_core::calendar::Calendar;
use supportprobe_core::diag::{Diagnostic, Diagnostics, SourceFile, toml_diagnostic};
use supportprobe_core::duration::Dur;
use supportprobe_core::model::Priority;
use supportprobe_core::value::{DurRange, ListenAddr, Share};
use toml::Spanned;

use crate::{Lang, Profile};

/// The calendar simulated people work on when a vendor names none.
const ALWAYS: &str = "24x7";

/// The simulated vendors of one config file.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: std::net::SocketAddr,
    pub vendors: BTreeMap<String, Profile>,
}

/// The file as this crate reads it: only its `[simulator]` table.
#[derive(Debug, Deserialize)]
struct Document {
    simulator: Option<RawSimulator>,
}

impl Settings {
    /// The `[simulator]` table of `file`, if it has one; `calendars` are the
    /// file's calendars, which a vendor's `hours` name (`24x7` when unnamed).
    pub fn read(
        file: &SourceFile,
        calendars: &BTreeMap<String, Arc<Calendar>>,
    ) -> Result<Option<Settings>, Diagnostics> {
        let doc: Document = toml::from_str(&file.text).map_err(|e| Diagnostics(vec![toml_diagnostic(file, &e)]))?;
        let Some(rs) = doc.simulator else { return Ok(None) };
        let mut errors = Vec::new();
        let mut vendors = BTreeMap::new();
        for (id, rv) in rs.vendors {
            if !is_id(id.get_ref()) {
                errors.push(Diagnostic::at(
                    file,
                    id.span(),
                    "simulated vendor ids use letters, digits, `-` and `_` (they are URL path segments)",
                ));
                continue;
            }
            let hours = match &rv.hours {
                Some(name) => match calendars.get(name.get_ref()) {
                    Some(c) => Some(c.clone()),
                    None => {
                        errors.push(Diagnostic::at(
                            file,
                            name.span(),
                            format!("unknown calendar `{}` ({})", name.get_ref(), known(calendars.keys())),
                        ));
                        None
                    }
                },
                None => Some(calendars.get(ALWAYS).cloned().unwrap_or_else(|| Arc::new(Calendar::always(ALWAYS)))),
            };
            if let Some(hours) = hours {
                let id = id.get_ref().clone();
                match profile_from(&id, rv, hours) {
                    Ok(p) => {
                        vendors.insert(id, p);
                    }
                    Err(message) => errors.push(Diagnostic::in_file(file, message)),
                }
            }
        }
        if !errors.is_empty() {
            return Err(Diagnostics(errors));
        }
        Ok(Some(Settings { listen: rs.listen.0, vendors }))
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn known(names: impl Iterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = names.map(|n| n.as_ref().to_string()).collect();
    if v.is_empty() { "none defined".to_string() } else { format!("defined: {}", v.join(", ")) }
}

fn profile_from(id: &str, rv: RawSimVendor, hours: Arc<Calendar>) -> Result<Profile, String> {
    let language = match rv.language.as_str() {
        "zh" => Lang::Zh,
        "en" => Lang::En,
        other => return Err(format!("simulator.vendors.{id}.language: `{other}` is not `en` or `zh`")),
    };
    Ok(Profile {
        vendor: id.to_string(),
        token: rv.token,
        language,
        auto_ack: rv.auto_ack,
        bot_turns: rv.bot_turns,
        bot_delay: rv.bot_delay,
        human_delay: rv.human_delay,
        resolution_delay: rv.resolution_delay,
        never_answer: rv.never_answer.0,
        hours,
        on_call: rv.on_call,
        agents: if rv.agents.is_empty() { vec!["Alex Chen".into()] } else { rv.agents },
        handoff_share: rv.handoff_share.0,
        groups: rv.groups,
        rate_limit_per_minute: rv.rate_limit_per_minute,
        page_size: rv.page_size.clamp(1, 100),
        seed: rv.seed,
        faults: rv.faults,
        webhook: rv.webhook,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimulator {
    pub listen: ListenAddr,
    #[serde(default)]
    pub vendors: BTreeMap<Spanned<String>, RawSimVendor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimVendor {
    /// Credentials the simulated Zendesk accepts (any when absent).
    pub token: Option<String>,
    /// `en` or `zh`: the language of its canned replies.
    #[serde(default = "default_language")]
    pub language: String,
    /// Delay of the automatic acknowledgement; none when absent.
    pub auto_ack: Option<Dur>,
    #[serde(default)]
    pub bot_turns: u32,
    #[serde(default = "default_bot_delay")]
    pub bot_delay: Dur,
    pub human_delay: DurRange,
    /// Delay from the first human reply to solving the ticket; never solves when absent.
    pub resolution_delay: Option<DurRange>,
    #[serde(default)]
    pub never_answer: Share,
    /// Calendar its people work on (24x7 when absent).
    pub hours: Option<Spanned<String>>,
    /// Priorities answered outside `hours` too.
    #[serde(default)]
    pub on_call: Vec<Priority>,
    /// Names of its support engineers; replies rotate among them on handoff.
    #[serde(default)]
    pub agents: Vec<String>,
    #[serde(default)]
    pub handoff_share: Share,
    /// Group ids the ticket is with (Zendesk and Freshdesk `group_id`): the
    /// first from the start, the second from a handoff on (first line, then engineers).
    #[serde(default)]
    pub groups: Vec<u64>,
    pub rate_limit_per_minute: Option<u32>,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default)]
    pub seed: u64,
    /// Faults to inject (see `simulator::faults`).
    #[serde(default)]
    pub faults: crate::faults::FaultPlan,
    /// Send the platform's signed webhook here whenever a simulated person
    /// (or bot) writes, as the real platform would.
    pub webhook: Option<RawSimWebhook>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimWebhook {
    /// The daemon's endpoint, e.g. `http://127.0.0.1:9897/webhooks/acme/tickets`.
    pub url: String,
    /// The signing secret (the channel's `webhook_secret`).
    pub secret: String,
}

fn default_language() -> String {
    "en".into()
}
fn default_bot_delay() -> Dur {
    Dur::from_secs(5)
}
fn default_page_size() -> u32 {
    100
}
