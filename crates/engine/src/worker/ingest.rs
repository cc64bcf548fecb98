//! Ingest, pure: a snapshot of a ticket (and the events already recorded)
//! to the events it adds — our own follow-ups and close recognised by their
//! markers, every other message classified with its rule, a vendor's
//! "solved" when the scenario counts it. No store, no channel, no clock:
//! `now` comes in.

use std::collections::{HashMap, HashSet};

use crate::template::Pattern;
use serde_json::json;

use crate::channel::Snapshot;
use crate::classify::{AuthorKind, ClassifyOverrides, classify};
use crate::lifecycle::Ts;
use crate::model::ReplyClass;
use crate::probe::kind;
use crate::store::{NewEvent, StoredEvent};

use super::EXCERPT_CHARS;

/// What decides the events of one probe's snapshot.
pub(crate) struct Rules<'a> {
    /// The probe's reference: our follow-ups carry `[REF/fN]`, our close `[REF/close]`.
    pub reference: &'a str,
    pub overrides: &'a ClassifyOverrides,
    /// A human reply matching it resolves the probe (the scenario's resolution pattern).
    pub pattern: Option<&'a Pattern>,
    /// Whether the vendor marking the ticket solved resolves the probe.
    pub status_resolves: bool,
    /// Our names and addresses on the channel.
    pub ours: &'a [String],
}

/// An event found in a channel snapshot, owned until it is written.
pub(crate) struct Found {
    kind: &'static str,
    key: String,
    at: Ts,
    class: Option<ReplyClass>,
    rule: Option<String>,
    author: Option<String>,
    detail: serde_json::Value,
}

impl Found {
    pub(crate) fn new(kind: &'static str, key: String, at: Ts, detail: serde_json::Value) -> Found {
        Found { kind, key, at, class: None, rule: None, author: None, detail }
    }

    pub(crate) fn event(&self) -> NewEvent<'_> {
        NewEvent {
            kind: self.kind,
            key: &self.key,
            at: Some(self.at),
            class: self.class,
            rule: self.rule.as_deref(),
            author: self.author.as_deref(),
            detail: Some(self.detail.clone()),
        }
    }
}

