//! Second step of reading a config: resolve every reference and secret,
//! collecting all problems (with locations) instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use toml::Spanned;

use super::raw::{RawCalendar, RawCaps, RawChannel, RawConfig, RawZendesk};
use super::secret::{Secret, SecretSource, expand};
use super::*;
use crate::calendar::{self, Window};
use crate::model::PromiseMeasure;

const BUILTIN_ALWAYS: &str = "24x7";

struct Ctx<'a> {
    file: &'a SourceFile,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<Diagnostic>,
    warnings: Vec<String>,
}

impl Ctx<'_> {
    fn err<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.errors.push(Diagnostic::at(self.file, spanned.span(), message));
    }

    fn err_span(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        self.errors.push(Diagnostic::at(self.file, span, message));
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn known(names: impl Iterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = names.map(|n| n.as_ref().to_string()).collect();
    if v.is_empty() { "none defined".to_string() } else { format!("defined: {}", v.join(", ")) }
}

pub(super) fn validate(
    file: &SourceFile,
    raw: RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Diagnostic>> {
    let mut cx = Ctx { file, env, errors: Vec::new(), warnings: Vec::new() };

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
                    .is_some_and(|c| c.kind == crate::model::ChannelKind::Manual)
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
                if *m != PromiseMeasure::NextReply && give_up_after < *d {
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

    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    Ok(Config { notify, file: file.clone(), daemon, calendars, vendors, scenarios, schedules, warnings: cx.warnings })
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

fn secret_from(
    cx: &mut Ctx<'_>,
    value: &Option<Spanned<String>>,
    file: &Option<Spanned<PathBuf>>,
    key: &str,
) -> Option<(Secret, SecretSource)> {
    match (value, file) {
        (Some(_), Some(f)) => {
            cx.err(f, format!("set either `{key}` or `{key}_file`, not both"));
            None
        }
        (Some(v), None) => match expand(v.get_ref(), cx.env) {
            Ok((s, src)) => Some((Secret::new(s), src)),
            Err(e) => {
                cx.err(v, e);
                None
            }
        },
        (None, Some(f)) => {
            let path = resolve_path(&cx.file.path, f.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(s) if !s.trim().is_empty() => Some((
                    Secret::new(s.trim_end_matches(['\n', '\r'])),
                    SecretSource::File(path.display().to_string()),
                )),
                Ok(_) => {
                    cx.err(f, format!("secret file {} is empty", path.display()));
                    None
                }
                Err(e) => {
                    cx.err(f, format!("cannot read secret file {}: {e}", path.display()));
                    None
                }
            }
        }
        (None, None) => None,
    }
}

fn zendesk_from(cx: &mut Ctx<'_>, rz: &Spanned<RawZendesk>) -> Option<ZendeskSettings> {
    let z = rz.get_ref();
    let given = [
        z.token.is_some() || z.token_file.is_some(),
        z.password.is_some() || z.password_file.is_some(),
        z.oauth_token.is_some() || z.oauth_token_file.is_some(),
    ];
    match given.iter().filter(|g| **g).count() {
        0 => {
            cx.err(
                rz,
                "zendesk: credentials missing: set `token` (with `email`), `password` (with `email`) or `oauth_token`",
            );
            return None;
        }
        1 => {}
        _ => {
            cx.err(rz, "zendesk: give exactly one of token, password or oauth_token");
            return None;
        }
    }
    // A secret that fails to resolve has recorded its own located error.
    let token = secret_from(cx, &z.token, &z.token_file, "token");
    let password = secret_from(cx, &z.password, &z.password_file, "password");
    let oauth = secret_from(cx, &z.oauth_token, &z.oauth_token_file, "oauth_token");
    let need_email = |cx: &mut Ctx<'_>| -> Option<String> {
        match &z.email {
            Some(e) if e.contains('@') => Some(e.clone()),
            Some(e) => {
                cx.err(rz, format!("zendesk: `email = \"{e}\"` is not an email address"));
                None
            }
            None => {
                cx.err(rz, "zendesk: token and password authentication need `email` (the requester's address)");
                None
            }
        }
    };
    let auth = if let Some((token, source)) = token {
        ZendeskAuth::Token { email: need_email(cx)?, token, source }
    } else if let Some((password, source)) = password {
        ZendeskAuth::Password { email: need_email(cx)?, password, source }
    } else {
        let (token, source) = oauth?;
        ZendeskAuth::Bearer { token, source }
    };
    Some(ZendeskSettings {
        base_url: z.base_url.0.clone(),
        auth,
        set_priority: z.set_priority,
        recovery_pages: z.recovery_pages.max(1),
    })
}

fn channel_from(cx: &mut Ctx<'_>, vendor: &str, id: &Spanned<String>, rc: &Spanned<RawChannel>) -> Option<ChannelSpec> {
    let c = rc.get_ref();
    let present = [
        c.zendesk.as_ref().map(|_| "zendesk"),
        c.email.as_ref().map(|_| "email"),
        c.rt.as_ref().map(|_| "rt"),
        c.github.as_ref().map(|_| "github"),
        c.manual.as_ref().map(|_| "manual"),
        c.freshdesk.as_ref().map(|_| "freshdesk"),
        c.jira_sm.as_ref().map(|_| "jira_sm"),
        c.slack.as_ref().map(|_| "slack"),
        c.intercom.as_ref().map(|_| "intercom"),
        c.feishu.as_ref().map(|_| "feishu"),
        c.http.as_ref().map(|_| "http"),
    ];
    let example = format!("[vendors.{vendor}.channels.{}.zendesk]", id.get_ref());
    let all: Vec<&str> = ChannelKind::ALL.iter().map(|k| k.as_str()).collect();
    if !exactly_one_kind(cx, id, "channel", &present, &example, &all) {
        return None;
    }
    let (kind, settings) = if let Some(z) = &c.zendesk {
        (ChannelKind::Zendesk, ChannelSettings::Zendesk(zendesk_from(cx, z)?))
    } else if let Some(e) = &c.email {
        (ChannelKind::Email, ChannelSettings::Email(email_from(cx, e)?))
    } else if let Some(r) = &c.rt {
        (ChannelKind::Rt, ChannelSettings::Rt(rt_from(cx, r)?))
    } else if let Some(g) = &c.github {
        (ChannelKind::Github, ChannelSettings::Github(github_from(cx, g)?))
    } else if let Some(f) = &c.freshdesk {
        let fd = f.get_ref();
        let email = mailbox(cx, &fd.email).map(|m| m.email.to_string());
        if fd.api_key.is_none() && fd.api_key_file.is_none() {
            cx.err(f, "freshdesk: credentials missing: set `api_key` or `api_key_file`");
        }
        let key = secret_from(cx, &fd.api_key, &fd.api_key_file, "api_key");
        let (api_key, api_key_source) = key?;
        let settings = FreshdeskSettings {
            base_url: fd.base_url.0.clone(),
            email: email?,
            api_key,
            api_key_source,
            set_priority: fd.set_priority,
        };
        (ChannelKind::Freshdesk, ChannelSettings::Freshdesk(settings))
    } else if let Some(j) = &c.jira_sm {
        let js = j.get_ref();
        let email = mailbox(cx, &js.email).map(|m| m.email.to_string());
        if js.api_token.is_none() && js.api_token_file.is_none() {
            cx.err(j, "jira_sm: credentials missing: set `api_token` or `api_token_file`");
        }
        for (key, v) in [("service_desk_id", &js.service_desk_id), ("request_type_id", &js.request_type_id)] {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                cx.err(j, format!("jira_sm: `{key} = \"{v}\"` is not a numeric id"));
            }
        }
        let (api_token, api_token_source) = secret_from(cx, &js.api_token, &js.api_token_file, "api_token")?;
        let settings = JiraSmSettings {
            base_url: js.base_url.0.clone(),
            email: email?,
            api_token,
            api_token_source,
            service_desk_id: js.service_desk_id.clone(),
            request_type_id: js.request_type_id.clone(),
            close_transition: js.close_transition.clone(),
        };
        (ChannelKind::JiraSm, ChannelSettings::JiraSm(settings))
    } else if let Some(sl) = &c.slack {
        let s = sl.get_ref();
        let ch = s.channel.get_ref();
        if ch.is_empty() || !ch.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            cx.err(&s.channel, format!("`{ch}` is not a Slack channel id (like `C0123ABCD`)"));
        }
        if s.token.is_none() && s.token_file.is_none() {
            cx.err(sl, "slack: credentials missing: set `token` or `token_file`");
        }
        let (token, token_source) = secret_from(cx, &s.token, &s.token_file, "token")?;
        let api_url = match &s.api_url {
            Some(u) => u.0.clone(),
            None => reqwest::Url::parse("https://slack.com/api").expect("a valid URL"),
        };
        let settings = SlackSettings {
            api_url,
            channel: ch.clone(),
            token,
            token_source,
            resolved_reaction: s.resolved_reaction.trim_matches(':').to_string(),
        };
        (ChannelKind::Slack, ChannelSettings::Slack(settings))
    } else if let Some(h) = &c.http {
        (ChannelKind::Http, ChannelSettings::Http(Box::new(generic_from(cx, h)?)))
    } else if let Some(fs) = &c.feishu {
        let f = fs.get_ref();
        let chat = f.chat_id.get_ref();
        if !chat.starts_with("oc_") {
            cx.err(&f.chat_id, format!("`{chat}` is not a Feishu chat id (`oc_…`)"));
        }
        if f.app_secret.is_none() && f.app_secret_file.is_none() {
            cx.err(fs, "feishu: credentials missing: set `app_secret` or `app_secret_file`");
        }
        let (app_secret, app_secret_source) = secret_from(cx, &f.app_secret, &f.app_secret_file, "app_secret")?;
        let api_url = match &f.api_url {
            Some(u) => u.0.clone(),
            None => reqwest::Url::parse("https://open.feishu.cn").expect("a valid URL"),
        };
        let settings = FeishuSettings {
            api_url,
            app_id: f.app_id.clone(),
            app_secret,
            app_secret_source,
            chat_id: chat.clone(),
            our_tenant_key: f.our_tenant_key.clone(),
        };
        (ChannelKind::Feishu, ChannelSettings::Feishu(settings))
    } else if let Some(ic) = &c.intercom {
        let i = ic.get_ref();
        if i.contact_id.trim().is_empty() {
            cx.err(ic, "intercom: `contact_id` is empty (our contact's Intercom id)");
        }
        if i.token.is_none() && i.token_file.is_none() {
            cx.err(ic, "intercom: credentials missing: set `token` or `token_file`");
        }
        let (token, token_source) = secret_from(cx, &i.token, &i.token_file, "token")?;
        let api_url = match &i.api_url {
            Some(u) => u.0.clone(),
            None => reqwest::Url::parse("https://api.intercom.io").expect("a valid URL"),
        };
        let settings = IntercomSettings { api_url, token, token_source, contact_id: i.contact_id.clone() };
        (ChannelKind::Intercom, ChannelSettings::Intercom(settings))
    } else if let Some(m) = &c.manual {
        let m = m.get_ref();
        if m.contact.trim().is_empty() {
            cx.err_span(rc.span(), "manual: `contact` is empty (say whom to call or write to)");
        }
        let settings = ManualSettings { contact: m.contact.clone(), instructions: m.instructions.clone() };
        (ChannelKind::Manual, ChannelSettings::Manual(settings))
    } else {
        return None;
    };
    let (webhook_secret, webhook_secret_source) =
        secret_from(cx, &c.webhook_secret, &c.webhook_secret_file, "webhook_secret").unzip();
    if webhook_secret.is_some() && !crate::webhook::supported(kind) {
        cx.err_span(rc.span(), format!("the {kind} channel takes no webhooks; remove `webhook_secret`"));
    }
    let poll_interval = c.poll_interval.unwrap_or(Dur::from_secs(60));
    if poll_interval < Dur::from_millis(100) {
        cx.err_span(rc.span(), "poll_interval must be at least 100ms");
    }
    Some(ChannelSpec {
        id: id.get_ref().clone(),
        kind,
        poll_interval,
        min_request_interval: c.min_request_interval.unwrap_or(Dur::from_secs(1)),
        timeout: c.timeout.unwrap_or(Dur::from_secs(30)),
        webhook_secret,
        webhook_secret_source,
        settings,
    })
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

/// Checks that a table has exactly one kind sub-table (`zendesk`, `slack`, …),
/// reporting at `name` otherwise.
fn exactly_one_kind(
    cx: &mut Ctx<'_>,
    name: &Spanned<String>,
    what: &str,
    present: &[Option<&str>],
    example: &str,
    all: &[&str],
) -> bool {
    let kinds: Vec<&str> = present.iter().flatten().copied().collect();
    if kinds.len() == 1 {
        return true;
    }
    let found =
        if kinds.is_empty() { "no kind table".to_string() } else { format!("several kinds ({})", kinds.join(", ")) };
    cx.err(
        name,
        format!(
            "{what} `{}` has {found}; add exactly one, e.g. `{example}` (kinds: {})",
            name.get_ref(),
            all.join(", ")
        ),
    );
    false
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

fn smtp_port(tls: super::raw::SmtpTls) -> u16 {
    match tls {
        super::raw::SmtpTls::None => 25,
        super::raw::SmtpTls::Starttls => 587,
        super::raw::SmtpTls::Tls => 465,
    }
}

fn email_from(cx: &mut Ctx<'_>, re: &Spanned<super::raw::RawEmailChannel>) -> Option<EmailSettings> {
    let e = re.get_ref();
    let to = mailbox(cx, &e.to);
    let from = mailbox(cx, &e.from);
    let s = e.smtp.get_ref();
    let smtp_password = secret_from(cx, &s.password, &s.password_file, "password").map(|(p, _)| p);
    if smtp_password.is_some() && s.username.is_none() {
        cx.err(&e.smtp, "smtp: `password` needs `username`");
    }
    let i = e.imap.get_ref();
    let imap_password = secret_from(cx, &i.password, &i.password_file, "password").map(|(p, _)| p);
    if imap_password.is_none() && i.password.is_none() && i.password_file.is_none() {
        cx.err(&e.imap, "imap: set `password` or `password_file`");
    }
    let (to, from, imap_password) = (to?, from?, imap_password?);
    let domain = from.email.domain().to_string();
    Some(EmailSettings {
        message_id_domain: e.message_id_domain.clone().unwrap_or(domain),
        to,
        from,
        plus_addressing: e.plus_addressing,
        bcc_self: e.bcc_self,
        max_message_bytes: e
            .max_message_bytes
            .map_or(crate::mail::DEFAULT_MAX_BYTES, |b| usize::try_from(b).unwrap_or(usize::MAX)),
        smtp: SmtpSettings {
            host: s.host.clone(),
            port: s.port.unwrap_or_else(|| smtp_port(s.tls)),
            tls: s.tls,
            username: s.username.clone(),
            password: smtp_password,
            extra_roots: ca_from(cx, &s.ca_file),
        },
        imap: ImapSettings {
            host: i.host.clone(),
            port: i.port.unwrap_or(match i.tls {
                super::raw::ImapTls::Tls => 993,
                _ => 143,
            }),
            tls: i.tls,
            username: i.username.clone(),
            password: imap_password,
            mailbox: i.mailbox.clone(),
            idle: i.idle,
            extra_roots: ca_from(cx, &i.ca_file),
        },
    })
}

/// The CA certificates of a `ca_file` (PEM), or none.
fn ca_from(cx: &mut Ctx<'_>, file: &Option<Spanned<PathBuf>>) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let Some(f) = file else { return Vec::new() };
    let path = resolve_path(&cx.file.path, f.get_ref());
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            cx.err(f, format!("cannot read CA file {}: {e}", path.display()));
            return Vec::new();
        }
    };
    match rustls::pki_types::CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => certs,
        Ok(_) => {
            cx.err(f, format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()));
            Vec::new()
        }
        Err(e) => {
            cx.err(f, format!("{} is not valid PEM: {e}", path.display()));
            Vec::new()
        }
    }
}

