//! Payment events, each once: the provider's event id is the key, so a confirmation delivered
//! twice (webhooks are at least once) is answered from its first outcome instead of acted on
//! again. Handling an event, and refunding for it, is claimed with a conditional update; an event
//! whose handler stopped halfway is handled again once its claim is old.

use super::db::col;
use super::Db;

/// What became of a payment event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Being handled (or its handler stopped halfway).
    Received,
    /// The order is paid by it.
    Paid,
    /// The provider said the payment failed: nothing changed.
    Declined,
    /// Too late (or a second payment): to be refunded.
    RefundDue,
    /// A refund is being asked of the provider.
    Refunding,
    Refunded,
}

const ALL: [Outcome; 6] = [
    Outcome::Received,
    Outcome::Paid,
    Outcome::Declined,
    Outcome::RefundDue,
    Outcome::Refunding,
    Outcome::Refunded,
];

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Received => "received",
            Outcome::Paid => "paid",
            Outcome::Declined => "declined",
            Outcome::RefundDue => "refund_due",
            Outcome::Refunding => "refunding",
            Outcome::Refunded => "refunded",
        }
    }

    fn parse(s: &str) -> Outcome {
        ALL.into_iter()
            .find(|o| o.as_str() == s)
            .unwrap_or(Outcome::Received)
    }

    /// Final: the event is answered from it when it comes again.
    pub fn is_final(self) -> bool {
        matches!(self, Outcome::Paid | Outcome::Declined | Outcome::Refunded)
    }
}

/// Records the event as being handled; `Some((outcome, since))` when it was recorded before.
pub async fn record(
    db: &Db,
    event_id: &str,
    order_id: &str,
    now: i64,
) -> Result<Option<(Outcome, i64)>, sqlx::Error> {
    let sql = format!(
        "{} INTO payment_events (event_id, order_id, outcome, touched_at) VALUES (?, ?, ?, ?)",
        db.insert_ignore()
    );
    let done = sqlx::query(&sql)
        .bind(event_id)
        .bind(order_id)
        .bind(Outcome::Received.as_str())
        .bind(now)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT outcome, touched_at FROM payment_events WHERE event_id = ?")
        .bind(event_id)
        .fetch_one(&db.pool)
        .await?;
    let outcome = Outcome::parse(&col::<String>(&row, "outcome")?);
    Ok(Some((outcome, col(&row, "touched_at")?)))
}

/// Moves the event from `from` (its outcome and since when) to `to` at `now`: `false` when
/// another handler moved it first.
pub async fn advance(
    db: &Db,
    event_id: &str,
    from: (Outcome, i64),
    to: Outcome,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payment_events SET outcome = ?, touched_at = ? \
         WHERE event_id = ? AND outcome = ? AND touched_at = ?",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(event_id)
    .bind(from.0.as_str())
    .bind(from.1)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
