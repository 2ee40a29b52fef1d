//! Quantity control: take one unit or answer sold out, never oversell. The database holds each
//! product's `stock` and `leased`; an owner leases blocks with a compare-and-set (so several
//! owners together never exceed `stock`) and sells them from memory with atomics. A crash can
//! only strand the unsold rest of a block — underselling, which `reconcile` gives back.

mod remote;

pub use remote::{RemoteStock, TakeReply, UnitRequest, GIVE_BACK_PATH, TAKE_PATH};

use super::guard::{Held, Taken};
use crate::ids::{Millis, ProductId, UserId};
use crate::repositories::{products, Db};
use dashmap::DashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;

/// After the database said "none left", answer sold out from memory for this long.
const SOLD_OUT_RECHECK_MS: i64 = 1_000;
/// A block sold within this long makes the next one twice as large, up to `MAX_GROWTH` blocks:
/// every lease is a database round trip that the product's buyers wait for, and a crowd went
/// through 100-unit blocks a hundred times a second. A crash strands at most that many units.
const FAST_LEASE_MS: i64 = 1_000;
const MAX_GROWTH: i64 = 16;

#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    Taken,
    SoldOut,
}

#[derive(Default)]
pub struct Local {
    /// Units leased to this owner and not yet sold.
    units: AtomicI64,
    /// Until when the database is known to have nothing left to lease.
    sold_out_until: AtomicI64,
    /// The size of the last lease and when it was taken (only touched under `refill`).
    refill: Mutex<(i64, i64)>,
}

impl Local {
    fn give_back(&self) {
        self.units.fetch_add(1, Ordering::AcqRel);
        self.sold_out_until.store(0, Ordering::Release);
    }
}

#[derive(Clone)]
pub struct Stock {
    db: Db,
    block: i64,
    local: Arc<DashMap<i64, Arc<Local>>>,
}

impl Stock {
    pub fn new(db: Db, block: i64) -> Self {
        Stock {
            db,
            block: block.max(1),
            local: Arc::default(),
        }
    }

    fn local(&self, product_id: i64) -> Arc<Local> {
        self.local.entry(product_id).or_default().clone()
    }

    pub async fn take(&self, product_id: i64, now: i64) -> Result<Take, sqlx::Error> {
        self.take_from(product_id, &self.local(product_id), now)
            .await
    }

    /// `take` with the product's counter in hand: the unit's guard keeps it for its give-back.
    async fn take_from(
        &self,
        product_id: i64,
        local: &Local,
        now: i64,
    ) -> Result<Take, sqlx::Error> {
        loop {
            let took = local
                .units
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                    (u > 0).then(|| u - 1)
                });
            if took.is_ok() {
                return Ok(Take::Taken);
            }
            if local.sold_out_until.load(Ordering::Acquire) > now {
                return Ok(Take::SoldOut);
            }
            // One refill at a time; the others wait and then find the new units.
            let mut last = local.refill.lock().await;
            if local.units.load(Ordering::Acquire) > 0 {
                continue;
            }
            if local.sold_out_until.load(Ordering::Acquire) > now {
                return Ok(Take::SoldOut);
            }
            let (last_size, last_at) = *last;
            let want = if now - last_at < FAST_LEASE_MS {
                (last_size * 2).min(self.block * MAX_GROWTH)
            } else {
                self.block
            };
            let granted = products::lease(&self.db, product_id, want).await?;
            *last = (want, now);
            if granted == 0 {
                local
                    .sold_out_until
                    .store(now + SOLD_OUT_RECHECK_MS, Ordering::Release);
                return Ok(Take::SoldOut);
            }
            local.units.fetch_add(granted, Ordering::AcqRel);
        }
    }

    /// Sold out, as far as this owner knows: no unit left here, and the database had none to
    /// lease less than `SOLD_OUT_RECHECK_MS` ago.
    pub fn known_sold_out(&self, product_id: i64, now: i64) -> bool {
        self.local.get(&product_id).is_some_and(|l| {
            l.units.load(Ordering::Acquire) == 0 && l.sold_out_until.load(Ordering::Acquire) > now
        })
    }

    /// Returns a unit taken for an order that could not be queued.
    pub fn give_back(&self, product_id: i64) {
        self.local(product_id).give_back();
    }

    /// Forgets the cached "sold out" (stock was raised by an admin).
    pub fn reset(&self, product_id: i64) {
        self.local(product_id)
            .sold_out_until
            .store(0, Ordering::Release);
    }

    /// Units leased here and not sold yet, per product.
    pub fn held(&self) -> Vec<(i64, i64)> {
        self.local
            .iter()
            .map(|e| (*e.key(), e.value().units.load(Ordering::Acquire)))
            .filter(|(_, u)| *u > 0)
            .collect()
    }

    /// Graceful shutdown: hands the unsold leased units back to the database.
    pub async fn release_all(&self) -> Result<(), sqlx::Error> {
        for (product_id, _) in self.held() {
            let local = self.local(product_id);
            let units = local.units.swap(0, Ordering::AcqRel);
            if units > 0 {
                products::release(&self.db, product_id, units).await?;
            }
        }
        Ok(())
    }
}

