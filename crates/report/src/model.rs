//! The scorecard as data: what every format renders, and the JSON contract
//! (`supportprobe report --format json`, `GET /api/v1/scorecard`). Keys may
//! be added, never renamed.

use serde::Serialize;
use supportprobe_store::StoredRating;

#[derive(Clone, Debug, Serialize)]
pub struct Scorecard {
    pub generated_at: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub version: String,
    pub vendors: Vec<VendorCard>,
    /// Vendors ranked by first human responses within promise, best first.
    pub ranking: Vec<Rank>,
    pub probes: Vec<ProbeEvidence>,
    pub method: Method,
}

#[derive(Clone, Debug, Serialize)]
pub struct VendorCard {
    pub vendor: String,
    pub name: String,
    pub compliance_target: f64,
    pub thresholds: Thresholds,
    /// One line per priority: promise against reality for first human responses.
    pub verdict: Vec<VerdictLine>,
    pub rows: Vec<Row>,
    pub channels: Vec<ChannelLine>,
    /// First human responses of probes opened inside the promise's hours and outside them.
    pub hours: Vec<HoursLine>,
    /// First human responses within promise per ISO week of opening.
    pub weekly: Vec<WeekLine>,
    pub communication: Communication,
    /// The Kaplan–Meier curve of time to first human response, per priority.
    pub curves: Vec<Curve>,
}

