//! The payment provider's seam. A real provider (Stripe Checkout, say) creates a checkout session
//! for the order, takes the shopper's money on its own page and tells the outcome later by a
//! webhook, signed with a secret the two sides share, at least once. Everything the shop needs
//! of it is this trait; the built-in `dev` provider (`dev.rs`) plays it for development and
//! tests. Signatures follow Stripe's scheme, `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`,
//! and are refused when more than five minutes old (a replayed event).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// A webhook's event: a payment for an order that succeeded or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEvent {
    /// The provider's id of this event: the same event delivered twice has the same id.
    pub event_id: String,
    pub order_id: String,
    /// The provider's id of the payment (what a refund names).
    pub payment_ref: String,
    pub succeeded: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the webhook's signature is missing, malformed or wrong")]
    Signature,
    #[error("the webhook's signature is older than five minutes")]
    Stale,
    #[error("the webhook's body is not a payment event: {0}")]
    Body(String),
}

#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Where the shopper pays for the order (a real provider creates its session here).
    async fn checkout(&self, order_id: &str, amount_cents: i64) -> anyhow::Result<String>;
    /// The event a webhook delivers, if its signature holds at `now_secs`.
    fn verify(&self, signature: &str, body: &[u8], now_secs: i64) -> Result<PaymentEvent, Refused>;
    /// Gives a payment back: it came for an order that had expired (or was paid already).
    async fn refund(&self, payment_ref: &str) -> anyhow::Result<()>;
}

const TOLERANCE_SECS: i64 = 300;

/// Signs and checks webhook bodies with the shared secret.
pub struct Signer(Hmac<Sha256>);

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes a key of any length.
        Signer(Hmac::new_from_slice(secret).expect("HMAC accepts any key length"))
    }

    fn mac(&self, t: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut m = self.0.clone();
        m.update(t.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        m
    }

    pub fn sign(&self, body: &[u8], now_secs: i64) -> String {
        let tag = self.mac(now_secs, body).finalize().into_bytes();
        format!("t={now_secs},v1={}", hex(&tag))
    }

    pub fn verify(&self, header: &str, body: &[u8], now_secs: i64) -> Result<(), Refused> {
        let mut t = None;
        let mut v1 = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = v.parse::<i64>().ok(),
                Some(("v1", v)) => v1 = unhex(v),
                _ => {}
            }
        }
        let (Some(t), Some(tag)) = (t, v1) else {
            return Err(Refused::Signature);
        };
        // Constant-time comparison of the tag.
        self.mac(t, body)
            .verify_slice(&tag)
            .map_err(|_| Refused::Signature)?;
        if (now_secs - t).abs() > TOLERANCE_SECS {
            return Err(Refused::Stale);
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_body_and_time_only() {
        let s = Signer::new(b"shared secret");
        let sig = s.sign(b"{}", 1_000);
        assert!(s.verify(&sig, b"{}", 1_100).is_ok());
        assert!(matches!(
            s.verify(&sig, b"{ }", 1_100),
            Err(Refused::Signature)
        ));
        assert!(matches!(s.verify(&sig, b"{}", 1_400), Err(Refused::Stale)));
        let other = Signer::new(b"another").sign(b"{}", 1_000);
        assert!(matches!(
            s.verify(&other, b"{}", 1_000),
            Err(Refused::Signature)
        ));
        for bad in ["", "t=1", "v1=00", "t=x,v1=zz", "t=1000,v1=0"] {
            assert!(s.verify(bad, b"{}", 1_000).is_err(), "{bad}");
        }
    }
}
