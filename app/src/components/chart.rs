use leptos::prelude::*;

const W: f64 = 600.0;
const H: f64 = 160.0;

/// Orders per second as an SVG line over the last `values.len()` seconds, newest on the right.
#[component]
pub fn SalesChart(#[prop(into)] values: Signal<Vec<i64>>) -> impl IntoView {
    let max = move || values.with(|v| v.iter().copied().max().unwrap_or(0).max(1));
    let points = move || {
        values.with(|v| {
            let step = if v.len() > 1 {
                W / (v.len() - 1) as f64
            } else {
                W
            };
            let top = max() as f64;
            v.iter()
                .enumerate()
                .map(|(i, n)| {
                    format!(
                        "{:.1},{:.1}",
                        i as f64 * step,
                        H - (*n as f64 / top) * (H - 10.0)
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {W} {H}")
                preserveAspectRatio="none"
                role="img"
                aria-label="Orders per second over the last minutes"
            >
                <polyline class="chart-line" fill="none" points=points />
            </svg>
            <figcaption class="muted small">
                "Orders per second (peak " {max} "), last " {move || values.with(Vec::len) / 60} " minutes"
            </figcaption>
        </figure>
    }
}
