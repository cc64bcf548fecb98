//! Second step of reading a config: resolve every reference and secret,
//! collecting all problems (with locations) instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use toml::Spanned;

use super::raw::{RawCalendar, RawCaps, RawConfig};
use super::*;
use crate::calendar::{self, Window};
use crate::model::PromiseMeasure;
use supportprobe_channels::channel_from;
use supportprobe_channels::check::Secrets;
use supportprobe_channels::check::{
    Checker as Ctx, ca_from, exactly_one_kind, is_id, known, mailbox, resolve_path, secret_from,
};
use supportprobe_channels::email::config::{SmtpSettings, smtp_port};
use supportprobe_core::diag::Pruned;
use supportprobe_core::secret::Secret;

const BUILTIN_ALWAYS: &str = "24x7";

/// How a config is read: where its environment comes from, whether secrets
/// are resolved, and what the typed read had to take out of the file.
pub(super) struct Reading<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Names in the environment, for "did you mean" on an unset variable.
    pub env_names: Vec<String>,
    pub secrets: Secrets,
    pub pruned: Pruned,
}

/// The problems found: errors (when any, no config) and warnings.
pub(super) fn validate(file: &SourceFile, raw: RawConfig, reading: &Reading<'_>) -> (Option<Config>, Vec<Diagnostic>) {
    let mut cx = Ctx::new(file, reading.env);
    cx.secrets = reading.secrets;
    let pruned = &reading.pruned;

    let api_token =
        secret_from(&mut cx, &raw.daemon.api_token, &raw.daemon.api_token_file, "api_token").map(|(s, _)| s);
    let daemon = Daemon {
        api_token,
        listen: raw.daemon.listen.0,
        data_dir: resolve_path(&file.path, &raw.daemon.data_dir),
        probes_dir: resolve_path(&file.path, &raw.daemon.probes_dir),
        dry_run: raw.daemon.dry_run,
        misfire_grace: raw.daemon.misfire_grace,
        shutdown_grace: raw.daemon.shutdown_grace,
    };

    // Calendars first: promises and simulator profiles refer to them.
    let mut calendars: BTreeMap<String, Arc<Calendar>> = BTreeMap::new();
    calendars.insert(BUILTIN_ALWAYS.into(), Arc::new(Calendar::always(BUILTIN_ALWAYS)));
    for (name, rc) in &raw.calendars {
        if name.get_ref() == BUILTIN_ALWAYS {
            cx.err(name, "`24x7` is built in and cannot be redefined");
            continue;
        }
        if !is_id(name.get_ref()) {
            cx.err(name, "calendar names use letters, digits, `-` and `_`");
            continue;
        }
        if let Some(cal) = calendar_from(&mut cx, name, rc) {
            calendars.insert(name.get_ref().clone(), Arc::new(cal));
        }
    }

    let calendar_ref = |cx: &mut Ctx<'_>, name: &Spanned<String>| -> Option<Arc<Calendar>> {
        if let Some(c) = calendars.get(name.get_ref()) {
            return Some(c.clone());
        }
        if !pruned.covers(&["calendars", name.get_ref()]) {
            let mut names: Vec<&str> = calendars.keys().map(String::as_str).collect();
            names.extend(pruned.names_under(&["calendars"]));
            cx.err_near(
                name,
                format!("unknown calendar `{}` ({})", name.get_ref(), known(calendars.keys())),
                name.get_ref(),
                names,
            );
        }
        None
    };

    let mut vendors = BTreeMap::new();
    let vendor_spans: BTreeMap<String, Range<usize>> =
        raw.vendors.keys().map(|k| (k.get_ref().clone(), k.span())).collect();
    let mut raw_channel_ids: BTreeSet<String> =
        raw.vendors.values().flat_map(|v| v.channels.keys().map(|k| k.get_ref().clone())).collect();
    raw_channel_ids.extend(pruned.names_under_any(&["vendors", "*", "channels"]).map(str::to_string));
    // Vendors with a channel whose table has errors (already reported).
    let mut broken_channels: BTreeSet<String> = BTreeSet::new();
    for (id, rv) in raw.vendors {
        if !is_id(id.get_ref()) {
            cx.err(&id, "vendor ids use letters, digits, `-` and `_` (they become metric labels)");
            continue;
        }
        let mut promises = BTreeMap::new();
        for (priority, rp) in &rv.promise {
            let calendar = match &rp.calendar {
                Some(name) => calendar_ref(&mut cx, name),
                None => calendars.get(BUILTIN_ALWAYS).cloned(),
            };
            let mut targets = BTreeMap::new();
            for (m, d) in [
                (PromiseMeasure::FirstResponse, rp.first_response),
                (PromiseMeasure::NextReply, rp.next_reply),
                (PromiseMeasure::Resolution, rp.resolution),
                (PromiseMeasure::UpdateInterval, rp.update_interval),
            ] {
                if let Some(d) = d {
                    targets.insert(m, d);
                }
            }
            if let Some(calendar) = calendar {
                promises.insert(*priority, Promise { targets, calendar });
            }
        }
        let mut channels = BTreeMap::new();
        let mut kinds_seen: BTreeMap<ChannelKind, String> = BTreeMap::new();
        for (cid, rc) in &rv.channels {
            if !is_id(cid.get_ref()) {
                cx.err(cid, "channel ids use letters, digits, `-` and `_`");
                continue;
            }
            if pruned.touches(&["vendors", id.get_ref(), "channels", cid.get_ref()]) {
                // Its table lost a broken part (already reported): the rest is not judged until that is fixed.
                continue;
            }
            let Some(spec) = channel_from(&mut cx, id.get_ref(), cid, rc) else {
                broken_channels.insert(id.get_ref().clone());
                continue;
            };
            if let Some(other) = kinds_seen.insert(spec.kind, cid.get_ref().clone()) {
                cx.err(
                    cid,
                    format!(
                        "vendor `{}` already has a {} channel (`{other}`); the `channel` metric label is the kind, so each vendor has at most one channel per kind",
                        id.get_ref(),
                        spec.kind
                    ),
                );
                continue;
            }
            channels.insert(cid.get_ref().clone(), spec);
        }
        let caps = caps_from(&mut cx, &rv.caps);
        if let Some(l) = &rv.rate_limit_per_minute
            && *l.get_ref() == 0
        {
            cx.err(l, "a rate limit of 0 requests per minute would never send anything; use `[vendors.NAME.caps] paused = true`");
        }
        let vid = id.into_inner();
        vendors.insert(
            vid.clone(),
            Vendor {
                name: rv.name.unwrap_or_else(|| vid.clone()),
                id: vid,
                promises,
                channels,
                caps,
                classify: rv.classify,
                engineers: rv.engineers,
                compliance_target: rv.compliance_target.map_or(0.9, |s| s.0),
                rate_limit_per_minute: rv.rate_limit_per_minute.map(|l| l.into_inner()),
                rate_budget: rv.rate_budget,
            },
        );
    }

    // Schedules, and the scenarios they use.
    let mut scenarios: BTreeMap<String, Arc<Scenario>> = BTreeMap::new();
    let mut failed_scenarios: BTreeSet<String> = BTreeSet::new();
    let mut schedules = Vec::new();
    let mut cron_spans: BTreeMap<usize, Range<usize>> = BTreeMap::new();
    for (index, rs) in raw.schedules.into_iter().enumerate() {
        if !rs.enabled {
            continue;
        }
        let sid = rs.scenario.get_ref().clone();
        let scenario = if let Some(s) = scenarios.get(&sid) {
            Some(s.clone())
        } else if failed_scenarios.contains(&sid) {
            None
        } else if !is_id(&sid) {
            cx.err(&rs.scenario, "scenario ids are file names in the probes directory: letters, digits, `-` and `_`");
            None
        } else if !daemon.probes_dir.join(format!("{sid}.toml")).is_file() {
            cx.err(
                &rs.scenario,
                format!(
                    "unknown scenario `{sid}`: no file {}",
                    daemon.probes_dir.join(format!("{sid}.toml")).display()
                ),
            );
            failed_scenarios.insert(sid.clone());
            None
        } else {
            match Scenario::load(&daemon.probes_dir, &sid) {
                Ok(s) => {
                    let s = Arc::new(s);
                    scenarios.insert(sid.clone(), s.clone());
                    Some(s)
                }
                Err(mut errs) => {
                    cx.errors.append(&mut errs);
                    failed_scenarios.insert(sid.clone());
                    None
                }
            }
        };

        let all_vendors = rs.vendors.get_ref().iter().any(|v| v.get_ref() == "*");
        let index = pruned.original_index("schedules", index);
        let vendor_ids: Vec<Spanned<String>> = if all_vendors {
            vendors.keys().map(|k| Spanned::new(rs.vendors.span(), k.clone())).collect()
        } else {
            rs.vendors.get_ref().clone()
        };
        if vendor_ids.is_empty() {
            cx.err(&rs.vendors, "a schedule needs at least one vendor (or `[\"*\"]` for all)");
        }
        let mut targets = Vec::new();
        // Channel names of `channels = [...]` that matched some vendor's channel.
        let mut matched: BTreeSet<String> = BTreeSet::new();
        for v in &vendor_ids {
            let Some(vendor) = vendors.get(v.get_ref()) else {
                unknown_vendor(&mut cx, pruned, &vendors, v);
                continue;
            };
            match &rs.channels {
                None => {
                    if vendor.channels.is_empty()
                        && !all_vendors
                        && !pruned.touches(&["vendors", &vendor.id])
                        && !broken_channels.contains(&vendor.id)
                    {
                        cx.err(v, format!("vendor `{}` has no channels to probe", vendor.id));
                    }
                    for c in vendor.channels.keys() {
                        targets.push(Target { vendor: vendor.id.clone(), channel: c.clone() });
                    }
                }
                Some(list) => {
                    for c in list {
                        let found = vendor
                            .channels
                            .values()
                            .find(|spec| spec.id == *c.get_ref() || spec.kind.as_str() == c.get_ref());
                        match found {
                            Some(spec) => {
                                matched.insert(c.get_ref().clone());
                                targets.push(Target { vendor: vendor.id.clone(), channel: spec.id.clone() })
                            }
                            None if all_vendors => {}
                            None if pruned.touches(&["vendors", &vendor.id])
                                || broken_channels.contains(&vendor.id) => {}
                            None => {
                                let mut names: Vec<&str> = vendor.channels.keys().map(String::as_str).collect();
                                names.extend(vendor.channels.values().map(|c| c.kind.as_str()));
                                cx.err_near(
                                    c,
                                    format!(
                                        "vendor `{}` has no channel `{}` ({})",
                                        vendor.id,
                                        c.get_ref(),
                                        known(vendor.channels.keys())
                                    ),
                                    c.get_ref(),
                                    names,
                                )
                            }
                        }
                    }
                }
            }
        }
        if let Some(list) = &rs.channels
            && all_vendors
        {
            // Every channel id written in the file, and the kinds of the channels that are valid
            // (any kind, when some channel has errors: its kind may be the one named).
            let mut names: BTreeSet<&str> = raw_channel_ids.iter().map(String::as_str).collect();
            for v in vendors.values() {
                names.extend(v.channels.values().map(|c| c.kind.as_str()));
            }
            if !broken_channels.is_empty() || pruned.touches(&["vendors"]) {
                names.extend(ChannelKind::ALL.iter().map(|k| k.as_str()));
            }
            for c in list {
                if !matched.contains(c.get_ref()) && !names.contains(c.get_ref().as_str()) {
                    let d = Diagnostic::at(
                        file,
                        c.span(),
                        format!(
                            "`{}` matches no channel of any vendor: this schedule opens no probes on it (channel ids and kinds: {})",
                            c.get_ref(),
                            names.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .suggest(c.get_ref(), names.iter().copied())
                    .warning();
                    cx.warnings.push(d);
                }
            }
        }
        if targets.is_empty() && !vendor_ids.is_empty() && rs.channels.is_some() && all_vendors {
            cx.warn(&rs.scenario, format!("schedule #{} has no target: it never opens a probe", index + 1));
        }
        targets.sort();
        targets.dedup();
        let cron = match super::raw::CronExpr::try_from(rs.cron.get_ref().clone()) {
            Ok(c) => Some(c),
            Err(e) => {
                cx.err(&rs.cron, e);
                None
            }
        };
        let (Some(scenario), Some(cron)) = (scenario, cron) else { continue };
        if !scenario.follow_ups.is_empty() {
            let manual = targets.iter().find(|t| {
                vendors
                    .get(&t.vendor)
                    .and_then(|v| v.channels.get(&t.channel))
                    .is_some_and(|c| c.kind == crate::channel::ChannelKind::Manual)
            });
            if let Some(t) = manual {
                cx.err(
                    &rs.scenario,
                    format!(
                        "scenario `{}` has follow-ups, which the manual channel `{}` of vendor `{}` cannot send: use a scenario without `follow_ups` for it, or name this schedule's `channels`",
                        scenario.id, t.channel, t.vendor
                    ),
                );
            }
        }
        let give_up_after = rs.give_up_after.unwrap_or(scenario.give_up_after);
        for t in &targets {
            if let Some(kind) = vendors.get(&t.vendor).and_then(|v| v.channels.get(&t.channel)).map(|c| c.kind)
                && kind.is_public()
                && matches!(scenario.priority, Priority::P0 | Priority::P1)
            {
                cx.warn(
                    &rs.scenario,
                    format!(
                        "scenario `{}` is {} and channel `{}` of vendor `{}` is a public {kind} tracker: its subject and body (\"{}\") are posted where anyone can read them; use a scenario worded for the public, or a private channel",
                        scenario.id,
                        scenario.priority,
                        t.channel,
                        t.vendor,
                        scenario.subject_preview()
                    ),
                );
            }
            let Some(promise) = vendors.get(&t.vendor).and_then(|v| v.promises.get(&scenario.priority)) else {
                cx.warn(
                    &rs.scenario,
                    format!(
                        "vendor `{}` has no promise for {} (scenario `{}`): figures are measured but not judged",
                        t.vendor, scenario.priority, scenario.id
                    ),
                );
                continue;
            };
            for (m, d) in &promise.targets {
                if matches!(m, PromiseMeasure::FirstResponse | PromiseMeasure::Resolution) && give_up_after < *d {
                    cx.warn(
                        &rs.scenario,
                        format!(
                            "schedule #{} gives up after {give_up_after}, before vendor `{}`'s {} {m} promise of {d}: expired probes count as breaches",
                            index + 1,
                            t.vendor,
                            scenario.priority
                        ),
                    );
                }
            }
        }
        cron_spans.insert(index, rs.cron.span());
        schedules.push(Schedule {
            index,
            scenario,
            targets,
            cron: cron.schedule,
            cron_text: cron.text,
            timezone: rs.timezone.map_or(chrono_tz::UTC, |t| t.0),
            jitter: rs.jitter.unwrap_or(Dur::ZERO),
            give_up_after,
            follow_up_delay: rs.follow_up_delay,
        });
    }

    let mut notify = BTreeMap::new();
    for (name, rn) in &raw.notify {
        if !is_id(name.get_ref()) {
            cx.err(name, "notification target names use letters, digits, `-` and `_` (they become metric labels)");
            continue;
        }
        for v in &rn.get_ref().vendors {
            if !vendors.contains_key(v.get_ref()) {
                unknown_vendor(&mut cx, pruned, &vendors, v);
            }
        }
        if let Some(sink) = sink_from(&mut cx, name, rn) {
            let r = rn.get_ref();
            notify.insert(
                name.get_ref().clone(),
                NotifyTarget {
                    name: name.get_ref().clone(),
                    events: r.events.clone(),
                    vendors: r.vendors.iter().map(|v| v.get_ref().clone()).collect(),
                    priorities: r.priorities.clone(),
                    sink,
                },
            );
        }
    }

    let rs = &raw.scorecard;
    let scorecard = crate::ScorecardGrades {
        excellent: rs.excellent.map(|s| s.0),
        acceptable: rs.acceptable.map(|s| s.0),
        min_judged: rs.min_judged.unwrap_or(5).max(1),
    };
    if let (Some(e), Some(a)) = (scorecard.excellent, scorecard.acceptable)
        && e < a
    {
        cx.warn_file(format!("[scorecard] excellent = {e} is below acceptable = {a}: excellent is taken as {a}"));
    }
    same_vendor_twice(&mut cx, &vendors, &vendor_spans);
    bursts_past_max_open(&mut cx, &vendors, &schedules, &cron_spans);
    cx.finish_env(&reading.env_names);
    if !cx.errors.is_empty() {
        let mut all = cx.errors;
        all.append(&mut cx.warnings);
        return (None, all);
    }
    let warnings = std::mem::take(&mut cx.warnings);
    (
        Some(Config {
            notify,
            file: file.clone(),
            daemon,
            calendars,
            vendors,
            scenarios,
            schedules,
            scorecard,
            warnings: warnings.clone(),
        }),
        warnings,
    )
}

/// The same vendor configured twice under ids that differ only in letter
/// case or punctuation (`Alpha` and `alpha`), or two vendors on one helpdesk
/// address: their probes would be counted as two vendors.
fn same_vendor_twice(cx: &mut Ctx<'_>, vendors: &BTreeMap<String, Vendor>, spans: &BTreeMap<String, Range<usize>>) {
    let fold = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    let list: Vec<&Vendor> = vendors.values().collect();
    for (i, a) in list.iter().enumerate() {
        for b in &list[i + 1..] {
            let (first, second) = match (spans.get(&a.id), spans.get(&b.id)) {
                (Some(x), Some(y)) if x.start <= y.start => ((a, x), (b, y)),
                (Some(x), Some(y)) => ((b, y), (a, x)),
                _ => continue,
            };
            let (l, c) = cx.file.line_col(first.1.start);
            let at = format!("{}:{l}:{c}", cx.file.path.display());
            // Where a channel points: the first word of its description (a URL, a repository, an address).
            let endpoint = |c: &ChannelSpec| c.settings.describe().split_whitespace().next().map(str::to_string);
            let shared = a.channels.values().find_map(|ca| {
                b.channels
                    .values()
                    .find(|cb| ca.kind == cb.kind && endpoint(ca).is_some() && endpoint(ca) == endpoint(cb))
                    .map(|_| ca)
            });
            if fold(&a.id) == fold(&b.id) {
                cx.warnings.push(
                    Diagnostic::at(
                        cx.file,
                        second.1.clone(),
                        format!(
                            "vendor `{}` looks like vendor `{}` (ids differ only in case or punctuation): they are measured as two vendors",
                            second.0.id, first.0.id
                        ),
                    )
                    .note(format!("note: `{}` is defined at {at}", first.0.id))
                    .warning(),
                );
            } else if let Some(ch) = shared {
                cx.warnings.push(
                    Diagnostic::at(
                        cx.file,
                        second.1.clone(),
                        format!(
                            "vendors `{}` and `{}` have the same {} channel ({}): one helpdesk measured as two vendors",
                            first.0.id,
                            second.0.id,
                            ch.kind,
                            endpoint(ch).unwrap_or_default()
                        ),
                    )
                    .note(format!("note: `{}` is defined at {at}", first.0.id))
                    .warning(),
                );
            }
        }
    }
}

/// A reference to a vendor the config does not define, with the nearest id;
/// quiet when the vendor's table was taken out for an error already reported.
fn unknown_vendor(cx: &mut Ctx<'_>, pruned: &Pruned, vendors: &BTreeMap<String, Vendor>, v: &Spanned<String>) {
    if pruned.covers(&["vendors", v.get_ref()]) {
        return;
    }
    let names: Vec<&str> = vendors.keys().map(String::as_str).collect();
    cx.err_near(v, format!("unknown vendor `{}` ({})", v.get_ref(), known(vendors.keys())), v.get_ref(), names);
}

/// Schedules that fire together open more probes on a vendor at one instant
/// than its `max_open` allows: the rest are skipped every time.
fn bursts_past_max_open(
    cx: &mut Ctx<'_>,
    vendors: &BTreeMap<String, Vendor>,
    schedules: &[Schedule],
    cron_spans: &BTreeMap<usize, Range<usize>>,
) {
    use chrono::Duration;
    let start = Utc::now();
    let end = start + Duration::days(7);
    // Each schedule's fires in the next week, worked out once (on first need) for every vendor it touches.
    let mut fires: Vec<Option<Vec<chrono::DateTime<Utc>>>> = vec![None; schedules.len()];
    for v in vendors.values() {
        let Some(max) = v.caps.max_open else { continue };
        // Every fire of the next week that touches this vendor, with how many probes it opens.
        let mut at: BTreeMap<chrono::DateTime<Utc>, (u32, Vec<usize>)> = BTreeMap::new();
        for (i, s) in schedules.iter().enumerate() {
            let n = s.targets.iter().filter(|t| t.vendor == v.id).count() as u32;
            if n == 0 {
                continue;
            }
            let week = fires[i].get_or_insert_with(|| {
                s.cron
                    .after(&start.with_timezone(&s.timezone))
                    .take(10_000)
                    .map(|t| t.with_timezone(&Utc))
                    .take_while(|t| *t <= end)
                    .collect()
            });
            for &t in week.iter() {
                let e = at.entry(t).or_default();
                e.0 += n;
                if !e.1.contains(&(s.index + 1)) {
                    e.1.push(s.index + 1);
                }
            }
        }
        if let Some((t, (n, which))) = at.iter().find(|(_, (n, _))| *n > max) {
            let names: Vec<String> = which.iter().map(|i| format!("#{i}")).collect();
            let span =
                schedules.iter().find(|s| s.index + 1 == which[0]).and_then(|s| cron_spans.get(&s.index)).cloned();
            let d = match span {
                Some(span) => Diagnostic::at(cx.file, span, String::new()),
                None => Diagnostic::in_file(cx.file, String::new()),
            };
            cx.warnings.push(Diagnostic { message: format!(
                "schedule{} {} open{} {n} probes on vendor `{}` at once (first at {}), past its max_open = {max}: {} skipped each time; spread the schedules' times or raise max_open",
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                if names.len() == 1 { "s" } else { "" },
                v.id,
                t.format("%Y-%m-%d %H:%M UTC"),
                if n - max == 1 { "one is".to_string() } else { format!("{} are", n - max) }
            ), ..d.warning() });
        }
    }
}

fn weekly_from(cx: &mut Ctx<'_>, table: &BTreeMap<Spanned<String>, Spanned<String>>) -> [Vec<Window>; 7] {
    let mut weekly: [Vec<Window>; 7] = Default::default();
    for (days, hours) in table {
        let d = calendar::parse_days(days.get_ref());
        let w = calendar::parse_windows(hours.get_ref());
        match (d, w) {
            (Ok(days_list), Ok(windows)) => {
                for day in days_list {
                    let slot = &mut weekly[day.num_days_from_monday() as usize];
                    if !slot.is_empty() {
                        cx.err(days, format!("{day} is given hours twice"));
                    }
                    slot.clone_from(&windows);
                }
            }
            (d, w) => {
                if let Err(e) = d {
                    cx.err(days, e);
                }
                if let Err(e) = w {
                    cx.err(hours, e);
                }
            }
        }
    }
    weekly
}

fn calendar_from(cx: &mut Ctx<'_>, name: &Spanned<String>, rc: &RawCalendar) -> Option<Calendar> {
    let before = cx.errors.len();
    let weekly = weekly_from(cx, &rc.weekly);
    let mut holidays = BTreeSet::new();
    // Built-in sets named (`"cn"`): their days off, make-up days and where their data ends.
    let mut sets: Vec<&'static supportprobe_core::holidays::HolidaySet> = Vec::new();
    for h in &rc.holidays.0 {
        let text = h.get_ref().trim();
        if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphabetic()) {
            match supportprobe_core::holidays::set(text) {
                Some(set) if !sets.iter().any(|s| s.name == set.name) => sets.push(set),
                Some(_) => {}
                None => {
                    let names: Vec<&str> = supportprobe_core::holidays::names().collect();
                    cx.err_near(
                        h,
                        format!("unknown holiday set `{text}` (built in: {})", names.join(", ")),
                        text,
                        names.clone(),
                    );
                }
            }
            continue;
        }
        match calendar::parse_date_range(text) {
            Ok((a, b)) => holidays.extend(a.iter_days().take_while(|d| *d <= b)),
            // A lone word-like entry may have meant a set: say they exist.
            Err(e) if !text.contains("..") => {
                let names: Vec<&str> = supportprobe_core::holidays::names().collect();
                cx.err(h, format!("{e}; or name a built-in holiday set ({})", names.join(", ")))
            }
            Err(e) => cx.err(h, e),
        }
    }
    for set in &sets {
        holidays.extend(set.holidays());
    }
    let mut workdays = BTreeMap::new();
    for (date, hours) in &rc.workdays {
        let d = NaiveDate::parse_from_str(date.get_ref(), "%Y-%m-%d");
        let w = calendar::parse_windows(hours.get_ref());
        match (d, w) {
            (Ok(d), Ok(w)) => {
                workdays.insert(d, w);
            }
            (d, w) => {
                if d.is_err() {
                    cx.err(date, format!("`{}` is not a date (expected YYYY-MM-DD)", date.get_ref()));
                }
                if let Err(e) = w {
                    cx.err(hours, e);
                }
            }
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    // A set's make-up working days keep the calendar's ordinary weekday hours
    // (the first of Monday..Friday with any); a `workdays` entry of its own wins.
    let ordinary: Vec<Window> = weekly[..5].iter().find(|w| !w.is_empty()).cloned().unwrap_or_default();
    if !ordinary.is_empty() {
        for set in &sets {
            for day in set.workdays() {
                if !holidays.contains(&day) {
                    workdays.entry(day).or_insert_with(|| ordinary.clone());
                }
            }
        }
    }
    let covered: Vec<(String, NaiveDate)> = sets.iter().map(|s| (s.name.to_string(), s.covered_until())).collect();
    match Calendar::weekly(name.get_ref(), rc.timezone.0, weekly, holidays, workdays) {
        Ok(c) => Some(c.with_holiday_sets(covered)),
        Err(e) => {
            cx.err(name, format!("calendar `{}` {e}", name.get_ref()));
            None
        }
    }
}

fn parse_local(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN)))
}

