//! Rendering the scorecard through minijinja templates (HTML and Markdown),
//! and as CSV and JSON.

use std::collections::BTreeMap;

use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::charts;
use crate::lang::{Lang, duration, words};
use crate::model::{ProbeEvidence, Scorecard};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "html" => Ok(Format::Html),
            "md" | "markdown" => Ok(Format::Markdown),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format `{other}` (expected html, md, csv or json)")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot render the scorecard: {0:#}")]
pub struct RenderError(#[from] minijinja::Error);

/// How a page is served by the daemon (absent: a report file).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Live {
    /// Refresh every this many seconds (0: never).
    pub refresh_seconds: u32,
    /// Ratings can be posted (the daemon has an API token).
    pub rating: bool,
}

/// Any serializable value for a template.
fn val<T: Serialize>(x: T) -> Value {
    Value::from(minijinja::value::Serde(x))
}

fn pct(x: Option<f64>, lang: Lang) -> String {
    match (x, lang) {
        (Some(x), Lang::Zh) => format!("{:.0}%", x * 100.0),
        (Some(x), Lang::En) => format!("{:.0} %", x * 100.0),
        (None, _) => "–".into(),
    }
}

fn env(lang: Lang) -> Environment<'static> {
    let mut env = Environment::new();
    for (name, text) in [
        ("base.html", include_str!("../templates/base.html")),
        ("scorecard.html", include_str!("../templates/scorecard.html")),
        ("probe.html", include_str!("../templates/probe.html")),
        ("macros.html", include_str!("../templates/macros.html")),
        ("scorecard.md", include_str!("../templates/scorecard.md")),
    ] {
        env.add_template(name, text).expect("the built-in templates parse (a unit test renders each)");
    }
    env.add_filter("dur", move |s: Option<f64>| s.map_or_else(|| "–".to_string(), |s| duration(s, lang)));
    env.add_filter("pct", move |x: Option<f64>| pct(x, lang));
    env.add_filter("ci", move |c: Option<Vec<f64>>| match c.as_deref() {
        Some([lo, hi]) => match lang {
            Lang::Zh => format!("{:.0}–{:.0}%", lo * 100.0, hi * 100.0),
            Lang::En => format!("{:.0}–{:.0} %", lo * 100.0, hi * 100.0),
        },
        _ => "–".into(),
    });
    env.add_filter("signed_pct", move |x: f64| {
        let p = pct(Some(x.abs()), lang);
        if x < 0.0 { format!("−{p}") } else { format!("+{p}") }
    });
    env.add_filter("num", |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format!("{x:.1}")));
    env
}

fn charts_of(sc: &Scorecard, lang: Lang) -> BTreeMap<String, Value> {
    let w = words(lang);
    sc.vendors
        .iter()
        .map(|v| {
            let c = context! {
                survival => val(charts::survival(&v.curves, lang)),
                weekly => val(charts::weekly(&v.weekly, v.compliance_target)),
                hours => val(charts::hours(&v.hours, v.compliance_target, &w)),
            };
            (v.vendor.clone(), c)
        })
        .collect()
}

/// The scorecard as one self-contained HTML page (inline CSS and SVG, no
/// external request), or as the daemon's live overview.
pub fn html(sc: &Scorecard, lang: Lang, live: Option<&Live>) -> Result<String, RenderError> {
    let env = env(lang);
    let t = env.get_template("scorecard.html")?;
    Ok(t.render(context! {
        sc => val(sc),
        t => val(words(lang)),
        lang => lang.as_str(),
        charts => charts_of(sc, lang),
        live => live.map(val),
    })?)
}

/// One probe's page: its figures and transcript, with the rating form when live.
pub fn probe_page(
    p: &ProbeEvidence,
    vendor_name: &str,
    lang: Lang,
    live: Option<&Live>,
) -> Result<String, RenderError> {
    let env = env(lang);
    let t = env.get_template("probe.html")?;
    Ok(t.render(context! {
        p => val(p),
        vendor_name => vendor_name,
        t => val(words(lang)),
        lang => lang.as_str(),
        live => live.map(val),
    })?)
}

/// Markdown tables for a wiki, Feishu or Confluence page.
pub fn markdown(sc: &Scorecard, lang: Lang) -> Result<String, RenderError> {
    let env = env(lang);
    let t = env.get_template("scorecard.md")?;
    Ok(t.render(context! {
        sc => val(sc),
        t => val(words(lang)),
        lang => lang.as_str(),
    })?)
}

/// The JSON contract.
pub fn json(sc: &Scorecard) -> String {
    serde_json::to_string_pretty(sc).expect("the scorecard serializes") + "\n"
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(String::new, |x| format!("{x}"))
}

fn line(cells: &[String]) -> String {
    cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(",") + "\r\n"
}

