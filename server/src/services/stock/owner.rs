//! A `stock` process's side of remote quantity control. Each unit is taken for one order id, and
//! the order is remembered until long settled, so both calls are safe to repeat and to reorder:
//! a take asked again answers what it answered before, a give-back returns the unit at most once
//! (a node whose give-back timed out asks again; it never asks another owner), and a give-back
//! that overtakes its take, or arrives while the take still waits for the database, makes that
//! take give its unit straight back. Each take runs to its end on a task of its own: a node that
//! times out and hangs up cannot stop a refill halfway (leased in the database, never counted in
//! memory).
//!
//! The owner also remembers whose each unit is. A shopper's order may sit in the broker where no
//! node can see it (its node died, or restarted and read the buyers from the database); a later
//! take for that shopper and product gets the earlier order's unit and id instead of a second
//! unit, so that both purchases are one order. From then on that unit is never given back: the
//! earlier order may yet be stored, and a unit of a stored order sold again would be one too many.

use super::{Stock, Take, TakeReply};
use crate::repositories::orders::Ended;
use crate::services::reservations::Forgets;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::sync::{Arc, Weak};
use uuid::Uuid;

/// How long an order is remembered (swept every minute): longer than a node keeps asking for a
/// give-back.
const REMEMBER_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The take waits for a refill; `returned` when a give-back came meanwhile.
    Taking { returned: bool },
    /// Holds a unit of this product, from this tenure's leases; `pinned` once a later order of
    /// its shopper was given it (it is never given back then).
    Taken {
        product_id: i64,
        user_id: i64,
        tenure: i64,
        pinned: bool,
    },
    /// Given back (or its give-back came first): it holds nothing and will take nothing.
    Returned,
}

#[derive(Clone)]
pub struct Owner {
    stock: Stock,
    /// Per order: its state and since when.
    orders: Arc<DashMap<Uuid, (State, i64)>>,
    /// The order holding each (product, shopper)'s unit here.
    holders: Arc<DashMap<(i64, i64), Uuid>>,
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

    pub fn new(stock: Stock) -> Self {
        let orders: Arc<DashMap<Uuid, (State, i64)>> = Arc::default();
        let holders: Arc<DashMap<(i64, i64), Uuid>> = Arc::default();
        let minute = std::time::Duration::from_secs(60);
        crate::services::sweeper::every(minute, &orders, |o| {
            let now = crate::now_ms();
            o.retain(|_, (state, at)| {
                matches!(state, State::Taking { .. }) || now - *at < REMEMBER_MS
            });
        });
        let known = Arc::downgrade(&orders);
        crate::services::sweeper::every(minute, &holders, move |h| {
            if let Some(orders) = known.upgrade() {
                h.retain(|_, order| orders.contains_key(order));
            }
        });
        Owner {
            stock,
            orders,
            holders,
        }
    }

