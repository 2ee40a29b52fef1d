//! The lead: the sale and its shoppers, the schedule, the load processes, and what the server
//! spent meanwhile.

use super::page::{now_ms, Plan};
use super::report::{self, Books, Sample};
use super::seen::Seen;
use super::{sample, setup};
use server::repositories::Db;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3900")]
    pub base_url: String,
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    #[arg(long, env = "FLASH_SECRET")]
    pub secret: String,
    #[arg(long, env = "FLASH_CAPTCHA_TEST_ANSWER")]
    pub captcha_answer: String,
    #[arg(long)]
    pub pages: usize,
    #[arg(long)]
    pub units: i64,
    #[arg(long, default_value_t = 30.0)]
    pub open_secs: f64,
    /// All pages open and waiting: what idle pages cost is measured here.
    #[arg(long, default_value_t = 30.0)]
    pub idle_secs: f64,
    #[arg(long, default_value_t = 2.0)]
    pub click_secs: f64,
    #[arg(long, default_value_t = 2.0)]
    pub hangup_percent: f64,
    /// The longest the pages stay open after the clicks; each leaves 3 s after it heard
    /// "sold out". With the buckets at their defaults the crowd takes about a minute to sell.
    #[arg(long, default_value_t = 120.0)]
    pub linger_secs: f64,
    #[arg(long, default_value_t = 4_000)]
    pub pages_per_process: usize,
    /// One page in this many loads the page's files (1: every page, as browsers with an empty
    /// cache; more for debug builds, whose Wasm is ten times larger).
    #[arg(long, default_value_t = 1)]
    pub assets_every: usize,
    /// The server's process, for its RSS and CPU.
    #[arg(long)]
    pub server_pid: u32,
    /// Longest wait for the captcha pool to fill before the pages open.
    #[arg(long, default_value_t = 300.0)]
    pub pool_wait_secs: f64,
    #[arg(long)]
    pub out: String,
    /// Exit 1 when the books are wrong, a page load or stream open was answered 429, or a page
    /// did not see "sold out".
    #[arg(long)]
    pub strict: bool,
}

pub fn parse_plan(line: &str) -> anyhow::Result<Plan> {
    let v: serde_json::Value = serde_json::from_str(line)?;
    Ok(Plan {
        cookie: v["cookie"].as_str().unwrap_or_default().to_string(),
        open_ms: v["open_ms"].as_i64().unwrap_or_default(),
        click_ms: v["click_ms"].as_i64().unwrap_or_default(),
        hang_up: v["hang_up"].as_bool().unwrap_or(false),
        assets: v["assets"].as_bool().unwrap_or(true),
    })
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let db = Db::connect(&a.database_url).await?;
    let http = reqwest::Client::new();
    let product = setup::product(&db, a.units, "Crowd").await?;
    // Upcoming, inside its preview: the page shows a countdown and the pool fills.
    let soon = now_ms() + 10 * 60_000;
    schedule(&db, product, soon).await?;
    let tag = format!("crowd{}u", now_ms());
    eprintln!("setting up: {} units, {} shoppers", a.units, a.pages);
    let shoppers = setup::shoppers(&db, a.pages, &a.secret, &tag).await?;
    let pool_secs = wait_for_pool(&http, &a).await;
    let assets = page_files(&http, &a.base_url, product).await?;
    eprintln!("captcha pool ready in {pool_secs:.1} s; page files: {assets:?}");

    let ms = |s: f64| (s * 1000.0) as i64;
    let t0 = now_ms() + 2_000;
    let opened = t0 + ms(a.open_secs);
    let start = opened + ms(a.idle_secs);
    let end = start + ms(a.click_secs) + ms(a.linger_secs);
    schedule(&db, product, start).await?;
    let dir = PathBuf::from(&a.out).with_extension("parts");
    std::fs::create_dir_all(&dir)?;
    let parts = a.pages.div_ceil(a.pages_per_process.max(1)).max(1);
    let mut plans = vec![String::new(); parts];
    for (i, s) in shoppers.iter().enumerate() {
        let plan = serde_json::json!({
            "cookie": s.cookie,
            "open_ms": t0 + rand_below(ms(a.open_secs)),
            "click_ms": start + rand_below(ms(a.click_secs)),
            "hang_up": rand::random::<f64>() * 100.0 < a.hangup_percent,
            "assets": i % a.assets_every.max(1) == 0,
        });
        plans[i % parts].push_str(&format!("{plan}\n"));
    }
    let mut children = Vec::new();
    for (k, p) in plans.iter().enumerate() {
        let plan_file = dir.join(format!("plans-{k}.jsonl"));
        std::fs::write(&plan_file, p)?;
        children.push((spawn_part(&a, k, product, &assets, &plan_file, end)?, k));
    }

    let done = Arc::new(AtomicBool::new(false));
    let watch = tokio::spawn(watch_server(a.server_pid, a.base_url.clone(), done.clone()));
    let sold_out = tokio::spawn(watch_sold_out(db.clone(), product, a.units, end));
    let mut seen = Seen::default();
    for (mut c, k) in children {
        let status = tokio::task::spawn_blocking(move || c.wait()).await??;
        if !status.success() {
            anyhow::bail!("load process {k} failed: {status}");
        }
        let part: Seen = serde_json::from_str(&std::fs::read_to_string(part_out(&dir, k))?)?;
        seen.merge(part);
    }
    done.store(true, Ordering::Release);
    let samples = watch.await?;
    let last_sold = sold_out.await?;
    let books = books(&db, product).await?;
    let t = report::Times {
        t0,
        opened,
        start,
        end,
        last_sold,
        pool_secs,
    };
    let setup = serde_json::json!({
        "open_s": a.open_secs, "idle_s": a.idle_secs, "click_s": a.click_secs,
        "linger_s": a.linger_secs, "hangup_percent": a.hangup_percent,
        "assets_every": a.assets_every, "pages_per_process": a.pages_per_process,
    });
    let json = report::summary(a.units, setup, &seen, &samples, &t, books);
    report::plot(&a.out.replace(".json", ".svg"), &seen, &samples, &t)?;
    std::fs::write(&a.out, serde_json::to_string_pretty(&json)?)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    if a.strict {
        let wrong = report::verdict(&json);
        if !wrong.is_empty() {
            eprintln!("THE CROWD SAW WHAT IT SHOULD NOT: {}", wrong.join("; "));
            std::process::exit(1);
        }
    }
    Ok(())
}