fn github_from(cx: &mut Ctx<'_>, rg: &Spanned<super::raw::RawGithub>) -> Option<GithubSettings> {
    let g = rg.get_ref();
    let repo = g.repository.get_ref();
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let parts = repo.split_once('/').filter(|(o, r)| valid(o) && valid(r));
    if parts.is_none() {
        cx.err(&g.repository, format!("`{repo}` is not a repository (expected `owner/repo`)"));
    }
    if g.token.is_none() && g.token_file.is_none() {
        cx.err(rg, "github: credentials missing: set `token` or `token_file` (a token that may open issues)");
    }
    let token = secret_from(cx, &g.token, &g.token_file, "token");
    let (owner, repo) = parts?;
    let (token, token_source) = token?;
    let api_url = match &g.api_url {
        Some(u) => u.0.clone(),
        None => reqwest::Url::parse("https://api.github.com").expect("a valid URL"),
    };
    Some(GithubSettings {
        api_url,
        owner: owner.to_string(),
        repo: repo.to_string(),
        token,
        token_source,
        labels: g.labels.clone(),
        staff_only: g.staff_only,
    })
}

fn generic_from(cx: &mut Ctx<'_>, rh: &Spanned<super::raw::RawGeneric>) -> Option<GenericSettings> {
    let g = rh.get_ref();
    let mut ok = true;
    let mut headers = Vec::new();
    for (name, value) in &g.headers {
        match expand(value.get_ref(), cx.env) {
            Ok((v, _)) => headers.push((name.clone(), Secret::new(v))),
            Err(e) => {
                cx.err(value, e);
                ok = false;
            }
        }
    }
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let mut call = |cx: &mut Ctx<'_>, method: &Option<Spanned<String>>, path: &str, body: &Option<String>| {
        let m = method.as_ref().map_or("POST", |m| m.get_ref().as_str());
        if let Some(at) = method
            && !methods.contains(&m)
        {
            cx.err(at, format!("http: method `{m}` is not one of {}", methods.join(", ")));
            ok = false;
        }
        GenericCall { method: m.to_string(), path: path.to_string(), body: body.clone() }
    };
    let open_call = call(cx, &g.open.method, &g.open.path, &g.open.body);
    let reply = call(cx, &g.reply.method, &g.reply.path, &g.reply.body);
    let close = g.close.as_ref().map(|c| call(cx, &c.method, &c.path, &c.body));
    let get = |path: &str| GenericCall { method: "GET".into(), path: path.to_string(), body: None };

    // Every field path is a JSON pointer, checked where it was written.
    let (o, p) = (&g.open, &g.poll);
    let mut pointers: Vec<&Spanned<String>> = vec![&o.id, &p.replies, &p.reply_id, &p.reply_at, &p.reply_body];
    pointers.extend(
        [&o.created_at, &p.status, &p.status_at, &p.reply_author, &p.reply_author_kind, &p.next].into_iter().flatten(),
    );
    if let Some(f) = &g.find {
        pointers.extend([&f.items, &f.id, &f.created_at]);
        pointers.extend(&f.next);
        pointers.extend(f.matches.get_ref());
        if f.matches.get_ref().is_empty() {
            cx.err(
                &f.matches,
                "http: `find.matches` names no field to look for the reference in (e.g. [\"/subject\"])",
            );
            ok = false;
        }
        if let Some(pages) = &f.pages
            && !(1..=100).contains(pages.get_ref())
        {
            cx.err(pages, format!("http: `find.pages = {}` must be between 1 and 100", pages.get_ref()));
            ok = false;
        }
    }
    for ptr in pointers {
        let v = ptr.get_ref();
        if !v.is_empty() && !v.starts_with('/') {
            cx.err(ptr, format!("http: `{v}` is not a JSON pointer (they start with `/`, e.g. `/ticket/id`)"));
            ok = false;
        }
    }
    let valid_kinds = ["requester", "agent", "bot", "automation", "bystander", "unknown"];
    for k in g.kinds.values().chain(&g.default_kind) {
        if !valid_kinds.contains(&k.get_ref().as_str()) {
            cx.err(k, format!("http: author kind `{}` is not one of {}", k.get_ref(), valid_kinds.join(", ")));
            ok = false;
        }
    }
    let text = |s: &Spanned<String>| s.get_ref().clone();
    let opt = |s: &Option<Spanned<String>>| s.as_ref().map(text);
    let open = GenericOpen { call: open_call, id: text(&o.id), created_at: opt(&o.created_at) };
    let poll = GenericPoll {
        call: get(&p.path),
        status_call: p.status_path.as_deref().map(get),
        status: opt(&p.status),
        status_at: opt(&p.status_at),
        replies: text(&p.replies),
        reply_id: text(&p.reply_id),
        reply_at: text(&p.reply_at),
        reply_body: text(&p.reply_body),
        reply_author: opt(&p.reply_author),
        reply_author_kind: opt(&p.reply_author_kind),
        next: opt(&p.next),
    };
    let find = g.find.as_ref().map(|f| GenericFind {
        call: get(&f.path),
        items: text(&f.items),
        id: text(&f.id),
        created_at: text(&f.created_at),
        matches: f.matches.get_ref().iter().map(text).collect(),
        next: opt(&f.next),
        pages: f.pages.as_ref().map_or(5, |p| *p.get_ref()),
    });
    ok.then(|| GenericSettings {
        base_url: g.base_url.0.clone(),
        headers,
        open,
        poll,
        reply,
        close,
        find,
        kinds: g.kinds.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        default_kind: g.default_kind.as_ref().map_or_else(|| "agent".to_string(), text),
        resolved_values: g.resolved_values.clone(),
    })
}

