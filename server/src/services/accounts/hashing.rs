//! Password hashing on a few threads of its own (one per core, a little below normal priority:
//! under a flood of logins the sale's workers go first), fed through a bounded queue.
//! Each argon2 hash takes 19 MiB: on tokio's blocking pool (up to 512 threads) a flood of logins
//! from many addresses ran hundreds at once, and every thread's allocator arena kept its own
//! copies, so the process grew by gigabytes and never gave them back. Here at most one hash per
//! thread runs, always on the same threads; waiting logins are queued closures, and when the queue
//! is full a login is told 503 at once rather than waiting behind thousands.

use crate::error::{AppError, AppResult};
use app::model::ErrorCode;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// Hashes waiting per hashing thread: a second or two's worth at ~20 ms a hash.
const QUEUED_PER_THREAD: usize = 64;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct HashPool(SyncSender<Job>);

impl HashPool {
    pub fn new() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with(threads, threads * QUEUED_PER_THREAD)
    }

    fn with(threads: usize, queued: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Job>(queued);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            // The threads end when the last `Accounts` (and with it the sender) is dropped.
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    crate::services::priority::give_way(5, "password hasher");
                    serve(&rx)
                })?;
        }
        Ok(HashPool(tx))
    }

    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = move || {
            // A panic fails this request only; the thread lives on.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            if let Ok(out) = out {
                let _ = tx.send(out);
            }
        };
        match self.0.try_send(Box::new(job)) {
            Ok(()) => rx.await.map_err(|e| AppError::Internal(e.into())),
            Err(TrySendError::Full(_)) => Err(AppError::code(
                ErrorCode::Unavailable,
                "too many logins at once: try again in a few seconds",
            )),
            Err(TrySendError::Disconnected(_)) => Err(AppError::Internal(anyhow::anyhow!(
                "password hashing stopped"
            ))),
        }
    }
}

/// Runs jobs until the last sender is gone.
fn serve(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct-horse").unwrap();
        assert!(verify_password("correct-horse", &h));
        assert!(!verify_password("wrong-horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[tokio::test]
    async fn a_full_queue_is_a_clear_503_not_a_wait() {
        let pool = HashPool::with(1, 2).unwrap();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        // One job runs (blocked), two wait: the queue is full.
        let running = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move || blocked.recv().is_ok()).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run(|| true).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        match pool.run(|| true).await {
            Err(AppError::Api(e)) => assert_eq!(e.error, ErrorCode::Unavailable),
            other => panic!("expected 503, got {:?}", other.map(|_| ())),
        }
        release.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        for w in waiting {
            assert!(w.await.unwrap().unwrap());
        }
    }
}
