//! `loadgen`: a flash-sale crowd against a running server, then the books checked in its database.
//! `bench/run.sh` starts what a scenario needs and calls this; see BENCHMARKS.md.

mod cpu;
mod crowd;
mod http;
mod report;
mod setup;
mod wrk;

use clap::Parser;
use crowd::Crowd;
use serde_json::json;
use server::repositories::Db;
use server::services::captcha::Captchas;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

// The server's allocator: the crowd shares the two cores with it, and glibc's malloc was a
// fifth of the load generator's time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lifetime of the passes minted for wrk, far beyond any run.
const PASS_TTL_MS: i64 = 3_600_000;

#[derive(Parser)]
#[command(about = "Sends a crowd of distinct shoppers at one flash sale and checks the books")]
struct Args {
    /// The server, or several (comma-separated: the nodes of a cluster) that share the shoppers.
    #[arg(long, default_value = "http://127.0.0.1:3900", value_delimiter = ',')]
    base_url: Vec<String>,
    /// The server's database, to create the crowd and to check the books.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The server's FLASH_SECRET, to seal the shoppers' cookies.
    #[arg(long, env = "FLASH_SECRET")]
    secret: String,
    /// The server's FLASH_CAPTCHA_TEST_ANSWER (test mode).
    #[arg(long, env = "FLASH_CAPTCHA_TEST_ANSWER")]
    captcha_answer: String,
    #[arg(long)]
    units: i64,
    #[arg(long)]
    users: usize,
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Client timeout of one request, like wrk's.
    #[arg(long, default_value_t = 2.0)]
    timeout_secs: f64,
    #[arg(long)]
    scenario: String,
    /// Where the JSON report goes; the SVG plot goes beside it.
    #[arg(long)]
    out: String,
    /// Only prepare: write a wrk Lua script that sends each shopper's purchase once, then stop.
    #[arg(long)]
    prepare_wrk: bool,
    /// Exit with status 1 when the books are wrong: an oversold unit or a duplicate order.
    #[arg(long)]
    strict: bool,
    /// With --strict: every unit must also have been sold and be in the database.
    #[arg(long)]
    require_sold_out: bool,
    /// Behind a load balancer: the ring's node ids (`FLASH_NODES` order), for the routing cookie
    /// a login on the ring sets (the shoppers' cookies are sealed here, not logged in).
    #[arg(long, value_delimiter = ',')]
    route_cookie_ring: Vec<String>,
    /// The ring's virtual points per node (`FLASH_VNODES`).
    #[arg(long, env = "FLASH_VNODES", default_value_t = 2048)]
    vnodes: u32,
    /// Command names of the processes whose CPU the sale costs (e.g. server,beam.smp,mariadbd):
    /// measured from the first purchase to the last commit, reported per sold unit.
    #[arg(long, value_delimiter = ',')]
    cpu_of: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    sqlx::any::install_default_drivers();
    let db = Db::connect(&a.database_url).await?;
    let tag = format!("{}{}u", a.scenario, server::now_ms());
    eprintln!("setting up: {} units, {} shoppers", a.units, a.users);
    let product = setup::product(&db, a.units, &format!("Bench {}", a.scenario)).await?;
    let mut shoppers = setup::shoppers(&db, a.users, &a.secret, &tag).await?;
    if !a.route_cookie_ring.is_empty() {
        setup::route_cookies(&mut shoppers, &a.route_cookie_ring, a.vnodes);
    }
    let crowd = Crowd {
        targets: a
            .base_url
            .iter()
            .map(|b| http::Target::parse(b))
            .collect::<anyhow::Result<_>>()?,
        product,
        concurrency: a.concurrency,
        timeout: Duration::from_secs_f64(a.timeout_secs),
    };
    if a.prepare_wrk {
        // Passes minted with the server's secret, as the cookies are: wrk measures the purchase
        // alone, and drawing this many captchas over HTTP would take minutes.
        let captchas = Captchas::new(&a.secret, 0, PASS_TTL_MS, None);
        let now = server::now_ms();
        let passes: Vec<_> = shoppers
            .iter()
            .map(|s| captchas.pass_for(s.id, product, now))
            .collect();
        let host = a.base_url[0].trim_start_matches("http://");
        let (raw, width) = wrk::requests(host, product, &shoppers, &passes);
        let requests_path = format!("{}.requests", a.out.trim_end_matches(".lua"));
        std::fs::write(&requests_path, raw)?;
        std::fs::write(&a.out, wrk::script(&requests_path, width))?;
        eprintln!("wrote {} ({} shoppers)", a.out, shoppers.len());
        return Ok(());
    }
    let passes = crowd.passes(&shoppers, &a.captcha_answer).await?;
    let missing = passes.iter().filter(|p| p.is_none()).count();
    let requests = crowd.purchase_requests(&shoppers, passes);

