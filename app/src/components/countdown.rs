use super::clock::use_ticking_clock;
use super::live::LiveProduct;
use crate::model::SalePhase;
use crate::time::format_countdown;
use leptos::prelude::*;

/// "Opens in 04:59" and so on; reloads the page when the moment arrives so that the server
/// decides what comes next (the sale page or the access-denied page).
#[island(lazy)]
pub fn Countdown(label: String, target: i64, server_time: i64) -> impl IntoView {
    let now = use_ticking_clock(server_time, 250);
    let left = move || target - now.get();
    Effect::new(move |_| {
        if left() <= 0 && now.get() != server_time {
            let _ = window().location().reload();
        }
    });
    view! {
        <p class="countdown" role="timer" aria-live="off">
            <span class="countdown-label">{label}</span>
            " "
            <strong class="countdown-value">{move || format_countdown(left())}</strong>
        </p>
    }
}

/// The product page's "Sale starts in" / "Sale ends in", on the server's clock as the live stream
/// keeps it. No reload at the start: the page turns to the sale by itself (a crowd of pages
/// reloading at the same second would be a crowd of page loads).
#[component]
pub fn SaleCountdown(live: LiveProduct) -> impl IntoView {
    let label = move || match live.phase() {
        SalePhase::Upcoming => "Sale starts in",
        SalePhase::OnSale => "Sale ends in",
        SalePhase::Ended => "Sale ended",
    };
    let left = move || {
        let (s, now) = (live.stock.get(), live.now.get());
        match live.phase() {
            SalePhase::Upcoming => s.sale_start - now,
            SalePhase::OnSale => s.sale_end - now,
            SalePhase::Ended => 0,
        }
    };
    view! {
        <p class="countdown" role="timer" aria-live="off" data-testid="sale-countdown">
            <span class="countdown-label">{label}</span>
            " "
            <strong class="countdown-value">{move || format_countdown(left().max(0))}</strong>
        </p>
    }
}
