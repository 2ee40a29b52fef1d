//! `/internal/v1/…`: the calls nodes and stock owners make to each other, authenticated with
//! the shared `FLASH_INTERNAL_SECRET` (bearer, compared in constant time). Without a secret
//! these routes do not exist.

use super::extract::Body;
use super::AppState;
use crate::error::AppError;
use crate::services::forward::ROUTE_PATH;
use crate::services::sale::{Reply, Routed};
use crate::services::stock::{Owner, TakeReply, UnitRequest, GIVE_BACK_PATH, TAKE_PATH};
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
        .route(TAKE_PATH, post(take))
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

async fn take(
    State(owner): State<Owner>,
    Body(req): Body<UnitRequest>,
) -> Result<Json<TakeReply>, AppError> {
    let now = crate::now_ms();
    let reply = owner.take(req.product_id, req.user_id, req.order_id, now);
    Ok(Json(reply.await?))
}

/// `true` when the unit came back; `false` when it was never taken here or came back before.
async fn give_back(State(owner): State<Owner>, Body(req): Body<UnitRequest>) -> Json<bool> {
    Json(owner.give_back(req.order_id, crate::now_ms()))
}