/// Where a share of judged figures makes a grade.
#[derive(Clone, Debug, Serialize)]
pub struct Thresholds {
    pub excellent: f64,
    pub acceptable: f64,
    pub min_judged: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Excellent,
    Acceptable,
    Failing,
    InsufficientData,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Excellent => "excellent",
            Grade::Acceptable => "acceptable",
            Grade::Failing => "failing",
            Grade::InsufficientData => "insufficient_data",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct VerdictLine {
    pub priority: String,
    pub target_seconds: Option<f64>,
    pub calendar: String,
    pub probes: u64,
    pub judged: u64,
    pub met: u64,
    pub compliance: Option<f64>,
    pub compliance_ci95: Option<[f64; 2]>,
    pub median_seconds: Option<f64>,
    /// Some probes were answered, but fewer than half: the median is not reached.
    pub median_not_reached: bool,
    pub grade: Option<Grade>,
}

/// One cell of the promise-against-reality table: a vendor's channel kind
/// (or `all`) × priority × measure.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub channel: String,
    pub priority: String,
    pub measure: String,
    pub target_seconds: Option<f64>,
    pub calendar: String,
    /// Probes with at least one interval of this measure.
    pub probes: u64,
    /// Intervals measured (one per probe; one per follow-up for `next_reply`).
    pub intervals: u64,
    pub judged: u64,
    pub met: u64,
    pub breached: u64,
    /// Never reached, and the probe stopped waiting.
    pub unanswered: u64,
    /// Not reached yet, still waiting.
    pub waiting: u64,
    pub compliance: Option<f64>,
    pub compliance_ci95: Option<[f64; 2]>,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub median_business_seconds: Option<f64>,
    pub p90_business_seconds: Option<f64>,
    /// The longest measured interval.
    pub worst_seconds: Option<f64>,
    /// The longest wait still without an answer at the last look.
    pub longest_unanswered_seconds: Option<f64>,
    /// `null` where there is no promise to judge against.
    pub grade: Option<Grade>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChannelLine {
    pub channel: String,
    pub probes: u64,
    /// Probes a person ever answered.
    pub answered_by_person: u64,
    pub answered_share: Option<f64>,
    pub answered_ci95: Option<[f64; 2]>,
    /// Bot and automatic turns before a person, on average per probe.
    pub mean_bot_turns: Option<f64>,
    pub median_first_human_seconds: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HoursLine {
    /// `in_hours` or `out_of_hours`.
    pub when: String,
    pub probes: u64,
    pub judged: u64,
    pub met: u64,
    pub compliance: Option<f64>,
    pub compliance_ci95: Option<[f64; 2]>,
    pub median_seconds: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WeekLine {
    pub week: String,
    pub judged: u64,
    pub met: u64,
    pub compliance: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Communication {
    /// Probes a technical responder answered (or, without configured engineers, a second person).
    pub escalated: u64,
    /// `engineer` or `handoff`: what counts as escalation for this vendor.
    pub escalation_basis: String,
    /// Kaplan–Meier median time to escalation, never-escalated probes censored at the last look.
    pub escalation_median_seconds: Option<f64>,
    /// Probes where the vendor asked for logs, versions or reproduction steps.
    pub asked_for_diagnostics: u64,
    pub diagnostics_median_seconds: Option<f64>,
    /// Probes the vendor marked solved and the conversation went on after.
    pub reopened: u64,
    /// The median over answered probes of each one's longest silence while answered and unresolved.
    pub longest_silence_median_seconds: Option<f64>,
    /// The longest silence of any probe.
    pub longest_silence_seconds: Option<f64>,
    /// Probes where a second person or more answered.
    pub probes_with_handoffs: u64,
    pub handoffs: u64,
    /// Current ratings (a person's latest).
    pub ratings: u64,
    pub mean_quality: Option<f64>,
    pub solved_yes: u64,
    pub solved_partly: u64,
    pub solved_no: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Curve {
    pub priority: String,
    pub target_seconds: Option<f64>,
    pub observations: u64,
    pub censored: u64,
    /// Steps of the share still waiting: (seconds, share).
    pub steps: Vec<[f64; 2]>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rank {
    pub position: usize,
    pub vendor: String,
    pub name: String,
    pub judged: u64,
    pub met: u64,
    pub compliance: Option<f64>,
    pub compliance_ci95: Option<[f64; 2]>,
    /// The difference to the next vendor down, and whether it is significant at 95 %.
    pub versus_next: Option<Comparison>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub vendor: String,
    pub name: String,
    pub difference: f64,
    pub difference_ci95: [f64; 2],
    pub significant: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProbeEvidence {
    pub reference: String,
    pub vendor: String,
    pub channel: String,
    pub channel_id: String,
    pub priority: String,
    pub scenario: String,
    pub state: String,
    pub outcome: Option<String>,
    pub opened_at: Option<String>,
    pub ticket_id: Option<String>,
    pub ticket_url: Option<String>,
    /// Opened inside the promise calendar's hours (`null`: never opened).
    pub in_hours: Option<bool>,
    pub first_human_response_seconds: Option<f64>,
    pub first_human_response_business_seconds: Option<f64>,
    pub next_reply_seconds: Vec<f64>,
    pub resolution_seconds: Option<f64>,
    pub resolution_business_seconds: Option<f64>,
    pub breaches: Vec<String>,
    pub bot_turns: u32,
    pub handoffs: u32,
    pub messages: Vec<Message>,
    /// Escalation, diagnostics asked for, reopened.
    pub conversation: supportprobe_core::communication::Conversation,
    /// The longest silence between the vendor's people while answered and unresolved, ended or still open.
    pub longest_silence_seconds: Option<f64>,
    /// The silence still open now (answered, unresolved, nobody since), at the last look.
    pub open_silence_seconds: Option<f64>,
    /// What else happened: resolved, breaches, expiry, close.
    pub timeline: Vec<Mark>,
    pub ratings: Vec<StoredRating>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Message {
    pub at: String,
    pub author: String,
    /// `ours` for what supportprobe sent.
    pub class: String,
    pub rule: String,
    pub excerpt: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Mark {
    pub at: String,
    pub kind: String,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Method {
    /// Probes created in the period (all states).
    pub probes_seen: u64,
    /// Probes the figures count.
    pub probes_counted: u64,
    pub excluded_skipped: u64,
    pub excluded_dry_run: u64,
    /// Manual runs (`once` without `--count`).
    pub excluded_manual: u64,
    pub excluded_failed_open: u64,
    pub excluded_not_opened_yet: u64,
    /// Left out by `--hours`: opened on the other side of the promise calendar's hours.
    pub excluded_other_hours: u64,
    /// `in_hours` or `out_of_hours` when the figures are split so; `null`: all probes.
    pub hours: Option<String>,
    pub calendars: Vec<CalendarNote>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CalendarNote {
    pub name: String,
    pub timezone: String,
    pub description: String,
}