/// Where this process gets its units: from its own leases, or from `stock` processes.
#[derive(Clone)]
pub enum StockControl {
    Local(Stock),
    Remote(RemoteStock),
}

/// One unit taken for one order; see [`Held`] for how it goes back.
pub enum Unit {
    Local(Arc<Local>),
    Remote {
        owners: RemoteStock,
        product: ProductId,
        user: UserId,
    },
}

impl Taken for Unit {
    fn give_back(self) {
        match self {
            Unit::Local(local) => local.give_back(),
            // `Drop` cannot wait for the network: the give-back runs on its own task. If no owner
            // takes it back, it stays leased and unsold: undersold until `reconcile`.
            Unit::Remote {
                owners,
                product,
                user,
            } => match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(async move {
                        if let Err(e) = owners.give_back(product.0, user.0).await {
                            tracing::error!(error = %e, %product, "unit not given back: run `server reconcile` after the sale");
                        }
                    });
                }
                Err(_) => {
                    tracing::error!(%product, "unit not given back (no runtime): run `server reconcile`")
                }
            },
        }
    }
}

impl StockControl {
    /// A unit for the user's order, or `None` when sold out.
    pub async fn take(
        &self,
        product: ProductId,
        user: UserId,
        now: Millis,
    ) -> anyhow::Result<Option<Held<Unit>>> {
        let unit = match self {
            StockControl::Local(s) => {
                let local = s.local(product.0);
                match s.take_from(product.0, &local, now.0).await? {
                    Take::Taken => Unit::Local(local),
                    Take::SoldOut => return Ok(None),
                }
            }
            StockControl::Remote(r) => match r.take(product.0, user.0).await? {
                Take::Taken => Unit::Remote {
                    owners: r.clone(),
                    product,
                    user,
                },
                Take::SoldOut => return Ok(None),
            },
        };
        Ok(Some(Held::new(unit)))
    }

    /// Whether this process already knows the product is sold out. Only an owner of its own
    /// leases knows: one stock owner out of units says nothing of the others'.
    pub fn known_sold_out(&self, product: ProductId, now: Millis) -> bool {
        match self {
            StockControl::Local(s) => s.known_sold_out(product.0, now.0),
            StockControl::Remote(_) => false,
        }
    }

    /// Forgets a cached "sold out" here; stock owners find raised stock within a second.
    pub fn reset(&self, product: ProductId) {
        if let StockControl::Local(s) = self {
            s.reset(product.0);
        }
    }

    pub async fn release_all(&self) -> Result<(), sqlx::Error> {
        match self {
            StockControl::Local(s) => s.release_all().await,
            StockControl::Remote(_) => Ok(()),
        }
    }
}
