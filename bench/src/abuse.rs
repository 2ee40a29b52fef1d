//! `abuse`: the honest side of `bench/abuse.sh`, run while wrk floods the door.
//!
//! - `shopper`: a logged-in shopper (registered here) who, for `--secs`, solves a captcha every
//!   `--every-ms` and buys each product on sale once; every answer is counted by its code. A
//!   `rate_limited` answer means the flood spent this shopper's budget.
//! - `pages`: a client on its own address (`--from`) loading a page every `--every-ms`; every
//!   status counted. Anything but 200 means another address's flood spent this one's budget.
//!
//! Each prints one JSON object.

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3960")]
    base: String,
    /// The source address of this client's connections (any of 127.0.0.0/8).
    #[arg(long, default_value = "127.0.0.2")]
    from: IpAddr,
    #[arg(long, default_value_t = 10)]
    secs: u64,
    #[arg(long, default_value_t = 2_500)]
    every_ms: u64,
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    Shopper {
        /// The server's captcha test answer (test mode).
        #[arg(long, default_value = "bench")]
        answer: String,
    },
    Pages {
        #[arg(long, default_value = "/")]
        path: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let http = reqwest::Client::builder()
        .local_address(a.from)
        .timeout(Duration::from_secs(30))
        .build()?;
    let report = match &a.role {
        Role::Shopper { answer } => shopper(&http, &a, answer).await?,
        Role::Pages { path } => pages(&http, &a, path).await,
    };
    println!("{report}");
    Ok(())
}

async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// `200`, or the refusal's code (`rate_limited`, `already_bought`, …).
fn label(status: u16, v: &Value) -> String {
    match v["error"].as_str() {
        Some(code) => code.to_string(),
        None => status.to_string(),
    }
}

async fn shopper(http: &reqwest::Client, a: &Args, answer: &str) -> anyhow::Result<Value> {
    let name = format!("abuse{}", std::process::id());
    let body = json!({"name": name, "password": "a-long-enough-password"});
    let r = http
        .post(format!("{}/api/v1/register", a.base))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "register: {}", r.status());
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("no cookie"))?
        .to_string();
    let products: Vec<Value> = http
        .get(format!("{}/api/v1/products", a.base))
        .send()
        .await?
        .json()
        .await?;
    let mut on_sale: Vec<i64> = products
        .iter()
        .filter(|p| p["on_sale"] == true && p["stock_left"].as_i64().unwrap_or(0) > 0)
        .filter_map(|p| p["id"].as_i64())
        .collect();
    anyhow::ensure!(!on_sale.is_empty(), "no product on sale");
    let keep = on_sale[0];
    let (mut answers, mut bought) = (BTreeMap::<String, u64>::new(), 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(a.secs) {
        let tick = Instant::now();
        let product = on_sale.first().copied().unwrap_or(keep);
        let post = |path: String, body: Value| {
            http.post(format!("{}{path}", a.base))
                .header("cookie", &cookie)
                .json(&body)
        };
        let (s, c) = call(post(
            format!("/api/v1/products/{product}/captcha"),
            json!({}),
        ))
        .await;
        *answers
            .entry(format!("captcha {}", label(s, &c)))
            .or_default() += 1;
        if s == 200 {
            let body = json!({"captcha_id": c["captcha_id"], "answer": answer});
            let (s, v) = call(post(
                format!("/api/v1/products/{product}/captcha/verify"),
                body,
            ))
            .await;
            *answers
                .entry(format!("verify {}", label(s, &v)))
                .or_default() += 1;
            if let (200, Some(pass), false) = (s, v["pass"].as_str(), on_sale.is_empty()) {
                let body = json!({ "pass": pass });
                let (s, v) = call(post(format!("/api/v1/products/{product}/purchase"), body)).await;
                let outcome = label(s, &v);
                *answers.entry(format!("purchase {outcome}")).or_default() += 1;
                if s == 202 || outcome == "already_bought" || outcome == "sold_out" {
                    bought += u64::from(s == 202);
                    on_sale.remove(0);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(a.every_ms).saturating_sub(tick.elapsed())).await;
    }
    let rate_limited: u64 = answers
        .iter()
        .filter(|(k, _)| k.ends_with("rate_limited"))
        .map(|(_, n)| n)
        .sum();
    Ok(json!({ "answers": answers, "bought": bought, "rate_limited": rate_limited }))
}

async fn pages(http: &reqwest::Client, a: &Args, path: &str) -> Value {
    let mut statuses = BTreeMap::<u16, u64>::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(a.secs) {
        let tick = Instant::now();
        let r = http.get(format!("{}{path}", a.base)).send().await;
        let status = match r {
            Ok(r) => {
                let s = r.status().as_u16();
                let _ = r.bytes().await;
                s
            }
            Err(_) => 0,
        };
        *statuses.entry(status).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(a.every_ms).saturating_sub(tick.elapsed())).await;
    }
    let refused: u64 = statuses
        .iter()
        .filter(|(s, _)| **s != 200)
        .map(|(_, n)| n)
        .sum();
    json!({ "statuses": statuses, "refused": refused })
}
