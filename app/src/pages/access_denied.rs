use crate::components::countdown::Countdown;
use crate::model::{Product, SalePhase};
use crate::time::format_utc;
use leptos::prelude::*;
use leptos_meta::Title;

/// Shown (with status 403) for a product page outside its sale window, like the seed's page.
#[component]
pub fn AccessDenied(product: Product) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::FORBIDDEN);
    }
    let upcoming = product.phase() == SalePhase::Upcoming;
    let (opens, ends, now) = (product.page_opens, product.sale_end, product.server_time);
    view! {
        <Title text="Access denied" />
        <section class="panel access-denied" data-testid="access-denied">
            <h1>"Access denied"</h1>
            <p>
                {format!("The sale of {} is not open right now. ", product.name)}
                {if upcoming {
                    format!(
                        "This page can be accessed from {} until {}.",
                        format_utc(opens),
                        format_utc(ends),
                    )
                } else {
                    format!("The sale ended at {}.", format_utc(ends))
                }}
            </p>
            {upcoming.then(|| view! { <Countdown label="Opens in".to_string() target=opens server_time=now /> })}
            <p>
                <a href="/">"See the other sales"</a>
            </p>
        </section>
    }
}
