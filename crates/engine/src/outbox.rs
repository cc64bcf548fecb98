//! The outbox, as the engine writes it: a notification recorded at the
//! moment the engine records what it is about, with one pending delivery per
//! target whose filters match. Delivering them is the notifier's job
//! (`supportprobe::notify`); the engine never sends anything itself.

use supportprobe_store::Notification;

use crate::config::Config;
use crate::duration::human_secs;
use crate::lifecycle::Ts;
use crate::model::NotifyEvent;
use crate::store::{Probe, Store, StoreError};

fn vendor_name(config: &Config, vendor: &str) -> String {
    config.vendor(vendor).map_or_else(|| vendor.to_string(), |v| v.name.clone())
}

fn rfc(t: Ts) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A breach of a probe's promise: while waiting, or made final.
pub fn breach(config: &Config, p: &Probe, row: &crate::sla::MeasureRow, final_: bool, now: Ts) -> Notification {
    let measure = crate::probe::promise_name(row.measure);
    let name = vendor_name(config, &p.vendor);
    let promise = row.target.map(|d| d.secs()).unwrap_or_default();
    let calendar =
        config.promise(&p.vendor, p.priority).map_or_else(|| "24x7".to_string(), |pr| pr.calendar.name().to_string());
    let ticket = p.ticket_url.clone().or_else(|| p.ticket_id.clone()).unwrap_or_else(|| "-".into());
    let (event, summary, elapsed) = match (final_, row.end, row.wall_secs) {
        (false, _, _) => {
            let waited = (now - row.start).num_seconds();
            (
                NotifyEvent::UnansweredPastPromise,
                format!(
                    "{name} {} {measure} promise missed: no answer after {} (promised {})",
                    p.priority,
                    human_secs(waited),
                    human_secs(promise)
                ),
                Some(waited as f64),
            )
        }
        (true, Some(_), Some(took)) => (
            NotifyEvent::PromiseBreached,
            format!(
                "{name} {} {measure} took {} against a promise of {}",
                p.priority,
                human_secs(took as i64),
                human_secs(promise)
            ),
            Some(took),
        ),
        (true, _, _) => (
            NotifyEvent::PromiseBreached,
            format!("{name} {} {measure} promise missed: never reached before the probe ended", p.priority),
            None,
        ),
    };
    let deadline = row.deadline.map(rfc);
    let description = format!(
        "{name} promised {measure} within {} ({calendar} calendar) for {}. Deadline: {}. Probe {} (scenario {}), ticket {ticket} via {}.",
        human_secs(promise),
        p.priority,
        deadline.as_deref().unwrap_or("-"),
        p.reference,
        p.scenario,
        p.kind
    );
    let key = match event {
        NotifyEvent::UnansweredPastPromise => format!("unanswered:{}:{measure}:{}", p.reference, row.seq),
        _ => format!("breached:{}:{measure}:{}", p.reference, row.seq),
    };
    Notification {
        id: key,
        event,
        vendor: p.vendor.clone(),
        vendor_name: name,
        channel: p.kind.clone(),
        priority: Some(p.priority),
        measure: Some(measure.to_string()),
        promise_seconds: row.target.map(|d| d.as_secs_f64()),
        elapsed_seconds: elapsed,
        deadline,
        probe: Some(p.reference.clone()),
        ticket_id: p.ticket_id.clone(),
        ticket_url: p.ticket_url.clone(),
        scenario: Some(p.scenario.clone()),
        at: rfc(now),
        summary,
        description,
    }
}

/// A notification about one probe as a whole (no measure), named `EVENT:REF`.
fn about_probe(
    config: &Config,
    p: &Probe,
    event: NotifyEvent,
    now: Ts,
    summary: String,
    description: String,
) -> Notification {
    Notification {
        id: format!("{event}:{}", p.reference),
        event,
        vendor: p.vendor.clone(),
        vendor_name: vendor_name(config, &p.vendor),
        channel: p.kind.clone(),
        priority: Some(p.priority),
        measure: None,
        promise_seconds: None,
        elapsed_seconds: None,
        deadline: None,
        probe: Some(p.reference.clone()),
        ticket_id: p.ticket_id.clone(),
        ticket_url: p.ticket_url.clone(),
        scenario: Some(p.scenario.clone()),
        at: rfc(now),
        summary,
        description,
    }
}

