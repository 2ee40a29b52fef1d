//! Typed configuration from the environment (and `.env`). Every knob has a default that runs the
//! embedded demo; production mode refuses to start without a real secret.

mod cluster;
mod door;
mod live;
mod payments;

pub use cluster::{Cluster, Peer};
pub use door::{Bucket, DoorConfig, RateLimits};
pub use live::LiveConfig;
pub use payments::{PaymentsConfig, Provider as PaymentProvider};
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be set: {1}")]
    Missing(&'static str, &'static str),
    #[error("{name} has an invalid value {value:?}: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: String,
    },
    #[error("FLASH_CAPTCHA_TEST_ANSWER is only honoured together with FLASH_TEST_MODE=1")]
    TestAnswerWithoutTestMode,
    #[error("{0} is refused {1}")]
    Refused(&'static str, &'static str),
}

/// The development secret: usable only outside production, and loudly reported.
pub const DEV_SECRET: &str = "flash-sale-dev-secret-do-not-use-in-production";

/// Secrets (and URLs, which may hold a password) are `SecretString`s: `Debug` shows them as
/// `[REDACTED]`, and each use says `expose_secret`.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: SecretString,
    pub amqp_url: Option<SecretString>,
    /// RabbitMQ queue of orders (`<name>.dead` holds what the consumer cannot read).
    pub queue_name: String,
    /// `quorum`: replicated queues on a RabbitMQ cluster (`AMQP_URL` lists its nodes).
    pub quorum_queues: bool,
    pub prefetch: u16,
    /// Whether this process also runs the RabbitMQ → database consumer.
    pub run_consumer: bool,
    pub production: bool,
    /// Not production, bound to a loopback address, and behind no trusted proxy: the only place
    /// the development secret, the demo data and test mode are allowed.
    pub development: bool,
    pub secret: SecretString,
    pub previous_secrets: Vec<SecretString>,
    pub using_dev_secret: bool,
    pub secure_cookies: bool,
    pub session_ttl: Duration,
    pub rate_limits: RateLimits,
    pub user_interval: Duration,
    pub captcha_ttl: Duration,
    pub pass_ttl: Duration,
    pub test_mode: bool,
    pub captcha_test_answer: Option<String>,
    /// Drawings kept ready while a sale is near, and the threads that draw them.
    pub captcha_pool: usize,
    pub captcha_drawers: usize,
    /// Test mode draws real captchas (its answer still passes): the crowd benchmark.
    pub captcha_real_drawings: bool,
    pub demo_data: bool,
    pub preview: Duration,
    pub stock_block: i64,
    pub batch_max: usize,
    pub batch_linger: Duration,
    pub max_body_bytes: usize,
    pub cluster: Cluster,
    pub live: LiveConfig,
    pub payments: PaymentsConfig,
    pub door: DoorConfig,
}

/// `mysql://user:secret@host/db` → `mysql://user:***@host/db`; each of a comma-separated list
/// (the nodes of a RabbitMQ cluster).
pub fn redact_url(urls: &str) -> String {
    urls.split(',')
        .map(redact_one)
        .collect::<Vec<_>>()
        .join(",")
}

fn redact_one(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn parse<T: std::str::FromStr>(env: Env, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match env(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            value: v,
            why: e.to_string(),
        }),
    }
}

fn flag(env: Env, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match env(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(ConfigError::Invalid {
            name,
            value: v,
            why: "expected 1/0, true/false, on/off".into(),
        }),
    }
}

/// Half of this machine's cores (at least one): drawing ahead leaves the rest to the shoppers.
fn half_the_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

fn millis(env: Env, name: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
    parse(env, name, default_ms).map(Duration::from_millis)
}

impl Config {
    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    pub fn amqp_url(&self) -> Option<&str> {
        self.amqp_url.as_ref().map(|u| u.expose_secret())
    }

