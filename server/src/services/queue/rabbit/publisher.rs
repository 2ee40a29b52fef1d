//! The RabbitMQ publisher: a durable queue, persistent messages, publisher confirms, and several
//! orders per message (batched by count and a short linger, the seed's own advice). A purchase
//! is answered "queued" only after the broker confirmed its message. A batch the broker never
//! took is refused. One whose confirm was lost after it was sent may be in the queue or not:
//! it is answered "pending" and resent on a task of its own until a confirm comes (the
//! consumer drops a second copy), so that "maybe" always ends as an order.

use super::topology::Topology;
use crate::repositories::orders::NewOrder;
use crate::services::queue::batcher::{gather, hand_over, Job};
use crate::services::queue::{Enqueued, OrderQueue, QueueError};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Published {
    Confirmed,
    /// Never sent, or refused by the broker.
    Refused,
    /// Sent at least once without an answer, and never confirmed.
    InDoubt,
}

pub struct RabbitQueue {
    tx: mpsc::Sender<Job<Published>>,
    topology: Topology,
    /// A connection of its own for reading the queue's depth (the publisher's is busy).
    stats: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

/// Batches in flight at once, each on its own channel: while one waits for the broker's confirm,
/// the next is gathered and published. With one, a purchase waited for the batches before its
/// own, one round trip each, and the queue capped the purchase rate.
const PUBLISHERS: usize = 4;

/// How long a batch keeps trying (reconnecting in between) before its orders are refused or,
/// once sent, answered "pending".
const PUBLISH_DEADLINE: Duration = Duration::from_secs(5);
/// The longest wait for a connection or a confirm: a broker under a memory or disk alarm
/// accepts publishes and confirms none, and a purchase holding a unit must not wait for ever.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(2);
/// Between two tries of a pending batch, at most.
const RESEND_MAX_DELAY: Duration = Duration::from_secs(5);

impl RabbitQueue {
    /// Connects once (so a wrong URL fails at start) and starts the publisher task.
    pub async fn start(
        topology: Topology,
        max: usize,
        linger: Duration,
    ) -> anyhow::Result<(Self, JoinHandle<()>)> {
        let first = Publisher::connect(&topology).await?;
        let (tx, rx) = mpsc::channel::<Job<Published>>(65_536);
        let stats = tokio::sync::Mutex::new(None);
        let queue = RabbitQueue {
            tx,
            topology: topology.clone(),
            stats,
        };
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        // The resends of pending batches: a graceful stop waits for them too.
        let (resends, mut resending) = mpsc::unbounded_channel::<JoinHandle<()>>();
        let mut first = Some(first);
        let workers: Vec<_> = (0..PUBLISHERS)
            .map(|_| {
                let (rx, topology) = (rx.clone(), topology.clone());
                let resends = resends.clone();
                // The others connect at their first batch.
                let mut publisher = first.take();
                tokio::spawn(async move {
                    loop {
                        let jobs = {
                            let mut rx = rx.lock().await;
                            let Some(job) = rx.recv().await else { break };
                            gather(&mut rx, job, max, linger).await
                        };
                        let (orders, replies): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
                        let end =
                            publish_with_retry(&topology, &mut publisher, &orders, &resends).await;
                        for reply in replies {
                            let _ = reply.send(end);
                        }
                    }
                })
            })
            .collect();
        drop(resends);
        let task = tokio::spawn(async move {
            for w in workers {
                let _ = w.await;
            }
            while let Some(resend) = resending.recv().await {
                let _ = resend.await;
            }
        });
        Ok((queue, task))
    }
}

#[async_trait::async_trait]
impl OrderQueue for RabbitQueue {
    async fn submit(&self, order: NewOrder) -> Result<Enqueued, QueueError> {
        match hand_over(&self.tx, order).await? {
            Published::Confirmed => Ok(Enqueued::Queued),
            Published::Refused => Err(QueueError::Failed(
                "the broker did not take the order".into(),
            )),
            Published::InDoubt => Ok(Enqueued::Pending),
        }
    }

