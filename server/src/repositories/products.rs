use super::db::col;
use super::{Db, DbKind};
use sqlx::any::AnyRow;

/// A product row as stored; `services::window` turns it into the shared `Product`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductRow {
    pub id: i64,
    pub name: String,
    pub price_cents: i64,
    pub image: String,
    pub stock: i64,
    pub leased: i64,
    pub sold: i64,
    pub sale_start: i64,
    pub sale_end: i64,
    /// How long a shopper has to pay for a reservation.
    pub pay_within_ms: i64,
}

pub struct NewProduct<'a> {
    pub name: &'a str,
    pub price_cents: i64,
    pub image: &'a str,
    pub stock: i64,
    pub sale_start: i64,
    pub sale_end: i64,
    pub pay_within_ms: i64,
}

const COLUMNS: &str =
    "id, name, price_cents, image, stock, leased, sold, sale_start, sale_end, pay_within_ms";

fn from_row(r: &AnyRow) -> Result<ProductRow, sqlx::Error> {
    Ok(ProductRow {
        id: col(r, "id")?,
        name: col(r, "name")?,
        price_cents: col(r, "price_cents")?,
        image: col(r, "image")?,
        stock: col(r, "stock")?,
        leased: col(r, "leased")?,
        sold: col(r, "sold")?,
        sale_start: col(r, "sale_start")?,
        sale_end: col(r, "sale_end")?,
        pay_within_ms: col(r, "pay_within_ms")?,
    })
}

pub async fn list(db: &Db) -> Result<Vec<ProductRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM products ORDER BY sale_start, id");
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, id: i64) -> Result<Option<ProductRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM products WHERE id = ?");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn insert(db: &Db, p: &NewProduct<'_>, now: i64) -> Result<i64, sqlx::Error> {
    // The id comes from the insert itself: a later `SELECT MAX(id)` can see another's row. sqlx's
    // Any driver reports no insert id for SQLite, hence RETURNING there (MySQL has none).
    let returning = match db.kind {
        DbKind::Sqlite => " RETURNING id",
        DbKind::MySql => "",
    };
    let sql = format!(
        "INSERT INTO products (name, price_cents, image, stock, sale_start, sale_end, \
         pay_within_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?){returning}"
    );
    let query = bind_fields(sqlx::query(&sql), p).bind(now);
    match db.kind {
        DbKind::Sqlite => col(&query.fetch_one(&db.pool).await?, "id"),
        DbKind::MySql => query
            .execute(&db.pool)
            .await?
            .last_insert_id()
            .ok_or_else(|| sqlx::Error::Protocol("no id for the inserted product".into())),
    }
}

pub enum Change {
    Done,
    NotFound,
    /// The new stock would be below what is already sold or leased.
    BelowCommitted(i64),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// A product's own columns, in the order the insert and the update name them.
fn bind_fields<'q>(query: AnyQuery<'q>, p: &NewProduct<'q>) -> AnyQuery<'q> {
    query
        .bind(p.name)
        .bind(p.price_cents)
        .bind(p.image)
        .bind(p.stock)
        .bind(p.sale_start)
        .bind(p.sale_end)
        .bind(p.pay_within_ms)
}

/// Edits a product; the stock may not drop below the units already sold or leased out.
pub async fn update(db: &Db, id: i64, p: &NewProduct<'_>) -> Result<Change, sqlx::Error> {
    let update = sqlx::query(
        "UPDATE products SET name = ?, price_cents = ?, image = ?, stock = ?, sale_start = ?, \
         sale_end = ?, pay_within_ms = ? WHERE id = ? AND leased <= ? AND sold <= ?",
    );
    let done = bind_fields(update, p)
        .bind(id)
        .bind(p.stock)
        .bind(p.stock)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() > 0 {
        return Ok(Change::Done);
    }
    Ok(match get(db, id).await? {
        None => Change::NotFound,
        Some(row) if row.leased > p.stock || row.sold > p.stock => {
            Change::BelowCommitted(row.leased.max(row.sold))
        }
        // Same values as before: MySQL reports no row changed.
        Some(_) => Change::Done,
    })
}

pub enum Deleted {
    Done,
    NotFound,
    /// It has orders in the table.
    HasOrders,
    /// Units leased beyond those sold: held by stock owners, or in orders still queued.
    UnitsOut(i64),
}

/// Deletes a product that has no orders and no units out: a unit leased and not sold is at a
/// stock owner or in an order on its way to the table, which would then have no product.
pub async fn delete_unsold(db: &Db, id: i64) -> Result<Deleted, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM products WHERE id = ? AND leased <= sold \
         AND NOT EXISTS (SELECT 1 FROM orders WHERE product_id = ?)",
    )
    .bind(id)
    .bind(id)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(Deleted::Done);
    }
    Ok(match get(db, id).await? {
        None => Deleted::NotFound,
        Some(row) if row.leased > row.sold => Deleted::UnitsOut(row.leased - row.sold),
        Some(_) => Deleted::HasOrders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::fixture;

    fn lamp(name: &str, stock: i64) -> NewProduct<'_> {
        NewProduct {
            name,
            price_cents: 100,
            image: "",
            stock,
            sale_start: 0,
            sale_end: i64::MAX,
            pay_within_ms: 60_000,
        }
    }

    #[tokio::test]
    async fn concurrent_inserts_each_get_their_own_id() {
        let (db, _, _) = fixture::sale(&[]).await;
        let names: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
        let rows: Vec<NewProduct> = names.iter().map(|n| lamp(n, 1)).collect();
        let ids = futures::future::try_join_all(rows.iter().map(|p| insert(&db, p, 0)))
            .await
            .unwrap();
        for (name, id) in names.iter().zip(ids) {
            assert_eq!(&get(&db, id).await.unwrap().unwrap().name, name);
        }
    }
}
