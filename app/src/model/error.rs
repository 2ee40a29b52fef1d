//! The one error type of the API and the server functions: `{"error": CODE, "message": TEXT}`.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    RateLimited,
    TooFrequent,
    Blacklisted,
    OutsideWindow,
    CaptchaRequired,
    CaptchaInvalid,
    AlreadyBought,
    SoldOut,
    Unavailable,
    BadRequest,
    PayloadTooLarge,
    NotFound,
    Conflict,
    InvalidCredentials,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooFrequent => "too_frequent",
            ErrorCode::Blacklisted => "blacklisted",
            ErrorCode::OutsideWindow => "outside_window",
            ErrorCode::CaptchaRequired => "captcha_required",
            ErrorCode::CaptchaInvalid => "captcha_invalid",
            ErrorCode::AlreadyBought => "already_bought",
            ErrorCode::SoldOut => "sold_out",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Unauthenticated | ErrorCode::InvalidCredentials => 401,
            ErrorCode::Forbidden | ErrorCode::Blacklisted | ErrorCode::OutsideWindow => 403,
            ErrorCode::RateLimited | ErrorCode::TooFrequent => 429,
            ErrorCode::CaptchaRequired | ErrorCode::CaptchaInvalid | ErrorCode::BadRequest => 400,
            ErrorCode::AlreadyBought | ErrorCode::Conflict => 409,
            ErrorCode::SoldOut => 410,
            ErrorCode::Unavailable => 503,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::NotFound => 404,
            ErrorCode::Internal => 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ErrorCode,
    pub message: String,
    /// Form fields that were refused, each with its own message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<super::FieldError>,
}

impl ApiError {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "this needs an admin account")
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "please log in first")
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error, please try again")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

mod server_fn_error {
    use super::{ApiError, ErrorCode};
    use leptos::prelude::{FromServerFnError, ServerFnErrorErr};
    use leptos::server_fn::codec::JsonEncoding;

    impl FromServerFnError for ApiError {
        type Encoder = JsonEncoding;

        fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
            match value {
                ServerFnErrorErr::Args(m)
                | ServerFnErrorErr::MissingArg(m)
                | ServerFnErrorErr::Deserialization(m) => {
                    ApiError::new(ErrorCode::BadRequest, format!("bad request: {m}"))
                }
                ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => ApiError::new(
                    ErrorCode::Unavailable,
                    "the server could not be reached, please try again",
                ),
                _ => ApiError::internal(),
            }
        }
    }
}
