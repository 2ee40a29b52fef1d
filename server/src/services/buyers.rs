//! "One unit per shopper and product", answered from memory. A per-request database lookup was
//! the purchase path's bottleneck (and made even sold-out answers wait for MySQL), so each product's
//! buyers are read from the database once, at its first purchase here, and every purchase then
//! claims its user in that set atomically. The set can only grow by the sale's units, so it stays
//! bounded by the stock. The UNIQUE (product_id, user_id) key stays the final guard: the consumer
//! drops a second order for one user whatever this cache said.

use crate::repositories::{orders, Db};
use dashmap::{DashMap, DashSet};
use std::sync::Arc;
use tokio::sync::OnceCell;

type Set = Arc<OnceCell<DashSet<i64>>>;

#[derive(Clone)]
pub struct Buyers {
    db: Db,
    products: Arc<DashMap<i64, Set>>,
}

impl Buyers {
    pub fn new(db: Db) -> Self {
        Buyers {
            db,
            products: Arc::default(),
        }
    }

    /// Claims the user's one purchase of the product: `false` when they already have one (or a
    /// concurrent request of theirs holds the claim). Give it back with `release` when the
    /// purchase does not go through. The first caller reads the product's buyers from the
    /// database; the others wait for that one read instead of each making their own.
    pub async fn claim(&self, product_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
        let cell = self.products.entry(product_id).or_default().clone();
        let set = cell
            .get_or_try_init(|| async {
                let ids = orders::buyers(&self.db, product_id).await?;
                Ok::<_, sqlx::Error>(ids.into_iter().collect())
            })
            .await?;
        Ok(set.insert(user_id))
    }

    /// Whether the user is known here to have bought the product (`false` before its buyers
    /// were first read).
    pub fn has(&self, product_id: i64, user_id: i64) -> bool {
        self.products
            .get(&product_id)
            .and_then(|c| c.value().get().map(|set| set.contains(&user_id)))
            .unwrap_or(false)
    }

    pub fn release(&self, product_id: i64, user_id: i64) {
        let cell = self.products.get(&product_id).map(|c| c.value().clone());
        if let Some(set) = cell.as_ref().and_then(|c| c.get()) {
            set.remove(&user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::fixture;
    use crate::repositories::orders::NewOrder;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_claim_per_user_seeded_from_the_database() {
        let (db, product, ids) = fixture::sale(&["ann", "bob", "cy"]).await;
        let order = NewOrder {
            order_id: uuid::Uuid::now_v7(),
            product_id: product,
            user_id: ids[0],
            created_at: 0,
        };
        orders::write_batch(&db, &[order]).await.unwrap();

        let buyers = Buyers::new(db);
        assert!(!buyers.has(product, ids[0]), "not read yet");
        assert!(
            !buyers.claim(product, ids[0]).await.unwrap(),
            "bought before"
        );
        assert!(buyers.has(product, ids[0]));
        // Concurrent requests of one user: exactly one claim.
        let claims = futures::future::join_all((0..16).map(|_| {
            let b = buyers.clone();
            let user = ids[1];
            tokio::spawn(async move { b.claim(product, user).await.unwrap() })
        }))
        .await;
        assert_eq!(
            claims.into_iter().filter(|c| *c.as_ref().unwrap()).count(),
            1
        );
        // A purchase that did not go through gives the claim back.
        buyers.release(product, ids[1]);
        assert!(buyers.claim(product, ids[1]).await.unwrap());
        assert!(buyers.claim(product, ids[2]).await.unwrap());
    }
}