    /// A unit for the shopper's order (`tenure: None`: sold out), the same answer when asked
    /// again for the same order; or, when the shopper holds a unit here for an earlier order,
    /// that unit and that order's id.
    pub async fn take(
        &self,
        product_id: i64,
        user_id: i64,
        order: Uuid,
        now: i64,
    ) -> Result<TakeReply, sqlx::Error> {
        if let Some(earlier) = self.earlier(product_id, user_id, order, now) {
            return Ok(earlier);
        }
        match self.orders.entry(order) {
            Entry::Occupied(e) => {
                return Ok(TakeReply::new(match e.get().0 {
                    State::Taken { tenure, .. } => Some(tenure),
                    // A second take of an order in flight, or one given back: nothing more.
                    State::Taking { .. } | State::Returned => None,
                }));
            }
            Entry::Vacant(e) => {
                e.insert((State::Taking { returned: false }, now));
            }
        }
        let this = self.clone();
        let took = tokio::spawn(async move {
            let tenure = this.stock.tenure();
            let took = match this.stock.take(product_id, now).await {
                Ok(Take::Taken) => Ok(Some(tenure)),
                Ok(Take::SoldOut) => Ok(None),
                Err(e) => Err(e),
            };
            this.settle(order, (product_id, user_id), &took, now);
            took
        })
        .await;
        let took = took.unwrap_or_else(|e| Err(sqlx::Error::Protocol(format!("stock take: {e}"))));
        took.map(TakeReply::new)
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

    /// The end of a take: its unit kept, or given back if its give-back came meanwhile.
    fn settle(
        &self,
        order: Uuid,
        (product_id, user_id): (i64, i64),
        took: &Result<Option<i64>, sqlx::Error>,
        now: i64,
    ) {
        let Some(mut entry) = self.orders.get_mut(&order) else {
            return;
        };
        let returned = entry.0 == State::Taking { returned: true };
        entry.0 = match *took {
            Ok(Some(tenure)) if returned => {
                self.stock.give_back(product_id, tenure);
                State::Returned
            }
            Ok(Some(tenure)) => State::Taken {
                product_id,
                user_id,
                tenure,
                pinned: false,
            },
            _ => State::Returned,
        };
        entry.1 = now;
        let kept = matches!(entry.0, State::Taken { .. });
        drop(entry);
        if kept {
            self.holders.insert((product_id, user_id), order);
        }
    }

    /// Gives the order's unit back if it holds one (or will: a take still in flight): `true`
    /// then, `false` when it holds none, gave it back before, or gave it to a later order.
    pub fn give_back(&self, order: Uuid, now: i64) -> bool {
        let mut entry = self.orders.entry(order).or_insert((State::Returned, now));
        match entry.0 {
            State::Taken { pinned: true, .. } => false,
            State::Taken {
                product_id,
                user_id,
                tenure,
                ..
            } => {
                self.stock.give_back(product_id, tenure);
                entry.0 = State::Returned;
                drop(entry);
                self.holders
                    .remove_if(&(product_id, user_id), |_, held| *held == order);
                true
            }
            State::Taking { .. } => {
                entry.0 = State::Taking { returned: true };
                true
            }
            State::Returned => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::fixture;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_take_repeats_its_answer_and_a_give_back_returns_once() {
        let (db, product, _) = fixture::sale(&[]).await;
        let now = crate::now_ms();
        let stock = Stock::start(db, 4, "stock@test:1".into()).await.unwrap();
        let owner = Owner::new(stock.clone());
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let tenure = TakeReply::new(Some(stock.tenure()));
        assert_eq!(owner.take(product, 1, a, now).await.unwrap(), tenure);
        assert_eq!(owner.take(product, 1, a, now).await.unwrap(), tenure);
        assert_eq!(
            owner.stock.held(),
            vec![(product, 3)],
            "asked twice, taken once"
        );
        assert!(owner.give_back(a, now));
        assert!(!owner.give_back(a, now), "given back once");
        assert_eq!(owner.stock.held(), vec![(product, 4)]);
        // A give-back that overtook its take: the late take takes nothing.
        assert!(!owner.give_back(b, now), "never taken here");
        let none = TakeReply::new(None);
        assert_eq!(owner.take(product, 2, b, now).await.unwrap(), none);
        assert_eq!(owner.stock.held(), vec![(product, 4)]);
        // The shopper whose unit went back buys again: a unit of their own, as anyone's.
        let c = Uuid::now_v7();
        assert_eq!(owner.take(product, 1, c, now).await.unwrap(), tenure);
        assert_eq!(owner.stock.held(), vec![(product, 3)]);
    }

    /// A node died after it published a shopper's order and before it answered; the shopper's
    /// next purchase, on a node that cannot see that order in the broker, is the same order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shoppers_second_order_gets_the_first_ones_unit_and_id() {
        let (db, product, _) = fixture::sale(&[]).await;
        let now = crate::now_ms();
        let stock = Stock::start(db, 4, "stock@test:1".into()).await.unwrap();
        let owner = Owner::new(stock.clone());
        let (first, second, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        owner.take(product, 7, first, now).await.unwrap();
        let again = owner.take(product, 7, second, now).await.unwrap();
        let earlier = TakeReply {
            tenure: Some(stock.tenure()),
            order_id: Some(first),
        };
        assert_eq!(again, earlier, "the first order's unit, under its id");
        assert_eq!(owner.stock.held(), vec![(product, 3)], "one unit for both");
        assert_eq!(owner.take(product, 7, second, now).await.unwrap(), earlier);
        // The first order's node gives up on it: the unit stays, the order may yet be stored.
        assert!(
            !owner.give_back(first, now),
            "pinned to the shopper's order"
        );
        assert_eq!(owner.stock.held(), vec![(product, 3)]);
        // Another shopper is not affected.
        let theirs = owner.take(product, 8, other, now).await.unwrap();
        assert_eq!(theirs, TakeReply::new(Some(stock.tenure())));
        assert_eq!(owner.stock.held(), vec![(product, 2)]);
    }
}
