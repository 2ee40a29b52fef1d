//! Registration and login: names checked at the edge, argon2 hashing off the async threads
//! (`hashing.rs`), attempts slowed per address and wrong passwords per name and address
//! (`throttle.rs`), and no hint whether the name or the password was wrong.

mod hashing;
mod throttle;

pub use hashing::hash_password;

use super::cookie::CookieCodec;
use super::forward::{Forwarder, ROUTE_COOKIE};
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use crate::now_ms;
use crate::repositories::db::is_unique_violation;
use crate::repositories::{users, Db};
use app::api::SessionCookie;
use app::model::{ErrorCode, Role, User};
use hashing::{verify_password, HashPool};
use std::net::IpAddr;
use throttle::LoginThrottle;

/// A user name that passed validation: 3–32 of `A–Z a–z 0–9 _ - .`.
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> AppResult<Self> {
        let name = raw.trim();
        let ok_len = (3..=32).contains(&name.len());
        let ok_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok_len && ok_chars {
            Ok(UserName(name.to_string()))
        } else {
            Err(AppError::code(
                ErrorCode::BadRequest,
                "name: 3 to 32 characters, letters, digits, '_', '-' or '.'",
            ))
        }
    }
}

fn check_password(password: &str) -> AppResult<()> {
    if (8..=128).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(AppError::code(
            ErrorCode::BadRequest,
            "password: 8 to 128 characters",
        ))
    }
}

#[derive(Clone)]
pub struct Accounts {
    db: Db,
    cookies: CookieCodec,
    throttle: LoginThrottle,
    /// Verified against when the name is unknown, so both failures take the same time.
    dummy_hash: String,
    hashing: HashPool,
    /// On a ring: who owns each shopper, for the balancer's routing cookie.
    routing: Option<Forwarder>,
}

impl Accounts {
    pub fn new(db: Db, cookies: CookieCodec) -> anyhow::Result<Self> {
        Ok(Accounts {
            db,
            cookies,
            throttle: LoginThrottle::new(),
            dummy_hash: hash_password("not-a-real-password")?,
            hashing: HashPool::new()?,
            routing: None,
        })
    }

    /// Logins on a ring also set the routing cookie of the shopper's owner node.
    pub fn routing(self, ring: Option<Forwarder>) -> Self {
        Accounts {
            routing: ring,
            ..self
        }
    }

    pub async fn register(
        &self,
        name: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> AppResult<SessionCookie> {
        let name = UserName::parse(name)?;
        check_password(password)?;
        self.throttle.attempt(ip)?;
        let pw = password.to_string();
        let hash = self.hashing.run(move || hash_password(&pw)).await??;
        let user = match users::insert(&self.db, &name.0, &hash, Role::Shopper, now_ms()).await {
            Ok(u) => u,
            Err(e) if is_unique_violation(&e) => {
                return Err(AppError::code(ErrorCode::Conflict, "this name is taken"))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(self.session(user))
    }

    pub async fn login(
        &self,
        name: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> AppResult<SessionCookie> {
        let refused = || AppError::code(ErrorCode::InvalidCredentials, "wrong name or password");
        if name.len() > 64 || password.len() > 256 {
            return Err(refused());
        }
        let name = name.trim();
        self.throttle.attempt(ip)?;
        let attempt = self.throttle.begin(name, ip, now_ms())?;
        let stored = users::find_by_name(&self.db, name).await?;
        let hash = stored
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |s| s.password_hash.clone());
        let pw = password.to_string();
        let ok = self
            .hashing
            .run(move || verify_password(&pw, &hash))
            .await?;
        match stored {
            Some(s) if ok => {
                attempt.succeeded();
                Ok(self.session(s.user))
            }
            _ => {
                attempt.failed(now_ms());
                Err(refused())
            }
        }
    }

    /// Entries of the login throttle: (name and address pairs, addresses).
    pub fn throttled(&self) -> (usize, usize) {
        self.throttle.sizes()
    }

    /// The `Set-Cookie` value that removes the auth cookie.
    pub fn logout_cookie(&self) -> String {
        self.cookies.clear_cookie()
    }

    fn session(&self, user: User) -> SessionCookie {
        let claims = self
            .cookies
            .claims(user.id, user.role, &user.name, now_ms());
        let route_cookie = self.routing.as_ref().map(|ring| {
            let owner = ring.owner_id(UserId(user.id));
            self.cookies.plain_cookie(ROUTE_COOKIE, owner)
        });
        SessionCookie {
            set_cookie: self.cookies.set_cookie(&claims),
            route_cookie,
            user,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for good in ["bob", "alice_01", "a.b-c", &"x".repeat(32)] {
            assert!(UserName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "ab", "has space", "<script>", "émile", &"x".repeat(33)] {
            assert!(UserName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(129)).is_err());
        assert!(check_password("long-enough").is_ok());
    }
}
