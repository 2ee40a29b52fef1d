//! Token buckets (governor GCRA). The seed's global buckets stay as the backend's protection —
//! purchases 1 token/ms with a burst of 1,000, reads and page loads each 1 token/ms with a burst
//! of 10,000; captchas and their answers, which the seed did not bucket, have one of their own
//! (burst 20,000, a token each 50 µs: drawn ahead, an answer costs microseconds) — and in
//! front of them each client has buckets of its own: the shopper on a request with a good
//! cookie, else the address (worth `address_share` shoppers). A client over its share is refused before it takes a token from everyone's bucket, so no single
//! client can spend the crowd's budget. Over a limit → 429 `rate_limited` with Retry-After.

use super::clients::Client;
use crate::config::{Bucket, RateLimits};
use crate::error::AppError;
use crate::ids::UserId;
use app::model::ErrorCode;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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
    /// A captcha and its answer.
    Captcha,
    /// API reads: server functions, the JSON API, live streams.
    Read,
    /// HTML page loads.
    Page,
}

struct Buckets {
    purchase: Lane,
    captcha: Lane,
    read: Lane,
    page: Lane,
}

/// One class's buckets: everyone's, and each client's (no addresses in the purchase and captcha
/// classes: those steps without a login are a 401 before they get here).
struct Lane {
    global: DefaultDirectRateLimiter,
    by_user: Keyed<UserId>,
    by_address: Option<Keyed<IpAddr>>,
}

/// Clients' buckets, at most `max` of them. When full, clients share `OVERFLOW` buckets by a
/// hash of their key until the sweep drops the idle: a flood of new clients can neither grow
/// the map without end nor switch the per-client layer off.
struct Keyed<K: Hash + Eq + Clone> {
    buckets: DefaultKeyedRateLimiter<Key<K>>,
    full: AtomicBool,
    asked: AtomicU32,
    max: usize,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key<K> {
    One(K),
    Overflow(u16),
}

const OVERFLOW: u64 = 4096;
/// How often (in checks) the map's size is looked at: counting it locks every shard.
const SIZE_EVERY: u32 = 256;

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(quota: Quota, max: usize) -> Self {
        Keyed {
            buckets: RateLimiter::keyed(quota),
            full: AtomicBool::new(false),
            asked: AtomicU32::new(0),
            max,
        }
    }

    fn check(&self, key: K) -> Result<(), Duration> {
        if self
            .asked
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SIZE_EVERY)
        {
            self.full
                .store(self.buckets.len() >= self.max, Ordering::Relaxed);
        }
        let key = if self.full.load(Ordering::Relaxed) {
            let mut h = std::hash::DefaultHasher::new();
            key.hash(&mut h);
            Key::Overflow((h.finish() % OVERFLOW) as u16)
        } else {
            Key::One(key)
        };
        // The limiter's own clock: a new one calibrates itself (cpuid), 5 % of a crowd's CPU.
        self.buckets
            .check_key(&key)
            .map_err(|n| n.wait_time_from(self.buckets.clock().now()))
    }

    fn sweep(&self) {
        // Buckets that are full again hold nothing worth keeping.
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
        self.full
            .store(self.buckets.len() >= self.max, Ordering::Relaxed);
    }

    fn len(&self) -> usize {
        self.buckets.len()
    }
}

pub fn quota(b: Bucket) -> Quota {
    let burst = NonZeroU32::new(b.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(b.period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

impl Lane {
    fn new(global: Bucket, shopper: Bucket, address_share: Option<u32>, max: usize) -> Self {
        let by_address = address_share.map(|share| {
            let address = Bucket {
                period: shopper.period / share,
                burst: shopper.burst.saturating_mul(share),
            };
            Keyed::new(quota(address), max)
        });
        Lane {
            global: RateLimiter::direct(quota(global)),
            by_user: Keyed::new(quota(shopper), max),
            by_address,
        }
    }

    fn check(&self, client: Client) -> Result<(), AppError> {
        let own = match (client, &self.by_address) {
            (Client::User(u), _) => self.by_user.check(u),
            (Client::Address(ip), Some(by_address)) => by_address.check(ip),
            _ => Ok(()),
        };
        own.map_err(rate_limited)?;
        self.global
            .check()
            .map_err(|n| rate_limited(n.wait_time_from(self.global.clock().now())))
    }

    fn sweep(&self) {
        self.by_user.sweep();
        if let Some(a) = &self.by_address {
            a.sweep();
        }
    }

    fn clients(&self) -> usize {
        self.by_user.len() + self.by_address.as_ref().map_or(0, Keyed::len)
    }
}

impl Limiters {
    pub fn new(cfg: &RateLimits) -> Self {
        let inner = cfg.enabled.then(|| {
            let (share, max) = (Some(cfg.address_share.max(1)), cfg.max_clients.max(1));
            Arc::new(Buckets {
                purchase: Lane::new(cfg.purchase, cfg.shopper_purchase, None, max),
                captcha: Lane::new(cfg.captcha, cfg.shopper_captcha, None, max),
                read: Lane::new(cfg.read, cfg.shopper_read, share, max),
                page: Lane::new(cfg.page, cfg.shopper_page, share, max),
            })
        });
        // Keeps the client maps bounded until the last handle is dropped.
        if let Some(b) = &inner {
            super::sweeper::every(Duration::from_secs(10), b, |b| {
                for lane in [&b.purchase, &b.captcha, &b.read, &b.page] {
                    lane.sweep();
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
            Class::Captcha => &b.captcha,
            Class::Read => &b.read,
            Class::Page => &b.page,
        };
        lane.check(client)
    }

    /// Clients with a bucket of their own, over all classes.
    pub fn clients(&self) -> usize {
        self.inner.as_ref().map_or(0, |b| {
            let lanes = [&b.purchase, &b.captcha, &b.read, &b.page];
            lanes.iter().map(|l| l.clients()).sum::<usize>()
        })
    }
}

pub fn rate_limited(wait: Duration) -> AppError {
    AppError::RateLimited(
        app::model::ApiError::new(ErrorCode::RateLimited, "too many requests, slow down"),
        retry_secs(wait),
    )
}

/// A wait as `Retry-After` seconds: rounded up, at least one.
pub fn retry_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
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
            captcha: b(global),
            read: b(global),
            page: b(global),
            shopper_purchase: b(shopper),
            shopper_captcha: b(shopper),
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
        for i in 0..10_000 {
            let _ = bounded.check(Class::Page, Client::User(UserId(i)));
        }
        // Past the bound, clients share the overflow buckets: the map stays small, and a
        // client is still held to a bucket (not let through).
        assert!(bounded.clients() <= 2 + SIZE_EVERY as usize + OVERFLOW as usize);
        let greedy = Client::User(UserId(123_456));
        assert!((0..100).any(|_| bounded.check(Class::Page, greedy).is_err()));
    }
}
