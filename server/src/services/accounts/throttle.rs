//! Slowing down password guessing without letting anyone lock someone else out. Every login and
//! registration first takes a token from its address's bucket (10 a minute after a burst of 30):
//! an address over it is refused before it touches any account. Then wrong passwords slow down
//! the next tries at that name *from that address* (after three, 1 s doubling up to 5 min; forgotten 30 s
//! after the wait is over), and a right one clears them: an attacker's failures never delay the owner's login from elsewhere,
//! and guessing from many addresses is held to each address's own rate. Behind a trusted proxy
//! the address is the shopper's (`services::clients`), so shoppers are limited one by one.

use crate::error::AppError;
use crate::services::clients::masked;
use crate::services::limiter::rate_limited;
use crate::services::sweeper;
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
/// An IPv6 site (a /48) is one address here: one subscriber may hold a /48.
const V6_SITE: u32 = 48;

#[derive(Clone)]
pub struct LoginThrottle(Arc<Inner>);

struct Inner {
    by_address: DefaultKeyedRateLimiter<Option<IpAddr>>,
    failures: DashMap<Key, Failures>,
}

type Key = (String, Option<IpAddr>);

struct Failures {
    count: u32,
    /// No try before this (ms since the epoch); the last failure's time while it is free.
    until: i64,
    /// A password of this pair is being checked: the next waits for its verdict, so that a
    /// burst of concurrent guesses cannot all pass the backoff before the first failure counts.
    checking: bool,
}

/// One password check under way; it records its verdict, and gives the pair back when dropped
/// (a client that hangs up mid-check leaves nothing held).
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    key: Option<Key>,
}

impl LoginThrottle {
    pub fn new() -> Self {
        let per_minute = NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN);
        let throttle = LoginThrottle(Arc::new(Inner {
            by_address: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            failures: DashMap::new(),
        }));
        // Keeps both maps bounded until the last handle is dropped.
        sweeper::every(Duration::from_secs(10), &throttle.0, |inner| {
            inner.sweep(crate::now_ms())
        });
        throttle
    }

    /// One attempt from this address (logins and registrations alike).
    pub fn attempt(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        let Some(ip) = ip else { return Ok(()) };
        self.0
            .by_address
            .check_key(&Some(masked(ip, V6_SITE)))
            .map_err(|n| rate_limited(n.wait_time_from(DefaultClock::default().now())))
    }

    /// A password check for this name from this address: refused while its wrong passwords
    /// still count, or while another check of the same pair is under way.
    pub fn begin(&self, name: &str, ip: Option<IpAddr>, now: i64) -> Result<Attempt<'_>, AppError> {
        let key = key(name, ip);
        let failures = &self.0.failures;
        if failures.len() >= MAX_FAILURES && !failures.contains_key(&key) {
            return Ok(Attempt {
                throttle: self,
                key: None,
            });
        }
        let mut f = failures.entry(key.clone()).or_insert(Failures {
            count: 0,
            until: 0,
            checking: false,
        });
        if f.count >= FREE_FAILURES && f.until > now {
            return Err(rate_limited(Duration::from_millis((f.until - now) as u64)));
        }
        if f.checking {
            return Err(rate_limited(Duration::from_secs(1)));
        }
        f.checking = true;
        Ok(Attempt {
            throttle: self,
            key: Some(key),
        })
    }

    /// Entries: (name and address pairs with failures, addresses with a bucket).
    pub fn sizes(&self) -> (usize, usize) {
        (self.0.failures.len(), self.0.by_address.len())
    }
}

impl Attempt<'_> {
    pub fn failed(mut self, now: i64) {
        let Some(key) = self.key.take() else { return };
        if let Some(mut f) = self.throttle.0.failures.get_mut(&key) {
            f.checking = false;
            f.count = f.count.saturating_add(1);
            f.until = now;
            if f.count >= FREE_FAILURES {
                let doublings = (f.count - FREE_FAILURES).min(20);
                f.until = now + (1_000i64 << doublings).min(MAX_BACKOFF_MS);
            }
        }
    }

    pub fn succeeded(mut self) {
        if let Some(key) = self.key.take() {
            self.throttle.0.failures.remove(&key);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        // No verdict: the pair is free again, and a pair without failures is not kept.
        self.throttle.0.failures.remove_if_mut(&key, |_, f| {
            f.checking = false;
            f.count == 0
        });
    }
}

impl Inner {
    fn sweep(&self, now: i64) {
        self.failures
            .retain(|_, f| f.checking || now - f.until < FORGET_AFTER_MS);
        self.failures.shrink_to_fit();
        // Buckets that are full again hold nothing worth keeping.
        self.by_address.retain_recent();
        self.by_address.shrink_to_fit();
    }
}

fn key(name: &str, ip: Option<IpAddr>) -> Key {
    (
        name.trim().to_ascii_lowercase(),
        ip.map(|ip| masked(ip, V6_SITE)),
    )
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
        // One IPv6 site is one address.
        let site = (0..40).filter(|i| t.attempt(ip(&format!("2001:db8:7:{i}::1"))).is_err());
        assert_eq!(site.count(), 10);
    }

    #[test]
    fn wrong_passwords_slow_that_address_only_and_a_success_clears_them() {
        let t = LoginThrottle::new();
        let (attacker, owner, now) = (ip("6.6.6.6"), ip("1.2.3.4"), 1_000_000);
        for _ in 0..FREE_FAILURES - 1 {
            t.begin("Admin", attacker, now).unwrap().failed(now);
        }
        assert!(t.begin("admin", attacker, now).is_ok(), "typos are free");
        for _ in 0..10 {
            if let Ok(a) = t.begin("admin", attacker, now) {
                a.failed(now);
            }
        }
        assert!(t.begin("ADMIN", attacker, now + 999).is_err());
        assert!(
            t.begin("admin", owner, now).is_ok(),
            "the owner is not locked out"
        );
        // The backoff ends by itself; a success clears it at once.
        let later = now + MAX_BACKOFF_MS;
        t.begin("admin", attacker, later).unwrap().succeeded();
        assert!(t.begin("admin", attacker, later + 1).is_ok());
        assert_eq!(t.sizes().0, 0, "no failures kept: {:?}", t.sizes());
        t.begin("bob", owner, now).unwrap().failed(now);
        t.0.sweep(now + FORGET_AFTER_MS - 1);
        assert_eq!(t.sizes().0, 1);
        t.0.sweep(now + FORGET_AFTER_MS);
        assert_eq!(t.sizes().0, 0, "quiet failures are forgotten");
    }

    #[test]
    fn one_check_at_a_time_per_name_and_address() {
        let t = LoginThrottle::new();
        let (guesser, now) = (ip("6.6.6.6"), 1_000_000);
        let first = t.begin("carol", guesser, now).unwrap();
        // Concurrent guesses wait for the first verdict instead of slipping past the backoff.
        assert!(t.begin("carol", guesser, now).is_err());
        assert!(t.begin("carol", ip("1.2.3.4"), now).is_ok());
        drop(first);
        assert!(
            t.begin("carol", guesser, now).is_ok(),
            "a dropped check frees the pair"
        );
        assert_eq!(t.sizes().0, 0);
    }
}
