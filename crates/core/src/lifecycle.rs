//! The probe lifecycle, pure: a state machine over events, and the fold that
//! turns a probe's event log into its state and measured instants.
//!
//! ```text
//! scheduled → opening → open ──(auto_ack | bot)──→ acknowledged
//!                         │                            │
//!                         └──────(human reply)─────────┴→ answered → resolved → closed
//!    any waiting state ── give_up_after ──→ expired ── courtesy close ──→ closed
//!    opening ── create failed for good ──→ failed
//!    opened ── ticket gone at the vendor, or not ours any more ──→ failed
//!    scheduled ── cap, quiet period, pause or dry run ──→ skipped
//! ```
//!
//! The store keeps events; the state is always what this fold says, so a
//! crash can never leave the two disagreeing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::model::{Outcome, ReplyClass, State};

pub type Ts = DateTime<Utc>;

/// How a probe's resolution was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolvedBy {
    /// The vendor set the ticket solved or closed.
    Status,
    /// A human reply matched the scenario's resolution pattern.
    Pattern,
    /// A person recorded it.
    Manual,
}

impl ResolvedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ResolvedBy::Status => "status",
            ResolvedBy::Pattern => "pattern",
            ResolvedBy::Manual => "manual",
        }
    }
}

/// What happened to a probe, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// We are about to ask the channel to open the ticket.
    OpenIntent,
    /// The channel created it, at the channel's own time.
    Opened { at: Ts },
    /// Creating failed; `final_` when retries are exhausted or pointless.
    OpenFailed { final_: bool },
    /// A reply from the vendor side, classified. `resolves` when it matches
    /// an accepted resolution pattern.
    Reply { at: Ts, class: ReplyClass, author: String, resolves: bool },
    /// A person overrode the measured first human response: this instant is
    /// the first human response, whatever the channel showed.
    HumanOverride { at: Ts, author: String },
    /// A follow-up of ours reached the channel (`seq` from 1).
    FollowUp { seq: u32, at: Ts },
    /// The vendor resolved the ticket (status), accepted by the scenario.
    VendorResolved { at: Ts },
    /// A person marked the probe resolved.
    ManualResolved { at: Ts },
    /// `give_up_after` passed without resolution.
    Expired { at: Ts },
    /// The courtesy close ran.
    Closed { at: Ts },
    /// The probe was not sent (cap, quiet period, pause, dry run).
    Skipped,
    /// The ticket is gone at the vendor, or no longer ours (its id reused):
    /// nothing more can be measured or sent.
    Lost,
}

/// One state step. Events that do not apply to a state leave it unchanged,
/// so replaying a log with duplicates or late arrivals is safe.
pub fn transition(state: State, event: &Event) -> State {
    use State::*;
    match (state, event) {
        (Failed | Skipped | Closed, _) => state,
        (Scheduled, Event::OpenIntent) => Opening,
        (Scheduled, Event::Skipped) => Skipped,
        (Scheduled | Opening, Event::Opened { .. }) => Open,
        (Opening, Event::OpenFailed { final_: true }) => Failed,
        (Open, Event::Reply { class: ReplyClass::AutoAck | ReplyClass::Bot | ReplyClass::OutOfOffice, .. }) => {
            Acknowledged
        }
        (Open | Acknowledged, Event::Reply { class: ReplyClass::Human, resolves: false, .. }) => Answered,
        (Open | Acknowledged, Event::HumanOverride { .. }) => Answered,
        (Open | Acknowledged | Answered, Event::Reply { class: ReplyClass::Human, resolves: true, .. }) => Resolved,
        (Open | Acknowledged | Answered, Event::VendorResolved { .. } | Event::ManualResolved { .. }) => Resolved,
        (Open | Acknowledged | Answered, Event::Expired { .. }) => Expired,
        (Resolved | Expired, Event::Closed { .. }) => Closed,
        (Open | Acknowledged | Answered, Event::Lost) => Failed,
        _ => state,
    }
}

