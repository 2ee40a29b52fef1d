//! Revoked logins. The cookie carries the user and role for its whole lifetime (any node can
//! check it without a database), so taking a login back is a time in the users table: cookies
//! of that user issued before it no longer count. Every node reads the recent revocations (those
//! younger than a cookie's lifetime: older ones can only match expired cookies) every couple of
//! seconds; the node that revokes applies it at once.

use crate::repositories::{users, Db};
use dashmap::DashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const REFRESH: Duration = Duration::from_secs(2);
const KEEP_AT_LEAST: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Clone, Default)]
pub struct Revocations(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// user → logins issued before this (ms) are revoked. Sharded: every request reads it.
    before: DashMap<i64, i64>,
    /// Whether `before` holds anything: the usual answer, read without touching a shard.
    any: AtomicBool,
}

impl Revocations {
    /// Reads the recent revocations and keeps reading them while a handle lives.
    pub async fn load(db: Db, session_ttl: Duration) -> anyhow::Result<Self> {
        // At least 30 days back: cookies sealed before a shorter FLASH_SESSION_TTL_SECS was set
        // still carry their longer lives.
        let ttl_ms = i64::try_from(session_ttl.max(KEEP_AT_LEAST).as_millis()).unwrap_or(i64::MAX);
        let revocations = Revocations::default();
        revocations.refresh(&db, ttl_ms).await?;
        let weak = Arc::downgrade(&revocations.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = Revocations(inner).refresh(&db, ttl_ms).await {
                    tracing::warn!(error = %e, "revoked logins not refreshed");
                }
            }
        });
        Ok(revocations)
    }

    async fn refresh(&self, db: &Db, ttl_ms: i64) -> Result<(), sqlx::Error> {
        let since = crate::now_ms().saturating_sub(ttl_ms);
        // Revocations only move forward: one this node made while the read ran stays.
        for (user, at) in users::revoked_since(db, since).await? {
            self.revoked(user, at);
        }
        let before = &self.0.before;
        before.retain(|_, at| *at > since);
        if before.is_empty() {
            self.0.any.store(false, Ordering::Release);
            // One made meanwhile must not be hidden until the next refresh.
            if !before.is_empty() {
                self.0.any.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    /// A revocation made here: it counts at once on this node.
    pub fn revoked(&self, user_id: i64, at: i64) {
        let mut e = self.0.before.entry(user_id).or_insert(at);
        *e = (*e).max(at);
        drop(e);
        self.0.any.store(true, Ordering::Release);
    }

    /// Whether a login of this user issued at `issued_at` still counts.
    pub fn allows(&self, user_id: i64, issued_at: i64) -> bool {
        if !self.0.any.load(Ordering::Acquire) {
            return true;
        }
        self.0
            .before
            .get(&user_id)
            .is_none_or(|at| issued_at >= *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_issued_before_a_revocation_stop_counting() {
        let r = Revocations::default();
        assert!(r.allows(7, 1_000));
        r.revoked(7, 5_000);
        assert!(!r.allows(7, 4_999), "an older login is revoked");
        assert!(r.allows(7, 5_000), "a login after the revocation counts");
        assert!(r.allows(8, 0), "other users are untouched");
    }
}
