//! The books after the sale (straight from the database) and the report: JSON and an SVG plot
//! of orders per second and latency over time.

use crate::crowd::Sample;
use plotters::prelude::*;
use server::repositories::Db;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub struct Books {
    pub orders: i64,
    pub duplicates: i64,
    pub stock_left: i64,
}

pub async fn books(db: &Db, product: i64) -> anyhow::Result<Books> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS buyers FROM orders WHERE product_id = ?",
    )
    .bind(product)
    .fetch_one(&db.pool)
    .await?;
    let (n, buyers): (i64, i64) = (
        sqlx::Row::try_get(&row, "n")?,
        sqlx::Row::try_get(&row, "buyers")?,
    );
    let p = server::repositories::products::get(db, product)
        .await?
        .ok_or_else(|| anyhow::anyhow!("product gone"))?;
    Ok(Books {
        orders: n,
        duplicates: n - buyers,
        stock_left: p.stock - p.sold,
    })
}

/// Waits until the database holds `expected` orders (or stops changing for 5 s, or 5 minutes
/// pass); returns the time since `start` at which the last one had arrived.
pub async fn last_commit(
    db: &Db,
    product: i64,
    expected: i64,
    start: Instant,
) -> anyhow::Result<f64> {
    let (mut seen, mut changed_at) = (-1, start.elapsed());
    let deadline = start.elapsed() + Duration::from_secs(300);
    loop {
        let n = books(db, product).await?.orders;
        if n != seen {
            (seen, changed_at) = (n, start.elapsed());
        }
        let quiet = start.elapsed() - changed_at > Duration::from_secs(5);
        if n >= expected || quiet || start.elapsed() > deadline {
            return Ok(changed_at.as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Per second of the run: (accepted answers, p50 ms, p99 ms).
pub fn per_second(samples: &[Sample]) -> Vec<(u32, f64, f64, f64)> {
    let mut by_sec: BTreeMap<u32, (f64, Vec<f64>)> = BTreeMap::new();
    for s in samples {
        let sec = ((s.at_ms + s.latency_ms) / 1000.0) as u32;
        let e = by_sec.entry(sec).or_default();
        if s.outcome == "accepted" {
            e.0 += 1.0;
        }
        e.1.push(s.latency_ms);
    }
    let last = by_sec.keys().last().copied().unwrap_or(0);
    (0..=last)
        .map(|sec| {
            let (acc, mut lat) = by_sec.remove(&sec).unwrap_or_default();
            lat.sort_by(|a, b| a.total_cmp(b));
            (sec, acc, percentile(&lat, 0.5), percentile(&lat, 0.99))
        })
        .collect()
}

pub fn plot(path: &str, title: &str, series: &[(u32, f64, f64, f64)]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(300);
    let secs = series.len().max(1) as u32;
    let max_orders = series.iter().map(|s| s.1).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("{title}: accepted orders per second"),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0u32..secs, 0f64..max_orders * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("second")
        .y_desc("orders/s")
        .draw()?;
    chart.draw_series(LineSeries::new(series.iter().map(|s| (s.0, s.1)), &RED))?;
    let max_lat = series.iter().map(|s| s.3).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&bottom)
        .caption("purchase latency (ms)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0u32..secs, 0f64..max_lat * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("second")
        .y_desc("ms")
        .draw()?;
    chart
        .draw_series(LineSeries::new(series.iter().map(|s| (s.0, s.2)), &BLUE))?
        .label("p50")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(series.iter().map(|s| (s.0, s.3)), &MAGENTA))?
        .label("p99")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MAGENTA));
    chart.configure_series_labels().border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}
