use super::not_found::ErrorPanel;
use crate::api::list_products;
use crate::model::{Product, SalePhase};
use crate::time::format_utc;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ProductsPage() -> impl IntoView {
    let products = Resource::new(|| (), |_| list_products());
    view! {
        <Title text="Sales" />
        <h1>"Flash sales"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading sales…"</p> }>
            {move || Suspend::new(async move {
                match products.await {
                    Ok(list) if list.is_empty() => {
                        view! { <p class="panel">"No sales yet."</p> }.into_any()
                    }
                    Ok(list) => {
                        view! {
                            <ul class="product-grid" data-testid="product-list">
                                {list
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, p)| view! { <ProductCard product=p first=i == 0 /> })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The first card's image is the first thing seen: loaded at once, the others when scrolled to.
#[component]
fn ProductCard(product: Product, first: bool) -> impl IntoView {
    let (badge_class, badge) = match product.phase() {
        SalePhase::OnSale if product.stock_left <= 0 => ("badge badge-muted", "Sold out"),
        SalePhase::OnSale => ("badge badge-live", "On sale"),
        SalePhase::Upcoming => ("badge badge-soon", "Coming"),
        SalePhase::Ended => ("badge badge-muted", "Ended"),
    };
    let when = match product.phase() {
        SalePhase::Upcoming => format!("Starts {}", format_utc(product.sale_start)),
        SalePhase::OnSale => format!("Ends {}", format_utc(product.sale_end)),
        SalePhase::Ended => format!("Ended {}", format_utc(product.sale_end)),
    };
    let href = format!("/product/{}", product.id);
    view! {
        <li class="product-card">
            <a href=href class="product-card-link">
                <img
                    src=product.image.clone()
                    alt=""
                    loading=if first { "eager" } else { "lazy" }
                    fetchpriority=if first { "high" } else { "auto" }
                    width="320"
                    height="240"
                />
                <span class=badge_class>{badge}</span>
                <h2 class="product-name">{product.name.clone()}</h2>
                <p class="price">{format!("${}", product.price)}</p>
                <p class="muted">{format!("{} of {} left", product.stock_left.max(0), product.stock)}</p>
                <p class="muted small">{when}</p>
            </a>
        </li>
    }
}
