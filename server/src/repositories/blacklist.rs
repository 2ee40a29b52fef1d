use super::db::col;
use super::Db;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub user_id: i64,
    pub user_name: String,
    pub reason: String,
    pub created_at: i64,
}

pub async fn ids(db: &Db) -> Result<Vec<i64>, sqlx::Error> {
    let rows = sqlx::query("SELECT user_id FROM blacklist")
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(|r| col(r, "user_id")).collect()
}

pub async fn list(db: &Db) -> Result<Vec<Entry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT b.user_id, u.name, b.reason, b.created_at FROM blacklist b \
         JOIN users u ON u.id = b.user_id ORDER BY b.created_at",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                user_id: col(r, "user_id")?,
                user_name: col(r, "name")?,
                reason: col(r, "reason")?,
                created_at: col(r, "created_at")?,
            })
        })
        .collect()
}

/// Adds (or re-reasons) a user; false when no such user exists.
pub async fn add(db: &Db, user_id: i64, reason: &str, now: i64) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let exists = sqlx::query("SELECT id FROM users WHERE id = ?")
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if exists {
        sqlx::query("DELETE FROM blacklist WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO blacklist (user_id, reason, created_at) VALUES (?, ?, ?)")
            .bind(user_id)
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(exists)
}

pub async fn remove(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM blacklist WHERE user_id = ?")
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
