use super::db::col;
use super::{Db, DbKind};

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

/// Adds (or re-reasons) a user; false when no such user exists. One statement: a read then a write
/// in a deferred SQLite transaction fails as busy beside a concurrent writer.
pub async fn add(db: &Db, user_id: i64, reason: &str, now: i64) -> Result<bool, sqlx::Error> {
    const INSERT: &str = "INSERT INTO blacklist (user_id, reason, created_at) \
                          SELECT id, ?, ? FROM users WHERE id = ?";
    let sql = match db.kind {
        DbKind::Sqlite => format!(
            "{INSERT} ON CONFLICT (user_id) DO UPDATE SET reason = excluded.reason, \
             created_at = excluded.created_at"
        ),
        DbKind::MySql => format!("{INSERT} ON DUPLICATE KEY UPDATE reason = ?, created_at = ?"),
    };
    // Concurrent upserts of one key can deadlock in InnoDB; tried again, one wins.
    let done = super::db::retrying(|| {
        let query = sqlx::query(&sql).bind(reason).bind(now).bind(user_id);
        let query = match db.kind {
            DbKind::Sqlite => query,
            DbKind::MySql => query.bind(reason).bind(now),
        };
        query.execute(&db.pool)
    })
    .await?;
    // sqlx asks MySQL for found rows, so an update to the same values counts too.
    Ok(done.rows_affected() > 0)
}

pub async fn remove(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM blacklist WHERE user_id = ?")
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::fixture;

    #[tokio::test]
    async fn concurrent_adds_of_the_same_and_other_users_all_succeed() {
        let names: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (db, _, users) = fixture::sale(&names).await;
        let reasons: Vec<String> = (0..30).map(|i| format!("r{i}")).collect();
        let added = futures::future::try_join_all(
            reasons
                .iter()
                .enumerate()
                .map(|(i, r)| add(&db, users[i % users.len()], r, i as i64)),
        )
        .await
        .unwrap();
        assert_eq!(added, vec![true; 30]);
        let listed = list(&db).await.unwrap();
        assert_eq!(listed.len(), users.len());
        for e in &listed {
            // Whichever add came last wins, and it is one of that user's.
            let i: usize = e.reason[1..].parse().unwrap();
            assert_eq!(users[i % users.len()], e.user_id);
        }
        assert!(!add(&db, users[9] + 1_000, "ghost", 0).await.unwrap());
        // Twice: the same values again still say the user exists.
        for _ in 0..2 {
            assert!(add(&db, users[0], "changed", 99).await.unwrap());
        }
        let first = list(&db).await.unwrap();
        let first = first.iter().find(|e| e.user_id == users[0]).unwrap();
        assert_eq!((first.reason.as_str(), first.created_at), ("changed", 99));
    }
}