/// One row per vendor × channel × priority × measure (RFC 4180).
pub fn csv_rows(sc: &Scorecard) -> String {
    let mut out = line(
        &[
            "vendor",
            "name",
            "channel",
            "priority",
            "measure",
            "target_seconds",
            "calendar",
            "probes",
            "intervals",
            "judged",
            "met",
            "breached",
            "unanswered",
            "waiting",
            "compliance",
            "compliance_ci95_low",
            "compliance_ci95_high",
            "median_seconds",
            "p90_seconds",
            "median_business_seconds",
            "p90_business_seconds",
            "worst_seconds",
            "grade",
        ]
        .map(String::from),
    );
    for v in &sc.vendors {
        for r in &v.rows {
            out.push_str(&line(&[
                v.vendor.clone(),
                v.name.clone(),
                r.channel.clone(),
                r.priority.clone(),
                r.measure.clone(),
                opt(r.target_seconds),
                r.calendar.clone(),
                r.probes.to_string(),
                r.intervals.to_string(),
                r.judged.to_string(),
                r.met.to_string(),
                r.breached.to_string(),
                r.unanswered.to_string(),
                r.waiting.to_string(),
                opt(r.compliance),
                opt(r.compliance_ci95.map(|c| c[0])),
                opt(r.compliance_ci95.map(|c| c[1])),
                opt(r.median_seconds),
                opt(r.p90_seconds),
                opt(r.median_business_seconds),
                opt(r.p90_business_seconds),
                opt(r.worst_seconds),
                r.grade.map(|g| g.as_str().to_string()).unwrap_or_default(),
            ]));
        }
    }
    out
}

/// One row per probe with its figures.
pub fn csv_probes(sc: &Scorecard) -> String {
    let mut out = line(
        &[
            "reference",
            "vendor",
            "channel",
            "channel_id",
            "priority",
            "scenario",
            "state",
            "outcome",
            "opened_at",
            "in_hours",
            "ticket_url",
            "first_human_response_seconds",
            "first_human_response_business_seconds",
            "resolution_seconds",
            "resolution_business_seconds",
            "next_reply_seconds",
            "breaches",
            "bot_turns",
            "handoffs",
            "messages",
            "rating_quality",
        ]
        .map(String::from),
    );
    for p in &sc.probes {
        let (_, mean) = supportprobe_store::current_quality(&p.ratings);
        out.push_str(&line(&[
            p.reference.clone(),
            p.vendor.clone(),
            p.channel.clone(),
            p.channel_id.clone(),
            p.priority.clone(),
            p.scenario.clone(),
            p.state.clone(),
            p.outcome.clone().unwrap_or_default(),
            p.opened_at.clone().unwrap_or_default(),
            p.in_hours.map(|b| b.to_string()).unwrap_or_default(),
            p.ticket_url.clone().unwrap_or_default(),
            opt(p.first_human_response_seconds),
            opt(p.first_human_response_business_seconds),
            opt(p.resolution_seconds),
            opt(p.resolution_business_seconds),
            p.next_reply_seconds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "),
            p.breaches.join(" "),
            p.bot_turns.to_string(),
            p.handoffs.to_string(),
            p.messages.len().to_string(),
            opt(mean),
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn empty() -> Scorecard {
        Scorecard {
            generated_at: "2026-12-04T00:00:00Z".into(),
            from: None,
            to: None,
            version: "0".into(),
            vendors: Vec::new(),
            ranking: Vec::new(),
            probes: Vec::new(),
            method: Method::default(),
        }
    }

    #[test]
    fn every_template_renders_in_both_languages_and_escapes_what_vendors_write() {
        for lang in [Lang::En, Lang::Zh] {
            let sc = empty();
            assert!(html(&sc, lang, None).unwrap().contains("<h1>"));
            assert!(html(&sc, lang, Some(&Live { refresh_seconds: 30, rating: true })).unwrap().contains("refresh"));
            assert!(markdown(&sc, lang).unwrap().starts_with("# "));
        }
        // A hostile author name and excerpt come out as text, not markup.
        let p = ProbeEvidence {
            reference: "SP-1".into(),
            vendor: "v".into(),
            channel: "zendesk".into(),
            channel_id: "tickets".into(),
            priority: "P1".into(),
            scenario: "s".into(),
            state: "answered".into(),
            outcome: None,
            opened_at: Some("2026-12-04T00:00:00Z".into()),
            ticket_id: None,
            ticket_url: None,
            in_hours: Some(true),
            first_human_response_seconds: Some(60.0),
            first_human_response_business_seconds: Some(60.0),
            next_reply_seconds: Vec::new(),
            resolution_seconds: None,
            resolution_business_seconds: None,
            breaches: Vec::new(),
            bot_turns: 0,
            handoffs: 0,
            messages: vec![Message {
                at: "2026-12-04T00:01:00Z".into(),
                author: "<script>alert(1)</script>".into(),
                class: "human".into(),
                rule: "relay:zendesk:agent".into(),
                excerpt: Some("</td><img src=x onerror=alert(2)>".into()),
            }],
            conversation: Default::default(),
            longest_silence_seconds: None,
            open_silence_seconds: None,
            timeline: Vec::new(),
            ratings: Vec::new(),
        };
        let page = probe_page(&p, "Vendor \"V\"", Lang::En, Some(&Live { refresh_seconds: 0, rating: true })).unwrap();
        assert!(!page.contains("<script>alert") && page.contains("&lt;script&gt;"), "escaped author");
        assert!(!page.contains("<img src=x"), "escaped excerpt");
        assert!(page.contains("id=\"rating-form\""));
        let read_only = probe_page(&p, "V", Lang::Zh, None).unwrap();
        assert!(!read_only.contains("rating-form") && read_only.contains("首次人工响应"));
    }

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }
}
