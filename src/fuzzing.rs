//! Fuzz entry points: what an attacker or a broken vendor controls, run on
//! arbitrary bytes. Each panics only when an invariant breaks, never on the
//! input itself. The cargo-fuzz targets in `fuzz/` call these; the test
//! suite's smoke run (`tests/fuzz_smoke.rs`) feeds them mutated fixtures on
//! the stable toolchain.

use std::path::Path;

use axum::http::HeaderMap;

use crate::channel::ChannelKind;
use crate::classify::{AuthorKind, ClassifyOverrides, classify};
use crate::config::{Config, SourceFile};

/// A raw mail, as an IMAP server could hand it over: parsed (size-capped),
/// classified, explained.
pub fn mail_parse_classify(data: &[u8]) {
    let Ok(mail) = crate::mail::parse(data, 1 << 20) else { return };
    let c = classify(&mail.facts(AuthorKind::Unknown), &ClassifyOverrides::default());
    assert!(!c.rule.is_empty(), "every classification names its rule");
    let repaired = crate::mail::repair(data);
    let _ = crate::mail::parse(&repaired, 1 << 20);
}

/// A config file: parsed and validated; every diagnostic renders, and its
/// location lies inside the file.
pub fn config_parse_render(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let lines = text.split('\n').count();
    let file = SourceFile::new(Path::new("fuzz.toml"), text);
    if let Err(d) = Config::parse(&file, &|_| None) {
        let rendered = d.to_string();
        assert!(rendered.contains("problem"), "{rendered}");
        for diag in &d.0 {
            if let (Some(f), Some(span)) = (&diag.file, &diag.span) {
                let (line, col) = f.line_col(span.start);
                assert!(line >= 1 && line <= lines && col >= 1, "{line}:{col} outside the file");
            }
        }
    }
}

/// A webhook request: the first byte picks the platform, the next 16 are the
/// secret, then `name: value` header lines up to a blank line, then the body.
/// Verification must not panic, and a request we sign ourselves must verify
/// while the same with one body byte changed must not.
pub fn webhook_verify(data: &[u8]) {
    // Every kind whose folder declares webhooks, as the registry lists them.
    let kinds: Vec<ChannelKind> =
        ChannelKind::ALL.iter().copied().filter(|k| crate::channel::platform(*k).webhooks.is_some()).collect();
    let Some((&pick, rest)) = data.split_first() else { return };
    let kind = kinds[usize::from(pick) % kinds.len()];
    let (secret, rest) = rest.split_at(rest.len().min(16));
    let split = rest.windows(2).position(|w| w == b"\n\n").unwrap_or(rest.len());
    let (head, body) = (&rest[..split], rest.get(split + 2..).unwrap_or(&[]));
    let mut headers = HeaderMap::new();
    for line in String::from_utf8_lossy(head).lines() {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) =
                (axum::http::HeaderName::from_bytes(k.trim().as_bytes()), axum::http::HeaderValue::from_str(v.trim()))
        {
            headers.append(k, v);
        }
    }
    let now = chrono::Utc::now();
    let _ = crate::webhook::verify(kind, secret, &headers, body, now);
    if secret.is_empty() {
        return;
    }
    let mut signed = axum::http::HeaderMap::new();
    for (k, v) in supportprobe_simulator::signing::headers(kind.as_str(), secret, body, now) {
        if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
            signed.insert(k, v);
        }
    }
    assert!(crate::webhook::verify(kind, secret, &signed, body, now).is_ok(), "{kind}: our own signature verifies");
    let mut tampered = body.to_vec();
    match tampered.first_mut() {
        Some(b) => *b ^= 0x01,
        None => tampered.push(b'x'),
    }
    assert!(crate::webhook::verify(kind, secret, &signed, &tampered, now).is_err(), "{kind}: a changed body fails");
}
