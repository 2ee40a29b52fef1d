//! "One unit per shopper and product", answered from memory. A per-request database lookup was
//! the purchase path's bottleneck (and made even sold-out answers wait for MySQL), so each product's
//! buyers are read from the database once, at its first purchase here, and every purchase then
//! claims its user in that set atomically. The set holds at most one entry per live order, so it
//! stays bounded by the stock. Each entry knows its order: when a reservation ends unpaid, its
//! shopper is forgotten (`forget`, from the ended-orders feed) only if the entry is still that
//! order, never a newer claim of theirs. The UNIQUE (product_id, user_id, live) key stays the
//! final guard: the consumer drops a second live order for one user whatever this cache said.

use super::guard::{Held, Taken};
use crate::ids::{ProductId, UserId};
use crate::repositories::db::in_time;
use crate::repositories::orders::Ended;
use crate::repositories::{orders, Db};
use crate::services::reservations::Forgets;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::sync::{Arc, Weak};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// A product's buyers here: each user and the order their claim is for.
type Set = Arc<OnceCell<DashMap<i64, Uuid>>>;

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
        order: Uuid,
    ) -> Result<Option<Held<Claim>>, sqlx::Error> {
        let cell = self.products.entry(product.0).or_default().clone();
        let set = cell
            .get_or_try_init(|| async {
                let ids = in_time(orders::buyers(&self.db, product.0)).await?;
                Ok::<_, sqlx::Error>(ids.into_iter().collect())
            })
            .await?;
        let claimed = match set.entry(user.0) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(order);
                true
            }
        };
        Ok(claimed.then(|| Held::new(Claim { cell, user })))
    }

    /// The user's order for the product ended unpaid: they may buy it again. A later claim of
    /// theirs (another order) stays.
    pub fn forget(&self, product: ProductId, user: UserId, order: Uuid) {
        forget_in(&self.products, product, user, order);
    }

    /// These buyers, for the ended-orders feed: it stops when the sale is gone.
    pub fn forgetting(&self) -> Forgetting {
        Forgetting(Arc::downgrade(&self.products))
    }

    /// Whether the user is known here to have bought the product (`false` before its buyers
    /// were first read).
    pub fn has(&self, product: ProductId, user: UserId) -> bool {
        self.products
            .get(&product.0)
            .and_then(|c| c.value().get().map(|set| set.contains_key(&user.0)))
            .unwrap_or(false)
    }
}

fn forget_in(products: &DashMap<i64, Set>, product: ProductId, user: UserId, order: Uuid) {
    let cell = products.get(&product.0).map(|c| c.value().clone());
    if let Some(set) = cell.as_ref().and_then(|c| c.get()) {
        set.remove_if(&user.0, |_, held| *held == order);
    }
}

/// The buyers as the ended-orders feed holds them: not kept alive by it.
pub struct Forgetting(Weak<DashMap<i64, Set>>);

impl Forgets for Forgetting {
    fn forget(&self, e: &Ended) {
        if let Some(products) = self.0.upgrade() {
            forget_in(
                &products,
                ProductId(e.product_id),
                UserId(e.user_id),
                e.order_id,
            );
        }
    }

    fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// A shopper's claim on their one purchase of a product.
pub struct Claim {
    cell: Set,
    user: UserId,
}

impl Claim {
    /// The claim is for this order now (the shopper's earlier one, which held the unit).
    pub fn relabel(&self, order: Uuid) {
        if let Some(set) = self.cell.get() {
            set.insert(self.user.0, order);
        }
    }
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
            deadline: 0,
        };
        orders::write_batch(&db, &[order]).await.unwrap();

        let (p, u) = (ProductId(product), |i: usize| UserId(ids[i]));
        let id = uuid::Uuid::now_v7;
        let buyers = Buyers::new(db);
        assert!(!buyers.has(p, u(0)), "not read yet");
        assert!(
            buyers.claim(p, u(0), id()).await.unwrap().is_none(),
            "bought before"
        );
        assert!(buyers.has(p, u(0)));
        // Concurrent requests of one user: exactly one claim, held while the others ask.
        let claims = futures::future::join_all((0..16).map(|_| {
            let (b, user) = (buyers.clone(), u(1));
            tokio::spawn(async move { b.claim(p, user, id()).await.unwrap() })
        }))
        .await;
        let mut won: Vec<_> = claims.into_iter().filter_map(|c| c.unwrap()).collect();
        assert_eq!(won.len(), 1);
        // A purchase that did not go through drops its claim, which goes back.
        drop(won.pop());
        assert!(!buyers.has(p, u(1)));
        let first = id();
        buyers
            .claim(p, u(1), first)
            .await
            .unwrap()
            .expect("free again")
            .keep();
        assert!(buyers.has(p, u(1)), "kept");
        assert!(buyers.claim(p, u(2), id()).await.unwrap().is_some());
        // An ended order is forgotten only while the shopper's entry is still that order.
        buyers.forget(p, u(1), id());
        assert!(buyers.has(p, u(1)), "another order's end changes nothing");
        buyers.forget(p, u(1), first);
        assert!(!buyers.has(p, u(1)), "they may buy again");
        let (again, later) = (id(), id());
        let claim = buyers.claim(p, u(1), again).await.unwrap().expect("free");
        claim.get().expect("held").relabel(later);
        claim.keep();
        buyers.forget(p, u(1), again);
        assert!(
            buyers.has(p, u(1)),
            "the claim is for the relabelled order now"
        );
    }
}
