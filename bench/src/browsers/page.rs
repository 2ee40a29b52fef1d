//! One shopper's browser: loads the product page and its files, opens the live stream and keeps
//! it, waits for the start, clicks within the first seconds (captcha, answer, purchase; again
//! after a 429), and hears its order or "sold out" on the stream. Some hang up mid-purchase.

use super::seen::Seen;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every page of a load process shares.
pub struct Ctx {
    pub http: reqwest::Client,
    pub base: String,
    pub product: i64,
    pub assets: Vec<String>,
    pub answer: String,
    /// When the crowd leaves (Unix ms): streams close.
    pub end_ms: i64,
    pub seen: Mutex<Seen>,
    /// Requests in flight from this process, streams aside: each is a connection, and the
    /// server's open files (20,000 here) also hold every page's stream.
    pub in_flight: tokio::sync::Semaphore,
}

pub struct Plan {
    pub cookie: String,
    pub open_ms: i64,
    pub click_ms: i64,
    pub hang_up: bool,
    /// Whether this page loads the page's files too.
    pub assets: bool,
}

/// What the page's stream has said so far.
#[derive(Default)]
struct Heard {
    stock_left: AtomicI64,
    on_sale: AtomicI64,
    sold_out_at: AtomicI64,
    order: AtomicI64,
}

/// A page closes this long after it heard "sold out" (the run ends with the last page).
const STAY_AFTER_SOLD_OUT_MS: i64 = 3_000;

pub fn now_ms() -> i64 {
    server::now_ms()
}

async fn sleep_until(ms: i64) {
    let wait = ms - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

pub async fn browse(ctx: Arc<Ctx>, plan: Plan) {
    sleep_until(plan.open_ms).await;
    ctx.seen.lock().unwrap().pages += 1;
    if !load_page(&ctx, &plan).await {
        return;
    }
    let heard = Arc::new(Heard {
        stock_left: AtomicI64::new(i64::MAX),
        ..Heard::default()
    });
    let stream = tokio::spawn(listen(ctx.clone(), plan.cookie.clone(), heard.clone()));
    sleep_until(plan.click_ms).await;
    // A page that has not heard the start yet waits for it (a little).
    for _ in 0..100 {
        if heard.on_sale.load(Ordering::Acquire) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    buy(&ctx, &plan, &heard).await;
    let _ = stream.await;
}

/// The page and its files; `false` when the page did not load.
async fn load_page(ctx: &Ctx, plan: &Plan) -> bool {
    let url = format!("{}/product/{}", ctx.base, ctx.product);
    let (page, took) = get(ctx, &url, &plan.cookie).await;
    let status = page.map_or(0, |(status, _)| status);
    let mut bytes = 0;
    let assets = if plan.assets { &ctx.assets[..] } else { &[] };
    for asset in assets {
        let url = format!("{}{asset}", ctx.base);
        match get(ctx, &url, &plan.cookie).await.0 {
            Ok((s, n)) => {
                bytes += n;
                ctx.seen.lock().unwrap().count("asset", s);
            }
            Err(_) => ctx.seen.lock().unwrap().count("asset", "error"),
        }
    }
    let mut seen = ctx.seen.lock().unwrap();
    seen.count("page", status);
    seen.refused_429 += u64::from(status == 429);
    seen.asset_bytes += bytes;
    if status == 200 {
        seen.page_load_ms.push(took);
    }
    status == 200
}

/// A page or file, whole: (status, bytes) and the milliseconds it took.
async fn get(ctx: &Ctx, url: &str, cookie: &str) -> (reqwest::Result<(u16, u64)>, f64) {
    let _permit = ctx.in_flight.acquire().await;
    let sent = Instant::now();
    let whole = async {
        let resp = ctx
            .http
            .get(url)
            .header("cookie", cookie)
            .header("accept-encoding", "gzip")
            .timeout(Duration::from_secs(30))
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.bytes().await?.len() as u64))
    };
    let got = whole.await;
    (got, ms_since(sent))
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Holds the stream until the crowd leaves, noting what it says.
async fn listen(ctx: Arc<Ctx>, cookie: String, heard: Arc<Heard>) {
    let url = format!("{}/api/v1/products/{}/live", ctx.base, ctx.product);
    let resp = ctx.http.get(&url).header("cookie", &cookie).send().await;
    let mut resp = match resp {
        Ok(r) => r,
        Err(_) => {
            let mut seen = ctx.seen.lock().unwrap();
            seen.count("stream", "error");
            seen.streams_lost += 1;
            return;
        }
    };
    let status = resp.status().as_u16();
    {
        let mut seen = ctx.seen.lock().unwrap();
        seen.count("stream", status);
        seen.refused_429 += u64::from(status == 429);
        if status != 200 {
            seen.streams_lost += 1;
            return;
        }
    }
    let mut buf = String::new();
    let lost = loop {
        let heard_at = heard.sold_out_at.load(Ordering::Acquire);
        let leave = if heard_at > 0 {
            ctx.end_ms.min(heard_at + STAY_AFTER_SOLD_OUT_MS)
        } else {
            ctx.end_ms
        };
        let left = leave - now_ms();
        if left <= 0 {
            break None;
        }
        let chunk = tokio::time::timeout(Duration::from_millis(left as u64), resp.chunk()).await;
        match chunk {
            Err(_) => break None,
            Ok(Ok(Some(bytes))) => {
                buf.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    hear(&event, &heard);
                }
            }
            Ok(Ok(None)) => break Some("closed".to_string()),
            Ok(Err(e)) => break Some(lost_why(&e)),
        }
    };
    let mut seen = ctx.seen.lock().unwrap();
    if let Some(why) = &lost {
        seen.count("stream lost", why);
    }
    seen.streams_lost += u64::from(lost.is_some());
    let at = heard.sold_out_at.load(Ordering::Acquire);
    if at > 0 {
        seen.sold_out_seen_at.push(at);
    }
    seen.orders_told_on_stream += u64::from(heard.order.load(Ordering::Acquire) > 0);
}

