//! What the soak measures: the server's RSS, the sizes of its in-memory maps, answers by status.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `flash_memory_entries{map="…"} N` from the metrics page.
pub async fn map_sizes(http: &reqwest::Client, base: &str) -> BTreeMap<String, i64> {
    let mut req = http.get(format!("{base}/metrics"));
    // A server not on this machine shows its metrics only with the token.
    if let Ok(token) = std::env::var("FLASH_METRICS_TOKEN") {
        req = req.bearer_auth(token);
    }
    let Ok(resp) = req.send().await else {
        return BTreeMap::new();
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("flash_memory_entries{map=\""))
        .filter_map(|l| {
            let (name, rest) = l.split_once("\"}")?;
            Some((name.to_string(), rest.trim().parse().ok()?))
        })
        .collect()
}

#[derive(Clone)]
pub struct Sample {
    pub t: f64,
    pub rss_kb: u64,
    pub requests: u64,
    pub maps: BTreeMap<String, i64>,
}

impl Sample {
    pub fn json(&self) -> Value {
        json!({"t": (self.t * 10.0).round() / 10.0, "rss_kb": self.rss_kb,
               "requests": self.requests, "maps": self.maps})
    }
}

/// Answers by status (index 0: no answer: timeout or connection error).
pub struct Stats {
    pub by_status: Vec<AtomicU64>,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            by_status: (0..600).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn count(&self, status: u16) {
        let i = usize::from(status).min(599);
        self.by_status[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.by_status
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        (self.by_status.iter().enumerate())
            .map(|(s, c)| (s, c.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| {
                (
                    if s == 0 {
                        "error".into()
                    } else {
                        s.to_string()
                    },
                    n,
                )
            })
            .collect()
    }
}
