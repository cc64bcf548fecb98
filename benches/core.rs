//! Benchmarks of the hot paths, without a framework: each case runs until it
//! has taken at least half a second and reports the time per operation.
//!
//!     cargo bench --bench core
//!
//! - business clock: figures and deadlines on a weekly calendar with holidays
//! - classifier: a human reply, an acknowledgement, a Zendesk relay from the
//!   corpus, and HTML-only mail of bare `&` at 1, 3 and 10 MB (parse and
//!   classify must stay linear: the 10 MB case is printed with its ratio to
//!   the 1 MB case, and must stay well under a second)
//! - lifecycle: folding a typical probe's events
//! - store: recording probes and events
//! - metrics: one scrape of a store with 10 000 finished probes

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use supportprobe::calendar::{Calendar, parse_windows};
use supportprobe::classify::{AuthorKind, ClassifyOverrides, ReplyFacts, classify};
use supportprobe::config::{Config, SourceFile};
use supportprobe::lifecycle::{Event, derive};
use supportprobe::model::{Priority, ReplyClass};
use supportprobe::store::{NewEvent, NewProbe, Store};

fn bench<T>(name: &str, mut f: impl FnMut() -> T) -> Duration {
    // Warm up, then time batches until half a second has passed.
    for _ in 0..10 {
        black_box(f());
    }
    let mut n: u64 = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        for _ in 0..10 {
            black_box(f());
        }
        n += 10;
    }
    let per = start.elapsed() / u32::try_from(n).unwrap_or(u32::MAX);
    println!("{name:<48} {:>12.3} µs/op  ({n} runs)", per.as_secs_f64() * 1e6);
    per
}

/// An HTML-only mail whose body is `size` bytes of bare `&` (no `;` anywhere).
fn ampersand_mail(size: usize) -> Vec<u8> {
    let mut m =
        b"From: Vendor <support@vendor.example>\r\nTo: probes@example.com\r\nSubject: Re: [SP-7K3Q9X2M] calls drop\r\n\
Message-ID: <amp@vendor.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>"
            .to_vec();
    m.resize(m.len() + size, b'&');
    m.extend_from_slice(b"</p></body></html>\r\n");
    m
}

