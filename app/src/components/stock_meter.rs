use super::live::LiveProduct;
use leptos::prelude::*;

/// Units left, as the live stream (or the fallback poll) last told.
#[component]
pub fn StockMeter(live: LiveProduct) -> impl IntoView {
    let left = move || live.stock.get().stock_left.max(0);
    let stock = move || live.stock.get().stock;
    let percent = move || {
        let stock = stock();
        if stock <= 0 {
            0
        } else {
            (left().clamp(0, stock) * 100) / stock
        }
    };
    view! {
        <div class="stock">
            <p class="stock-text">
                <strong data-testid="stock-left">{left}</strong>
                {move || format!(" of {} left", stock())}
                {move || (left() == 0).then(|| view! { <span class="badge badge-muted" data-testid="sold-out">"Sold out"</span> })}
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
