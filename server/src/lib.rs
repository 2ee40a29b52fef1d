//! Flash Sale backend: the purchase pipeline, its storage, and the axum routes in front of it.
//! `ARCHITECTURE.md` (at the repository root) maps the modules and the path of a purchase.
#![recursion_limit = "512"]

pub mod balancer;
pub mod config;
pub mod controllers;
pub mod error;
pub mod ids;
pub mod metrics;
pub mod processes;
pub mod repositories;
pub mod serve;
pub mod services;
pub mod startup;
pub mod telemetry;

/// Milliseconds since the Unix epoch: the one clock every stage and table uses.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
