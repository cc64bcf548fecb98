//! `/metrics`: the Prometheus text exposition, derived from the store at
//! every scrape, so a restart rebuilds every counter and histogram exactly.
//!
//! Counters stay monotonic because the store only grows: probes gain
//! outcomes and figures, breaches are sticky, events are append-only.
//! Labels come from small fixed sets (vendor, channel kind, priority,
//! scenario, clock, measure, class, outcome, operation, kind, state): never a
//! ticket id or reference.
//!
//! The values are aggregates over the store, not live instruments: each
//! scrape turns them into the `prometheus` crate's metric families (a
//! collector over the store), adds the crate's standard `process_*`
//! families, and encodes them with its text encoder — or, when the scraper
//! asks for it (`Accept: application/openmetrics-text`), as OpenMetrics.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;

use prometheus::proto::{self, MetricFamily, MetricType};
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::lifecycle::Ts;
use crate::model::{Measure, Outcome, Priority, ReplyClass, State};
use crate::sla::Verdict;
use crate::store::{Probe, Store, StoreError};

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

fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains(['\\', '"', '\n']) {
        v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
    } else {
        v.into()
    }
}

/// `k="v",k="v"`: a series' labels as the exposition writes them, built once.
fn inner(labels: &[(&'static str, String)]) -> String {
    let mut out = String::with_capacity(labels.len() * 24);
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_label(&mut out, k, v);
    }
    out
}

fn push_label(out: &mut String, k: &str, v: &str) {
    out.push_str(k);
    out.push_str("=\"");
    out.push_str(&escape(v));
    out.push('"');
}

/// `base` with one more label.
fn with(base: &str, k: &str, v: &str) -> String {
    let mut out = String::with_capacity(base.len() + k.len() + v.len() + 4);
    out.push_str(base);
    if !base.is_empty() {
        out.push(',');
    }
    push_label(&mut out, k, v);
    out
}

/// One metric family being built, its series keyed by their formatted labels.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: BTreeMap<String, f64>,
    histograms: BTreeMap<String, Hist>,
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
        self.samples.insert(inner(&labels), v);
    }

    fn add(&mut self, labels: Labels, v: f64) {
        self.add_raw(inner(&labels), v);
    }

    fn set_raw(&mut self, labels: String, v: f64) {
        self.samples.insert(labels, v);
    }

    fn add_raw(&mut self, labels: String, v: f64) {
        *self.samples.entry(labels).or_insert(0.0) += v;
    }

    fn has(&self, labels: &Labels) -> bool {
        self.samples.contains_key(&inner(labels))
    }

    fn max_raw(&mut self, labels: String, v: f64) {
        let e = self.samples.entry(labels).or_insert(v);
        *e = e.max(v);
    }

    /// A histogram series with no observation yet: present from the first
    /// scrape, so `increase()` sees its first observation.
    fn touch_raw(&mut self, labels: String) {
        let n = self.buckets.len();
        self.histograms.entry(labels).or_insert_with(|| Hist { counts: vec![0; n], ..Hist::default() });
    }

    #[cfg(test)]
    fn observe(&mut self, labels: Labels, v: f64) {
        let n = self.buckets.len();
        let h = self.histograms.entry(inner(&labels)).or_insert_with(|| Hist { counts: vec![0; n], ..Hist::default() });
        for (i, b) in self.buckets.iter().enumerate() {
            if v <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += v;
        h.count += 1;
    }

    /// The family as the `prometheus` crate's model; `None` when it has no
    /// series (an empty family is not exposed).
    fn to_proto(&self) -> Option<MetricFamily> {
        let mut metrics = Vec::with_capacity(self.samples.len() + self.histograms.len());
        for (labels, v) in &self.samples {
            let mut m = proto::Metric::from_label(parse_labels(labels));
            match self.kind {
                "counter" => {
                    let mut c = proto::Counter::default();
                    c.set_value(*v);
                    m.set_counter(c);
                }
                _ => {
                    let mut g = proto::Gauge::default();
                    g.set_value(*v);
                    m.set_gauge(g);
                }
            }
            metrics.push(m);
        }
        for (labels, h) in &self.histograms {
            let mut m = proto::Metric::from_label(parse_labels(labels));
            let mut hist = proto::Histogram::default();
            hist.set_sample_count(h.count);
            hist.set_sample_sum(h.sum);
            let buckets = self
                .buckets
                .iter()
                .zip(&h.counts)
                .map(|(le, c)| {
                    let mut b = proto::Bucket::default();
                    b.set_upper_bound(*le);
                    b.set_cumulative_count(*c);
                    b
                })
                .collect();
            hist.set_bucket(buckets);
            m.set_histogram(hist);
            metrics.push(m);
        }
        if metrics.is_empty() {
            return None;
        }
        let mut mf = MetricFamily::default();
        mf.set_name(self.name.to_string());
        mf.set_help(self.help.to_string());
        mf.set_field_type(match self.kind {
            "counter" => MetricType::COUNTER,
            "histogram" => MetricType::HISTOGRAM,
            _ => MetricType::GAUGE,
        });
        mf.set_metric(metrics);
        Some(mf)
    }
}

