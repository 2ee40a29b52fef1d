use super::clock::use_ticking_clock;
use crate::time::format_countdown;
use leptos::prelude::*;

/// "Sale starts in 04:59" and so on; reloads the page when the moment arrives so that the
/// server decides what comes next (the sale page or the access-denied page).
#[component]
pub fn Countdown(label: &'static str, target: i64, server_time: i64) -> impl IntoView {
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
