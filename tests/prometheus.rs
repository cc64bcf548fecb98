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
    // A family with no series yet is not exposed (the prometheus crate's encoder, like every
    // client library): these appear with their first probe, reply, error or notification.
    // They must still be families the daemon defines, under exactly that name.
    let source = std::fs::read_to_string("src/metrics.rs").unwrap();
    let defined = |n: &str| source.contains(&format!("\"{n}\""));
    let missing: Vec<_> = named.iter().filter(|n| !exported.contains(*n) && !defined(n)).collect();
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
    // Every scheduled target is counted from 0: opened, each outcome; each channel's replies by
    // class; each unfinished state.
    let mut scheduled = 0;
    for s in &config.schedules {
        for t in &s.targets {
            let kind = config.channel(&t.vendor, &t.channel).unwrap().kind;
            let l = format!(
                "vendor=\"{}\",channel=\"{kind}\",priority=\"{}\",scenario=\"{}\"",
                t.vendor, s.scenario.priority, s.scenario.id
            );
            assert_eq!(value(&format!("supportprobe_probes_opened_total{{{l}}}")), "0");
            for outcome in ["resolved", "unresolved", "unanswered", "failed", "skipped"] {
                assert_eq!(value(&format!("supportprobe_probes_total{{{l},outcome=\"{outcome}\"}}")), "0");
            }
            scheduled += 1;
        }
    }
    assert!(scheduled > 10, "{scheduled}");
    for v in config.vendors.values() {
        for c in v.channels.values() {
            for class in ["human", "bot", "auto_ack", "out_of_office", "bounce"] {
                let series = format!(
                    "supportprobe_replies_total{{vendor=\"{}\",channel=\"{}\",class=\"{class}\"}}",
                    v.id, c.kind
                );
                assert_eq!(value(&series), "0");
            }
            for priority in v.promises.keys() {
                let l = format!("vendor=\"{}\",channel=\"{}\",priority=\"{priority}\"", v.id, c.kind);
                assert_eq!(value(&format!("supportprobe_open_probes{{{l},state=\"open\"}}")), "0");
            }
        }
    }
}

/// Routing and links: a vendor being late is a `ticket` for the POC team,
/// only our own failures `page`; every alert links a runbook section that
/// exists (the daemon serves docs/alerts.md at /docs/alerts with those
/// anchors) and a dashboard that is shipped; vendor alerts name the vendor
/// by its display name.
#[test]
fn every_alert_is_routed_and_links_its_runbook_and_dashboard() {
    let rules = std::fs::read_to_string("config/prometheus/alerts.yml").unwrap();
    let runbook = supportprobe::pages::markdown_page(&std::fs::read_to_string("docs/alerts.md").unwrap());
    let uids: BTreeSet<String> = std::fs::read_dir("grafana/dashboards")
        .unwrap()
        .map(|e| {
            let d: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap();
            d["uid"].as_str().unwrap().to_string()
        })
        .collect();
    let ours = [
        "SupportChannelFailing",
        "SupportProbesOverdue",
        "SupportProbeDaemonAbsent",
        "SupportProbeConfigReloadFailed",
        "SupportNotificationsFailing",
    ];
    let blocks: Vec<&str> = rules.split("- alert: ").skip(1).collect();
    assert_eq!(blocks.len(), 8);
    for block in blocks {
        let name = block.lines().next().unwrap().trim();
        let field = |key: &str| {
            block
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_else(|| panic!("{name} has no {key}"))
        };
        let severity = field("severity");
        if ours.contains(&name) {
            assert_eq!(severity, "page", "{name}: our own failure pages");
            assert_eq!(field("audience"), "operators", "{name}");
        } else {
            assert_eq!(severity, "ticket", "{name}: a vendor's lateness is not ours to be woken for");
            assert_eq!(field("audience"), "poc-team", "{name}");
            assert!(
                block.contains("supportprobe_vendor_info{vendor=%q}"),
                "{name}: names the vendor by its display name"
            );
        }
        let url = field("runbook_url");
        let anchor = url.rsplit_once('#').unwrap().1;
        assert_eq!(anchor, name.to_lowercase(), "{name}");
        assert!(url.starts_with("http://127.0.0.1:9897/docs/alerts#"), "{name}: {url}");
        assert!(runbook.contains(&format!("<h2 id=\"{anchor}\">")), "{name}: docs/alerts.md has no section for it");
        let dash = field("dashboard_url");
        let uid = dash.split("/d/").nth(1).unwrap().split('/').next().unwrap();
        assert!(uids.contains(uid), "{name}: no dashboard {uid}");
    }
}

