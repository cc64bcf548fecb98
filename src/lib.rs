//! supportprobe: measures, with evidence, how fast each vendor's support
//! really answers.
//!
//! This is the binary crate: the process around the workspace's crates
//! (see ARCHITECTURE.md). Data flows one way, and the crate boundaries hold
//! it to that:
//!
//! ```text
//! config ─→ engine (scheduler, workers) ─→ channels (open / poll / reply / close)
//!              │  ↑ snapshots
//!              ↓
//!   core: classify → lifecycle → sla ─→ store (SQLite) ─→ metrics (/metrics)
//!              │                           ↑
//!              └─→ outbox ─────────────────┴─→ notify
//! ```
//!
//! - Re-exported under their old paths: [`config`], [`channel`] (adapters,
//!   one folder per kind), [`store`], [`engine`], [`notify`], [`simulator`]
//!   and the core's modules ([`calendar`], [`classify`], [`lifecycle`], [`sla`], …).
//! - Here: [`daemon`], [`server`], [`metrics`], [`cli`], [`record`],
//!   [`simulated`] (how the binary composes the simulator), [`fuzzing`].
#![forbid(unsafe_code)]

pub use supportprobe_channels as channel;
pub use supportprobe_channels::webhook;
pub use supportprobe_config as config;
pub use supportprobe_core::{
    calendar, classify, clock, duration, lifecycle, mail, model, redact, reference, scenario, sla, template, value,
};
pub use supportprobe_engine as engine;
pub use supportprobe_engine::failpoint;
pub use supportprobe_notify as notify;
pub use supportprobe_simulator as simulator;
pub use supportprobe_store as store;

pub mod cli;
pub mod daemon;
pub mod fuzzing;
pub mod lock;
pub mod metrics;
pub mod online;
pub mod pages;
pub mod record;
pub mod replyfile;
pub mod server;
pub mod simulated;
