//! The JSON API for tools and load generators (`/api/v1/…` and the seed's `/check`). It calls
//! the same pipeline as the server functions; every refusal is `{"error","message"}`.

use super::AppState;
use crate::backend::client_ip;
use crate::error::{AppError, AppResult};
use crate::services::cookie::Claims;
use app::model::{ApiError, ErrorCode, Order, Product, PurchaseOutcome, User};
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/products", get(products))
        .route("/api/v1/products/{id}", get(product))
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

/// JSON body whose every rejection is a 400 (or 413) in our error shape. Parsed straight with
/// serde_json: axum's `Json` tracks the path to a bad field for its message, a few percent of
/// the purchase path for an error message no client reads.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        if !is_json {
            return Err(AppError::code(
                ErrorCode::BadRequest,
                "expected a request with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::code(ErrorCode::PayloadTooLarge, "request body too large")
            } else {
                AppError::code(ErrorCode::BadRequest, e.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| AppError::code(ErrorCode::BadRequest, format!("invalid JSON body: {e}")))
    }
}

/// `application/json` or `application/<anything>+json`, parameters aside.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub.as_bytes()[sub.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// A product id from the path; anything else is a 400.
pub struct ProductId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for ProductId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| ProductId(id))
            .map_err(|e: PathRejection| {
                AppError::code(
                    ErrorCode::BadRequest,
                    format!("product id: {}", e.body_text()),
                )
            })
    }
}

/// The logged-in user, or 401 `unauthenticated`.
pub struct Auth(pub Claims);

impl FromRequestParts<AppState> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        state
            .backend
            .pipeline
            .authenticate(&parts.headers)
            .map(Auth)
    }
}

async fn products(State(s): State<AppState>) -> AppResult<Json<Vec<Product>>> {
    Ok(Json(s.backend.pipeline.products().await?))
}

async fn product(State(s): State<AppState>, ProductId(id): ProductId) -> AppResult<Json<Product>> {
    Ok(Json(s.backend.pipeline.product(id).await?))
}

async fn captcha(
    State(s): State<AppState>,
    Auth(u): Auth,
    ProductId(id): ProductId,
) -> AppResult<Response> {
    Ok(Json(s.backend.pipeline.captcha(&u, id).await?).into_response())
}

#[derive(Deserialize)]
struct VerifyBody {
    captcha_id: String,
    answer: String,
}

async fn verify(
    State(s): State<AppState>,
    Auth(u): Auth,
    ProductId(id): ProductId,
    Body(b): Body<VerifyBody>,
) -> AppResult<Response> {
    let pass = s
        .backend
        .pipeline
        .verify_captcha(&u, id, &b.captcha_id, &b.answer)
        .await?;
    Ok(Json(pass).into_response())
}

#[derive(Deserialize)]
struct PurchaseBody {
    pass: String,
}

async fn purchase(
    State(s): State<AppState>,
    Auth(u): Auth,
    ProductId(id): ProductId,
    Body(b): Body<PurchaseBody>,
) -> AppResult<(StatusCode, Json<PurchaseOutcome>)> {
    let outcome = s.backend.pipeline.purchase(&u, id, &b.pass).await?;
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}

#[derive(Deserialize)]
struct CheckQuery {
    #[serde(rename = "productID")]
    product_id: i64,
}

/// The seed's wrk target: `GET /check?productID=…` with the pass in `X-Purchase-Pass`.
async fn check(
    State(s): State<AppState>,
    Auth(u): Auth,
    query: Result<Query<CheckQuery>, QueryRejection>,
    headers: HeaderMap,
) -> AppResult<(StatusCode, Json<PurchaseOutcome>)> {
    let Query(q) = query.map_err(|e| AppError::code(ErrorCode::BadRequest, e.body_text()))?;
    let pass = headers
        .get("x-purchase-pass")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let outcome = s.backend.pipeline.purchase(&u, q.product_id, pass).await?;
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}

async fn orders(State(s): State<AppState>, Auth(u): Auth) -> AppResult<Json<Vec<Order>>> {
    Ok(Json(s.backend.pipeline.orders(&u).await?))
}

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

fn signed_in(s: &AppState, user: User, claims: &Claims) -> Response {
    let cookie = s.backend.accounts.cookies.set_cookie(claims);
    ([(header::SET_COOKIE, cookie)], Json(user)).into_response()
}

async fn register(
    State(s): State<AppState>,
    parts: ClientIp,
    Body(c): Body<Credentials>,
) -> AppResult<Response> {
    let (user, claims) = s
        .backend
        .accounts
        .register(&c.name, &c.password, parts.0)
        .await?;
    let mut resp = signed_in(&s, user, &claims);
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

async fn login(
    State(s): State<AppState>,
    parts: ClientIp,
    Body(c): Body<Credentials>,
) -> AppResult<Response> {
    let (user, claims) = s
        .backend
        .accounts
        .login(&c.name, &c.password, parts.0)
        .await?;
    Ok(signed_in(&s, user, &claims))
}

async fn logout(State(s): State<AppState>) -> Response {
    let cookie = s.backend.accounts.cookies.clear_cookie();
    ([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response()
}

async fn me(Auth(u): Auth) -> Json<User> {
    Json(User {
        id: u.user_id,
        name: u.name,
        role: u.role,
    })
}

/// The client's address, for slowing down repeated logins.
struct ClientIp(Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
        ] {
            assert!(super::is_json(ok), "{ok}");
        }
        for no in [
            "text/plain",
            "application/jsonx",
            "json",
            "",
            "application/+jso",
        ] {
            assert!(!super::is_json(no), "{no}");
        }
    }
}
