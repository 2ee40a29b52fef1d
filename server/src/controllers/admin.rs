//! The admin JSON API: the same operations as the admin pages, for tools. Every route takes the
//! [`Admin`] proof: 401 without login, 403 for a shopper.

use super::extract::Body;
use super::AppState;
use crate::error::{AppError, AppResult};
use crate::ids::ProductId;
use crate::services::auth::Admin;
use app::model::{
    BlacklistEntry, Dashboard, ErrorCode, OrderFilter, OrdersPage, Product, ProductForm,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/products", get(products).post(create))
        .route(
            "/api/v1/admin/products/{id}",
            axum::routing::put(update).delete(remove),
        )
        .route("/api/v1/admin/orders", get(orders))
        .route("/api/v1/admin/orders.csv", get(orders_csv))
        .route(
            "/api/v1/admin/blacklist",
            get(blacklist).post(blacklist_add),
        )
        .route(
            "/api/v1/admin/blacklist/{user_id}",
            delete(blacklist_remove),
        )
        .route("/api/v1/admin/dashboard/{id}", get(dashboard))
        .route("/api/v1/admin/revocations", post(revoke_logins))
}

async fn products(a: Admin, State(s): State<AppState>) -> AppResult<Json<Vec<Product>>> {
    Ok(Json(s.operations.products(&a).await?))
}

async fn create(
    a: Admin,
    State(s): State<AppState>,
    Body(f): Body<ProductForm>,
) -> AppResult<(StatusCode, Json<Product>)> {
    let created = s.operations.create_product(&a, &f).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn update(
    a: Admin,
    State(s): State<AppState>,
    id: ProductId,
    Body(f): Body<ProductForm>,
) -> AppResult<Json<Product>> {
    Ok(Json(s.operations.update_product(&a, id, &f).await?))
}

async fn remove(a: Admin, State(s): State<AppState>, id: ProductId) -> AppResult<StatusCode> {
    s.operations.delete_product(&a, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn filter(q: Result<Query<OrderFilter>, QueryRejection>) -> AppResult<OrderFilter> {
    q.map(|Query(f)| f)
        .map_err(|e| AppError::code(ErrorCode::BadRequest, e.body_text()))
}

async fn orders(
    a: Admin,
    State(s): State<AppState>,
    q: Result<Query<OrderFilter>, QueryRejection>,
) -> AppResult<Json<OrdersPage>> {
    Ok(Json(s.operations.search_orders(&a, &filter(q)?).await?))
}

async fn orders_csv(
    a: Admin,
    State(s): State<AppState>,
    q: Result<Query<OrderFilter>, QueryRejection>,
) -> AppResult<Response> {
    let csv = s.operations.orders_csv(&a, &filter(q)?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"orders.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

async fn blacklist(a: Admin, State(s): State<AppState>) -> AppResult<Json<Vec<BlacklistEntry>>> {
    Ok(Json(s.operations.blacklist_entries(&a).await?))
}

#[derive(Deserialize)]
struct NewEntry {
    user: String,
    reason: String,
}

async fn blacklist_add(
    a: Admin,
    State(s): State<AppState>,
    Body(e): Body<NewEntry>,
) -> AppResult<StatusCode> {
    s.operations.blacklist_add(&a, &e.user, &e.reason).await?;
    Ok(StatusCode::CREATED)
}

async fn blacklist_remove(
    a: Admin,
    State(s): State<AppState>,
    user_id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> AppResult<StatusCode> {
    let Path(user_id) =
        user_id.map_err(|e| AppError::code(ErrorCode::BadRequest, e.body_text()))?;
    s.operations.blacklist_remove(&a, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Revocation {
    user: String,
}

async fn revoke_logins(
    a: Admin,
    State(s): State<AppState>,
    Body(r): Body<Revocation>,
) -> AppResult<StatusCode> {
    s.operations.revoke_logins(&a, &r.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn dashboard(
    a: Admin,
    State(s): State<AppState>,
    id: ProductId,
) -> AppResult<Json<Dashboard>> {
    Ok(Json(s.operations.dashboard(&a, id).await?))
}
