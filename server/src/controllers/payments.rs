//! After the click, as JSON: a shopper's checkout and cancel of a reservation, the built-in
//! provider's decision, and the provider's webhook (signed, no login; the signature is its
//! proof). One line per action into `services::reservations`.

use super::extract::Body;
use super::AppState;
use crate::error::{AppError, AppResult};
use crate::services::auth::Shopper;
use app::model::{ErrorCode, OrderStatus};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// The header a provider signs its webhooks in (Stripe's name is accepted too).
pub const SIGNATURE_HEADER: &str = "payment-signature";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orders/{id}/checkout", post(checkout))
        .route("/api/v1/orders/{id}/cancel", post(cancel))
        .route("/api/v1/payments/dev/{id}", post(decide))
        .route("/api/v1/payments/webhook", post(webhook))
}

#[derive(Serialize)]
struct Checkout {
    url: String,
}

#[derive(Serialize)]
struct Settled {
    status: OrderStatus,
}

#[derive(Deserialize)]
struct Decision {
    pay: bool,
}

#[derive(Serialize)]
struct Outcome {
    outcome: &'static str,
}

async fn checkout(
    State(s): State<AppState>,
    u: Shopper,
    id: Result<Path<String>, PathRejection>,
) -> AppResult<Json<Checkout>> {
    let url = s.reservations.checkout(&u, &order_id(id)?).await?;
    Ok(Json(Checkout { url }))
}

async fn cancel(
    State(s): State<AppState>,
    u: Shopper,
    id: Result<Path<String>, PathRejection>,
) -> AppResult<Json<Settled>> {
    let status = s.reservations.cancel(&u, &order_id(id)?).await?;
    Ok(Json(Settled { status }))
}

async fn decide(
    State(s): State<AppState>,
    u: Shopper,
    id: Result<Path<String>, PathRejection>,
    Body(d): Body<Decision>,
) -> AppResult<Json<()>> {
    Ok(Json(
        s.reservations.decide(&u, &order_id(id)?, d.pay).await?,
    ))
}

async fn webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Outcome>> {
    let signature = [SIGNATURE_HEADER, "stripe-signature"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .ok_or_else(|| AppError::code(ErrorCode::BadRequest, "no payment signature header"))?;
    let outcome = s.reservations.confirm(signature, &body).await?;
    Ok(Json(Outcome { outcome }))
}

/// The order id from the path; a bad one is a 400 in the error shape (the service checks it is
/// a UUID).
fn order_id(path: Result<Path<String>, PathRejection>) -> AppResult<String> {
    path.map(|Path(id)| id)
        .map_err(|e| AppError::code(ErrorCode::BadRequest, e.body_text()))
}