/// Why a stream ended before the crowd left, in a word the report can count.
fn lost_why(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut last = String::from("error");
    while let Some(err) = source {
        last = err.to_string();
        source = err.source();
    }
    last.split(':').next().unwrap_or("error").trim().to_string()
}

fn hear(event: &str, heard: &Heard) {
    let mut name = "";
    let mut data = "";
    for line in event.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            name = v;
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = v;
        }
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
        return;
    };
    match name {
        "stock" => {
            let left = v["stock_left"].as_i64().unwrap_or(i64::MAX);
            heard.stock_left.store(left, Ordering::Release);
            if v["phase"] == "on_sale" {
                heard.on_sale.store(1, Ordering::Release);
            }
            if left <= 0 && heard.sold_out_at.load(Ordering::Acquire) == 0 {
                heard.sold_out_at.store(now_ms(), Ordering::Release);
            }
        }
        "order" => heard.order.store(now_ms(), Ordering::Release),
        _ => {}
    }
}

enum Step {
    Done,
    Retry(u64),
}

async fn buy(ctx: &Ctx, plan: &Plan, heard: &Heard) {
    let mut pass = None;
    for _ in 0..50 {
        if heard.stock_left.load(Ordering::Acquire) <= 0 || now_ms() >= ctx.end_ms {
            return;
        }
        let step = match pass.clone() {
            None => match captcha_and_pass(ctx, plan).await {
                Ok(p) => {
                    pass = Some(p);
                    continue;
                }
                Err(step) => step,
            },
            Some(p) => purchase(ctx, plan, &p).await,
        };
        match step {
            Step::Done => return,
            Step::Retry(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }
}

/// A 429's wait, spread so that the refused do not all come back in the same millisecond.
fn retry_after(resp: &reqwest::Response) -> Step {
    let secs: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(1);
    Step::Retry(secs.max(1) * 1000 / 2 + rand_ms(secs.max(1) * 1000))
}

fn rand_ms(below: u64) -> u64 {
    rand::random::<u64>() % below.max(1)
}

fn post(ctx: &Ctx, plan: &Plan, path: &str, body: String) -> reqwest::RequestBuilder {
    ctx.http
        .post(format!("{}{path}", ctx.base))
        .header("cookie", &plan.cookie)
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(30))
}

/// Sends once a connection of this process is free; the milliseconds from then to the answer.
async fn send(
    ctx: &Ctx,
    req: reqwest::RequestBuilder,
) -> (reqwest::Result<reqwest::Response>, f64) {
    let _permit = ctx.in_flight.acquire().await;
    let sent = Instant::now();
    let resp = req.send().await;
    (resp, ms_since(sent))
}

async fn captcha_and_pass(ctx: &Ctx, plan: &Plan) -> Result<String, Step> {
    let base = format!("/api/v1/products/{}/captcha", ctx.product);
    let (resp, took) = send(ctx, post(ctx, plan, &base, String::new())).await;
    let resp = answered(ctx, "captcha", resp)?;
    let body: serde_json::Value = resp.json().await.map_err(|_| Step::Done)?;
    ctx.seen.lock().unwrap().captcha_ms.push(took);
    let answer = serde_json::json!({"captcha_id": body["captcha_id"], "answer": ctx.answer});
    // Refused at the door (429), the shopper sends the same answer again.
    for _ in 0..50 {
        let (resp, _) = send(
            ctx,
            post(ctx, plan, &format!("{base}/verify"), answer.to_string()),
        )
        .await;
        match answered(ctx, "verify", resp) {
            Ok(resp) => {
                let body: serde_json::Value = resp.json().await.map_err(|_| Step::Done)?;
                return body["pass"].as_str().map(String::from).ok_or(Step::Done);
            }
            Err(Step::Retry(ms)) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Err(done) => return Err(done),
        }
    }
    Err(Step::Done)
}

/// The answer when it is a success; otherwise counted, and what to do next.
fn answered(
    ctx: &Ctx,
    what: &str,
    resp: reqwest::Result<reqwest::Response>,
) -> Result<reqwest::Response, Step> {
    let resp = match resp {
        Ok(r) => r,
        Err(_) => {
            ctx.seen.lock().unwrap().count(what, "error");
            return Err(Step::Retry(500));
        }
    };
    let status = resp.status().as_u16();
    ctx.seen.lock().unwrap().count(what, status);
    match status {
        200..=299 => Ok(resp),
        429 | 503 => Err(retry_after(&resp)),
        _ => Err(Step::Done),
    }
}

async fn purchase(ctx: &Ctx, plan: &Plan, pass: &str) -> Step {
    let path = format!("/api/v1/products/{}/purchase", ctx.product);
    let body = serde_json::json!({ "pass": pass }).to_string();
    if plan.hang_up {
        // The tab closes a few milliseconds after the click: the request goes, the answer is
        // never read.
        let gone = Duration::from_millis(1 + rand_ms(4));
        let _permit = ctx.in_flight.acquire().await;
        let _ = tokio::time::timeout(gone, post(ctx, plan, &path, body).send()).await;
        ctx.seen.lock().unwrap().hangups += 1;
        return Step::Done;
    }
    let (resp, took) = send(ctx, post(ctx, plan, &path, body)).await;
    let resp = match resp {
        Ok(r) => r,
        Err(_) => {
            ctx.seen.lock().unwrap().count("purchase", "error");
            return Step::Retry(500);
        }
    };
    let status = resp.status().as_u16();
    if status == 429 {
        let next = retry_after(&resp);
        let code = error_code(resp).await;
        ctx.seen.lock().unwrap().count("purchase", code);
        return next;
    }
    let accepted = status == 202;
    let code = if accepted {
        "accepted".to_string()
    } else {
        error_code(resp).await
    };
    let mut seen = ctx.seen.lock().unwrap();
    seen.count("purchase", &code);
    seen.purchase_ms.push(took);
    if accepted {
        seen.accepted_at.push(now_ms());
    }
    Step::Done
}

async fn error_code(resp: reqwest::Response) -> String {
    let v: serde_json::Value = resp.json().await.unwrap_or_default();
    v["error"].as_str().unwrap_or("error").to_string()
}
