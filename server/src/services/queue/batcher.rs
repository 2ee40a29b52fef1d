//! Batching for both queues: one transaction (embedded) or one message (RabbitMQ) for the orders
//! that arrive together.

use super::QueueError;
use crate::repositories::orders::NewOrder;
use std::time::Duration;
use tokio::sync::mpsc::{error::TryRecvError, Receiver, Sender};
use tokio::sync::oneshot;

/// An order for a batcher, and where its answer goes.
pub type Job<T> = (NewOrder, oneshot::Sender<T>);

/// Hands the order to the batcher and waits for its answer. Refused (`Closed`) if the batcher is
/// gone before it takes the order; in doubt if it goes after (it may have written or sent it).
pub async fn hand_over<T>(tx: &Sender<Job<T>>, order: NewOrder) -> Result<T, QueueError> {
    let (reply, answer) = oneshot::channel();
    tx.send((order, reply))
        .await
        .map_err(|_| QueueError::Closed)?;
    answer
        .await
        .map_err(|_| QueueError::InDoubt("the batcher stopped before answering".into()))
}

/// Waits for more items after the first, up to `max` in all or until `linger` has passed.
pub async fn gather<T>(rx: &mut Receiver<T>, first: T, max: usize, linger: Duration) -> Vec<T> {
    let mut batch = vec![first];
    let deadline = tokio::time::Instant::now() + linger;
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            },
        }
    }
    batch
}
