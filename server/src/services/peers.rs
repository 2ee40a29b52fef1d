//! Calls between processes of one cluster: a keep-alive HTTP client with a short timeout and the
//! shared bearer secret. A peer that fails is skipped for a moment, so that a dead node costs
//! the ones that call it one refused connection, not one per request.

use crate::now_ms;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a peer that did not answer is left alone before it is tried again.
const BACKOFF_MS: i64 = 1_000;

#[derive(Clone)]
pub struct Peers {
    urls: Arc<Vec<String>>,
    http: reqwest::Client,
    auth: Arc<str>,
    down_until: Arc<Vec<AtomicI64>>,
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
            down_until: Arc::new(urls.iter().map(|_| AtomicI64::new(0)).collect()),
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

    /// `POST {peer}{path}` with a JSON body; any transport failure or non-2xx answer is an error
    /// (and puts the peer aside for a moment).
    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        peer: usize,
        path: &str,
        body: &B,
    ) -> anyhow::Result<R> {
        let (Some(url), Some(down)) = (self.urls.get(peer), self.down_until.get(peer)) else {
            anyhow::bail!("no peer {peer}");
        };
        if down.load(Ordering::Relaxed) > now_ms() {
            anyhow::bail!("{url} did not answer a moment ago");
        }
        let sent = self
            .http
            .post(format!("{url}{path}"))
            .header(reqwest::header::AUTHORIZATION, &*self.auth)
            .json(body)
            .send()
            .await
            .and_then(|r| r.error_for_status());
        let result = match sent {
            Ok(resp) => resp.json::<R>().await,
            Err(e) => Err(e),
        };
        result.map_err(|e| {
            down.store(now_ms() + BACKOFF_MS, Ordering::Relaxed);
            anyhow::anyhow!("{url}{path}: {e}")
        })
    }
}
