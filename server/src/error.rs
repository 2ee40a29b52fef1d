//! `AppError`: the server's one error type. Refusals carry their code to the client; internal
//! failures are logged here and shown only as "internal error".

use app::model::{ApiError, ErrorCode};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Api(ApiError),
    #[error("{0}")]
    RateLimited(ApiError, u64),
    #[error("internal: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn code(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::Api(ApiError::new(code, message))
    }

    /// Into the shape the server functions speak; internal details stay in the log.
    pub fn into_api(self) -> ApiError {
        match self {
            AppError::Api(e) | AppError::RateLimited(e, _) => e,
            AppError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                ApiError::internal()
            }
        }
    }
}

impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        AppError::Api(e)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let retry = match &self {
            AppError::RateLimited(_, secs) => Some(*secs),
            _ => None,
        };
        let body = self.into_api();
        let status =
            StatusCode::from_u16(body.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

pub type AppResult<T> = Result<T, AppError>;
