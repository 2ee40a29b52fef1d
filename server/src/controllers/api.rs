//! The JSON API for tools and load generators (`/api/v1/…` and the seed's `/check`): one line per
//! action into the same services as the server functions; every refusal is `{"error","message"}`.

use super::extract::{Body, ClientIp, Viewer};
use super::AppState;
use crate::error::{AppError, AppResult};
use crate::ids::ProductId;
use crate::services::auth::Shopper;
use crate::services::live::LiveStream;
use crate::services::sale::{MyOrders, NewCaptcha, Purchase, VerifyCaptcha};
use app::api::SessionCookie;
use app::model::{
    ApiError, Captcha, ErrorCode, Order, Product, PurchaseOutcome, PurchasePass, User,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/products", get(products))
        .route("/api/v1/products/{id}", get(product))
        .route("/api/v1/products/{id}/live", get(live))
        .route("/api/v1/products/{id}/captcha", post(captcha))
        .route("/api/v1/products/{id}/captcha/verify", post(verify))
        .route("/api/v1/products/{id}/purchase", post(purchase))
        .route("/api/v1/orders", get(orders))
        .route("/api/v1/register", post(register))
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/check", get(check))
        // A known route with another method: 405, in the error shape of every other refusal.
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> Response {
    let e = ApiError::new(ErrorCode::BadRequest, "method not allowed on this route");
    (StatusCode::METHOD_NOT_ALLOWED, Json(e)).into_response()
}

async fn products(State(s): State<AppState>) -> AppResult<Json<Vec<Product>>> {
    Ok(Json(s.catalog.products().await?))
}

async fn product(State(s): State<AppState>, id: ProductId) -> AppResult<Json<Product>> {
    Ok(Json(s.catalog.product(id).await?))
}

/// An open page's news, as Server-Sent Events; no login needed (a shopper's page also hears of
/// their order).
async fn live(State(s): State<AppState>, id: ProductId, v: Viewer) -> AppResult<Response> {
    Ok(event_stream(s.live.open(id, v.user, v.client).await?))
}

fn event_stream(stream: LiveStream) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream"),
        (header::CACHE_CONTROL, "no-store"),
        // Proxies such as nginx would hold the events back to fill a buffer.
        (header::HeaderName::from_static("x-accel-buffering"), "no"),
    ];
    (headers, stream.into_body()).into_response()
}

async fn captcha(State(s): State<AppState>, u: Shopper, id: ProductId) -> AppResult<Json<Captcha>> {
    Ok(Json(s.sale.run(&u, NewCaptcha { product_id: id }).await?))
}

#[derive(Deserialize)]
struct VerifyBody {
    captcha_id: String,
    answer: String,
}

async fn verify(
    State(s): State<AppState>,
    u: Shopper,
    id: ProductId,
    Body(b): Body<VerifyBody>,
) -> AppResult<Json<PurchasePass>> {
    let step = VerifyCaptcha {
        product_id: id,
        captcha_id: b.captcha_id,
        answer: b.answer,
    };
    Ok(Json(s.sale.run(&u, step).await?))
}

#[derive(Deserialize)]
struct PurchaseBody {
    pass: String,
}

async fn purchase(
    State(s): State<AppState>,
    u: Shopper,
    id: ProductId,
    Body(b): Body<PurchaseBody>,
) -> AppResult<(StatusCode, Json<PurchaseOutcome>)> {
    let step = Purchase {
        product_id: id,
        pass: b.pass,
    };
    Ok((StatusCode::ACCEPTED, Json(s.sale.run(&u, step).await?)))
}

#[derive(Deserialize)]
struct CheckQuery {
    #[serde(rename = "productID")]
    product_id: i64,
}

/// The seed's wrk target: `GET /check?productID=…` with the pass in `X-Purchase-Pass`.
async fn check(
    State(s): State<AppState>,
    u: Shopper,
    query: Result<Query<CheckQuery>, QueryRejection>,
    headers: HeaderMap,
) -> AppResult<(StatusCode, Json<PurchaseOutcome>)> {
    let Query(q) = query.map_err(|e| AppError::code(ErrorCode::BadRequest, e.body_text()))?;
    let pass = headers
        .get("x-purchase-pass")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let step = Purchase {
        product_id: ProductId(q.product_id),
        pass: pass.to_string(),
    };
    Ok((StatusCode::ACCEPTED, Json(s.sale.run(&u, step).await?)))
}

async fn orders(State(s): State<AppState>, u: Shopper) -> AppResult<Json<Vec<Order>>> {
    Ok(Json(s.sale.run(&u, MyOrders {}).await?))
}

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

fn signed_in(session: SessionCookie) -> Response {
    let mut r = (
        [(header::SET_COOKIE, session.set_cookie)],
        Json(session.user),
    )
        .into_response();
    if let Some(Ok(route)) = session
        .route_cookie
        .map(|c| header::HeaderValue::from_str(&c))
    {
        r.headers_mut().append(header::SET_COOKIE, route);
    }
    r
}

async fn register(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(c): Body<Credentials>,
) -> AppResult<Response> {
    let session = s.accounts.register(&c.name, &c.password, ip).await?;
    Ok((StatusCode::CREATED, signed_in(session)).into_response())
}

async fn login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(c): Body<Credentials>,
) -> AppResult<Response> {
    Ok(signed_in(s.accounts.login(&c.name, &c.password, ip).await?))
}

async fn logout(State(s): State<AppState>) -> Response {
    let cookie = s.accounts.logout_cookie();
    ([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response()
}

async fn me(u: Shopper) -> Json<User> {
    Json(u.user())
}
