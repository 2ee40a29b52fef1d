//! The consumer stage: turns a batch of accepted purchases into committed orders — one
//! transaction per batch, retried on transient failures, idempotent thanks to the unique keys.

use crate::repositories::orders::{self as repo, NewOrder, Written};
use crate::repositories::Db;
use std::time::Duration;

const ATTEMPTS: u32 = 5;

/// Commits a batch, retrying with backoff; an error means nothing of the batch was written.
pub async fn commit(db: &Db, batch: &[NewOrder]) -> Result<Vec<Written>, sqlx::Error> {
    let mut delay = Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        match repo::write_batch(db, batch).await {
            Ok(done) => return Ok(done),
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, size = batch.len(), "order batch failed, retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Waits for more items after the first, up to `max` in all or until `linger` has passed.
pub async fn gather<T>(
    rx: &mut tokio::sync::mpsc::Receiver<T>,
    first: T,
    max: usize,
    linger: Duration,
) -> Vec<T> {
    let mut batch = vec![first];
    let deadline = tokio::time::Instant::now() + linger;
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(item)) => batch.push(item),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
    batch
}
