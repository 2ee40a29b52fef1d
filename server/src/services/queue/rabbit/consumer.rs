//! The RabbitMQ consumer stage: turns messages of accepted purchases into committed orders — one
//! transaction for the messages at hand, acked only after the commit, idempotent on redelivery
//! thanks to the unique keys.

use super::topology::Topology;
use crate::metrics::Metrics;
use crate::repositories::orders::{commit, NewOrder, Written};
use crate::repositories::Db;
use std::time::Duration;

/// The RabbitMQ consumer: prefetch, one transaction for the messages at hand (batches of orders),
/// ack only after commit; undecodable messages go to the dead-letter queue; a failed commit is requeued.
/// Reconnects until `stop` resolves.
pub async fn consume(
    db: Db,
    topology: Topology,
    prefetch: u16,
    metrics: Metrics,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut delay = Duration::from_millis(100);
    while !*stop.borrow() {
        match consume_once(&db, &topology, prefetch, &metrics, stop.clone()).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "order consumer lost RabbitMQ, reconnecting");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn consume_once(
    db: &Db,
    topology: &Topology,
    prefetch: u16,
    metrics: &Metrics,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    use futures::{FutureExt, StreamExt};
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    };

    let (_conn, channel) = topology.connect().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("orders-{}", uuid::Uuid::now_v7());
    let mut deliveries = channel
        .basic_consume(
            topology.queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %topology.queue, "order consumer started");
    loop {
        let first = tokio::select! {
            d = deliveries.next() => d,
            _ = stop.changed() => return Ok(()),
        };
        // The messages already here join the first in one transaction: one commit (one log
        // flush) for up to `prefetch` messages instead of one each, the consumer's limit.
        let mut ready = vec![first];
        while ready.len() < usize::from(prefetch.max(1)) {
            match deliveries.next().now_or_never() {
                Some(d) => ready.push(d),
                None => break,
            }
        }
        let mut taken = Vec::with_capacity(ready.len());
        for delivery in ready {
            let delivery = match delivery {
                Some(Ok(d)) => d,
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("the broker closed the consumer"),
            };
            match serde_json::from_slice::<Vec<NewOrder>>(&delivery.data) {
                Ok(orders) => taken.push((delivery, orders)),
                Err(e) => {
                    tracing::error!(error = %e, "undecodable order message sent to the dead-letter queue");
                    delivery
                        .reject(BasicRejectOptions { requeue: false })
                        .await?;
                }
            }
        }
        if taken.len() > 1 {
            let batch: Vec<NewOrder> = taken.iter().flat_map(|(_, o)| o.clone()).collect();
            if let Ok(written) = commit(db, &batch).await {
                count(metrics, &written);
                // One ack for the batch: it covers every delivery up to the last one's tag,
                // and all of those are in `taken` (in order) or were rejected above.
                if let Some((last, _)) = taken.last() {
                    last.ack(BasicAckOptions { multiple: true }).await?;
                }
                continue;
            }
            // One message may be what fails: each on its own, so the others still get in.
        }
        for (delivery, orders) in taken {
            match commit(db, &orders).await {
                Ok(written) => {
                    count(metrics, &written);
                    delivery.ack(BasicAckOptions::default()).await?;
                }
                Err(e) => {
                    tracing::error!(error = %e, size = orders.len(), "order batch not stored, requeued");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            multiple: false,
                        })
                        .await?;
                }
            }
        }
    }
}

fn count(metrics: &Metrics, written: &[Written]) {
    let duplicates = written.iter().filter(|w| **w == Written::Duplicate).count();
    metrics.confirmed((written.len() - duplicates) as u64);
    if duplicates > 0 {
        tracing::warn!(duplicates, "orders refused: the user already had one");
    }
}
