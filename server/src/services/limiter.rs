//! Token buckets (governor GCRA). The seed's global buckets stay as the backend's protection —
//! purchase-class routes 1 token/ms with a burst of 1,000, reads and page loads each 1 token/ms
//! with a burst of 10,000 — and in front of them each client has buckets of its own: the shopper
//! on a request with a good cookie, else the address (worth `address_share` shoppers). A client
//! over its share is refused before it takes a token from everyone's bucket, so no single
//! client can spend the crowd's budget. Over a limit → 429 `rate_limited` with Retry-After.

use super::clients::Client;
use crate::config::{Bucket, RateLimits};
use crate::error::AppError;
use crate::ids::UserId;
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

struct Buckets {
    purchase: Lane,
    read: Lane,
    page: Lane,
    max_clients: usize,
}

/// One class's buckets: everyone's, and each client's.
struct Lane {
    global: DefaultDirectRateLimiter,
    by_user: DefaultKeyedRateLimiter<UserId>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
}

pub fn quota(b: Bucket) -> Quota {
    let burst = NonZeroU32::new(b.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(b.period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

impl Lane {
    fn new(global: Bucket, shopper: Bucket, address_share: u32) -> Self {
        let address = Bucket {
            period: shopper.period / address_share,
            burst: shopper.burst.saturating_mul(address_share),
        };
        Lane {
            global: RateLimiter::direct(quota(global)),
            by_user: RateLimiter::keyed(quota(shopper)),
            by_address: RateLimiter::keyed(quota(address)),
        }
    }

    fn check(&self, client: Client, max_clients: usize) -> Result<(), AppError> {
        let clock = DefaultClock::default();
        let refused = |n: governor::NotUntil<_>| rate_limited(n.wait_time_from(clock.now()));
        // A full map takes no new clients (they meet the global bucket only) until its sweep.
        match client {
            Client::User(u) if self.by_user.len() < max_clients => {
                self.by_user.check_key(&u).map_err(refused)?
            }
            Client::Address(ip) if self.by_address.len() < max_clients => {
                self.by_address.check_key(&ip).map_err(refused)?
            }
            _ => {}
        }
        self.global.check().map_err(refused)
    }

    fn sweep(&self) {
        // Buckets that are full again hold nothing worth keeping.
        self.by_user.retain_recent();
        self.by_address.retain_recent();
        self.by_user.shrink_to_fit();
        self.by_address.shrink_to_fit();
    }

    fn clients(&self) -> usize {
        self.by_user.len() + self.by_address.len()
    }
}

impl Limiters {
    pub fn new(cfg: &RateLimits) -> Self {
        let inner = cfg.enabled.then(|| {
            let share = cfg.address_share.max(1);
            Arc::new(Buckets {
                purchase: Lane::new(cfg.purchase, cfg.shopper_purchase, share),
                read: Lane::new(cfg.read, cfg.shopper_read, share),
                page: Lane::new(cfg.page, cfg.shopper_page, share),
                max_clients: cfg.max_clients,
            })
        });
        // Keeps the client maps bounded until the last handle is dropped (only under a runtime).
        if let (Some(b), Ok(rt)) = (&inner, tokio::runtime::Handle::try_current()) {
            let buckets = Arc::downgrade(b);
            rt.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(10));
                loop {
                    tick.tick().await;
                    let Some(b) = buckets.upgrade() else { return };
                    for lane in [&b.purchase, &b.read, &b.page] {
                        lane.sweep();
                    }
                }
            });
        }
        Limiters { inner }
    }

    /// One request of this class from this client: its own bucket, then everyone's.
    pub fn check(&self, class: Class, client: Client) -> Result<(), AppError> {
        let Some(b) = &self.inner else { return Ok(()) };
        let lane = match class {
            Class::Purchase => &b.purchase,
            Class::Read => &b.read,
            Class::Page => &b.page,
        };
        lane.check(client, b.max_clients)
    }

    /// Clients with a bucket of their own, over all classes.
    pub fn clients(&self) -> usize {
        self.inner.as_ref().map_or(0, |b| {
            b.purchase.clients() + b.read.clients() + b.page.clients()
        })
    }
}

pub fn rate_limited(wait: Duration) -> AppError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AppError::RateLimited(
        app::model::ApiError::new(ErrorCode::RateLimited, "too many requests, slow down"),
        secs.max(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(global: u32, shopper: u32) -> RateLimits {
        let b = |burst| Bucket {
            period: Duration::from_secs(3600),
            burst,
        };
        RateLimits {
            enabled: true,
            purchase: b(global),
            read: b(global),
            page: b(global),
            shopper_purchase: b(shopper),
            shopper_read: b(shopper),
            shopper_page: b(shopper),
            address_share: 2,
            max_clients: 1_000,
        }
    }

    #[test]
    fn a_client_over_its_share_leaves_the_crowds_budget_alone() {
        let l = Limiters::new(&limits(10, 3));
        let (greedy, other) = (Client::User(UserId(1)), Client::User(UserId(2)));
        let refused = (0..100)
            .filter(|_| l.check(Class::Purchase, greedy).is_err())
            .count();
        assert_eq!(refused, 97);
        // The greedy client took 3 of the 10 global tokens, not all of them.
        assert!((0..3).all(|_| l.check(Class::Purchase, other).is_ok()));
        match l.check(Class::Purchase, other) {
            Err(AppError::RateLimited(e, secs)) => {
                assert_eq!(e.error, ErrorCode::RateLimited);
                assert!(secs >= 1);
            }
            other => panic!("expected rate_limited, got {other:?}"),
        }
        // An address is worth `address_share` shoppers; classes do not share buckets.
        let addr = Client::Address("10.1.2.3".parse().unwrap());
        assert_eq!(
            (0..10)
                .filter(|_| l.check(Class::Page, addr).is_ok())
                .count(),
            6
        );
        assert!(l.check(Class::Read, addr).is_ok());
        // Global buckets still bind: a crowd of new clients shares them.
        let crowd = (100..200).filter(|i| l.check(Class::Read, Client::User(UserId(*i))).is_ok());
        assert_eq!(crowd.count(), 9);
    }

    #[test]
    fn the_off_switch_and_the_bound_on_clients() {
        let off = Limiters::new(&RateLimits {
            enabled: false,
            ..limits(1, 1)
        });
        assert!((0..100).all(|_| off.check(Class::Read, Client::Unknown).is_ok()));
        let bounded = Limiters::new(&RateLimits {
            max_clients: 2,
            ..limits(1_000, 1)
        });
        for i in 0..10 {
            let _ = bounded.check(Class::Page, Client::User(UserId(i)));
        }
        assert_eq!(bounded.clients(), 2);
    }
}
