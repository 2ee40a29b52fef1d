//! The queue between validation and the database. `OrderQueue::submit` answers only once the
//! order is safe: durable in the database (embedded) or confirmed by the broker (RabbitMQ).
//! Its parts: the batcher both queues gather with, the embedded group-committing queue, and
//! RabbitMQ's topology, publisher and consumer. Dependencies run one way: queue → repositories.

mod batcher;
mod embedded;
pub mod rabbit;

pub use batcher::gather;
pub use embedded::EmbeddedQueue;

use crate::repositories::orders::NewOrder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// In the database.
    Confirmed,
    /// Safely queued; the consumer will write it.
    Queued,
    /// Sent, not confirmed in time: it may be in the queue already, and is resent until the
    /// broker confirms it.
    Pending,
    /// The user already has an order for this product.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Nothing reached the queue.
    #[error("the order queue is shutting down")]
    Closed,
    /// Nothing reached the queue.
    #[error("the order could not be stored: {0}")]
    Failed(String),
    /// The queue may have the order: it was handed over, and no answer came back.
    #[error("the order may have been queued: {0}")]
    InDoubt(String),
}

#[async_trait::async_trait]
pub trait OrderQueue: Send + Sync + 'static {
    async fn submit(&self, order: NewOrder) -> Result<Enqueued, QueueError>;
    /// Orders (embedded) or messages (RabbitMQ) waiting to be written; negative when the broker
    /// cannot be reached.
    async fn depth(&self) -> i64;
}
