//! `browsers`: a crowd that behaves like browsers against a running server (`bench/run.sh crowd`
//! starts the server and calls this). The lead sets up the sale, waits for the captcha pool,
//! schedules the pages — opening over `--open-secs` before the start, then idle for
//! `--idle-secs`, clicking within `--click-secs` after it — and runs them in several load
//! processes (`part`), each on its own loopback address: one process may hold at most 20,000
//! open files here, and every page holds a stream. It watches the server's RSS and CPU and the
//! books, then writes the report.

mod lead;
mod page;
mod report;
#[path = "../soak/sample.rs"]
#[allow(dead_code)]
mod sample;
mod seen;
// loadgen's crowd setup; pages keep only the cookies, not the ids.
#[path = "../setup.rs"]
#[allow(dead_code)]
mod setup;

use clap::{Parser, Subcommand};
use page::{Ctx, Plan};
use seen::Seen;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Requests in flight per load process (streams aside).
const IN_FLIGHT: usize = 256;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "A crowd of browsers at one flash sale")]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    Lead(lead::Args),
    Part(PartArgs),
}

/// One load process: its shoppers' pages.
#[derive(clap::Args)]
pub struct PartArgs {
    #[arg(long)]
    base_url: String,
    #[arg(long)]
    product: i64,
    /// The plans of this process's pages, as JSON lines (cookie, open_ms, click_ms, hang_up).
    #[arg(long)]
    plans: String,
    /// The page's files, loaded once by each page.
    #[arg(long, value_delimiter = ',')]
    assets: Vec<String>,
    #[arg(long)]
    answer: String,
    #[arg(long)]
    end_ms: i64,
    /// The loopback address this process connects from.
    #[arg(long)]
    local_ip: std::net::IpAddr,
    #[arg(long)]
    out: String,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().role {
        Role::Lead(a) => tokio::runtime::Runtime::new()?.block_on(lead::run(a)),
        // One thread per process: the crowd is several processes.
        Role::Part(a) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(part(a)),
    }
}

async fn part(a: PartArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .local_address(a.local_ip)
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64)
        // reqwest probes an idle connection every 15 s: thousands of streams that heard the
        // same news at once probed at once, and a burst past the loopback's backlog lost them
        // all (three probes unanswered, ETIMEDOUT). A browser probes far less often.
        .tcp_keepalive(None)
        .build()?;
    let ctx = Arc::new(Ctx {
        http,
        base: a.base_url,
        product: a.product,
        assets: a.assets.into_iter().filter(|s| !s.is_empty()).collect(),
        answer: a.answer,
        end_ms: a.end_ms,
        seen: Mutex::new(Seen::default()),
        in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
    });
    let plans: Vec<Plan> = std::fs::read_to_string(&a.plans)?
        .lines()
        .map(lead::parse_plan)
        .collect::<anyhow::Result<_>>()?;
    let pages: Vec<_> = plans
        .into_iter()
        .map(|p| tokio::spawn(page::browse(ctx.clone(), p)))
        .collect();
    for p in pages {
        let _ = p.await;
    }
    let seen = std::mem::take(&mut *ctx.seen.lock().unwrap());
    std::fs::write(&a.out, serde_json::to_string(&seen)?)?;
    Ok(())
}
