//! After the click: a stored order is a reservation until it is paid. It ends paid (the
//! provider's confirmation), expired (its deadline passed: `expiry.rs`) or cancelled (by its
//! shopper); the two unpaid ends give the unit back to the crowd. Which end wins is decided in
//! one place, the conditional updates of `repositories/orders/settle.rs`; a payment that loses
//! is refunded through the provider. Every process that remembers buyers forgets the shopper of
//! an ended order from the database's feed (`ended.rs`), so they may buy again.

mod dev;
mod ended;
mod expiry;
pub mod provider;

pub use ended::{follow as follow_ended, Forgets};
pub use expiry::sweep as sweep_expired;

use crate::config::{Config, PaymentProvider as Choice};
use crate::error::{AppError, AppResult};
use crate::metrics::Metrics;
use crate::repositories::orders::{self, OrderRef, Payment};
use crate::repositories::payments::{self, Outcome};
use crate::repositories::Db;
use crate::services::auth::Shopper;
use app::model::{ErrorCode, OrderStatus};
use dev::DevProvider;
use hmac::{Hmac, Mac};
use provider::{PaymentEvent, PaymentProvider};
use secrecy::ExposeSecret;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Reservations(Arc<Inner>);

struct Inner {
    db: Db,
    provider: Option<Arc<dyn PaymentProvider>>,
    /// The same provider when it is the built-in one: its page decides, then confirms.
    dev: Option<Arc<DevProvider>>,
    confirm_after: Duration,
    metrics: Metrics,
}

impl Reservations {
    pub fn new(db: Db, cfg: &Config, metrics: Metrics) -> Self {
        let (provider, dev): (Option<Arc<dyn PaymentProvider>>, _) = match cfg.payments.provider {
            Choice::Off => (None, None),
            Choice::Dev => {
                let dev = Arc::new(DevProvider::new(&webhook_secret(cfg)));
                (Some(dev.clone()), Some(dev))
            }
        };
        Reservations(Arc::new(Inner {
            db,
            provider,
            dev,
            confirm_after: cfg.payments.dev_confirm_after,
            metrics,
        }))
    }

    /// Where the shopper pays for their reservation.
    pub async fn checkout(&self, shopper: &Shopper, order_id: &str) -> AppResult<String> {
        let provider = self.provider()?;
        let order = self.open(shopper, order_id).await?;
        Ok(provider.checkout(order_id, order.price_cents).await?)
    }

    /// The shopper gives their reservation up: the unit goes back on sale.
    pub async fn cancel(&self, shopper: &Shopper, order_id: &str) -> AppResult<OrderStatus> {
        let id = parse_id(order_id)?;
        let now = crate::now_ms();
        match orders::cancel(&self.0.db, id, shopper.id().0, now).await? {
            Some(_) => {
                self.0.metrics.reservation_event("cancelled", 1);
                Ok(OrderStatus::Cancelled)
            }
            None => Err(self.not_open(shopper, order_id).await?),
        }
    }