/// The events `snap` adds to those already recorded (`events`), at `now`.
pub(crate) fn found(rules: &Rules<'_>, snap: &Snapshot, events: &[StoredEvent], now: Ts) -> Vec<Found> {
    let follow_marker = format!("[{}/f", rules.reference);
    let close_marker = format!("[{}/close]", rules.reference);
    // Relayed comments already recorded, by fingerprint: a platform relaying one again is not a new reply.
    let mut relayed: HashMap<String, String> = HashMap::new();
    // Messages already recorded are not classified again: the store keeps the first record of each.
    let mut recorded: HashSet<&str> = HashSet::new();
    for e in events.iter().filter(|e| e.kind == "team") {
        recorded.insert(e.key.as_str());
    }
    for e in events.iter().filter(|e| e.kind == kind::REPLY) {
        recorded.insert(e.key.as_str());
        if let (Some(fp), Some(id)) =
            (e.detail.get("fingerprint").and_then(|v| v.as_str()), e.detail.get("message_id").and_then(|v| v.as_str()))
        {
            relayed.entry(fp.to_string()).or_insert_with(|| id.to_string());
        }
    }
    let mut found: Vec<Found> = Vec::new();
    for m in &snap.messages {
        if m.author_kind == AuthorKind::Requester {
            // Our own follow-ups and close, recognised by their markers.
            let seq = m
                .body
                .rfind(&follow_marker)
                .and_then(|i| m.body[i + follow_marker.len()..].split(']').next())
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(seq) = seq {
                found.push(Found::new(
                    kind::FOLLOW_UP,
                    format!("{}:{seq}", kind::FOLLOW_UP),
                    m.at,
                    json!({ "seq": seq, "message_id": m.id }),
                ));
            } else if m.body.contains(&close_marker) {
                found.push(Found::new(
                    kind::CLOSED,
                    kind::CLOSED.to_string(),
                    m.at,
                    json!({ "note": "courtesy close seen in the channel" }),
                ));
            }
            continue;
        }
        let key = format!("{}:{}", kind::REPLY, m.id);
        if recorded.contains(key.as_str()) {
            continue;
        }
        // Everything else is recorded with its class and rule, bystanders and
        // our own words relayed back included: every decision is in the log.
        let c = classify(&m.facts(rules.ours), rules.overrides);
        let resolves = c.class == ReplyClass::Human && rules.pattern.is_some_and(|pat| pat.is_match(&c.judged));
        let excerpt: String = crate::redact::redact(&c.judged).chars().take(EXCERPT_CHARS).collect();
        let fingerprint = c.rule.starts_with("relay:").then(|| crate::classify::fingerprint(&m.author_name, &c.judged));
        let repeat_of = fingerprint.as_ref().and_then(|fp| {
            let first = relayed.entry(fp.clone()).or_insert_with(|| m.id.clone());
            (*first != m.id).then(|| first.clone())
        });
        let mut f = Found::new(
            kind::REPLY,
            key,
            m.at,
            json!({
                "message_id": m.id, "author_name": m.author_name, "author_email": m.author_email,
                "author_kind": m.author_kind.as_str(), "evidence": m.kind_evidence, "resolves": resolves,
                "excerpt": excerpt, "subject": m.subject, "matched_by": m.matched_by,
                "fingerprint": fingerprint, "repeat_of": repeat_of,
                // Judged on the whole message, not the excerpt: a request for logs,
                // versions or reproduction steps (the scorecard's "asked for diagnostics").
                "asks_for_diagnostics": (c.class == ReplyClass::Human)
                    .then(|| supportprobe_core::communication::asks_for_diagnostics(&c.judged))
                    .flatten(),
            }),
        );
        f.class = Some(c.class);
        f.rule = Some(c.rule);
        f.author = Some(m.author_id.clone());
        found.push(f);
    }
    // The team the ticket is with, once per team, timed when we first saw it
    // (our clock; the platform does not say when it moved): a move to an
    // engineers' team is an escalation.
    if let Some(team) = snap.team.as_deref().filter(|t| !t.is_empty()) {
        let key = format!("team:{team}");
        // Seen before: nothing to write (a poll that finds nothing new writes nothing).
        if !recorded.contains(key.as_str()) {
            found.push(Found::new("team", key, now, json!({ "team": team })));
        }
    }
    if snap.status.is_resolved() && rules.status_resolves {
        let at = snap.status_at.unwrap_or(now);
        found.push(Found::new(
            kind::VENDOR_RESOLVED,
            kind::VENDOR_RESOLVED.into(),
            at,
            json!({ "status": snap.status.as_str() }),
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Message, TicketStatus};

    fn at(s: &str) -> Ts {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn msg(id: &str, when: &str, kind: AuthorKind, name: &str, body: &str) -> Message {
        Message {
            id: id.into(),
            at: at(when),
            author_id: format!("u-{name}"),
            author_name: name.into(),
            author_email: None,
            author_kind: kind,
            kind_evidence: Some("role".into()),
            body: body.into(),
            headers: Vec::new(),
            parts: Vec::new(),
            subject: None,
            matched_by: None,
        }
    }

    fn snapshot(status: TicketStatus, messages: Vec<Message>) -> Snapshot {
        Snapshot { status, status_at: Some(at("2026-12-04T10:30:00Z")), messages, team: None }
    }

    fn recorded(key: &str) -> StoredEvent {
        StoredEvent {
            id: 1,
            kind: kind::REPLY.into(),
            key: key.into(),
            at: at("2026-12-04T09:05:00Z"),
            observed_at: at("2026-12-04T09:05:10Z"),
            class: Some(ReplyClass::AutoAck),
            rule: Some("auto_ack:subject".into()),
            author: None,
            detail: json!({ "message_id": "2" }),
        }
    }

    #[test]
    fn a_snapshot_becomes_our_markers_classified_replies_and_the_vendors_solved() {
        let overrides = ClassifyOverrides::default();
        let rules =
            Rules { reference: "SP-7Q2K", overrides: &overrides, pattern: None, status_resolves: true, ours: &[] };
        let snap = snapshot(
            TicketStatus::Solved,
            vec![
                msg("1", "2026-12-04T09:00:00Z", AuthorKind::Requester, "Us", "Our request [SP-7Q2K]"),
                msg(
                    "3",
                    "2026-12-04T09:40:00Z",
                    AuthorKind::Agent,
                    "Alex Chen",
                    "Hi, I checked the logs and found the cause: the TURN server was down.",
                ),
                msg("4", "2026-12-04T10:00:00Z", AuthorKind::Requester, "Us", "Any news? [SP-7Q2K/f1]"),
                msg("5", "2026-12-04T10:20:00Z", AuthorKind::Requester, "Us", "Thanks, closing. [SP-7Q2K/close]"),
            ],
        );
        let now = at("2026-12-04T11:00:00Z");
        let found = found(&rules, &snap, &[], now);
        let keys: Vec<(&str, &str, Ts)> = found.iter().map(|f| (f.kind, f.key.as_str(), f.at)).collect();
        assert_eq!(
            keys,
            [
                (kind::REPLY, "reply:3", at("2026-12-04T09:40:00Z")),
                (kind::FOLLOW_UP, "follow_up:1", at("2026-12-04T10:00:00Z")),
                (kind::CLOSED, "closed", at("2026-12-04T10:20:00Z")),
                (kind::VENDOR_RESOLVED, "vendor_resolved", at("2026-12-04T10:30:00Z")),
            ],
            "the opening message is ours and adds nothing; times are the platform's"
        );
        assert_eq!(found[0].class, Some(ReplyClass::Human));
        assert_eq!(found[0].author.as_deref(), Some("u-Alex Chen"));
        assert!(found[0].rule.as_deref().is_some_and(|r| r.starts_with("human")), "{:?}", found[0].rule);
        // "I checked the logs" is no request for them.
        assert!(found[0].detail["asks_for_diagnostics"].is_null(), "{}", found[0].detail);
    }

    #[test]
    fn the_ticket_s_team_and_a_request_for_diagnostics_are_recorded() {
        let overrides = ClassifyOverrides::default();
        let rules =
            Rules { reference: "SP-7Q2K", overrides: &overrides, pattern: None, status_resolves: true, ours: &[] };
        let mut snap = snapshot(
            TicketStatus::Open,
            vec![msg(
                "3",
                "2026-12-04T09:40:00Z",
                AuthorKind::Agent,
                "Li Wei",
                "麻烦提供一下客户端日志和 SDK 版本号。",
            )],
        );
        snap.team = Some("360004812".into());
        let now = at("2026-12-04T11:00:00Z");
        let found = found(&rules, &snap, &[], now);
        let team = found.iter().find(|f| f.kind == "team").expect("a team event");
        assert_eq!((team.key.as_str(), team.at), ("team:360004812", now), "timed when we saw it");
        // Seen before: nothing new to write.
        let seen = StoredEvent { kind: "team".into(), key: "team:360004812".into(), ..recorded("x") };
        assert!(super::found(&rules, &snap, &[seen], now).iter().all(|f| f.kind != "team"));
        let reply = found.iter().find(|f| f.kind == kind::REPLY).unwrap();
        assert_eq!(reply.detail["asks_for_diagnostics"], "diag:zh:logs");
    }

    #[test]
    fn recorded_messages_add_nothing_and_solved_counts_only_where_the_scenario_says() {
        let overrides = ClassifyOverrides::default();
        let rules =
            Rules { reference: "SP-7Q2K", overrides: &overrides, pattern: None, status_resolves: false, ours: &[] };
        let snap = snapshot(
            TicketStatus::Solved,
            vec![msg("2", "2026-12-04T09:05:00Z", AuthorKind::Automation, "Support", "We received your request")],
        );
        assert!(found(&rules, &snap, &[recorded("reply:2")], at("2026-12-04T11:00:00Z")).is_empty());
    }
}
