//! `record` never overwrites what a channel measured by accident: recording
//! `human` on a probe whose first human response the channel already
//! measured is refused unless forced; a forced override becomes the figure,
//! is kept as an override (who, when, old and new value) and is shown by
//! `probes`.

use std::path::Path;

use chrono::{SubsecRound, Utc};
use supportprobe::config::{Config, SourceFile};
use supportprobe::model::{Priority, ReplyClass};
use supportprobe::record::{RecordError, RecordEvent, record};
use supportprobe::store::{NewEvent, NewProbe, Store};

#[test]
fn a_measured_first_human_response_is_overridden_only_when_forced() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[daemon]\ndata_dir = \"{}\"\n[vendors.acme.promise]\nP0 = {{ first_response = \"15m\", resolution = \"4h\" }}\n",
        dir.path().display()
    );
    let config = Config::parse(&SourceFile::new(Path::new("t.toml"), text), &|_| None).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let opened = (Utc::now() - chrono::Duration::hours(1)).trunc_subsecs(0);
    let probe = NewProbe {
        reference: "SP-7K3Q9X2M",
        slot: None,
        vendor: "acme",
        channel: "tickets",
        kind: "zendesk",
        scenario: "p0",
        priority: Priority::P0,
        due_at: opened,
        give_up_after: chrono::Duration::days(3),
        follow_up_delay: None,
        manual: false,
        counted: true,
    };
    let id = store.insert_probe(&probe, opened).unwrap().unwrap();
    store
        .append(id, &NewEvent { kind: "opened", key: "opened", at: Some(opened), ..Default::default() }, opened)
        .unwrap();
    let measured = opened + chrono::Duration::minutes(12);
    let detail = serde_json::json!({ "message_id": "1281" });
    let reply = NewEvent {
        kind: "reply",
        key: "reply:1281",
        at: Some(measured),
        class: Some(ReplyClass::Human),
        rule: Some("relay:zendesk:comment"),
        author: Some("1468"),
        detail: Some(detail),
    };
    store.append(id, &reply, measured).unwrap();
    let p = store.probe(id).unwrap().unwrap();
    supportprobe::engine::probe::refresh(&config, &store, &p, measured).unwrap();
    assert_eq!(store.probe(id).unwrap().unwrap().first_human_response_at, Some(measured));

    // Not forced: refused, and the message says what was measured and how to override.
    let said_on_phone = opened + chrono::Duration::minutes(5);
    let e = record(&config, &store, "SP-7K3Q9X2M", RecordEvent::Human, Some(said_on_phone), None, "cli:ops", false)
        .unwrap_err();
    assert!(matches!(e, RecordError::AlreadyMeasured { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("relay:zendesk:comment") && msg.contains("--force"), "{msg}");
    assert_eq!(store.events(id).unwrap().len(), 2, "nothing recorded");

    // Forced: the recorded time is the figure, the override is kept as such.
    let line = record(
        &config,
        &store,
        "SP-7K3Q9X2M",
        RecordEvent::Human,
        Some(said_on_phone),
        Some("the engineer called us first"),
        "cli:ops",
        true,
    )
    .unwrap();
    assert!(line.contains("human"), "{line}");
    let p = store.probe(id).unwrap().unwrap();
    assert_eq!(p.first_human_response_at, Some(said_on_phone));
    let forced: Vec<_> = store.events_with_rule("manual:human:forced").unwrap();
    assert_eq!(forced.len(), 1);
    let d = &forced[0].1.detail;
    assert_eq!(d["replaces"]["at"], measured.to_rfc3339());
    assert_eq!(d["replaces"]["rule"], "relay:zendesk:comment");
    assert_eq!(forced[0].1.author.as_deref(), Some("cli:ops"));

    // `probes` shows the override: marked in the table, listed with old and new value.
    let rows = supportprobe::cli::probe_rows(&store).unwrap();
    assert_eq!(rows[0].overrides.len(), 1);
    let table = supportprobe::cli::table(&rows);
    assert!(table.contains("5m*") || table.contains("5m00s*"), "{table}");
    assert!(table.contains("overridden by cli:ops") && table.contains("relay:zendesk:comment"), "{table}");
    let json = serde_json::to_value(&rows).unwrap();
    assert_eq!(json[0]["overrides"][0]["old_rule"], "relay:zendesk:comment");
}
