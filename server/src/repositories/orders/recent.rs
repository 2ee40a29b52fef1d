//! Orders as the per-user limit reads them: who bought within the last interval. A restarted
//! node and a stand-in for an unreachable one start their cooldowns from here, not from nothing.

use crate::repositories::db::col;
use crate::repositories::Db;

/// Each user with an order created at or after `since`, and their latest order's time.
pub async fn buyers_since(db: &Db, since: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT user_id, MAX(created_at) AS at FROM orders WHERE created_at >= ? GROUP BY user_id",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((col(r, "user_id")?, col(r, "at")?)))
        .collect()
}

/// When the user's latest order was created, if it was at or after `since`.
pub async fn latest_since(db: &Db, user_id: i64, since: i64) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT MAX(created_at) AS at FROM orders WHERE user_id = ? AND created_at >= ?",
    )
    .bind(user_id)
    .bind(since)
    .fetch_one(&db.pool)
    .await?;
    col::<Option<i64>>(&row, "at")
}
