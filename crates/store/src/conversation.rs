//! A probe's stored events as the conversation reads them
//! (`core::communication`): our messages, the vendor's people, "solved".

use supportprobe_core::communication::{Turn, asks_for_diagnostics};
use supportprobe_core::model::ReplyClass;

use crate::StoredEvent;

/// The turns of a probe's conversation, in observation order. A relayed
/// comment seen before (a repeat) is not a new turn.
pub fn turns(events: &[StoredEvent]) -> Vec<Turn> {
    let text = |e: &StoredEvent, k: &str| e.detail.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    events
        .iter()
        .filter_map(|e| match e.kind.as_str() {
            "opened" | "follow_up" => Some(Turn::Ours { at: e.at }),
            "vendor_resolved" => Some(Turn::Solved { at: e.at }),
            "team" => Some(Turn::Team { at: e.at, team: text(e, "team") }),
            "reply" if e.class == Some(ReplyClass::Human) && e.detail.get("repeat_of").is_none_or(|r| r.is_null()) => {
                // Judged at ingest on the whole message; events from before that have only the excerpt.
                let diagnostics = match e.detail.get("asks_for_diagnostics") {
                    Some(v) => v.as_str().map(String::from),
                    None => asks_for_diagnostics(&text(e, "excerpt")).map(String::from),
                };
                Some(Turn::Human {
                    at: e.at,
                    id: e.author.clone().unwrap_or_default(),
                    name: text(e, "author_name"),
                    email: text(e, "author_email"),
                    diagnostics,
                })
            }
            _ => None,
        })
        .collect()
}
