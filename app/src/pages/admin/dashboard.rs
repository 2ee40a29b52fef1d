use super::AdminShell;
use crate::api::sale_dashboard;
use crate::components::chart::SalesChart;
use crate::components::clock::poll_into;
use crate::model::Dashboard;
use crate::pages::not_found::ErrorPanel;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// Seconds of history the chart shows.
const CHART_SECS: usize = 180;

/// The live view of one sale: rendered on the server, then refreshed every second.
#[component]
pub fn AdminDashboardPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let first = Resource::new(id, sale_dashboard);
    view! {
        <AdminShell title="Admin · Live sale">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match first.await {
                        Ok(d) => view! { <Live initial=d /> }.into_any(),
                        Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </AdminShell>
    }
}

/// Refreshed every second in the browser.
#[island(lazy)]
fn Live(initial: Dashboard) -> impl IntoView {
    let id = initial.product_id;
    let data = RwSignal::new(initial);
    poll_into(data, 1_000, move || sale_dashboard(id));
    let chart = Signal::derive(move || {
        data.with(|d| {
            let v = &d.orders_per_second;
            v[v.len().saturating_sub(CHART_SECS)..].to_vec()
        })
    });
    let stat = move |f: fn(&Dashboard) -> String| move || data.with(f);
    view! {
        <h1>{move || data.with(|d| d.product_name.clone())}</h1>
        <div class="stats" data-testid="dashboard">
            <Stat label="Sold" testid="dash-sold" value=stat(|d| d.sold.to_string()) />
            <Stat label="Left" testid="dash-left" value=stat(|d| d.left.to_string()) />
            <Stat label="Stock" testid="dash-stock" value=stat(|d| d.stock.to_string()) />
            <Stat label="Reserved (unpaid)" testid="dash-reserved" value=stat(|d| d.reserved.to_string()) />
            <Stat label="Paid" testid="dash-paid" value=stat(|d| d.paid.to_string()) />
            <Stat label="Expired / cancelled" testid="dash-expired" value=stat(|d| format!("{} / {}", d.expired, d.cancelled)) />
            <Stat label="Queue depth" testid="dash-queue" value=stat(|d| d.queue_depth.to_string()) />
            <Stat label="Consumer lag" testid="dash-lag" value=stat(|d| d.consumer_lag.to_string()) />
            <Stat label="Dead letters" testid="dash-dead" value=stat(|d| match d.dead_letters {
                n if n < 0 => "unknown".to_string(),
                n => n.to_string(),
            }) />
            <Stat label="p50 / p99 latency" testid="dash-latency" value=stat(|d| format!("{:.1} / {:.1} ms", d.p50_ms, d.p99_ms)) />
        </div>
        <SalesChart values=chart />
        <h2>"Refusals by reason"</h2>
        <table class="orders" data-testid="dash-refusals">
            <thead>
                <tr>
                    <th scope="col">"Code"</th>
                    <th scope="col">"Count"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || data.with(|d| d.refusals.clone()) key=|r| (r.code.clone(), r.count) let:r>
                    <tr>
                        <td class="mono">{r.code}</td>
                        <td>{r.count}</td>
                    </tr>
                </For>
            </tbody>
        </table>
    }
}

#[component]
fn Stat(
    label: &'static str,
    testid: &'static str,
    value: impl Fn() -> String + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="stat">
            <span class="stat-label">{label}</span>
            <strong class="stat-value" data-testid=testid>{value}</strong>
        </div>
    }
}
