//! Who holds the leased stock (see migration 0003). Every process that leases units is an owner,
//! one row per run, alive while it renews it; each lease is counted against its owner and each
//! order against the owner whose unit it sold. A reconciliation then takes back only what dead
//! owners held and did not sell, and can run in the middle of a sale.

use super::db::col;
use super::{Db, DbKind};
use sqlx::{Any, Transaction};

/// How often an owner renews its row.
pub const RENEW_MS: i64 = 1_000;
/// An owner that could not renew for this long sells nothing more from memory (it may be
/// taken for dead soon)…
pub const SELL_WITHIN_MS: i64 = 10_000;
/// …and one silent this long is dead: what it held and did not sell can be taken back.
pub const DEAD_AFTER_MS: i64 = 30_000;

/// A new run of `name` (role, host, port): its earlier runs are dead from now on. Owners that
/// start together can deadlock here in InnoDB (seen: a stock owner that never started); tried
/// again, each gets in.
pub async fn register(db: &Db, owner: i64, name: &str, now: i64) -> Result<(), sqlx::Error> {
    super::db::retrying(|| register_once(db, owner, name, now)).await
}

async fn register_once(db: &Db, owner: i64, name: &str, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE lease_owners SET renewed_at = 0 WHERE name = ?")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO lease_owners (id, name, renewed_at) VALUES (?, ?, ?)")
        .bind(owner)
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// `false` when the owner is dead already (silent too long, or replaced by a later run): its
/// leases may have been taken back, so it must forget its units.
pub async fn renew(db: &Db, owner: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE lease_owners SET renewed_at = ? WHERE id = ? AND renewed_at >= ?")
            .bind(now)
            .bind(owner)
            .bind(now - DEAD_AFTER_MS)
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// A clean stop: the owner is dead from now on (its orders still count; its units went back).
pub async fn retire(db: &Db, owner: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE lease_owners SET renewed_at = 0 WHERE id = ?")
        .bind(owner)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Leases up to `want` units to a live owner: a compare-and-set on `leased` bounded by `stock`,
/// so that all owners together can never lease more than `stock`, counted against the owner in
/// the same transaction. Returns how many were granted (0 = none left, or the owner is dead).
pub async fn lease(db: &Db, owner: i64, id: i64, want: i64, now: i64) -> Result<i64, sqlx::Error> {
    super::db::retrying(|| lease_once(db, owner, id, want, now)).await
}

async fn lease_once(db: &Db, owner: i64, id: i64, want: i64, now: i64) -> Result<i64, sqlx::Error> {
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
        match take(db, owner, id, leased, grant, now).await? {
            Took::Granted => return Ok(grant),
            Took::Dead => return Ok(0),
            Took::Raced => {}
        }
    }
}

enum Took {
    Granted,
    /// `leased` or `stock` changed since they were read: read them again.
    Raced,
    /// The owner is dead: it may lease nothing.
    Dead,
}

/// Adds `grant` to `leased` if it is still `seen`, the result stays within the stock as it is
/// now (an admin may have lowered it since it was read, and MySQL before 8.0.16 ignores CHECK),
/// and the owner is alive (a dead one's leases may be taken back at any time).
async fn take(
    db: &Db,
    owner: i64,
    id: i64,
    seen: i64,
    grant: i64,
    now: i64,
) -> Result<Took, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE products SET leased = leased + ? \
         WHERE id = ? AND leased = ? AND leased + ? <= stock \
         AND EXISTS (SELECT 1 FROM lease_owners WHERE id = ? AND renewed_at >= ?)",
    )
    .bind(grant)
    .bind(id)
    .bind(seen)
    .bind(grant)
    .bind(owner)
    .bind(now - DEAD_AFTER_MS)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        count(&mut tx, db.kind, owner, id, grant).await?;
        tx.commit().await?;
        return Ok(Took::Granted);
    }
    let alive = sqlx::query("SELECT 1 AS alive FROM lease_owners WHERE id = ? AND renewed_at >= ?")
        .bind(owner)
        .bind(now - DEAD_AFTER_MS)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(if alive.is_some() {
        Took::Raced
    } else {
        Took::Dead
    })
}

/// Hands unsold leased units back (a clean stop of an owner).
pub async fn release(db: &Db, owner: i64, id: i64, units: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let done =
        sqlx::query("UPDATE products SET leased = leased - ? WHERE id = ? AND leased - ? >= sold")
            .bind(units)
            .bind(id)
            .bind(units)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() == 1 {
        count(&mut tx, db.kind, owner, id, -units).await?;
    }
    tx.commit().await
}