fn caps_from(cx: &mut Ctx<'_>, rc: &RawCaps) -> Caps {
    let tz: Tz = rc.timezone.map_or(chrono_tz::UTC, |t| t.0);
    let mut quiet = Vec::new();
    for q in &rc.quiet {
        let s = q.get_ref();
        let Some((a, b)) = s.split_once("..") else {
            cx.err(
                q,
                format!(
                    "`{s}` is not a range (expected `2026-12-24..2026-12-26` or `2026-12-24T18:00..2026-12-25T09:00`)"
                ),
            );
            continue;
        };
        let whole_days = !a.contains('T') && !b.contains('T');
        match (parse_local(a.trim()), parse_local(b.trim())) {
            (Some(start), Some(end)) => {
                let end = if whole_days { end + chrono::Duration::days(1) } else { end };
                let to_utc = |n: NaiveDateTime| tz.from_local_datetime(&n).earliest().map(|t| t.with_timezone(&Utc));
                match (to_utc(start), to_utc(end)) {
                    (Some(s2), Some(e2)) if e2 > s2 => quiet.push((s2, e2)),
                    _ => cx.err(q, format!("quiet period `{s}` is empty or ends before it starts")),
                }
            }
            _ => cx.err(q, format!("`{s}` is not a range of dates or local times (YYYY-MM-DD or YYYY-MM-DDTHH:MM)")),
        }
    }
    let quiet_weekly = if rc.quiet_weekly.is_empty() {
        None
    } else {
        let weekly = weekly_from(cx, &rc.quiet_weekly);
        Calendar::weekly("quiet", tz, weekly, BTreeSet::new(), BTreeMap::new()).ok().map(Arc::new)
    };
    Caps { max_open: rc.max_open, max_per_day: rc.max_per_day, paused: rc.paused, quiet, quiet_weekly }
}

