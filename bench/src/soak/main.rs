//! `soak`: a long mixed load against a running server while its memory is watched; `bench/soak.sh`
//! starts the server and calls this. The load churns the keys of every in-memory map: shoppers
//! (a pool larger than a 10 s window can cycle through) solve captchas and buy, abandon captchas or
//! send bad passes (per-user limit, captchas, spent passes); wrong logins under ever new names (the
//! login failures) come from ever new client addresses on 127.0.0.0/8 (the per-address buckets).
//! Every second: the server's VmRSS (/proc/PID/status) and the map sizes from /metrics. After the
//! load it waits for the sweeps, then checks that the maps drained, that RSS did not keep growing
//! in the second half, and that nothing answered 5xx but a rare 503 (at most 0.5 %: "try again"
//! under load); it writes the report and exits non-zero when a check fails.

mod sample;
// loadgen's crowd setup; the soak keeps only the cookies, not the ids.
#[path = "../setup.rs"]
#[allow(dead_code)]
mod setup;
use sample::{map_sizes, rss_kb, Sample, Stats};

use clap::Parser;
use serde_json::{json, Value};
use server::repositories::Db;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Soak: a long mixed load while the server's memory is sampled")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3950")]
    base_url: String,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, env = "FLASH_SECRET")]
    secret: String,
    #[arg(long, env = "FLASH_CAPTCHA_TEST_ANSWER")]
    captcha_answer: String,
    /// The server process whose VmRSS is sampled.
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 60)]
    secs: u64,
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Shoppers created in the database and cycled through.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    #[arg(long, default_value_t = 5_000)]
    units: i64,
    /// New client addresses per second, each logging in once under a new name.
    #[arg(long, default_value_t = 20)]
    addresses_per_sec: u64,
    /// The longest wait after the load for the sweeps to drop the old entries.
    #[arg(long, default_value_t = 40)]
    drain_secs: u64,
    /// Largest allowed RSS at the end of the load over RSS at its middle.
    #[arg(long, default_value_t = 1.5)]
    max_growth: f64,
    /// Free text recorded in the report (how the server runs).
    #[arg(long, default_value = "")]
    label: String,
    #[arg(long)]
    out: String,
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    product: i64,
    cookies: Vec<String>,
    answer: String,
    tag: String,
    next: AtomicU64,
    stats: Stats,
    deadline: Instant,
}

impl Ctx {
    async fn post(&self, path: &str, cookie: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                self.stats.count(status);
                (status, resp.json().await.unwrap_or(Value::Null))
            }
            Err(_) => {
                self.stats.count(0);
                (0, Value::Null)
            }
        }
    }

    async fn get(&self, path: &str) {
        match self.http.get(format!("{}{path}", self.base)).send().await {
            Ok(resp) => {
                self.stats.count(resp.status().as_u16());
                let _ = resp.bytes().await;
            }
            Err(_) => self.stats.count(0),
        }
    }

    /// One action of the mix; `k` numbers it (and picks the shopper).
    async fn act(&self, k: u64) {
        let cookie = &self.cookies[(k as usize) % self.cookies.len()];
        let p = self.product;
        match k % 10 {
            // Captcha → verify → purchase: a captcha comes and goes, a pass is spent (and kept
            // until it expires), the user's 10 s slot is taken, a unit is sold or "sold out".
            0..=4 => {
                let captcha = format!("/api/v1/products/{p}/captcha");
                let (st, c) = self.post(&captcha, Some(cookie), json!({})).await;
                if st != 200 {
                    return;
                }
                let verify = format!("/api/v1/products/{p}/captcha/verify");
                let body = json!({"captcha_id": c["captcha_id"], "answer": self.answer});
                let (st, v) = self.post(&verify, Some(cookie), body).await;
                if let (200, Some(pass)) = (st, v["pass"].as_str()) {
                    let purchase = format!("/api/v1/products/{p}/purchase");
                    self.post(&purchase, Some(cookie), json!({ "pass": pass }))
                        .await;
                }
            }
            // A captcha asked for and never answered: it waits for its expiry.
            5 | 6 => {
                let captcha = format!("/api/v1/products/{p}/captcha");
                self.post(&captcha, Some(cookie), json!({})).await;
            }
            // A purchase with a bad pass: "captcha_required" (the user's slot stays free).
            7 => {
                let purchase = format!("/api/v1/products/{p}/purchase");
                let body = json!({ "pass": format!("forged-{k}") });
                self.post(&purchase, Some(cookie), body).await;
            }
            // A wrong login under a new name: one more key among the login failures.
            8 => {
                let body = json!({"name": format!("{}n{k}", self.tag), "password": "wrong"});
                self.post("/api/v1/login", None, body).await;
            }
            _ => self.get(&format!("/api/v1/products/{p}")).await,
        }
    }
}

