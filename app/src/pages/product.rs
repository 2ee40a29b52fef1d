use super::access_denied::AccessDenied;
use super::not_found::ErrorPanel;
use crate::api::get_product;
use crate::components::auth_state::{login_href, use_auth};
use crate::components::buy::BuyPanel;
use crate::components::countdown::Countdown;
use crate::components::stock_meter::StockMeter;
use crate::model::{ApiError, Product, SalePhase};
use crate::time::format_utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ProductPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    let auth = use_auth();
    let product = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_product(id).await,
            None => Err(ApiError::not_found("product")),
        }
    });

    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let user = auth.user.await;
                let here = id().map(|i| format!("/product/{i}")).unwrap_or_default();
                if !matches!(user, Ok(Some(_))) {
                    return view! { <Redirect path=login_href(&here) /> }.into_any();
                }
                match product.await {
                    Ok(p) if !p.page_accessible() => view! { <AccessDenied product=p /> }.into_any(),
                    Ok(p) => view! { <ProductView product=p /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ProductView(product: Product) -> impl IntoView {
    let phase = product.phase();
    view! {
        <Title text=product.name.clone() />
        <article class="product-page" data-testid="product-page">
            <img
                class="product-image"
                src=product.image.clone()
                alt=product.name.clone()
                width="640"
                height="480"
            />
            <div class="product-info">
                <h1 data-testid="product-name">{product.name.clone()}</h1>
                <p class="price price-large">{format!("${}", product.price)}</p>
                <StockMeter product_id=product.id stock=product.stock initial_left=product.stock_left />
                <dl class="sale-window">
                    <dt>"Sale starts"</dt>
                    <dd>{format_utc(product.sale_start)}</dd>
                    <dt>"Sale ends"</dt>
                    <dd>{format_utc(product.sale_end)}</dd>
                </dl>
                {match phase {
                    SalePhase::Upcoming => {
                        view! {
                            <Countdown
                                label="Sale starts in"
                                target=product.sale_start
                                server_time=product.server_time
                            />
                        }
                            .into_any()
                    }
                    _ => {
                        view! {
                            <Countdown
                                label="Sale ends in"
                                target=product.sale_end
                                server_time=product.server_time
                            />
                        }
                            .into_any()
                    }
                }}
                <BuyPanel product_id=product.id enabled=phase == SalePhase::OnSale />
                <p class="muted small">
                    "One unit per shopper. A captcha is asked before each purchase, and you can click once every 10 seconds."
                </p>
            </div>
        </article>
    }
}
