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

pub mod calendar;
pub mod channel;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod duration;
pub mod engine;
pub mod failpoint;
pub mod fuzzing;
pub mod lifecycle;
pub mod lock;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod record;
pub mod redact;
pub mod reference;
pub mod replyfile;
pub mod scenario;
pub mod server;
pub mod simulator;
pub mod sla;
pub mod store;
pub mod template;
pub mod webhook;
