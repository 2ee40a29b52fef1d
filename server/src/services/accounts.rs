//! Registration and login: names checked at the edge, argon2 hashing off the async threads,
//! attempts slowed per name and address, and no hint whether the name or the password was wrong.

use super::cookie::{Claims, CookieCodec};
use super::limiter::Limiters;
use crate::error::{AppError, AppResult};
use crate::now_ms;
use crate::repositories::db::is_unique_violation;
use crate::repositories::{users, Db};
use app::model::{ErrorCode, Role, User};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::net::IpAddr;

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

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

#[derive(Clone)]
pub struct Accounts {
    pub db: Db,
    pub cookies: CookieCodec,
    pub limiters: Limiters,
    /// Verified against when the name is unknown, so both failures take the same time.
    dummy_hash: String,
}

impl Accounts {
    pub fn new(db: Db, cookies: CookieCodec, limiters: Limiters) -> anyhow::Result<Self> {
        Ok(Accounts {
            db,
            cookies,
            limiters,
            dummy_hash: hash_password("not-a-real-password")?,
        })
    }

    pub async fn register(
        &self,
        name: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> AppResult<(User, Claims)> {
        let name = UserName::parse(name)?;
        check_password(password)?;
        self.limiters.check_login(&name.0, ip)?;
        let pw = password.to_string();
        let hash = blocking(move || hash_password(&pw)).await??;
        let user = match users::insert(&self.db, &name.0, &hash, Role::Shopper, now_ms()).await {
            Ok(u) => u,
            Err(e) if is_unique_violation(&e) => {
                return Err(AppError::code(ErrorCode::Conflict, "this name is taken"))
            }
            Err(e) => return Err(e.into()),
        };
        let claims = self
            .cookies
            .claims(user.id, user.role, &user.name, now_ms());
        Ok((user, claims))
    }

    pub async fn login(
        &self,
        name: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> AppResult<(User, Claims)> {
        let refused = || AppError::code(ErrorCode::InvalidCredentials, "wrong name or password");
        if name.len() > 64 || password.len() > 256 {
            return Err(refused());
        }
        self.limiters.check_login(name.trim(), ip)?;
        let stored = users::find_by_name(&self.db, name.trim()).await?;
        let hash = stored
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |s| s.password_hash.clone());
        let pw = password.to_string();
        let ok = blocking(move || verify_password(&pw, &hash)).await?;
        match stored {
            Some(s) if ok => {
                let claims = self
                    .cookies
                    .claims(s.user.id, s.user.role, &s.user.name, now_ms());
                Ok((s.user, claims))
            }
            _ => Err(refused()),
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
    fn passwords_hash_and_verify() {
        let h = hash_password("correct-horse").unwrap();
        assert!(verify_password("correct-horse", &h));
        assert!(!verify_password("wrong-horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password("short").is_err());
    }
}
