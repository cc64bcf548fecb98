//! From the store to the scorecard. Reads only: works beside a running
//! daemon, and needs none of the channels' secrets.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use supportprobe_config::Config;
use supportprobe_core::calendar::Calendar;
use supportprobe_core::communication::{Conversation, Engineers, conversation};
use supportprobe_core::model::{Measure, Priority, PromiseMeasure, ReplyClass, State};
use supportprobe_core::sla::Verdict;
use supportprobe_core::stats::{self, Observation, Z95};
use supportprobe_store::{Probe, ProbeFilter, Solved, Store, StoreError, StoredEvent, StoredMeasure, ratings_in};

use crate::model::*;

/// What the scorecard covers.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Probes opened at or after (never-opened ones by when they were due).
    pub from: Option<DateTime<Utc>>,
    /// Probes opened before.
    pub to: Option<DateTime<Utc>>,
    /// Only these vendors (ids); all when empty.
    pub vendors: Vec<String>,
    /// Include each probe's transcript.
    pub evidence: bool,
    /// Only probes opened inside (`Some(true)`) or outside (`Some(false)`) the
    /// promise calendar's hours: every figure split this way.
    pub in_hours: Option<bool>,
}

/// The measures of the table, as the promise names them.
pub const MEASURES: [PromiseMeasure; 4] = [
    PromiseMeasure::FirstResponse,
    PromiseMeasure::NextReply,
    PromiseMeasure::Resolution,
    PromiseMeasure::UpdateInterval,
];

/// Below this many judged probes a grade says `insufficient_data` (unless `[scorecard] min_judged` says otherwise).
pub const MIN_JUDGED: u64 = 5;

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One probe with what the store holds for it, and what its conversation showed (read once).
struct Loaded {
    probe: Probe,
    measures: Vec<StoredMeasure>,
    events: Vec<StoredEvent>,
    conversation: Conversation,
    /// The longest silence while answered and unresolved, and the one still open.
    silences: (Option<f64>, Option<f64>),
}

fn stopped_waiting(p: &Probe) -> bool {
    matches!(p.state, State::Resolved | State::Expired | State::Closed | State::Failed)
}

/// Until when an interval from `start` is known unreached: the last successful
/// look (never before the start, never after now), and how long that is.
fn waited(p: &Probe, start: DateTime<Utc>, now: DateTime<Utc>) -> (DateTime<Utc>, f64) {
    let until = p.known_until.unwrap_or(start).min(now).max(start);
    (until, (until - start).num_milliseconds() as f64 / 1000.0)
}

fn conversation_of(p: &Probe, events: &[StoredEvent], engineers: &Engineers) -> Conversation {
    conversation(p.opened_at.unwrap_or(p.due_at), &supportprobe_store::turns(events), engineers)
}

/// The longest silence between the vendor's people while answered and
/// unresolved (ended or still open at the last look), and the open one.
fn silences(p: &Probe, measures: &[StoredMeasure], now: DateTime<Utc>) -> (Option<f64>, Option<f64>) {
    let mut longest: Option<f64> = None;
    let mut open = None;
    for x in measures.iter().filter(|x| x.measure == Measure::UpdateInterval) {
        let secs = match (x.end, x.wall_secs) {
            (Some(_), Some(w)) => w,
            _ if !stopped_waiting(p) && p.resolved_at.is_none() => {
                let (_, s) = waited(p, x.start, now);
                open = Some(s);
                s
            }
            _ => continue,
        };
        longest = Some(longest.map_or(secs, |m: f64| m.max(secs)));
    }
    (longest, open)
}

impl Loaded {
    fn new(
        probe: Probe,
        measures: Vec<StoredMeasure>,
        events: Vec<StoredEvent>,
        engineers: &Engineers,
        now: DateTime<Utc>,
    ) -> Loaded {
        let conversation = conversation_of(&probe, &events, engineers);
        let silences = silences(&probe, &measures, now);
        Loaded { probe, measures, events, conversation, silences }
    }

    fn intervals(&self, m: Measure) -> impl Iterator<Item = &StoredMeasure> {
        self.measures.iter().filter(move |x| x.measure == m)
    }

