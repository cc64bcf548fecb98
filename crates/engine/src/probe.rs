//! From a probe's stored events to its state and judged figures: the glue
//! between the store and the pure `lifecycle` and `sla` modules.

use crate::config::Config;
use crate::lifecycle::{self, Derived, Event, Ts};
use crate::model::{Measure, ReplyClass};
use crate::sla::{self, MeasureRow, PromiseView, Verdict};
use crate::store::{NewEvent, Probe, ProbeFigures, Store, StoreError, StoredEvent};

/// Event kinds in the store.
pub mod kind {
    pub const OPEN_INTENT: &str = "open_intent";
    pub const OPENED: &str = "opened";
    pub const OPEN_FAILED: &str = "open_failed";
    pub const REPLY: &str = "reply";
    pub const FOLLOW_UP_INTENT: &str = "follow_up_intent";
    /// Our follow-up as the channel shows it (channel clock).
    pub const FOLLOW_UP: &str = "follow_up";
    /// Our follow-up as we sent it (our clock), until the channel shows it.
    pub const FOLLOW_UP_SENT: &str = "follow_up_sent";
    pub const VENDOR_RESOLVED: &str = "vendor_resolved";
    pub const MANUAL_RESOLVED: &str = "manual_resolved";
    pub const BREACH: &str = "breach";
    pub const EXPIRED: &str = "expired";
    pub const CLOSE_INTENT: &str = "close_intent";
    pub const CLOSED: &str = "closed";
    pub const SKIPPED: &str = "skipped";
    /// The ticket disappeared at the vendor, or its id now names someone else's.
    pub const LOST: &str = "lost";
}

fn seq_of(e: &StoredEvent) -> Option<u32> {
    e.detail.get("seq").and_then(serde_json::Value::as_u64).and_then(|s| u32::try_from(s).ok())
}

/// Maps stored events to lifecycle events, in the store's time order.
pub fn lifecycle_events(stored: &[StoredEvent]) -> Vec<Event> {
    let confirmed: Vec<u32> = stored.iter().filter(|e| e.kind == kind::FOLLOW_UP).filter_map(seq_of).collect();
    stored
        .iter()
        .filter_map(|e| match e.kind.as_str() {
            kind::OPEN_INTENT => Some(Event::OpenIntent),
            kind::OPENED => Some(Event::Opened { at: e.at }),
            kind::OPEN_FAILED => {
                Some(Event::OpenFailed { final_: e.detail.get("final").and_then(|v| v.as_bool()).unwrap_or(true) })
            }
            // A relayed comment seen before (a notification repeating it) is no new reply.
            kind::REPLY if e.detail.get("repeat_of").is_some_and(|r| !r.is_null()) => None,
            // A person overrode the measured first human response (`record --force`).
            kind::REPLY if e.detail.get("forced").and_then(|v| v.as_bool()) == Some(true) => {
                Some(Event::HumanOverride { at: e.at, author: e.author.clone().unwrap_or_default() })
            }
            kind::REPLY => Some(Event::Reply {
                at: e.at,
                class: e.class.unwrap_or(ReplyClass::Human),
                author: e.author.clone().unwrap_or_default(),
                resolves: e.detail.get("resolves").and_then(|v| v.as_bool()).unwrap_or(false),
            }),
            kind::FOLLOW_UP => seq_of(e).map(|seq| Event::FollowUp { seq, at: e.at }),
            // Our own clock, only until the channel's timestamp for it is known.
            kind::FOLLOW_UP_SENT => {
                seq_of(e).filter(|s| !confirmed.contains(s)).map(|seq| Event::FollowUp { seq, at: e.at })
            }
            kind::VENDOR_RESOLVED => Some(Event::VendorResolved { at: e.at }),
            kind::MANUAL_RESOLVED => Some(Event::ManualResolved { at: e.at }),
            kind::EXPIRED => Some(Event::Expired { at: e.at }),
            kind::CLOSED => Some(Event::Closed { at: e.at }),
            kind::SKIPPED => Some(Event::Skipped),
            kind::LOST => Some(Event::Lost),
            _ => None,
        })
        .collect()
}

/// A probe's derived view and judged measures.
#[derive(Clone, Debug, PartialEq)]
pub struct Refreshed {
    pub derived: Derived,
    pub rows: Vec<MeasureRow>,
    pub events: Vec<StoredEvent>,
}

impl Refreshed {
    pub fn has(&self, key: &str) -> bool {
        self.events.iter().any(|e| e.key == key)
    }

