//! After the click: the payment provider and the expiry sweep. The built-in `dev` provider lets
//! any shopper mark their order paid with a button, so it is on by default only in development;
//! elsewhere it must be asked for by name, and without a provider "Pay now" is refused (503)
//! while reservations still expire.

use super::{millis, ConfigError, Env};
use secrecy::SecretString;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The built-in payment page with "pay" and "decline" (development and tests).
    Dev,
    /// No provider: nothing can be paid.
    Off,
}

#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    pub provider: Provider,
    /// The key that signs the provider's webhooks; derived from `FLASH_SECRET` when unset.
    pub webhook_secret: Option<SecretString>,
    /// How long the dev provider takes to confirm a payment (real ones are asynchronous too).
    pub dev_confirm_after: Duration,
    /// How often reservations past their deadline are looked for.
    pub sweep: Duration,
}

impl PaymentsConfig {
    pub fn from_lookup(env: Env, development: bool) -> Result<Self, ConfigError> {
        let provider =
            match env("FLASH_PAYMENTS")
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty())
                .as_deref()
            {
                None if development => Provider::Dev,
                None => Provider::Off,
                Some("dev") => Provider::Dev,
                Some("off") => Provider::Off,
                Some(other) => return Err(ConfigError::Invalid {
                    name: "FLASH_PAYMENTS",
                    value: other.into(),
                    why:
                        "dev or off (a real provider plugs in at services/reservations/provider.rs)"
                            .into(),
                }),
            };
        Ok(PaymentsConfig {
            provider,
            webhook_secret: env("FLASH_PAYMENT_WEBHOOK_SECRET")
                .filter(|s| !s.is_empty())
                .map(SecretString::from),
            dev_confirm_after: millis(env, "FLASH_DEV_PAYMENT_CONFIRM_MS", 300)?,
            sweep: millis(env, "FLASH_EXPIRY_SWEEP_MS", 250)?.max(Duration::from_millis(10)),
        })
    }
}
