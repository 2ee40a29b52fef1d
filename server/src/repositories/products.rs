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
}

pub struct NewProduct<'a> {
    pub name: &'a str,
    pub price_cents: i64,
    pub image: &'a str,
    pub stock: i64,
    pub sale_start: i64,
    pub sale_end: i64,
}

const COLUMNS: &str = "id, name, price_cents, image, stock, leased, sold, sale_start, sale_end";

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
        "INSERT INTO products (name, price_cents, image, stock, sale_start, sale_end, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?){returning}"
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

/// Leases up to `want` units to a stock owner: a compare-and-set on `leased` bounded by `stock`,
/// so that several owners together can never lease more than `stock`. Returns how many were
/// granted (0 = none left).
pub async fn lease(db: &Db, id: i64, want: i64) -> Result<i64, sqlx::Error> {
    super::db::retrying(|| lease_once(db, id, want)).await
}

async fn lease_once(db: &Db, id: i64, want: i64) -> Result<i64, sqlx::Error> {
    loop {
        let Some(row) = sqlx::query("SELECT stock, leased FROM products WHERE id = ?")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?
        else {
            return Ok(0);
        };
        let (stock, leased): (i64, i64) = (col(&row, "stock")?, col(&row, "leased")?);
        let grant = want.min(stock - leased);
        if grant <= 0 {
            return Ok(0);
        }
        if take(db, id, leased, grant).await? {
            return Ok(grant);
        }
    }
}

/// Adds `grant` to `leased` if it is still `seen` and the result stays within the stock as it is
/// now: an admin may have lowered it since it was read, and MySQL before 8.0.16 ignores CHECK.
async fn take(db: &Db, id: i64, seen: i64, grant: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE products SET leased = leased + ? \
         WHERE id = ? AND leased = ? AND leased + ? <= stock",
    )
    .bind(grant)
    .bind(id)
    .bind(seen)
    .bind(grant)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Hands unsold leased units back (graceful shutdown of a stock owner).
pub async fn release(db: &Db, id: i64, units: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE products SET leased = leased - ? WHERE id = ? AND leased - ? >= sold")
        .bind(units)
        .bind(id)
        .bind(units)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// After a crash: recounts `sold` from committed orders and takes back every lease that was not
/// sold. Only safe while no stock owner and no queued order is in flight.
pub async fn reconcile(db: &Db) -> Result<u64, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "UPDATE products SET sold = (SELECT COUNT(*) FROM orders WHERE orders.product_id = products.id)",
    )
    .execute(&mut *tx)
    .await?;
    let changed = sqlx::query("UPDATE products SET leased = sold WHERE leased <> sold")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(changed)
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
}

/// Edits a product; the stock may not drop below the units already sold or leased out.
pub async fn update(db: &Db, id: i64, p: &NewProduct<'_>) -> Result<Change, sqlx::Error> {
    let update = sqlx::query(
        "UPDATE products SET name = ?, price_cents = ?, image = ?, stock = ?, sale_start = ?, \
         sale_end = ? WHERE id = ? AND leased <= ? AND sold <= ?",
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

/// Deletes a product that has no orders; `false` when it has some (or does not exist).
pub async fn delete_unsold(db: &Db, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM products WHERE id = ? AND NOT EXISTS (SELECT 1 FROM orders WHERE product_id = ?)",
    )
    .bind(id)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
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
        }
    }

    #[tokio::test]
    async fn a_lease_stays_within_a_stock_lowered_after_it_was_read() {
        let (db, product, _) = fixture::sale(&[]).await;
        // A stock owner read stock 10, leased 0; then the admin lowers the stock to 3.
        assert!(matches!(
            update(&db, product, &lamp("Lamp", 3)).await.unwrap(),
            Change::Done
        ));
        assert!(!take(&db, product, 0, 5).await.unwrap());
        // Read again, the lease is trimmed to what is left, and then there is none.
        assert_eq!(lease(&db, product, 5).await.unwrap(), 3);
        assert_eq!(lease(&db, product, 1).await.unwrap(), 0);
        let row = get(&db, product).await.unwrap().unwrap();
        assert_eq!((row.stock, row.leased), (3, 3));
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
