//! Second step of reading a config: resolve every reference and secret,
//! collecting all problems (with locations) instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use toml::Spanned;

use super::raw::{RawCalendar, RawCaps, RawConfig};
use super::*;
use crate::calendar::{self, Window};
use crate::model::PromiseMeasure;
use supportprobe_channels::channel_from;
use supportprobe_channels::check::{
    Checker as Ctx, ca_from, exactly_one_kind, is_id, known, mailbox, resolve_path, secret_from,
};
use supportprobe_channels::email::config::{SmtpSettings, smtp_port};
use supportprobe_core::secret::{Secret, expand};

const BUILTIN_ALWAYS: &str = "24x7";

pub(super) fn validate(
    file: &SourceFile,
    raw: RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Diagnostic>> {
    let mut cx = Ctx::new(file, env);

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
        match calendars.get(name.get_ref()) {
            Some(c) => Some(c.clone()),
            None => {
                cx.err(name, format!("unknown calendar `{}` ({})", name.get_ref(), known(calendars.keys())));
                None
            }
        }
    };

    let mut vendors = BTreeMap::new();
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
            let Some(spec) = channel_from(&mut cx, id.get_ref(), cid, rc) else { continue };
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
        let vendor_ids: Vec<Spanned<String>> = if all_vendors {
            vendors.keys().map(|k| Spanned::new(rs.vendors.span(), k.clone())).collect()
        } else {
            rs.vendors.get_ref().clone()
        };
        if vendor_ids.is_empty() {
            cx.err(&rs.vendors, "a schedule needs at least one vendor (or `[\"*\"]` for all)");
        }
        let mut targets = Vec::new();
        for v in &vendor_ids {
            let Some(vendor) = vendors.get(v.get_ref()) else {
                cx.err(v, format!("unknown vendor `{}` ({})", v.get_ref(), known(vendors.keys())));
                continue;
            };
            match &rs.channels {
                None => {
                    if vendor.channels.is_empty() && !all_vendors {
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
                            Some(spec) => targets.push(Target { vendor: vendor.id.clone(), channel: spec.id.clone() }),
                            None if all_vendors => {}
                            None => cx.err(
                                c,
                                format!(
                                    "vendor `{}` has no channel `{}` ({})",
                                    vendor.id,
                                    c.get_ref(),
                                    known(vendor.channels.keys())
                                ),
                            ),
                        }
                    }
                }
            }
        }
        targets.sort();
        targets.dedup();
        let Some(scenario) = scenario else { continue };
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
            let Some(promise) = vendors.get(&t.vendor).and_then(|v| v.promises.get(&scenario.priority)) else {
                cx.warnings.push(format!(
                    "vendor `{}` has no promise for {} (scenario `{}`): figures are measured but not judged",
                    t.vendor, scenario.priority, scenario.id
                ));
                continue;
            };
            for (m, d) in &promise.targets {
                if matches!(m, PromiseMeasure::FirstResponse | PromiseMeasure::Resolution) && give_up_after < *d {
                    cx.warnings.push(format!(
                        "schedule #{} gives up after {give_up_after}, before vendor `{}`'s {} {m} promise of {d}: expired probes count as breaches",
                        index + 1,
                        t.vendor,
                        scenario.priority
                    ));
                }
            }
        }
        schedules.push(Schedule {
            index,
            scenario,
            targets,
            cron: rs.cron.schedule,
            cron_text: rs.cron.text,
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
                cx.err(v, format!("unknown vendor `{}` ({})", v.get_ref(), known(vendors.keys())));
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
        cx.warnings.push(format!("[scorecard] excellent = {e} is below acceptable = {a}: excellent is taken as {a}"));
    }
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    Ok(Config {
        notify,
        file: file.clone(),
        daemon,
        calendars,
        vendors,
        scenarios,
        schedules,
        scorecard,
        warnings: cx.warnings,
    })
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
    for h in &rc.holidays {
        match calendar::parse_date_range(h.get_ref()) {
            Ok((a, b)) => holidays.extend(a.iter_days().take_while(|d| *d <= b)),
            Err(e) => cx.err(h, e),
        }
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
    match Calendar::weekly(name.get_ref(), rc.timezone.0, weekly, holidays, workdays) {
        Ok(c) => Some(c),
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
    let (value, _) = match expand(url.get_ref(), cx.env) {
        Ok(v) => v,
        Err(e) => {
            cx.err(url, e);
            return None;
        }
    };
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
            match expand(v.get_ref(), cx.env) {
                Ok((value, _)) => headers.push((k.clone(), Secret::new(value))),
                Err(e) => cx.err(v, e),
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
