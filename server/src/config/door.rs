//! The door's settings: the token buckets (the seed's global ones, and the per-client ones in
//! front of them), the proxies whose forwarding headers are believed, the captcha drawings a
//! shopper may ask for, and the token `/metrics` wants from outside this machine.

use super::{parse, ConfigError, Env};
use crate::services::clients::{Block, ForwardedHeader, TrustedProxies};
use secrecy::SecretString;
use std::time::Duration;

/// A token bucket: one token every `period`, at most `burst` saved up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub period: Duration,
    pub burst: u32,
}

impl Bucket {
    fn from_lookup(
        env: Env,
        (period_name, burst_name): (&'static str, &'static str),
        period_us: u64,
        burst: u32,
    ) -> Result<Self, ConfigError> {
        let period = Duration::from_micros(parse(env, period_name, period_us)?);
        let burst = parse(env, burst_name, burst)?;
        if burst == 0 {
            return Err(ConfigError::Invalid {
                name: burst_name,
                value: "0".into(),
                why: "a burst must be at least 1 (use FLASH_RATE_LIMITS=off instead)".into(),
            });
        }
        Ok(Bucket { period, burst })
    }
}

/// `FLASH_PURCHASE` → (`FLASH_PURCHASE_PERIOD_US`, `FLASH_PURCHASE_BURST`).
macro_rules! names {
    ($prefix:literal) => {
        (concat!($prefix, "_PERIOD_US"), concat!($prefix, "_BURST"))
    };
}

#[derive(Debug, Clone)]
pub struct RateLimits {
    pub enabled: bool,
    /// The backend's protection, shared by everyone (the seed's buckets, and the captchas').
    pub purchase: Bucket,
    pub captcha: Bucket,
    pub read: Bucket,
    pub page: Bucket,
    /// Each shopper's share, taken before the global buckets.
    pub shopper_purchase: Bucket,
    pub shopper_captcha: Bucket,
    pub shopper_read: Bucket,
    pub shopper_page: Bucket,
    /// An address without a login gets this many shoppers' worth of reads and pages (several
    /// shoppers may share one address).
    pub address_share: u32,
    /// Clients remembered per bucket; beyond it new clients meet the global buckets only.
    pub max_clients: usize,
}

impl RateLimits {
    pub fn from_lookup(env: Env) -> Result<Self, ConfigError> {
        let bucket = Bucket::from_lookup;
        Ok(RateLimits {
            enabled: super::flag(env, "FLASH_RATE_LIMITS", true)?,
            purchase: bucket(env, names!("FLASH_PURCHASE"), 1_000, 1_000)?,
            // Drawn ahead, a captcha is an answer from memory: the bucket is sized for a
            // crowd's clicks, the drawings themselves are bounded per shopper.
            captcha: bucket(env, names!("FLASH_CAPTCHA_ROUTES"), 50, 20_000)?,
            read: bucket(env, names!("FLASH_READ"), 1_000, 10_000)?,
            page: bucket(env, names!("FLASH_PAGE"), 1_000, 10_000)?,
            // A shopper's sale is a captcha, its answer and a purchase, each maybe retried.
            shopper_purchase: bucket(env, names!("FLASH_SHOPPER_PURCHASE"), 250_000, 20)?,
            shopper_captcha: bucket(env, names!("FLASH_SHOPPER_CAPTCHA"), 250_000, 20)?,
            // An open page's stream, its fallback polls and "my orders".
            shopper_read: bucket(env, names!("FLASH_SHOPPER_READ"), 100_000, 100)?,
            shopper_page: bucket(env, names!("FLASH_SHOPPER_PAGE"), 500_000, 30)?,
            address_share: parse(env, "FLASH_ADDRESS_SHARE", 10u32)?.max(1),
            max_clients: parse(env, "FLASH_MAX_CLIENTS", 500_000usize)?.max(1),
        })
    }
}

/// Everything else the door decides by configuration.
#[derive(Debug, Clone)]
pub struct DoorConfig {
    pub trusted_proxies: TrustedProxies,
    /// Whether any proxy is trusted: then this server stands behind one, and is no development
    /// server whatever its address.
    pub proxied: bool,
    /// Bearer token for `/metrics` from outside this machine; without it, only loopback reads.
    pub metrics_token: Option<SecretString>,
    /// Captcha drawings per shopper: a burst, then one per period.
    pub captcha_burst: u32,
    pub captcha_period: Duration,
}

impl DoorConfig {
    pub fn from_lookup(env: Env) -> Result<Self, ConfigError> {
        let blocks = env("FLASH_TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<Block>().map_err(|why| ConfigError::Invalid {
                    name: "FLASH_TRUSTED_PROXIES",
                    value: s.to_string(),
                    why,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metrics_token = env("FLASH_METRICS_TOKEN").filter(|t| !t.trim().is_empty());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Invalid {
                name: "FLASH_METRICS_TOKEN",
                value: "<hidden>".into(),
                why: "use at least 16 characters".into(),
            });
        }
        let header = env("FLASH_FORWARDED_HEADER").unwrap_or_default();
        let header = match header.trim() {
            "" => ForwardedHeader::default(),
            h => h.parse().map_err(|why| ConfigError::Invalid {
                name: "FLASH_FORWARDED_HEADER",
                value: h.to_string(),
                why,
            })?,
        };
        Ok(DoorConfig {
            proxied: !blocks.is_empty(),
            trusted_proxies: TrustedProxies::new(blocks, header),
            metrics_token: metrics_token.map(SecretString::from),
            captcha_burst: parse(env, "FLASH_CAPTCHA_BURST", 8u32)?.max(1),
            captcha_period: super::millis(env, "FLASH_CAPTCHA_PERIOD_MS", 2_000)?,
        })
    }
}
