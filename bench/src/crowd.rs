//! The crowd at work: every shopper solves its captcha through the API (test mode answer), then
//! all of them press "Buy now" through `concurrency` connections at once.
//!
//! Each of the `concurrency` workers (a tokio task) keeps one keep-alive connection per server
//! and takes the next shopper until none is left, as the browsers behind a load balancer would.

use crate::http::{Answer, Conn, HttpError, Target};
use crate::setup::Shopper;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One answered purchase: when it was sent (ms since the purchase phase began), how long the
/// answer took, and what it was (`accepted`, a refusal code, `timeout` or `error`).
pub struct Sample {
    pub at_ms: f64,
    pub latency_ms: f64,
    pub outcome: String,
    pub retries: u32,
}

pub struct Crowd {
    /// The servers: shopper `i` talks to `targets[i % len]`, as a load balancer would spread them.
    pub targets: Vec<Target>,
    pub product: i64,
    pub concurrency: usize,
    pub timeout: Duration,
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    let style =
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// What the workers of one phase share: the next shopper to serve.
struct Turns {
    next: AtomicUsize,
    len: usize,
    progress: ProgressBar,
}

impl Turns {
    fn take(&self) -> Option<usize> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.len).then_some(i)
    }
}

/// Sends a request, waiting out `rate_limited` answers as a patient client would.
async fn send_patiently(conn: &mut Conn, request: &[u8]) -> (Result<Answer, HttpError>, u32) {
    let mut retries = 0;
    loop {
        match conn.send(request).await {
            Ok(a) if a.status == 429 && retries < 50 && a.error_code() == "rate_limited" => {
                retries += 1;
                let secs = a.retry_after.unwrap_or(1).max(1);
                tokio::time::sleep(Duration::from_secs(secs)).await;
            }
            other => return (other, retries),
        }
    }
}

impl Crowd {
    fn connections(&self) -> Vec<Conn> {
        self.targets
            .iter()
            .map(|t| Conn::new(t.clone(), self.timeout))
            .collect()
    }

    /// Runs `concurrency` workers over shoppers `0..len`; `visit` serves one shopper on the
    /// connection to its server. Returns what it made of each, in shopper order.
    async fn serve<T, F, Fut>(&self, len: usize, what: &str, visit: F) -> anyhow::Result<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(Conn, usize) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = (Conn, T)> + Send,
    {
        let turns = Arc::new(Turns {
            next: AtomicUsize::new(0),
            len,
            progress: bar(len, what),
        });
        let visit = Arc::new(visit);
        let workers: Vec<_> = (0..self.concurrency.max(1))
            .map(|_| {
                let (turns, visit) = (turns.clone(), visit.clone());
                let mut conns: Vec<Option<Conn>> =
                    self.connections().into_iter().map(Some).collect();
                tokio::spawn(async move {
                    let mut done = Vec::new();
                    while let Some(i) = turns.take() {
                        let k = i % conns.len();
                        let Some(conn) = conns[k].take() else { break };
                        let (conn, out) = visit(conn, i).await;
                        conns[k] = Some(conn);
                        done.push((i, out));
                        turns.progress.inc(1);
                    }
                    done
                })
            })
            .collect();
        let mut all: Vec<Option<T>> = (0..len).map(|_| None).collect();
        for w in workers {
            for (i, out) in w.await? {
                all[i] = Some(out);
            }
        }
        turns.progress.finish();
        all.into_iter()
            .map(|o| o.ok_or_else(|| anyhow::anyhow!("a shopper was not served")))
            .collect()
    }

    /// A purchase pass for every shopper (`None` where the captcha step failed).
    pub async fn passes(
        &self,
        shoppers: &[Shopper],
        answer: &str,
    ) -> anyhow::Result<Vec<Option<String>>> {
        let captcha_path = format!("/api/v1/products/{}/captcha", self.product);
        let verify_path = Arc::new(format!("{captcha_path}/verify"));
        let asks: Arc<Vec<(Vec<u8>, String)>> = Arc::new(
            shoppers
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let t = &self.targets[i % self.targets.len()];
                    (t.post(&captcha_path, &s.cookie, "{}"), s.cookie.clone())
                })
                .collect(),
        );
        let answer = Arc::new(answer.to_string());
        let targets = Arc::new(self.targets.clone());
        self.serve(shoppers.len(), "captchas", move |mut conn, i| {
            let (asks, verify_path, answer, targets) = (
                asks.clone(),
                verify_path.clone(),
                answer.clone(),
                targets.clone(),
            );
            async move {
                let (ask, cookie) = &asks[i];
                let (drawn, _) = send_patiently(&mut conn, ask).await;
                let Some(id) = drawn.ok().filter(|a| a.status == 200).and_then(|a| {
                    let v: serde_json::Value = serde_json::from_slice(&a.body).ok()?;
                    v["captcha_id"].as_str().map(String::from)
                }) else {
                    return (conn, None);
                };
                let body = serde_json::json!({"captcha_id": id, "answer": answer.as_str()});
                let target = &targets[i % targets.len()];
                let verify = target.post(&verify_path, cookie, &body.to_string());
                let (solved, _) = send_patiently(&mut conn, &verify).await;
                let pass = solved.ok().filter(|a| a.status == 200).and_then(|a| {
                    let v: serde_json::Value = serde_json::from_slice(&a.body).ok()?;
                    v["pass"].as_str().map(String::from)
                });
                (conn, pass)
            }
        })
        .await
    }

    /// Every shopper's purchase, written out before the clock starts: it measures the server,
    /// not the formatting.
    pub fn purchase_requests(
        &self,
        shoppers: &[Shopper],
        passes: Vec<Option<String>>,
    ) -> Vec<Vec<u8>> {
        let path = format!("/api/v1/products/{}/purchase", self.product);
        shoppers
            .iter()
            .zip(passes)
            .enumerate()
            .map(|(i, (s, pass))| {
                let body = serde_json::json!({ "pass": pass.unwrap_or_default() });
                let t = &self.targets[i % self.targets.len()];
                t.post(&path, &s.cookie, &body.to_string())
            })
            .collect()
    }

    /// Everyone presses "Buy now"; one sample per shopper.
    pub async fn purchases(
        &self,
        requests: Vec<Vec<u8>>,
        start: Instant,
    ) -> anyhow::Result<Vec<Sample>> {
        let requests = Arc::new(requests);
        self.serve(requests.len(), "purchases", move |mut conn, i| {
            let requests = requests.clone();
            async move {
                let sent = start.elapsed();
                let (answer, retries) = send_patiently(&mut conn, &requests[i]).await;
                let outcome = match answer {
                    Ok(a) if a.status == 202 => "accepted".to_string(),
                    Ok(a) => a.error_code(),
                    Err(HttpError::Timeout) => "timeout".to_string(),
                    Err(_) => "error".to_string(),
                };
                let sample = Sample {
                    at_ms: sent.as_secs_f64() * 1000.0,
                    latency_ms: (start.elapsed() - sent).as_secs_f64() * 1000.0,
                    outcome,
                    retries,
                };
                (conn, sample)
            }
        })
        .await
    }
}
