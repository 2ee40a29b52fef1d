//! "One unit per shopper and product", answered from memory. A per-request database lookup was
//! the purchase path's bottleneck (and made even sold-out answers wait for MySQL), so each product's
//! buyers are read from the database once, at its first purchase here, and every purchase then
//! claims its user in that set atomically. The set can only grow by the sale's units, so it stays
//! bounded by the stock. The UNIQUE (product_id, user_id) key stays the final guard: the consumer
//! drops a second order for one user whatever this cache said.

use super::guard::{Held, Taken};
use crate::ids::{ProductId, UserId};
use crate::repositories::db::in_time;
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

    /// Claims the user's one purchase of the product: `None` when they already have one (or a
    /// concurrent request of theirs holds the claim). The claim goes back when its guard is
    /// dropped unless kept. The first caller reads the product's buyers from the database; the
    /// others wait for that one read instead of each making their own.
    pub async fn claim(
        &self,
        product: ProductId,
        user: UserId,
    ) -> Result<Option<Held<Claim>>, sqlx::Error> {
        let cell = self.products.entry(product.0).or_default().clone();
        let set = cell
            .get_or_try_init(|| async {
                let ids = in_time(orders::buyers(&self.db, product.0)).await?;
                Ok::<_, sqlx::Error>(ids.into_iter().collect())
            })
            .await?;
        Ok(set.insert(user.0).then(|| Held::new(Claim { cell, user })))
    }

    /// Whether the user is known here to have bought the product (`false` before its buyers
    /// were first read).
    pub fn has(&self, product: ProductId, user: UserId) -> bool {
        self.products
            .get(&product.0)
            .and_then(|c| c.value().get().map(|set| set.contains(&user.0)))
            .unwrap_or(false)
    }
}

/// A shopper's claim on their one purchase of a product.
pub struct Claim {
    cell: Set,
    user: UserId,
}

impl Taken for Claim {
    fn give_back(self) {
        if let Some(set) = self.cell.get() {
            set.remove(&self.user.0);
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
            lease_owner: 0,
        };
        orders::write_batch(&db, &[order]).await.unwrap();

        let (p, u) = (ProductId(product), |i: usize| UserId(ids[i]));
        let buyers = Buyers::new(db);
        assert!(!buyers.has(p, u(0)), "not read yet");
        assert!(
            buyers.claim(p, u(0)).await.unwrap().is_none(),
            "bought before"
        );
        assert!(buyers.has(p, u(0)));
        // Concurrent requests of one user: exactly one claim, held while the others ask.
        let claims = futures::future::join_all((0..16).map(|_| {
            let (b, user) = (buyers.clone(), u(1));
            tokio::spawn(async move { b.claim(p, user).await.unwrap() })
        }))
        .await;
        let mut won: Vec<_> = claims.into_iter().filter_map(|c| c.unwrap()).collect();
        assert_eq!(won.len(), 1);
        // A purchase that did not go through drops its claim, which goes back.
        drop(won.pop());
        assert!(!buyers.has(p, u(1)));
        buyers
            .claim(p, u(1))
            .await
            .unwrap()
            .expect("free again")
            .keep();
        assert!(buyers.has(p, u(1)), "kept");
        assert!(buyers.claim(p, u(2)).await.unwrap().is_some());
    }
}