/// Moves `n` unsold units of `from`'s lease to `to`'s (a stock owner handing a node a sub-block):
/// `leased` stays as it is, and each side's orders keep counting against its own lease, so a
/// dead node's unsold rest is what reconcile takes back. `false` when `to` is dead (nothing
/// moved: its leases may be taken back at any time).
pub async fn transfer(
    db: &Db,
    from: i64,
    to: i64,
    product_id: i64,
    n: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let alive = sqlx::query("SELECT 1 AS alive FROM lease_owners WHERE id = ? AND renewed_at >= ?")
        .bind(to)
        .bind(now - DEAD_AFTER_MS)
        .fetch_optional(&mut *tx)
        .await?;
    if alive.is_none() {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE leases SET granted = granted - ? \
         WHERE owner_id = ? AND product_id = ? AND granted >= ?",
    )
    .bind(n)
    .bind(from)
    .bind(product_id)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(sqlx::Error::Protocol(format!(
            "tenure {from} holds fewer than {n} units of product {product_id}"
        )));
    }
    count(&mut tx, db.kind, to, product_id, n).await?;
    tx.commit().await?;
    Ok(true)
}

/// Counts `n` more (or, negative, fewer) units leased to the owner, in the lease's transaction.
async fn count(
    tx: &mut Transaction<'_, Any>,
    kind: DbKind,
    owner: i64,
    product_id: i64,
    n: i64,
) -> Result<(), sqlx::Error> {
    let sql = match kind {
        DbKind::Sqlite => {
            "INSERT INTO leases (owner_id, product_id, granted) VALUES (?, ?, ?) \
             ON CONFLICT (owner_id, product_id) DO UPDATE SET granted = granted + excluded.granted"
        }
        DbKind::MySql => {
            "INSERT INTO leases (owner_id, product_id, granted) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE granted = granted + VALUES(granted)"
        }
    };
    sqlx::query(sql)
        .bind(owner)
        .bind(product_id)
        .bind(n)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Recounts `sold` from the live orders (an ended one gave its unit back), and `leased` as what live owners were granted plus
/// what the others sold; forgets the dead owners' leases. Orders still queued count as unsold:
/// drain the queue first. Returns the products whose `leased` changed.
pub async fn reconcile(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let live = now - DEAD_AFTER_MS;
    let mut tx = db.pool.begin().await?;
    // A write first: an SQLite transaction that reads first cannot turn into a writer once
    // another connection (an owner renewing) has written meanwhile.
    sqlx::query(
        "UPDATE products SET sold = \
         (SELECT COUNT(*) FROM orders WHERE orders.product_id = products.id AND orders.live = 1)",
    )
    .execute(&mut *tx)
    .await?;
    let before = leased(&mut tx).await?;
    sqlx::query(
        "UPDATE products SET leased = \
         (SELECT COUNT(*) FROM orders o WHERE o.product_id = products.id AND o.live = 1 \
            AND o.lease_owner NOT IN \
            (SELECT id FROM lease_owners WHERE renewed_at >= ?)) + \
         (SELECT COALESCE(SUM(l.granted), 0) FROM leases l JOIN lease_owners w ON w.id = l.owner_id \
            WHERE l.product_id = products.id AND w.renewed_at >= ?)",
    )
    .bind(live)
    .bind(live)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM leases WHERE owner_id IN (SELECT id FROM lease_owners WHERE renewed_at < ?)",
    )
    .bind(live)
    .execute(&mut *tx)
    .await?;
    let after = leased(&mut tx).await?;
    tx.commit().await?;
    Ok(before.iter().filter(|row| !after.contains(row)).count() as u64)
}

