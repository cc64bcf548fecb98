//! The shipped Prometheus configuration, rules and dashboards: promtool
//! accepts them, the alert unit tests pass, and every metric a rule or a
//! dashboard names is one the daemon exports.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) -> Option<String> {
    match Command::new("promtool").args(args).output() {
        Ok(out) => {
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "promtool {}:\n{text}", args.join(" "));
            Some(text)
        }
        Err(e) if std::env::var_os("SUPPORTPROBE_REQUIRE_TOOLS").is_none() => {
            eprintln!("promtool not available ({e}); skipping (scripts/test.sh installs it)");
            None
        }
        Err(e) => panic!("promtool is required but cannot run: {e}"),
    }
}

#[test]
fn promtool_accepts_config_and_rules_and_the_alert_tests_pass() {
    let Some(_) = promtool(&["check", "config", "config/prometheus/prometheus.yml"]) else { return };
    promtool(&["check", "rules", "config/prometheus/rules.yml", "config/prometheus/alerts.yml"]);
    let out = promtool(&["test", "rules", "config/prometheus/tests.yml"]).unwrap();
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every `supportprobe_*` metric named in rules and dashboards.
fn named_metrics() -> BTreeSet<String> {
    let re = regex::Regex::new(r"supportprobe_[a-z0-9_]+").unwrap();
    let mut files = vec!["config/prometheus/rules.yml".to_string(), "config/prometheus/alerts.yml".to_string()];
    for e in std::fs::read_dir("grafana/dashboards").unwrap() {
        files.push(e.unwrap().path().display().to_string());
    }
    let mut names = BTreeSet::new();
    for f in files {
        for m in re.find_iter(&std::fs::read_to_string(&f).unwrap()) {
            let n = m.as_str();
            let n = ["_bucket", "_sum", "_count"].iter().fold(n, |n, s| n.strip_suffix(s).unwrap_or(n));
            names.insert(n.to_string());
        }
    }
    names
}

#[test]
fn every_metric_in_rules_and_dashboards_is_exported() {
    let config = supportprobe::config::Config::load(Path::new("config/demo.toml")).unwrap();
    let store = supportprobe::store::Store::open_in_memory().unwrap();
    let facts = supportprobe::metrics::DaemonFacts { config_reload_ok: true, config_loaded_at: chrono::Utc::now() };
    let text = supportprobe::metrics::render(&config, &store, facts, chrono::Utc::now()).unwrap();
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(String::from)
        .collect();
    let named = named_metrics();
    assert!(named.len() > 15, "{named:?}");
    let missing: Vec<_> = named.difference(&exported).collect();
    assert!(missing.is_empty(), "named in rules or dashboards but not exported: {missing:?}");
}

#[test]
fn dashboards_are_importable_anywhere() {
    let mut uids = BTreeSet::new();
    for e in std::fs::read_dir("grafana/dashboards").unwrap() {
        let path = e.unwrap().path();
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let uid = d["uid"].as_str().unwrap_or_default().to_string();
        assert!(uid.starts_with("supportprobe-") && uids.insert(uid.clone()), "{}: stable, unique uid", path.display());
        let vars: Vec<&str> =
            d["templating"]["list"].as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
        // The same filters everywhere; the comparison adds the window of its exact quantiles.
        let want: &[&str] = if path.ends_with("vendor-comparison.json") {
            &["datasource", "vendor", "channel", "priority", "window"]
        } else {
            &["datasource", "vendor", "channel", "priority"]
        };
        assert_eq!(vars, want, "{}", path.display());
        // Every panel reads the datasource variable, never a fixed datasource.
        for p in d["panels"].as_array().unwrap().iter().filter(|p| p["type"] != "row") {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}: {}", path.display(), p["title"]);
            assert!(!p["targets"].as_array().unwrap().is_empty(), "{}: {}", path.display(), p["title"]);
            assert!(
                p["description"].as_str().is_some_and(|s| s.len() > 20),
                "{}: {} says what it answers",
                path.display(),
                p["title"]
            );
        }
    }
    assert_eq!(uids.len(), 3);
}

#[test]
fn the_first_scrape_shows_every_configured_series_at_zero() {
    let config = supportprobe::config::Config::load(Path::new("config/demo.toml")).unwrap();
    let store = supportprobe::store::Store::open_in_memory().unwrap();
    let facts = supportprobe::metrics::DaemonFacts { config_reload_ok: true, config_loaded_at: chrono::Utc::now() };
    let text = supportprobe::metrics::render(&config, &store, facts, chrono::Utc::now()).unwrap();
    let value = |series: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{series} is not exported on the first scrape"))
            .to_string()
    };
    let mut checked = 0;
    for v in config.vendors.values() {
        for c in v.channels.values() {
            for (priority, promise) in &v.promises {
                let l = format!("vendor=\"{}\",channel=\"{}\",priority=\"{priority}\"", v.id, c.kind);
                for family in [
                    "supportprobe_first_any_reply_seconds",
                    "supportprobe_first_human_response_seconds",
                    "supportprobe_next_reply_seconds",
                    "supportprobe_resolution_seconds",
                ] {
                    for clock in ["wall", "business"] {
                        assert_eq!(value(&format!("{family}_count{{{l},clock=\"{clock}\"}}")), "0");
                        assert_eq!(value(&format!("{family}_bucket{{{l},clock=\"{clock}\",le=\"+Inf\"}}")), "0");
                    }
                }
                for m in promise.targets.keys() {
                    for family in ["supportprobe_promise_met_total", "supportprobe_promise_breaches_total"] {
                        assert_eq!(value(&format!("{family}{{{l},measure=\"{m}\"}}")), "0");
                        checked += 1;
                    }
                }
                assert_eq!(
                    value(&format!(
                        "supportprobe_figure_samples{{{l},measure=\"first_human_response\",clock=\"wall\",window=\"poc\"}}"
                    )),
                    "0"
                );
            }
        }
    }
    assert!(checked > 50, "{checked} met/breach series checked");
    assert!(!text.contains("supportprobe_figure_quantile_seconds{"), "no quantile before anything is measured");
}
