//! supportprobe: measures, with evidence, how fast each vendor's support
//! really answers.
//!
//! Data flows one way:
//!
//! ```text
//! config ─→ scheduler ─→ engine ─→ channel adapters (open / poll / reply / close)
//!                          │  ↑ replies
//!                          ↓
//!             classify → lifecycle (pure) → sla (pure) → store (SQLite)
//!                                                           ↓
//!                                                metrics (/metrics)
//! ```
//!
//! - [`config`]: strict TOML with located errors; [`scenario`]: what a probe says.
//! - [`calendar`], [`lifecycle`], [`sla`], [`classify`]: pure, no I/O, no clock.
//! - [`store`]: SQLite, the source of truth; [`metrics`] are derived from it.
//! - [`engine`]: scheduler and per-channel workers; [`channel`]: adapters.
//! - [`simulator`]: simulated vendors on real wire formats, with ground truth.
//! - [`daemon`], [`server`], [`cli`]: the process around it all.
#![forbid(unsafe_code)]

pub use supportprobe_core::{
    calendar, classify, clock, duration, lifecycle, mail, model, redact, reference, scenario, sla, template, value,
};
pub use supportprobe_simulator as simulator;

pub mod channel;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod failpoint;
pub mod fuzzing;
pub mod lock;
pub mod metrics;
pub mod notify;
pub mod record;
pub mod replyfile;
pub mod server;
pub mod simulated;
pub mod store;
pub mod webhook;
