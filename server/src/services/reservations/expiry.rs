//! The expiry sweep: reservations past their deadline end, and their units go back on sale. It
//! runs where orders are written (the embedded queue's process, or a RabbitMQ consumer's); the
//! index on (status, deadline) finds the due ones, and the conditional update in
//! `orders::expire_due` ends each once however many sweeps run side by side.

use crate::metrics::Metrics;
use crate::repositories::{orders, Db};
use std::time::Duration;
use tokio::sync::watch;

/// Reservations ended per round; a full round is followed by another at once.
const PER_ROUND: i64 = 500;

/// Sweeps every `every` until `stop` says so (or its sender is gone).
pub async fn sweep(db: Db, every: Duration, metrics: Metrics, mut stop: watch::Receiver<bool>) {
    loop {
        let full = match orders::expire_due(&db, crate::now_ms(), PER_ROUND).await {
            Ok(ended) => {
                if !ended.is_empty() {
                    metrics.reservation_event("expired", ended.len() as u64);
                    tracing::info!(n = ended.len(), "reservations expired, units back on sale");
                }
                ended.len() as i64 == PER_ROUND
            }
            Err(e) => {
                tracing::warn!(error = %e, "expiry sweep failed; trying again");
                false
            }
        };
        if *stop.borrow() {
            return;
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
        }
    }
}