    /// The built-in provider's page: the shopper pays or declines; the provider confirms later.
    pub async fn decide(&self, shopper: &Shopper, order_id: &str, pay: bool) -> AppResult<()> {
        let dev = self.0.dev.clone().ok_or_else(|| {
            AppError::code(ErrorCode::NotFound, "this shop takes payments elsewhere")
        })?;
        self.open(shopper, order_id).await?;
        let (signature, body) = dev.decision(order_id, pay, crate::now_ms() / 1000);
        let (this, wait) = (self.clone(), self.0.confirm_after);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Err(e) = this.confirm(&signature, &body).await {
                tracing::warn!(error = %e, "dev provider: confirmation not taken");
            }
        });
        Ok(())
    }

    /// A provider's webhook: the event acted on once, however often it is delivered. A copy
    /// that comes while another is being handled is told to come again (503: providers retry).
    pub async fn confirm(&self, signature: &str, body: &[u8]) -> AppResult<&'static str> {
        let provider = self.provider()?;
        let event = provider
            .verify(signature, body, crate::now_ms() / 1000)
            .map_err(|e| AppError::code(ErrorCode::BadRequest, e.to_string()))?;
        let (db, id, now) = (&self.0.db, event.event_id.as_str(), crate::now_ms());
        let (mut state, mut since) = match payments::record(db, id, &event.order_id, now).await? {
            None => (Outcome::Received, now),
            Some((done, _)) if done.is_final() => return Ok(done.as_str()),
            Some((Outcome::RefundDue, at)) => (Outcome::RefundDue, at),
            Some((_, at)) if now - at < STUCK_MS => return Err(busy()),
            // Its handler stopped halfway: this copy takes it over.
            Some((stuck, at)) => {
                if !payments::advance(db, id, (stuck, at), stuck, now).await? {
                    return Err(busy());
                }
                (stuck, now)
            }
        };
        if state == Outcome::Received {
            let outcome = self.apply(&event, now).await?;
            payments::advance(db, id, (state, since), outcome, now).await?;
            (state, since) = (outcome, now);
        }
        if state.is_final() {
            return Ok(state.as_str());
        }
        // Refund due (or a refund that stopped halfway): one copy asks the provider, which
        // refunds a payment once whatever number of times it is asked.
        if !payments::advance(db, id, (state, since), Outcome::Refunding, now).await? {
            return Err(busy());
        }
        if let Err(e) = provider.refund(&event.payment_ref).await {
            payments::advance(db, id, (Outcome::Refunding, now), Outcome::RefundDue, now).await?;
            return Err(e.into());
        }
        payments::advance(db, id, (Outcome::Refunding, now), Outcome::Refunded, now).await?;
        self.0.metrics.reservation_event("refunded", 1);
        Ok(Outcome::Refunded.as_str())
    }

    async fn apply(&self, event: &PaymentEvent, now: i64) -> AppResult<Outcome> {
        let m = &self.0.metrics;
        if !event.succeeded {
            m.reservation_event("declined", 1);
            return Ok(Outcome::Declined);
        }
        let Ok(id) = uuid::Uuid::try_parse(&event.order_id) else {
            m.reservation_event("late_payment", 1);
            return Ok(Outcome::RefundDue);
        };
        Ok(
            match orders::pay(&self.0.db, id, &event.payment_ref, now).await? {
                Payment::Paid => {
                    m.reservation_event("paid", 1);
                    Outcome::Paid
                }
                Payment::AlreadyPaid => Outcome::Paid,
                Payment::Refused(_) | Payment::Unknown => {
                    m.reservation_event("late_payment", 1);
                    Outcome::RefundDue
                }
            },
        )
    }

    /// Payments the built-in provider refunded.
    pub fn dev_refunds(&self) -> usize {
        self.0.dev.as_ref().map_or(0, |d| d.refunds())
    }

    fn provider(&self) -> AppResult<Arc<dyn PaymentProvider>> {
        self.0.provider.clone().ok_or_else(|| {
            AppError::code(
                ErrorCode::Unavailable,
                "payments are not configured on this shop (FLASH_PAYMENTS)",
            )
        })
    }

    /// The shopper's order, still reserved and within its deadline.
    async fn open(&self, shopper: &Shopper, order_id: &str) -> AppResult<OrderRef> {
        parse_id(order_id)?;
        match orders::one(&self.0.db, order_id).await? {
            Some(o)
                if o.user_id == shopper.id().0
                    && o.status == OrderStatus::Reserved
                    && (o.deadline == 0 || o.deadline > crate::now_ms()) =>
            {
                Ok(o)
            }
            _ => Err(self.not_open(shopper, order_id).await?),
        }
    }

    /// Why the shopper cannot act on this order: not theirs (404, whoever's it is), or no longer
    /// reserved (409, with its state).
    async fn not_open(&self, shopper: &Shopper, order_id: &str) -> AppResult<AppError> {
        Ok(match orders::one(&self.0.db, order_id).await? {
            Some(o) if o.user_id == shopper.id().0 => {
                let state = match o.status {
                    OrderStatus::Reserved => "past its deadline",
                    other => other.as_str(),
                };
                AppError::code(ErrorCode::Conflict, format!("this order is {state}"))
            }
            _ => AppError::code(ErrorCode::NotFound, "no such order of yours"),
        })
    }
}

/// An event whose handling began this long ago and did not end is handled again.
const STUCK_MS: i64 = 30_000;

fn busy() -> AppError {
    AppError::code(
        ErrorCode::Unavailable,
        "this payment event is being handled: deliver it again later",
    )
}

fn parse_id(order_id: &str) -> AppResult<uuid::Uuid> {
    uuid::Uuid::try_parse(order_id)
        .map_err(|_| AppError::code(ErrorCode::BadRequest, "an order id is a UUID"))
}

/// The webhook key: its own setting, or one derived from `FLASH_SECRET` (never the secret itself).
fn webhook_secret(cfg: &Config) -> Vec<u8> {
    if let Some(s) = &cfg.payments.webhook_secret {
        return s.expose_secret().as_bytes().to_vec();
    }
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(cfg.secret.expose_secret().as_bytes())
        .expect("HMAC accepts any key length");
    m.update(b"flash-sale payment webhooks");
    m.finalize().into_bytes().to_vec()
}
