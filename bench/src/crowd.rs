//! The crowd at work: every shopper solves its captcha through the API (test mode answer), then
//! all of them press "Buy now" through `concurrency` connections at once.

use crate::setup::Shopper;
use futures::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
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
    pub http: reqwest::Client,
    /// The servers: shopper `i` talks to `bases[i % len]`, as a load balancer would spread them.
    pub bases: Vec<String>,
    pub product: i64,
    pub concurrency: usize,
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

impl Crowd {
    fn base(&self, shopper: usize) -> &str {
        &self.bases[shopper % self.bases.len()]
    }

    async fn post(
        &self,
        base: &str,
        cookie: &str,
        path: &str,
        body: Value,
    ) -> Result<(u16, Value, Option<u64>), reqwest::Error> {
        let resp = self
            .http
            .post(format!("{base}{path}"))
            .header("cookie", cookie)
            .json(&body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let value = resp.json().await.unwrap_or(Value::Null);
        Ok((status, value, retry))
    }

    /// POST, waiting out `rate_limited` answers as a patient client would.
    async fn post_patiently(
        &self,
        base: &str,
        cookie: &str,
        path: &str,
        body: Value,
    ) -> (Result<(u16, Value), reqwest::Error>, u32) {
        let mut retries = 0;
        loop {
            match self.post(base, cookie, path, body.clone()).await {
                Ok((429, v, Some(secs))) if v["error"] == "rate_limited" && retries < 50 => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(secs.max(1) * 1000)).await;
                }
                Ok((s, v, _)) => return (Ok((s, v)), retries),
                Err(e) => return (Err(e), retries),
            }
        }
    }

    /// A purchase pass for every shopper (`None` where the captcha step failed).
    pub async fn passes(&self, shoppers: &[Shopper], answer: &str) -> Vec<Option<String>> {
        let progress = bar(shoppers.len(), "captchas");
        let captcha = format!("/api/v1/products/{}/captcha", self.product);
        let verify = format!("/api/v1/products/{}/captcha/verify", self.product);
        let passes = stream::iter(shoppers.iter().enumerate())
            .map(|(i, s)| {
                let (captcha, verify, progress) = (&captcha, &verify, &progress);
                async move {
                    let base = self.base(i);
                    let (c, _) = self
                        .post_patiently(base, &s.cookie, captcha, json!({}))
                        .await;
                    let id = c
                        .ok()
                        .filter(|(st, _)| *st == 200)
                        .map(|(_, v)| v["captcha_id"].clone())?;
                    let body = json!({"captcha_id": id, "answer": answer});
                    let (p, _) = self.post_patiently(base, &s.cookie, verify, body).await;
                    progress.inc(1);
                    p.ok()
                        .filter(|(st, _)| *st == 200)
                        .and_then(|(_, v)| v["pass"].as_str().map(String::from))
                }
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        progress.finish();
        passes
    }

    /// Everyone presses "Buy now"; returns the answers in the order they came.
    pub async fn purchases(
        &self,
        shoppers: &[Shopper],
        passes: Vec<Option<String>>,
        start: Instant,
    ) -> Vec<Sample> {
        let progress = bar(shoppers.len(), "purchases");
        let path = format!("/api/v1/products/{}/purchase", self.product);
        let samples = stream::iter(shoppers.iter().zip(passes).enumerate())
            .map(|(i, (s, pass))| {
                let (path, progress) = (&path, &progress);
                async move {
                    let sent = start.elapsed();
                    let body = json!({ "pass": pass.unwrap_or_default() });
                    let (answer, retries) = self
                        .post_patiently(self.base(i), &s.cookie, path, body)
                        .await;
                    let outcome = match answer {
                        Ok((202, _)) => "accepted".to_string(),
                        Ok((_, v)) => v["error"].as_str().unwrap_or("error").to_string(),
                        Err(e) if e.is_timeout() => "timeout".to_string(),
                        Err(_) => "error".to_string(),
                    };
                    progress.inc(1);
                    Sample {
                        at_ms: sent.as_secs_f64() * 1000.0,
                        latency_ms: (start.elapsed() - sent).as_secs_f64() * 1000.0,
                        outcome,
                        retries,
                    }
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        progress.finish();
        samples
    }
}