fn rt_from(cx: &mut Ctx<'_>, rr: &Spanned<super::raw::RawRt>) -> Option<RtSettings> {
    let r = rr.get_ref();
    let requestor = mailbox(cx, &r.requestor).map(|m| m.email.to_string());
    let basic = r.password.is_some() || r.password_file.is_some();
    let token = r.token.is_some() || r.token_file.is_some();
    let auth = match (basic, token) {
        (true, true) => {
            cx.err(rr, "rt: give either `password` (with `username`) or `token`, not both");
            None
        }
        (false, false) => {
            cx.err(rr, "rt: credentials missing: set `password` (with `username`) or `token`");
            None
        }
        (true, false) => {
            let secret = secret_from(cx, &r.password, &r.password_file, "password");
            match (&r.username, secret) {
                (Some(u), Some((password, source))) => Some(RtAuth::Basic { username: u.clone(), password, source }),
                (None, _) => {
                    cx.err(rr, "rt: `password` needs `username`");
                    None
                }
                _ => None,
            }
        }
        (false, true) => {
            secret_from(cx, &r.token, &r.token_file, "token").map(|(token, source)| RtAuth::Token { token, source })
        }
    };
    if r.queue.trim().is_empty() {
        cx.err(rr, "rt: `queue` is empty");
    }
    Some(RtSettings {
        base_url: r.base_url.0.clone(),
        queue: r.queue.clone(),
        requestor: requestor?,
        auth: auth?,
        resolve_on_close: r.resolve_on_close,
    })
}

fn mailbox(cx: &mut Ctx<'_>, s: &Spanned<String>) -> Option<lettre::message::Mailbox> {
    match s.get_ref().parse() {
        Ok(m) => Some(m),
        Err(e) => {
            cx.err(s, format!("`{}` is not an email address ({e})", s.get_ref()));
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