/// `k="v",k="v"` (as [`inner`] wrote it) back into label pairs. Values
/// without an escape (nearly all) are copied as one slice.
fn parse_labels(text: &str) -> Vec<proto::LabelPair> {
    let mut out = Vec::with_capacity(6);
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let bytes = after.as_bytes();
        let stop = bytes.iter().position(|b| *b == b'"' || *b == b'\\').unwrap_or(bytes.len());
        let (value, end) = if bytes.get(stop) == Some(&b'"') {
            (after[..stop].to_string(), stop + 1)
        } else {
            let mut value = String::with_capacity(after.len());
            let mut end = after.len();
            let mut chars = after.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, other)) => value.push(other),
                        None => {}
                    },
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, end)
        };
        let mut pair = proto::LabelPair::default();
        pair.set_name(key.trim_start_matches(',').to_string());
        pair.set_value(value);
        out.push(pair);
        rest = &after[end..];
    }
    out
}

/// How the exposition is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposition {
    /// The Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
}

impl Exposition {
    /// What the scraper asked for in its `Accept` header: OpenMetrics when it names it.
    pub fn from_accept(accept: Option<&str>) -> Exposition {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Exposition::OpenMetrics,
            _ => Exposition::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::Text => "text/plain; version=0.0.4; charset=utf-8",
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The families, and the process's own, encoded by the `prometheus` crate.
pub fn encode(mut families: Vec<MetricFamily>, format: Exposition) -> String {
    #[cfg(target_os = "linux")]
    {
        use prometheus::core::Collector;
        families.extend(prometheus::process_collector::ProcessCollector::for_self().collect());
    }
    let mut text = String::with_capacity(64 * 1024);
    // Every family is well-formed by construction (names, one type, no empty family).
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut text) {
        tracing::warn!(error = %e, "cannot encode a metric family");
    }
    match format {
        Exposition::Text => text,
        Exposition::OpenMetrics => to_openmetrics(&text),
    }
}

/// The text format as OpenMetrics 1.0: a counter family is named without its
/// `_total` suffix in `# HELP`/`# TYPE` (its samples keep it), and the
/// exposition ends with `# EOF`.
fn to_openmetrics(text: &str) -> String {
    let mut counters: HashSet<&str> = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.insert(name);
        }
    }
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        let header = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or(line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        match header {
            Some((tag, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let family = if counters.contains(name) { name.strip_suffix("_total").unwrap_or(name) } else { name };
                out.push_str(tag);
                out.push_str(family);
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out.push_str("# EOF\n");
    out
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

/// Renders the whole exposition from scratch (tests, benchmarks, one-off
/// use): the daemon keeps a [`Live`] and renders from it.
pub fn render(config: &Config, store: &Store, facts: DaemonFacts, now: Ts) -> Result<String, StoreError> {
    Live::default().render(config, store, &crate::engine::Loads::default(), facts, now)
}

/// Probes read per batch when catching up with the store.
const CATCH_UP_BATCH: u32 = 5_000;

/// A probe's labels: vendor, channel kind, priority.
type SeriesKey = (String, String, Priority);

/// What one probe contributes to the aggregates.
#[derive(Clone, Debug)]
struct Summary {
    key: Arc<SeriesKey>,
    scenario: Arc<str>,
    state: State,
    outcome: Option<Outcome>,
    due_at: Ts,
    opened_at: Option<Ts>,
    first_human: bool,
    bot_turns: u32,
    resolved: bool,
    responders: u32,
    /// What the conversation showed (`CONVERSATION` names them).
    conversation: [bool; 4],
    /// Counted in the 7-day windows.
    recent: bool,
    measures: Vec<MeasureSum>,
}

#[derive(Clone, Debug)]
struct MeasureSum {
    measure: Measure,
    /// Milliseconds on the wall and business clocks.
    wall: Option<i64>,
    business: Option<i64>,
    judged: bool,
    verdict: Verdict,
}

fn ms(secs: Option<f64>) -> Option<i64> {
    secs.filter(|v| v.is_finite()).map(|v| (v * 1000.0).round() as i64)
}

/// A histogram kept as per-bucket counts and an exact sum in milliseconds, so
/// removing an observation leaves no rounding behind.
#[derive(Clone, Debug, Default)]
struct LiveHist {
    counts: Vec<i64>,
    sum_ms: i64,
    count: i64,
}

impl LiveHist {
    fn observe(&mut self, buckets: &[f64], v_ms: i64, sign: i64) {
        if self.counts.len() != buckets.len() + 1 {
            self.counts.resize(buckets.len() + 1, 0);
        }
        let v = v_ms as f64 / 1000.0;
        let i = buckets.partition_point(|b| *b < v);
        self.counts[i] += sign;
        self.sum_ms += sign * v_ms;
        self.count += sign;
    }

    fn export(&self, n: usize) -> Hist {
        let mut counts = Vec::with_capacity(n);
        let mut acc = 0i64;
        for i in 0..n {
            acc += self.counts.get(i).copied().unwrap_or(0);
            counts.push(u64::try_from(acc).unwrap_or(0));
        }
        Hist { counts, sum: self.sum_ms as f64 / 1000.0, count: u64::try_from(self.count).unwrap_or(0) }
    }
}

/// Sorted measured values (milliseconds) for exact quantiles.
type Sorted = Vec<i64>;

fn sorted_insert(v: &mut Sorted, x: i64) {
    let i = v.partition_point(|y| *y < x);
    v.insert(i, x);
}

fn sorted_remove(v: &mut Sorted, x: i64) {
    let i = v.partition_point(|y| *y < x);
    if v.get(i) == Some(&x) {
        v.remove(i);
    }
}

/// `(vendor, channel kind or None for the vendor-wide figure, priority, measure label, clock, window)`.
type QuantKey = (String, Option<String>, Priority, &'static str, &'static str, &'static str);

#[derive(Debug, Default)]
struct Aggregates {
    /// The change number and event id applied so far.
    rev: i64,
    event_mark: i64,
    buckets: Vec<f64>,
    probes: HashMap<i64, Summary>,
    /// Manual runs left out of the figures.
    uncounted: HashSet<i64>,
    keys: HashMap<SeriesKey, Arc<SeriesKey>>,
    scenarios: HashMap<String, Arc<str>>,
    /// Probes in the 7-day windows, by opening time.
    recent: BTreeSet<(Ts, i64)>,
    outcomes: BTreeMap<(Arc<SeriesKey>, Arc<str>, Outcome), i64>,
    opened: BTreeMap<(Arc<SeriesKey>, Arc<str>), i64>,
    states: BTreeMap<(Arc<SeriesKey>, State), i64>,
    bot_turns: BTreeMap<Arc<SeriesKey>, LiveHist>,
    handoffs: BTreeMap<Arc<SeriesKey>, LiveHist>,
    /// Probes that were escalated, asked for diagnostics, reopened, opened out of hours.
    conversation: BTreeMap<(Arc<SeriesKey>, usize), i64>,
    durations: BTreeMap<(Measure, Arc<SeriesKey>, &'static str), LiveHist>,
    met: BTreeMap<(Arc<SeriesKey>, &'static str), i64>,
    breached: BTreeMap<(Arc<SeriesKey>, &'static str), i64>,
    /// Judged measures seen (met, breached, pending or void), so their counters exist at 0.
    judged: BTreeSet<(Arc<SeriesKey>, &'static str)>,
    values: BTreeMap<QuantKey, Sorted>,
    replies: BTreeMap<(String, String, String), u64>,
    /// Probes not finished yet: the only ones whose figures depend on the time now.
    unfinished: BTreeSet<i64>,
    /// The metrics' own read-only connection (opened on first use).
    reader: Option<Store>,
}

/// The metrics aggregates, maintained incrementally: each scrape applies
/// only the probes changed since the last one (by the store's change
/// numbers) and the reply events recorded since, whoever wrote them (the
/// daemon or another process). The first scrape builds them from the whole
/// store, so a restart yields exactly what the store holds.
#[derive(Clone, Debug, Default)]
pub struct Live(Arc<Mutex<Aggregates>>);

impl Live {
    /// Builds the aggregates from the store now (at start-up, before the first scrape).
    pub fn warm(&self, config: &Config, store: &Store, now: Ts) -> Result<(), StoreError> {
        self.lock().catch_up(config, store, now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Aggregates> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Renders the whole exposition in the Prometheus text format.
    pub fn render(
        &self,
        config: &Config,
        store: &Store,
        loads: &crate::engine::Loads,
        facts: DaemonFacts,
        now: Ts,
    ) -> Result<String, StoreError> {
        self.render_as(config, store, loads, facts, now, Exposition::Text)
    }

    /// Renders the whole exposition in the format asked for.
    pub fn render_as(
        &self,
        config: &Config,
        store: &Store,
        loads: &crate::engine::Loads,
        facts: DaemonFacts,
        now: Ts,
        format: Exposition,
    ) -> Result<String, StoreError> {
        let families = {
            let mut agg = self.lock();
            agg.catch_up(config, store, now)?;
            agg.render(config, store, loads, facts, now)?
        };
        Ok(encode(families, format))
    }
}

impl Aggregates {
    fn catch_up(&mut self, config: &Config, store: &Store, now: Ts) -> Result<(), StoreError> {
        let buckets = duration_buckets(config);
        if buckets != self.buckets {
            // New promise targets mean new buckets: rebuild from the store.
            let reader = self.reader.take();
            *self = Aggregates { buckets, reader, ..Aggregates::default() };
        }
        if self.reader.is_none() {
            self.reader = store.reader()?;
        }
        let reader = self.reader.take();
        // On the metrics' own connection, one snapshot: a probe changed between
        // reading it and reading its measures cannot be half-applied.
        let result = match &reader {
            Some(r) => r.snapshot(|r| self.catch_up_from(r, now)),
            None => self.catch_up_from(store, now),
        };
        self.reader = reader;
        result
    }

    fn catch_up_from(&mut self, store: &Store, now: Ts) -> Result<(), StoreError> {
        // What changed, a batch at a time: memory stays bounded while a whole
        // store is read at start.
        loop {
            let from = self.rev;
            let mut changed: Vec<(i64, Probe)> = Vec::new();
            store.scan_changed(from, CATCH_UP_BATCH, |rev, p| changed.push((rev, p)))?;
            let Some(upto) = changed.last().map(|(rev, _)| *rev) else { break };
            let mut measures: HashMap<i64, Vec<crate::store::StoredMeasure>> = HashMap::new();
            for m in store.measures_changed_between(from, upto)? {
                measures.entry(m.probe_id).or_default().push(m);
            }
            let full = changed.len() == CATCH_UP_BATCH as usize;
            for (_, p) in changed {
                if !p.counted {
                    // A manual run (`once` without --count): kept in the store, out of the POC's figures.
                    self.uncounted.insert(p.id);
                    continue;
                }
                let ms = measures.remove(&p.id).unwrap_or_default();
                let summary = self.summarize(&p, &ms, now);
                if let Some(old) = self.probes.remove(&p.id) {
                    self.apply(p.id, &old, -1);
                }
                self.apply(p.id, &summary, 1);
                self.probes.insert(p.id, summary);
            }
            self.rev = upto;
            if !full {
                break;
            }
        }
        // Replies, by class: append-only, so only the new ones are read.
        let mut replies: Vec<(i64, i64, String)> = Vec::new();
        let top =
            store.scan_replies(self.event_mark, |id, probe, class| replies.push((id, probe, class.to_string())))?;
        let mut mark = top;
        for (id, probe, class) in replies {
            if self.uncounted.contains(&probe) {
                continue;
            }
            let Some(s) = self.probes.get(&probe) else {
                // Its probe was created after the probes were read: count it next time.
                mark = id - 1;
                break;
            };
            *self.replies.entry((s.key.0.clone(), s.key.1.clone(), class)).or_insert(0) += 1;
        }
        self.event_mark = mark;
        // Probes that left the 7-day window.
        let cutoff = now - chrono::Duration::seconds(WINDOW_7D);
        while let Some((opened, id)) = self.recent.first().copied() {
            if opened >= cutoff {
                break;
            }
            self.recent.remove(&(opened, id));
            if let Some(mut s) = self.probes.remove(&id) {
                self.apply_values(&s, "7d", -1);
                s.recent = false;
                self.probes.insert(id, s);
            }
        }
        Ok(())
    }

    fn summarize(&mut self, p: &Probe, measures: &[crate::store::StoredMeasure], now: Ts) -> Summary {
        let key = (p.vendor.clone(), p.kind.clone(), p.priority);
        let key = self.keys.entry(key.clone()).or_insert_with(|| Arc::new(key)).clone();
        let scenario = self.scenarios.entry(p.scenario.clone()).or_insert_with(|| p.scenario.as_str().into()).clone();
        let cutoff = now - chrono::Duration::seconds(WINDOW_7D);
        Summary {
            key,
            scenario,
            state: p.state,
            outcome: p.outcome,
            due_at: p.due_at,
            opened_at: p.opened_at,
            first_human: p.first_human_response_at.is_some(),
            bot_turns: p.bot_turns,
            resolved: p.resolved_at.is_some(),
            responders: p.responders,
            conversation: [
                p.escalated_at.is_some(),
                p.diagnostics_at.is_some(),
                p.reopened > 0,
                p.in_hours == Some(false),
            ],
            recent: p.opened_at.is_some_and(|t| t >= cutoff),
            measures: measures
                .iter()
                .map(|m| MeasureSum {
                    measure: m.measure,
                    wall: ms(m.wall_secs),
                    business: ms(m.business_secs),
                    judged: m.target_secs.is_some() && m.measure != Measure::FirstResponse,
                    verdict: m.verdict,
                })
                .collect(),
        }
    }

    /// Adds (`sign` 1) or removes (-1) a probe's contribution.
    fn apply(&mut self, id: i64, s: &Summary, sign: i64) {
        let k = &s.key;
        if let Some(o) = s.outcome {
            *self.outcomes.entry((k.clone(), s.scenario.clone(), o)).or_insert(0) += sign;
        }
        if s.opened_at.is_some() {
            *self.opened.entry((k.clone(), s.scenario.clone())).or_insert(0) += sign;
        }
        if !s.state.is_final() {
            *self.states.entry((k.clone(), s.state)).or_insert(0) += sign;
            if sign > 0 {
                self.unfinished.insert(id);
            } else {
                self.unfinished.remove(&id);
            }
        }
        if s.first_human {
            self.bot_turns.entry(k.clone()).or_default().observe(COUNT_BUCKETS, i64::from(s.bot_turns) * 1000, sign);
        }
        for (i, yes) in s.conversation.iter().enumerate() {
            if *yes {
                *self.conversation.entry((k.clone(), i)).or_insert(0) += sign;
            }
        }
        if s.resolved {
            let h = i64::from(s.responders.saturating_sub(1)) * 1000;
            self.handoffs.entry(k.clone()).or_default().observe(COUNT_BUCKETS, h, sign);
        }
        for m in &s.measures {
            for (clock, v) in [("wall", m.wall), ("business", m.business)] {
                if let Some(v) = v {
                    self.durations.entry((m.measure, k.clone(), clock)).or_default().observe(&self.buckets, v, sign);
                }
            }
            if m.judged {
                let l = (k.clone(), crate::engine::probe::promise_name(m.measure));
                self.judged.insert(l.clone());
                match m.verdict {
                    Verdict::Met => *self.met.entry(l).or_insert(0) += sign,
                    Verdict::Breached => *self.breached.entry(l).or_insert(0) += sign,
                    Verdict::Pending | Verdict::Void => {}
                }
            }
        }
        self.apply_values(s, "poc", sign);
        if s.recent {
            if let Some(opened) = s.opened_at {
                if sign > 0 {
                    self.recent.insert((opened, id));
                } else {
                    self.recent.remove(&(opened, id));
                }
            }
            self.apply_values(s, "7d", sign);
        }
    }

    fn apply_values(&mut self, s: &Summary, window: &'static str, sign: i64) {
        for m in &s.measures {
            let Some((_, label)) = QUANTILE_MEASURES.iter().find(|(x, _)| *x == m.measure) else { continue };
            for (clock, v) in [("wall", m.wall), ("business", m.business)] {
                let Some(v) = v else { continue };
                for channel in [Some(s.key.1.clone()), None] {
                    let key = (s.key.0.clone(), channel, s.key.2, *label, clock, window);
                    let values = self.values.entry(key).or_default();
                    if sign > 0 {
                        sorted_insert(values, v);
                    } else {
                        sorted_remove(values, v);
                    }
                }
            }
        }
    }

    fn render(
        &self,
        config: &Config,
        store: &Store,
        loads: &crate::engine::Loads,
        facts: DaemonFacts,
        now: Ts,
    ) -> Result<Vec<MetricFamily>, StoreError> {
        let buckets = &self.buckets;
        let mut build = Family::new("supportprobe_build_info", "gauge", "Build information; always 1.");
        build.set(
            vec![("version", env!("CARGO_PKG_VERSION").into()), ("revision", env!("SUPPORTPROBE_REVISION").into())],
            1.0,
        );
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
        let mut store_size =
            Family::new("supportprobe_store_size_bytes", "gauge", "Size of the SQLite store and its WAL.");
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

        let base = |k: &SeriesKey| -> Labels {
            vec![("vendor", k.0.clone()), ("channel", k.1.clone()), ("priority", k.2.to_string())]
        };
        let mut probes_total = Family::new(
            "supportprobe_probes_total",
            "counter",
            "Probes by how they ended (resolved, unresolved, unanswered, failed, skipped).",
        );
        // Every scheduled vendor, channel, priority and scenario is there from the first scrape,
        // at 0 for each outcome, so `increase()` counts the first probe too.
        let scheduled: BTreeSet<(SeriesKey, String)> = config
            .schedules
            .iter()
            .flat_map(|s| {
                s.targets.iter().filter_map(move |t| {
                    let kind = config.channel(&t.vendor, &t.channel)?.kind.to_string();
                    Some(((t.vendor.clone(), kind, s.scenario.priority), s.scenario.id.clone()))
                })
            })
            .collect();
        for (k, scenario) in &scheduled {
            for outcome in Outcome::ALL {
                let mut l = base(k);
                l.push(("scenario", scenario.clone()));
                l.push(("outcome", outcome.to_string()));
                probes_total.set(l, 0.0);
            }
        }
        for ((k, scenario, outcome), n) in &self.outcomes {
            let mut l = base(k);
            l.push(("scenario", scenario.to_string()));
            l.push(("outcome", outcome.to_string()));
            probes_total.add(l, *n as f64);
        }
        let mut opened_total = Family::new(
            "supportprobe_probes_opened_total",
            "counter",
            "Probes whose ticket or chat was opened at the vendor.",
        );
        for (k, scenario) in &scheduled {
            let mut l = base(k);
            l.push(("scenario", scenario.clone()));
            opened_total.set(l, 0.0);
        }
        for ((k, scenario), n) in &self.opened {
            let mut l = base(k);
            l.push(("scenario", scenario.to_string()));
            opened_total.add(l, *n as f64);
        }
        let mut open_probes =
            Family::new("supportprobe_open_probes", "gauge", "Probes not finished yet, by lifecycle state.");
        // Each unfinished state of every configured series, 0 when none is in it.
        for k in config.series_keys() {
            for state in State::ALL.iter().filter(|s| !s.is_final()) {
                let mut l = base(&k);
                l.push(("state", state.to_string()));
                open_probes.set(l, 0.0);
            }
        }
        for ((k, state), n) in &self.states {
            if *n > 0 {
                let mut l = base(k);
                l.push(("state", state.to_string()));
                open_probes.add(l, *n as f64);
            }
        }
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
        for (k, h) in &self.bot_turns {
            bot_turns.histograms.insert(inner(&base(k)), h.export(COUNT_BUCKETS.len()));
        }
        for (k, h) in &self.handoffs {
            handoffs.histograms.insert(inner(&base(k)), h.export(COUNT_BUCKETS.len()));
        }
        let mut conversation: Vec<Family> =
            CONVERSATION.iter().map(|(name, help)| Family::new(name, "counter", help)).collect();
        for key in config.series_keys() {
            for f in &mut conversation {
                f.set_raw(inner(&base(&key)), 0.0);
            }
        }
        for ((k, i), n) in &self.conversation {
            conversation[*i].set_raw(inner(&base(k)), *n as f64);
        }
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
        let mut vendor_info = Family::new(
            "supportprobe_vendor_info",
            "gauge",
            "A configured vendor's display name (always 1): alerts and dashboards show the name, not the id.",
        );
        for v in config.vendors.values() {
            target.set(vec![("vendor", v.id.clone())], v.compliance_target);
            vendor_info.set(vec![("vendor", v.id.clone()), ("name", v.name.clone())], 1.0);
            for c in v.channels.values() {
                let l: Labels = vec![("vendor", v.id.clone()), ("channel", c.kind.to_string())];
                channel_up.set(l.clone(), 1.0);
                overdue.set(l, 0.0);
            }
        }
        let db = self.reader.as_ref().unwrap_or(store);
        for c in db.channel_states()? {
            let l: Labels = vec![("vendor", c.vendor.clone()), ("channel", c.channel.clone())];
            if channel_up.has(&l) && c.failing_since.is_some() {
                channel_up.set(l, 0.0);
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
        let mut update_interval = hist(
            "supportprobe_update_interval_seconds",
            "A gap between the vendor's human messages while the probe was answered and unresolved \
             (each ended gap; the update_interval promise is judged on it).",
        );
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
        let (mut quantiles, mut vendor_quantiles, mut samples, mut vendor_samples) = quantile_families();
        // Every configured series exists from the first scrape, at 0 until something
        // happens, and never disappears: `increase()` over a range sees every observation.
        // Each key's labels are formatted once per scrape.
        let mut bases: HashMap<SeriesKey, String> = HashMap::new();
        let mut base_of =
            |k: &SeriesKey| -> String { bases.entry(k.clone()).or_insert_with(|| inner(&base(k))).clone() };
        for key in config.series_keys() {
            let b = base_of(&key);
            let (vendor, _, priority) = &key;
            for family in
                [&mut first_response, &mut first_human, &mut next_reply, &mut resolution, &mut update_interval]
            {
                for clock in ["wall", "business"] {
                    family.touch_raw(with(&b, "clock", clock));
                }
            }
            bot_turns.touch_raw(b.clone());
            handoffs.touch_raw(b.clone());
            let vb = inner(&[("vendor", vendor.clone()), ("priority", priority.to_string())]);
            for (_, measure) in QUANTILE_MEASURES {
                for clock in ["wall", "business"] {
                    for window in ["poc", "7d"] {
                        let tail = format!("measure=\"{measure}\",clock=\"{clock}\",window=\"{window}\"");
                        samples.add_raw(format!("{b},{tail}"), 0.0);
                        vendor_samples.add_raw(format!("{vb},{tail}"), 0.0);
                    }
                }
            }
            for m in config.promise(vendor, *priority).map(|p| p.targets.keys().collect::<Vec<_>>()).unwrap_or_default()
            {
                let l = with(&b, "measure", m.as_str());
                met.add_raw(l.clone(), 0.0);
                breaches.add_raw(l.clone(), 0.0);
                waiting_past.add_raw(l, 0.0);
            }
        }
        for ((measure, k, clock), h) in &self.durations {
            let family = match measure {
                Measure::FirstResponse => &mut first_response,
                Measure::FirstHumanResponse => &mut first_human,
                Measure::NextReply => &mut next_reply,
                Measure::Resolution => &mut resolution,
                Measure::UpdateInterval => &mut update_interval,
            };
            family.histograms.insert(with(&base_of(k), "clock", clock), h.export(buckets.len()));
        }
        for (k, m) in &self.judged {
            let l = with(&base_of(k), "measure", m);
            met.add_raw(l.clone(), self.met.get(&(k.clone(), m)).copied().unwrap_or(0) as f64);
            breaches.add_raw(l, self.breached.get(&(k.clone(), m)).copied().unwrap_or(0) as f64);
        }
        for ((vendor, channel, priority, measure, clock, window), v) in &self.values {
            let mut l = String::with_capacity(128);
            push_label(&mut l, "vendor", vendor);
            if let Some(c) = channel {
                l.push(',');
                push_label(&mut l, "channel", c);
            }
            let _ = write!(l, ",priority=\"{priority}\",measure=\"{measure}\",clock=\"{clock}\",window=\"{window}\"");
            let (qf, sf) = if channel.is_some() {
                (&mut quantiles, &mut samples)
            } else {
                (&mut vendor_quantiles, &mut vendor_samples)
            };
            for (q, name) in QUANTILES {
                if let Some(x) = quantile_ms(v, q) {
                    qf.set_raw(with(&l, "percentile", name), x);
                }
            }
            sf.set_raw(l, v.len() as f64);
        }

        // What depends on the time now: only unfinished probes are looked at.
        let always = crate::calendar::Calendar::always("24x7");
        // By the key's address: one interned key per vendor, channel and priority.
        let mut waiting_since: HashMap<*const SeriesKey, Ts> = HashMap::new();
        for s in self.unfinished.iter().filter_map(|id| self.probes.get(id)) {
            if matches!(s.state, State::Scheduled | State::Opening) && (now - s.due_at).num_seconds() > OVERDUE_AFTER {
                overdue.add(vec![("vendor", s.key.0.clone()), ("channel", s.key.1.clone())], 1.0);
            }
            if let (State::Open | State::Acknowledged, Some(opened)) = (s.state, s.opened_at) {
                let e = waiting_since.entry(Arc::as_ptr(&s.key)).or_insert(opened);
                *e = (*e).min(opened);
            }
            if s.state.is_active() {
                for m in s.measures.iter().filter(|m| m.judged && m.verdict == Verdict::Breached && m.wall.is_none()) {
                    let l = with(&base_of(&s.key), "measure", crate::engine::probe::promise_name(m.measure));
                    waiting_past.add_raw(l, 1.0);
                }
            }
        }
        for k in self.keys.values() {
            let b = base_of(k);
            for clock in ["wall", "business"] {
                let l = with(&b, "clock", clock);
                // The oldest waiting probe has waited longest on either clock (one calendar per key).
                let secs = waiting_since.get(&Arc::as_ptr(k)).map_or(0.0, |opened| {
                    let cal = config.promise(&k.0, k.2).map_or(&always, |pr| &pr.calendar);
                    let d = if clock == "wall" { now - *opened } else { cal.business_between(*opened, now) };
                    d.num_milliseconds().max(0) as f64 / 1000.0
                });
                oldest.max_raw(l, secs);
            }
        }

        let mut replies = Family::new("supportprobe_replies_total", "counter", "Replies from vendors, by class.");
        // The vendor side's classes for every configured channel, from the first scrape.
        for v in config.vendors.values() {
            for c in v.channels.values() {
                for class in [
                    ReplyClass::Human,
                    ReplyClass::Bot,
                    ReplyClass::AutoAck,
                    ReplyClass::OutOfOffice,
                    ReplyClass::Bounce,
                ] {
                    replies.set(
                        vec![("vendor", v.id.clone()), ("channel", c.kind.to_string()), ("class", class.to_string())],
                        0.0,
                    );
                }
            }
        }
        for ((vendor, kind, class), n) in &self.replies {
            replies
                .set(vec![("vendor", vendor.clone()), ("channel", kind.clone()), ("class", class.clone())], *n as f64);
        }
        let mut errors = Family::new(
            "supportprobe_channel_errors_total",
            "counter",
            "Failed channel calls, by operation and kind (auth, not_found, rate_limited, server, rejected, timeout, unreachable, malformed).",
        );
        for e in db.error_counts()? {
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
        let mut pending = Family::new(
            "supportprobe_notifications_pending",
            "gauge",
            "Notifications waiting to be delivered, by target.",
        );
        let mut failed_attempts = Family::new(
            "supportprobe_notification_failed_attempts_total",
            "counter",
            "Delivery attempts that failed (and were retried or given up), by target.",
        );
        for t in config.notify.keys() {
            pending.set(vec![("target", t.clone())], 0.0);
            failed_attempts.set(vec![("target", t.clone())], 0.0);
        }
        for (t, event, state, n, failures) in db.delivery_counts()? {
            if state == "pending" {
                pending.add(vec![("target", t.clone())], n as f64);
            } else {
                notifications.add(vec![("target", t.clone()), ("event", event), ("outcome", state)], n as f64);
            }
            failed_attempts.add(vec![("target", t)], failures as f64);
        }
        let [freshness, interval, effective, in_flight] = load_families(config, loads);

        let mut out = Vec::with_capacity(64);
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
            &update_interval,
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
            &vendor_info,
            &notifications,
            &pending,
            &failed_attempts,
            &in_flight,
            &freshness,
            &interval,
            &effective,
        ] {
            out.extend(f.to_proto());
        }
        out.extend(conversation.iter().filter_map(Family::to_proto));
        Ok(out)
    }
}

/// The channels' load and poll freshness, as their workers published it.
fn load_families(config: &Config, loads: &crate::engine::Loads) -> [Family; 4] {
    let mut freshness = Family::new(
        "supportprobe_poll_staleness_seconds",
        "gauge",
        "Now minus the oldest last successful look among a channel's probes waiting on the vendor.",
    );
    let mut interval =
        Family::new("supportprobe_poll_interval_seconds", "gauge", "A channel's configured poll interval.");
    let mut effective = Family::new(
        "supportprobe_poll_interval_effective_seconds",
        "gauge",
        "The poll interval the channel's rate budget can carry with the probes in flight: above \
         supportprobe_poll_interval_seconds, the budget cannot keep up and looks come less often.",
    );
    let mut in_flight = Family::new(
        "supportprobe_probes_in_flight",
        "gauge",
        "Probes a channel's worker follows at the vendor (polled routinely).",
    );
    for v in config.vendors.values() {
        for c in v.channels.values() {
            let l: Labels = vec![("vendor", v.id.clone()), ("channel", c.kind.to_string())];
            let secs = c.poll_interval.std().as_secs_f64();
            interval.set(l.clone(), secs);
            effective.set(l.clone(), secs);
            freshness.set(l.clone(), 0.0);
            in_flight.set(l, 0.0);
        }
    }
    for (vendor, channel, load, eff) in loads.snapshot() {
        let l: Labels = vec![("vendor", vendor), ("channel", channel)];
        if interval.has(&l) {
            freshness.set(l.clone(), load.staleness_secs);
            effective.set(l.clone(), eff);
            in_flight.set(l, f64::from(load.active));
        }
    }
    [freshness, interval, effective, in_flight]
}

/// Probe counters of what the conversation showed, in `Summary::conversation` order.
const CONVERSATION: [(&str, &str); 4] = [
    (
        "supportprobe_probes_escalated_total",
        "Probes a technical responder answered ([vendors.ID.engineers]), or without any configured, a second person.",
    ),
    (
        "supportprobe_probes_asked_for_diagnostics_total",
        "Probes where the vendor asked for logs, versions or reproduction steps (English and Chinese wording).",
    ),
    ("supportprobe_probes_reopened_total", "Probes the vendor marked solved where the conversation went on after."),
    ("supportprobe_probes_opened_outside_calendar_total", "Probes opened outside the promise calendar's hours."),
];

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

/// The `q` quantile of sorted milliseconds, in seconds (see [`quantile`]).
fn quantile_ms(sorted: &[i64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let (a, b) = (sorted[lo] as f64 / 1000.0, sorted[hi] as f64 / 1000.0);
    Some(a + (b - a) * (pos - lo as f64))
}

/// The exact-quantile families: p50 and p90 of each figure per vendor ×
/// channel × priority and per vendor × priority over all its channels, on
/// both clocks, over the whole POC and the last 7 days (by opening time), and
/// how many measured values each rests on. Quantiles from histogram buckets
/// are only estimates; the comparison panels read these.
fn quantile_families() -> (Family, Family, Family, Family) {
    (
        Family::new(
            "supportprobe_figure_quantile_seconds",
            "gauge",
            "Exact quantile of a measured figure (first_human_response, next_reply, resolution) from the store, per channel, \
             over the whole POC (window=\"poc\") or probes opened in the last 7 days (window=\"7d\"); absent until measured.",
        ),
        Family::new(
            "supportprobe_vendor_figure_quantile_seconds",
            "gauge",
            "Exact quantile of a measured figure over all of a vendor's channels (see supportprobe_figure_quantile_seconds).",
        ),
        Family::new(
            "supportprobe_figure_samples",
            "gauge",
            "How many measured values the figure's quantiles rest on, per channel.",
        ),
        Family::new(
            "supportprobe_vendor_figure_samples",
            "gauge",
            "How many measured values the vendor-wide quantiles rest on.",
        ),
    )
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
        let s = encode(vec![f.to_proto().unwrap()], Exposition::Text);
        assert!(s.contains("x_seconds_bucket{vendor=\"a\\\"b\",le=\"1\"} 1\n"), "{s}");
        assert!(s.contains("x_seconds_bucket{vendor=\"a\\\"b\",le=\"10\"} 2\n"), "{s}");
        assert!(s.contains("x_seconds_bucket{vendor=\"a\\\"b\",le=\"+Inf\"} 3\n"), "{s}");
        assert!(s.contains("x_seconds_sum{vendor=\"a\\\"b\"} 55.5\n"), "{s}");
        assert!(s.contains("x_seconds_count{vendor=\"a\\\"b\"} 3\n"), "{s}");
        // The process's own families come with every exposition.
        assert!(s.contains("# TYPE process_resident_memory_bytes gauge"), "{s}");
    }

    #[test]
    fn labels_survive_the_round_trip_through_the_model() {
        let labels = inner(&[("vendor", "a\\b\"c\nd".into()), ("channel", "zendesk".into()), ("empty", String::new())]);
        let pairs: Vec<(String, String)> =
            parse_labels(&labels).iter().map(|p| (p.name().to_string(), p.value().to_string())).collect();
        assert_eq!(
            pairs,
            [
                ("vendor".into(), "a\\b\"c\nd".into()),
                ("channel".into(), "zendesk".into()),
                ("empty".into(), String::new())
            ]
        );
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let mut c = Family::new("supportprobe_replies_total", "counter", "Replies.");
        c.set(vec![("vendor", "a".into())], 3.0);
        let mut g = Family::new("supportprobe_open_probes", "gauge", "Open.");
        g.set(vec![], 1.0);
        let s = encode(vec![c.to_proto().unwrap(), g.to_proto().unwrap()], Exposition::OpenMetrics);
        assert!(s.contains("# TYPE supportprobe_replies counter\n"), "{s}");
        assert!(s.contains("# HELP supportprobe_replies Replies.\n"), "{s}");
        assert!(s.contains("supportprobe_replies_total{vendor=\"a\"} 3\n"), "{s}");
        assert!(s.contains("# TYPE supportprobe_open_probes gauge\n"), "{s}");
        assert!(s.ends_with("# EOF\n"), "{s}");
        assert_eq!(
            Exposition::from_accept(Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")),
            Exposition::OpenMetrics
        );
        assert_eq!(Exposition::from_accept(Some("text/plain")), Exposition::Text);
        assert_eq!(Exposition::from_accept(None), Exposition::Text);
    }
}
