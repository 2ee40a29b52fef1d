use super::access_denied::AccessDenied;
use super::not_found::{ErrorPanel, NotFound};
use crate::api::get_product;
use crate::components::buy::BuyPanel;
use crate::components::countdown::SaleCountdown;
use crate::components::live::{use_live_product, LiveBadge};
use crate::components::stock_meter::StockMeter;
use crate::model::{ApiError, ErrorCode, LiveStock, Product};
use crate::time::format_utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// The same for every visitor, logged in or not ("Buy now" asks for a login), so that a cache
/// can serve it; what changes comes from the live stream.
#[component]
pub fn ProductPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    let product = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_product(id).await,
            None => Err(ApiError::not_found("product")),
        }
    });

    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match product.await {
                    Ok(p) if !p.page_accessible() => view! { <AccessDenied product=p /> }.into_any(),
                    Ok(p) => view! { <ProductView product=p /> }.into_any(),
                    Err(e) if e.error == ErrorCode::NotFound => view! { <NotFound /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ProductView(product: Product) -> impl IntoView {
    let rendered = LiveStock {
        product_id: product.id,
        stock: product.stock,
        stock_left: product.stock_left,
        phase: product.phase(),
        sale_start: product.sale_start,
        sale_end: product.sale_end,
        server_time: product.server_time,
    };
    view! {
        <Title text=product.name.clone() />
        <article class="product-page" data-testid="product-page">
            <img
                class="product-image"
                src=product.image.clone()
                alt=product.name.clone()
                width="640"
                height="480"
                fetchpriority="high"
            />
            <div class="product-info">
                <h1 data-testid="product-name">{product.name.clone()}</h1>
                <p class="price price-large">{format!("${}", product.price)}</p>
                <ProductLive rendered />
                <p class="muted small">
                    "One unit per shopper. A captcha is asked before each purchase, and you can click once every 10 seconds."
                </p>
            </div>
        </article>
    }
}

/// The page's one island: what the live stream keeps current, and "Buy now".
#[island]
fn ProductLive(rendered: LiveStock) -> impl IntoView {
    let live = use_live_product(rendered);
    view! {
        <StockMeter live=live />
        <LiveBadge live=live />
        <dl class="sale-window">
            <dt>"Sale starts"</dt>
            <dd>{move || format_utc(live.stock.get().sale_start)}</dd>
            <dt>"Sale ends"</dt>
            <dd>{move || format_utc(live.stock.get().sale_end)}</dd>
        </dl>
        <SaleCountdown live=live />
        <BuyPanel product_id=rendered.product_id live=live />
    }
}
