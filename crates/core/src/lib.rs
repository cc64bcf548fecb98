//! supportprobe's pure core: the vocabulary and every rule that decides a
//! figure, with no I/O, no runtime and no clock of its own (time is passed in,
//! see [`clock`]).
//!
//! - [`model`]: the vocabulary (priorities, measures, reply classes, channel kinds).
//! - [`duration`], [`calendar`], [`holidays`]: durations as written in config, business-hours
//!   calendars, the built-in public-holiday sets they can name.
//! - [`lifecycle`]: a probe's states and events; [`sla`]: figures held against promises.
//! - [`classify`]: who wrote a reply (human, bot, auto-acknowledgement, …) and why;
//!   [`mail`]: parsing the mail it reads.
//! - [`template`], [`scenario`]: what a probe says; [`reference`]: the probe's tag.
//! - [`diag`], [`value`]: located config diagnostics and the validated values they check; [`redact`]: keeping secrets out of text.
#![forbid(unsafe_code)]
// A config diagnostic (file, span, message, notes) is large, and is built only when a
// file is read and found wrong: boxing it would buy nothing on any hot path.
#![allow(clippy::result_large_err)]

pub mod calendar;
pub mod classify;
pub mod clock;
pub mod communication;
pub mod diag;
pub mod duration;
pub mod holidays;
pub mod lifecycle;
pub mod mail;
pub mod model;
pub mod redact;
pub mod reference;
pub mod scenario;
pub mod secret;
pub mod sla;
pub mod stats;
pub mod template;
pub mod value;

/// An error with every cause under it, `a: b: c`, each said once (a cause
/// whose text its parent already contains is skipped).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}
