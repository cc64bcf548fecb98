//! Chart geometry for the SVG the templates draw: coordinates and path data
//! computed here, the markup in the templates.

use serde::Serialize;

use crate::lang::{Lang, duration};
use crate::model::{Curve, HoursLine, WeekLine};

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;

/// The colour of a priority's series.
pub fn colour(priority: &str) -> &'static str {
    match priority {
        "P0" => "#b03a2e",
        "P1" => "#d68910",
        "P2" => "#2471a3",
        _ => "#616a6b",
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Tick {
    pub pos: f64,
    pub label: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Series {
    pub name: String,
    pub colour: &'static str,
    /// SVG path data of the step curve.
    pub path: String,
    /// Where the promise falls on the x axis, when it is inside the chart.
    pub target_x: Option<f64>,
    pub legend_y: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub colour: &'static str,
    pub label: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub series: Vec<Series>,
    pub bars: Vec<Bar>,
    /// A horizontal line (the compliance target), in chart coordinates.
    pub target_y: Option<f64>,
    pub empty: bool,
}

fn frame() -> Chart {
    Chart {
        width: W,
        height: H,
        left: LEFT,
        top: TOP,
        right: W - RIGHT,
        bottom: H - BOTTOM,
        x_ticks: Vec::new(),
        y_ticks: Vec::new(),
        series: Vec::new(),
        bars: Vec::new(),
        target_y: None,
        empty: true,
    }
}

fn y_of(share: f64) -> f64 {
    TOP + (1.0 - share.clamp(0.0, 1.0)) * (H - TOP - BOTTOM)
}

fn share_ticks() -> Vec<Tick> {
    [0.0, 0.25, 0.5, 0.75, 1.0].iter().map(|&s| Tick { pos: y_of(s), label: format!("{:.0} %", s * 100.0) }).collect()
}

/// A "nice" round step for about `n` ticks up to `max` seconds.
fn time_step(max: f64, n: f64) -> f64 {
    let steps = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0, 21_600.0,
        43_200.0, 86_400.0, 172_800.0, 604_800.0,
    ];
    steps.iter().copied().find(|s| max / s <= n).unwrap_or(604_800.0)
}

/// The Kaplan–Meier curves of one vendor, a series per priority, each with its promise.
pub fn survival(curves: &[Curve], lang: Lang) -> Chart {
    let mut c = frame();
    c.y_ticks = share_ticks();
    let longest =
        curves.iter().flat_map(|cv| cv.steps.iter().map(|s| s[0]).chain(cv.target_seconds)).fold(0.0_f64, f64::max);
    let x_max = if longest > 0.0 { longest * 1.1 } else { 60.0 };
    let x_of = |s: f64| LEFT + s.clamp(0.0, x_max) / x_max * (W - LEFT - RIGHT);
    let step = time_step(x_max, 6.0);
    let mut t = 0.0;
    while t <= x_max {
        c.x_ticks.push(Tick { pos: x_of(t), label: duration(t, lang) });
        t += step;
    }
    for (i, cv) in curves.iter().filter(|cv| cv.observations > 0).enumerate() {
        let mut path = format!("M{:.1},{:.1}", x_of(0.0), y_of(1.0));
        for s in &cv.steps {
            path.push_str(&format!(" H{:.1} V{:.1}", x_of(s[0]), y_of(s[1])));
        }
        // Flat on from the last answer while any probe is still waiting.
        if cv.censored > 0 || cv.steps.is_empty() {
            path.push_str(&format!(" H{:.1}", x_of(x_max)));
        }
        c.series.push(Series {
            name: format!("{} (n = {})", cv.priority, cv.observations),
            colour: colour(&cv.priority),
            path,
            target_x: cv.target_seconds.map(x_of),
            legend_y: TOP + 14.0 + 14.0 * i as f64,
        });
    }
    c.empty = c.series.is_empty();
    c
}

/// Bars of shares within promise with the vendor's target drawn across.
fn shares(groups: &[(String, Option<f64>)], target: f64) -> Chart {
    let mut c = frame();
    c.y_ticks = share_ticks();
    c.target_y = Some(y_of(target));
    let n = groups.len().max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n;
    let w = (slot * 0.6).min(48.0);
    for (i, (label, share)) in groups.iter().enumerate() {
        let centre = LEFT + slot * (i as f64 + 0.5);
        c.x_ticks.push(Tick { pos: centre, label: label.clone() });
        if let Some(s) = share {
            let y = y_of(*s);
            let colour = if *s + 1e-9 >= target { "#1e8449" } else { "#b03a2e" };
            c.bars.push(Bar {
                x: centre - w / 2.0,
                y,
                w,
                h: (H - BOTTOM) - y,
                colour,
                label: format!("{:.0} %", s * 100.0),
            });
        }
    }
    c.empty = c.bars.is_empty();
    c
}

pub fn weekly(weeks: &[WeekLine], target: f64) -> Chart {
    shares(&weeks.iter().map(|w| (w.week.clone(), w.compliance)).collect::<Vec<_>>(), target)
}

pub fn hours(lines: &[HoursLine], target: f64, words: &std::collections::BTreeMap<&str, &str>) -> Chart {
    shares(
        &lines
            .iter()
            .map(|h| {
                let key = if h.when == "in_hours" { "in_hours_short" } else { "out_of_hours_short" };
                (format!("{} (n = {})", words.get(key).copied().unwrap_or(key), h.judged), h.compliance)
            })
            .collect::<Vec<_>>(),
        target,
    )
}
