//! Orders as the shop reads them: a shopper's own, the admin's search, the books of a product,
//! and the live orders (reserved or paid) that count as a shopper's one purchase.

use crate::repositories::db::col;
use crate::repositories::Db;
use app::model::{Order, OrderStatus};

/// A stored state; the CHECK constraint allows no other.
fn status_from(s: &str) -> OrderStatus {
    OrderStatus::parse(s).unwrap_or(OrderStatus::Reserved)
}

/// Every user with a live order for the product and its id, to seed the in-memory "already
/// bought" set.
pub async fn buyers(db: &Db, product_id: i64) -> Result<Vec<(i64, uuid::Uuid)>, sqlx::Error> {
    let rows = sqlx::query("SELECT user_id, id FROM orders WHERE product_id = ? AND live = 1")
        .bind(product_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = col(r, "id")?;
            // Ours are UUIDs; a row that is not (written by hand) still counts as a purchase.
            Ok((
                col(r, "user_id")?,
                uuid::Uuid::try_parse(&id).unwrap_or_default(),
            ))
        })
        .collect()
}

/// Whether the user has a live order for the product in the database.
pub async fn exists(db: &Db, product_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT id FROM orders WHERE product_id = ? AND user_id = ? AND live = 1")
            .bind(product_id)
            .bind(user_id)
            .fetch_optional(&db.pool)
            .await?
            .is_some(),
    )
}

/// Which of these users have a live order for the product in the database: (user, order id).
pub async fn stored_among(
    db: &Db,
    product_id: i64,
    users: &[i64],
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; users.len()].join(", ");
    let sql = format!(
        "SELECT user_id, id FROM orders WHERE product_id = ? AND live = 1 AND user_id IN ({marks})"
    );
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
    let now = crate::now_ms();
    let rows = sqlx::query(
        "SELECT o.id, o.product_id, p.name, o.status, o.created_at, o.deadline FROM orders o \
         JOIN products p ON p.id = o.product_id WHERE o.user_id = ? ORDER BY o.created_at DESC",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let status = status_from(&col::<String>(r, "status")?);
            let deadline: i64 = col(r, "deadline")?;
            Ok(Order {
                order_id: col(r, "id")?,
                product_id: col(r, "product_id")?,
                product_name: col(r, "name")?,
                status,
                created_at: col(r, "created_at")?,
                deadline,
                pays_in_ms: match status {
                    OrderStatus::Reserved if deadline > 0 => (deadline - now).max(0),
                    _ => 0,
                },
            })
        })
        .collect()
}

/// The books of one product: (live orders, their distinct buyers).
pub async fn tally(db: &Db, product_id: i64) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS buyers FROM orders \
         WHERE product_id = ? AND live = 1",
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

/// Stored orders by state, of one product or of all.
pub async fn count_by_status(
    db: &Db,
    product_id: Option<i64>,
) -> Result<Vec<(OrderStatus, i64)>, sqlx::Error> {
    let filter = if product_id.is_some() {
        " WHERE product_id = ?"
    } else {
        ""
    };
    let sql = format!("SELECT status, COUNT(*) AS n FROM orders{filter} GROUP BY status");
    let mut q = sqlx::query(&sql);
    if let Some(p) = product_id {
        q = q.bind(p);
    }
    let rows = q.fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| Ok((status_from(&col::<String>(r, "status")?), col(r, "n")?)))
        .collect()
}

/// One order, as its shopper's actions after the click need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    pub user_id: i64,
    pub product_id: i64,
    pub status: OrderStatus,
    pub deadline: i64,
    pub price_cents: i64,
}

pub async fn one(db: &Db, order_id: &str) -> Result<Option<OrderRef>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT o.user_id, o.product_id, o.status, o.deadline, p.price_cents FROM orders o \
         JOIN products p ON p.id = o.product_id WHERE o.id = ?",
    )
    .bind(order_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(OrderRef {
            user_id: col(&r, "user_id")?,
            product_id: col(&r, "product_id")?,
            status: status_from(&col::<String>(&r, "status")?),
            deadline: col(&r, "deadline")?,
            price_cents: col(&r, "price_cents")?,
        })
    })
    .transpose()
}