/// A URL that may hold `${VAR}` (and so a secret): the error never repeats its value.
fn secret_url(cx: &mut Ctx<'_>, url: &Spanned<String>) -> Option<Secret> {
    let (value, _) = cx.expand(url)?;
    match reqwest::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(Secret::new(value)),
        _ => {
            cx.err(url, "not an http(s) URL (after expanding ${...})");
            None
        }
    }
}

fn sink_from(cx: &mut Ctx<'_>, name: &Spanned<String>, rn: &Spanned<super::raw::RawNotify>) -> Option<Sink> {
    let r = rn.get_ref();
    let present = [
        r.webhook.as_ref().map(|_| "webhook"),
        r.slack.as_ref().map(|_| "slack"),
        r.feishu.as_ref().map(|_| "feishu"),
        r.dingtalk.as_ref().map(|_| "dingtalk"),
        r.wecom.as_ref().map(|_| "wecom"),
        r.email.as_ref().map(|_| "email"),
    ];
    let example = format!("[notify.{}.slack]", name.get_ref());
    let all: Vec<&str> = NotifyKind::ALL.iter().map(|k| k.as_str()).collect();
    if !exactly_one_kind(cx, name, "notification target", &present, &example, &all) {
        return None;
    }
    if let Some(w) = &r.webhook {
        let url = secret_url(cx, &w.url);
        let mut headers = Vec::new();
        for (k, v) in &w.headers {
            if let Some((value, _)) = cx.expand(v) {
                headers.push((k.clone(), Secret::new(value)));
            }
        }
        return Some(Sink::Webhook { url: url?, headers });
    }
    if let Some(s) = &r.slack {
        return Some(Sink::Slack { url: secret_url(cx, &s.url)? });
    }
    if let Some(w) = &r.wecom {
        return Some(Sink::Wecom { url: secret_url(cx, &w.url)? });
    }
    if let Some(f) = r.feishu.as_ref().or(r.dingtalk.as_ref()) {
        let url = secret_url(cx, &f.url);
        let secret = secret_from(cx, &f.secret, &f.secret_file, "secret").map(|(s, _)| s);
        let url = url?;
        return Some(if r.feishu.is_some() { Sink::Feishu { url, secret } } else { Sink::Dingtalk { url, secret } });
    }
    let e = r.email.as_ref()?;
    let em = e.get_ref();
    let password = secret_from(cx, &em.password, &em.password_file, "password").map(|(s, _)| s);
    if password.is_some() && em.username.is_none() {
        cx.err(e, "email: `password` needs `username`");
    }
    let from = mailbox(cx, &em.from);
    let to: Vec<_> = em.to.iter().filter_map(|t| mailbox(cx, t)).collect();
    if em.to.is_empty() {
        cx.err(e, "email: `to` needs at least one address");
    }
    let smtp = SmtpSettings {
        host: em.host.clone(),
        port: em.port.unwrap_or_else(|| smtp_port(em.tls)),
        tls: em.tls,
        username: em.username.clone(),
        password,
        extra_roots: ca_from(cx, &em.ca_file),
    };
    Some(Sink::Email(EmailSink { smtp, from: from?, to }))
}
