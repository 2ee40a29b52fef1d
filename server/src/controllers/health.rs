//! Health checks and metrics for operators' tools: `/healthz`, `/readyz`, `/metrics` (from this
//! machine, or with the bearer token).

use super::AppState;
use crate::error::AppResult;
use crate::services::clients::ClientAddr;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

async fn ready(State(s): State<AppState>) -> (StatusCode, &'static str) {
    match s.monitor.ready().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(missing) => (StatusCode::SERVICE_UNAVAILABLE, missing),
    }
}

async fn metrics(
    State(s): State<AppState>,
    client: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let reader = s.monitor.reader(client.map(|c| c.0), &headers)?;
    let content_type = (
        header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    );
    Ok(([content_type], s.monitor.render(&reader).await).into_response())
}
