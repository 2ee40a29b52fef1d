//! Quantity control by `stock` processes: a node asks a stock owner for a unit over HTTP, for one
//! order id. Every owner leases from the same database rows, so any of them can serve any
//! product; a node spreads its users over them and moves on to the next only when one could not
//! be reached. An owner that was asked and gave no answer may have taken the unit: it is asked
//! to give that order's unit back (at most once, see `owner.rs`), never another owner. One
//! passed over as slow is alive and may hold units: the next one's "sold out" is then "try again".

use crate::services::peers::{PeerError, Peers};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

pub const TAKE_PATH: &str = "/internal/v1/stock/take";
pub const GIVE_BACK_PATH: &str = "/internal/v1/stock/give_back";

#[derive(Debug, Serialize, Deserialize)]
pub struct UnitRequest {
    pub product_id: i64,
    /// The shopper: one unit each, even across orders (see `owner.rs`).
    pub user_id: i64,
    /// The order the unit is for: a repeated take or give-back of it acts once.
    pub order_id: Uuid,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeReply {
    /// The tenure whose lease the unit came from (its order is counted against it); `None`:
    /// sold out.
    pub tenure: Option<i64>,
    /// The shopper's earlier order whose unit this is: the purchase goes out under that id, and
    /// the unit is never given back.
    pub order_id: Option<Uuid>,
}

impl TakeReply {
    pub fn new(tenure: Option<i64>) -> Self {
        TakeReply {
            tenure,
            order_id: None,
        }
    }
}

/// A unit a stock owner gave.
pub struct Granted {
    pub owner: usize,
    pub tenure: i64,
    /// Set when the unit is the shopper's earlier order's.
    pub earlier: Option<Uuid>,
}

/// How long a node keeps asking an owner to give a unit back (the owner remembers its units'
/// orders longer than this).
const GIVE_BACK_FOR: Duration = Duration::from_secs(10 * 60);

#[derive(Clone)]
pub struct RemoteStock {
    owners: Peers,
}

impl RemoteStock {
    pub fn new(owners: Peers) -> Self {
        RemoteStock { owners }
    }

    fn order(&self, user_id: i64) -> impl Iterator<Item = usize> {
        let n = self.owners.len().max(1);
        let start = user_id.unsigned_abs() as usize % n;
        (0..n).map(move |k| (start + k) % n)
    }

    /// A unit for the order, `None` when sold out.
    pub async fn take(
        &self,
        product_id: i64,
        user_id: i64,
        order_id: Uuid,
    ) -> anyhow::Result<Option<Granted>> {
        let req = UnitRequest {
            product_id,
            user_id,
            order_id,
        };
        let (mut last, mut slow) = (None, None);
        for owner in self.order(user_id) {
            match self
                .owners
                .post::<_, TakeReply>(owner, TAKE_PATH, &req)
                .await
            {
                Ok(r) => match (r.tenure, slow) {
                    (Some(tenure), _) => {
                        return Ok(Some(Granted {
                            owner,
                            tenure,
                            earlier: r.order_id,
                        }))
                    }
                    // Out of units here, but a slow owner is alive and may hold some: "sold
                    // out" would be final for the shopper, "try again" is true.
                    (None, Some(e)) => return Err(anyhow::Error::from(e)),
                    (None, None) => return Ok(None),
                },
                Err(e @ PeerError::Slow(..)) => {
                    tracing::warn!(error = %e, "stock owner slow; trying the next");
                    slow = Some(e);
                }
                // Not sent: another owner may serve it (any owner can serve any product).
                Err(e @ PeerError::Unreachable(..)) => {
                    tracing::warn!(error = %e, "stock owner unreachable; trying the next");
                    last = Some(e);
                }
                // It may have taken the unit: it gives it back, and no other owner is asked
                // (that could take a second unit for this one order).
                Err(e) => {
                    self.give_back(owner, product_id, user_id, order_id);
                    return Err(e.into());
                }
            }
        }
        let last = slow.or(last);
        Err(last.map_or_else(|| anyhow::anyhow!("no stock owner configured"), Into::into))
    }

    /// Asks `owner` to give the order's unit back, on a task of its own, until it answers.
    pub fn give_back(&self, owner: usize, product_id: i64, user_id: i64, order_id: Uuid) {
        let owners = self.owners.clone();
        let ask = async move {
            let req = UnitRequest {
                product_id,
                user_id,
                order_id,
            };
            let give_up = tokio::time::Instant::now() + GIVE_BACK_FOR;
            let mut delay = Duration::from_millis(100);
            loop {
                match owners.post::<_, bool>(owner, GIVE_BACK_PATH, &req).await {
                    Ok(_) => return,
                    Err(e) if tokio::time::Instant::now() + delay > give_up => {
                        tracing::error!(error = %e, product_id, "unit not given back: run `server reconcile` after the sale");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, product_id, "give-back not answered; asking again")
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(ask)),
            Err(_) => tracing::error!(
                product_id,
                "unit not given back (no runtime): run `server reconcile`"
            ),
        }
    }
}
