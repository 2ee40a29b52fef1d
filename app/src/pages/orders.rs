use super::not_found::ErrorPanel;
use crate::api::{cancel_order, checkout, my_orders};
use crate::components::auth_state::{login_href, rendered_user};
use crate::components::clock::use_ticking_clock;
use crate::model::{ApiError, ErrorCode, Order, OrderStatus};
use crate::time::{format_countdown, format_utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

#[component]
pub fn OrdersPage() -> impl IntoView {
    let user = rendered_user();
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
                                        <th scope="col">"Payment"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list
                                        .into_iter()
                                        .map(|o| view! { <OrderRow order=o /> })
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

/// One order and its state.
#[component]
fn OrderRow(order: Order) -> impl IntoView {
    let o = order;
    let status = o.status;
    let reserved = status == OrderStatus::Reserved && o.deadline > 0;
    let id = o.order_id.clone();
    view! {
        <tr data-testid="order-row" data-order=o.order_id.clone() data-status=status.as_str()>
            <td>
                <a href=format!("/product/{}", o.product_id)>{o.product_name}</a>
            </td>
            <td class="mono">{o.order_id.clone()}</td>
            <td>{format_utc(o.created_at)}</td>
            <td>
                <span class=format!("status status-{}", status.as_str()) data-testid="order-status">
                    {status.as_str()}
                </span>
            </td>
            <td>
                {match status {
                    _ if reserved => view! { <Payment order_id=id.clone() pays_in_ms=o.pays_in_ms /> }.into_any(),
                    OrderStatus::Expired => view! { <span class="muted">"not paid in time: the unit went back on sale"</span> }.into_any(),
                    OrderStatus::Cancelled => view! { <span class="muted">"cancelled: the unit went back on sale"</span> }.into_any(),
                    _ => ().into_any(),
                }}
            </td>
        </tr>
    }
}

/// A reserved order's time left to pay, "Pay now" and "Cancel". The page is loaded again once the
/// order has changed (cancelled, or its deadline passed: the sweep releases it within a moment).
#[island(lazy)]
fn Payment(order_id: String, pays_in_ms: i64) -> impl IntoView {
    // Counts from this answer: 0 at render, the time since then after hydration.
    let since = use_ticking_clock(0, 250);
    let left = move || (pays_in_ms - since.get()).max(0);
    let error = RwSignal::new(None::<ApiError>);
    let id = order_id.clone();
    let pay = Action::new(move |_: &()| {
        let id = id.clone();
        async move {
            match checkout(id).await {
                Ok(url) => {
                    let _ = window().location().set_href(&url);
                }
                Err(e) => error.set(Some(e)),
            }
        }
    });
    let cancel = Action::new(move |_: &()| {
        let id = order_id.clone();
        async move {
            match cancel_order(id).await {
                Ok(_) => reload_after(0),
                Err(e) => error.set(Some(e)),
            }
        }
    });
    Effect::new(move |asked: Option<bool>| {
        let due = left() == 0 && since.get() > 0;
        if due && asked != Some(true) {
            reload_after(1_000);
        }
        due
    });
    view! {
        <span class="countdown" role="timer" aria-live="off" data-testid="pay-deadline">
            "Pay within " <strong>{move || format_countdown(left())}</strong>
        </span>
        " "
        <button class="button button-small" data-testid="pay-now" disabled=move || left() == 0 || pay.pending().get() on:click=move |_| { pay.dispatch(()); }>"Pay now"</button>
        " "
        <button class="button button-small button-quiet" data-testid="cancel-order" disabled=move || left() == 0 || cancel.pending().get() on:click=move |_| { cancel.dispatch(()); }>"Cancel"</button>
        {move || error.get().map(|e| view! { <p class="alert alert-error" role="alert">{e.message}</p> })}
    }
}

/// Loads the page again in a moment (browser only).
fn reload_after(ms: u32) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(ms).await;
        let _ = window().location().reload();
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = ms;
}
