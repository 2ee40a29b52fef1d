use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    MySql,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub kind: DbKind,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/mysql");

impl Db {
    /// Connects, creating the SQLite file's folder when needed, and applies the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        let db = Db::open(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Connects to a database that `connect` has already migrated (a second pool).
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            DbKind::MySql
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite: or mysql:");
        };
        if kind == DbKind::Sqlite {
            ensure_sqlite_dir(url)?;
        }
        // No ping before each acquire: sqlx already pings every connection when it goes back to
        // the pool (and drops a broken one), and idle ones are closed after 10 minutes. The extra
        // round trip was a quarter of the server's CPU on the purchase path (see BENCHMARKS.md).
        let options = AnyPoolOptions::new()
            .max_connections(if kind == DbKind::Sqlite { 8 } else { 32 })
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false);
        let options = if kind == DbKind::Sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers run beside the single writer; FULL makes each commit
                    // durable before a shopper is told "confirmed".
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options
            .connect(url)
            .await
            .with_context(|| format!("connecting to {}", crate::config::redact_url(url)))?;
        Ok(Db { pool, kind })
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::MySql => &MYSQL_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying migrations")?;
        Ok(())
    }

    /// `INSERT OR IGNORE` / `INSERT IGNORE`: the unique keys decide, duplicates are skipped.
    pub fn insert_ignore(&self) -> &'static str {
        match self.kind {
            DbKind::Sqlite => "INSERT OR IGNORE",
            DbKind::MySql => "INSERT IGNORE",
        }
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

fn ensure_sqlite_dir(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Reads a column, turning a type mismatch into an error rather than a panic.
pub fn col<T>(row: &AnyRow, name: &str) -> Result<T, sqlx::Error>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    sqlx::Row::try_get(row, name)
}

/// Whether a database error is a unique-key violation (duplicate name, order, ...).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Whether the database gave up on a statement that may simply be tried again (a deadlock or
/// lock timeout in InnoDB, a busy SQLite file).
pub fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            let msg = d.message();
            matches!(d.code().as_deref(), Some("40001" | "1213" | "1205"))
                || msg.contains("Deadlock found")
                || msg.contains("Lock wait timeout")
                || msg.contains("database is locked")
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

/// The longest a purchase waits for one database call: a stalled database must not hold a
/// shopper, and what they hold, without end. Only for calls that are safe to drop halfway (reads,
/// and writes that finish on a task of their own).
pub const PURCHASE_WAIT: Duration = Duration::from_secs(3);

/// `call`, or a timed-out I/O error after `PURCHASE_WAIT` (answered 503, see `error.rs`).
pub async fn in_time<T>(
    call: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let slow = || {
        let why = format!("no answer within {} s", PURCHASE_WAIT.as_secs());
        sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, why))
    };
    tokio::time::timeout(PURCHASE_WAIT, call)
        .await
        .unwrap_or_else(|_| Err(slow()))
}

/// Whether the error says the database could not be reached or did not answer in time (rather
/// than refused a statement).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
    )
}

/// Runs `f` again (a few times, backing off) while it fails with a retryable error.
pub async fn retrying<T, F, Fut>(mut f: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut delay = Duration::from_millis(5);
    for _ in 0..8 {
        match f().await {
            Err(e) if is_retryable(&e) => {
                tracing::debug!(error = %e, "retrying after a transient database error");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
    f().await
}
