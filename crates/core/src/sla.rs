//! Holding figures against promises, pure.
//!
//! Every measured interval of a probe becomes a [`MeasureRow`] with both
//! clocks: wall (elapsed real time) and business (only the promise
//! calendar's hours). Where the vendor promised something for that measure,
//! the row carries the deadline and a [`Verdict`].
//!
//! A breach is decided while waiting: once we know there was no reply up to
//! the deadline (`known_until`, the time of the last successful look at the
//! channel), the verdict is `Breached` even though the reply may come later.
//! A probe that ends (resolved or expired) with a promised measure never
//! reached is a breach too: unanswered probes count against the vendor,
//! never silently drop out.

use chrono::Duration;

use crate::calendar::Calendar;
use crate::duration::Dur;
use crate::lifecycle::{Derived, Ts};
use crate::model::{Measure, PromiseMeasure};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not reached yet and the deadline has not passed (as far as we know).
    Pending,
    /// Reached within the promise.
    Met,
    /// Missed: reached late, or known unreached at the deadline.
    Breached,
    /// Not judged: the probe ended before this promise fell due, for a
    /// measure that ending does not decide (a follow-up still open when a
    /// person marked the probe resolved).
    Void,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::Met => "met",
            Verdict::Breached => "breached",
            Verdict::Void => "void",
        }
    }
}

/// The promise that applies to a probe: targets and their calendar.
#[derive(Clone, Copy, Debug)]
pub struct PromiseView<'a> {
    pub first_response: Option<Dur>,
    pub next_reply: Option<Dur>,
    pub resolution: Option<Dur>,
    /// The longest a vendor may stay silent while the probe is answered and unresolved.
    pub update_interval: Option<Dur>,
    pub calendar: &'a Calendar,
}

impl PromiseView<'_> {
    fn target(&self, m: PromiseMeasure) -> Option<Dur> {
        match m {
            PromiseMeasure::FirstResponse => self.first_response,
            PromiseMeasure::NextReply => self.next_reply,
            PromiseMeasure::Resolution => self.resolution,
            PromiseMeasure::UpdateInterval => self.update_interval,
        }
    }
}

/// One measured (or still running) interval of a probe.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasureRow {
    pub measure: Measure,
    /// 0 for single measures; the follow-up number for `next_reply`.
    pub seq: u32,
    pub start: Ts,
    pub end: Option<Ts>,
    pub wall_secs: Option<f64>,
    pub business_secs: Option<f64>,
    /// The promise target, when there is one.
    pub target: Option<Dur>,
    pub deadline: Option<Ts>,
    pub verdict: Verdict,
}