/// A follow-up of ours and the vendor's next human reply to it.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowUpTiming {
    pub seq: u32,
    pub sent_at: Ts,
    pub replied_at: Option<Ts>,
    /// It starts a cycle of its own: none of our earlier messages (the opening
    /// one included) was still waiting for a person when it was sent. A
    /// follow-up sent while an earlier message waits is measured with it, from
    /// the oldest unanswered message (Zendesk's "next reply" rule).
    pub starts_cycle: bool,
}

/// Everything the event log says about a probe.
#[derive(Clone, Debug, PartialEq)]
pub struct Derived {
    pub state: State,
    pub opened_at: Option<Ts>,
    /// First reply of any kind from the vendor side.
    pub first_response_at: Option<Ts>,
    pub first_human_at: Option<Ts>,
    /// Bot and auto-acknowledgement replies before the first human one.
    pub bot_turns: u32,
    /// Distinct human responders before resolution.
    pub responders: u32,
    pub follow_ups: Vec<FollowUpTiming>,
    pub resolved_at: Option<Ts>,
    pub resolved_by: Option<ResolvedBy>,
    pub expired_at: Option<Ts>,
    pub closed_at: Option<Ts>,
    pub last_human_at: Option<Ts>,
    /// The vendor's human messages by their time, up to the resolution: the
    /// updates whose gaps are the update interval.
    pub human_at: Vec<Ts>,
}

impl Derived {
    /// Handoffs: changes of hands among human responders.
    pub fn handoffs(&self) -> u32 {
        self.responders.saturating_sub(1)
    }

    /// The outcome once it is known (resolution, expiry, failure or skip).
    pub fn outcome(&self) -> Option<Outcome> {
        match (self.state, self.resolved_at, self.expired_at) {
            (State::Failed, _, _) => Some(Outcome::Failed),
            (State::Skipped, _, _) => Some(Outcome::Skipped),
            (_, Some(_), _) => Some(Outcome::Resolved),
            // Decided at expiry: a reply that arrives later does not change it.
            (_, None, Some(expired)) => Some(if self.first_human_at.is_some_and(|h| h <= expired) {
                Outcome::Unresolved
            } else {
                Outcome::Unanswered
            }),
            _ => None,
        }
    }

    /// Whether the probe stopped waiting on the vendor (resolved, expired or later).
    pub fn finished(&self) -> bool {
        self.resolved_at.is_some() || self.expired_at.is_some() || self.state.is_final()
    }
}