/// A probe that could not be opened.
pub fn open_failed(config: &Config, p: &Probe, error: &str, now: Ts) -> Notification {
    let name = vendor_name(config, &p.vendor);
    about_probe(
        config,
        p,
        NotifyEvent::OpenFailed,
        now,
        format!("{name} {} probe {} could not be opened via {}", p.priority, p.reference, p.kind),
        format!(
            "After {} attempt(s) the {} channel refused the probe: {error}. Check the channel's credentials and the vendor's status; nothing was measured.",
            p.attempts, p.kind
        ),
    )
}

/// An opened probe ended without a figure: its ticket vanished at the vendor
/// or its id now names a ticket that is not ours.
pub fn probe_lost(config: &Config, p: &Probe, reason: &str, now: Ts) -> Notification {
    let name = vendor_name(config, &p.vendor);
    about_probe(
        config,
        p,
        NotifyEvent::ProbeLost,
        now,
        format!("{name} {} probe {} was lost at the vendor ({})", p.priority, p.reference, p.kind),
        format!(
            "{reason}. Polling stopped and nothing more will be sent to it; the probe ends as failed and what was measured before stays."
        ),
    )
}

/// A manual probe (phone hotline, account manager) is due: what to do and say.
pub fn manual_due(
    config: &Config,
    p: &Probe,
    m: &crate::channel::manual::ManualSettings,
    subject: &str,
    body: &str,
    now: Ts,
) -> Notification {
    let name = vendor_name(config, &p.vendor);
    let instructions = m.instructions.as_deref().map(|i| format!(" {i}")).unwrap_or_default();
    Notification {
        id: format!("manual_probe_due:{}", p.reference),
        event: NotifyEvent::ManualProbeDue,
        vendor: p.vendor.clone(),
        vendor_name: name.clone(),
        channel: p.kind.clone(),
        priority: Some(p.priority),
        measure: None,
        promise_seconds: None,
        elapsed_seconds: None,
        deadline: None,
        probe: Some(p.reference.clone()),
        ticket_id: Some(p.reference.clone()),
        ticket_url: None,
        scenario: Some(p.scenario.clone()),
        at: rfc(now),
        summary: format!("{name} {} manual probe {} is due now: contact {}", p.priority, p.reference, m.contact),
        description: format!(
            "Contact {}.{instructions} Say:\n\n{subject}\n\n{body}\n\nThen record what happened and when: \
             `supportprobe record {r} --event answered|human|resolved --at TIME --config CONFIG`, or \
             POST /api/v1/probes/{r}/events with {{\"event\": \"human\", \"at\": \"TIME\"}}. \
             Without a record the probe expires unanswered.",
            m.contact,
            r = p.reference
        ),
    }
}

/// A channel whose calls keep failing.
pub fn channel_failing(
    config: &Config,
    vendor: &str,
    kind: &str,
    since: Ts,
    failures: u32,
    error: &str,
) -> Notification {
    let name = vendor_name(config, vendor);
    Notification {
        id: format!("channel_failing:{vendor}:{kind}:{}", rfc(since)),
        event: NotifyEvent::ChannelFailing,
        vendor: vendor.to_string(),
        vendor_name: name.clone(),
        channel: kind.to_string(),
        priority: None,
        measure: None,
        promise_seconds: None,
        elapsed_seconds: None,
        deadline: None,
        probe: None,
        ticket_id: None,
        ticket_url: None,
        scenario: None,
        at: rfc(since),
        summary: format!("{name}: the {kind} channel is failing ({failures} failed calls in a row)"),
        description: format!(
            "Since {}, calls to {name}'s {kind} channel fail: {error}. Probes wait and retry; figures are not lost, but breaches cannot be confirmed until it recovers.",
            rfc(since)
        ),
    }
}

/// Records a notification with a delivery for every target that wants it.
/// Returns whether it was new.
pub fn enqueue(config: &Config, store: &Store, n: &Notification, now: Ts) -> Result<bool, StoreError> {
    let targets: Vec<&str> =
        config.notify.values().filter(|t| t.wants(n.event, &n.vendor, n.priority)).map(|t| t.name.as_str()).collect();
    if targets.is_empty() {
        return Ok(false);
    }
    let payload = serde_json::to_value(n).unwrap_or(serde_json::Value::Null);
    let row = crate::store::NewNotification {
        key: &n.id,
        event: n.event.as_str(),
        vendor: &n.vendor,
        priority: n.priority,
        payload: &payload,
    };
    let new = store.enqueue_notification(&row, &targets, now)?;
    if new {
        ENQUEUED.notify_one();
    }
    Ok(new)
}

/// Wakes the notifier when a notification is queued (it sleeps until the
/// next delivery is due otherwise).
pub static ENQUEUED: tokio::sync::Notify = tokio::sync::Notify::const_new();
