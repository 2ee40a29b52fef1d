use leptos::prelude::*;

/// Units left, polled every second while the page is open.
#[component]
pub fn StockMeter(product_id: i64, stock: i64, initial_left: i64) -> impl IntoView {
    let left = RwSignal::new(initial_left);
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            loop {
                gloo_timers::future::TimeoutFuture::new(1_000).await;
                let alive = match crate::api::get_stock(product_id).await {
                    Ok(info) => left.try_set(info.stock_left).is_none(),
                    Err(_) => left.try_get_untracked().is_some(),
                };
                if !alive {
                    break;
                }
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = product_id;
    });
    let percent = move || {
        if stock <= 0 {
            0
        } else {
            (left.get().clamp(0, stock) * 100) / stock
        }
    };
    view! {
        <div class="stock">
            <p class="stock-text">
                <strong data-testid="stock-left">{move || left.get().max(0)}</strong>
                {format!(" of {stock} left")}
            </p>
            <div
                class="stock-bar"
                role="progressbar"
                aria-label="Units left"
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=move || percent().to_string()
            >
                <div class="stock-bar-fill" style=move || format!("width: {}%", percent())></div>
            </div>
        </div>
    }
}