fn rand_below(ms: i64) -> i64 {
    (rand::random::<u64>() % ms.max(1) as u64) as i64
}

async fn schedule(db: &Db, product: i64, start: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE products SET sale_start = ?, sale_end = ? WHERE id = ?")
        .bind(start)
        .bind(start + 3_600_000)
        .bind(product)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Until the pool holds a drawing per page, or stops growing; the seconds it took.
async fn wait_for_pool(http: &reqwest::Client, a: &Args) -> f64 {
    let started = Instant::now();
    let (mut last, mut still) = (-1, Instant::now());
    while started.elapsed().as_secs_f64() < a.pool_wait_secs {
        let n = sample::map_sizes(http, &a.base_url)
            .await
            .get("captcha_pool")
            .copied()
            .unwrap_or(0);
        if n as usize >= a.pages {
            break;
        }
        if n != last {
            (last, still) = (n, Instant::now());
        } else if n > 0 && still.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    started.elapsed().as_secs_f64()
}

/// The `/pkg/…` files the product page links to (its Wasm, JS and CSS).
async fn page_files(
    http: &reqwest::Client,
    base: &str,
    product: i64,
) -> anyhow::Result<Vec<String>> {
    let html = http
        .get(format!("{base}/product/{product}"))
        .send()
        .await?
        .text()
        .await?;
    let mut files: Vec<String> = html
        .match_indices("\"/pkg/")
        .filter_map(|(i, _)| {
            let rest = &html[i + 1..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

fn part_out(dir: &Path, k: usize) -> PathBuf {
    dir.join(format!("seen-{k}.json"))
}

fn spawn_part(
    a: &Args,
    k: usize,
    product: i64,
    assets: &[String],
    plans: &Path,
    end: i64,
) -> anyhow::Result<std::process::Child> {
    let dir = plans.parent().unwrap_or(Path::new("."));
    Ok(std::process::Command::new(std::env::current_exe()?)
        .arg("part")
        .args(["--base-url", &a.base_url])
        .args(["--product", &product.to_string()])
        .arg("--plans")
        .arg(plans)
        .args(["--assets", &assets.join(",")])
        .args(["--answer", &a.captcha_answer])
        .args(["--end-ms", &end.to_string()])
        .args(["--local-ip", &format!("127.0.0.{}", 10 + k)])
        .arg("--out")
        .arg(part_out(dir, k))
        .spawn()?)
}

/// The server's RSS and CPU, the host's idle CPU, and the open streams, every 250 ms until the
/// crowd is gone.
async fn watch_server(pid: u32, base: String, done: Arc<AtomicBool>) -> Vec<Sample> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut streams = 0;
    while !done.load(Ordering::Acquire) {
        tick.tick().await;
        if out.len() % 4 == 0 {
            streams = sample::map_sizes(&http, &base)
                .await
                .get("live_streams")
                .copied()
                .unwrap_or(streams);
        }
        out.push(Sample {
            at_ms: now_ms(),
            rss_kb: sample::rss_kb(pid).unwrap_or(0),
            cpu_ticks: report::cpu_ticks(pid).unwrap_or(0),
            host: report::host_ticks().unwrap_or_default(),
            streams,
        });
    }
    out
}

/// When the database first held every unit sold (Unix ms; 0 if it never did before `end`).
async fn watch_sold_out(db: Db, product: i64, units: i64, end: i64) -> i64 {
    while now_ms() < end + 10_000 {
        if let Ok(Some(p)) = server::repositories::products::get(&db, product).await {
            if p.sold >= units {
                return now_ms();
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    0
}

async fn books(db: &Db, product: i64) -> anyhow::Result<Books> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS buyers FROM orders WHERE product_id = ?",
    )
    .bind(product)
    .fetch_one(&db.pool)
    .await?;
    Ok(Books {
        orders: sqlx::Row::try_get(&row, "n")?,
        buyers: sqlx::Row::try_get(&row, "buyers")?,
    })
}
