//! Slowing down password guessing without letting anyone lock someone else out. Every login and
//! registration first takes a token from its address's bucket (10 a minute after a burst of 30):
//! an address over it is refused before it touches any account. Then wrong passwords slow down
//! the next tries at that name *from that address* (after three, 1 s doubling up to 5 min; forgotten 30 s
//! after the wait is over), and a right one clears them: an attacker's failures never delay the owner's login from elsewhere,
//! and guessing from many addresses is held to each address's own rate. Behind a trusted proxy
//! the address is the shopper's (`services::clients`), so shoppers are limited one by one.

use crate::error::AppError;
use crate::services::clients::Client;
use crate::services::limiter::rate_limited;
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Wrong passwords that cost nothing (typos).
const FREE_FAILURES: u32 = 3;
const MAX_BACKOFF_MS: i64 = 5 * 60_000;
/// Failures are forgotten this long after the wait they earned is over, without another.
const FORGET_AFTER_MS: i64 = 30_000;
/// (name, address) pairs remembered; beyond it only the address buckets slow guessing.
const MAX_FAILURES: usize = 200_000;

#[derive(Clone)]
pub struct LoginThrottle(Arc<Inner>);

struct Inner {
    by_address: DefaultKeyedRateLimiter<Client>,
    failures: DashMap<(String, Client), Failures>,
}

struct Failures {
    count: u32,
    /// No try before this (ms since the epoch); the last failure's time while it is free.
    until: i64,
}

impl LoginThrottle {
    pub fn new() -> Self {
        let per_minute = NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN);
        let throttle = LoginThrottle(Arc::new(Inner {
            by_address: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            failures: DashMap::new(),
        }));
        // Keeps both maps bounded until the last handle is dropped (only under a runtime).
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let inner = Arc::downgrade(&throttle.0);
            rt.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(10));
                loop {
                    tick.tick().await;
                    let Some(inner) = inner.upgrade() else { return };
                    inner.sweep(crate::now_ms());
                }
            });
        }
        throttle
    }

    /// One attempt from this address (logins and registrations alike).
    pub fn attempt(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        let client = Client::of(None, ip);
        if client == Client::Unknown {
            return Ok(());
        }
        self.0.by_address.check_key(&client).map_err(|n| {
            let wait = n.wait_time_from(DefaultClock::default().now());
            rate_limited(wait)
        })
    }

    /// Refused while this address's wrong passwords for this name still count.
    pub fn backoff(&self, name: &str, ip: Option<IpAddr>, now: i64) -> Result<(), AppError> {
        match self.0.failures.get(&key(name, ip)) {
            Some(f) if f.until > now => {
                Err(rate_limited(Duration::from_millis((f.until - now) as u64)))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, name: &str, ip: Option<IpAddr>, now: i64) {
        let key = key(name, ip);
        if self.0.failures.len() >= MAX_FAILURES && !self.0.failures.contains_key(&key) {
            return;
        }
        let mut f = self
            .0
            .failures
            .entry(key)
            .or_insert(Failures { count: 0, until: 0 });
        f.count = f.count.saturating_add(1);
        f.until = now;
        if f.count >= FREE_FAILURES {
            let doublings = (f.count - FREE_FAILURES).min(20);
            f.until = now + (1_000i64 << doublings).min(MAX_BACKOFF_MS);
        }
    }

    pub fn succeeded(&self, name: &str, ip: Option<IpAddr>) {
        self.0.failures.remove(&key(name, ip));
    }

    /// Entries: (name and address pairs with failures, addresses with a bucket).
    pub fn sizes(&self) -> (usize, usize) {
        (self.0.failures.len(), self.0.by_address.len())
    }
}

impl Inner {
    fn sweep(&self, now: i64) {
        self.failures.retain(|_, f| now - f.until < FORGET_AFTER_MS);
        self.failures.shrink_to_fit();
        // Buckets that are full again hold nothing worth keeping.
        self.by_address.retain_recent();
        self.by_address.shrink_to_fit();
    }
}

fn key(name: &str, ip: Option<IpAddr>) -> (String, Client) {
    (name.trim().to_ascii_lowercase(), Client::of(None, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_address_over_its_rate_is_refused_before_any_account() {
        let t = LoginThrottle::new();
        let refused = (0..40)
            .filter(|_| t.attempt(ip("10.0.0.1")).is_err())
            .count();
        assert_eq!(refused, 10);
        assert!(t.attempt(ip("10.0.0.2")).is_ok());
    }

    #[test]
    fn wrong_passwords_slow_that_address_only_and_a_success_clears_them() {
        let t = LoginThrottle::new();
        let (attacker, owner, now) = (ip("6.6.6.6"), ip("1.2.3.4"), 1_000_000);
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("Admin", attacker, now);
        }
        assert!(t.backoff("admin", attacker, now).is_ok(), "typos are free");
        for _ in 0..10 {
            t.failed("admin", attacker, now);
        }
        assert!(t.backoff("ADMIN", attacker, now + 1_000).is_err());
        assert!(
            t.backoff("admin", owner, now).is_ok(),
            "the owner is not locked out"
        );
        // The backoff ends by itself, capped; a success clears it at once.
        assert!(t.backoff("admin", attacker, now + MAX_BACKOFF_MS).is_ok());
        t.succeeded("admin", attacker);
        assert!(t.backoff("admin", attacker, now + 1).is_ok());
        assert_eq!(t.sizes().0, 0);
        t.failed("bob", owner, now);
        t.0.sweep(now + FORGET_AFTER_MS - 1);
        assert_eq!(t.sizes().0, 1);
        t.0.sweep(now + FORGET_AFTER_MS);
        assert_eq!(t.sizes().0, 0, "quiet failures are forgotten");
    }
}
