//! The RabbitMQ consumer stage: turns messages of accepted purchases into committed orders — one
//! transaction for the messages at hand, acked only after the commit, idempotent on redelivery
//! thanks to the unique keys. An order that cannot be written is isolated from the others of its
//! message and retried a bounded number of times, then dead-lettered (`dead.rs`).

use super::dead;
use super::topology::Topology;
use crate::metrics::Metrics;
use crate::repositories::orders::{commit, NewOrder, WriteError, Written};
use crate::repositories::Db;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::Channel;
use std::time::Duration;

/// The RabbitMQ consumer: prefetch, one transaction for the messages at hand (batches of orders),
/// ack only after commit; undecodable messages go to the dead-letter queue, so do orders that
/// fail `dead::MAX_RETRIES` times; while the database is unreachable messages are requeued.
/// Reconnects until `stop` resolves.
pub async fn consume(
    db: Db,
    topology: Topology,
    prefetch: u16,
    metrics: Metrics,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut delay = Duration::from_millis(100);
    // A dropped sender stops it too: a server that went without saying must not leave it behind.
    while !*stop.borrow() && stop.has_changed().is_ok() {
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
        BasicConsumeOptions, BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions,
    };

    let (conn, channel) = topology.connect().await?;
    // Failed orders are published again (or dead-lettered) on a channel of their own, confirmed
    // before the message they came in is acked.
    let retries = conn.create_channel().await?;
    retries
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
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
                    metrics.dead_lettered();
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
            settle(db, topology, &retries, metrics, delivery, orders).await?;
        }
    }
}

/// One message on its own: committed whole, or else order by order so that one that cannot be
/// written does not hold back the others; those that failed go on as a message of their own
/// (`dead::retry_or_park`), then the message is acked. While the database does not answer, the
/// message is requeued whole and its tries are not counted: an outage is waited out.
pub(super) async fn settle(
    db: &Db,
    topology: &Topology,
    retries: &Channel,
    metrics: &Metrics,
    delivery: Delivery,
    orders: Vec<NewOrder>,
) -> anyhow::Result<Settled> {
    let (mut failed, mut reason) = (Vec::new(), String::new());
    match commit(db, &orders).await {
        Ok(written) => count(metrics, &written),
        Err(e) if unreachable(db, &e).await => return requeue(delivery, &e, orders.len()).await,
        Err(_) => {
            for order in orders {
                match commit(db, std::slice::from_ref(&order)).await {
                    Ok(written) => count(metrics, &written),
                    Err(e) if unreachable(db, &e).await => return requeue(delivery, &e, 1).await,
                    Err(e) => {
                        reason = e.to_string();
                        failed.push(order);
                    }
                }
            }
        }
    }
    if !failed.is_empty() {
        let tries = dead::retries(&delivery.properties) + 1;
        dead::retry_or_park(retries, topology, &failed, tries, &reason, metrics).await?;
    }
    delivery.ack(BasicAckOptions::default()).await?;
    Ok(Settled::Acked)
}

/// How a message was settled.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Settled {
    /// Its orders stored, or passed on to be retried or parked.
    Acked,
    /// Back in the queue whole: the database did not answer.
    Requeued,
}

/// Whether a failure says nothing of the orders: the database itself does not answer.
async fn unreachable(db: &Db, e: &WriteError) -> bool {
    !e.is_permanent() && db.ping().await.is_err()
}

async fn requeue(delivery: Delivery, e: &WriteError, size: usize) -> anyhow::Result<Settled> {
    tracing::error!(error = %e, size, "database unreachable: order message requeued");
    tokio::time::sleep(Duration::from_millis(500)).await;
    delivery
        .nack(BasicNackOptions {
            requeue: true,
            multiple: false,
        })
        .await?;
    Ok(Settled::Requeued)
}

fn count(metrics: &Metrics, written: &[Written]) {
    let duplicates = written.iter().filter(|w| **w == Written::Duplicate).count();
    metrics.confirmed((written.len() - duplicates) as u64);
    if duplicates > 0 {
        tracing::warn!(duplicates, "orders refused: the user already had one");
    }
}