fn secs(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// Judges one interval against a target on a calendar.
///
/// `known_until`: we have looked and seen no end up to this instant.
/// `finished`: the probe stopped waiting; an unreached end will never come.
pub fn judge(
    start: Ts,
    end: Option<Ts>,
    target: Dur,
    calendar: &Calendar,
    known_until: Ts,
    finished: Option<Ts>,
    void_if_unfinished: bool,
) -> (Option<Ts>, Verdict) {
    let Some(deadline) = calendar.add_business(start, target.chrono()) else {
        // The calendar never opens again: nothing can be late.
        return (None, if end.is_some() { Verdict::Met } else { Verdict::Pending });
    };
    let verdict = match end {
        Some(e) if e <= deadline => Verdict::Met,
        Some(_) => Verdict::Breached,
        None if known_until >= deadline => Verdict::Breached,
        None => match finished {
            Some(f) if void_if_unfinished && f < deadline => Verdict::Void,
            Some(_) => Verdict::Breached,
            None => Verdict::Pending,
        },
    };
    (Some(deadline), verdict)
}

/// Every measure row of a probe.
///
/// Business figures use the promise's calendar, or 24x7 when the vendor made
/// no promise for the probe's priority (`always`).
pub fn measures(d: &Derived, promise: Option<&PromiseView<'_>>, always: &Calendar, known_until: Ts) -> Vec<MeasureRow> {
    let Some(opened) = d.opened_at else { return Vec::new() };
    let calendar = promise.map_or(always, |p| p.calendar);
    let finished_at =
        if d.finished() { d.resolved_at.or(d.expired_at).or(d.closed_at).or(Some(known_until)) } else { None };
    let row = |measure: Measure, seq: u32, start: Ts, end: Option<Ts>, pm: Option<PromiseMeasure>| {
        let target = pm.and_then(|m| promise.and_then(|p| p.target(m)));
        let (deadline, verdict) = match target {
            Some(t) => judge(
                start,
                end,
                t,
                calendar,
                known_until,
                finished_at,
                // A silence cut short by the probe ending is no late update; a follow-up
                // still open when a person marked the probe resolved is not judged.
                measure == Measure::UpdateInterval
                    || (measure == Measure::NextReply && d.resolved_by == Some(crate::lifecycle::ResolvedBy::Manual)),
            ),
            None => (None, if end.is_some() { Verdict::Met } else { Verdict::Pending }),
        };
        MeasureRow {
            measure,
            seq,
            start,
            end,
            wall_secs: end.map(|e| secs(e - start).max(0.0)),
            business_secs: end.map(|e| secs(calendar.business_between(start, e))),
            target,
            deadline,
            verdict,
        }
    };
    let mut rows = vec![
        row(Measure::FirstResponse, 0, opened, d.first_response_at, None),
        row(Measure::FirstHumanResponse, 0, opened, d.first_human_at, Some(PromiseMeasure::FirstResponse)),
    ];
    // One cycle per follow-up sent when nothing of ours was waiting (the oldest unanswered message).
    for f in d.follow_ups.iter().filter(|f| f.starts_cycle) {
        rows.push(row(Measure::NextReply, f.seq, f.sent_at, f.replied_at, Some(PromiseMeasure::NextReply)));
    }
    rows.push(row(Measure::Resolution, 0, opened, d.resolved_at, Some(PromiseMeasure::Resolution)));
    // Updates: each gap between the vendor's human messages once answered, and the
    // last one until the resolution (or still open while unresolved).
    for (i, start) in d.human_at.iter().enumerate() {
        let end = d.human_at.get(i + 1).copied().or(d.resolved_at);
        if end == Some(*start) {
            continue;
        }
        rows.push(row(Measure::UpdateInterval, i as u32, *start, end, Some(PromiseMeasure::UpdateInterval)));
    }
    rows
}

/// The earliest deadline still pending, so the engine can look at the
/// channel right when a promise falls due.
pub fn next_deadline(rows: &[MeasureRow]) -> Option<Ts> {
    rows.iter().filter(|r| r.verdict == Verdict::Pending).filter_map(|r| r.deadline).min()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::DateTime;

    use super::*;
    use crate::calendar::{Calendar, parse_windows};
    use crate::lifecycle::{Event, derive};
    use crate::model::ReplyClass;

    fn utc(s: &str) -> Ts {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn shanghai() -> Calendar {
        let mut w: [Vec<_>; 7] = Default::default();
        for d in w.iter_mut().take(5) {
            *d = parse_windows("09:00-18:00").unwrap();
        }
        Calendar::weekly("cn", chrono_tz::Asia::Shanghai, w, BTreeSet::new(), BTreeMap::new()).unwrap()
    }

    #[test]
    fn judge_table() {
        let always = Calendar::always("24x7");
        let sh = shanghai();
        let m15 = Dur::from_secs(900);
        let start = utc("2026-11-23T02:00:00Z");
        // (name, calendar, end, known_until, finished, expected verdict)
        type Case<'a> = (&'a str, &'a Calendar, Option<&'a str>, &'a str, Option<&'a str>, Verdict);
        let cases: Vec<Case<'_>> = vec![
            (
                "met with time to spare",
                &always,
                Some("2026-11-23T02:10:00Z"),
                "2026-11-23T02:10:00Z",
                None,
                Verdict::Met,
            ),
            ("met on the dot", &always, Some("2026-11-23T02:15:00Z"), "2026-11-23T02:15:00Z", None, Verdict::Met),
            (
                "late by a second",
                &always,
                Some("2026-11-23T02:15:01Z"),
                "2026-11-23T02:16:00Z",
                None,
                Verdict::Breached,
            ),
            ("still waiting before deadline", &always, None, "2026-11-23T02:14:59Z", None, Verdict::Pending),
            ("breached while waiting", &always, None, "2026-11-23T02:15:00Z", None, Verdict::Breached),
            (
                "expired unanswered before due",
                &always,
                None,
                "2026-11-23T02:05:00Z",
                Some("2026-11-23T02:05:00Z"),
                Verdict::Breached,
            ),
        ];
        for (name, cal, end, known, fin, want) in cases {
            let (_, got) = judge(start, end.map(utc), m15, cal, utc(known), fin.map(utc), false);
            assert_eq!(got, want, "{name}");
        }
        // Friday 17:50 CST with 15 business minutes: due Monday 09:05 CST.
        let fri = utc("2026-11-20T09:50:00Z");
        let (deadline, v) =
            judge(fri, Some(utc("2026-11-23T01:20:00Z")), m15, &sh, utc("2026-11-23T01:20:00Z"), None, false);
        assert_eq!(deadline, Some(utc("2026-11-23T01:05:00Z")));
        assert_eq!(v, Verdict::Breached, "answered Monday 09:20 is 30 business minutes");
        let (_, v) = judge(fri, None, m15, &sh, utc("2026-11-22T12:00:00Z"), None, false);
        assert_eq!(v, Verdict::Pending, "nothing is late over the weekend");
    }

    #[test]
    fn measures_on_both_clocks() {
        let sh = shanghai();
        let always = Calendar::always("24x7");
        let promise = PromiseView {
            first_response: Some(Dur::from_secs(15 * 60)),
            next_reply: Some(Dur::from_secs(3600)),
            resolution: Some(Dur::from_secs(8 * 3600)),
            update_interval: None,
            calendar: &sh,
        };
        let d = derive(&[
            Event::Opened { at: utc("2026-11-20T09:50:00Z") },
            Event::Reply {
                at: utc("2026-11-20T09:50:30Z"),
                class: ReplyClass::AutoAck,
                author: "s".into(),
                resolves: false,
            },
            Event::Reply {
                at: utc("2026-11-23T01:20:00Z"),
                class: ReplyClass::Human,
                author: "a".into(),
                resolves: false,
            },
            Event::FollowUp { seq: 1, at: utc("2026-11-23T01:30:00Z") },
        ]);
        let rows = measures(&d, Some(&promise), &always, utc("2026-11-23T03:00:00Z"));
        let get = |m: Measure| rows.iter().find(|r| r.measure == m).unwrap();
        let fr = get(Measure::FirstResponse);
        // 17:50:00 -> 17:50:30 CST is inside Friday's hours.
        assert_eq!((fr.wall_secs, fr.business_secs, fr.verdict), (Some(30.0), Some(30.0), Verdict::Met));
        let fh = get(Measure::FirstHumanResponse);
        assert_eq!(fh.wall_secs, Some(228_600.0));
        assert_eq!(fh.business_secs, Some(1_800.0));
        assert_eq!(fh.verdict, Verdict::Breached);
        let nr = get(Measure::NextReply);
        assert_eq!((nr.seq, nr.verdict), (1, Verdict::Breached), "09:30 + 1h passed at 11:00 with no reply");
        let res = get(Measure::Resolution);
        assert_eq!(res.verdict, Verdict::Pending);
        assert_eq!(next_deadline(&rows), res.deadline);
    }

    #[test]
    fn no_promise_measures_without_judging() {
        let always = Calendar::always("24x7");
        let d = derive(&[Event::Opened { at: utc("2026-11-23T00:00:00Z") }]);
        let rows = measures(&d, None, &always, utc("2026-11-30T00:00:00Z"));
        assert!(rows.iter().all(|r| r.deadline.is_none() && r.verdict == Verdict::Pending));
    }

    #[test]
    fn update_intervals_are_the_silences_between_human_messages_judged_while_waiting() {
        let always = Calendar::always("24x7");
        let promise = PromiseView {
            first_response: None,
            next_reply: None,
            resolution: None,
            update_interval: Some(Dur::from_secs(3600)),
            calendar: &always,
        };
        let human =
            |at: &str| Event::Reply { at: utc(at), class: ReplyClass::Human, author: "li".into(), resolves: false };
        let d = derive(&[
            Event::Opened { at: utc("2026-11-23T00:00:00Z") },
            human("2026-11-23T00:10:00Z"),
            // A bot between people is no update.
            Event::Reply {
                at: utc("2026-11-23T00:20:00Z"),
                class: ReplyClass::Bot,
                author: "b".into(),
                resolves: false,
            },
            human("2026-11-23T00:50:00Z"),
        ]);
        // Looked at 2 h 05 after the last person: the open silence is a breach while still waiting.
        let rows = measures(&d, Some(&promise), &always, utc("2026-11-23T02:05:00Z"));
        let gaps: Vec<(u32, Option<f64>, Verdict)> = rows
            .iter()
            .filter(|r| r.measure == Measure::UpdateInterval)
            .map(|r| (r.seq, r.wall_secs, r.verdict))
            .collect();
        assert_eq!(gaps, vec![(0, Some(2400.0), Verdict::Met), (1, None, Verdict::Breached)]);
        let open = rows.iter().find(|r| r.measure == Measure::UpdateInterval && r.seq == 1).unwrap();
        assert_eq!(open.deadline, Some(utc("2026-11-23T01:50:00Z")));
        // Before the deadline it is pending, and the engine is told when to look.
        let rows = measures(&d, Some(&promise), &always, utc("2026-11-23T01:00:00Z"));
        assert_eq!(next_deadline(&rows), Some(utc("2026-11-23T01:50:00Z")));
        // Resolved 30 min after the last person: the last silence ends at the resolution.
        let mut events = vec![
            Event::Opened { at: utc("2026-11-23T00:00:00Z") },
            human("2026-11-23T00:10:00Z"),
            human("2026-11-23T00:50:00Z"),
            Event::VendorResolved { at: utc("2026-11-23T01:20:00Z") },
        ];
        let rows = measures(&derive(&events), Some(&promise), &always, utc("2026-11-23T03:00:00Z"));
        let last = rows.iter().rfind(|r| r.measure == Measure::UpdateInterval).unwrap();
        assert_eq!((last.wall_secs, last.verdict), (Some(1800.0), Verdict::Met));
        // Expired 20 min into a silence: cut short, not judged.
        events.pop();
        events.push(Event::Expired { at: utc("2026-11-23T01:10:00Z") });
        let rows = measures(&derive(&events), Some(&promise), &always, utc("2026-11-23T01:10:00Z"));
        let last = rows.iter().rfind(|r| r.measure == Measure::UpdateInterval).unwrap();
        assert_eq!(last.verdict, Verdict::Void);
    }
}
