//! The queue emptied into the database before a reconciliation: an order still in RabbitMQ holds
//! a unit that is not sold yet, and must not be handed back to stock.

use super::consumer::{settle, Settled};
use super::topology::Topology;
use crate::metrics::Metrics;
use crate::repositories::orders::NewOrder;
use crate::repositories::Db;
use lapin::options::{BasicGetOptions, BasicRejectOptions, ConfirmSelectOptions};

/// Stores every order waiting in the queue as the consumer would, message by message: an order
/// that can never be stored is retried and then parked in the dead-letter queue (its unit is
/// then not sold, and is reconciled), the others of its message stored. While the database does
/// not answer the drain stops: reconciling then would give queued orders' units away.
/// Returns how many messages were settled.
pub async fn drain(db: &Db, topology: &Topology) -> anyhow::Result<u64> {
    let (conn, channel) = topology.connect().await?;
    let retries = conn.create_channel().await?;
    retries
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    // The command's own: a reconciliation has no /metrics to show them on.
    let metrics = Metrics::new()?;
    let mut messages = 0;
    while let Some(message) = channel
        .basic_get(topology.queue.as_str().into(), BasicGetOptions::default())
        .await?
    {
        let delivery = message.delivery;
        let Ok(orders) = serde_json::from_slice::<Vec<NewOrder>>(&delivery.data) else {
            tracing::error!("undecodable order message sent to the dead-letter queue");
            delivery
                .reject(BasicRejectOptions { requeue: false })
                .await?;
            continue;
        };
        let settled = settle(db, topology, &retries, &metrics, delivery, orders).await?;
        if settled == Settled::Requeued {
            anyhow::bail!("the database does not answer: queued orders not stored, not reconciled");
        }
        messages += 1;
    }
    Ok(messages)
}
