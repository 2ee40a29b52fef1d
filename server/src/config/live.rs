//! The live streams' settings: how often the ticker looks, how often an unchanged page still
//! hears from it, and the bounds on open streams.

use super::{millis, parse, ConfigError, Env};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// How often each watched product is read (and, if changed, told).
    pub tick: Duration,
    /// An unchanged product is told again this often: the page knows its stream is alive, and
    /// proxies see traffic.
    pub heartbeat: Duration,
    /// Writes a second (summed over open streams) that a mere change of the units left may
    /// cost; "sold out" and phase changes are told at once whatever it says.
    pub writes_per_sec: u64,
    /// Streams open at once in this process; beyond it pages poll (503).
    pub max_streams: usize,
    pub per_user: usize,
    /// Per address, for pages without a login.
    pub per_address: usize,
}

impl LiveConfig {
    pub fn from_lookup(env: Env) -> Result<Self, ConfigError> {
        Ok(LiveConfig {
            tick: millis(env, "FLASH_LIVE_TICK_MS", 250)?.max(Duration::from_millis(10)),
            heartbeat: millis(env, "FLASH_LIVE_HEARTBEAT_MS", 30_000)?,
            writes_per_sec: parse(env, "FLASH_LIVE_WRITES_PER_SEC", 10_000)?,
            max_streams: parse(env, "FLASH_MAX_STREAMS", default_max_streams())?,
            per_user: parse(env, "FLASH_STREAMS_PER_USER", 8)?,
            per_address: parse(env, "FLASH_STREAMS_PER_ADDRESS", 64)?,
        })
    }
}

/// Each stream is an open file: leave a thousand of the process's limit for everything else
/// (the database, the broker, the requests that are not streams).
fn default_max_streams() -> usize {
    open_files_limit().saturating_sub(1_000).max(64)
}

/// The soft limit on open files (1,024 where it cannot be read).
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| soft_open_files(&l))
        .unwrap_or(1_024)
}

/// The soft limit's column of `/proc/self/limits`.
fn soft_open_files(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_open_files_limit_is_read() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             unlimited            unlimited            processes\n\
                      Max open files            20000                40000                files\n";
        assert_eq!(super::soft_open_files(limits), Some(20_000));
        assert_eq!(
            super::soft_open_files("Max open files unlimited unlimited files"),
            None
        );
    }
}
