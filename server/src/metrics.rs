//! Prometheus metrics (`/metrics`) and the short in-memory history the admin dashboard draws:
//! accepted purchases per second and recent purchase latencies.

use dashmap::DashMap;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Seconds of per-second history kept for the dashboard chart.
pub const HISTORY_SECS: i64 = 300;
const LATENCY_SAMPLES: usize = 2048;

#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    purchases: IntCounterVec,
    latency: Histogram,
    pub_orders: IntCounter,
    confirmed_orders: IntCounter,
    dead_letters: IntCounter,
    stock_left: IntGaugeVec,
    queue_depth: IntGaugeVec,
    entries: IntGaugeVec,
    reservations: IntGaugeVec,
    after_click: IntCounterVec,
    routed: IntCounterVec,
    per_second: DashMap<i64, Mutex<VecDeque<(i64, i64)>>>,
    recent_ms: Mutex<VecDeque<f64>>,
}

fn build() -> Result<Inner, prometheus::Error> {
    let registry = Registry::new_custom(Some("flash".into()), None)?;
    let requests = IntCounterVec::new(
        Opts::new(
            "http_requests_total",
            "HTTP requests by route class and status",
        ),
        &["class", "status"],
    )?;
    let purchases = IntCounterVec::new(
        Opts::new("purchases_total", "Purchase attempts by outcome code"),
        &["outcome"],
    )?;
    let latency = Histogram::with_opts(
        HistogramOpts::new(
            "purchase_seconds",
            "Purchase latency, from pipeline entry to answer",
        )
        .buckets(vec![
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ]),
    )?;
    let pub_orders = IntCounter::new(
        "queue_orders_accepted_total",
        "Orders the queue accepted (durable or broker-confirmed)",
    )?;
    let confirmed_orders = IntCounter::new(
        "orders_confirmed_total",
        "Orders written to the database by this process's consumer",
    )?;
    let dead_letters = IntCounter::new(
        "dead_letters_total",
        "Order messages this process's consumer sent to the dead-letter queue",
    )?;
    let stock_left = IntGaugeVec::new(
        Opts::new("stock_left", "Units left per product"),
        &["product"],
    )?;
    let queue_depth = IntGaugeVec::new(
        Opts::new(
            "queue_depth",
            "Orders waiting in the queue and not yet written",
        ),
        &["kind"],
    )?;
    let entries = IntGaugeVec::new(
        Opts::new(
            "memory_entries",
            "Entries in the in-memory maps that the sweeps keep bounded",
        ),
        &["map"],
    )?;
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(purchases.clone()))?;
    registry.register(Box::new(latency.clone()))?;
    registry.register(Box::new(pub_orders.clone()))?;
    registry.register(Box::new(confirmed_orders.clone()))?;
    registry.register(Box::new(dead_letters.clone()))?;
    let reservations = IntGaugeVec::new(
        Opts::new(
            "reservations",
            "Stored orders by state (reserved, paid, expired, cancelled)",
        ),
        &["state"],
    )?;
    let after_click = IntCounterVec::new(
        Opts::new(
            "reservation_events_total",
            "After the click: expired, cancelled, paid, declined, late_payment, refunded",
        ),
        &["event"],
    )?;
    let routed = IntCounterVec::new(
        Opts::new(
            "routed_total",
            "Shoppers' steps on a ring: handled here (owner, stand_in) or forwarded",
        ),
        &["to"],
    )?;
    registry.register(Box::new(routed.clone()))?;
    registry.register(Box::new(reservations.clone()))?;
    registry.register(Box::new(after_click.clone()))?;
    registry.register(Box::new(stock_left.clone()))?;
    registry.register(Box::new(queue_depth.clone()))?;
    registry.register(Box::new(entries.clone()))?;
    Ok(Inner {
        registry,
        requests,
        purchases,
        latency,
        pub_orders,
        confirmed_orders,
        dead_letters,
        stock_left,
        queue_depth,
        entries,
        reservations,
        after_click,
        routed,
        per_second: DashMap::new(),
        recent_ms: Mutex::new(VecDeque::with_capacity(LATENCY_SAMPLES)),
    })
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Metrics(Arc::new(build()?)))
    }

    pub fn request(&self, class: &str, status: &str) {
        self.0.requests.with_label_values(&[class, status]).inc();
    }

    /// One purchase answered: its outcome (`accepted` or a refusal code) and how long it took.
    pub fn purchase(&self, product_id: i64, outcome: &str, seconds: f64, now_ms: i64) {
        self.0.purchases.with_label_values(&[outcome]).inc();
        self.0.latency.observe(seconds);
        if let Ok(mut recent) = self.0.recent_ms.lock() {
            if recent.len() == LATENCY_SAMPLES {
                recent.pop_front();
            }
            recent.push_back(seconds * 1000.0);
        }
        if outcome == "accepted" {
            self.0.pub_orders.inc();
            let sec = now_ms / 1000;
            let series = self.0.per_second.entry(product_id).or_default();
            if let Ok(mut s) = series.lock() {
                match s.back_mut() {
                    Some((t, n)) if *t == sec => *n += 1,
                    _ => s.push_back((sec, 1)),
                }
                while s.front().is_some_and(|(t, _)| sec - *t >= HISTORY_SECS) {
                    s.pop_front();
                }
            };
        }
    }

    /// A message the consumer could not read, or orders it could not write, dead-lettered.
    pub fn dead_lettered(&self) {
        self.0.dead_letters.inc();
    }

    pub fn confirmed(&self, n: u64) {
        self.0.confirmed_orders.inc_by(n);
    }

    /// Something happened to reservations after the click (`n` times).
    pub fn reservation_event(&self, event: &str, n: u64) {
        self.0.after_click.with_label_values(&[event]).inc_by(n);
    }

    /// Where a shopper's step on a ring went: `owner` or `stand_in` (here), or `forwarded`.
    pub fn routed(&self, to: &str) {
        self.0.routed.with_label_values(&[to]).inc();
    }

    pub fn set_reservations(&self, state: &str, n: i64) {
        self.0.reservations.with_label_values(&[state]).set(n);
    }

    pub fn set_stock_left(&self, product_id: i64, left: i64) {
        self.0
            .stock_left
            .with_label_values(&[&product_id.to_string()])
            .set(left);
    }

    pub fn set_queue_depth(&self, kind: &str, depth: i64) {
        self.0.queue_depth.with_label_values(&[kind]).set(depth);
    }

    /// Size of one in-memory map (`cooldown`, `captchas`, `login_names`, ...), for the soak test
    /// and for operators: each must stay bounded however many users pass by.
    pub fn set_entries(&self, map: &str, n: usize) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.0.entries.with_label_values(&[map]).set(n);
    }

    /// Accepted purchases of one product per second over the last `secs` seconds up to `now_ms`.
    pub fn per_second(&self, product_id: i64, secs: i64, now_ms: i64) -> Vec<i64> {
        let end = now_ms / 1000;
        let mut out = vec![0; secs as usize];
        if let Some(series) = self.0.per_second.get(&product_id) {
            if let Ok(s) = series.lock() {
                for (t, n) in s.iter() {
                    let age = end - t;
                    if (0..secs).contains(&age) {
                        out[(secs - 1 - age) as usize] = *n;
                    }
                }
            }
        }
        out
    }

    /// (p50, p99) of the recent purchase latencies, in milliseconds.
    pub fn latency_percentiles(&self) -> (f64, f64) {
        let mut v: Vec<f64> = self
            .0
            .recent_ms
            .lock()
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        if v.is_empty() {
            return (0.0, 0.0);
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (at(0.50), at(0.99))
    }

    /// Refusals and acceptances so far, by code.
    pub fn outcomes(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for family in self.0.registry.gather() {
            if family.name() != "flash_purchases_total" {
                continue;
            }
            for m in family.get_metric() {
                let code = m
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "outcome")
                    .map(|l| l.value().to_string());
                if let Some(code) = code {
                    out.push((code, m.get_counter().get_value() as i64));
                }
            }
        }
        out.sort();
        out
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.0.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_second_and_percentiles() {
        let m = Metrics::new().unwrap();
        m.purchase(1, "accepted", 0.001, 10_000);
        m.purchase(1, "accepted", 0.003, 10_500);
        m.purchase(1, "accepted", 0.002, 12_000);
        m.purchase(1, "sold_out", 0.0005, 12_100);
        assert_eq!(m.per_second(1, 3, 12_999), vec![2, 0, 1]);
        assert_eq!(m.per_second(2, 2, 12_999), vec![0, 0]);
        let (p50, p99) = m.latency_percentiles();
        assert!(p50 > 0.9 && p50 < 2.1 && p99 >= 2.9, "{p50} {p99}");
        assert_eq!(
            m.outcomes(),
            vec![("accepted".into(), 3), ("sold_out".into(), 1)]
        );
        m.set_entries("cooldown", 12);
        let text = m.render();
        assert!(
            text.contains("flash_purchases_total{outcome=\"accepted\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("flash_memory_entries{map=\"cooldown\"} 12"),
            "{text}"
        );
    }
}
