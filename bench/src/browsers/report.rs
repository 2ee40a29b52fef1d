//! What the crowd saw and what the server spent, as JSON and a plot.

use super::seen::Seen;
use plotters::prelude::*;
use serde_json::{json, Value};

/// One look at the server.
pub struct Sample {
    pub at_ms: i64,
    pub rss_kb: u64,
    /// utime + stime of the server, in clock ticks.
    pub cpu_ticks: u64,
    /// The host's (busy, idle) ticks over all cores.
    pub host: (u64, u64),
    pub streams: i64,
}

/// The product's orders as the database has them.
pub struct Books {
    pub orders: i64,
    pub buyers: i64,
}

/// The schedule (Unix ms) and what the lead timed.
pub struct Times {
    pub t0: i64,
    pub opened: i64,
    pub start: i64,
    pub end: i64,
    /// When the database first held every unit sold (0: never).
    pub last_sold: i64,
    pub pool_secs: f64,
}

/// Linux's USER_HZ: /proc reports CPU time in hundredths of a second.
const TICKS_PER_SEC: f64 = 100.0;

pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

pub fn host_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = cpu.get(3)? + cpu.get(4).unwrap_or(&0);
    Some((cpu.iter().sum::<u64>() - idle, idle))
}

fn percentile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// The sample nearest to `at`.
fn at(samples: &[Sample], at: i64) -> Option<&Sample> {
    samples.iter().min_by_key(|s| (s.at_ms - at).abs())
}

/// Server CPU (cores) and host idle share between two moments.
fn spent(samples: &[Sample], from: i64, to: i64) -> (f64, f64) {
    let (Some(a), Some(b)) = (at(samples, from), at(samples, to)) else {
        return (0.0, 0.0);
    };
    let secs = (b.at_ms - a.at_ms) as f64 / 1000.0;
    if secs <= 0.0 {
        return (0.0, 0.0);
    }
    let cores = (b.cpu_ticks.saturating_sub(a.cpu_ticks)) as f64 / TICKS_PER_SEC / secs;
    let busy = b.host.0.saturating_sub(a.host.0) as f64;
    let idle = b.host.1.saturating_sub(a.host.1) as f64;
    (
        cores,
        if busy + idle > 0.0 {
            idle / (busy + idle)
        } else {
            0.0
        },
    )
}

