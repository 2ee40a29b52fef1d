use crate::model::{ApiError, User};
use leptos::prelude::*;

#[server(endpoint = "login")]
pub async fn login(name: String, password: String) -> Result<User, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    let session = backend.login(&parts, name, password).await?;
    super::ssr::set_cookie(&session.set_cookie);
    if let Some(route) = &session.route_cookie {
        super::ssr::set_cookie(route);
    }
    Ok(session.user)
}

#[server(endpoint = "register")]
pub async fn register(name: String, password: String) -> Result<User, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    let session = backend.register(&parts, name, password).await?;
    super::ssr::set_cookie(&session.set_cookie);
    if let Some(route) = &session.route_cookie {
        super::ssr::set_cookie(route);
    }
    Ok(session.user)
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    let (backend, _parts) = super::ssr::context().await?;
    super::ssr::set_cookie(&backend.logout());
    Ok(())
}

#[server(endpoint = "me")]
pub async fn current_user() -> Result<Option<User>, ApiError> {
    let (backend, parts) = super::ssr::context().await?;
    backend.current_user(&parts).await
}
