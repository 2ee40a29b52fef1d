//! The built-in payment provider's page (`/pay/<order>`), standing in for a real provider's
//! checkout: "Pay" or "Decline". The provider confirms the payment later, as real ones do by
//! webhook; the page then hears the order's new state from "My orders".

use crate::api::{dev_pay, my_orders};
use crate::model::{ApiError, OrderStatus};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[derive(Clone, PartialEq)]
enum Step {
    Choosing,
    Waiting,
    Done(OrderStatus),
    Declined,
    Failed(String),
}

#[component]
pub fn PayPage() -> impl IntoView {
    let order_id = use_params_map().with_untracked(|p| p.get("id").unwrap_or_default());
    view! {
        <Title text="Pay" />
        <PayPanel order_id />
    }
}

#[island(lazy)]
fn PayPanel(order_id: String) -> impl IntoView {
    let step = RwSignal::new(Step::Choosing);
    let this = order_id.clone();
    let decide = Action::new_local(move |pay: &bool| {
        let (pay, id) = (*pay, this.clone());
        async move {
            if let Err(e) = dev_pay(id.clone(), pay).await {
                step.set(Step::Failed(e.message));
                return;
            }
            if !pay {
                step.set(Step::Declined);
                return;
            }
            step.set(Step::Waiting);
            step.set(wait_for_payment(id).await);
        }
    });
    view! {
        <section class="panel form-panel" data-testid="pay-page">
            <h1>"Pay for your order"</h1>
            <p class="muted">"Development payment provider: no money moves."</p>
            <p>"Order " <span class="mono">{order_id}</span></p>
            {move || match step.get() {
                Step::Choosing | Step::Declined | Step::Failed(_) => view! {
                    <div class="stack">
                        <button class="button" data-testid="pay" disabled=move || decide.pending().get() on:click=move |_| { decide.dispatch(true); }>"Pay"</button>
                        <button class="button button-quiet" data-testid="decline" disabled=move || decide.pending().get() on:click=move |_| { decide.dispatch(false); }>"Decline"</button>
                    </div>
                }.into_any(),
                _ => ().into_any(),
            }}
            <p data-testid="pay-state" role="status">
                {move || match step.get() {
                    Step::Choosing => String::new(),
                    Step::Waiting => "Payment sent: waiting for the provider's confirmation…".into(),
                    Step::Done(OrderStatus::Paid) => "Paid. Thank you!".into(),
                    Step::Done(s) => format!("Not paid: the order is {}.", s.as_str()),
                    Step::Declined => "Payment declined: the order stays reserved until its deadline.".into(),
                    Step::Failed(why) => why,
                }}
            </p>
            <a href="/orders">"My orders"</a>
        </section>
    }
}

/// Until the order is paid, or is something else than reserved (a late payment is refunded).
async fn wait_for_payment(order_id: String) -> Step {
    for _ in 0..60 {
        #[cfg(feature = "hydrate")]
        gloo_timers::future::TimeoutFuture::new(500).await;
        let orders: Result<_, ApiError> = my_orders().await;
        if let Some(o) = orders
            .ok()
            .and_then(|l| l.into_iter().find(|o| o.order_id == order_id))
        {
            if o.status != OrderStatus::Reserved {
                return Step::Done(o.status);
            }
        }
    }
    Step::Failed("No confirmation yet: look at My orders in a moment.".into())
}
