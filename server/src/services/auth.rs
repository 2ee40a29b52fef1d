//! Who is asking, decided once per request: the auth cookie becomes a proof value. A [`Shopper`]
//! is any logged-in user whose logins were not revoked since; an [`Admin`] exists only for the
//! admin role. Every sale step takes a shopper and every operator action an admin, so a door
//! that forgets the check does not compile. The gate opens the cookie once and keeps the proof
//! in the request's extensions; the doors take it from there.

use super::cookie::{Claims, CookieCodec};
use super::revocations::Revocations;
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use app::model::{ApiError, Role, User};
use axum::http::request::Parts;
use axum::http::HeaderMap;

/// A logged-in user, proven by their cookie (or vouched for by a peer node of the ring).
#[derive(Debug, Clone)]
pub struct Shopper(Claims);

/// A logged-in admin.
#[derive(Debug, Clone)]
pub struct Admin(Claims);

impl Shopper {
    /// A user a peer node authenticated: the ring's calls carry the shared secret, checked by
    /// `controllers::internal` before this is reached.
    pub fn vouched_by_peer(claims: Claims) -> Self {
        Shopper(claims)
    }

    pub fn id(&self) -> UserId {
        UserId(self.0.user_id)
    }

    pub fn claims(&self) -> &Claims {
        &self.0
    }

    pub fn user(&self) -> User {
        User {
            id: self.0.user_id,
            name: self.0.name.clone(),
            role: self.0.role,
        }
    }
}

impl Admin {
    pub fn id(&self) -> UserId {
        UserId(self.0.user_id)
    }
}

#[derive(Clone)]
pub struct Authenticator {
    cookies: CookieCodec,
    revocations: Revocations,
}

impl Authenticator {
    pub fn new(cookies: CookieCodec, revocations: Revocations) -> Self {
        Authenticator {
            cookies,
            revocations,
        }
    }

    /// The logged-in user from the cookie itself, or 401 `unauthenticated`.
    pub fn shopper(&self, headers: &HeaderMap) -> AppResult<Shopper> {
        self.cookies
            .from_headers(headers, crate::now_ms())
            .ok()
            .filter(|c| self.revocations.allows(c.user_id, c.issued_at))
            .map(Shopper)
            .ok_or_else(|| AppError::Api(ApiError::unauthenticated()))
    }

    /// The logged-in user of a request: the gate's proof, or the cookie's.
    pub fn shopper_of(&self, parts: &Parts) -> AppResult<Shopper> {
        match parts.extensions.get::<Shopper>() {
            Some(proven) => Ok(proven.clone()),
            None => self.shopper(&parts.headers),
        }
    }

    /// A logged-in admin: 401 without login, 403 for a shopper.
    pub fn admin(&self, parts: &Parts) -> AppResult<Admin> {
        let Shopper(claims) = self.shopper_of(parts)?;
        if claims.role == Role::Admin {
            Ok(Admin(claims))
        } else {
            Err(AppError::Api(ApiError::forbidden()))
        }
    }
}
