//! How a vendor communicates beyond the timed promises, pure: when a
//! technical responder first answered (escalation), when the vendor first
//! asked for diagnostics (logs, versions, reproduction steps — English and
//! Chinese wording), whether a ticket the vendor marked solved came back
//! (reopened), and the longest silence while answered and unresolved.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::lifecycle::Ts;
use crate::template::Pattern;

/// A vendor's technical responders (`[vendors.x.engineers]`): anyone matching
/// is an engineer, as opposed to first-line support.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engineers {
    /// Display names (case-insensitive).
    #[serde(default)]
    pub names: Vec<String>,
    /// Author ids or emails as the platform gives them (case-insensitive).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Patterns on the author's name or email (e.g. `(?i)engineer|工程师|L2`).
    #[serde(default)]
    pub patterns: Vec<Pattern>,
    /// Teams (groups) whose taking the ticket is an escalation, by the platform's
    /// id (Zendesk and Freshdesk `group_id`).
    #[serde(default)]
    pub teams: Vec<String>,
}

impl Engineers {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.ids.is_empty() && self.patterns.is_empty() && self.teams.is_empty()
    }

    pub fn matches(&self, id: &str, name: &str, email: &str) -> bool {
        let eq = |a: &str, b: &str| !a.is_empty() && a.eq_ignore_ascii_case(b.trim());
        self.names.iter().any(|n| eq(name, n))
            || self.ids.iter().any(|i| eq(id, i) || eq(email, i))
            || self.patterns.iter().any(|p| p.is_match(name) || (!email.is_empty() && p.is_match(email)))
    }
}

/// The wording of a request for diagnostics, by rule name. Checked on the
/// vendor's human messages only (our own scenario text may mention logs).
static DIAGNOSTICS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        (
            "diag:en:logs",
            r"(?i)\b(send|attach|share|provide|upload|collect|forward|grab|enable)\b[^.?!\n]{0,40}\b(logs?|log files?|debug log|verbose log|trace|traces|HAR|dumps?|crash reports?|stack ?traces?|screenshots?|recording)\b",
        ),
        ("diag:en:version", r"(?i)\b(what|which)\b[^.?!\n]{0,30}\bversions?\b|\bversion (number|of (the|your))\b|\b(SDK|app|client|firmware|OS) version\b"),
        ("diag:en:reproduce", r"(?i)\bsteps to reproduce\b|\breproduction steps\b|\b(can|could) you (reproduce|repro)\b|\bhow (can|do) (we|I) reproduce\b|\bminimal (repro|example)\b"),
        ("diag:en:details", r"(?i)\b(request|call|session|trace|correlation|account|app) ?ids?\b[^.\n]{0,30}\?|\bexact (time|timestamp)s?\b"),
        ("diag:zh:logs", r"(日志|log|抓包|截图|录屏|堆栈|崩溃报告|dump)[^。？！\n]{0,20}(提供|发|上传|附|给我们|麻烦|辛苦)|(提供|发送|上传|附上|发一下|发给我们|麻烦)[^。？！\n]{0,20}(日志|抓包|截图|录屏|堆栈|崩溃报告)"),
        ("diag:zh:version", r"(什么|哪个|哪一?)[^。？！\n]{0,10}版本|版本号|SDK ?版本|系统版本"),
        ("diag:zh:reproduce", r"复现|重现步骤|操作步骤|如何重现"),
        ("diag:zh:details", r"(请求|会话|频道|房间|通话|应用|账号) ?(ID|id|Id|号)"),
    ]
    .into_iter()
    .map(|(rule, re)| (rule, Regex::new(re).expect("the built-in diagnostics patterns compile")))
    .collect()
});

/// The rule by which a vendor's message asks us for diagnostics, if it does.
pub fn asks_for_diagnostics(text: &str) -> Option<&'static str> {
    DIAGNOSTICS.iter().find(|(_, re)| re.is_match(text)).map(|(rule, _)| *rule)
}