    /// The queue's depth, or -1 when the broker does not answer within `DEPTH_TIMEOUT`: a
    /// caller waiting here holds the lock, and the health checks behind it must not hang.
    async fn depth(&self) -> i64 {
        let mut stats = self.stats.lock().await;
        let asked = async {
            if stats.is_none() {
                *stats = self.topology.connect().await.ok();
            }
            let (_, channel) = stats.as_ref()?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let queue = self.topology.queue.as_str().into();
            channel
                .queue_declare(queue, passive, FieldTable::default())
                .await
                .ok()
        };
        let answer = tokio::time::timeout(DEPTH_TIMEOUT, asked).await;
        match answer {
            Ok(Some(q)) => i64::from(q.message_count()),
            _ => {
                *stats = None;
                -1
            }
        }
    }
}

const DEPTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

struct Publisher {
    _conn: Connection,
    channel: Channel,
}

impl Publisher {
    async fn connect(topology: &Topology) -> anyhow::Result<Self> {
        let connected = async {
            let (conn, channel) = topology.connect().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, lapin::Error>(Publisher {
                _conn: conn,
                channel,
            })
        };
        Ok(tokio::time::timeout(CONFIRM_TIMEOUT, connected).await??)
    }

    /// `Err((sent, why))`: `sent` when the broker may have the message all the same.
    async fn publish(&self, queue: &str, payload: &[u8]) -> Result<(), (bool, String)> {
        tokio::time::timeout(CONFIRM_TIMEOUT, self.publish_and_confirm(queue, payload))
            .await
            .map_err(|_| (true, "no confirm from the broker in time".into()))?
    }

    async fn publish_and_confirm(&self, queue: &str, payload: &[u8]) -> Result<(), (bool, String)> {
        // A connection already known lost sends nothing: not a doubt, a refusal to retry.
        if !self.channel.status().connected() {
            return Err((false, "the connection to the broker is closed".into()));
        }
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                payload,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into()),
            )
            .await
            .map_err(|e| (true, e.to_string()))?
            .await
            .map_err(|e| (true, e.to_string()))?;
        if confirm.is_ack() && confirm.take_message().is_none() {
            Ok(())
        } else {
            Err((false, "the broker refused or returned the message".into()))
        }
    }
}

async fn publish_with_retry(
    topology: &Topology,
    publisher: &mut Option<Publisher>,
    orders: &[NewOrder],
    resends: &mpsc::UnboundedSender<JoinHandle<()>>,
) -> Published {
    let payload = match serde_json::to_vec(orders) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "order batch could not be encoded");
            return Published::Refused;
        }
    };
    let mut sent = false;
    let deadline = tokio::time::Instant::now() + PUBLISH_DEADLINE;
    let mut delay = Duration::from_millis(50);
    loop {
        if publisher.is_none() {
            match Publisher::connect(topology).await {
                Ok(p) => *publisher = Some(p),
                Err(e) => tracing::warn!(error = %e, "RabbitMQ unreachable"),
            }
        }
        if let Some(p) = publisher.as_ref() {
            match p.publish(&topology.queue, &payload).await {
                Ok(()) => return Published::Confirmed,
                Err((maybe_sent, e)) => {
                    tracing::warn!(error = %e, size = orders.len(), "publish failed, reconnecting");
                    sent |= maybe_sent;
                    *publisher = None;
                }
            }
        }
        if tokio::time::Instant::now() + delay > deadline {
            tracing::error!(
                size = orders.len(),
                in_doubt = sent,
                "giving up on an order batch: broker unavailable"
            );
            if !sent {
                return Published::Refused;
            }
            let _ = resends.send(tokio::spawn(resend(
                topology.clone(),
                payload,
                orders.len(),
            )));
            return Published::InDoubt;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// A batch that may or may not be in the queue, published again on a connection of its own
/// until the broker confirms it: its orders were answered "pending", their units and claims
/// kept, so it must end in the queue (a copy already there is dropped by the consumer).
async fn resend(topology: Topology, payload: Vec<u8>, size: usize) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1u64.. {
        let outcome = match Publisher::connect(&topology).await {
            Ok(p) => p
                .publish(&topology.queue, &payload)
                .await
                .map_err(|(_, e)| e),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => {
                tracing::info!(size, attempt, "pending order batch confirmed");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, size, attempt, "pending order batch not confirmed yet")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RESEND_MAX_DELAY);
    }
}
