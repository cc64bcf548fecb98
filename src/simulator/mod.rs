//! Simulated vendors (filled in below).
use std::sync::Arc;

use crate::calendar::Calendar;
use crate::config::raw::DurRange;
use crate::duration::Dur;
use crate::model::Priority;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

/// How one simulated vendor behaves.
#[derive(Clone, Debug)]
pub struct Profile {
    pub vendor: String,
    pub token: Option<String>,
    pub language: Lang,
    pub auto_ack: Option<Dur>,
    pub bot_turns: u32,
    pub bot_delay: Dur,
    pub human_delay: DurRange,
    pub resolution_delay: Option<DurRange>,
    pub never_answer: f64,
    pub hours: Arc<Calendar>,
    pub on_call: Vec<Priority>,
    pub agents: Vec<String>,
    pub handoff_share: f64,
    pub rate_limit_per_minute: Option<u32>,
    pub page_size: u32,
    pub seed: u64,
}