fn r(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

/// The report; `setup` (the sale's size and the schedule asked for) goes in as it is.
pub fn summary(
    units: i64,
    setup: Value,
    seen: &Seen,
    samples: &[Sample],
    t: &Times,
    books: Books,
) -> Value {
    let streams_open = seen.answers.get("stream 200").copied().unwrap_or(0);
    // Idle: once the last pages have loaded (10 s after the last opened, or half the wait) to
    // half a second before the start.
    let settle = 10_000.min((t.start - t.opened) / 2);
    let (idle_from, idle_to) = (t.opened + settle, t.start - 500);
    let (idle_cores, idle_host) = spent(samples, idle_from, idle_to);
    let rss = |when| at(samples, when).map_or(0, |s| s.rss_kb);
    let (rss_before, rss_open) = (rss(t.t0 - 250), rss(idle_to));
    let per_page = |x: f64| {
        if streams_open > 0 {
            x / streams_open as f64
        } else {
            0.0
        }
    };
    let sale_end = if t.last_sold > 0 { t.last_sold } else { t.end };
    let (sale_cores, sale_host) = spent(samples, t.start, sale_end);
    let seen_after: Vec<f64> = seen
        .sold_out_seen_at
        .iter()
        .map(|s| ((s - t.last_sold) as f64 / 1000.0).max(0.0))
        .collect();
    let missed = streams_open.saturating_sub(seen.sold_out_seen_at.len() as u64);
    // Pages that never saw it count as never: the p99 is then the worst.
    let soldout_p99 = if t.last_sold == 0 || missed as f64 > 0.01 * streams_open as f64 {
        f64::INFINITY
    } else {
        percentile(&seen_after, 0.99)
    };
    let pages_per_10k = if streams_open > 0 {
        10_000.0 / streams_open as f64
    } else {
        0.0
    };
    json!({
        "scenario": "crowd",
        "open_pages": streams_open,
        "pages": seen.pages,
        "units": units,
        "orders_in_db": books.orders,
        "duplicates": books.orders - books.buyers,
        "oversold": (books.orders - units).max(0),
        "accepted_answers": seen.accepted_at.len(),
        "hangups": seen.hangups,
        "refused_429": seen.refused_429,
        "streams_lost": seen.streams_lost,
        "soldout_seen_p99_s": if soldout_p99.is_finite() { json!(r(soldout_p99, 3)) } else { json!(null) },
        "soldout_seen_max_s": r(seen_after.iter().copied().fold(0.0, f64::max), 3),
        "pages_that_saw_sold_out": seen.sold_out_seen_at.len(),
        "seconds_to_sold_out": if t.last_sold > 0 { json!(r((t.last_sold - t.start) as f64 / 1000.0, 3)) } else { json!(null) },
        "page_load_p50_ms": r(percentile(&seen.page_load_ms, 0.5), 1),
        "page_load_p99_ms": r(percentile(&seen.page_load_ms, 0.99), 1),
        "asset_mb": r(seen.asset_bytes as f64 / 1e6, 1),
        "captcha_p50_ms": r(percentile(&seen.captcha_ms, 0.5), 1),
        "captcha_p99_ms": r(percentile(&seen.captcha_ms, 0.99), 1),
        "captchas": seen.captcha_ms.len(),
        "purchase_p50_ms": r(percentile(&seen.purchase_ms, 0.5), 1),
        "purchase_p99_ms": r(percentile(&seen.purchase_ms, 0.99), 1),
        "orders_told_on_stream": seen.orders_told_on_stream,
        "captcha_pool_fill_s": r(t.pool_secs, 1),
        "rss_before_pages_mb": r(rss_before as f64 / 1024.0, 1),
        "rss_pages_open_mb": r(rss_open as f64 / 1024.0, 1),
        "rss_per_page_kb": r(per_page(rss_open.saturating_sub(rss_before) as f64), 2),
        "idle_server_cpu_percent": r(idle_cores * 100.0, 2),
        "idle_cpu_percent_per_10k_pages": r(idle_cores * 100.0 * pages_per_10k, 2),
        "idle_host_idle_percent": r(idle_host * 100.0, 1),
        "sale_server_cpu_percent": r(sale_cores * 100.0, 1),
        "sale_host_idle_percent": r(sale_host * 100.0, 1),
        "answers": seen.answers,
        "setup": setup,
    })
}

/// What a strict run refuses.
pub fn verdict(j: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let n = |k: &str| j[k].as_i64().unwrap_or(-1);
    if n("oversold") != 0 || n("duplicates") != 0 {
        wrong.push(format!(
            "oversold {} duplicates {}",
            n("oversold"),
            n("duplicates")
        ));
    }
    if n("orders_in_db") != n("units") {
        wrong.push(format!(
            "{} orders for {} units",
            n("orders_in_db"),
            n("units")
        ));
    }
    if n("refused_429") != 0 {
        wrong.push(format!(
            "{} page loads or stream opens answered 429",
            n("refused_429")
        ));
    }
    if j["soldout_seen_p99_s"].is_null() {
        wrong.push("not every open page heard \"sold out\"".into());
    }
    if n("open_pages") != n("pages") {
        wrong.push(format!(
            "{} of {} pages held a stream",
            n("open_pages"),
            n("pages")
        ));
    }
    wrong
}

/// Open streams and the pages that have heard "sold out", over time from the start of the sale.
pub fn plot(path: &str, seen: &Seen, samples: &[Sample], t: &Times) -> anyhow::Result<()> {
    let secs = |ms: i64| (ms - t.start) as f64 / 1000.0;
    let streams: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (secs(s.at_ms), s.streams as f64))
        .collect();
    let mut heard: Vec<i64> = seen.sold_out_seen_at.clone();
    heard.sort_unstable();
    let heard: Vec<(f64, f64)> = heard
        .iter()
        .enumerate()
        .map(|(i, at)| (secs(*at), (i + 1) as f64))
        .collect();
    let (x0, x1) = (secs(t.t0), secs(t.end) + 2.0);
    let top = streams.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "crowd: open pages and \"sold out\" heard",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds from the start of the sale")
        .y_desc("pages")
        .draw()?;
    chart
        .draw_series(LineSeries::new(streams, &BLUE))?
        .label("open streams")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    chart
        .draw_series(LineSeries::new(heard, &RED))?
        .label("pages that heard \"sold out\"")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    if t.last_sold > 0 {
        let x = secs(t.last_sold);
        chart
            .draw_series(LineSeries::new(vec![(x, 0.0), (x, top)], &BLACK))?
            .label("last unit sold")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
