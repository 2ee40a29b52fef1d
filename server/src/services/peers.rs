//! Calls between processes of one cluster: a keep-alive HTTP client with a short timeout and the
//! shared bearer secret. A peer that cannot be reached is skipped for a moment, so that a dead
//! node costs its callers one refused connection, not one per request; one that keeps timing
//! out is skipped too, but as slow, not gone: a caller may not act for it as for a dead one.

use crate::now_ms;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a peer that did not answer is left alone before it is tried again.
const BACKOFF_MS: i64 = 1_000;
/// Timeouts in a row after which a slow peer is left alone for a moment.
const SLOW_LIMIT: u32 = 3;

#[derive(Debug, Clone, thiserror::Error)]
pub enum PeerError {
    /// The request never reached the peer (refused, reset before sending, or set aside): safe
    /// to send it elsewhere.
    #[error("{0} is unreachable: {1}")]
    Unreachable(String, String),
    /// Sent, but no usable answer: the peer may have acted on it.
    #[error("{0} gave no answer: {1}")]
    NoAnswer(String, String),
    /// Not sent: the peer timed out `SLOW_LIMIT` times in a row a moment ago. It is alive, and
    /// may hold state of its own (a user's owner does): wait for it rather than stand in.
    #[error("{0} is slow: {1}")]
    Slow(String, String),
}

#[derive(Clone)]
pub struct Peers {
    urls: Arc<Vec<String>>,
    http: reqwest::Client,
    auth: Arc<str>,
    health: Arc<Vec<Health>>,
}

#[derive(Default)]
struct Health {
    down_until: AtomicI64,
    slow_until: AtomicI64,
    slow: AtomicU32,
}

impl Health {
    fn set_aside(&self) {
        self.down_until
            .store(now_ms() + BACKOFF_MS, Ordering::Relaxed);
        self.slow.store(0, Ordering::Relaxed);
    }

    fn slowed(&self) {
        self.slow_until
            .store(now_ms() + BACKOFF_MS, Ordering::Relaxed);
        self.slow.store(0, Ordering::Relaxed);
    }
}

impl Peers {
    pub fn new(urls: Vec<String>, secret: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        Ok(Peers {
            health: Arc::new(urls.iter().map(|_| Health::default()).collect()),
            urls: Arc::new(urls),
            http,
            auth: format!("Bearer {secret}").into(),
        })
    }

    pub fn len(&self) -> usize {
        self.urls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// `POST {peer}{path}` with a JSON body and a JSON answer.
    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        peer: usize,
        path: &str,
        body: &B,
    ) -> Result<R, PeerError> {
        let (Some(url), Some(health)) = (self.urls.get(peer), self.health.get(peer)) else {
            return Err(PeerError::Unreachable(
                format!("peer {peer}"),
                "unknown".into(),
            ));
        };
        let target = format!("{url}{path}");
        let now = now_ms();
        if health.down_until.load(Ordering::Relaxed) > now {
            return Err(PeerError::Unreachable(
                target,
                "refused a connection a moment ago".into(),
            ));
        }
        if health.slow_until.load(Ordering::Relaxed) > now {
            return Err(PeerError::Slow(target, "timed out a moment ago".into()));
        }
        let sent = self
            .http
            .post(&target)
            .header(reqwest::header::AUTHORIZATION, &*self.auth)
            .json(body)
            .send()
            .await;
        let answer = match sent {
            Ok(resp) => match resp.error_for_status() {
                Ok(resp) => resp.json::<R>().await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match answer {
            Ok(r) => {
                health.slow.store(0, Ordering::Relaxed);
                Ok(r)
            }
            Err(e) if e.is_connect() => {
                health.set_aside();
                Err(PeerError::Unreachable(target, chain(&e)))
            }
            Err(e) => {
                if e.is_timeout() && health.slow.fetch_add(1, Ordering::Relaxed) + 1 >= SLOW_LIMIT {
                    health.slowed();
                }
                Err(PeerError::NoAnswer(target, chain(&e)))
            }
        }
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