async fn leased(tx: &mut Transaction<'_, Any>) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, leased FROM products")
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| Ok((col(r, "id")?, col(r, "leased")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::fixture;
    use crate::repositories::orders::{write_batch, NewOrder};
    use crate::repositories::products::{get, update, Change, NewProduct};

    #[tokio::test]
    async fn a_lease_stays_within_a_stock_lowered_after_it_was_read() {
        let (db, product, _) = fixture::sale(&[]).await;
        register(&db, 1, "stock@test:1", 0).await.unwrap();
        // A stock owner read stock 10, leased 0; then the admin lowers the stock to 3.
        let lowered = NewProduct {
            name: "Lamp",
            price_cents: 100,
            image: "",
            stock: 3,
            sale_start: 0,
            sale_end: i64::MAX,
            pay_within_ms: 900_000,
        };
        assert!(matches!(
            update(&db, product, &lowered).await.unwrap(),
            Change::Done
        ));
        assert!(matches!(
            take(&db, 1, product, 0, 5, 0).await.unwrap(),
            Took::Raced
        ));
        // Read again, the lease is trimmed to what is left, and then there is none.
        assert_eq!(lease(&db, 1, product, 5, 0).await.unwrap(), 3);
        assert_eq!(lease(&db, 1, product, 1, 0).await.unwrap(), 0);
        let row = get(&db, product).await.unwrap().unwrap();
        assert_eq!((row.stock, row.leased), (3, 3));
    }

    #[tokio::test]
    async fn a_sub_block_moves_between_leases_and_its_dead_holders_rest_comes_back() {
        let (db, product, ids) = fixture::sale(&["ann", "bob"]).await;
        let now = 1_000_000;
        let (owner, node, gone) = (11, 22, 33);
        register(&db, owner, "stock@test:1", now).await.unwrap();
        register(&db, node, "node@test:2", now).await.unwrap();
        register(&db, gone, "node@test:3", now - DEAD_AFTER_MS - 1)
            .await
            .unwrap();
        assert_eq!(lease(&db, owner, product, 6, now).await.unwrap(), 6);
        assert!(transfer(&db, owner, node, product, 4, now).await.unwrap());
        assert!(
            !transfer(&db, owner, gone, product, 1, now).await.unwrap(),
            "a dead holder gets nothing"
        );
        assert!(
            transfer(&db, owner, node, product, 3, now).await.is_err(),
            "the owner holds 2 only"
        );
        let sold = |user_id, lease_owner| NewOrder {
            order_id: uuid::Uuid::now_v7(),
            product_id: product,
            user_id,
            created_at: now,
            lease_owner,
            deadline: 0,
        };
        write_batch(&db, &[sold(ids[0], node), sold(ids[1], owner)])
            .await
            .unwrap();
        // The node dies holding 3 unsold: they come back; the owner's 1 unsold stays leased.
        let later = now + DEAD_AFTER_MS + 1;
        assert!(renew(&db, owner, now + DEAD_AFTER_MS / 2).await.unwrap());
        assert!(renew(&db, owner, later).await.unwrap());
        reconcile(&db, later).await.unwrap();
        let row = get(&db, product).await.unwrap().unwrap();
        assert_eq!((row.sold, row.leased), (2, 1 + 2));
    }

    #[tokio::test]
    async fn reconcile_takes_back_only_what_dead_owners_held_and_did_not_sell() {
        let (db, product, ids) = fixture::sale(&["ann", "bob", "cy"]).await;
        let now = 1_000_000;
        let (live, dead) = (11, 22);
        register(&db, dead, "stock@test:2", now - DEAD_AFTER_MS - 1)
            .await
            .unwrap();
        register(&db, live, "stock@test:1", now).await.unwrap();
        assert_eq!(
            lease(&db, dead, product, 4, now - DEAD_AFTER_MS - 1)
                .await
                .unwrap(),
            4
        );
        assert_eq!(lease(&db, live, product, 4, now).await.unwrap(), 4);
        let sold = |user_id, lease_owner| NewOrder {
            order_id: uuid::Uuid::now_v7(),
            product_id: product,
            user_id,
            created_at: now,
            lease_owner,
            deadline: 0,
        };
        let batch = [sold(ids[0], live), sold(ids[1], dead), sold(ids[2], dead)];
        write_batch(&db, &batch).await.unwrap();

        assert_eq!(
            lease(&db, dead, product, 1, now).await.unwrap(),
            0,
            "dead: no lease"
        );
        assert!(!renew(&db, dead, now).await.unwrap(), "dead: not renewed");
        assert_eq!(reconcile(&db, now).await.unwrap(), 1);
        let row = get(&db, product).await.unwrap().unwrap();
        // The live owner keeps its 4 (1 sold, 3 in memory); the dead one's 2 unsold are back.
        assert_eq!((row.sold, row.leased), (3, 4 + 2));
        assert_eq!(
            reconcile(&db, now).await.unwrap(),
            0,
            "settled: nothing more"
        );
    }
}
