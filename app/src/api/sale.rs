//! The sale's server functions: a captcha, its pass, the purchase, "my orders", and after the
//! click: pay (the provider's page), cancel.

use crate::model::{ApiError, Captcha, Order, OrderStatus, PurchaseOutcome, PurchasePass};
use leptos::prelude::*;

#[server(endpoint = "captcha")]
pub async fn new_captcha(product_id: i64) -> Result<Captcha, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.captcha(&parts, product_id).await
}

#[server(endpoint = "captcha_verify")]
pub async fn verify_captcha(
    product_id: i64,
    captcha_id: String,
    answer: String,
) -> Result<PurchasePass, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend
        .verify_captcha(&parts, product_id, captcha_id, answer)
        .await
}

#[server(endpoint = "purchase")]
pub async fn purchase(product_id: i64, pass: String) -> Result<PurchaseOutcome, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.purchase(&parts, product_id, pass).await
}

#[server(endpoint = "orders")]
pub async fn my_orders() -> Result<Vec<Order>, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.my_orders(&parts).await
}

/// Where the shopper pays for their reservation (the payment provider's page).
#[server(endpoint = "checkout")]
pub async fn checkout(order_id: String) -> Result<String, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.checkout(&parts, order_id).await
}

#[server(endpoint = "cancel_order")]
pub async fn cancel_order(order_id: String) -> Result<OrderStatus, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.cancel_order(&parts, order_id).await
}

/// The built-in payment provider's page: pay or decline; the provider confirms it later.
#[server(endpoint = "dev_pay")]
pub async fn dev_pay(order_id: String, pay: bool) -> Result<(), ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.dev_pay(&parts, order_id, pay).await
}
