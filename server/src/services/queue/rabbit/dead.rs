//! The dead-letter queue, `<queue>.dead`: messages the consumer cannot read (rejected; the broker
//! routes them there) and orders it could not write in `MAX_RETRIES` tries (published there with
//! the reason). RabbitMQ 3.10's classic queues carry no delivery count (only quorum queues do),
//! so the tries are counted in a header the consumer sets when it sends a failed order back to
//! the queue: one mechanism for both kinds. `server dlq list|replay` reads it; the admin
//! dashboard shows its depth.

use super::topology::Topology;
use crate::metrics::Metrics;
use crate::repositories::orders::NewOrder;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection};
use std::sync::Arc;
use std::time::Duration;

/// Tries of an order, the last one included, before it is dead-lettered.
pub const MAX_RETRIES: u32 = 5;
/// The header counting a message's failed tries so far (absent: none).
pub const RETRIES: &str = "x-flash-retries";
/// The header with the error that dead-lettered a message.
pub const REASON: &str = "x-flash-reason";
/// Before the n-th retry the consumer waits `RETRY_DELAY * 2^(n-1)`: 1.5 s in all.
const RETRY_DELAY: Duration = Duration::from_millis(100);
/// A broker under a memory or disk alarm takes publishes and confirms none.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
const DEPTH_TIMEOUT: Duration = Duration::from_secs(2);
const TEXT_MAX: usize = 500;

/// One message of the dead-letter queue, as `server dlq list` prints it (a JSON line).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// `None` for a message that does not decode; then `payload` holds its start.
    pub orders: Option<Vec<NewOrder>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    pub reason: String,
    pub retries: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Sent back to the order queue.
    pub moved: usize,
    /// Left in the dead-letter queue: they do not decode, replaying cannot help.
    pub kept: usize,
}

/// The failed tries a message has had (0 for one straight from a node).
pub fn retries(properties: &BasicProperties) -> u32 {
    let n = match header(properties, RETRIES) {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        Some(AMQPValue::LongUInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortUInt(n)) => i64::from(*n),
        _ => 0,
    };
    u32::try_from(n).unwrap_or(0)
}

/// Orders that failed for the `tries`-th time: back to the order queue after a pause, as a
/// message of their own, or at `MAX_RETRIES` to the dead-letter queue with the reason. Only once
/// this returned may the caller ack the message they came in (`channel` confirms publishes).
pub(super) async fn retry_or_park(
    channel: &Channel,
    topology: &Topology,
    orders: &[NewOrder],
    tries: u32,
    reason: &str,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    let payload = serde_json::to_vec(orders)?;
    let mut headers = FieldTable::default();
    headers.insert(RETRIES.into(), AMQPValue::LongLongInt(i64::from(tries)));
    let size = orders.len();
    if tries < MAX_RETRIES {
        tracing::warn!(tries, size, reason, "orders not stored, tried again later");
        tokio::time::sleep(RETRY_DELAY * 2u32.pow(tries.saturating_sub(1).min(8))).await;
        return publish(channel, &topology.queue, &payload, headers).await;
    }
    tracing::error!(
        tries,
        size,
        reason,
        "orders not stored, sent to the dead-letter queue"
    );
    let reason = LongString::from(shortened(reason).as_str());
    headers.insert(REASON.into(), AMQPValue::LongString(reason));
    publish(channel, &topology.dead_letter(), &payload, headers).await?;
    metrics.dead_lettered();
    Ok(())
}

/// Every message of the dead-letter queue, left where it is (taken unacked, then all given back).
pub async fn list(topology: &Topology) -> anyhow::Result<Vec<DeadLetter>> {
    let (_conn, channel) = topology.connect().await?;
    let dead = topology.dead_letter();
    let mut letters = Vec::new();
    let mut last = None;
    while let Some(got) = channel
        .basic_get(dead.as_str().into(), BasicGetOptions::default())
        .await?
    {
        letters.push(read(&got.delivery.properties, &got.delivery.data));
        last = Some(got.delivery);
    }
    if let Some(last) = last {
        last.nack(BasicNackOptions {
            multiple: true,
            requeue: true,
        })
        .await?;
    }
    Ok(letters)
}

