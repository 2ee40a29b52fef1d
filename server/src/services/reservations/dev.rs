//! The built-in payment provider for development and tests: its "checkout" is the shop's own
//! page `/pay/<order>`, with "Pay" and "Decline". A decision there is confirmed later, as real
//! providers do by webhook: a signed event is delivered after a delay, to the same handler and
//! through the same signature check and idempotency as a real provider's webhook. Refunds are
//! counted and logged.

use super::provider::{PaymentEvent, PaymentProvider, Refused, Signer};
use std::collections::HashSet;
use std::sync::Mutex;

pub struct DevProvider {
    signer: Signer,
    /// The payments refunded: each once, however often asked (as real providers do, keyed).
    refunded: Mutex<HashSet<String>>,
}

impl DevProvider {
    pub fn new(webhook_secret: &[u8]) -> Self {
        DevProvider {
            signer: Signer::new(webhook_secret),
            refunded: Mutex::default(),
        }
    }

    /// The webhook the provider would send for the shopper's decision: (signature, body).
    pub fn decision(&self, order_id: &str, pay: bool, now_secs: i64) -> (String, Vec<u8>) {
        let event = PaymentEvent {
            event_id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            order_id: order_id.to_string(),
            payment_ref: format!("pay_{}", uuid::Uuid::now_v7().simple()),
            succeeded: pay,
        };
        // A struct of strings and a bool always serializes.
        let body = serde_json::to_vec(&event).unwrap_or_default();
        (self.signer.sign(&body, now_secs), body)
    }

    pub fn refunds(&self) -> usize {
        self.refunded.lock().map_or(0, |r| r.len())
    }
}

#[async_trait::async_trait]
impl PaymentProvider for DevProvider {
    async fn checkout(&self, order_id: &str, _amount_cents: i64) -> anyhow::Result<String> {
        Ok(format!("/pay/{order_id}"))
    }

    fn verify(&self, signature: &str, body: &[u8], now_secs: i64) -> Result<PaymentEvent, Refused> {
        self.signer.verify(signature, body, now_secs)?;
        serde_json::from_slice(body).map_err(|e| Refused::Body(e.to_string()))
    }

    async fn refund(&self, payment_ref: &str) -> anyhow::Result<()> {
        let first = self
            .refunded
            .lock()
            .map_err(|_| anyhow::anyhow!("refunds poisoned"))?
            .insert(payment_ref.to_string());
        if first {
            tracing::info!(payment_ref, "dev provider: payment refunded");
        }
        Ok(())
    }
}