    fn stopped_waiting(&self) -> bool {
        stopped_waiting(&self.probe)
    }
}

/// Why a probe is left out of the figures, if it is.
fn exclusion(p: &Probe) -> Option<&'static str> {
    if p.state == State::Skipped {
        return Some(if p.note.as_deref() == Some("dry run") { "dry_run" } else { "skipped" });
    }
    if p.opened_at.is_none() {
        return Some(if p.state == State::Failed { "failed_open" } else { "not_opened_yet" });
    }
    None
}

/// A period's bound as people give it: a day (UTC; its start, or with
/// `end_of_day` the start of the next, so `--to` includes the whole day) or
/// an RFC 3339 instant.
pub fn parse_bound(s: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end_of_day { d + chrono::Days::new(1) } else { d };
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected a day (2026-12-01) or an RFC 3339 instant: {e}"))
}

fn in_period(p: &Probe, o: &Options) -> bool {
    let t = p.opened_at.unwrap_or(p.due_at);
    o.from.is_none_or(|f| t >= f) && o.to.is_none_or(|to| t < to)
}

/// Builds the scorecard from the store.
pub fn scorecard(config: &Config, store: &Store, o: &Options, now: DateTime<Utc>) -> Result<Scorecard, StoreError> {
    let always = Calendar::always("24x7");
    let mut method = Method::default();
    let mut by_vendor: BTreeMap<String, Vec<Loaded>> = BTreeMap::new();
    let wanted = |v: &str| o.vendors.is_empty() || o.vendors.iter().any(|w| w == v);
    let mut after = 0;
    loop {
        let page = store.probes_page(&ProbeFilter::default(), after, 500)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for p in page {
            let Some(vendor) = config.vendor(&p.vendor).filter(|_| wanted(&p.vendor) && in_period(&p, o)) else {
                continue;
            };
            method.probes_seen += 1;
            if !p.counted {
                method.excluded_manual += 1;
                continue;
            }
            match exclusion(&p) {
                Some("dry_run") => method.excluded_dry_run += 1,
                Some("skipped") => method.excluded_skipped += 1,
                Some("failed_open") => method.excluded_failed_open += 1,
                Some(_) => method.excluded_not_opened_yet += 1,
                None => {
                    method.probes_counted += 1;
                    let measures = store.measures_of(p.id)?;
                    let events = store.events(p.id)?;
                    let l = Loaded::new(p, measures, events, &vendor.engineers, now);
                    by_vendor.entry(l.probe.vendor.clone()).or_default().push(l);
                }
            }
        }
    }
    let mut vendors = Vec::new();
    let mut probes = Vec::new();
    let mut calendars: BTreeMap<String, CalendarNote> = BTreeMap::new();
    for (id, v) in &config.vendors {
        if !wanted(id) {
            continue;
        }
        let calendar_of = |pri: Priority| config.promise(id, pri).map_or(&always, |pr| pr.calendar.as_ref());
        let mut loaded = by_vendor.remove(id).unwrap_or_default();
        if let Some(wanted) = o.in_hours {
            let before = loaded.len();
            loaded.retain(|l| {
                calendar_of(l.probe.priority).is_open(l.probe.opened_at.unwrap_or(l.probe.due_at)) == wanted
            });
            method.excluded_other_hours += (before - loaded.len()) as u64;
            method.probes_counted -= (before - loaded.len()) as u64;
        }
        for pr in v.promises.values() {
            let c = &pr.calendar;
            calendars.entry(c.name().to_string()).or_insert_with(|| CalendarNote {
                name: c.name().to_string(),
                timezone: if c.is_always() { "-".into() } else { c.timezone().name().to_string() },
                description: c.describe(),
            });
        }
        let (excellent, acceptable) = config.scorecard.for_target(v.compliance_target);
        let thresholds = Thresholds { excellent, acceptable, min_judged: config.scorecard.min_judged };
        // `all` first, then each channel kind.
        let mut kinds: Vec<String> = vec!["all".into()];
        kinds.extend(loaded.iter().map(|l| l.probe.kind.clone()).collect::<BTreeSet<_>>());
        let mut priorities: BTreeSet<Priority> = loaded.iter().map(|l| l.probe.priority).collect();
        priorities.extend(v.promises.keys().copied());
        let mut rows = Vec::new();
        for kind in &kinds {
            for &pri in &priorities {
                let group: Vec<&Loaded> = loaded
                    .iter()
                    .filter(|l| l.probe.priority == pri && (kind == "all" || &l.probe.kind == kind))
                    .collect();
                for pm in MEASURES {
                    let target = config.promise(id, pri).and_then(|p| p.targets.get(&pm)).map(|d| d.as_secs_f64());
                    let row = row(kind, pri, pm, target, calendar_of(pri), &group, &thresholds, now);
                    if row.intervals > 0 || (target.is_some() && kind == "all") {
                        rows.push(row);
                    }
                }
            }
        }
        let verdict = priorities
            .iter()
            .filter_map(|pri| {
                rows.iter().find(|r| {
                    r.channel == "all"
                        && r.priority == pri.as_str()
                        && r.measure == PromiseMeasure::FirstResponse.as_str()
                })
            })
            .map(|r| VerdictLine {
                priority: r.priority.clone(),
                target_seconds: r.target_seconds,
                calendar: r.calendar.clone(),
                probes: r.probes,
                judged: r.judged,
                met: r.met,
                compliance: r.compliance,
                compliance_ci95: r.compliance_ci95,
                median_seconds: r.median_seconds,
                median_not_reached: r.median_seconds.is_none() && r.intervals > 0,
                grade: r.grade,
            })
            .collect();
        let channels = kinds
            .iter()
            .filter(|k| *k != "all")
            .map(|k| channel_line(k, &loaded.iter().filter(|l| &l.probe.kind == k).collect::<Vec<_>>(), now))
            .collect();
        let hours = ["in_hours", "out_of_hours"]
            .iter()
            .map(|when| {
                let group: Vec<&Loaded> = loaded
                    .iter()
                    .filter(|l| {
                        let open = calendar_of(l.probe.priority).is_open(l.probe.opened_at.unwrap_or(l.probe.due_at));
                        open == (*when == "in_hours")
                    })
                    .collect();
                hours_line(when, &group, now)
            })
            .collect();
        let weekly = weekly(&loaded);
        let communication = communication(&loaded, &v.engineers, now);
        let curves = priorities
            .iter()
            .map(|&pri| {
                let group: Vec<&Loaded> = loaded.iter().filter(|l| l.probe.priority == pri).collect();
                let obs = observations(&group, Measure::FirstHumanResponse, calendar_of(pri), now);
                let curve = stats::kaplan_meier(&obs.iter().map(|o| o.0).collect::<Vec<_>>());
                Curve {
                    priority: pri.to_string(),
                    target_seconds: config
                        .promise(id, pri)
                        .and_then(|p| p.targets.get(&PromiseMeasure::FirstResponse))
                        .map(|d| d.as_secs_f64()),
                    observations: obs.len() as u64,
                    censored: obs.iter().filter(|o| !o.0.answered).count() as u64,
                    steps: curve.iter().map(|s| [s.seconds, s.surviving]).collect(),
                }
            })
            .collect();
        if o.evidence {
            for l in &loaded {
                probes.push(evidence(l, calendar_of(l.probe.priority)));
            }
        }
        vendors.push(VendorCard {
            vendor: id.clone(),
            name: v.name.clone(),
            compliance_target: v.compliance_target,
            thresholds,
            verdict,
            rows,
            channels,
            hours,
            weekly,
            communication,
            curves,
        });
    }
    probes.sort_by(|a, b| (&a.vendor, &a.opened_at, &a.reference).cmp(&(&b.vendor, &b.opened_at, &b.reference)));
    method.calendars = calendars.into_values().collect();
    method.hours = o.in_hours.map(|h| if h { "in_hours" } else { "out_of_hours" }.to_string());
    let ranking = ranking(&vendors);
    Ok(Scorecard {
        generated_at: rfc(now),
        from: o.from.map(rfc),
        to: o.to.map(rfc),
        version: env!("CARGO_PKG_VERSION").to_string(),
        vendors,
        ranking,
        probes,
        method,
    })
}

