//! Admin server functions; the backend checks the role on every call.
// `save_product` takes one argument per field of its form (an `ActionForm` posts them flat), and
// the `server` macro copies that signature into the browser's client, out of an item's `allow`.
#![allow(clippy::too_many_arguments)]

use crate::model::{ApiError, BlacklistEntry, Dashboard, OrderFilter, OrdersPage, Product};
use leptos::prelude::*;

#[server(endpoint = "admin/products")]
pub async fn admin_products() -> Result<Vec<Product>, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.admin_products(&parts).await
}

/// Creates (`id` = 0) or edits a product; the form's fields are validated on the server.
#[server(endpoint = "admin/save_product")]
pub async fn save_product(
    id: i64,
    name: String,
    price: String,
    image: String,
    stock: String,
    sale_start: String,
    sale_end: String,
    #[server(default)] pay_within_secs: String,
) -> Result<Product, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    let form = crate::model::ProductForm {
        name,
        price,
        image,
        stock,
        sale_start,
        sale_end,
        pay_within_secs,
    };
    backend.save_product(&parts, id, form).await
}

#[server(endpoint = "admin/delete_product")]
pub async fn delete_product(id: i64) -> Result<(), ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.delete_product(&parts, id).await
}

#[server(endpoint = "admin/orders")]
pub async fn admin_orders(filter: OrderFilter) -> Result<OrdersPage, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.admin_orders(&parts, filter).await
}

#[server(endpoint = "admin/blacklist")]
pub async fn blacklist() -> Result<Vec<BlacklistEntry>, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.blacklist(&parts).await
}

#[server(endpoint = "admin/blacklist_add")]
pub async fn blacklist_add(user: String, reason: String) -> Result<(), ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.blacklist_add(&parts, user, reason).await
}

#[server(endpoint = "admin/blacklist_remove")]
pub async fn blacklist_remove(user_id: i64) -> Result<(), ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.blacklist_remove(&parts, user_id).await
}

#[server(endpoint = "admin/revoke_logins")]
pub async fn revoke_logins(user: String) -> Result<(), ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.revoke_logins(&parts, user).await
}

#[server(endpoint = "admin/dashboard")]
pub async fn sale_dashboard(product_id: i64) -> Result<Dashboard, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.dashboard(&parts, product_id).await
}
