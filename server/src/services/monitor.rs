//! What operators' tools read without logging in: readiness (answered from a one-second cache:
//! a flood of probes costs one database ping a second) and the Prometheus metrics (for this
//! machine, or with the bearer token `FLASH_METRICS_TOKEN`).

use super::accounts::Accounts;
use super::clients::ClientAddr;
use super::limiter::Limiters;
use super::live::Live;
use super::sale::LocalSale;
use crate::error::{AppError, AppResult};
use crate::metrics::Metrics;
use crate::repositories::{orders, products, Db};
use app::model::ErrorCode;
use axum::http::{header, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

const READY_FOR: Duration = Duration::from_secs(1);

type Readiness = Result<(), &'static str>;

#[derive(Clone)]
pub struct Monitor {
    db: Db,
    sale: LocalSale,
    live: Live,
    limiters: Limiters,
    accounts: Accounts,
    metrics: Metrics,
    token: Option<SecretString>,
    /// The last readiness answer and when it was found; one caller finds it at a time.
    ready: Arc<Mutex<Option<(Instant, Readiness)>>>,
}

/// The services whose sizes the metrics show.
pub struct Watched {
    pub sale: LocalSale,
    pub live: Live,
    pub limiters: Limiters,
    pub accounts: Accounts,
}

/// The proof that this request may read the metrics.
pub struct MetricsReader(());

impl Monitor {
    pub fn new(db: Db, w: Watched, metrics: Metrics, token: Option<SecretString>) -> Self {
        Monitor {
            db,
            sale: w.sale,
            live: w.live,
            limiters: w.limiters,
            accounts: w.accounts,
            metrics,
            token,
            ready: Arc::default(),
        }
    }

    /// Clients on this machine that came straight to the socket read the metrics freely (one
    /// through a proxy does not, whatever the proxy says); others show the bearer token (and
    /// without one configured, nobody else may).
    pub fn reader(
        &self,
        client: Option<ClientAddr>,
        headers: &HeaderMap,
    ) -> AppResult<MetricsReader> {
        if client.is_some_and(|c| c.is_local()) {
            return Ok(MetricsReader(()));
        }
        let shown = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (&self.token, shown) {
            (Some(t), Some(s)) if bool::from(t.expose_secret().as_bytes().ct_eq(s.as_bytes())) => {
                Ok(MetricsReader(()))
            }
            (None, _) => Err(AppError::code(
                ErrorCode::Forbidden,
                "metrics are read from this machine, or with FLASH_METRICS_TOKEN set",
            )),
            _ => Err(AppError::code(
                ErrorCode::Unauthenticated,
                "metrics need `Authorization: Bearer <FLASH_METRICS_TOKEN>`",
            )),
        }
    }

    /// Ready when the database answers and the queue can take orders (the broker, in RabbitMQ
    /// mode); otherwise what is missing. At most a second old.
    pub async fn ready(&self) -> Readiness {
        let mut cached = self.ready.lock().await;
        match *cached {
            Some((at, answer)) if at.elapsed() < READY_FOR => answer,
            _ => {
                let answer = self.find_ready().await;
                *cached = Some((Instant::now(), answer));
                answer
            }
        }
    }

    async fn find_ready(&self) -> Readiness {
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
    pub async fn render(&self, _: &MetricsReader) -> String {
        let m = &self.metrics;
        match products::list(&self.db).await {
            Ok(rows) => rows
                .iter()
                .for_each(|r| m.set_stock_left(r.id, r.stock - r.sold)),
            Err(e) => tracing::warn!(error = %e, "stock gauges not refreshed"),
        }
        match orders::count_by_status(&self.db, None).await {
            Ok(states) => states
                .iter()
                .for_each(|(state, n)| m.set_reservations(state.as_str(), *n)),
            Err(e) => tracing::warn!(error = %e, "reservation gauges not refreshed"),
        }
        m.set_queue_depth("queue", self.sale.queue_depth().await);
        m.set_queue_depth("consumer_lag", self.sale.consumer_lag() as i64);
        for (map, n) in self.sale.map_sizes() {
            m.set_entries(map, n);
        }
        m.set_entries("live_streams", self.live.open_streams());
        m.set_entries("rate_limited_clients", self.limiters.clients());
        let (failures, addresses) = self.accounts.throttled();
        m.set_entries("login_failures", failures);
        m.set_entries("login_addresses", addresses);
        m.render()
    }
}
