//! What the purchase path holds: the process's stock, and on a node of a cluster the stock owners
//! that remember whose each unit is (see `owner.rs`), and the unit a purchase took as a guard.

use super::{Owners, Stock, TakeReply};
use crate::ids::{Millis, ProductId, UserId};
use crate::services::guard::{Held, Taken};
use crate::services::peers::PeerError;
use uuid::Uuid;

/// This process's units; on a node, also its shoppers' registry at the stock owners.
#[derive(Clone)]
pub struct StockControl {
    stock: Stock,
    registry: Option<Owners>,
}

/// One unit taken for one order; see [`Held`] for how it goes back.
pub enum Unit {
    /// From this process's leases, under the tenure `tenure`; `registered` at a stock owner
    /// (a node's), which must let go of the order before the unit is sold again.
    Local {
        stock: Stock,
        product: ProductId,
        tenure: i64,
        registered: Option<Registered>,
    },
    /// The unit of the shopper's earlier order, which may be in the broker already: the
    /// purchase goes out under that order's id, and the unit is never given back.
    Earlier { order: Uuid, tenure: i64 },
}

/// Where a node's unit is registered for its order.
pub struct Registered {
    owners: Owners,
    owner: usize,
    user: UserId,
    order: Uuid,
}

impl Unit {
    /// The tenure whose lease the unit came from: its order is counted against it.
    pub fn tenure(&self) -> i64 {
        match self {
            Unit::Local { tenure, .. } | Unit::Earlier { tenure, .. } => *tenure,
        }
    }

    /// The earlier order this unit belongs to, if it is one's.
    pub fn earlier_order(&self) -> Option<Uuid> {
        match self {
            Unit::Earlier { order, .. } => Some(*order),
            Unit::Local { .. } => None,
        }
    }
}

impl Taken for Unit {
    fn give_back(self) {
        match self {
            Unit::Local {
                stock,
                product,
                tenure,
                registered: None,
            } => stock.give_back(product.0, 1, tenure),
            // `Drop` cannot wait for the network: the owner lets go of the order on a task of
            // its own, and only then is the unit sold again.
            Unit::Local {
                stock,
                product,
                tenure,
                registered: Some(r),
            } => r
                .owners
                .clone()
                .give_back(r.owner, (product.0, r.user.0, r.order), move || {
                    stock.give_back(product.0, 1, tenure)
                }),
            // Its order may be stored yet (see `owner.rs`): at worst a unit unsold.
            Unit::Earlier { .. } => {}
        }
    }
}

impl StockControl {
    pub fn new(stock: Stock, registry: Option<Owners>) -> Self {
        StockControl { stock, registry }
    }

    /// A unit for the user's order, or `None` when sold out.
    pub async fn take(
        &self,
        product: ProductId,
        user: UserId,
        order: Uuid,
        now: Millis,
    ) -> anyhow::Result<Option<Held<Unit>>> {
        let tenure = self.stock.tenure();
        if !self.stock.take(product.0, now.0).await? {
            return Ok(None);
        }
        let local = |registered| Unit::Local {
            stock: self.stock.clone(),
            product,
            tenure,
            registered,
        };
        let Some(owners) = &self.registry else {
            return Ok(Some(Held::new(local(None))));
        };
        let registration = owners.register(product.0, user.0, order, tenure).await;
        match registration {
            Ok((
                _,
                TakeReply {
                    order_id: Some(earlier),
                    tenure: Some(of),
                },
            )) => {
                // Not registered: the unit was never this order's.
                self.stock.give_back(product.0, 1, tenure);
                Ok(Some(Held::new(Unit::Earlier {
                    order: earlier,
                    tenure: of,
                })))
            }
            Ok((
                owner,
                TakeReply {
                    tenure: Some(_), ..
                },
            )) => {
                let r = Registered {
                    owners: owners.clone(),
                    owner,
                    user,
                    order,
                };
                Ok(Some(Held::new(local(Some(r)))))
            }
            // Refused: a give-back of this order overtook it (see `owner.rs`).
            Ok((_, TakeReply { tenure: None, .. })) => {
                self.stock.give_back(product.0, 1, tenure);
                Err(anyhow::anyhow!(
                    "order {order} was given up before it was registered"
                ))
            }
            // Sent nowhere: the unit is free again.
            Err((_, e @ PeerError::Unreachable(..))) => {
                self.stock.give_back(product.0, 1, tenure);
                Err(e.into())
            }
            // Registered or not: the owner lets go of it before the unit is sold again.
            Err((owner, e)) => {
                let r = Registered {
                    owners: owners.clone(),
                    owner,
                    user,
                    order,
                };
                drop(Held::new(local(Some(r))));
                Err(e.into())
            }
        }
    }

    /// Whether this process knows the product is sold out: no unit here, and every source said
    /// so less than a second ago.
    pub fn known_sold_out(&self, product: ProductId, now: Millis) -> bool {
        self.stock.known_sold_out(product.0, now.0)
    }

    /// Forgets a cached "sold out" (stock was raised by an admin).
    pub fn reset(&self, product: ProductId) {
        self.stock.reset(product.0);
    }

    /// Graceful shutdown: the unsold units go back to the database.
    pub async fn release_all(&self) -> Result<(), sqlx::Error> {
        self.stock.release_all().await
    }
}
