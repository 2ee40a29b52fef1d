//! The end of a reservation, decided in one place: each ending is a conditional update from
//! `reserved`, so that of a payment and its deadline (or a cancel) exactly one wins. An order that
//! ends unpaid gives its unit back to the database's stock in the same transaction (`sold`,
//! `leased` and its owner's lease each one fewer), where any stock owner can lease it again.

use crate::repositories::db::col;
use crate::repositories::Db;
use sqlx::{Any, Transaction};

/// How an unpaid reservation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Its deadline passed.
    Expired,
    /// Its shopper cancelled it.
    Cancelled,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::Expired => "expired",
            Ending::Cancelled => "cancelled",
        }
    }
}

/// An order whose unit went back: its shopper may buy the product again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub order_id: uuid::Uuid,
    pub product_id: i64,
    pub user_id: i64,
    pub settled_at: i64,
}

/// How a payment for an order was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payment {
    /// It won: the order is paid now.
    Paid,
    /// The order was paid by this same payment before (a confirmation told twice).
    AlreadyPaid,
    /// Too late, or the order paid by another payment: to be refunded. Holds the order's state.
    Refused(String),
    /// No such order.
    Unknown,
}

struct Due {
    id: String,
    product_id: i64,
    user_id: i64,
    lease_owner: i64,
}

/// Ends up to `limit` reservations whose deadline is at or before `now`; those it ended.
pub async fn expire_due(db: &Db, now: i64, limit: i64) -> Result<Vec<Ended>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, product_id, user_id, lease_owner FROM orders \
         WHERE status = 'reserved' AND deadline > 0 AND deadline <= ? ORDER BY deadline LIMIT ?",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut ended = Vec::with_capacity(rows.len());
    for r in &rows {
        let due = Due {
            id: col(r, "id")?,
            product_id: col(r, "product_id")?,
            user_id: col(r, "user_id")?,
            lease_owner: col(r, "lease_owner")?,
        };
        if let Some(e) = end(db, &due, Ending::Expired, now).await? {
            ended.push(e);
        }
    }
    Ok(ended)
}

/// The shopper's cancel of their reservation: `None` when it is not theirs or not reserved.
pub async fn cancel(
    db: &Db,
    order_id: uuid::Uuid,
    user_id: i64,
    now: i64,
) -> Result<Option<Ended>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, product_id, user_id, lease_owner FROM orders \
         WHERE id = ? AND user_id = ? AND status = 'reserved'",
    )
    .bind(order_id.to_string())
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let due = Due {
        id: col(&r, "id")?,
        product_id: col(&r, "product_id")?,
        user_id: col(&r, "user_id")?,
        lease_owner: col(&r, "lease_owner")?,
    };
    end(db, &due, Ending::Cancelled, now).await
}

/// Ends one reservation if it is still reserved (and, to expire, past its deadline) and gives
/// its unit back. The product row is written first, as the consumer's batch takes it first:
/// the same lock order on MySQL, and an SQLite transaction that writes before it reads.
async fn end(db: &Db, due: &Due, how: Ending, now: i64) -> Result<Option<Ended>, sqlx::Error> {
    super::super::db::retrying(|| async {
        let mut tx = db.pool.begin().await?;
        sqlx::query("UPDATE products SET sold = sold - 1, leased = leased - 1 WHERE id = ?")
            .bind(due.product_id)
            .execute(&mut *tx)
            .await?;
        let deadline = match how {
            Ending::Expired => " AND deadline > 0 AND deadline <= ?",
            Ending::Cancelled => "",
        };
        let sql = format!(
            "UPDATE orders SET status = ?, live = NULL, settled_at = ? \
             WHERE id = ? AND status = 'reserved'{deadline}"
        );
        let mut q = sqlx::query(&sql).bind(how.as_str()).bind(now).bind(&due.id);
        if how == Ending::Expired {
            q = q.bind(now);
        }
        if q.execute(&mut *tx).await?.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        unlease(&mut tx, due.lease_owner, due.product_id).await?;
        sqlx::query(
            "INSERT INTO order_endings (settled_at, order_id, product_id, user_id) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(now)
        .bind(&due.id)
        .bind(due.product_id)
        .bind(due.user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Ended {
            order_id: uuid::Uuid::try_parse(&due.id)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            product_id: due.product_id,
            user_id: due.user_id,
            settled_at: now,
        }))
    })
    .await
}

/// The unit leaves its owner's lease (if the owner's lease is still counted: a dead owner's are
/// forgotten by reconcile, which counts its sold units from the live orders instead).
async fn unlease(
    tx: &mut Transaction<'_, Any>,
    owner: i64,
    product_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE leases SET granted = granted - 1 \
         WHERE owner_id = ? AND product_id = ? AND granted > 0",
    )
    .bind(owner)
    .bind(product_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A payment for the order, at `now`: it wins if the order is still reserved and its deadline
/// has not passed. A reservation past its deadline that the sweep has not reached yet is expired
/// here, so that the payment and the expiry still have one outcome.
pub async fn pay(
    db: &Db,
    order_id: uuid::Uuid,
    payment_ref: &str,
    now: i64,
) -> Result<Payment, sqlx::Error> {
    let id = order_id.to_string();
    let won = sqlx::query(
        "UPDATE orders SET status = 'paid', settled_at = ?, payment_ref = ? \
         WHERE id = ? AND status = 'reserved' AND (deadline = 0 OR deadline > ?)",
    )
    .bind(now)
    .bind(payment_ref)
    .bind(&id)
    .bind(now)
    .execute(&db.pool)
    .await?;
    if won.rows_affected() == 1 {
        return Ok(Payment::Paid);
    }
    let Some(r) = sqlx::query(
        "SELECT product_id, user_id, lease_owner, status, payment_ref FROM orders WHERE id = ?",
    )
    .bind(&id)
    .fetch_optional(&db.pool)
    .await?
    else {
        return Ok(Payment::Unknown);
    };
    let status: String = col(&r, "status")?;
    let paid_by: Option<String> = col(&r, "payment_ref")?;
    if status == "paid" && paid_by.as_deref() == Some(payment_ref) {
        return Ok(Payment::AlreadyPaid);
    }
    if status == "reserved" {
        let due = Due {
            id,
            product_id: col(&r, "product_id")?,
            user_id: col(&r, "user_id")?,
            lease_owner: col(&r, "lease_owner")?,
        };
        if end(db, &due, Ending::Expired, now).await?.is_some() {
            return Ok(Payment::Refused("expired".into()));
        }
        // Paid or ended meanwhile: the answer is what it is now.
        return Box::pin(pay(db, order_id, payment_ref, now)).await;
    }
    Ok(Payment::Refused(status))
}

/// Orders that ended (expired or cancelled) at or after `since`, oldest first.
pub async fn ended_since(db: &Db, since: i64, limit: i64) -> Result<Vec<Ended>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT order_id AS id, product_id, user_id, settled_at FROM order_endings \
         WHERE settled_at >= ? ORDER BY settled_at LIMIT ?",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut ended = Vec::with_capacity(rows.len());
    for r in &rows {
        // Rows are written by us with UUIDs; one that is not is no shopper's claim here.
        let Ok(order_id) = uuid::Uuid::try_parse(&col::<String>(r, "id")?) else {
            continue;
        };
        ended.push(Ended {
            order_id,
            product_id: col(r, "product_id")?,
            user_id: col(r, "user_id")?,
            settled_at: col(r, "settled_at")?,
        });
    }
    Ok(ended)
}
