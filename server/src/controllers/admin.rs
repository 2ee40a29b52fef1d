//! The admin JSON API: the same operations as the admin pages, for tools. Every route checks
//! the role on the server: 401 without login, 403 for a shopper.

use super::api::{Body, ProductId};
use super::AppState;
use crate::error::{AppError, AppResult};
use app::model::{
    ApiError, BlacklistEntry, Dashboard, ErrorCode, OrderFilter, OrdersPage, Product, ProductForm,
    Role,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
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
}

/// An admin, or 401 / 403.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = state.backend.pipeline.authenticate(&parts.headers)?;
        if user.role == Role::Admin {
            Ok(Admin)
        } else {
            Err(AppError::Api(ApiError::forbidden()))
        }
    }
}

async fn products(_: Admin, State(s): State<AppState>) -> AppResult<Json<Vec<Product>>> {
    Ok(Json(s.backend.pipeline.products().await?))
}

async fn create(
    _: Admin,
    State(s): State<AppState>,
    Body(f): Body<ProductForm>,
) -> AppResult<(StatusCode, Json<Product>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.backend.pipeline.create_product(&f).await?),
    ))
}

async fn update(
    _: Admin,
    State(s): State<AppState>,
    ProductId(id): ProductId,
    Body(f): Body<ProductForm>,
) -> AppResult<Json<Product>> {
    Ok(Json(s.backend.pipeline.update_product(id, &f).await?))
}

async fn remove(
    _: Admin,
    State(s): State<AppState>,
    ProductId(id): ProductId,
) -> AppResult<StatusCode> {
    s.backend.pipeline.delete_product(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn filter(q: Result<Query<OrderFilter>, QueryRejection>) -> AppResult<OrderFilter> {
    q.map(|Query(f)| f)
        .map_err(|e| AppError::code(ErrorCode::BadRequest, e.body_text()))
}

async fn orders(
    _: Admin,
    State(s): State<AppState>,
    q: Result<Query<OrderFilter>, QueryRejection>,
) -> AppResult<Json<OrdersPage>> {
    Ok(Json(s.backend.pipeline.search_orders(&filter(q)?).await?))
}

async fn orders_csv(
    _: Admin,
    State(s): State<AppState>,
    q: Result<Query<OrderFilter>, QueryRejection>,
) -> AppResult<Response> {
    let csv = s.backend.pipeline.orders_csv(&filter(q)?).await?;
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

async fn blacklist(_: Admin, State(s): State<AppState>) -> AppResult<Json<Vec<BlacklistEntry>>> {
    Ok(Json(s.backend.pipeline.blacklist_entries().await?))
}

#[derive(Deserialize)]
struct NewEntry {
    user: String,
    reason: String,
}

async fn blacklist_add(
    _: Admin,
    State(s): State<AppState>,
    Body(e): Body<NewEntry>,
) -> AppResult<StatusCode> {
    s.backend.pipeline.blacklist_add(&e.user, &e.reason).await?;
    Ok(StatusCode::CREATED)
}

async fn blacklist_remove(
    _: Admin,
    State(s): State<AppState>,
    user_id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> AppResult<StatusCode> {
    let Path(user_id) =
        user_id.map_err(|e| AppError::code(ErrorCode::BadRequest, e.body_text()))?;
    s.backend.pipeline.blacklist_remove(user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn dashboard(
    _: Admin,
    State(s): State<AppState>,
    ProductId(id): ProductId,
) -> AppResult<Json<Dashboard>> {
    Ok(Json(s.backend.pipeline.dashboard(id).await?))
}
