use super::not_found::ErrorPanel;
use crate::api::my_orders;
use crate::components::auth_state::{login_href, use_auth};
use crate::model::ErrorCode;
use crate::time::format_utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

#[component]
pub fn OrdersPage() -> impl IntoView {
    let user = use_auth().rendered_user();
    let orders = Resource::new(
        move || user.get().map(|u| u.ok().flatten().map(|u| u.id)),
        |_| my_orders(),
    );
    view! {
        <Title text="My orders" />
        <h1>"My orders"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match orders.await {
                    Err(e) if e.error == ErrorCode::Unauthenticated => {
                        view! { <Redirect path=login_href("/orders") /> }.into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => {
                        view! { <p class="panel" data-testid="no-orders">"No orders yet."</p> }.into_any()
                    }
                    Ok(list) => {
                        view! {
                            <table class="orders" data-testid="orders">
                                <thead>
                                    <tr>
                                        <th scope="col">"Product"</th>
                                        <th scope="col">"Order"</th>
                                        <th scope="col">"Placed"</th>
                                        <th scope="col">"Status"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list
                                        .into_iter()
                                        .map(|o| {
                                            view! {
                                                <tr>
                                                    <td>
                                                        <a href=format!("/product/{}", o.product_id)>{o.product_name}</a>
                                                    </td>
                                                    <td class="mono">{o.order_id}</td>
                                                    <td>{format_utc(o.created_at)}</td>
                                                    <td>
                                                        <span class=format!("status status-{}", o.status.as_str())>
                                                            {o.status.as_str()}
                                                        </span>
                                                    </td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
