use super::db::col;
use super::Db;
use app::model::{Role, User};

pub struct StoredUser {
    pub user: User,
    pub password_hash: String,
}

fn role_from(s: &str) -> Role {
    if s == "admin" {
        Role::Admin
    } else {
        Role::Shopper
    }
}

pub fn role_str(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Shopper => "shopper",
    }
}

/// Inserts a user; a taken name is a unique violation for the caller to map to 409.
pub async fn insert(
    db: &Db,
    name: &str,
    hash: &str,
    role: Role,
    now: i64,
) -> Result<User, sqlx::Error> {
    sqlx::query("INSERT INTO users (name, password_hash, role, created_at) VALUES (?, ?, ?, ?)")
        .bind(name)
        .bind(hash)
        .bind(role_str(role))
        .bind(now)
        .execute(&db.pool)
        .await?;
    let stored = find_by_name(db, name)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok(stored.user)
}

pub async fn find_by_name(db: &Db, name: &str) -> Result<Option<StoredUser>, sqlx::Error> {
    let row = sqlx::query("SELECT id, name, password_hash, role FROM users WHERE name = ?")
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| {
        Ok(StoredUser {
            user: User {
                id: col(&r, "id")?,
                name: col(&r, "name")?,
                role: role_from(&col::<String>(&r, "role")?),
            },
            password_hash: col(&r, "password_hash")?,
        })
    })
    .transpose()
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&db.pool)
        .await?;
    col(&row, "n")
}

/// Logins of this user issued before `now` stop counting; false when no such user exists.
pub async fn revoke_logins(db: &Db, user_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    // Only forward: a revoking host with a slower clock must not bring older logins back.
    let done = sqlx::query(
        "UPDATE users SET logins_revoked_before = CASE WHEN logins_revoked_before < ? \
         THEN ? ELSE logins_revoked_before END WHERE id = ?",
    )
    .bind(now)
    .bind(now)
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Users whose logins were revoked after `since`, with the time of revocation (the index on
/// it keeps this a short range read however many users there are).
pub async fn revoked_since(db: &Db, since: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT id, logins_revoked_before FROM users WHERE logins_revoked_before > ?")
            .bind(since)
            .fetch_all(&db.pool)
            .await?;
    rows.iter()
        .map(|r| Ok((col(r, "id")?, col(r, "logins_revoked_before")?)))
        .collect()
}