    /// Reads the process environment after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    pub fn from_lookup(env: Env) -> Result<Self, ConfigError> {
        let production = env("FLASH_ENV").is_some_and(|v| v.eq_ignore_ascii_case("production"));
        let (secret, using_dev_secret) = match env("FLASH_SECRET").filter(|s| !s.is_empty()) {
            Some(s) if s.len() < 32 => {
                return Err(ConfigError::Invalid {
                    name: "FLASH_SECRET",
                    value: "<hidden>".into(),
                    why: "use at least 32 characters".into(),
                })
            }
            Some(s) => (s, false),
            None if production => {
                return Err(ConfigError::Missing(
                    "FLASH_SECRET",
                    "production mode needs a secret of 32+ random characters",
                ))
            }
            None => (DEV_SECRET.to_string(), true),
        };
        let test_mode = flag(env, "FLASH_TEST_MODE", false)?;
        let captcha_test_answer = env("FLASH_CAPTCHA_TEST_ANSWER").filter(|a| !a.is_empty());
        if captcha_test_answer.is_some() && !test_mode {
            return Err(ConfigError::TestAnswerWithoutTestMode);
        }
        let bind = env("LEPTOS_SITE_ADDR")
            .or_else(|| env("FLASH_BIND"))
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let bind: SocketAddr =
            bind.parse()
                .map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                    name: "LEPTOS_SITE_ADDR",
                    value: bind.clone(),
                    why: e.to_string(),
                })?;
        let door = DoorConfig::from_lookup(env)?;
        // A server behind a trusted proxy serves others, whatever address it binds.
        let development = !production && bind.ip().is_loopback() && !door.proxied;
        let demo_data = flag(env, "FLASH_DEMO_DATA", development)?;
        if demo_data && !development {
            return Err(ConfigError::Refused(
                "FLASH_DEMO_DATA",
                "outside development (production, or bound to a non-loopback address): \
                 its admin's password is public",
            ));
        }
        if !development && (test_mode || captcha_test_answer.is_some()) {
            return Err(ConfigError::Refused(
                "FLASH_TEST_MODE / FLASH_CAPTCHA_TEST_ANSWER",
                "outside development (production, a non-loopback address, or behind a proxy): \
                 a known captcha answer lets bots through",
            ));
        }
        Ok(Config {
            bind,
            database_url: env("DATABASE_URL")
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "sqlite://data/flash-sale.db?mode=rwc".into())
                .into(),
            amqp_url: env("AMQP_URL")
                .filter(|u| !u.is_empty())
                .map(SecretString::from),
            queue_name: env("FLASH_QUEUE")
                .filter(|q| !q.is_empty())
                .unwrap_or_else(|| "flash.orders".into()),
            quorum_queues: match env("FLASH_QUEUE_TYPE").as_deref().map(str::trim) {
                None | Some("") | Some("classic") => false,
                Some("quorum") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "FLASH_QUEUE_TYPE",
                        value: other.into(),
                        why: "classic (one broker) or quorum (a RabbitMQ cluster)".into(),
                    })
                }
            },
            prefetch: parse(env, "FLASH_PREFETCH", 16u16)?.max(1),
            run_consumer: flag(env, "FLASH_CONSUMER", true)?,
            production,
            development,
            secret: secret.into(),
            previous_secrets: env("FLASH_PREVIOUS_SECRETS")
                .map(|s| {
                    s.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(SecretString::from)
                        .collect()
                })
                .unwrap_or_default(),
            using_dev_secret,
            secure_cookies: flag(env, "FLASH_SECURE_COOKIES", production)?,
            session_ttl: Duration::from_secs(parse(env, "FLASH_SESSION_TTL_SECS", 7 * 24 * 3600)?),
            rate_limits: RateLimits::from_lookup(env)?,
            user_interval: millis(env, "FLASH_USER_INTERVAL_MS", 10_000)?,
            captcha_ttl: millis(env, "FLASH_CAPTCHA_TTL_MS", 120_000)?,
            pass_ttl: millis(env, "FLASH_PASS_TTL_MS", 60_000)?,
            test_mode,
            captcha_test_answer,
            captcha_pool: parse(env, "FLASH_CAPTCHA_POOL", 2_000)?,
            captcha_drawers: parse(env, "FLASH_CAPTCHA_DRAWERS", half_the_cores())?,
            captcha_real_drawings: flag(env, "FLASH_CAPTCHA_REAL_DRAWINGS", false)?,
            demo_data,
            preview: millis(env, "FLASH_PREVIEW_MS", 15 * 60_000)?,
            stock_block: parse(env, "FLASH_STOCK_BLOCK", 100i64)?.max(1),
            batch_max: parse(env, "FLASH_BATCH_MAX", 100usize)?.max(1),
            batch_linger: Duration::from_micros(parse(env, "FLASH_BATCH_LINGER_US", 2000)?),
            max_body_bytes: parse(env, "FLASH_MAX_BODY_BYTES", 16 * 1024)?,
            cluster: Cluster::from_lookup(env)?,
            live: LiveConfig::from_lookup(env)?,
            payments: PaymentsConfig::from_lookup(env, development)?,
            door,
        })
    }

    /// The roles that read cookies (`serve`, `node`) check this before they start: with the
    /// public development secret anyone can seal an admin's cookie.
    pub fn check_cookie_role(&self) -> Result<(), ConfigError> {
        if self.using_dev_secret && !self.development {
            return Err(ConfigError::Missing(
                "FLASH_SECRET",
                "bound to a non-loopback address (or in production), the public development \
                 secret would let anyone seal an admin's cookie; set 32+ random characters",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_run_the_embedded_demo() {
        let c = cfg(&[]).unwrap();
        assert!(c.using_dev_secret && c.demo_data && c.amqp_url.is_none());
        assert!(c.database_url().starts_with("sqlite://data/"));
        assert_eq!(c.user_interval, Duration::from_secs(10));
        assert_eq!(c.rate_limits.purchase.burst, 1000);
        assert_eq!(c.rate_limits.read.burst, 10_000);
        assert!(c.development && c.check_cookie_role().is_ok());
    }

    #[test]
    fn production_needs_a_secret_and_test_answer_needs_test_mode() {
        assert!(matches!(
            cfg(&[("FLASH_ENV", "production")]),
            Err(ConfigError::Missing(..))
        ));
        assert!(matches!(
            cfg(&[("FLASH_CAPTCHA_TEST_ANSWER", "x")]),
            Err(ConfigError::TestAnswerWithoutTestMode)
        ));
        assert!(cfg(&[("FLASH_CAPTCHA_TEST_ANSWER", "x"), ("FLASH_TEST_MODE", "1")]).is_ok());
        assert!(cfg(&[("FLASH_SECRET", "short")]).is_err());
        assert!(cfg(&[("FLASH_RATE_LIMITS", "maybe")]).is_err());
        assert!(
            !cfg(&[("FLASH_RATE_LIMITS", "off")])
                .unwrap()
                .rate_limits
                .enabled
        );
    }

    #[test]
    fn outside_loopback_development_the_defaults_fail_closed() {
        let public = cfg(&[("LEPTOS_SITE_ADDR", "0.0.0.0:3000")]).unwrap();
        assert!(!public.development && !public.demo_data);
        let refused = public.check_cookie_role().unwrap_err().to_string();
        assert!(refused.contains("FLASH_SECRET"), "{refused}");
        let secret = ("FLASH_SECRET", "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t");
        let with_secret = cfg(&[("LEPTOS_SITE_ADDR", "0.0.0.0:3000"), secret]).unwrap();
        assert!(with_secret.check_cookie_role().is_ok());
        assert!(matches!(
            cfg(&[
                ("LEPTOS_SITE_ADDR", "0.0.0.0:3000"),
                ("FLASH_DEMO_DATA", "1"),
                secret
            ]),
            Err(ConfigError::Refused("FLASH_DEMO_DATA", _))
        ));
        let production = ("FLASH_ENV", "production");
        assert!(matches!(
            cfg(&[production, secret, ("FLASH_DEMO_DATA", "1")]),
            Err(ConfigError::Refused("FLASH_DEMO_DATA", _))
        ));
        assert!(matches!(
            cfg(&[production, secret, ("FLASH_TEST_MODE", "1")]),
            Err(ConfigError::Refused(..))
        ));
        let prod = cfg(&[production, secret]).unwrap();
        assert!(!prod.development && !prod.demo_data && !prod.test_mode);
        // Behind a trusted proxy the server serves others: no development secret, no test mode.
        let proxied = ("FLASH_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1");
        assert!(cfg(&[proxied]).unwrap().check_cookie_role().is_err());
        assert!(cfg(&[proxied, secret]).unwrap().check_cookie_role().is_ok());
        assert!(cfg(&[proxied, secret, ("FLASH_TEST_MODE", "1")]).is_err());
        assert!(cfg(&[("FLASH_FORWARDED_HEADER", "x-real-ip")]).is_err());
        assert!(cfg(&[("FLASH_TRUSTED_PROXIES", "10.0.0.0/40")]).is_err());
        assert!(cfg(&[("FLASH_METRICS_TOKEN", "short")]).is_err());
        assert!(cfg(&[("FLASH_SHOPPER_READ_BURST", "0")]).is_err());
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let c = cfg(&[
            ("FLASH_SECRET", "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"),
            ("DATABASE_URL", "mysql://root:pw@127.0.0.1/test"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains(":pw@"));
        assert_eq!(
            redact_url("amqp://guest:guest@h:5672/%2f"),
            "amqp://guest:***@h:5672/%2f"
        );
    }
}
