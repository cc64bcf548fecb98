//! The `[vendors.VENDOR.channels.CHANNEL.manual]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use serde::Deserialize;
use toml::Spanned;

use crate::check::Checker;

/// A channel a person works: the phone hotline, the account manager.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManual {
    /// Whom to reach and how: `"+86 400 810 0000, option 2 (P0 hotline)"`.
    pub contact: String,
    /// What the operator should do besides saying the probe's text.
    pub instructions: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ManualSettings {
    pub contact: String,
    pub instructions: Option<String>,
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, table: &Spanned<RawManual>) -> Option<ManualSettings> {
    let m = table.get_ref();
    if m.contact.trim().is_empty() {
        cx.err(table, "manual: `contact` is empty (say whom to call or write to)");
    }
    Some(ManualSettings { contact: m.contact.clone(), instructions: m.instructions.clone() })
}

impl ManualSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let m = self;
        format!("by a person: {}", m.contact)
    }
}