    /// The latest event of a kind whose key starts with `prefix`.
    pub fn latest(&self, prefix: &str) -> Option<&StoredEvent> {
        self.events.iter().filter(|e| e.key.starts_with(prefix)).max_by_key(|e| e.id)
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.events.iter().filter(|e| e.key.starts_with(prefix)).count()
    }

    /// Breached measures, e.g. `["first_response", "next_reply"]` (promise names).
    pub fn breaches(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> =
            self.rows.iter().filter(|r| r.verdict == Verdict::Breached).map(|r| promise_name(r.measure)).collect();
        v.dedup();
        v
    }
}

/// The promise a measure is judged by, as named in config and metrics.
pub fn promise_name(m: Measure) -> &'static str {
    m.promise().as_str()
}

/// A judged measure as the store holds it, for "did anything change?".
#[derive(Clone, Debug, PartialEq)]
pub struct SavedRow {
    measure: Measure,
    seq: u32,
    wall_secs: Option<f64>,
    business_secs: Option<f64>,
    target_secs: Option<f64>,
    deadline: Option<Ts>,
    verdict: crate::sla::Verdict,
}

impl SavedRow {
    fn stored(m: &crate::store::StoredMeasure) -> SavedRow {
        SavedRow {
            measure: m.measure,
            seq: m.seq,
            wall_secs: m.wall_secs,
            business_secs: m.business_secs,
            target_secs: m.target_secs,
            deadline: m.deadline,
            verdict: m.verdict,
        }
    }

    /// What the store holds after saving `r` over `before` (a recorded breach stays breached).
    fn after_save(r: &MeasureRow, before: Option<&SavedRow>) -> SavedRow {
        let sticky = before.is_some_and(|b| b.verdict == Verdict::Breached);
        SavedRow {
            measure: r.measure,
            seq: r.seq,
            wall_secs: r.wall_secs,
            business_secs: r.business_secs,
            target_secs: r.target.map(|d| d.as_secs_f64()),
            deadline: r.deadline,
            verdict: if sticky { Verdict::Breached } else { r.verdict },
        }
    }
}

/// The stored rows after saving `rows`, or `None` when saving would change
/// nothing. Compared by (measure, seq), whatever order either side is in.
fn rows_after_save(saved: &[SavedRow], rows: &[MeasureRow]) -> Option<Vec<SavedRow>> {
    let find = |r: &MeasureRow| saved.iter().find(|s| (s.measure, s.seq) == (r.measure, r.seq));
    let mut after: Vec<SavedRow> = rows.iter().map(|r| SavedRow::after_save(r, find(r))).collect();
    let same = after.iter().all(|a| find_row(saved, a) == Some(a));
    // Rows the store has that are no longer derived stay there (saving never deletes).
    after.extend(saved.iter().filter(|s| find_row(&after, s).is_none()).cloned().collect::<Vec<_>>());
    (!same).then_some(after)
}

fn find_row<'a>(rows: &'a [SavedRow], a: &SavedRow) -> Option<&'a SavedRow> {
    rows.iter().find(|s| (s.measure, s.seq) == (a.measure, a.seq))
}

/// Recomputes a probe from its events, records any new breach, and saves
/// the derived columns and measures when they changed.
pub fn refresh(config: &Config, store: &Store, p: &Probe, now: Ts) -> Result<(Refreshed, Vec<MeasureRow>), StoreError> {
    refresh_cached(config, store, p, now, &mut None)
}

