//! The purchase: the checks that cost nothing held (window, sold out, pass, cooldown), then the
//! steps that hold something — the shopper's claim, a unit — until the queue has the order. Those
//! run on a task of their own: a client that hangs up drops the request, not the steps, and
//! each held thing is a guard that goes back by itself unless the order keeps it.

use super::action::Action;
use super::local::{refusal, LocalSale};
use crate::error::{AppError, AppResult};
use crate::ids::{Millis, ProductId, UserId};
use crate::repositories::orders::NewOrder;
use crate::services::auth::Shopper;
use crate::services::forward::Standing;
use crate::services::queue::{Enqueued, QueueError};
use crate::services::stock::Unit;
use app::model::{ErrorCode, OrderStatus, PurchaseOutcome};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tracing::Instrument;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Purchase {
    pub product_id: ProductId,
    pub pass: String,
}

impl Action for Purchase {
    type Output = PurchaseOutcome;

    /// One purchase, in a span and counted by outcome.
    async fn apply(
        self,
        sale: &LocalSale,
        shopper: &Shopper,
        standing: Standing,
    ) -> AppResult<PurchaseOutcome> {
        let (user, product) = (shopper.id(), self.product_id);
        let span =
            tracing::info_span!("purchase", %user, %product, outcome = tracing::field::Empty);
        let started = Instant::now();
        let result = checks_then_order(sale, user, product, &self.pass, standing)
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(_) => "accepted",
            Err(AppError::Api(e) | AppError::RateLimited(e, _)) => e.error.as_str(),
            Err(AppError::Internal(_)) => "internal",
        };
        span.record("outcome", outcome);
        sale.record(product, outcome, started.elapsed());
        result
    }
}

async fn checks_then_order(
    sale: &LocalSale,
    user: UserId,
    product: ProductId,
    pass: &str,
    standing: Standing,
) -> AppResult<PurchaseOutcome> {
    let now = Millis::now();
    let row = sale.admissible(user, product, now).await?;
    sale.refuse_if_sold_out(product, user, now)?;
    let pass = sale.open_pass(pass, user, product, now, standing)?;
    sale.start_cooldown(user, now, standing).await?;
    sale.spend(pass)?;
    let order = NewOrder {
        order_id: uuid::Uuid::now_v7(),
        product_id: product.0,
        user_id: user.0,
        created_at: now.0,
        lease_owner: 0,
        deadline: now.0.saturating_add(row.pay_within_ms),
    };
    let steps = hold_and_queue(sale.clone(), order, row.name, standing);
    tokio::spawn(steps.in_current_span())
        .await
        .map_err(|e| AppError::Internal(e.into()))?
}

/// Claim, unit, queue. Claimed before the stock is touched: a shopper who already bought is told
/// so (rather than "sold out") and costs no unit.
async fn hold_and_queue(
    sale: LocalSale,
    mut order: NewOrder,
    product_name: String,
    standing: Standing,
) -> AppResult<PurchaseOutcome> {
    let (product, user, now) = (
        ProductId(order.product_id),
        UserId(order.user_id),
        Millis(order.created_at),
    );
    let Some(claim) = sale.claim(product, user, order.order_id, standing).await? else {
        return Err(refusal::already_bought());
    };
    let Some(unit) = sale.take_unit(product, user, order.order_id, now).await? else {
        return Err(refusal::sold_out());
    };
    order.lease_owner = unit.get().map_or(0, Unit::tenure);
    // Their earlier order holds this unit and may be in the broker unseen: this is that order.
    if let Some(earlier) = unit.get().and_then(Unit::earlier_order) {
        order.order_id = earlier;
        if let Some(c) = claim.get() {
            c.relabel(earlier);
        }
    }
    let (claim, unit) = (claim.hand_over(), unit.hand_over());
    let order_id = order.order_id.to_string();
    let status = match sale.submit(order, product_name).await {
        Ok(Enqueued::Confirmed) => OrderStatus::Reserved,
        Ok(Enqueued::Queued) => OrderStatus::Queued,
        // Resent until the broker confirms it: the order will be, so the claim and unit stay.
        Ok(Enqueued::Pending) => OrderStatus::Pending,
        // The database has their order: the claim stays, the unit was not needed.
        Ok(Enqueued::Duplicate) => {
            claim.keep();
            unit.give_back();
            return Err(refusal::already_bought());
        }
        Err(e @ QueueError::InDoubt(_)) => {
            tracing::error!(error = %e, "order in doubt: its unit and the claim stay held until reconcile");
            claim.in_doubt();
            unit.in_doubt();
            return Err(AppError::code(
                ErrorCode::Unavailable,
                "your order may have been taken: look at My orders before trying again",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "order not queued; unit returned to stock");
            claim.give_back();
            unit.give_back();
            return Err(AppError::code(
                ErrorCode::Unavailable,
                "the order could not be taken right now; please try again",
            ));
        }
    };
    claim.keep();
    unit.keep();
    Ok(PurchaseOutcome {
        order_id,
        status,
        retry_at: sale.retry_at(now),
    })
}
