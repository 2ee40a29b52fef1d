//! What handlers take from a request, each refusal in our error shape: a JSON body, a product id
//! from the path, the shopper or admin proof from the cookie, the client's address.

use super::AppState;
use crate::error::AppError;
use crate::ids::{ProductId, UserId};
use crate::services::auth::{Admin, Shopper};
use crate::services::clients::{Client, ClientAddr};
use app::model::ErrorCode;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, request::Parts, StatusCode};
use std::net::IpAddr;

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
impl FromRequestParts<AppState> for Shopper {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, AppError> {
        s.auth.shopper_of(parts)
    }
}

/// An admin, or 401 / 403.
impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, AppError> {
        s.auth.admin(parts)
    }
}

/// Whoever opens a page: the shopper if their cookie is good (a page needs no login), and the
/// client its live streams are counted against.
pub struct Viewer {
    pub user: Option<UserId>,
    pub client: Client,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let user = s.auth.shopper_of(parts).ok().map(|u| u.id());
        let client = Client::of(user, client_ip(parts));
        Ok(Viewer { user, client })
    }
}

/// The client's address as the gate found it (through trusted proxies).
pub fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ClientAddr>().map(|c| c.ip)
}

/// The client's address, for slowing down repeated logins.
pub struct ClientIp(pub Option<IpAddr>);

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
