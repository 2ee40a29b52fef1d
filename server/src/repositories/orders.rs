mod failure;
mod read;
mod recent;
mod settle;

pub use failure::WriteError;
pub use read::{
    buyers, count_by_status, exists, for_user, one, search, stored_among, tally, OrderRef,
};
pub use recent::{buyers_since, latest_since};
pub use settle::{cancel, ended_since, expire_due, pay, Ended, Ending, Payment};

use super::db::col;
use super::{Db, DbKind};
use app::model::OrderStatus;
use failure::missing_products;
use sqlx::error::ErrorKind;
use sqlx::Executor;
use std::collections::{BTreeMap, HashSet};

/// An accepted purchase on its way to the database. The id is a `Uuid`, not text: a queue
/// message whose id is not a UUID does not decode (and is dead-lettered), and the consumer can
/// write ids into its SQL as literals. On the wire it is the hyphenated text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewOrder {
    pub order_id: uuid::Uuid,
    pub product_id: i64,
    pub user_id: i64,
    pub created_at: i64,
    /// The tenure whose lease the unit came from (see `leases`); 0 in messages from before.
    #[serde(default)]
    pub lease_owner: i64,
    /// Pay by then, or the unit goes back; 0 (also in messages from before): no deadline.
    #[serde(default)]
    pub deadline: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// In the database (now or by an earlier delivery of the same order).
    Stored,
    /// Refused: this user already has another order for this product.
    Duplicate,
}

// Rows per INSERT: fewer, larger statements are fewer round trips and parses for the consumer;
// MySQL's are bounded by its packet size (2,000 rows are about 160 kB). The read-back of a
// partly ignored batch binds ROWS_PER_INSERT * 5 ids, under SQLite's 999 bound values.
const ROWS_PER_INSERT: usize = 150;
const MYSQL_ROWS_PER_INSERT: usize = 2_000;

/// Writes a batch in ONE transaction: multi-row `INSERT IGNORE`s grouped by product, `sold`
/// raised by exactly the rows that went in. Safe to repeat: a redelivered order is `Stored`
/// again without counting twice. An order for a product that is gone fails the batch
/// (`WriteError::NoProduct`): the ignore is for the unique keys only.
pub async fn write_batch(db: &Db, orders: &[NewOrder]) -> Result<Vec<Written>, WriteError> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_product: BTreeMap<i64, Vec<&NewOrder>> = BTreeMap::new();
    for o in orders {
        by_product.entry(o.product_id).or_default().push(o);
    }
    let mut tx = db.pool.begin().await?;
    if db.kind == DbKind::MySql {
        // Take the product rows first, in id order: the foreign-key checks of the inserts would
        // take shared locks that the `sold` update then has to upgrade — InnoDB's classic deadlock
        // with a concurrent lease.
        // The same read tells the products that are gone: `INSERT IGNORE` would turn their
        // foreign-key errors into warnings, and the orders into "duplicates".
        let missing =
            missing_products(&mut tx, by_product.keys(), " ORDER BY id FOR UPDATE").await?;
        if !missing.is_empty() {
            return Err(WriteError::NoProduct(missing));
        }
    }
    let rows_per_insert = match db.kind {
        DbKind::MySql => MYSQL_ROWS_PER_INSERT,
        _ => ROWS_PER_INSERT,
    };
    let mut all_inserted = 0u64;
    for (product_id, group) in &by_product {
        let mut inserted = 0u64;
        for chunk in group.chunks(rows_per_insert) {
            let sql = insert_sql(db, chunk);
            inserted += match tx.execute(sql.as_str()).await {
                Ok(done) => done.rows_affected(),
                // SQLite's `OR IGNORE` leaves foreign keys alone: the error names no row.
                Err(sqlx::Error::Database(d)) if d.kind() == ErrorKind::ForeignKeyViolation => {
                    let missing = missing_products(&mut tx, by_product.keys(), "").await?;
                    if missing.is_empty() {
                        return Err(sqlx::Error::Database(d).into());
                    }
                    return Err(WriteError::NoProduct(missing));
                }
                Err(e) => return Err(e.into()),
            };
        }
        if inserted > 0 {
            sqlx::query("UPDATE products SET sold = sold + ? WHERE id = ?")
                .bind(inserted as i64)
                .bind(*product_id)
                .execute(&mut *tx)
                .await?;
        }
        all_inserted += inserted;
    }
    // Every row went in (the usual case): all stored, nothing to look up. Otherwise some were
    // ignored, as a redelivery (already stored) or a second order of a buyer (refused): the
    // rows now present tell which.
    if all_inserted == orders.len() as u64 {
        tx.commit().await?;
        return Ok(vec![Written::Stored; orders.len()]);
    }
    let mut present = HashSet::new();
    for chunk in orders.chunks(ROWS_PER_INSERT * 5) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT id FROM orders WHERE id IN ({marks})");
        let mut q = sqlx::query(&sql);
        for o in chunk {
            q = q.bind(o.order_id.to_string());
        }
        for row in q.fetch_all(&mut *tx).await? {
            // The rows asked for are ours, so their ids are UUIDs; compared as such, not as text.
            if let Ok(id) = uuid::Uuid::try_parse(&col::<String>(&row, "id")?) {
                present.insert(id);
            }
        }
    }
    tx.commit().await?;
    Ok(orders
        .iter()
        .map(|o| {
            if present.contains(&o.order_id) {
                Written::Stored
            } else {
                Written::Duplicate
            }
        })
        .collect())
}

