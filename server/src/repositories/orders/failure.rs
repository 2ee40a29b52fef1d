//! Why a batch of orders was not written, and whether trying it again can help.

use crate::repositories::db::{col, is_retryable};
use sqlx::any::Any;
use sqlx::error::ErrorKind;
use std::collections::HashSet;

/// Why a batch was not written (nothing of it was).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Orders for products that are gone (deleted while the orders were queued): such an order
    /// can never be written. MySQL's `INSERT IGNORE` would have dropped it as a duplicate.
    #[error("no such product (deleted while its orders were queued): {0:?}")]
    NoProduct(Vec<i64>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl WriteError {
    /// The batch itself is refused, whatever the database's health: trying it again as it is
    /// cannot help (a missing product, a constraint the rows break).
    pub fn is_permanent(&self) -> bool {
        match self {
            WriteError::NoProduct(_) => true,
            WriteError::Db(e @ sqlx::Error::Database(d)) => {
                !is_retryable(e)
                    && matches!(
                        d.kind(),
                        ErrorKind::ForeignKeyViolation
                            | ErrorKind::NotNullViolation
                            | ErrorKind::CheckViolation
                            | ErrorKind::UniqueViolation
                    )
            }
            WriteError::Db(_) => false,
        }
    }
}

/// Which of these products are not in the table, read inside the batch's transaction (`tail`:
/// MySQL's row locks).
pub(super) async fn missing_products(
    tx: &mut sqlx::Transaction<'_, Any>,
    ids: impl ExactSizeIterator<Item = &i64> + Clone,
    tail: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    let marks = vec!["?"; ids.len()].join(", ");
    let sql = format!("SELECT id FROM products WHERE id IN ({marks}){tail}");
    let mut q = sqlx::query(&sql);
    for id in ids.clone() {
        q = q.bind(*id);
    }
    let mut found = HashSet::new();
    for row in q.fetch_all(&mut **tx).await? {
        found.insert(col::<i64>(&row, "id")?);
    }
    Ok(ids.filter(|id| !found.contains(id)).copied().collect())
}