/// 127.a.b.c for the i-th new address (never 127.0.0.1, the load's own).
fn address(i: u64) -> IpAddr {
    let [_, _, _, _, _, a, b, c] = i.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, 10 + a % 200, b, c))
}

/// The product and the shoppers' cookies, made as `loadgen` makes its crowd.
async fn setup(a: &Args, tag: &str) -> anyhow::Result<(i64, Vec<String>)> {
    sqlx::any::install_default_drivers();
    let db = Db::connect(&a.database_url).await?;
    let product = setup::product(&db, a.units, "Soak").await?;
    let shoppers = setup::shoppers(&db, a.users, &a.secret, tag).await?;
    db.pool.close().await;
    Ok((product, shoppers.into_iter().map(|s| s.cookie).collect()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    // Ends in a letter: the shoppers are found again by `LIKE tag%`, and "soak12" is a prefix of
    // "soak123…".
    let tag = format!("soak{}u", server::now_ms() % 100_000_000);
    eprintln!("soak: creating {} shoppers", a.users);
    let (product, cookies) = setup(&a, &tag).await?;
    anyhow::ensure!(!cookies.is_empty(), "no shoppers were created");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .timeout(Duration::from_secs(10))
        .build()?;
    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        http: http.clone(),
        base: a.base_url.clone(),
        product,
        cookies,
        answer: a.captcha_answer.clone(),
        tag: tag.clone(),
        next: AtomicU64::new(0),
        stats: Stats::new(),
        deadline: start + Duration::from_secs(a.secs),
    });
    eprintln!(
        "soak: {} s, {} connections, {} new addresses/s",
        a.secs, a.concurrency, a.addresses_per_sec
    );

    // The sampler runs through the load and the drain.
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let sampler = {
        let (ctx, samples, pid) = (ctx.clone(), samples.clone(), a.server_pid);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let maps = map_sizes(&ctx.http, &ctx.base).await;
                let Some(rss_kb) = rss_kb(pid) else {
                    eprintln!("soak: the server process {pid} is gone");
                    return;
                };
                let s = Sample {
                    t: start.elapsed().as_secs_f64(),
                    rss_kb,
                    requests: ctx.stats.total(),
                    maps,
                };
                eprintln!(
                    "t={:5.1}s rss={:>7} kB requests={:>8} {:?}",
                    s.t, s.rss_kb, s.requests, s.maps
                );
                if let Ok(mut v) = samples.lock() {
                    v.push(s);
                }
            }
        })
    };

    // New client addresses, each logging in once under a new name (a real password check).
    let addresses = {
        let (ctx, rate) = (ctx.clone(), a.addresses_per_sec.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            let mut i = 0u64;
            let mut tasks = Vec::new();
            while Instant::now() < ctx.deadline {
                tick.tick().await;
                i += 1;
                let ctx = ctx.clone();
                tasks.push(tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .local_address(address(i))
                        .timeout(Duration::from_secs(10))
                        .build();
                    let Ok(client) = client else {
                        ctx.stats.count(0);
                        return;
                    };
                    let body = json!({"name": format!("{}a{i}", ctx.tag), "password": "wrong"});
                    let url = format!("{}/api/v1/login", ctx.base);
                    match client.post(url).json(&body).send().await {
                        Ok(r) => ctx.stats.count(r.status().as_u16()),
                        Err(_) => ctx.stats.count(0),
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            i
        })
    };

    let workers: Vec<_> = (0..a.concurrency)
        .map(|_| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                while Instant::now() < ctx.deadline {
                    let k = ctx.next.fetch_add(1, Ordering::Relaxed);
                    ctx.act(k).await;
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let distinct_addresses = addresses.await.unwrap_or(0);
    let load_secs = start.elapsed().as_secs_f64();
    let requests = ctx.stats.total();
    let end_of_load = samples.lock().map(|v| v.len()).unwrap_or(0);
    eprintln!("soak: load over ({requests} requests in {load_secs:.1} s); waiting for the sweeps");

    // The drain: stop as soon as every map is (nearly) empty again.
    let drained = |m: &BTreeMap<String, i64>| !m.is_empty() && m.values().all(|n| *n <= 1);
    let drain_start = Instant::now();
    while drain_start.elapsed() < Duration::from_secs(a.drain_secs) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let last = samples.lock().ok().and_then(|v| v.last().cloned());
        if last.is_some_and(|s| s.t > load_secs && drained(&s.maps)) {
            break;
        }
    }
    sampler.abort();
    let healthy = http
        .get(format!("{}/healthz", a.base_url))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    // Where the server says its 5xx answers went (by route class), should there be any.
    let metrics = http.get(format!("{}/metrics", a.base_url)).send().await;
    let metrics = match metrics {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let server_5xx: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("flash_http_requests_total") && l.contains("status=\"5"))
        .collect();
    let samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
    anyhow::ensure!(samples.len() >= 3, "too few samples: the server died?");

    // The figures.
    let during: Vec<&Sample> = samples.iter().take(end_of_load.max(1)).collect();
    let mid_t = load_secs / 2.0;
    let mid = during
        .iter()
        .min_by(|x, y| (x.t - mid_t).abs().total_cmp(&(y.t - mid_t).abs()))
        .copied()
        .unwrap_or(&samples[0]);
    let end = during.last().copied().unwrap_or(&samples[0]);
    let last = samples.last().unwrap_or(&samples[0]);
    let peak_rss = samples.iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let mut peak_maps: BTreeMap<String, i64> = BTreeMap::new();
    for s in &samples {
        for (k, v) in &s.maps {
            let e = peak_maps.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
    let growth = end.rss_kb as f64 / mid.rss_kb.max(1) as f64;
    let statuses = ctx.stats.snapshot();
    let answered = |s: usize| ctx.stats.by_status[s].load(Ordering::Relaxed);
    // A 503 is the server saying "try again" (a database read that waited past the purchase
    // path's 3 s on a loaded debug build): backpressure, allowed while rare. Any other 5xx is a
    // fault.
    let server_faults: u64 = (500..600).filter(|&s| s != 503).map(answered).sum();
    let unavailable = answered(503);
    let peak = |k: &str| peak_maps.get(k).copied().unwrap_or(0);
    let checks = json!({
        // The load really filled every map the sweeps must empty (not a vacuous pass).
        "maps_filled": peak("cooldown") > 0 && peak("captchas") > 0 && peak("spent_passes") > 0
            && peak("login_failures") > 0 && peak("login_addresses") > 1
            && peak("rate_limited_clients") > 0,
        "maps_drained": drained(&last.maps),
        "rss_bounded": growth <= a.max_growth,
        "no_5xx_but_rare_503": server_faults == 0 && unavailable * 200 <= requests,
        "server_alive": healthy,
    });
    let passed = checks
        .as_object()
        .is_some_and(|c| c.values().all(|v| v == true));
    let report = json!({
        "label": a.label,
        "duration_s": (load_secs * 10.0).round() / 10.0,
        "concurrency": a.concurrency,
        "requests": requests,
        "requests_per_sec": (requests as f64 / load_secs).round(),
        "statuses": statuses,
        "server_5xx": server_5xx,
        "shoppers": ctx.cookies.len(),
        "distinct_addresses": distinct_addresses,
        "peak_rss_kb": peak_rss,
        "rss_at_mid_kb": mid.rss_kb,
        "rss_end_of_load_kb": end.rss_kb,
        "final_rss_kb": last.rss_kb,
        "rss_growth_second_half": (growth * 1000.0).round() / 1000.0,
        "max_growth": a.max_growth,
        "maps_peak": peak_maps,
        "maps_end_of_load": end.maps,
        "maps_final": last.maps,
        "drain_s": ((last.t - load_secs) * 10.0).round() / 10.0,
        "checks": checks,
        "passed": passed,
        "rss_samples": samples.iter().map(Sample::json).collect::<Vec<_>>(),
    });
    std::fs::write(&a.out, serde_json::to_string_pretty(&report)? + "\n")?;
    let mut summary = report.clone();
    if let Some(o) = summary.as_object_mut() {
        o.remove("rss_samples");
    }
    println!("{}", serde_json::to_string_pretty(&summary)?);
    anyhow::ensure!(passed, "soak checks failed: {}", report["checks"]);
    Ok(())
}
