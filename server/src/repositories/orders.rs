mod failure;
mod recent;

pub use failure::WriteError;
pub use recent::{buyers_since, latest_since};

use super::db::col;
use super::{Db, DbKind};
use app::model::{Order, OrderStatus};
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
    let status = OrderStatus::Confirmed.as_str();
    let mut sql = format!(
        "{} INTO orders (id, product_id, user_id, status, created_at, lease_owner) VALUES ",
        db.insert_ignore()
    );
    sql.reserve(chunk.len() * 80);
    for (i, o) in chunk.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let (id, product, user, at, lease) = (
            o.order_id.hyphenated(),
            o.product_id,
            o.user_id,
            o.created_at,
            o.lease_owner,
        );
        // Writing to a String cannot fail.
        let _ = write!(
            sql,
            "{sep}('{id}', {product}, {user}, '{status}', {at}, {lease})"
        );
    }
    sql
}

fn status_from(s: &str) -> OrderStatus {
    if s == "queued" {
        OrderStatus::Queued
    } else {
        OrderStatus::Confirmed
    }
}

/// Every user with an order for the product, to seed the in-memory "already bought" set.
pub async fn buyers(db: &Db, product_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM orders WHERE product_id = ?")
        .bind(product_id)
        .fetch_all(&db.pool)
        .await
}

/// Whether the user has an order for the product in the database.
pub async fn exists(db: &Db, product_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT id FROM orders WHERE product_id = ? AND user_id = ?")
            .bind(product_id)
            .bind(user_id)
            .fetch_optional(&db.pool)
            .await?
            .is_some(),
    )
}

/// Which of these users have an order for the product in the database: (user, order id).
pub async fn stored_among(
    db: &Db,
    product_id: i64,
    users: &[i64],
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; users.len()].join(", ");
    let sql =
        format!("SELECT user_id, id FROM orders WHERE product_id = ? AND user_id IN ({marks})");
    let mut q = sqlx::query(&sql).bind(product_id);
    for u in users {
        q = q.bind(*u);
    }
    let rows = q.fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| Ok((col(r, "user_id")?, col(r, "id")?)))
        .collect()
}

pub async fn for_user(db: &Db, user_id: i64) -> Result<Vec<Order>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT o.id, o.product_id, p.name, o.status, o.created_at FROM orders o \
         JOIN products p ON p.id = o.product_id WHERE o.user_id = ? ORDER BY o.created_at DESC",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let status: String = col(r, "status")?;
            Ok(Order {
                order_id: col(r, "id")?,
                product_id: col(r, "product_id")?,
                product_name: col(r, "name")?,
                status: status_from(&status),
                created_at: col(r, "created_at")?,
            })
        })
        .collect()
}

/// The books of one product: (orders, distinct buyers).
pub async fn tally(db: &Db, product_id: i64) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS buyers FROM orders WHERE product_id = ?",
    )
    .bind(product_id)
    .fetch_one(&db.pool)
    .await?;
    Ok((col(&row, "n")?, col(&row, "buyers")?))
}

/// Orders matching the filter, newest first, one page of them, and how many match in all.
pub async fn search(
    db: &Db,
    filter: &app::model::OrderFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<app::model::AdminOrder>, i64), sqlx::Error> {
    let mut clauses = Vec::new();
    if filter.product_id.is_some() {
        clauses.push("o.product_id = ?");
    }
    if filter.status.is_some() {
        clauses.push("o.status = ?");
    }
    if filter.user.is_some() {
        clauses.push("u.name = ?");
    }
    let filter_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let from =
        "FROM orders o JOIN products p ON p.id = o.product_id JOIN users u ON u.id = o.user_id";
    let count_sql = format!("SELECT COUNT(*) AS n {from} {filter_sql}");
    let list_sql = format!(
        "SELECT o.id, o.product_id, p.name AS product_name, o.user_id, u.name AS user_name, \
         o.status, o.created_at {from} {filter_sql} ORDER BY o.created_at DESC, o.id LIMIT ? OFFSET ?"
    );
    macro_rules! bind_filter {
        ($q:expr) => {{
            let mut q = $q;
            if let Some(p) = filter.product_id {
                q = q.bind(p);
            }
            if let Some(s) = filter.status {
                q = q.bind(s.as_str());
            }
            if let Some(u) = &filter.user {
                q = q.bind(u.as_str());
            }
            q
        }};
    }
    let total: i64 = col(
        &bind_filter!(sqlx::query(&count_sql))
            .fetch_one(&db.pool)
            .await?,
        "n",
    )?;
    let rows = bind_filter!(sqlx::query(&list_sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await?;
    let orders = rows
        .iter()
        .map(|r| {
            let status: String = col(r, "status")?;
            Ok(app::model::AdminOrder {
                order_id: col(r, "id")?,
                product_id: col(r, "product_id")?,
                product_name: col(r, "product_name")?,
                user_id: col(r, "user_id")?,
                user_name: col(r, "user_name")?,
                status: status_from(&status),
                created_at: col(r, "created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((orders, total))
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
            (order.order_id, order.lease_owner),
            (id, 0),
            "older messages still read"
        );
        let text = text.replace('}', r#","lease_owner":9}"#);
        let order: NewOrder = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&order).unwrap(), text);
    }
}