/// Each interval of a measure as a Kaplan–Meier observation on both clocks:
/// an interval without an end is censored at the probe's last successful look.
fn observations(
    group: &[&Loaded],
    m: Measure,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> Vec<(Observation, Observation)> {
    let mut out = Vec::new();
    for l in group {
        for x in l.intervals(m) {
            match (x.end, x.wall_secs) {
                (Some(_), Some(w)) => out.push((
                    Observation { seconds: w, answered: true },
                    Observation { seconds: x.business_secs.unwrap_or(w), answered: true },
                )),
                _ => {
                    let (until, wall) = waited(&l.probe, x.start, now);
                    let business = calendar.business_between(x.start, until).num_milliseconds() as f64 / 1000.0;
                    out.push((
                        Observation { seconds: wall, answered: false },
                        Observation { seconds: business, answered: false },
                    ));
                }
            }
        }
    }
    out
}

fn ci(w: Option<(f64, f64)>) -> Option<[f64; 2]> {
    w.map(|(a, b)| [a, b])
}

fn share(x: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| x as f64 / n as f64)
}

/// The grade of a share of `met` out of `judged` by the vendor's thresholds.
pub fn grade(met: u64, judged: u64, t: &Thresholds) -> Grade {
    if judged < t.min_judged {
        return Grade::InsufficientData;
    }
    let c = met as f64 / judged as f64;
    // A hair of tolerance: 9 of 10 is 0.9 exactly, not just under it.
    if c + 1e-9 >= t.excellent {
        Grade::Excellent
    } else if c + 1e-9 >= t.acceptable {
        Grade::Acceptable
    } else {
        Grade::Failing
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    kind: &str,
    pri: Priority,
    pm: PromiseMeasure,
    target: Option<f64>,
    calendar: &Calendar,
    group: &[&Loaded],
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Row {
    let m = pm.measure();
    let (mut intervals, mut met, mut breached, mut unanswered, mut waiting, mut probes) = (0, 0, 0, 0, 0, 0);
    let mut worst: Option<f64> = None;
    for l in group {
        let mut any = false;
        for x in l.intervals(m) {
            any = true;
            intervals += 1;
            match x.verdict {
                Verdict::Met => met += 1,
                Verdict::Breached => breached += 1,
                Verdict::Pending | Verdict::Void => {}
            }
            match x.end {
                Some(_) => worst = worst.into_iter().chain(x.wall_secs).reduce(f64::max),
                None if l.stopped_waiting() => unanswered += 1,
                None => waiting += 1,
            }
        }
        if any {
            probes += 1;
        }
    }
    let obs = observations(group, m, calendar, now);
    let wall = stats::kaplan_meier(&obs.iter().map(|o| o.0).collect::<Vec<_>>());
    let business = stats::kaplan_meier(&obs.iter().map(|o| o.1).collect::<Vec<_>>());
    let longest_unanswered = obs
        .iter()
        .filter(|o| !o.0.answered)
        .map(|o| o.0.seconds)
        .fold(None, |a: Option<f64>, s| Some(a.map_or(s, |a| a.max(s))));
    let judged = met + breached;
    Row {
        channel: kind.to_string(),
        priority: pri.to_string(),
        measure: pm.as_str().to_string(),
        target_seconds: target,
        calendar: calendar.name().to_string(),
        probes,
        intervals,
        judged,
        met,
        breached,
        unanswered,
        waiting,
        compliance: target.and(share(met, judged)),
        compliance_ci95: target.and(ci(stats::wilson(met, judged, Z95))),
        median_seconds: stats::quantile(&wall, 0.5),
        p90_seconds: stats::quantile(&wall, 0.9),
        median_business_seconds: stats::quantile(&business, 0.5),
        p90_business_seconds: stats::quantile(&business, 0.9),
        worst_seconds: worst,
        longest_unanswered_seconds: longest_unanswered,
        grade: target.map(|_| grade(met, judged, thresholds)),
    }
}

fn first_human_verdicts(group: &[&Loaded]) -> (u64, u64) {
    let mut judged = 0;
    let mut met = 0;
    for l in group {
        for x in l.intervals(Measure::FirstHumanResponse) {
            match x.verdict {
                Verdict::Met => {
                    met += 1;
                    judged += 1
                }
                Verdict::Breached => judged += 1,
                _ => {}
            }
        }
    }
    (met, judged)
}

fn median_first_human(group: &[&Loaded], now: DateTime<Utc>) -> Option<f64> {
    // Wall clock only: the calendar does not matter for it.
    let always = Calendar::always("24x7");
    let obs = observations(group, Measure::FirstHumanResponse, &always, now);
    stats::quantile(&stats::kaplan_meier(&obs.iter().map(|o| o.0).collect::<Vec<_>>()), 0.5)
}

fn channel_line(kind: &str, group: &[&Loaded], now: DateTime<Utc>) -> ChannelLine {
    let probes = group.len() as u64;
    let answered = group.iter().filter(|l| l.probe.first_human_response_at.is_some()).count() as u64;
    let turns: u64 = group.iter().map(|l| u64::from(l.probe.bot_turns)).sum();
    ChannelLine {
        channel: kind.to_string(),
        probes,
        answered_by_person: answered,
        answered_share: share(answered, probes),
        answered_ci95: ci(stats::wilson(answered, probes, Z95)),
        mean_bot_turns: (probes > 0).then(|| turns as f64 / probes as f64),
        median_first_human_seconds: median_first_human(group, now),
    }
}

fn hours_line(when: &str, group: &[&Loaded], now: DateTime<Utc>) -> HoursLine {
    let (met, judged) = first_human_verdicts(group);
    HoursLine {
        when: when.to_string(),
        probes: group.len() as u64,
        judged,
        met,
        compliance: share(met, judged),
        compliance_ci95: ci(stats::wilson(met, judged, Z95)),
        median_seconds: median_first_human(group, now),
    }
}

fn weekly(loaded: &[Loaded]) -> Vec<WeekLine> {
    let mut weeks: BTreeMap<String, Vec<&Loaded>> = BTreeMap::new();
    for l in loaded {
        let t = l.probe.opened_at.unwrap_or(l.probe.due_at).iso_week();
        weeks.entry(format!("{}-W{:02}", t.year(), t.week())).or_default().push(l);
    }
    weeks
        .into_iter()
        .map(|(week, group)| {
            let (met, judged) = first_human_verdicts(&group);
            WeekLine { week, judged, met, compliance: share(met, judged) }
        })
        .collect()
}

fn communication(loaded: &[Loaded], engineers: &Engineers, now: DateTime<Utc>) -> Communication {
    let mut c = Communication {
        escalation_basis: if engineers.is_empty() { "handoff" } else { "engineer" }.to_string(),
        ..Default::default()
    };
    let mut quality = 0u64;
    let (mut escalation, mut diagnostics, mut silences) = (Vec::new(), Vec::new(), Vec::new());
    for l in loaded {
        let handoffs = l.probe.responders.saturating_sub(1);
        if handoffs > 0 {
            c.probes_with_handoffs += 1;
            c.handoffs += u64::from(handoffs);
        }
        for r in ratings_in(&l.events).iter().filter(|r| !r.replaced) {
            c.ratings += 1;
            quality += u64::from(r.rating.quality);
            match r.rating.solved {
                Some(Solved::Yes) => c.solved_yes += 1,
                Some(Solved::Partly) => c.solved_partly += 1,
                Some(Solved::No) => c.solved_no += 1,
                None => {}
            }
        }
        let conv = &l.conversation;
        // Waited at least until the last look (or the end of the probe) without one.
        let (_, waited) = waited(&l.probe, l.probe.opened_at.unwrap_or(l.probe.due_at), now);
        match conv.escalation.seconds {
            Some(s) => {
                c.escalated += 1;
                escalation.push(Observation { seconds: s, answered: true });
            }
            None => escalation.push(Observation { seconds: waited, answered: false }),
        }
        match &conv.diagnostics {
            Some(d) => {
                c.asked_for_diagnostics += 1;
                diagnostics.push(Observation { seconds: d.seconds, answered: true });
            }
            None => diagnostics.push(Observation { seconds: waited, answered: false }),
        }
        c.reopened += u64::from(conv.reopened.min(1));
        if let (Some(longest), true) = (l.silences.0, l.probe.first_human_response_at.is_some()) {
            silences.push(longest);
        }
    }
    c.mean_quality = share(quality, c.ratings);
    c.escalation_median_seconds = stats::quantile(&stats::kaplan_meier(&escalation), 0.5);
    c.diagnostics_median_seconds = stats::quantile(&stats::kaplan_meier(&diagnostics), 0.5);
    silences.sort_by(f64::total_cmp);
    c.longest_silence_median_seconds = (!silences.is_empty()).then(|| silences[(silences.len() - 1) / 2]);
    c.longest_silence_seconds = silences.last().copied();
    c
}

/// What the scorecard reads from one probe beyond its stored figures (for `probes --json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Extras {
    pub in_hours: Option<bool>,
    pub conversation: Conversation,
    pub longest_silence_seconds: Option<f64>,
    pub open_silence_seconds: Option<f64>,
}

/// Without a config: no calendar to say in or out of hours, and no engineers (escalation is the first handoff).
pub fn extras(
    config: Option<&Config>,
    probe: &Probe,
    measures: &[StoredMeasure],
    events: &[StoredEvent],
    now: DateTime<Utc>,
) -> Extras {
    let none = Engineers::default();
    let calendar = config.and_then(|c| c.promise(&probe.vendor, probe.priority)).map(|p| p.calendar.as_ref());
    let engineers = config.and_then(|c| c.vendor(&probe.vendor)).map_or(&none, |v| &v.engineers);
    let (longest_silence_seconds, open_silence_seconds) = silences(probe, measures, now);
    Extras {
        in_hours: probe.opened_at.and_then(|t| calendar.map(|c| c.is_open(t))),
        conversation: conversation_of(probe, events, engineers),
        longest_silence_seconds,
        open_silence_seconds,
    }
}

fn ranking(vendors: &[VendorCard]) -> Vec<Rank> {
    let mut totals: Vec<(&VendorCard, u64, u64)> = vendors
        .iter()
        .map(|v| {
            let (met, judged) = v.verdict.iter().fold((0, 0), |(m, j), l| (m + l.met, j + l.judged));
            (v, met, judged)
        })
        .collect();
    // Best share first; vendors with nothing judged last; then by name for a stable order.
    totals.sort_by(|a, b| {
        let (sa, sb) = (share(a.1, a.2), share(b.1, b.2));
        sb.partial_cmp(&sa).unwrap_or(std::cmp::Ordering::Equal).then(a.0.name.cmp(&b.0.name))
    });
    let mut out: Vec<Rank> = Vec::new();
    for (i, (v, met, judged)) in totals.iter().enumerate() {
        let versus_next = totals.get(i + 1).and_then(|(w, m2, j2)| {
            let (lo, hi) = stats::difference_interval(*met, *judged, *m2, *j2, Z95)?;
            Some(Comparison {
                vendor: w.vendor.clone(),
                name: w.name.clone(),
                difference: *met as f64 / *judged as f64 - *m2 as f64 / *j2 as f64,
                difference_ci95: [lo, hi],
                significant: lo > 0.0 || hi < 0.0,
            })
        });
        out.push(Rank {
            position: i + 1,
            vendor: v.vendor.clone(),
            name: v.name.clone(),
            judged: *judged,
            met: *met,
            compliance: share(*met, *judged),
            compliance_ci95: ci(stats::wilson(*met, *judged, Z95)),
            versus_next,
        });
    }
    out
}

const OUR_KINDS: [&str; 3] = ["opened", "follow_up", "follow_up_sent"];

fn evidence(l: &Loaded, calendar: &Calendar) -> ProbeEvidence {
    let p = &l.probe;
    let (longest_silence_seconds, open_silence_seconds) = l.silences;
    let get = |m: Measure| l.intervals(m).next();
    let mut breaches: Vec<String> = l
        .measures
        .iter()
        .filter(|m| m.verdict == Verdict::Breached)
        .map(|m| m.measure.promise().as_str().to_string())
        .collect();
    breaches.dedup();
    let confirmed: BTreeSet<u64> = l
        .events
        .iter()
        .filter(|e| e.kind == "follow_up")
        .filter_map(|e| e.detail.get("seq").and_then(|s| s.as_u64()))
        .collect();
    let mut messages = Vec::new();
    let mut timeline = Vec::new();
    let text = |e: &StoredEvent, k: &str| e.detail.get(k).and_then(|v| v.as_str()).map(String::from);
    for e in &l.events {
        let at = rfc(e.at);
        match e.kind.as_str() {
            k if OUR_KINDS.contains(&k) => {
                let seq = e.detail.get("seq").and_then(|s| s.as_u64());
                // Our follow-up as the channel shows it, else as we sent it (never both).
                if k == "follow_up_sent" && seq.is_some_and(|s| confirmed.contains(&s)) {
                    continue;
                }
                let rule = match (k, seq) {
                    ("opened", _) => "opened by supportprobe".to_string(),
                    (_, Some(s)) => format!("follow-up {s} by supportprobe"),
                    _ => "follow-up by supportprobe".to_string(),
                };
                messages.push(Message {
                    at,
                    author: "supportprobe".into(),
                    class: ReplyClass::Ours.as_str().into(),
                    rule,
                    excerpt: None,
                });
            }
            "reply" => {
                if e.detail.get("repeat_of").is_some_and(|r| !r.is_null()) {
                    continue;
                }
                let author = text(e, "author_name")
                    .filter(|s| !s.is_empty())
                    .or_else(|| e.author.clone())
                    .unwrap_or_else(|| "?".into());
                messages.push(Message {
                    at,
                    author,
                    class: e.class.map_or("human", |c| c.as_str()).into(),
                    rule: e.rule.clone().unwrap_or_default(),
                    excerpt: text(e, "excerpt"),
                });
            }
            "vendor_resolved" | "manual_resolved" | "breach" | "expired" | "closed" | "lost" => {
                let note = text(e, "note").or_else(|| text(e, "measure")).or_else(|| text(e, "status"));
                timeline.push(Mark { at, kind: e.kind.clone(), note });
            }
            _ => {}
        }
    }
    ProbeEvidence {
        reference: p.reference.clone(),
        vendor: p.vendor.clone(),
        channel: p.kind.clone(),
        channel_id: p.channel.clone(),
        priority: p.priority.to_string(),
        scenario: p.scenario.clone(),
        state: p.state.to_string(),
        outcome: p.outcome.map(|o| o.to_string()),
        opened_at: p.opened_at.map(rfc),
        ticket_id: p.ticket_id.clone(),
        // Linked only when it is a web address (never `javascript:` from a hostile API answer).
        ticket_url: p.ticket_url.clone().filter(|u| {
            (u.starts_with("https://") || u.starts_with("http://")) && !u.contains(['"', '<', '>', ' ', '|', ')'])
        }),
        in_hours: p.opened_at.map(|t| calendar.is_open(t)),
        first_human_response_seconds: get(Measure::FirstHumanResponse).and_then(|m| m.wall_secs),
        first_human_response_business_seconds: get(Measure::FirstHumanResponse).and_then(|m| m.business_secs),
        next_reply_seconds: l.intervals(Measure::NextReply).filter_map(|m| m.wall_secs).collect(),
        resolution_seconds: get(Measure::Resolution).and_then(|m| m.wall_secs),
        resolution_business_seconds: get(Measure::Resolution).and_then(|m| m.business_secs),
        breaches,
        bot_turns: p.bot_turns,
        handoffs: p.responders.saturating_sub(1),
        messages,
        timeline,
        ratings: ratings_in(&l.events),
        conversation: l.conversation.clone(),
        longest_silence_seconds,
        open_silence_seconds,
    }
}

/// One probe's evidence, for its page.
pub fn probe_evidence(
    config: &Config,
    store: &Store,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<Option<ProbeEvidence>, StoreError> {
    let Some(probe) = store.probe_by_reference(reference)? else { return Ok(None) };
    let always = Calendar::always("24x7");
    let calendar = config.promise(&probe.vendor, probe.priority).map_or(&always, |p| p.calendar.as_ref());
    let none = Engineers::default();
    let engineers = config.vendor(&probe.vendor).map_or(&none, |v| &v.engineers);
    let (measures, events) = (store.measures_of(probe.id)?, store.events(probe.id)?);
    Ok(Some(evidence(&Loaded::new(probe, measures, events, engineers, now), calendar)))
}
