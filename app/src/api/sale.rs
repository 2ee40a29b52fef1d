//! The sale's server functions: a captcha, its pass, the purchase, "my orders".

use crate::model::{ApiError, Captcha, Order, PurchaseOutcome, PurchasePass};
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
