//! What a person records about a probe: the phone hotline's answer, the
//! account manager's reply, a resolution confirmed outside any channel. Used
//! by `supportprobe record` and by `POST /api/v1/probes/{reference}/events`.

use chrono::Utc;

use crate::config::Config;
use crate::engine::probe::{kind, refresh};
use crate::lifecycle::Ts;
use crate::model::ReplyClass;
use crate::store::{NewEvent, Store};

/// What happened, as an operator reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordEvent {
    /// The vendor's line or channel answered — by a machine, a queue message
    /// or a bot: a first response, not a person.
    Answered,
    /// A person from the vendor answered: the first human response.
    Human,
    /// The vendor resolved the problem.
    Resolved,
}

impl RecordEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordEvent::Answered => "answered",
            RecordEvent::Human => "human",
            RecordEvent::Resolved => "resolved",
        }
    }
}

/// Why a record was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no probe with reference {0}")]
    UnknownProbe(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{reference} already has a recorded `{event}`")]
    Duplicate { reference: String, event: &'static str },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Records `event` at `at` (now if absent) on the probe `reference`; returns a one-line summary.
pub fn record(
    config: &Config,
    store: &Store,
    reference: &str,
    event: RecordEvent,
    at: Option<Ts>,
    note: Option<&str>,
    by: &str,
) -> Result<String, RecordError> {
    let p = store.probe_by_reference(reference)?.ok_or_else(|| RecordError::UnknownProbe(reference.to_string()))?;
    let now = Utc::now();
    let at = at.unwrap_or(now);
    if at > now + chrono::Duration::minutes(1) {
        return Err(RecordError::Invalid(format!("`at` {} is in the future", at.to_rfc3339())));
    }
    let Some(opened) = p.opened_at else {
        return Err(RecordError::Invalid(format!("{reference} has not been opened yet")));
    };
    if at < opened {
        return Err(RecordError::Invalid(format!(
            "`at` {} is before the probe was opened ({})",
            at.to_rfc3339(),
            opened.to_rfc3339()
        )));
    }
    let detail = serde_json::json!({ "by": by, "note": note, "recorded_at": now.to_rfc3339() });
    let e = match event {
        RecordEvent::Resolved => NewEvent {
            kind: kind::MANUAL_RESOLVED,
            key: kind::MANUAL_RESOLVED,
            at: Some(at),
            detail: Some(detail),
            ..Default::default()
        },
        RecordEvent::Answered | RecordEvent::Human => {
            let (class, key, rule) = if event == RecordEvent::Human {
                (ReplyClass::Human, "reply:manual:human", "manual:human")
            } else {
                (ReplyClass::AutoAck, "reply:manual:answered", "manual:answered")
            };
            NewEvent {
                kind: kind::REPLY,
                key,
                at: Some(at),
                class: Some(class),
                rule: Some(rule),
                author: Some(by),
                detail: Some(detail),
            }
        }
    };
    if !store.append(p.id, &e, now)? {
        return Err(RecordError::Duplicate { reference: reference.to_string(), event: event.as_str() });
    }
    let (r, _) = refresh(config, store, &p, now)?;
    Ok(format!("{reference}: {} at {} (state {})", event.as_str(), at.to_rfc3339(), r.derived.state))
}