/// The example Alertmanager config is valid and routes as the rules mean:
/// a `page` reaches the on-call, a vendor's `ticket` the POC team.
#[test]
fn alertmanager_routes_pages_to_operators_and_tickets_to_the_poc_team() {
    let amtool = |args: &[&str]| -> Option<String> {
        match Command::new("amtool").args(args).output() {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                assert!(
                    out.status.success(),
                    "amtool {}: {text}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
                Some(text)
            }
            Err(e) if std::env::var_os("SUPPORTPROBE_REQUIRE_TOOLS").is_none() => {
                eprintln!("amtool not available ({e}); skipping (scripts/test.sh installs it)");
                None
            }
            Err(e) => panic!("amtool is required but cannot run: {e}"),
        }
    };
    let file = "config/prometheus/alertmanager.yml";
    let Some(_) = amtool(&["check-config", file]) else { return };
    let route = |labels: &[&str]| {
        let mut args = vec!["config", "routes", "test", "--config.file", file];
        args.extend_from_slice(labels);
        amtool(&args).unwrap().trim().to_string()
    };
    assert_eq!(
        route(&["severity=page", "audience=operators", "alertname=SupportProbeDaemonAbsent"]),
        "operators-oncall"
    );
    assert_eq!(
        route(&["severity=ticket", "audience=poc-team", "alertname=SupportPromiseBreached", "vendor=hanyun"]),
        "poc-team"
    );
}

/// The dashboard lint (the rules of Grafana's dashboard-linter that apply to
/// these dashboards, which cannot be installed here): a datasource variable
/// of the Prometheus type that every panel and target reads; unique panel
/// ids and non-overlapping places; a unit on every panel that shows a number;
/// `rate()` over `$__rate_interval`; every threshold list starting from its
/// base; a description on every panel and variable that says how it counts.
#[test]
fn dashboards_pass_the_lint_rules() {
    for e in std::fs::read_dir("grafana/dashboards").unwrap() {
        let path = e.unwrap().path();
        let name = path.display().to_string();
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "{name}: schemaVersion");
        assert!(d["title"].as_str().is_some_and(|t| t.starts_with("supportprobe / ")), "{name}: title");
        let vars = d["templating"]["list"].as_array().unwrap();
        let ds = vars.iter().find(|v| v["name"] == "datasource").expect("a datasource variable");
        assert_eq!((ds["type"].as_str(), ds["query"].as_str()), (Some("datasource"), Some("prometheus")), "{name}");
        for v in vars.iter().filter(|v| v["type"] == "query") {
            assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}: variable {}", v["name"]);
        }
        let mut ids = BTreeSet::new();
        let mut cells: Vec<(String, u64, u64, u64, u64)> = Vec::new();
        let panels = d["panels"].as_array().unwrap();
        for p in panels {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            assert!(ids.insert(p["id"].as_u64().unwrap()), "{name}: panel id {} twice", p["id"]);
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_u64().unwrap(),
                g["y"].as_u64().unwrap(),
                g["w"].as_u64().unwrap(),
                g["h"].as_u64().unwrap(),
            );
            assert!(x + w <= 24, "{name}: {title} wider than the grid");
            for (other, ox, oy, ow, oh) in &cells {
                let apart = x + w <= *ox || *ox + ow <= x || y + h <= *oy || *oy + oh <= y;
                assert!(apart, "{name}: {title} overlaps {other}");
            }
            cells.push((title.clone(), x, y, w, h));
            if p["type"] == "row" {
                continue;
            }
            if matches!(p["type"].as_str(), Some("timeseries" | "stat" | "bargauge" | "gauge")) {
                assert!(p["fieldConfig"]["defaults"]["unit"].is_string(), "{name}: {title} has no unit");
            }
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{name}: {title}");
                let expr = t["expr"].as_str().unwrap();
                for (i, _) in expr.match_indices("rate(") {
                    let tail = &expr[i..];
                    let window = tail.split_once('[').map(|(_, r)| r.split(']').next().unwrap_or_default());
                    assert_eq!(window, Some("$__rate_interval"), "{name}: {title}: rate() over $__rate_interval");
                }
            }
            let mut steps = vec![p["fieldConfig"]["defaults"]["thresholds"]["steps"].clone()];
            for o in p["fieldConfig"]["overrides"].as_array().into_iter().flatten() {
                for prop in o["properties"].as_array().unwrap() {
                    if prop["id"] == "thresholds" {
                        steps.push(prop["value"]["steps"].clone());
                    }
                }
            }
            for s in steps.iter().filter_map(|s| s.as_array()) {
                assert!(s.first().is_some_and(|b| b["value"].is_null()), "{name}: {title}: thresholds start at a base");
            }
            let desc = p["description"].as_str().unwrap_or_default();
            assert!(desc.len() > 60, "{name}: {title}: the description says how it counts");
        }
    }
}