/// Moves the dead messages that decode back to the order queue, their tries forgotten (once the
/// cause is repaired: a product restored, a constraint fixed); undecodable ones stay. Only the
/// messages there at the start: one dead-lettered again meanwhile waits for the next replay.
pub async fn replay(topology: &Topology) -> anyhow::Result<Replayed> {
    let (_conn, channel) = topology.connect().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let dead = topology.dead_letter();
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let there = channel
        .queue_declare(dead.as_str().into(), passive, FieldTable::default())
        .await?
        .message_count();
    let (mut replayed, mut kept) = (Replayed::default(), None);
    for _ in 0..there {
        let options = BasicGetOptions::default();
        let Some(got) = channel.basic_get(dead.as_str().into(), options).await? else {
            break;
        };
        let delivery = got.delivery;
        if serde_json::from_slice::<Vec<NewOrder>>(&delivery.data).is_err() {
            replayed.kept += 1;
            kept = Some(delivery);
            continue;
        }
        let fresh = FieldTable::default();
        publish(&channel, &topology.queue, &delivery.data, fresh).await?;
        delivery.ack(BasicAckOptions::default()).await?;
        replayed.moved += 1;
    }
    if let Some(last) = kept {
        last.nack(BasicNackOptions {
            multiple: true,
            requeue: true,
        })
        .await?;
    }
    Ok(replayed)
}

/// The dead-letter queue's depth for the dashboard, read on a connection of its own (the
/// consumer may run in another process).
#[derive(Clone)]
pub struct DeadLetters(Option<Arc<Watch>>);

struct Watch {
    topology: Topology,
    stats: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl DeadLetters {
    /// `None`: the embedded queue, which answers each failure to its shopper instead.
    pub fn new(topology: Option<Topology>) -> Self {
        DeadLetters(topology.map(|topology| {
            let stats = tokio::sync::Mutex::new(None);
            Arc::new(Watch { topology, stats })
        }))
    }

    /// Messages in `<queue>.dead`: 0 without a broker, -1 when it does not answer in time.
    pub async fn depth(&self) -> i64 {
        let Some(watch) = &self.0 else { return 0 };
        let mut stats = watch.stats.lock().await;
        let asked = async {
            if stats.is_none() {
                *stats = watch.topology.connect().await.ok();
            }
            let (_, channel) = stats.as_ref()?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let queue = watch.topology.dead_letter();
            let declared =
                channel.queue_declare(queue.as_str().into(), passive, FieldTable::default());
            declared.await.ok()
        };
        match tokio::time::timeout(DEPTH_TIMEOUT, asked).await {
            Ok(Some(q)) => i64::from(q.message_count()),
            _ => {
                *stats = None;
                -1
            }
        }
    }
}

async fn publish(
    channel: &Channel,
    queue: &str,
    payload: &[u8],
    headers: FieldTable,
) -> anyhow::Result<()> {
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers);
    let options = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let sent = async {
        let confirm = channel.basic_publish("".into(), queue.into(), options, payload, properties);
        confirm.await?.await
    };
    let confirm = tokio::time::timeout(CONFIRM_TIMEOUT, sent).await??;
    anyhow::ensure!(
        confirm.is_ack() && confirm.take_message().is_none(),
        "the broker refused or returned a message for {queue}"
    );
    Ok(())
}

fn read(properties: &BasicProperties, data: &[u8]) -> DeadLetter {
    let orders = serde_json::from_slice::<Vec<NewOrder>>(data).ok();
    let payload = orders
        .is_none()
        .then(|| shortened(&String::from_utf8_lossy(data)));
    let reason = match header(properties, REASON) {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        _ => match death(properties) {
            Some(why) if orders.is_none() => format!("undecodable ({why} by the consumer)"),
            Some(why) => format!("dead-lettered by the broker: {why}"),
            None => "unknown".into(),
        },
    };
    DeadLetter {
        orders,
        payload,
        reason,
        retries: retries(properties),
    }
}

/// The broker's own reason (`rejected`, `expired`, ...) from its `x-death` header.
fn death(properties: &BasicProperties) -> Option<String> {
    let Some(AMQPValue::FieldArray(deaths)) = header(properties, "x-death") else {
        return None;
    };
    let Some(AMQPValue::FieldTable(first)) = deaths.as_slice().first() else {
        return None;
    };
    match first.inner().get("reason")? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    properties.headers().as_ref()?.inner().get(name)
}

fn shortened(text: &str) -> String {
    text.chars().take(TEXT_MAX).collect()
}
