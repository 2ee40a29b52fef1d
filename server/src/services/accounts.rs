//! Registration and login: names checked at the edge, argon2 hashing off the async threads,
//! attempts slowed per name and address, and no hint whether the name or the password was wrong.

use super::cookie::CookieCodec;
use super::limiter::Limiters;
use crate::error::{AppError, AppResult};
use crate::now_ms;
use crate::repositories::db::is_unique_violation;
use crate::repositories::{users, Db};
use app::api::SessionCookie;
use app::model::{ErrorCode, Role, User};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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

/// Password hashing on a few threads of its own (one per core), fed through a queue. Each argon2
/// hash takes 19 MiB: on tokio's blocking pool (up to 512 threads) a flood of logins from many
/// addresses ran hundreds at once, and every thread's allocator arena kept its own copies, so the
/// process grew by gigabytes and never gave them back. Here at most one hash per core runs, always
/// on the same threads; waiting logins are just queued closures.
#[derive(Clone)]
struct HashPool(std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>);

impl HashPool {
    fn new() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            // The threads end when the last `Accounts` (and with it the sender) is dropped.
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })?;
        }
        Ok(HashPool(tx))
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = move || {
            // A panic fails this request only; the thread lives on.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            if let Ok(out) = out {
                let _ = tx.send(out);
            }
        };
        self.0
            .send(Box::new(job))
            .map_err(|_| AppError::Internal(anyhow::anyhow!("password hashing stopped")))?;
        rx.await.map_err(|e| AppError::Internal(e.into()))
    }
}

#[derive(Clone)]
pub struct Accounts {
    db: Db,
    cookies: CookieCodec,
    limiters: Limiters,
    /// Verified against when the name is unknown, so both failures take the same time.
    dummy_hash: String,
    hashing: HashPool,
}

impl Accounts {
    pub fn new(db: Db, cookies: CookieCodec, limiters: Limiters) -> anyhow::Result<Self> {
        Ok(Accounts {
            db,
            cookies,
            limiters,
            dummy_hash: hash_password("not-a-real-password")?,
            hashing: HashPool::new()?,
        })
    }

    pub async fn register(
        &self,
        name: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> AppResult<SessionCookie> {
        let name = UserName::parse(name)?;
        check_password(password)?;
        self.limiters.check_login(&name.0, ip)?;
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
        self.limiters.check_login(name.trim(), ip)?;
        let stored = users::find_by_name(&self.db, name.trim()).await?;
        let hash = stored
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |s| s.password_hash.clone());
        let pw = password.to_string();
        let ok = self
            .hashing
            .run(move || verify_password(&pw, &hash))
            .await?;
        match stored {
            Some(s) if ok => Ok(self.session(s.user)),
            _ => Err(refused()),
        }
    }

    /// The `Set-Cookie` value that removes the auth cookie.
    pub fn logout_cookie(&self) -> String {
        self.cookies.clear_cookie()
    }

    fn session(&self, user: User) -> SessionCookie {
        let claims = self
            .cookies
            .claims(user.id, user.role, &user.name, now_ms());
        SessionCookie {
            set_cookie: self.cookies.set_cookie(&claims),
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
    fn passwords_hash_and_verify() {
        let h = hash_password("correct-horse").unwrap();
        assert!(verify_password("correct-horse", &h));
        assert!(!verify_password("wrong-horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password("short").is_err());
    }
}
