use super::AppState;
use axum::extract::State;
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

/// Ready when the database answers and the queue can take orders (the broker, in RabbitMQ mode).
async fn ready(State(s): State<AppState>) -> (StatusCode, &'static str) {
    let p = &s.backend.pipeline;
    if let Err(e) = p.db.ping().await {
        tracing::warn!(error = %e, "database not reachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable");
    }
    if p.queue.depth().await < 0 {
        return (StatusCode::SERVICE_UNAVAILABLE, "broker unreachable");
    }
    (StatusCode::OK, "ready")
}

/// Prometheus text format; the stock, queue and map-size gauges are read fresh at each scrape.
async fn metrics(State(s): State<AppState>) -> Response {
    let p = &s.backend.pipeline;
    match crate::repositories::products::list(&p.db).await {
        Ok(rows) => rows
            .iter()
            .for_each(|r| p.metrics.set_stock_left(r.id, r.stock - r.sold)),
        Err(e) => tracing::warn!(error = %e, "stock gauges not refreshed"),
    }
    p.metrics.set_queue_depth("queue", p.queue.depth().await);
    let pending = p.pending.len();
    p.metrics.set_queue_depth("consumer_lag", pending as i64);
    let (login_names, login_addresses) = s.limiters.login_keys();
    for (map, n) in [
        ("cooldown", p.cooldown.len()),
        ("captchas", p.captchas.outstanding()),
        ("spent_passes", p.captchas.spent_passes()),
        ("pending_orders", pending),
        ("login_names", login_names),
        ("login_addresses", login_addresses),
    ] {
        p.metrics.set_entries(map, n);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        p.metrics.render(),
    )
        .into_response()
}
