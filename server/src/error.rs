//! `AppError`: the server's one error type. Refusals carry their code to the client; an internal
//! failure is shown only as "internal error", and its detail is logged once, with its route, by
//! the request middleware (`controllers::gate`, through [`watch`]).

use app::model::{ApiError, ErrorCode};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::cell::RefCell;
use std::future::Future;

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
}

tokio::task_local! {
    /// The detail of the internal failure a request ended in, for the middleware to log.
    static FAILURE: RefCell<Option<String>>;
}

/// Runs one request, and returns the detail of the internal failure it ended in, if any.
pub async fn watch<F: Future>(request: F) -> (F::Output, Option<String>) {
    FAILURE
        .scope(RefCell::new(None), async {
            let out = request.await;
            (out, FAILURE.with(|f| f.borrow_mut().take()))
        })
        .await
}

fn report(detail: String) {
    let unwatched = FAILURE
        .try_with(|f| f.borrow_mut().replace(detail.clone()))
        .is_err();
    // Outside a watched request (a task of its own, a test): nobody else will log it.
    if unwatched {
        tracing::error!(error = %detail, "internal error");
    }
}

/// Into the shape the server functions and peers speak; internal details stay in the log.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Api(e) | AppError::RateLimited(e, _) => e,
            AppError::Internal(e) => {
                report(format!("{e:#}"));
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
    /// A database that is down or too slow is a 503 the client may retry; anything else a 500.
    fn from(e: sqlx::Error) -> Self {
        if crate::repositories::db::is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return AppError::code(
                ErrorCode::Unavailable,
                "the database is not answering: please try again in a moment",
            );
        }
        AppError::Internal(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let retry = match &self {
            AppError::RateLimited(_, secs) => Some(*secs),
            _ => None,
        };
        let body = ApiError::from(self);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_internal_failure_reaches_the_watcher_once_and_the_client_not_at_all() {
        let (answer, failure) =
            watch(async { ApiError::from(AppError::Internal(anyhow::anyhow!("disk on fire"))) })
                .await;
        assert_eq!(answer.error, ErrorCode::Internal);
        assert!(!answer.message.contains("disk"));
        assert_eq!(failure.as_deref(), Some("disk on fire"));
        let (_, none) =
            watch(async { ApiError::from(AppError::code(ErrorCode::SoldOut, "x")) }).await;
        assert_eq!(none, None);
    }
}
