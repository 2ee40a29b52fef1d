use super::{field_error, reload_on_success, AdminShell};
use crate::api::{admin_products, get_product, DeleteProduct, SaveProduct};
use crate::model::{ApiError, Product};
use crate::pages::not_found::ErrorPanel;
use crate::time::{format_input, format_utc};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

#[component]
pub fn AdminProductsPage() -> impl IntoView {
    let products = Resource::new(|| (), |_| admin_products());
    view! {
        <AdminShell title="Admin · Products">
            <div class="admin-head">
                <h1>"Products and sales"</h1>
                <A href="/admin/products/new" attr:class="button">"New product"</A>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match products.await {
                        Ok(list) => view! { <ProductTable list /> }.into_any(),
                        Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </AdminShell>
    }
}

#[component]
fn ProductTable(list: Vec<Product>) -> impl IntoView {
    view! {
        <table class="orders" data-testid="admin-products">
            <thead>
                <tr>
                    <th scope="col">"Product"</th>
                    <th scope="col">"Price"</th>
                    <th scope="col">"Left / stock"</th>
                    <th scope="col">"Sale window (UTC)"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|p| {
                        let id = p.id;
                        view! {
                            <tr>
                                <td>{p.name}</td>
                                <td>{format!("${}", p.price)}</td>
                                <td>{format!("{} / {}", p.stock_left, p.stock)}</td>
                                <td>{format!("{} → {}", format_utc(p.sale_start), format_utc(p.sale_end))}</td>
                                <td class="actions">
                                    <a href=format!("/admin/dashboard/{id}")>"Dashboard"</a>
                                    <a href=format!("/admin/products/{id}/edit")>"Edit"</a>
                                    <DeleteButton id />
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// "Delete": the list is loaded again once the product is gone; a refusal (units still queued
/// or leased) is shown beside the button.
#[island(lazy)]
fn DeleteButton(id: i64) -> impl IntoView {
    let delete = ServerAction::<DeleteProduct>::new();
    reload_on_success(delete);
    view! {
        <ActionForm action=delete attr:class="inline-form">
            <input type="hidden" name="id" value=id />
            <button type="submit" class="link-button">"Delete"</button>
        </ActionForm>
        {move || match delete.value().get() {
            Some(Err(e)) => Some(view! { <p class="alert alert-error" role="alert">{e.message}</p> }),
            _ => None,
        }}
    }
}

/// Create (`/admin/products/new`) or edit (`/admin/products/:id/edit`) a product.
#[component]
pub fn AdminProductEditor() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let existing = Resource::new(id, |id| async move {
        if id == 0 {
            Ok(None)
        } else {
            get_product(id).await.map(Some)
        }
    });
    view! {
        <AdminShell title="Admin · Product">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match existing.await {
                        Ok(p) => view! { <ProductForm product=p /> }.into_any(),
                        Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </AdminShell>
    }
}

#[island(lazy)]
fn ProductForm(product: Option<Product>) -> impl IntoView {
    let save = ServerAction::<SaveProduct>::new();
    Effect::new(move |_| {
        if let Some(Ok(p)) = save.value().get() {
            let _ = window()
                .location()
                .set_href(&format!("/admin/dashboard/{}", p.id));
        }
    });
    let error = move || save.value().get().and_then(Result::err);
    let p = product.clone();
    let value = move |f: fn(&Product) -> String| p.as_ref().map(f).unwrap_or_default();
    let heading = if product.is_some() {
        "Edit product"
    } else {
        "New product"
    };
    view! {
        <section class="panel form-panel">
            <h1>{heading}</h1>
            <ActionForm action=save attr:class="stack" attr:data-testid="product-form">
                <input type="hidden" name="id" value=product.as_ref().map(|p| p.id).unwrap_or(0) />
                <Field name="name" label="Name" value=value(|p| p.name.clone()) error=Signal::derive(move || field_error(error(), "name")) />
                <Field name="price" label="Price ($)" value=value(|p| p.price.clone()) error=Signal::derive(move || field_error(error(), "price")) />
                <Field name="image" label="Image (path or https URL; empty = a gift box)" value=value(|p| p.image.clone()) error=Signal::derive(move || field_error(error(), "image")) />
                <Field name="stock" label="Units in stock" value=value(|p| p.stock.to_string()) error=Signal::derive(move || field_error(error(), "stock")) />
                <Field name="sale_start" label="Sale starts (UTC; empty = now)" kind="datetime-local" value=value(|p| format_input(p.sale_start)) error=Signal::derive(move || field_error(error(), "sale_start")) />
                <Field name="sale_end" label="Sale ends (UTC)" kind="datetime-local" value=value(|p| format_input(p.sale_end)) error=Signal::derive(move || field_error(error(), "sale_end")) />
                <Field name="pay_within_secs" label="Seconds to pay a reservation (empty = 900, 15 minutes)" value=value(|p| (p.pay_within_ms / 1000).to_string()) error=Signal::derive(move || field_error(error(), "pay_within_secs")) />
                {move || error().map(|e: ApiError| view! { <p class="alert alert-error" role="alert" data-testid="form-error">{e.message}</p> })}
                <button type="submit" class="button" disabled=move || save.pending().get()>"Save"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Field(
    name: &'static str,
    label: &'static str,
    value: String,
    #[prop(default = "text")] kind: &'static str,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let error_id = format!("{name}-error");
    view! {
        <label for=name>{label}</label>
        <input
            id=name
            name=name
            type=kind
            value=value
            aria-invalid=move || error.get().is_some().to_string()
            aria-describedby=error_id.clone()
        />
        <span id=error_id class="field-error" data-testid=format!("error-{name}")>
            {move || error.get()}
        </span>
    }
}
