//! `/metrics`: the Prometheus text exposition, derived from the store at
//! every scrape, so a restart rebuilds every counter and histogram exactly.
//!
//! Counters stay monotonic because the store only grows: probes gain
//! outcomes and figures, breaches are sticky, events are append-only.
//! Labels come from small fixed sets (vendor, channel kind, priority,
//! scenario, clock, measure, class, outcome, operation, kind, state): never a
//! ticket id or reference.
//!
//! The exposition is written here rather than through a client library:
//! the values are recomputed from the store on each scrape, which fits a
//! plain encoder better than live instruments.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::config::Config;
use crate::lifecycle::Ts;
use crate::model::{Measure, State};
use crate::sla::Verdict;
use crate::store::{Store, StoreError};

/// Standard buckets (seconds): from one second to two weeks. Every configured
/// promise target is added, so `le="900"` reads as "within a 15-minute promise".
const BASE_BUCKETS: &[f64] = &[
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    43200.0,
    86400.0,
    172_800.0,
    259_200.0,
    604_800.0,
    1_209_600.0,
];
const COUNT_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 5.0, 8.0];
/// A probe due this long ago and still not opened is overdue: the schedule
/// said a probe should be open by now.
const OVERDUE_AFTER: i64 = 120;

type Labels = Vec<(&'static str, String)>;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn fmt_labels(labels: &[(&'static str, String)], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

/// One metric family being built.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: BTreeMap<Labels, f64>,
    histograms: BTreeMap<Labels, Hist>,
    buckets: Vec<f64>,
}

#[derive(Clone, Debug, Default)]
struct Hist {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family { name, help, kind, samples: BTreeMap::new(), histograms: BTreeMap::new(), buckets: Vec::new() }
    }

    fn histogram(name: &'static str, help: &'static str, buckets: Vec<f64>) -> Family {
        Family { buckets, ..Family::new(name, "histogram", help) }
    }

    fn set(&mut self, labels: Labels, v: f64) {
        self.samples.insert(labels, v);
    }

    fn add(&mut self, labels: Labels, v: f64) {
        *self.samples.entry(labels).or_insert(0.0) += v;
    }

    fn max(&mut self, labels: Labels, v: f64) {
        let e = self.samples.entry(labels).or_insert(v);
        *e = e.max(v);
    }

    /// A histogram series with no observation yet: present from the first
    /// scrape, so `increase()` sees its first observation.
    fn touch(&mut self, labels: Labels) {
        let n = self.buckets.len();
        self.histograms.entry(labels).or_insert_with(|| Hist { counts: vec![0; n], ..Hist::default() });
    }

    fn observe(&mut self, labels: Labels, v: f64) {
        let n = self.buckets.len();
        let h = self.histograms.entry(labels).or_insert_with(|| Hist { counts: vec![0; n], ..Hist::default() });
        for (i, b) in self.buckets.iter().enumerate() {
            if v <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += v;
        h.count += 1;
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (labels, v) in &self.samples {
            let _ = writeln!(out, "{}{} {}", self.name, fmt_labels(labels, None), fmt_f64(*v));
        }
        for (labels, h) in &self.histograms {
            for (b, c) in self.buckets.iter().zip(&h.counts) {
                let le = fmt_f64(*b);
                let _ = writeln!(out, "{}_bucket{} {c}", self.name, fmt_labels(labels, Some(("le", &le))));
            }
            let _ = writeln!(out, "{}_bucket{} {}", self.name, fmt_labels(labels, Some(("le", "+Inf"))), h.count);
            let _ = writeln!(out, "{}_sum{} {}", self.name, fmt_labels(labels, None), fmt_f64(h.sum));
            let _ = writeln!(out, "{}_count{} {}", self.name, fmt_labels(labels, None), h.count);
        }
    }
}

/// Daemon-level facts that are not in the store.
#[derive(Clone, Copy, Debug)]
pub struct DaemonFacts {
    pub config_reload_ok: bool,
    pub config_loaded_at: Ts,
}

