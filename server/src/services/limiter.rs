//! Token buckets (governor GCRA) in front of everything, as the seed had them: purchase-class
//! routes 1 token/ms with a burst of 1,000, reads 1 token/ms with a burst of 10,000. Page loads
//! have a bucket of their own (as large as the reads'), so that open pages' calls cannot starve
//! new page loads, nor a flood of page loads the open pages. Over the limit → 429
//! `rate_limited` with Retry-After. Also the keyed buckets that slow down logins.

use crate::config::RateLimits;
use crate::error::AppError;
use app::model::ErrorCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Limiters {
    inner: Option<Arc<Buckets>>,
    logins: Arc<LoginBuckets>,
}

struct Buckets {
    purchase: DefaultDirectRateLimiter,
    read: DefaultDirectRateLimiter,
    page: DefaultDirectRateLimiter,
}

struct LoginBuckets {
    by_name: DefaultKeyedRateLimiter<String>,
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn quota(period: Duration, burst: u32) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

/// Which bucket a request draws from (`controllers::classify` decides, beside the routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Purchase,
    /// API reads: server functions, the JSON API, live streams.
    Read,
    /// HTML page loads.
    Page,
}

impl Limiters {
    pub fn new(cfg: &RateLimits) -> Self {
        let inner = cfg.enabled.then(|| {
            Arc::new(Buckets {
                purchase: RateLimiter::direct(quota(cfg.purchase_period, cfg.purchase_burst)),
                read: RateLimiter::direct(quota(cfg.read_period, cfg.read_burst)),
                page: RateLimiter::direct(quota(cfg.page_period, cfg.page_burst)),
            })
        });
        // Ten attempts in a row, then one every six seconds, per name and per address.
        let login = Quota::per_minute(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN));
        let limiters = Limiters {
            inner,
            logins: Arc::new(LoginBuckets {
                by_name: RateLimiter::keyed(login),
                by_ip: RateLimiter::keyed(
                    login.allow_burst(NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN)),
                ),
            }),
        };
        // Keeps the login maps bounded until the last handle is dropped (only under a runtime).
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let logins = Arc::downgrade(&limiters.logins);
            rt.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(10));
                loop {
                    tick.tick().await;
                    let Some(l) = logins.upgrade() else { return };
                    // Buckets that are full again hold nothing worth keeping.
                    l.by_name.retain_recent();
                    l.by_ip.retain_recent();
                    l.by_name.shrink_to_fit();
                    l.by_ip.shrink_to_fit();
                }
            });
        }
        limiters
    }

    pub fn check(&self, class: Class) -> Result<(), AppError> {
        let Some(b) = &self.inner else { return Ok(()) };
        let bucket = match class {
            Class::Purchase => &b.purchase,
            Class::Read => &b.read,
            Class::Page => &b.page,
        };
        bucket.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            rate_limited(wait)
        })
    }

    /// One login or registration attempt for this name from this address.
    pub fn check_login(&self, name: &str, ip: Option<IpAddr>) -> Result<(), AppError> {
        let clock = DefaultClock::default();
        let key = name.to_ascii_lowercase();
        self.logins
            .by_name
            .check_key(&key)
            .map_err(|n| rate_limited(n.wait_time_from(clock.now())))?;
        if let Some(ip) = ip {
            self.logins
                .by_ip
                .check_key(&ip)
                .map_err(|n| rate_limited(n.wait_time_from(clock.now())))?;
        }
        Ok(())
    }

    /// Keys in the login buckets: (names, addresses).
    pub fn login_keys(&self) -> (usize, usize) {
        (self.logins.by_name.len(), self.logins.by_ip.len())
    }
}

fn rate_limited(wait: Duration) -> AppError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AppError::RateLimited(
        app::model::ApiError::new(ErrorCode::RateLimited, "too many requests, slow down"),
        secs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_and_off_switch() {
        let cfg = RateLimits {
            enabled: true,
            purchase_period: Duration::from_secs(3600),
            purchase_burst: 3,
            read_period: Duration::from_secs(3600),
            read_burst: 1,
            page_period: Duration::from_secs(3600),
            page_burst: 2,
        };
        let l = Limiters::new(&cfg);
        for _ in 0..3 {
            assert!(l.check(Class::Purchase).is_ok());
        }
        match l.check(Class::Purchase) {
            Err(AppError::RateLimited(e, secs)) => {
                assert_eq!(e.error, ErrorCode::RateLimited);
                assert!(secs >= 1);
            }
            other => panic!("expected rate_limited, got {other:?}"),
        }
        // Reads spent do not touch the page loads' bucket, nor the other way round.
        assert!(l.check(Class::Read).is_ok());
        assert!(l.check(Class::Read).is_err());
        assert!(l.check(Class::Page).is_ok() && l.check(Class::Page).is_ok());
        assert!(l.check(Class::Page).is_err());
        let off = Limiters::new(&RateLimits {
            enabled: false,
            ..cfg
        });
        for _ in 0..100 {
            assert!(off.check(Class::Read).is_ok());
        }
    }

    #[test]
    fn logins_are_slowed_per_name() {
        let l = Limiters::new(&RateLimits {
            enabled: false,
            purchase_period: Duration::from_millis(1),
            purchase_burst: 1,
            read_period: Duration::from_millis(1),
            read_burst: 1,
            page_period: Duration::from_millis(1),
            page_burst: 1,
        });
        let refused = (0..20)
            .filter(|_| l.check_login("Bob", None).is_err())
            .count();
        assert_eq!(refused, 10);
        assert!(l.check_login("carol", None).is_ok());
        assert_eq!(l.login_keys(), (2, 0));
    }
}