/// Parses and classifies one raw mail, as the email channel and `classify` do.
fn parse_and_classify(raw: &[u8]) -> supportprobe::classify::Classification {
    let mail = supportprobe::mail::parse(raw, 16 << 20).expect("the benchmark mail parses");
    classify(&mail.facts(AuthorKind::Unknown), &ClassifyOverrides::default())
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn shanghai() -> Calendar {
    let mut w: [Vec<_>; 7] = Default::default();
    for d in w.iter_mut().take(5) {
        *d = parse_windows("09:00-18:00").unwrap();
    }
    let holidays: BTreeSet<_> = utc("2026-10-01T00:00:00Z").date_naive().iter_days().take(7).collect();
    Calendar::weekly("cn", chrono_tz::Asia::Shanghai, w, holidays, BTreeMap::new()).unwrap()
}

fn main() {
    let cal = shanghai();
    let (a, b) = (utc("2026-09-29T09:00:00Z"), utc("2026-10-09T02:00:00Z"));
    bench("calendar: business time over 10 days w/ Golden Week", || cal.business_between(a, b));
    bench("calendar: 4h business deadline from Friday evening", || {
        cal.add_business(utc("2026-11-20T09:50:00Z"), chrono::Duration::hours(4))
    });
    let always = Calendar::always("24x7");
    bench("calendar: 24x7 business time", || always.business_between(a, b));

    let none = ClassifyOverrides::default();
    let human = ReplyFacts {
        author_id: "42",
        author_name: "Alex Chen",
        author_email: None,
        author_kind: AuthorKind::Agent,
        kind_evidence: None,
        headers: &[],
        subject: None,
        body: "Hi, thanks for the detailed report. Could you share the SDK logs from both devices and the exact SDK version? We will look at the reconnect path.",
        parts: &[],
        ours: &[],
    };
    bench("classify: a human reply (all rules run)", || classify(&human, &none));
    let ack = ReplyFacts {
        body: "您好，您的工单 #4521 已生成，我们会在24小时内处理。请勿直接回复。", ..human.clone()
    };
    bench("classify: a Chinese acknowledgement", || classify(&ack, &none));
    let relay = std::fs::read("tests/fixtures/mail/human/zendesk-updated-cc-line.eml").expect("corpus file");
    bench("mail: parse + classify a Zendesk notification", || parse_and_classify(&relay));
    let (m1, m3, m10) = (ampersand_mail(1_000_000), ampersand_mail(3_000_000), ampersand_mail(10_000_000));
    let t1 = bench("mail: parse + classify 1 MB HTML of bare &", || parse_and_classify(&m1));
    let t3 = bench("mail: parse + classify 3 MB HTML of bare &", || parse_and_classify(&m3));
    let t10 = bench("mail: parse + classify 10 MB HTML of bare &", || parse_and_classify(&m10));
    println!(
        "{:<48} {:>12.2} (3 MB) {:.2} (10 MB)  (linear: 3 and 10)",
        "mail: bare & time relative to 1 MB",
        t3.as_secs_f64() / t1.as_secs_f64(),
        t10.as_secs_f64() / t1.as_secs_f64()
    );

    let t0 = utc("2026-11-23T10:00:00Z");
    let mut events = vec![Event::OpenIntent, Event::Opened { at: t0 }];
    for i in 1..=20 {
        let class = if i < 4 { ReplyClass::Bot } else { ReplyClass::Human };
        events.push(Event::Reply {
            at: t0 + chrono::Duration::seconds(i * 60),
            class,
            author: format!("a{}", i % 3),
            resolves: false,
        });
    }
    events.push(Event::VendorResolved { at: t0 + chrono::Duration::hours(2) });
    bench("lifecycle: derive 23 events", || derive(&events));

    let store = Store::open_in_memory().unwrap();
    let mut i = 0u64;
    bench("store: insert a probe", || {
        i += 1;
        let r = format!("SP-{i:08}");
        store
            .insert_probe(
                &NewProbe {
                    reference: &r,
                    slot: None,
                    vendor: "acme",
                    channel: "tickets",
                    kind: "zendesk",
                    scenario: "p0",
                    priority: Priority::P0,
                    due_at: t0,
                    give_up_after: chrono::Duration::hours(1),
                    follow_up_delay: None,
                    manual: false,
                    counted: true,
                },
                t0,
            )
            .unwrap()
    });
    let mut j = 0u64;
    bench("store: append a reply event", || {
        j += 1;
        let key = format!("reply:{j}");
        store
            .append(
                1,
                &NewEvent {
                    kind: "reply",
                    key: &key,
                    at: Some(t0),
                    class: Some(ReplyClass::Human),
                    ..Default::default()
                },
                t0,
            )
            .unwrap()
    });

    // One scrape over a store of 10 000 finished probes.
    let dir = std::env::temp_dir().join(format!("supportprobe-bench-{}", std::process::id()));
    let config_text = format!(
        "[daemon]\ndata_dir = \"{}\"\n[vendors.acme.promise]\nP0 = {{ first_response = \"15m\", resolution = \"4h\" }}\n",
        dir.display()
    );
    let config = Config::parse(&SourceFile::new(Path::new("bench.toml"), config_text), &|_| None).unwrap();
    let store = Store::open(&dir).unwrap();
    for n in 0..10_000u32 {
        let r = format!("SP-B{n:07}");
        let id = store
            .insert_probe(
                &NewProbe {
                    reference: &r,
                    slot: None,
                    vendor: ["acme", "beta", "gamma"][n as usize % 3],
                    channel: "tickets",
                    kind: "zendesk",
                    scenario: "p0",
                    priority: Priority::P0,
                    due_at: t0,
                    give_up_after: chrono::Duration::hours(1),
                    follow_up_delay: None,
                    manual: false,
                    counted: true,
                },
                t0,
            )
            .unwrap()
            .unwrap();
        let at = t0 + chrono::Duration::seconds(i64::from(n % 1800));
        store.append(id, &NewEvent { kind: "opened", key: "opened", at: Some(t0), ..Default::default() }, t0).unwrap();
        let key = format!("reply:{n}");
        store
            .append(
                id,
                &NewEvent {
                    kind: "reply",
                    key: &key,
                    at: Some(at),
                    class: Some(ReplyClass::Human),
                    ..Default::default()
                },
                t0,
            )
            .unwrap();
        let p = store.probe(id).unwrap().unwrap();
        supportprobe::engine::probe::refresh(&config, &store, &p, at).unwrap();
    }
    let facts = supportprobe::metrics::DaemonFacts { config_reload_ok: true, config_loaded_at: t0 };
    let mut size = 0;
    bench("metrics: render a scrape of 10 000 probes", || {
        let s = supportprobe::metrics::render(&config, &store, facts, t0).unwrap();
        size = s.len();
        s
    });
    println!("{:<48} {:>12} bytes", "metrics: exposition size", size);
    let _ = std::fs::remove_dir_all(&dir);
}