    eprintln!("{} passes ready: the purchases start", requests.len());
    let cpu_before = cpu::snapshot(&a.cpu_of);
    let start = Instant::now();
    let (watcher, expect) = report::watch_commits(&db, product, start);
    let samples = crowd.purchases(requests, start).await?;
    let accepted = samples.iter().filter(|s| s.outcome == "accepted").count() as i64;
    // Seconds from the start to the last answer of those chosen.
    let last_of = |chosen: &dyn Fn(&crowd::Sample) -> bool| {
        samples
            .iter()
            .filter(|s| chosen(s))
            .map(|s| s.at_ms + s.latency_ms)
            .fold(0.0, f64::max)
            / 1000.0
    };
    let sold_out_at = last_of(&|s| s.outcome == "accepted");
    let last_answer = last_of(&|_| true);
    expect.store(accepted, std::sync::atomic::Ordering::Relaxed);
    let commits = watcher.await?;
    let cpu_after = cpu::snapshot(&a.cpu_of);
    let cpu_used = cpu::used_us(&cpu_before, &cpu_after);
    let last_commit = report::last_commit(&commits);
    let books = report::books(&db, product).await?;

    let mut outcomes: BTreeMap<String, i64> = BTreeMap::new();
    for s in &samples {
        *outcomes.entry(s.outcome.clone()).or_default() += 1;
    }
    let mut lat: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
    lat.sort_by(|x, y| x.total_cmp(y));
    let series = report::over_time(&samples, &commits, last_commit);
    let plot_path = a.out.replace(".json", ".svg");
    report::plot(&plot_path, &a.scenario, &series)?;
    let json = json!({
        "scenario": a.scenario,
        "units": a.units,
        "users": a.users,
        "concurrency": a.concurrency,
        "accepted": accepted,
        "orders_in_db": books.orders,
        "duplicates": books.duplicates,
        "oversold": (books.orders - a.units).max(0),
        "stock_left": books.stock_left,
        "lost": (accepted - books.orders).max(0),
        "captcha_failures": missing,
        "seconds_to_sold_out": sold_out_at,
        "seconds_to_last_commit": last_commit,
        "seconds_to_last_answer": last_answer,
        "orders_per_second": if last_commit > 0.0 { books.orders as f64 / last_commit } else { 0.0 },
        "timeouts": outcomes.get("timeout").copied().unwrap_or(0),
        "rate_limited_retries": samples.iter().map(|s| i64::from(s.retries)).sum::<i64>(),
        "outcomes": outcomes,
        "latency_p50_ms": report::percentile(&lat, 0.5),
        "latency_p99_ms": report::percentile(&lat, 0.99),
        "plot": plot_path,
        "timeline": series,
    });
    let mut json = json;
    if !a.cpu_of.is_empty() {
        let total: u64 = cpu_used.values().sum();
        json["cpu_us_by_process"] = json!(cpu_used);
        json["cpu_us_by_role"] = json!(cpu::used_us_by_role(&cpu_before, &cpu_after));
        json["cpu_per_unit_us"] =
            json!((total as f64 / books.orders.max(1) as f64 * 10.0).round() / 10.0);
    }
    std::fs::write(&a.out, serde_json::to_string_pretty(&json)?)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    let mut wrong = Vec::new();
    if a.strict {
        if books.orders > a.units {
            wrong.push(format!(
                "oversold: {} orders for {} units",
                books.orders, a.units
            ));
        }
        if books.duplicates != 0 {
            wrong.push(format!("{} duplicate orders", books.duplicates));
        }
        if a.require_sold_out && books.orders != a.units {
            wrong.push(format!(
                "{} orders in the database, not {}",
                books.orders, a.units
            ));
        }
    }
    if !wrong.is_empty() {
        eprintln!("THE BOOKS ARE WRONG: {}", wrong.join("; "));
        std::process::exit(1);
    }
    Ok(())
}
