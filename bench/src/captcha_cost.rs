//! `captcha-cost`: what one captcha costs the server, drawn while the shopper waits against
//! answered from the pool drawn ahead (`bench/run.sh captcha`). Prints JSON.

use serde_json::json;
use server::services::captcha::{draw, Captchas, Pool};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N: usize = 400;

fn micros(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (mean, at(0.5), at(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut drawn = Vec::with_capacity(N);
    let mut bytes = 0;
    for _ in 0..N {
        let t = Instant::now();
        let d = draw()?;
        drawn.push(t.elapsed().as_secs_f64() * 1e6);
        bytes += d.png_base64.len();
    }
    let pool = Pool::new(N, 2);
    let captchas = Captchas::new("captcha-cost-secret-captcha-cost-xx", 60_000, 60_000, None)
        .with_pool(pool.clone(), false);
    captchas.prepare(server::now_ms());
    let filling = Instant::now();
    while pool.len() < N && filling.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fill_secs = filling.elapsed().as_secs_f64();
    let mut pooled = Vec::with_capacity(N);
    for i in 0..N {
        let t = Instant::now();
        let issued = captchas.issue_ready(i as i64, 1, 0)?;
        pooled.push(t.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(issued.is_some(), "the pool ran dry after {i}");
    }
    let (d_mean, d_p50, d_p99) = micros(drawn);
    let (p_mean, p_p50, p_p99) = micros(pooled);
    let out = json!({
        "scenario": "captcha",
        "drawings": N,
        "draw_us_mean": d_mean.round(),
        "draw_us_p50": d_p50.round(),
        "draw_us_p99": d_p99.round(),
        "drawing_base64_bytes": bytes / N,
        "pool_fill_secs_two_threads": (fill_secs * 100.0).round() / 100.0,
        "pooled_answer_us_mean": (p_mean * 10.0).round() / 10.0,
        "pooled_answer_us_p50": (p_p50 * 10.0).round() / 10.0,
        "pooled_answer_us_p99": (p_p99 * 10.0).round() / 10.0,
        "pooled_vs_drawn": (d_mean / p_mean).round(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
