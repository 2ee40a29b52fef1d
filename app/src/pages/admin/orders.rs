use super::AdminShell;
use crate::api::admin_orders;
use crate::model::{OrderFilter, OrderStatus};
use crate::pages::not_found::ErrorPanel;
use crate::time::format_utc;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Orders, filtered by product, status and user through the query string (so a filtered view
/// is a link), fifty a page, with a CSV export of the same filter.
#[component]
pub fn AdminOrdersPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        let text = |k: &str| {
            q.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        OrderFilter {
            product_id: text("product_id").and_then(|v| v.parse().ok()),
            status: text("status").as_deref().and_then(OrderStatus::parse),
            user: text("user"),
            page: text("page").and_then(|v| v.parse().ok()),
        }
    };
    let orders = Resource::new(filter, admin_orders);
    let link = move |page: i64| {
        let f = filter();
        let mut parts = vec![format!("page={page}")];
        if let Some(p) = f.product_id {
            parts.push(format!("product_id={p}"));
        }
        if let Some(s) = f.status {
            parts.push(format!("status={}", s.as_str()));
        }
        if let Some(u) = f.user {
            parts.push(format!("user={u}"));
        }
        parts.join("&")
    };
    view! {
        <AdminShell title="Admin · Orders">
            <h1>"Orders"</h1>
            <form method="get" action="" class="filters">
                <label for="f-product">"Product id"</label>
                <input id="f-product" name="product_id" inputmode="numeric" value=move || filter().product_id.map(|p| p.to_string()) />
                <label for="f-status">"Status"</label>
                <select id="f-status" name="status">
                    <option value="">"any"</option>
                    {[OrderStatus::Reserved, OrderStatus::Paid, OrderStatus::Expired, OrderStatus::Cancelled]
                        .into_iter()
                        .map(|st| view! { <option value=st.as_str() selected=move || filter().status == Some(st)>{st.as_str()}</option> })
                        .collect_view()}
                </select>
                <label for="f-user">"User"</label>
                <input id="f-user" name="user" value=move || filter().user />
                <button type="submit" class="button button-small">"Filter"</button>
                <a class="button button-small button-secondary" href=move || format!("/api/v1/admin/orders.csv?{}", link(1))>
                    "Export CSV"
                </a>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match orders.await {
                        Ok(page) => {
                            let pages = ((page.total + page.per_page - 1) / page.per_page).max(1);
                            let current = page.page;
                            view! {
                                <p class="muted">{format!("{} orders · page {current} of {pages}", page.total)}</p>
                                <table class="orders" data-testid="admin-orders">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Order"</th>
                                            <th scope="col">"Product"</th>
                                            <th scope="col">"User"</th>
                                            <th scope="col">"Placed"</th>
                                            <th scope="col">"Status"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {page.orders.into_iter().map(|o| view! {
                                            <tr>
                                                <td class="mono">{o.order_id}</td>
                                                <td>{o.product_name}</td>
                                                <td>{o.user_name}</td>
                                                <td>{format_utc(o.created_at)}</td>
                                                <td><span class=format!("status status-{}", o.status.as_str())>{o.status.as_str()}</span></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                <nav class="pager" aria-label="Pages">
                                    {(current > 1).then(|| view! { <a href=format!("?{}", link(current - 1))>"← Previous"</a> })}
                                    {(current < pages).then(|| view! { <a href=format!("?{}", link(current + 1))>"Next →"</a> })}
                                </nav>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </AdminShell>
    }
}
