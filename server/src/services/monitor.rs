//! What operators' tools read without logging in: readiness and the Prometheus metrics.

use super::limiter::Limiters;
use super::live::Live;
use super::sale::LocalSale;
use crate::metrics::Metrics;
use crate::repositories::{products, Db};

#[derive(Clone)]
pub struct Monitor {
    db: Db,
    sale: LocalSale,
    live: Live,
    limiters: Limiters,
    metrics: Metrics,
}

impl Monitor {
    pub fn new(db: Db, sale: LocalSale, live: Live, limiters: Limiters, metrics: Metrics) -> Self {
        Monitor {
            db,
            sale,
            live,
            limiters,
            metrics,
        }
    }

    /// Ready when the database answers and the queue can take orders (the broker, in RabbitMQ
    /// mode); otherwise what is missing.
    pub async fn ready(&self) -> Result<(), &'static str> {
        if let Err(e) = self.db.ping().await {
            tracing::warn!(error = %e, "database not reachable");
            return Err("database unreachable");
        }
        if self.sale.queue_depth().await < 0 {
            return Err("broker unreachable");
        }
        Ok(())
    }

    /// Prometheus text format; the stock, queue and map-size gauges are read fresh each time.
    pub async fn render(&self) -> String {
        let m = &self.metrics;
        match products::list(&self.db).await {
            Ok(rows) => rows
                .iter()
                .for_each(|r| m.set_stock_left(r.id, r.stock - r.sold)),
            Err(e) => tracing::warn!(error = %e, "stock gauges not refreshed"),
        }
        m.set_queue_depth("queue", self.sale.queue_depth().await);
        m.set_queue_depth("consumer_lag", self.sale.consumer_lag() as i64);
        let (login_names, login_addresses) = self.limiters.login_keys();
        for (map, n) in self.sale.map_sizes() {
            m.set_entries(map, n);
        }
        m.set_entries("live_streams", self.live.open_streams());
        m.set_entries("login_names", login_names);
        m.set_entries("login_addresses", login_addresses);
        m.render()
    }
}
