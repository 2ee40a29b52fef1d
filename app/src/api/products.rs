use crate::model::{ApiError, LiveStock, Product};
use leptos::prelude::*;

#[server(endpoint = "products")]
pub async fn list_products() -> Result<Vec<Product>, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.products(&parts).await
}

#[server(endpoint = "product")]
pub async fn get_product(id: i64) -> Result<Product, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.product(&parts, id).await
}

#[server(endpoint = "stock")]
pub async fn get_stock(id: i64) -> Result<LiveStock, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.stock(&parts, id).await
}
