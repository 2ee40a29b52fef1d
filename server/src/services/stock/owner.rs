//! A `stock` process's side of the cluster's quantity control. Nodes lease sub-blocks here: the
//! units leave this owner's memory and move, in one transaction, from its lease to the node's
//! tenure, once per request id (a node whose call went unanswered asks again with the same id and
//! gets the same answer). Each runs to its end on a task of its own: a node that times out and
//! hangs up cannot strand a block between memory and the database.
//!
//! The owner also remembers whose each sold unit is: nodes register every order, in batches,
//! before it goes to the broker. A shopper's order may sit there where no node can see it (its
//! node died, or restarted and read the buyers from the database); a later registration for that
//! shopper and product gets the earlier order's unit and id instead, so that both purchases are
//! one order. From then on that unit is never given back: the earlier order may yet be stored,
//! and a unit of a stored order sold again would be one too many. A node lets go of an order
//! here before it sells the unit again, and a give-back that overtakes its registration makes
//! the registration refused.

use super::{Registration, Stock, TakeReply};
use crate::repositories::leases;
use crate::repositories::orders::Ended;
use crate::services::reservations::Forgets;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::sync::{Arc, Weak};
use uuid::Uuid;

/// How long an order or a lease request is remembered (swept every minute): longer than a node
/// keeps asking.
const REMEMBER_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Its unit is sold, from this tenure's lease; `pinned` once a later order of its shopper
    /// was given it (it is never given back then).
    Taken {
        product_id: i64,
        user_id: i64,
        tenure: i64,
        pinned: bool,
    },
    /// Let go of (or its give-back came first): it holds nothing and will register nothing.
    Returned,
}

/// A lease request: in flight, or answered with its units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leasing {
    InFlight,
    Granted(i64),
}

#[derive(Clone)]
pub struct Owner {
    stock: Stock,
    db: crate::repositories::Db,
    /// Per order: its state and since when.
    orders: Arc<DashMap<Uuid, (State, i64)>>,
    /// The order holding each (product, shopper)'s unit.
    holders: Arc<DashMap<(i64, i64), Uuid>>,
    /// Per lease request: its answer and since when.
    leases: Arc<DashMap<Uuid, (Leasing, i64)>>,
}

/// The shoppers' holders as the ended-orders feed holds them: a shopper whose reservation ended
/// unpaid (its unit went back through the database) holds nothing here any more.
pub struct Forgetting(Weak<DashMap<(i64, i64), Uuid>>);

impl Forgets for Forgetting {
    fn forget(&self, e: &Ended) {
        if let Some(holders) = self.0.upgrade() {
            holders.remove_if(&(e.product_id, e.user_id), |_, order| *order == e.order_id);
        }
    }

    fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl Owner {
    pub fn forgetting(&self) -> Forgetting {
        Forgetting(Arc::downgrade(&self.holders))
    }

    pub fn new(stock: Stock, db: crate::repositories::Db) -> Self {
        let orders: Arc<DashMap<Uuid, (State, i64)>> = Arc::default();
        let holders: Arc<DashMap<(i64, i64), Uuid>> = Arc::default();
        let leases: Arc<DashMap<Uuid, (Leasing, i64)>> = Arc::default();
        let minute = std::time::Duration::from_secs(60);
        let fresh = |at: i64| crate::now_ms() - at < REMEMBER_MS;
        crate::services::sweeper::every(minute, &orders, move |o| {
            o.retain(|_, (_, at)| fresh(*at))
        });
        crate::services::sweeper::every(minute, &leases, move |l| {
            l.retain(|_, (state, at)| *state == Leasing::InFlight || fresh(*at))
        });
        let known = Arc::downgrade(&orders);
        crate::services::sweeper::every(minute, &holders, move |h| {
            if let Some(orders) = known.upgrade() {
                h.retain(|_, order| orders.contains_key(order));
            }
        });
        Owner {
            stock,
            db,
            orders,
            holders,
            leases,
        }
    }

    /// Moves up to `want` units to the live tenure `to`: how many (0: sold out here). Asked
    /// again for the same request, the same answer; asked while it runs, an error (ask again).
    pub async fn lease(
        &self,
        product_id: i64,
        want: i64,
        to: i64,
        request: Uuid,
        now: i64,
    ) -> Result<i64, sqlx::Error> {
        match self.leases.entry(request) {
            Entry::Occupied(e) => {
                return match e.get().0 {
                    Leasing::Granted(n) => Ok(n),
                    Leasing::InFlight => Err(sqlx::Error::Protocol(
                        "this lease is still being granted; ask again".into(),
                    )),
                }
            }
            Entry::Vacant(e) => {
                e.insert((Leasing::InFlight, now));
            }
        }
        let this = self.clone();
        let want = want.clamp(1, 1 << 20);
        let moved = tokio::spawn(async move {
            let moved = this.move_units(product_id, want, to, now).await;
            match moved {
                Ok(n) => this.leases.insert(request, (Leasing::Granted(n), now)),
                Err(_) => this.leases.remove(&request).map(|(_, v)| v),
            };
            moved
        });
        moved
            .await
            .unwrap_or_else(|e| Err(sqlx::Error::Protocol(format!("stock lease: {e}"))))
    }

    async fn move_units(
        &self,
        product_id: i64,
        want: i64,
        to: i64,
        now: i64,
    ) -> Result<i64, sqlx::Error> {
        let from = self.stock.tenure();
        let n = self.stock.take_up_to(product_id, want, now).await?;
        if n == 0 {
            return Ok(0);
        }
        match leases::transfer(&self.db, from, to, product_id, n, now).await {
            Ok(true) => Ok(n),
            Ok(false) => {
                self.stock.give_back(product_id, n, from);
                Ok(0)
            }
            Err(e) => {
                self.stock.give_back(product_id, n, from);
                Err(e)
            }
        }
    }

    /// Registers a node's sold unit for its order; or, when the shopper's earlier order holds a
    /// unit here, answers that order (pinned to it) and registers nothing.
    pub fn register(&self, r: &Registration, now: i64) -> TakeReply {
        if let Some(earlier) = self.earlier(r.product_id, r.user_id, r.order_id, now) {
            return earlier;
        }
        match self.orders.entry(r.order_id) {
            Entry::Occupied(e) => TakeReply::new(match e.get().0 {
                State::Taken { tenure, .. } => Some(tenure),
                State::Returned => None,
            }),
            Entry::Vacant(e) => {
                e.insert((
                    State::Taken {
                        product_id: r.product_id,
                        user_id: r.user_id,
                        tenure: r.tenure,
                        pinned: false,
                    },
                    now,
                ));
                self.holders.insert((r.product_id, r.user_id), r.order_id);
                TakeReply::new(Some(r.tenure))
            }
        }
    }

    /// The unit of the shopper's earlier order of the product, pinned to it, if one is held here.
    fn earlier(&self, product_id: i64, user_id: i64, order: Uuid, now: i64) -> Option<TakeReply> {
        let held = *self.holders.get(&(product_id, user_id))?;
        if held == order {
            return None;
        }
        let mut entry = self.orders.get_mut(&held)?;
        let State::Taken { tenure, .. } = entry.0 else {
            return None;
        };
        entry.0 = State::Taken {
            product_id,
            user_id,
            tenure,
            pinned: true,
        };
        entry.1 = now;
        Some(TakeReply {
            tenure: Some(tenure),
            order_id: Some(held),
        })
    }

    /// Lets go of the order: `true` when its unit is the node's to sell again (also when it was
    /// never registered: from now on it will not be), `false` when it went to a later order of
    /// its shopper.
    pub fn give_back(&self, order: Uuid, now: i64) -> bool {
        let mut entry = self.orders.entry(order).or_insert((State::Returned, now));
        match entry.0 {
            State::Taken { pinned: true, .. } => false,
            State::Taken {
                product_id,
                user_id,
                ..
            } => {
                entry.0 = State::Returned;
                drop(entry);
                self.holders
                    .remove_if(&(product_id, user_id), |_, held| *held == order);
                true
            }
            State::Returned => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::{fixture, products};
    use crate::services::stock::Source;

    async fn owner() -> (Owner, i64, i64) {
        let (db, product, _) = fixture::sale(&[]).await;
        let stock = Stock::start(db.clone(), 4, "stock@test:1".into(), Source::Database)
            .await
            .unwrap();
        let node = 42;
        leases::register(&db, node, "node@test:2", crate::now_ms())
            .await
            .unwrap();
        (Owner::new(stock, db), product, node)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lease_moves_units_once_per_request() {
        let (owner, product, node) = owner().await;
        let now = crate::now_ms();
        let request = Uuid::now_v7();
        assert_eq!(
            owner.lease(product, 3, node, request, now).await.unwrap(),
            3
        );
        assert_eq!(
            owner.lease(product, 3, node, request, now).await.unwrap(),
            3,
            "asked again: the same answer"
        );
        assert_eq!(owner.stock.held(), vec![(product, 1)], "moved once");
        // Another request gets what this owner holds, then what the database has left.
        assert_eq!(
            owner
                .lease(product, 5, node, Uuid::now_v7(), now)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            owner
                .lease(product, 9, node, Uuid::now_v7(), now)
                .await
                .unwrap(),
            6
        );
        assert_eq!(
            owner
                .lease(product, 1, node, Uuid::now_v7(), now)
                .await
                .unwrap(),
            0
        );
        let row = products::get(&owner.db, product).await.unwrap().unwrap();
        assert_eq!(row.leased, 10, "the node's units are leased, none twice");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_registration_is_let_go_of_once_and_a_late_one_is_refused() {
        let (owner, product, node) = owner().await;
        let now = crate::now_ms();
        let reg = |user_id, order_id| Registration {
            product_id: product,
            user_id,
            order_id,
            tenure: node,
        };
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mine = TakeReply::new(Some(node));
        assert_eq!(owner.register(&reg(1, a), now), mine);
        assert_eq!(owner.register(&reg(1, a), now), mine, "asked twice");
        assert!(owner.give_back(a, now));
        assert!(owner.give_back(a, now), "an answer lost and asked again");
        assert_eq!(owner.register(&reg(1, a), now), TakeReply::new(None));
        // A give-back that overtook its registration: the late registration is refused.
        assert!(
            owner.give_back(b, now),
            "never registered: the unit is free"
        );
        assert_eq!(owner.register(&reg(2, b), now), TakeReply::new(None));
        // The shopper whose order was let go of buys again: a unit of their own.
        let c = Uuid::now_v7();
        assert_eq!(owner.register(&reg(1, c), now), mine);
    }

    /// A node died after it published a shopper's order and before it answered; the shopper's
    /// next purchase, on a node that cannot see that order in the broker, is the same order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shoppers_second_order_gets_the_first_ones_unit_and_id() {
        let (owner, product, node) = owner().await;
        let now = crate::now_ms();
        let (first, second, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let reg = |user_id, order_id, tenure| Registration {
            product_id: product,
            user_id,
            order_id,
            tenure,
        };
        owner.register(&reg(7, first, node), now);
        let earlier = TakeReply {
            tenure: Some(node),
            order_id: Some(first),
        };
        assert_eq!(owner.register(&reg(7, second, 43), now), earlier);
        assert_eq!(owner.register(&reg(7, second, 43), now), earlier);
        // The first order's node gives up on it: the unit stays, the order may yet be stored.
        assert!(
            !owner.give_back(first, now),
            "pinned to the shopper's order"
        );
        // Another shopper is not affected.
        let theirs = owner.register(&reg(8, other, 43), now);
        assert_eq!(theirs, TakeReply::new(Some(43)));
    }
}
