use super::clock::poll_into;
use crate::api::get_stock;
use crate::model::StockInfo;
use leptos::prelude::*;

/// Units left, polled every second while the page is open.
#[component]
pub fn StockMeter(product_id: i64, stock: i64, initial_left: i64) -> impl IntoView {
    let stock_info = StockInfo {
        product_id,
        stock_left: initial_left,
        server_time: 0,
    };
    let stock_sig = RwSignal::new(stock_info);
    poll_into(stock_sig, 1_000, move || get_stock(product_id));
    let left = Signal::derive(move || stock_sig.get().stock_left);
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
