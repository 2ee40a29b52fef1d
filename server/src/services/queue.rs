//! The queue between validation and the database. `OrderQueue::submit` answers only once the
//! order is safe: durable in the database (embedded) or confirmed by the broker (RabbitMQ).
//! The embedded queue group-commits: one SQLite transaction for every batch of orders.

use super::orders::{commit, gather};
use crate::metrics::Metrics;
use crate::repositories::orders::{NewOrder, Written};
use crate::repositories::Db;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub mod rabbit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// In the database.
    Confirmed,
    /// Safely queued; the consumer will write it.
    Queued,
    /// The user already has an order for this product.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the order queue is shutting down")]
    Closed,
    #[error("the order could not be stored: {0}")]
    Failed(String),
}

#[async_trait::async_trait]
pub trait OrderQueue: Send + Sync + 'static {
    async fn submit(&self, order: NewOrder) -> Result<Enqueued, QueueError>;
    /// Orders (embedded) or messages (RabbitMQ) waiting to be written.
    async fn depth(&self) -> i64;
}

type Job = (NewOrder, oneshot::Sender<Result<Written, String>>);

pub struct EmbeddedQueue {
    tx: mpsc::Sender<Job>,
}

impl EmbeddedQueue {
    /// Starts the batcher; it ends after every `EmbeddedQueue` is dropped and the rest is written.
    pub fn start(db: Db, max: usize, linger: Duration, metrics: Metrics) -> (Self, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(65_536);
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let jobs = gather(&mut rx, first, max, linger).await;
                let (orders, replies): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
                match commit(&db, &orders).await {
                    Ok(done) => {
                        metrics.confirmed(
                            done.iter().filter(|w| **w == Written::Stored).count() as u64
                        );
                        for (reply, written) in replies.into_iter().zip(done) {
                            let _ = reply.send(Ok(written));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, size = orders.len(), "order batch not stored");
                        for reply in replies {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
        });
        (EmbeddedQueue { tx }, task)
    }
}

#[async_trait::async_trait]
impl OrderQueue for EmbeddedQueue {
    async fn submit(&self, order: NewOrder) -> Result<Enqueued, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((order, reply))
            .await
            .map_err(|_| QueueError::Closed)?;
        match answer.await.map_err(|_| QueueError::Closed)? {
            Ok(Written::Stored) => Ok(Enqueued::Confirmed),
            Ok(Written::Duplicate) => Ok(Enqueued::Duplicate),
            Err(e) => Err(QueueError::Failed(e)),
        }
    }

    async fn depth(&self) -> i64 {
        (self.tx.max_capacity() - self.tx.capacity()) as i64
    }
}