/// [`refresh`], with the probe's stored measures as the caller last saw them
/// (`None`: read them from the store); `saved` is kept up to date.
pub fn refresh_cached(
    config: &Config,
    store: &Store,
    p: &Probe,
    now: Ts,
    saved: &mut Option<Vec<SavedRow>>,
) -> Result<(Refreshed, Vec<MeasureRow>), StoreError> {
    let events = store.events(p.id)?;
    let derived = lifecycle::derive(&lifecycle_events(&events));
    let promise = config.promise(&p.vendor, p.priority);
    let view = promise.map(|pr| PromiseView {
        first_response: pr.targets.get(&crate::model::PromiseMeasure::FirstResponse).copied(),
        next_reply: pr.targets.get(&crate::model::PromiseMeasure::NextReply).copied(),
        resolution: pr.targets.get(&crate::model::PromiseMeasure::Resolution).copied(),
        update_interval: pr.targets.get(&crate::model::PromiseMeasure::UpdateInterval).copied(),
        calendar: &pr.calendar,
    });
    let always = crate::calendar::Calendar::always("24x7");
    let known_until = p.known_until.or(derived.opened_at).unwrap_or(now);
    let rows = sla::measures(&derived, view.as_ref(), &always, known_until);

    // A breach is recorded once, at the deadline, the moment it is known.
    let mut new_breaches = Vec::new();
    for r in rows.iter().filter(|r| r.verdict == Verdict::Breached) {
        let key = format!("{}:{}:{}", kind::BREACH, promise_name(r.measure), r.seq);
        if events.iter().any(|e| e.key == key) {
            continue;
        }
        let detail = serde_json::json!({
            "measure": promise_name(r.measure),
            "seq": r.seq,
            "target_secs": r.target.map(|d| d.as_secs_f64()),
            "reached_at": r.end.map(crate::store::ts),
        });
        let e = NewEvent { kind: kind::BREACH, key: &key, at: r.deadline, detail: Some(detail), ..Default::default() };
        if store.append(p.id, &e, now)? {
            new_breaches.push(r.clone());
        }
    }
    // Notifications: a breach while waiting now; its final figure when it has one. A manual
    // run outside the POC's figures (`once` without `--count`) tells nobody of its breaches.
    if !config.notify.is_empty() && p.counted {
        let finished = derived.finished();
        for r in rows.iter().filter(|r| r.verdict == Verdict::Breached) {
            let final_ = r.end.is_some() || finished;
            let recorded_now = new_breaches.iter().any(|b| b.measure == r.measure && b.seq == r.seq);
            if recorded_now && !final_ {
                crate::outbox::enqueue(config, store, &crate::outbox::breach(config, p, r, false, now), now)?;
            }
            if final_ {
                let n = crate::outbox::breach(config, p, r, true, now);
                if !store.notification_exists(&n.id)? {
                    crate::outbox::enqueue(config, store, &n, now)?;
                }
            }
        }
    }
    // What the conversation showed beyond the timed figures.
    let none = supportprobe_core::communication::Engineers::default();
    let engineers = config.vendor(&p.vendor).map_or(&none, |v| &v.engineers);
    let conv = match derived.opened_at {
        Some(opened) => {
            supportprobe_core::communication::conversation(opened, &crate::store::turns(&events), engineers)
        }
        None => Default::default(),
    };
    let figures = ProbeFigures {
        state: Some(derived.state),
        outcome: derived.outcome(),
        opened_at: derived.opened_at,
        first_response_at: derived.first_response_at,
        first_human_response_at: derived.first_human_at,
        resolved_at: derived.resolved_at,
        resolved_by: derived.resolved_by.map(|r| r.as_str()),
        expired_at: derived.expired_at,
        closed_at: derived.closed_at,
        bot_turns: derived.bot_turns,
        responders: derived.responders,
        escalated_at: conv.escalation.at,
        diagnostics_at: conv.diagnostics.as_ref().map(|d| d.at),
        diagnostics_rule: conv.diagnostics.as_ref().map(|d| d.rule.clone()),
        reopened: conv.reopened,
        in_hours: derived.opened_at.map(|t| promise.map_or(&always, |pr| pr.calendar.as_ref()).is_open(t)),
    };
    let changed = p.state != derived.state
        || p.outcome != figures.outcome
        || p.opened_at != figures.opened_at
        || p.first_response_at != figures.first_response_at
        || p.first_human_response_at != figures.first_human_response_at
        || p.resolved_at != figures.resolved_at
        || p.expired_at != figures.expired_at
        || p.closed_at != figures.closed_at
        || p.bot_turns != figures.bot_turns
        || p.responders != figures.responders
        || p.resolved_by.as_deref() != figures.resolved_by
        || p.escalated_at != figures.escalated_at
        || p.diagnostics_at != figures.diagnostics_at
        || p.diagnostics_rule != figures.diagnostics_rule
        || p.reopened != figures.reopened
        || p.in_hours != figures.in_hours
        || !new_breaches.is_empty();
    let before = match saved.take() {
        Some(rows) => rows,
        None => store.measures_of(p.id)?.iter().map(SavedRow::stored).collect(),
    };
    let after = rows_after_save(&before, &rows);
    // Written only when the probe's state or figures changed: a look that found
    // nothing new writes nothing.
    if changed || after.is_some() {
        store.save_derived(p.id, &figures, &rows, now)?;
    }
    *saved = Some(after.unwrap_or(before));
    let events = if new_breaches.is_empty() { events } else { store.events(p.id)? };
    Ok((Refreshed { derived, rows, events }, new_breaches))
}
