//! The embedded queue: group commit, one database transaction for every batch of orders. A
//! purchase is answered once its batch is committed.

use super::batcher::{gather, hand_over, Job};
use super::{Enqueued, OrderQueue, QueueError};
use crate::metrics::Metrics;
use crate::repositories::orders::{commit, NewOrder, Written};
use crate::repositories::Db;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct EmbeddedQueue {
    tx: mpsc::Sender<Job<Result<Written, String>>>,
}

impl EmbeddedQueue {
    /// Starts the batcher; it ends after every `EmbeddedQueue` is dropped and the rest is written.
    pub fn start(db: Db, max: usize, linger: Duration, metrics: Metrics) -> (Self, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job<Result<Written, String>>>(65_536);
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
        match hand_over(&self.tx, order).await? {
            Ok(Written::Stored) => Ok(Enqueued::Confirmed),
            Ok(Written::Duplicate) => Ok(Enqueued::Duplicate),
            Err(e) => Err(QueueError::Failed(e)),
        }
    }

    async fn depth(&self) -> i64 {
        (self.tx.max_capacity() - self.tx.capacity()) as i64
    }
}
