//! The books after the sale (straight from the database) and the report: JSON and an SVG plot
//! of orders per second and latency over time.

use crate::crowd::Sample;
use plotters::prelude::*;
use server::repositories::Db;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
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

/// Orders committed so far: the product's `sold`, raised in the same transaction as the rows
/// go in. A primary-key read: counting the orders (as `books` does) 50 times a second scanned
/// up to 100,000 index entries each time and took MariaDB's CPU from the consumer it measured.
async fn committed(db: &Db, product: i64) -> anyhow::Result<i64> {
    let p = server::repositories::products::get(db, product)
        .await?
        .ok_or_else(|| anyhow::anyhow!("product gone"))?;
    Ok(p.sold)
}

/// When the last order was committed: the first sample of the watcher that saw the final count
/// (to within its sampling interval). Read from the samples, not from a poll started after the
/// crowd: the crowd's last answers (the losers', after the sale) came in after the last commit,
/// and counting from its end reported the end of the crowd instead.
pub fn last_commit(commits: &[(f64, i64)]) -> f64 {
    let Some(&(_, last)) = commits.last() else {
        return 0.0;
    };
    commits
        .iter()
        .find(|(_, n)| *n == last)
        .map_or(0.0, |(t, _)| *t)
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Counts the product's orders in the database every 10 ms from `start`: (seconds since
/// `start`, orders), for `last_commit` and the "committed per second" line of the plot. Runs until
/// it is told how many orders to expect (through the returned cell; `i64::MAX` until then) and
/// the database holds them, or, after that, the count has not changed for 5 s or 5 minutes
/// have passed.
pub fn watch_commits(
    db: &Db,
    product: i64,
    start: Instant,
) -> (tokio::task::JoinHandle<Vec<(f64, i64)>>, Arc<AtomicI64>) {
    let expected = Arc::new(AtomicI64::new(i64::MAX));
    let (db, target) = (db.clone(), expected.clone());
    let task = tokio::spawn(async move {
        let mut seen: Vec<(f64, i64)> = Vec::new();
        let (mut changed_at, mut told_at) = (Instant::now(), None::<Instant>);
        loop {
            let told = target.load(Ordering::Relaxed);
            if told != i64::MAX && told_at.is_none() {
                told_at = Some(Instant::now());
            }
            if let Ok(n) = committed(&db, product).await {
                if seen.last().is_none_or(|&(_, last)| last != n) {
                    changed_at = Instant::now();
                }
                seen.push((start.elapsed().as_secs_f64(), n));
                if n >= told {
                    break;
                }
            }
            // Quiet or overdue, counted from when the crowd was done at the earliest.
            if let Some(t) = told_at {
                let quiet = t.max(changed_at).elapsed() > Duration::from_secs(5);
                if quiet || t.elapsed() > Duration::from_secs(300) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen
    });
    (task, expected)
}

/// One time step of the plot (and of the report's `timeline`).
#[derive(serde::Serialize)]
pub struct Point {
    /// End of the step, seconds since the first purchase.
    pub t: f64,
    pub accepted_per_sec: f64,
    pub committed_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The run cut into time steps (0.1 s for short runs, up to 1 s for long ones), until `end`
/// seconds: accepted answers and committed orders per second, and the p50 and p99 latency of the
/// answers that came in each step.
pub fn over_time(samples: &[Sample], commits: &[(f64, i64)], end: f64) -> Vec<Point> {
    let end_ms = samples
        .iter()
        .map(|s| s.at_ms + s.latency_ms)
        .fold(end * 1000.0, f64::max);
    // About 60 steps or more, never finer than 100 ms.
    let step_ms = (end_ms / 60.0).clamp(100.0, 1000.0);
    let mut by_step: BTreeMap<u32, (f64, Vec<f64>)> = BTreeMap::new();
    for s in samples {
        let step = ((s.at_ms + s.latency_ms) / step_ms) as u32;
        let e = by_step.entry(step).or_default();
        if s.outcome == "accepted" {
            e.0 += 1.0;
        }
        e.1.push(s.latency_ms);
    }
    // Orders in the database at time t (the last count seen at or before t).
    let committed_at = |t: f64| {
        commits
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(0, |c| c.1)
    };
    let last = (end_ms / step_ms).ceil() as u32;
    (0..last)
        .map(|step| {
            let (acc, mut lat) = by_step.remove(&step).unwrap_or_default();
            lat.sort_by(|a, b| a.total_cmp(b));
            let (t0, t) = (
                f64::from(step) * step_ms / 1000.0,
                f64::from(step + 1) * step_ms / 1000.0,
            );
            let per_sec = 1000.0 / step_ms;
            Point {
                t,
                accepted_per_sec: acc * per_sec,
                committed_per_sec: (committed_at(t) - committed_at(t0)) as f64 * per_sec,
                p50_ms: percentile(&lat, 0.5),
                p99_ms: percentile(&lat, 0.99),
            }
        })
        .collect()
}

pub fn plot(path: &str, title: &str, series: &[Point]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(300);
    let secs = series.last().map_or(1.0, |p| p.t);
    let max_orders = series
        .iter()
        .map(|p| p.accepted_per_sec.max(p.committed_per_sec))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&top)
        .caption(format!("{title}: orders per second"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..secs, 0f64..max_orders * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the first purchase")
        .y_desc("orders/s")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            series.iter().map(|p| (p.t, p.accepted_per_sec)),
            &RED,
        ))?
        .label("accepted (202)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .draw_series(LineSeries::new(
            series.iter().map(|p| (p.t, p.committed_per_sec)),
            &GREEN,
        ))?
        .label("committed in MariaDB")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    let max_lat = series.iter().map(|p| p.p99_ms).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "purchase latency (ms), answers of each step",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..secs, 0f64..max_lat * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the first purchase")
        .y_desc("ms")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            series
                .iter()
                .filter(|p| p.p99_ms > 0.0)
                .map(|p| (p.t, p.p50_ms)),
            &BLUE,
        ))?
        .label("p50")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            series
                .iter()
                .filter(|p| p.p99_ms > 0.0)
                .map(|p| (p.t, p.p99_ms)),
            &MAGENTA,
        ))?
        .label("p99")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MAGENTA));
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::last_commit;

    #[test]
    fn the_last_commit_is_when_the_final_count_was_first_seen() {
        let commits = [
            (0.01, 0),
            (0.5, 400),
            (1.0, 1000),
            (1.01, 1000),
            (6.0, 1000),
        ];
        assert_eq!(last_commit(&commits), 1.0);
        assert_eq!(last_commit(&[(0.01, 0), (0.02, 0)]), 0.01);
        assert_eq!(last_commit(&[]), 0.0);
    }
}
