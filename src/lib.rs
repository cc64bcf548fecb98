pub mod calendar;
pub mod classify;
pub mod config;
pub mod duration;
pub mod model;
pub mod scenario;
pub mod simulator;
pub mod template;