/// Folds a probe's events into its derived view.
///
/// The events come in the order they were *observed* (the store's sequence),
/// which is the order things happened from where we stand: the state machine
/// runs in that order. Vendor timestamps and ours are on different clocks, so
/// they only give the figures: the first response is the earliest reply, a
/// follow-up's answer the earliest human reply at or after it, and so on.
pub fn derive(events: &[Event]) -> Derived {
    let mut d = Derived {
        state: State::Scheduled,
        opened_at: None,
        first_response_at: None,
        first_human_at: None,
        bot_turns: 0,
        responders: 0,
        follow_ups: Vec::new(),
        resolved_at: None,
        resolved_by: None,
        expired_at: None,
        closed_at: None,
        last_human_at: None,
        human_at: Vec::new(),
    };
    // Replies by their own time: any from the vendor side, people (author), machines.
    let mut responses: Vec<Ts> = Vec::new();
    let mut humans: Vec<(Ts, &str)> = Vec::new();
    let mut machines: Vec<Ts> = Vec::new();
    let mut forced: Option<Ts> = None;
    for e in events {
        let before = d.state;
        d.state = transition(d.state, e);
        let waiting = before.is_active();
        match e {
            Event::Opened { at } if d.opened_at.is_none() => d.opened_at = Some(*at),
            Event::Reply { at, class, author, resolves } => {
                if matches!(class, ReplyClass::Ours | ReplyClass::Bounce | ReplyClass::Bystander) {
                    continue;
                }
                responses.push(*at);
                match class {
                    ReplyClass::Human => {
                        humans.push((*at, author.as_str()));
                        if *resolves && waiting && d.resolved_at.is_none() {
                            d.resolved_at = Some(*at);
                            d.resolved_by = Some(ResolvedBy::Pattern);
                        }
                    }
                    ReplyClass::Bot | ReplyClass::AutoAck => machines.push(*at),
                    _ => {}
                }
            }
            Event::HumanOverride { at, author } => {
                // The last override wins over what the channel measured (and over earlier overrides).
                forced = Some(*at);
                responses.push(*at);
                humans.push((*at, author.as_str()));
            }
            Event::FollowUp { seq, at } if !d.follow_ups.iter().any(|f| f.seq == *seq) => {
                d.follow_ups.push(FollowUpTiming { seq: *seq, sent_at: *at, replied_at: None, starts_cycle: true });
            }
            Event::VendorResolved { at } | Event::ManualResolved { at } if waiting && d.resolved_at.is_none() => {
                d.resolved_at = Some(*at);
                d.resolved_by = Some(if matches!(e, Event::VendorResolved { .. }) {
                    ResolvedBy::Status
                } else {
                    ResolvedBy::Manual
                });
            }
            Event::Expired { at } if waiting => d.expired_at = Some(*at),
            Event::Closed { at } if d.state == State::Closed && d.closed_at.is_none() => d.closed_at = Some(*at),
            _ => {}
        }
    }
    d.first_response_at = responses.iter().min().copied();
    d.first_human_at = forced.or_else(|| humans.iter().map(|(t, _)| *t).min());
    d.last_human_at = humans.iter().map(|(t, _)| *t).max();
    d.bot_turns = u32::try_from(machines.iter().filter(|t| d.first_human_at.is_none_or(|h| **t <= h)).count())
        .unwrap_or(u32::MAX);
    let responders: BTreeSet<&str> =
        humans.iter().filter(|(t, _)| d.resolved_at.is_none_or(|r| *t <= r)).map(|(_, a)| *a).collect();
    d.responders = u32::try_from(responders.len()).unwrap_or(u32::MAX);
    // A follow-up is answered by the first human reply at or after it; the vendor
    // solving the ticket answers whatever was still open.
    let solved = d.resolved_at.filter(|_| d.resolved_by == Some(ResolvedBy::Status));
    for f in &mut d.follow_ups {
        f.replied_at = humans.iter().map(|(t, _)| *t).chain(solved).filter(|t| *t >= f.sent_at).min();
    }
    // Cycles, by the oldest unanswered message: the opening one waits until the
    // first human response; a follow-up sent while an earlier one waits joins its cycle.
    d.follow_ups.sort_by_key(|f| (f.sent_at, f.seq));
    let mut waiting_until: Option<Option<Ts>> = Some(d.first_human_at);
    for f in &mut d.follow_ups {
        let earlier_waits = waiting_until.is_some_and(|until| until.is_none_or(|u| u > f.sent_at));
        f.starts_cycle = !earlier_waits;
        if f.starts_cycle {
            waiting_until = Some(f.replied_at);
        }
    }
    let mut human_at: Vec<Ts> =
        humans.iter().map(|(t, _)| *t).filter(|t| d.resolved_at.is_none_or(|r| *t <= r)).collect();
    human_at.sort();
    human_at.dedup();
    d.human_at = human_at;
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    fn t(secs: i64) -> Ts {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    fn reply(secs: i64, class: ReplyClass, author: &str) -> Event {
        Event::Reply { at: t(secs), class, author: author.into(), resolves: false }
    }

    #[test]
    fn transition_table() {
        let human = reply(0, ReplyClass::Human, "a");
        let resolving = Event::Reply { at: t(0), class: ReplyClass::Human, author: "a".into(), resolves: true };
        let ack = reply(0, ReplyClass::AutoAck, "s");
        let cases: Vec<(State, Event, State)> = vec![
            (Scheduled, Event::OpenIntent, Opening),
            (Scheduled, Event::Skipped, Skipped),
            (Opening, Event::Opened { at: t(0) }, Open),
            (Scheduled, Event::Opened { at: t(0) }, Open),
            (Opening, Event::OpenFailed { final_: false }, Opening),
            (Opening, Event::OpenFailed { final_: true }, Failed),
            (Open, ack.clone(), Acknowledged),
            (Open, reply(0, ReplyClass::Bot, "b"), Acknowledged),
            (Open, reply(0, ReplyClass::Bounce, "m"), Open),
            (Open, reply(0, ReplyClass::Ours, "me"), Open),
            (Open, human.clone(), Answered),
            (Acknowledged, human.clone(), Answered),
            (Answered, ack.clone(), Answered),
            (Acknowledged, resolving.clone(), Resolved),
            (Answered, Event::VendorResolved { at: t(0) }, Resolved),
            (Open, Event::ManualResolved { at: t(0) }, Resolved),
            (Acknowledged, Event::Expired { at: t(0) }, Expired),
            (Resolved, Event::Expired { at: t(0) }, Resolved),
            (Resolved, Event::Closed { at: t(0) }, Closed),
            (Expired, Event::Closed { at: t(0) }, Closed),
            (Answered, Event::Closed { at: t(0) }, Answered),
            (Closed, human.clone(), Closed),
            (Failed, Event::Opened { at: t(0) }, Failed),
            (Skipped, Event::OpenIntent, Skipped),
            (Expired, human, Expired),
            (Answered, Event::Lost, Failed),
            (Expired, Event::Lost, Expired),
            (Closed, Event::Lost, Closed),
            (Scheduled, Event::Lost, Scheduled),
        ];
        for (from, event, to) in cases {
            assert_eq!(transition(from, &event), to, "{from:?} + {event:?}");
        }
    }

    #[test]
    fn bot_loop_then_human_then_follow_up_and_handoff() {
        let events = vec![
            Event::OpenIntent,
            Event::Opened { at: t(0) },
            reply(5, ReplyClass::AutoAck, "system"),
            reply(60, ReplyClass::Bot, "Answer Bot"),
            reply(120, ReplyClass::Bot, "Answer Bot"),
            reply(900, ReplyClass::Human, "alex"),
            Event::FollowUp { seq: 1, at: t(1000) },
            reply(1100, ReplyClass::Bot, "Answer Bot"),
            reply(2800, ReplyClass::Human, "wang"),
            Event::VendorResolved { at: t(5000) },
            reply(5001, ReplyClass::Human, "carol"),
            Event::Closed { at: t(5100) },
        ];
        let d = derive(&events);
        assert_eq!(d.state, Closed);
        assert_eq!(d.opened_at, Some(t(0)));
        assert_eq!(d.first_response_at, Some(t(5)));
        assert_eq!(d.first_human_at, Some(t(900)));
        assert_eq!(d.bot_turns, 3, "bot turns count only before the first human");
        assert_eq!(d.responders, 2, "carol replied after resolution");
        assert_eq!(d.handoffs(), 1);
        assert_eq!(
            d.follow_ups,
            vec![FollowUpTiming { seq: 1, sent_at: t(1000), replied_at: Some(t(2800)), starts_cycle: true }]
        );
        assert_eq!(d.human_at.len(), 2, "the updates up to the resolution: {:?}", d.human_at);
        assert_eq!((d.resolved_at, d.resolved_by), (Some(t(5000)), Some(ResolvedBy::Status)));
        assert_eq!(d.outcome(), Some(Outcome::Resolved));
        assert_eq!(d.closed_at, Some(t(5100)));
    }

    #[test]
    fn never_answered_expires_as_unanswered() {
        let events = vec![
            Event::OpenIntent,
            Event::Opened { at: t(0) },
            reply(3, ReplyClass::AutoAck, "system"),
            Event::Expired { at: t(3600) },
            reply(4000, ReplyClass::Human, "late"),
        ];
        let d = derive(&events);
        assert_eq!(d.state, Expired);
        assert_eq!(d.first_human_at, Some(t(4000)), "a late reply is still recorded");
        assert_eq!(d.outcome(), Some(Outcome::Unanswered), "but the outcome was decided at expiry");
        assert!(d.resolved_at.is_none());
    }

    #[test]
    fn pattern_resolution_and_duplicate_events() {
        let events = vec![
            Event::Opened { at: t(0) },
            Event::Opened { at: t(9) },
            Event::Reply { at: t(50), class: ReplyClass::Human, author: "a".into(), resolves: true },
            Event::VendorResolved { at: t(70) },
        ];
        let d = derive(&events);
        assert_eq!(d.opened_at, Some(t(0)));
        assert_eq!((d.resolved_at, d.resolved_by), (Some(t(50)), Some(ResolvedBy::Pattern)));
    }

    #[test]
    fn failed_and_skipped_outcomes() {
        assert_eq!(derive(&[Event::OpenIntent, Event::OpenFailed { final_: true }]).outcome(), Some(Outcome::Failed));
        assert_eq!(derive(&[Event::Skipped]).outcome(), Some(Outcome::Skipped));
        assert_eq!(derive(&[Event::OpenIntent]).outcome(), None);
    }

    #[test]
    fn a_forced_override_is_the_first_human_response_and_bystanders_never_count() {
        let events = vec![
            Event::Opened { at: t(0) },
            reply(30, ReplyClass::Bystander, "colleague"),
            reply(700, ReplyClass::Human, "alex"),
            // Recorded later by a person, about a call at +300 s.
            Event::HumanOverride { at: t(300), author: "cli:ops".into() },
        ];
        let mut sorted = events.clone();
        sorted.sort_by_key(|e| match e {
            Event::Opened { at } | Event::Reply { at, .. } | Event::HumanOverride { at, .. } => *at,
            _ => t(0),
        });
        for log in [&events, &sorted] {
            let d = derive(log);
            assert_eq!(d.first_human_at, Some(t(300)), "the override wins wherever it sorts");
            assert_eq!(d.first_response_at, Some(t(300)), "the bystander is no response");
            assert_eq!(d.state, Answered);
            assert_eq!(d.bot_turns, 0);
        }
        let d = derive(&[Event::Opened { at: t(0) }, reply(30, ReplyClass::Bystander, "colleague")]);
        assert_eq!((d.state, d.first_response_at), (Open, None));
    }

    #[test]
    fn replay_follows_observation_not_the_vendors_clock() {
        // The vendor's clock runs 60 s ahead of ours: its resolution is stamped after
        // our courtesy close, which we recorded later. The probe still reaches `closed`.
        let events = vec![
            Event::Opened { at: t(60) },
            reply(160, ReplyClass::Human, "alex"),
            Event::FollowUp { seq: 1, at: t(130) },
            reply(200, ReplyClass::Human, "alex"),
            Event::VendorResolved { at: t(260) },
            Event::Closed { at: t(210) },
        ];
        let d = derive(&events);
        assert_eq!(d.state, Closed);
        assert_eq!(d.closed_at, Some(t(210)));
        assert_eq!(d.resolved_at, Some(t(260)));
        assert_eq!(d.first_human_at, Some(t(160)));
        assert_eq!(d.follow_ups[0].replied_at, Some(t(160)), "the first human reply at or after the follow-up");
    }

    #[test]
    fn next_reply_cycles_start_at_the_oldest_unanswered_message() {
        let fu = |seq, secs| Event::FollowUp { seq, at: t(secs) };
        let events = vec![
            Event::Opened { at: t(0) },
            // A nudge before anyone answered: part of the first response's cycle.
            fu(1, 100),
            reply(300, ReplyClass::Human, "li"),
            // Two follow-ups before the next answer: one cycle, from the first.
            fu(2, 400),
            fu(3, 500),
            reply(900, ReplyClass::Human, "li"),
            // Answered: the next follow-up starts a cycle again.
            fu(4, 1000),
            reply(1300, ReplyClass::Human, "zhang"),
        ];
        let d = derive(&events);
        let cycles: Vec<(u32, bool, Option<Ts>)> =
            d.follow_ups.iter().map(|f| (f.seq, f.starts_cycle, f.replied_at)).collect();
        assert_eq!(
            cycles,
            vec![(1, false, Some(t(300))), (2, true, Some(t(900))), (3, false, Some(t(900))), (4, true, Some(t(1300)))]
        );
        assert_eq!(d.human_at, vec![t(300), t(900), t(1300)]);
    }
}
