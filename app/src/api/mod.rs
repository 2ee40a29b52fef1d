//! Server functions: thin doors into the backend port. Each one reads the request, calls ONE
//! method of [`Backend`] and returns its answer; all checks live on the server side.

mod admin;
mod auth;
#[cfg(feature = "ssr")]
mod port;
mod products;
mod sale;

pub use admin::*;
pub use auth::*;
#[cfg(feature = "ssr")]
pub use port::{Backend, SessionCookie};
pub use products::*;
pub use sale::*;

#[cfg(feature = "ssr")]
mod ssr {
    use super::Backend;
    use crate::model::ApiError;
    use std::sync::Arc;

    pub type Parts = http::request::Parts;

    /// The backend and the raw request of the current server function call.
    pub async fn context() -> Result<(Arc<dyn Backend>, Parts), ApiError> {
        let backend = leptos::prelude::use_context::<Arc<dyn Backend>>().ok_or_else(|| {
            leptos::logging::error!("backend port missing from the Leptos context");
            ApiError::internal()
        })?;
        let parts: Parts = leptos_axum::extract()
            .await
            .map_err(|_| ApiError::internal())?;
        Ok((backend, parts))
    }

    pub fn set_cookie(value: &str) {
        if let (Some(opts), Ok(value)) = (
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
            http::HeaderValue::from_str(value),
        ) {
            opts.append_header(http::header::SET_COOKIE, value);
        }
    }
}