/// One message or mark of a probe, in the order it was observed.
#[derive(Clone, Debug, PartialEq)]
pub enum Turn {
    /// Ours: the opening message or a follow-up.
    Ours { at: Ts },
    /// A person at the vendor.
    Human { at: Ts, id: String, name: String, email: String, diagnostics: Option<String> },
    /// The vendor marked the ticket solved.
    Solved { at: Ts },
    /// The ticket was seen with this team (group).
    Team { at: Ts, team: String },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Escalation {
    pub at: Option<Ts>,
    pub seconds: Option<f64>,
    pub by: Option<String>,
    /// `engineer` (one of the configured engineers answered) or `handoff`
    /// (no engineers configured: a second person answered).
    pub basis: &'static str,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Diagnostics {
    pub at: Ts,
    pub seconds: f64,
    pub rule: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Conversation {
    pub escalation: Escalation,
    pub diagnostics: Option<Diagnostics>,
    /// Times the vendor marked it solved and the conversation went on after (our
    /// message or theirs): solved, but not really.
    pub reopened: u32,
}

fn secs(a: Ts, b: Ts) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

/// Reads a probe's turns (observation order) from its opening at `opened`.
pub fn conversation(opened: Ts, turns: &[Turn], engineers: &Engineers) -> Conversation {
    let mut c = Conversation {
        escalation: Escalation {
            basis: if engineers.is_empty() { "handoff" } else { "engineer" },
            ..Default::default()
        },
        ..Default::default()
    };
    let mut humans: Vec<&Turn> = turns.iter().filter(|t| matches!(t, Turn::Human { .. })).collect();
    humans.sort_by_key(|t| match t {
        Turn::Human { at, .. } => *at,
        _ => opened,
    });
    let mut first_person: Option<&str> = None;
    for t in &humans {
        let Turn::Human { at, id, name, email, diagnostics } = t else { continue };
        let who = if name.is_empty() { id.as_str() } else { name.as_str() };
        let escalated = if engineers.is_empty() {
            first_person.is_some_and(|f| f != id.as_str())
        } else {
            engineers.matches(id, name, email)
        };
        first_person.get_or_insert(id.as_str());
        if escalated && c.escalation.at.is_none() {
            c.escalation.at = Some(*at);
            c.escalation.seconds = Some(secs(opened, *at).max(0.0));
            c.escalation.by = Some(who.to_string());
        }
        if let (Some(rule), None) = (diagnostics, &c.diagnostics) {
            c.diagnostics = Some(Diagnostics { at: *at, seconds: secs(opened, *at).max(0.0), rule: rule.clone() });
        }
    }
    // A move to one of the engineers' teams escalates too, if it came first.
    let moved = turns
        .iter()
        .filter_map(|t| match t {
            Turn::Team { at, team } if engineers.teams.iter().any(|e| e.trim() == team) => Some((*at, team)),
            _ => None,
        })
        .min_by_key(|(at, _)| *at);
    if let Some((at, team)) = moved
        && c.escalation.at.is_none_or(|e| at < e)
    {
        c.escalation.at = Some(at);
        c.escalation.seconds = Some(secs(opened, at).max(0.0));
        c.escalation.by = Some(format!("team {team}"));
    }
    let mut solved_at: Option<Ts> = None;
    for t in turns {
        match t {
            Turn::Solved { at } => solved_at = Some(*at),
            Turn::Ours { at } | Turn::Human { at, .. } if solved_at.is_some_and(|s| *at > s) => {
                c.reopened += 1;
                solved_at = None;
            }
            _ => {}
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Ts {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn human(s: i64, id: &str, name: &str, text: &str) -> Turn {
        Turn::Human {
            at: t(s),
            id: id.into(),
            name: name.into(),
            email: String::new(),
            diagnostics: asks_for_diagnostics(text).map(String::from),
        }
    }

    #[test]
    fn diagnostics_requests_are_recognised_in_english_and_chinese_and_plain_replies_are_not() {
        let asks = [
            ("Could you please send us the SDK logs from the affected device?", "diag:en:logs"),
            ("Please attach a HAR file and a screenshot of the error.", "diag:en:logs"),
            ("Which version of the Android SDK are you on?", "diag:en:version"),
            ("Can you reproduce it with the sample app?", "diag:en:reproduce"),
            ("Please share the steps to reproduce.", "diag:en:reproduce"),
            ("麻烦提供一下客户端日志，我们这边排查。", "diag:zh:logs"),
            ("请问您使用的是哪个版本的 SDK？", "diag:zh:version"),
            ("请提供复现步骤", "diag:zh:reproduce"),
            ("方便提供一下频道 ID 吗？", "diag:zh:details"),
        ];
        for (text, rule) in asks {
            assert_eq!(asks_for_diagnostics(text), Some(rule), "{text}");
        }
        for text in [
            "Thanks, we have fixed the issue on our side; calls should work again.",
            "We are looking into it and will update you within the hour.",
            "您好，问题已经修复，请再试一下。",
            "我们正在排查，稍后回复您。",
        ] {
            assert_eq!(asks_for_diagnostics(text), None, "{text}");
        }
    }

    #[test]
    fn escalation_is_the_first_engineer_or_without_engineers_the_first_handoff() {
        let turns = vec![
            Turn::Ours { at: t(0) },
            human(60, "11", "Amy (Support)", "We are on it."),
            human(600, "42", "Li Wei", "Please send the logs."),
            human(900, "77", "Zhang San - L2 Engineer", "Fixed in 4.2.1."),
        ];
        let none = Engineers::default();
        let c = conversation(t(0), &turns, &none);
        assert_eq!(
            (c.escalation.basis, c.escalation.seconds, c.escalation.by.as_deref()),
            ("handoff", Some(600.0), Some("Li Wei"))
        );
        let by_pattern =
            Engineers { patterns: vec![Pattern::new("(?i)engineer|工程师").unwrap()], ..Default::default() };
        let c = conversation(t(0), &turns, &by_pattern);
        assert_eq!((c.escalation.basis, c.escalation.seconds), ("engineer", Some(900.0)));
        let by_id = Engineers { ids: vec!["42".into()], ..Default::default() };
        assert_eq!(conversation(t(0), &turns, &by_id).escalation.seconds, Some(600.0));
        let c = conversation(t(0), &turns, &none);
        let d = c.diagnostics.unwrap();
        assert_eq!((d.seconds, d.rule.as_str()), (600.0, "diag:en:logs"));
        assert_eq!(c.reopened, 0);
    }

    #[test]
    fn a_solved_ticket_the_conversation_goes_on_in_counts_as_reopened() {
        let turns = vec![
            Turn::Ours { at: t(0) },
            human(60, "1", "Amy", "Done."),
            Turn::Solved { at: t(70) },
            Turn::Ours { at: t(200) },
            human(260, "1", "Amy", "Sorry, now it is done."),
            Turn::Solved { at: t(300) },
        ];
        assert_eq!(conversation(t(0), &turns, &Engineers::default()).reopened, 1);
    }

    #[test]
    fn a_move_to_an_engineers_team_is_an_escalation_when_it_comes_first() {
        let turns = vec![
            Turn::Ours { at: t(0) },
            Turn::Team { at: t(5), team: "360001".into() },
            human(60, "11", "Amy (Support)", "We are on it."),
            Turn::Team { at: t(300), team: "360099".into() },
            human(900, "77", "Zhang San", "Fixed in 4.2.1."),
        ];
        let teams = Engineers { teams: vec!["360099".into()], ..Default::default() };
        let c = conversation(t(0), &turns, &teams);
        assert_eq!((c.escalation.basis, c.escalation.seconds), ("engineer", Some(300.0)));
        assert_eq!(c.escalation.by.as_deref(), Some("team 360099"));
        // An engineer who answered before the move is the escalation.
        let both =
            Engineers { teams: vec!["360099".into()], names: vec!["Amy (Support)".into()], ..Default::default() };
        assert_eq!(conversation(t(0), &turns, &both).escalation.seconds, Some(60.0));
        // The first-line team is no escalation.
        let first_line = Engineers { teams: vec!["42".into()], ..Default::default() };
        assert_eq!(conversation(t(0), &turns, &first_line).escalation.seconds, None);
    }
}
