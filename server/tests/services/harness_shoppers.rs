//! The cluster's shoppers: the whole purchase on random nodes (a step whose node is being
//! restarted starts over elsewhere), hanging up mid-purchase, and "My orders".

use crate::harness::{epoch_ms, Cluster};
use crate::helpers::{Shopper, ANSWER};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

impl Cluster {
    /// One shopper's whole purchase, each step on a random node of `alive`. A step whose node
    /// cannot be reached (it is being restarted) starts over on another node.
    pub async fn buy_anywhere(
        &self,
        alive: &[usize],
        s: &Shopper,
        product: i64,
    ) -> (StatusCode, Value) {
        let mut errors = Vec::new();
        for _ in 0..50 {
            match self.try_buy(alive, s, product).await {
                Ok((status, mut v)) => {
                    // For the fault run's report: when, where, and after which failures.
                    if let Some(o) = v.as_object_mut() {
                        o.insert("_at_ms".into(), json!(epoch_ms()));
                        o.insert("_errors".into(), json!(errors));
                    }
                    return (status, v);
                }
                Err(e) => {
                    errors.push(format!("{} {e}", epoch_ms()));
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
            }
        }
        panic!("no node answered shopper {}", s.id);
    }

    async fn try_buy(
        &self,
        alive: &[usize],
        s: &Shopper,
        product: i64,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        match self.try_pass(alive, s, product).await? {
            Ok(pass) => {
                let path = format!("/api/v1/products/{product}/purchase");
                self.call(alive, s, &path, json!({ "pass": pass })).await
            }
            Err(refusal) => Ok(refusal),
        }
    }

    /// Captcha → verify: the purchase pass, or the refusal of either step.
    async fn try_pass(
        &self,
        alive: &[usize],
        s: &Shopper,
        product: i64,
    ) -> Result<Result<Value, (StatusCode, Value)>, reqwest::Error> {
        let path = |p: &str| format!("/api/v1/products/{product}{p}");
        let (st, cap) = self.call(alive, s, &path("/captcha"), json!({})).await?;
        if st != StatusCode::OK {
            return Ok(Err((st, cap)));
        }
        let verify = json!({"captcha_id": cap["captcha_id"], "answer": ANSWER});
        let (st, pass) = self
            .call(alive, s, &path("/captcha/verify"), verify)
            .await?;
        if st != StatusCode::OK {
            return Ok(Err((st, pass)));
        }
        Ok(Ok(pass["pass"].clone()))
    }

    /// A shopper closing the tab mid-purchase: captcha and verify as `buy_anywhere`, then the
    /// purchase sent over a raw connection to a random node and hung up `after` it is sent,
    /// unread. `Some` refusal when a step before the purchase refused.
    pub async fn buy_and_hang_up(
        &self,
        alive: &[usize],
        s: &Shopper,
        product: i64,
        after: Duration,
    ) -> Option<(StatusCode, Value)> {
        for _ in 0..50 {
            match self.try_pass(alive, s, product).await {
                Ok(Err(refusal)) => return Some(refusal),
                Ok(Ok(pass)) => {
                    let node = self.random_node(alive).base.trim_start_matches("http://");
                    if hang_up(node, s, product, &pass, after).await.is_ok() {
                        return None;
                    }
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no node took shopper {}'s purchase", s.id);
    }

    /// The ids of the orders of `product` the shopper's "My orders" shows (pending ones too),
    /// asked on random nodes until one answers; `None` if none did.
    pub async fn my_orders(
        &self,
        alive: &[usize],
        s: &Shopper,
        product: i64,
    ) -> Option<Vec<String>> {
        for _ in 0..20 {
            let node = self.random_node(alive);
            let req = self.http.get(node.url("/api/v1/orders"));
            if let Ok(r) = req.header("cookie", &s.cookie).send().await {
                if r.status() == StatusCode::OK {
                    if let Ok(Value::Array(orders)) = r.json::<Value>().await {
                        let mine = orders.into_iter().filter(|o| o["product_id"] == product);
                        let ids = mine.filter_map(|o| o["order_id"].as_str().map(String::from));
                        return Some(ids.collect());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        None
    }

    async fn call(
        &self,
        alive: &[usize],
        s: &Shopper,
        path: &str,
        body: Value,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let node = self.random_node(alive);
        let r = self
            .http
            .post(node.url(path))
            .header("cookie", &s.cookie)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let mut v: Value = r.json().await.unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("_node".into(), json!(node.base));
        }
        Ok((status, v))
    }
}

/// Sends the purchase to `addr` and hangs up `after`, without reading the answer.
async fn hang_up(
    addr: &str,
    s: &Shopper,
    product: i64,
    pass: &Value,
    after: Duration,
) -> std::io::Result<()> {
    let body = json!({ "pass": pass }).to_string();
    let request = format!(
        "POST /api/v1/products/{product}/purchase HTTP/1.1\r\nHost: {addr}\r\nCookie: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        s.cookie,
        body.len()
    );
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(request.as_bytes()).await?;
    tokio::time::sleep(after).await;
    Ok(())
}
