//! The POC scorecard: per vendor, promise against reality with honest
//! small-sample statistics (Wilson intervals, Kaplan–Meier medians with
//! unanswered probes censored), channels, charts, communication, and the
//! evidence behind every figure; rendered as self-contained HTML, Markdown,
//! CSV or JSON, and as the daemon's live pages.
//!
//! It reads the store only: it works while the daemon runs and needs none of
//! the channels' secrets.

mod charts;
mod compute;
mod lang;
mod model;
mod render;

pub use compute::{Extras, MEASURES, MIN_JUDGED, Options, extras, grade, parse_bound, probe_evidence, scorecard};
pub use lang::{Lang, duration};
pub use model::*;
pub use render::{Format, Live, RenderError, csv_probes, csv_rows, html, json, markdown, probe_page};
