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
    #[error(
        "{reference} already has a first human response measured at {at} ({rule}); \
         recording another would overwrite a measured figure: use --force (API: \"force\": true) to override it"
    )]
    AlreadyMeasured { reference: String, at: String, rule: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The rule of a forced override of a measured first human response.
pub const FORCED_RULE: &str = "manual:human:forced";

/// Records `event` at `at` (now if absent) on the probe `reference`; returns a one-line summary.
///
/// Recording `human` on a probe whose channel already measured its first
/// human response is refused unless `force`: then the record overrides the
/// figure, and the override is kept as such (who, when, the old and the new
/// value) and shown by `probes`.
#[allow(clippy::too_many_arguments)]
pub fn record(
    config: &Config,
    store: &Store,
    reference: &str,
    event: RecordEvent,
    at: Option<Ts>,
    note: Option<&str>,
    by: &str,
    force: bool,
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
    let mut detail = serde_json::json!({ "by": by, "note": note, "recorded_at": now.to_rfc3339() });
    let mut forced_key = None;
    if event == RecordEvent::Human {
        let events = store.events(p.id)?;
        let measured = events
            .iter()
            .filter(|e| e.kind == kind::REPLY && e.class == Some(ReplyClass::Human))
            .filter(|e| e.detail.get("repeat_of").is_none_or(serde_json::Value::is_null))
            .min_by_key(|e| e.at);
        if let Some(m) = measured {
            let rule = m.rule.clone().unwrap_or_default();
            if !force {
                return Err(RecordError::AlreadyMeasured {
                    reference: reference.to_string(),
                    at: m.at.to_rfc3339(),
                    rule,
                });
            }
            let n = events.iter().filter(|e| e.rule.as_deref() == Some(FORCED_RULE)).count() + 1;
            forced_key = Some(format!("reply:manual:human:forced:{n}"));
            detail["forced"] = serde_json::json!(true);
            detail["replaces"] = serde_json::json!({
                "at": m.at.to_rfc3339(), "rule": rule, "message_id": m.detail.get("message_id"),
            });
        }
    }
    let e = match event {
        RecordEvent::Resolved => NewEvent {
            kind: kind::MANUAL_RESOLVED,
            key: kind::MANUAL_RESOLVED,
            at: Some(at),
            detail: Some(detail),
            ..Default::default()
        },
        RecordEvent::Answered | RecordEvent::Human => {
            let (class, key, rule) = if let Some(k) = &forced_key {
                (ReplyClass::Human, k.as_str(), FORCED_RULE)
            } else if event == RecordEvent::Human {
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

/// Records an evaluator's rating of a probe; returns the line to print.
pub fn rate(
    store: &Store,
    reference: &str,
    by: &str,
    rating: crate::store::Rating,
    now: Ts,
) -> Result<String, RecordError> {
    let p = store.probe_by_reference(reference)?.ok_or_else(|| RecordError::UnknownProbe(reference.to_string()))?;
    let rating = rating.checked().map_err(RecordError::Invalid)?;
    if by.trim().is_empty() || by.chars().count() > 200 {
        return Err(RecordError::Invalid("the rater's name must be 1 to 200 characters".into()));
    }
    store.add_rating(p.id, by, &rating, now)?;
    let current = crate::store::ratings_in(&store.events(p.id)?).into_iter().filter(|r| !r.replaced).count();
    Ok(format!(
        "{reference}: rated {}/5{} by {by} ({current} rating{} now count)",
        rating.quality,
        rating.solved.map(|s| format!(", solved: {}", s.as_str())).unwrap_or_default(),
        if current == 1 { "" } else { "s" }
    ))
}
