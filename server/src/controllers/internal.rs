//! `/internal/v1/…`: the calls nodes and stock owners make to each other, authenticated with
//! the shared `FLASH_INTERNAL_SECRET` (bearer, compared in constant time). Without a secret
//! these routes do not exist.

use super::extract::Body;
use super::AppState;
use crate::error::AppError;
use crate::services::forward::ROUTE_PATH;
use crate::services::sale::{Reply, Routed};
use crate::services::stock::{
    LeaseRequest, Owner, Registration, TakeReply, UnitRequest, GIVE_BACK_PATH, LEASE_PATH,
    REGISTER_PATH,
};
use app::model::ErrorCode;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self as mw, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The node-to-node route of the ring (forwarded purchase steps).
pub fn router(secret: Option<&SecretString>) -> Router<AppState> {
    let Some(secret) = secret else {
        return Router::new();
    };
    Router::new()
        .route(ROUTE_PATH, post(route))
        .layer(mw::from_fn_with_state(
            token(secret.expose_secret()),
            authenticate,
        ))
}

/// A `stock` process: quantity control over HTTP.
pub fn stock_router(owner: Owner, secret: &str) -> Router {
    Router::new()
        .route(LEASE_PATH, post(lease))
        .route(REGISTER_PATH, post(register))
        .route(GIVE_BACK_PATH, post(give_back))
        .layer(mw::from_fn_with_state(token(secret), authenticate))
        .with_state(owner)
}

fn token(secret: &str) -> Arc<[u8]> {
    format!("Bearer {secret}").into_bytes().into()
}

async fn authenticate(State(expected): State<Arc<[u8]>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if bool::from(given.ct_eq(&expected)) {
        next.run(req).await
    } else {
        AppError::code(
            ErrorCode::Unauthenticated,
            "internal route: wrong or missing token",
        )
        .into_response()
    }
}

/// A peer forwarded a shopper's action: it runs here, never forwarded again.
async fn route(State(s): State<AppState>, Body(routed): Body<Routed>) -> Json<Reply> {
    Json(routed.apply(s.sale.local()).await)
}

/// How many units moved to the node's tenure (0: sold out here).
async fn lease(
    State(owner): State<Owner>,
    Body(req): Body<LeaseRequest>,
) -> Result<Json<i64>, AppError> {
    let now = crate::now_ms();
    let moved = owner.lease(req.product_id, req.want, req.tenure, req.request_id, now);
    Ok(Json(moved.await?))
}

/// One answer per registration, in order.
async fn register(
    State(owner): State<Owner>,
    Body(regs): Body<Vec<Registration>>,
) -> Result<Json<Vec<TakeReply>>, AppError> {
    if regs.len() > MAX_REGISTRATIONS {
        let why = format!("at most {MAX_REGISTRATIONS} registrations per call");
        return Err(AppError::code(ErrorCode::BadRequest, why));
    }
    let now = crate::now_ms();
    Ok(Json(regs.iter().map(|r| owner.register(r, now)).collect()))
}

/// Registrations per call a node may send (it sends 256 at most).
const MAX_REGISTRATIONS: usize = 1024;

/// `true` when the unit is the node's to sell again; `false` when a later order of its shopper
/// holds it.
async fn give_back(State(owner): State<Owner>, Body(req): Body<UnitRequest>) -> Json<bool> {
    Json(owner.give_back(req.order_id, crate::now_ms()))
}