/// Tries of one batch before `commit` gives up.
const ATTEMPTS: u32 = 5;

/// Commits a batch with `write_batch`, retrying other than permanent failures with backoff; an
/// error means nothing of the batch was written.
pub async fn commit(db: &Db, batch: &[NewOrder]) -> Result<Vec<Written>, WriteError> {
    let mut delay = std::time::Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        match write_batch(db, batch).await {
            Ok(done) => return Ok(done),
            Err(e) if attempt < ATTEMPTS && !e.is_permanent() => {
                tracing::warn!(error = %e, attempt, size = batch.len(), "order batch failed, retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The rows as literal values rather than bound ones: each batch has its own row count, so a
/// prepared statement per count was prepared (a round trip and a parse of thousands of
/// placeholders) for nearly every batch; a plain query is one round trip. Only integers and
/// UUIDs (hyphenated hex) are written into the SQL.
fn insert_sql(db: &Db, chunk: &[&NewOrder]) -> String {
    use std::fmt::Write;
    let status = OrderStatus::Reserved.as_str();
    let mut sql = format!(
        "{} INTO orders (id, product_id, user_id, status, created_at, lease_owner, deadline) \
         VALUES ",
        db.insert_ignore()
    );
    sql.reserve(chunk.len() * 80);
    for (i, o) in chunk.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let (id, product, user, at, lease, due) = (
            o.order_id.hyphenated(),
            o.product_id,
            o.user_id,
            o.created_at,
            o.lease_owner,
            o.deadline,
        );
        // Writing to a String cannot fail.
        let _ = write!(
            sql,
            "{sep}('{id}', {product}, {user}, '{status}', {at}, {lease}, {due})"
        );
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::{fixture, products};

    #[tokio::test]
    async fn a_batch_is_stored_once_and_a_failing_batch_writes_nothing() {
        let (db, product, ids) = fixture::sale(&["ann", "bob", "cy"]).await;
        let order = |user_id| NewOrder {
            order_id: uuid::Uuid::now_v7(),
            product_id: product,
            user_id,
            created_at: 1,
            lease_owner: 0,
            deadline: 0,
        };
        let first = vec![order(ids[0]), order(ids[1])];
        assert_eq!(
            write_batch(&db, &first).await.unwrap(),
            vec![Written::Stored; 2]
        );
        // A redelivery is stored again (not counted twice); a second order of a buyer is refused.
        let again = vec![first[0].clone(), order(ids[0])];
        assert_eq!(
            write_batch(&db, &again).await.unwrap(),
            vec![Written::Stored, Written::Duplicate]
        );
        // The second row fails (no such product) after the first went in: neither stays.
        let orphan = NewOrder {
            product_id: product + 1_000,
            ..order(ids[2])
        };
        let refused = write_batch(&db, &[order(ids[2]), orphan]).await;
        assert!(
            matches!(&refused, Err(e @ WriteError::NoProduct(p)) if *p == [product + 1_000] && e.is_permanent()),
            "{refused:?}"
        );
        assert_eq!(tally(&db, product).await.unwrap(), (2, 2));
        let sold = products::get(&db, product).await.unwrap().unwrap().sold;
        assert_eq!(sold, 2);
    }

    #[test]
    fn an_order_id_must_be_a_uuid_and_travels_as_its_text() {
        let forged = r#"{"order_id":"1'); DELETE FROM orders; --","product_id":1,"user_id":2,"created_at":3}"#;
        let err = serde_json::from_str::<NewOrder>(forged).unwrap_err();
        assert!(err.to_string().contains("UUID parsing failed"), "{err}");
        let id = uuid::Uuid::now_v7();
        let text = format!(r#"{{"order_id":"{id}","product_id":1,"user_id":2,"created_at":3}}"#);
        let order: NewOrder = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (order.order_id, order.lease_owner, order.deadline),
            (id, 0, 0),
            "older messages still read"
        );
        let text = text.replace('}', r#","lease_owner":9,"deadline":4}"#);
        let order: NewOrder = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&order).unwrap(), text);
    }
}