/// Histogram buckets for durations: the standard ones plus every promise target.
pub fn duration_buckets(config: &Config) -> Vec<f64> {
    let mut b: Vec<f64> = BASE_BUCKETS.iter().copied().chain(config.promise_targets_secs()).collect();
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// Renders the whole exposition.
pub fn render(config: &Config, store: &Store, facts: DaemonFacts, now: Ts) -> Result<String, StoreError> {
    let buckets = duration_buckets(config);
    let mut build = Family::new("supportprobe_build_info", "gauge", "Build information; always 1.");
    build.set(vec![("version", env!("CARGO_PKG_VERSION").into())], 1.0);
    let mut reload = Family::new(
        "supportprobe_config_last_reload_successful",
        "gauge",
        "1 if the last configuration load or reload succeeded.",
    );
    reload.set(vec![], if facts.config_reload_ok { 1.0 } else { 0.0 });
    let mut reload_ts = Family::new(
        "supportprobe_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the configuration in use was loaded (Unix time).",
    );
    reload_ts.set(vec![], facts.config_loaded_at.timestamp() as f64);
    let mut store_size = Family::new("supportprobe_store_size_bytes", "gauge", "Size of the SQLite store and its WAL.");
    store_size.set(vec![], store.size_bytes() as f64);
    let mut store_errors = Family::new(
        "supportprobe_store_errors_total",
        "counter",
        "Failed store calls of the daemon's tasks since it started, by kind (disk_full, busy, corrupt, read_only, io, other).",
    );
    for kind in ["disk_full", "busy", "corrupt", "read_only", "io", "other"] {
        store_errors.set(vec![("kind", kind.into())], 0.0);
    }
    for (kind, n) in store.failure_counts() {
        store_errors.set(vec![("kind", kind.into())], n as f64);
    }

    let mut promise = Family::new(
        "supportprobe_promise_seconds",
        "gauge",
        "A vendor's promised time for a measure at a priority, on the promise's calendar.",
    );
    for v in config.vendors.values() {
        for (priority, p) in &v.promises {
            for (m, d) in &p.targets {
                promise.set(
                    vec![("vendor", v.id.clone()), ("priority", priority.to_string()), ("measure", m.to_string())],
                    d.as_secs_f64(),
                );
            }
        }
    }

    let mut probes_total = Family::new(
        "supportprobe_probes_total",
        "counter",
        "Probes by how they ended (resolved, unresolved, unanswered, failed, skipped).",
    );
    let mut opened_total = Family::new(
        "supportprobe_probes_opened_total",
        "counter",
        "Probes whose ticket or chat was opened at the vendor.",
    );
    let mut open_probes =
        Family::new("supportprobe_open_probes", "gauge", "Probes not finished yet, by lifecycle state.");
    let mut oldest = Family::new(
        "supportprobe_oldest_unanswered_seconds",
        "gauge",
        "How long the oldest probe without a human answer has waited, on the wall and business clocks.",
    );
    let mut bot_turns = Family::histogram(
        "supportprobe_bot_turns",
        "Bot and auto-acknowledgement replies before the first human one, per answered probe.",
        COUNT_BUCKETS.to_vec(),
    );
    let mut handoffs = Family::histogram(
        "supportprobe_handoffs",
        "Changes of human responder before resolution, per resolved probe.",
        COUNT_BUCKETS.to_vec(),
    );
    let mut channel_up = Family::new(
        "supportprobe_channel_up",
        "gauge",
        "1 while a channel answers, 0 after repeated failures (or an authentication failure) until it answers again.",
    );
    let mut overdue = Family::new(
        "supportprobe_probes_overdue",
        "gauge",
        "Probes due more than two minutes ago and still not opened at the vendor.",
    );
    let mut target = Family::new(
        "supportprobe_compliance_target",
        "gauge",
        "Share of judged measures a vendor is expected to meet (the compliance alert's threshold).",
    );
    for v in config.vendors.values() {
        target.set(vec![("vendor", v.id.clone())], v.compliance_target);
        for c in v.channels.values() {
            let l: Labels = vec![("vendor", v.id.clone()), ("channel", c.kind.to_string())];
            channel_up.set(l.clone(), 1.0);
            overdue.set(l, 0.0);
        }
    }
    for c in store.channel_states()? {
        let l: Labels = vec![("vendor", c.vendor.clone()), ("channel", c.channel.clone())];
        if channel_up.samples.contains_key(&l) && c.failing_since.is_some() {
            channel_up.set(l, 0.0);
        }
    }

    let always = crate::calendar::Calendar::always("24x7");
    // Probes still waiting on the vendor, for `waiting_past_promise`.
    let mut active = std::collections::BTreeSet::new();
    for p in store.all_probes()? {
        if p.state.is_active() {
            active.insert(p.id);
        }
        let base: Labels =
            vec![("vendor", p.vendor.clone()), ("channel", p.kind.clone()), ("priority", p.priority.to_string())];
        if let Some(outcome) = p.outcome {
            let mut l = base.clone();
            l.push(("scenario", p.scenario.clone()));
            l.push(("outcome", outcome.to_string()));
            probes_total.add(l, 1.0);
        }
        if p.opened_at.is_some() {
            let mut l = base.clone();
            l.push(("scenario", p.scenario.clone()));
            opened_total.add(l, 1.0);
        }
        if !p.state.is_final() {
            let mut l = base.clone();
            l.push(("state", p.state.to_string()));
            open_probes.add(l, 1.0);
        }
        if matches!(p.state, State::Scheduled | State::Opening) && (now - p.due_at).num_seconds() > OVERDUE_AFTER {
            overdue.add(vec![("vendor", p.vendor.clone()), ("channel", p.kind.clone())], 1.0);
        }
        if p.first_human_response_at.is_some() {
            bot_turns.observe(base.clone(), f64::from(p.bot_turns));
        }
        if p.resolved_at.is_some() {
            handoffs.observe(base.clone(), f64::from(p.responders.saturating_sub(1)));
        }
        let waiting = matches!(p.state, State::Open | State::Acknowledged);
        for clock in ["wall", "business"] {
            let mut l = base.clone();
            l.push(("clock", clock.into()));
            let secs = match (waiting, p.opened_at) {
                (true, Some(opened)) => {
                    let cal = config.promise(&p.vendor, p.priority).map_or(&always, |pr| &pr.calendar);
                    let d = if clock == "wall" { now - opened } else { cal.business_between(opened, now) };
                    d.num_milliseconds().max(0) as f64 / 1000.0
                }
                _ => 0.0,
            };
            oldest.max(l, secs);
        }
    }

    let hist = |name, help| Family::histogram(name, help, buckets.clone());
    let mut first_response = hist(
        "supportprobe_first_any_reply_seconds",
        "Ticket created to the first reply of any kind: auto-acknowledgements and bots count here. \
         Not what the first_response promise is judged on (that is supportprobe_first_human_response_seconds).",
    );
    let mut first_human = hist(
        "supportprobe_first_human_response_seconds",
        "Ticket created to the first reply classified human: what the first_response promise is judged on.",
    );
    let mut next_reply =
        hist("supportprobe_next_reply_seconds", "A follow-up of ours to the vendor's next human reply.");
    let mut resolution = hist("supportprobe_resolution_seconds", "Ticket created to resolution.");
    let mut met = Family::new(
        "supportprobe_promise_met_total",
        "counter",
        "Measures reached within the vendor's promise; measure=\"first_response\" is the first human response.",
    );
    let mut breaches = Family::new(
        "supportprobe_promise_breaches_total",
        "counter",
        "Measures that missed the vendor's promise (recorded at the deadline, while still waiting).",
    );
    let mut waiting_past = Family::new(
        "supportprobe_waiting_past_promise",
        "gauge",
        "Probes still waiting on a measure whose promised time has passed.",
    );
    let measures = store.all_measures()?;
    let (quantiles, vendor_quantiles, mut samples, mut vendor_samples) = quantile_families(&measures, now);
    // Every configured series exists from the first scrape, at 0 until something
    // happens, and never disappears: `increase()` over a range sees every observation.
    for (vendor, kind, priority) in config.series_keys() {
        let base: Labels = vec![("vendor", vendor.clone()), ("channel", kind), ("priority", priority.to_string())];
        for family in [&mut first_response, &mut first_human, &mut next_reply, &mut resolution] {
            for clock in ["wall", "business"] {
                let mut l = base.clone();
                l.push(("clock", clock.into()));
                family.touch(l);
            }
        }
        bot_turns.touch(base.clone());
        handoffs.touch(base.clone());
        for (_, measure) in QUANTILE_MEASURES {
            for clock in ["wall", "business"] {
                for window in ["poc", "7d"] {
                    let tail = [("measure", measure.to_string()), ("clock", clock.into()), ("window", window.into())];
                    let mut l = base.clone();
                    l.extend(tail.clone());
                    samples.add(l, 0.0);
                    let mut l: Labels = vec![("vendor", vendor.clone()), ("priority", priority.to_string())];
                    l.extend(tail);
                    vendor_samples.add(l, 0.0);
                }
            }
        }
        for m in config.promise(&vendor, priority).map(|p| p.targets.keys().collect::<Vec<_>>()).unwrap_or_default() {
            let mut l = base.clone();
            l.push(("measure", m.to_string()));
            met.add(l.clone(), 0.0);
            breaches.add(l.clone(), 0.0);
            waiting_past.add(l, 0.0);
        }
    }
    for m in measures {
        let base: Labels =
            vec![("vendor", m.vendor.clone()), ("channel", m.kind.clone()), ("priority", m.priority.to_string())];
        let family = match m.measure {
            Measure::FirstResponse => &mut first_response,
            Measure::FirstHumanResponse => &mut first_human,
            Measure::NextReply => &mut next_reply,
            Measure::Resolution => &mut resolution,
        };
        for (clock, v) in [("wall", m.wall_secs), ("business", m.business_secs)] {
            if let Some(v) = v {
                let mut l = base.clone();
                l.push(("clock", clock.into()));
                family.observe(l, v);
            }
        }
        if m.target_secs.is_some() && m.measure != Measure::FirstResponse {
            let mut l = base.clone();
            l.push(("measure", crate::engine::probe::promise_name(m.measure).into()));
            match m.verdict {
                Verdict::Met => met.add(l, 1.0),
                Verdict::Breached => {
                    breaches.add(l.clone(), 1.0);
                    if m.wall_secs.is_none() && active.contains(&m.probe_id) {
                        waiting_past.add(l, 1.0);
                    }
                }
                Verdict::Pending | Verdict::Void => {
                    met.add(l.clone(), 0.0);
                    breaches.add(l, 0.0);
                }
            }
        }
    }
    let mut replies = Family::new("supportprobe_replies_total", "counter", "Replies from vendors, by class.");
    for (vendor, kind, class, n) in store.reply_counts()? {
        replies.set(vec![("vendor", vendor), ("channel", kind), ("class", class)], n as f64);
    }
    let mut errors = Family::new(
        "supportprobe_channel_errors_total",
        "counter",
        "Failed channel calls, by operation and kind (auth, not_found, rate_limited, server, rejected, timeout, unreachable, malformed).",
    );
    for e in store.error_counts()? {
        errors.set(
            vec![("vendor", e.vendor), ("channel", e.channel), ("operation", e.operation), ("kind", e.kind)],
            e.count as f64,
        );
    }

    let mut notifications = Family::new(
        "supportprobe_notifications_total",
        "counter",
        "Notifications that reached an end, by target, event and outcome (delivered, failed, dropped).",
    );
    let mut pending =
        Family::new("supportprobe_notifications_pending", "gauge", "Notifications waiting to be delivered, by target.");
    let mut failed_attempts = Family::new(
        "supportprobe_notification_failed_attempts_total",
        "counter",
        "Delivery attempts that failed (and were retried or given up), by target.",
    );
    for t in config.notify.keys() {
        pending.set(vec![("target", t.clone())], 0.0);
        failed_attempts.set(vec![("target", t.clone())], 0.0);
    }
    for (t, event, state, n, failures) in store.delivery_counts()? {
        if state == "pending" {
            pending.add(vec![("target", t.clone())], n as f64);
        } else {
            notifications.add(vec![("target", t.clone()), ("event", event), ("outcome", state)], n as f64);
        }
        failed_attempts.add(vec![("target", t)], failures as f64);
    }

    let mut out = String::with_capacity(16 * 1024);
    for f in [
        &build,
        &reload,
        &reload_ts,
        &store_size,
        &store_errors,
        &promise,
        &opened_total,
        &probes_total,
        &open_probes,
        &oldest,
        &first_response,
        &first_human,
        &next_reply,
        &resolution,
        &met,
        &breaches,
        &waiting_past,
        &quantiles,
        &samples,
        &vendor_quantiles,
        &vendor_samples,
        &bot_turns,
        &handoffs,
        &replies,
        &errors,
        &channel_up,
        &overdue,
        &target,
        &notifications,
        &pending,
        &failed_attempts,
    ] {
        f.write(&mut out);
    }
    Ok(out)
}

/// The measures with exact quantiles, by their label.
const QUANTILE_MEASURES: [(Measure, &str); 3] = [
    (Measure::FirstHumanResponse, "first_human_response"),
    (Measure::NextReply, "next_reply"),
    (Measure::Resolution, "resolution"),
];
/// Labelled `percentile` ("50", "90"): `quantile` is reserved for summaries.
const QUANTILES: [(f64, &str); 2] = [(0.5, "50"), (0.9, "90")];
/// The rolling window besides the whole POC.
const WINDOW_7D: i64 = 7 * 86_400;

/// The `q` quantile of sorted values, interpolated between the two nearest
/// ranks (the definition of numpy's default and spreadsheets'
/// PERCENTILE.INC): always between two measured values, never above the
/// largest.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// Exact p50 and p90 of each figure from the store — per vendor × channel ×
/// priority and per vendor × priority over all its channels, on both clocks,
/// over the whole POC and the last 7 days (by opening time) — and how many
/// measured values each rests on. Quantiles from histogram buckets are only
/// estimates; the comparison panels read these.
fn quantile_families(measures: &[crate::store::StoredMeasure], now: Ts) -> (Family, Family, Family, Family) {
    type Key = (String, Option<String>, String, &'static str, &'static str, &'static str);
    let mut values: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    for m in measures {
        let Some((_, measure)) = QUANTILE_MEASURES.iter().find(|(x, _)| *x == m.measure) else { continue };
        let recent = m.opened_at.is_some_and(|t| (now - t).num_seconds() <= WINDOW_7D);
        for (clock, v) in [("wall", m.wall_secs), ("business", m.business_secs)] {
            let Some(v) = v else { continue };
            for window in ["poc", "7d"] {
                if window == "7d" && !recent {
                    continue;
                }
                for channel in [Some(m.kind.clone()), None] {
                    let key = (m.vendor.clone(), channel, m.priority.to_string(), *measure, clock, window);
                    values.entry(key).or_default().push(v);
                }
            }
        }
    }
    let mut quantiles = Family::new(
        "supportprobe_figure_quantile_seconds",
        "gauge",
        "Exact quantile of a measured figure (first_human_response, next_reply, resolution) from the store, per channel, \
         over the whole POC (window=\"poc\") or probes opened in the last 7 days (window=\"7d\"); absent until measured.",
    );
    let mut vendor_quantiles = Family::new(
        "supportprobe_vendor_figure_quantile_seconds",
        "gauge",
        "Exact quantile of a measured figure over all of a vendor's channels (see supportprobe_figure_quantile_seconds).",
    );
    let mut samples = Family::new(
        "supportprobe_figure_samples",
        "gauge",
        "How many measured values the figure's quantiles rest on, per channel.",
    );
    let mut vendor_samples = Family::new(
        "supportprobe_vendor_figure_samples",
        "gauge",
        "How many measured values the vendor-wide quantiles rest on.",
    );
    for ((vendor, channel, priority, measure, clock, window), mut v) in values {
        v.sort_by(f64::total_cmp);
        let mut base: Labels = vec![("vendor", vendor)];
        let per_channel = channel.is_some();
        if let Some(c) = channel {
            base.push(("channel", c));
        }
        base.extend([
            ("priority", priority),
            ("measure", measure.to_string()),
            ("clock", clock.to_string()),
            ("window", window.to_string()),
        ]);
        let (qf, sf) =
            if per_channel { (&mut quantiles, &mut samples) } else { (&mut vendor_quantiles, &mut vendor_samples) };
        sf.set(base.clone(), v.len() as f64);
        for (q, name) in QUANTILES {
            if let Some(x) = quantile(&v, q) {
                let mut l = base.clone();
                l.push(("percentile", name.to_string()));
                qf.set(l, x);
            }
        }
    }
    (quantiles, vendor_quantiles, samples, vendor_samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_exact_and_never_outside_the_measured_values() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[7.0], 0.9), Some(7.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        let v = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 1000.0];
        assert_eq!(quantile(&v, 0.5), Some(55.0));
        assert!((quantile(&v, 0.9).unwrap() - 181.0).abs() < 1e-9, "between 90 and 1000, nearer 90");
        assert_eq!(quantile(&v, 1.0), Some(1000.0));
    }

    #[test]
    fn histogram_text_is_cumulative() {
        let mut f = Family::histogram("x_seconds", "help", vec![1.0, 10.0]);
        f.observe(vec![("vendor", "a\"b".into())], 0.5);
        f.observe(vec![("vendor", "a\"b".into())], 5.0);
        f.observe(vec![("vendor", "a\"b".into())], 50.0);
        let mut s = String::new();
        f.write(&mut s);
        assert!(s.contains("x_seconds_bucket{vendor=\"a\\\"b\",le=\"1\"} 1\n"), "{s}");
        assert!(s.contains("x_seconds_bucket{vendor=\"a\\\"b\",le=\"10\"} 2\n"), "{s}");
        assert!(s.contains("x_seconds_bucket{vendor=\"a\\\"b\",le=\"+Inf\"} 3\n"), "{s}");
        assert!(s.contains("x_seconds_sum{vendor=\"a\\\"b\"} 55.5\n"), "{s}");
        assert!(s.contains("x_seconds_count{vendor=\"a\\\"b\"} 3\n"), "{s}");
    }
}
