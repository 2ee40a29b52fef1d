//! Quantity control: take one unit or answer sold out, never oversell. The database holds each
//! product's `stock` and `leased`; an owner leases blocks with a compare-and-set (so several
//! owners together never exceed `stock`) and sells them from memory with atomics. A crash can
//! only strand the unsold rest of a block — underselling, which `reconcile` gives back.

mod remote;

pub use remote::{RemoteStock, TakeReply, UnitRequest, GIVE_BACK_PATH, TAKE_PATH};

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
struct Local {
    /// Units leased to this owner and not yet sold.
    units: AtomicI64,
    /// Until when the database is known to have nothing left to lease.
    sold_out_until: AtomicI64,
    /// The size of the last lease and when it was taken (only touched under `refill`).
    refill: Mutex<(i64, i64)>,
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
        let local = self.local(product_id);
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
        let local = self.local(product_id);
        local.units.fetch_add(1, Ordering::AcqRel);
        local.sold_out_until.store(0, Ordering::Release);
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

impl StockControl {
    pub async fn take(&self, product_id: i64, user_id: i64, now: i64) -> anyhow::Result<Take> {
        match self {
            StockControl::Local(s) => Ok(s.take(product_id, now).await?),
            StockControl::Remote(r) => r.take(product_id, user_id).await,
        }
    }

    /// Whether this process already knows the product is sold out. Only an owner of its own
    /// leases knows: one stock owner out of units says nothing of the others'.
    pub fn known_sold_out(&self, product_id: i64, now: i64) -> bool {
        match self {
            StockControl::Local(s) => s.known_sold_out(product_id, now),
            StockControl::Remote(_) => false,
        }
    }

    /// Returns a unit taken for an order that could not be queued. If no owner takes it back,
    /// it stays leased and unsold: undersold until `reconcile`, never oversold.
    pub async fn give_back(&self, product_id: i64, user_id: i64) {
        match self {
            StockControl::Local(s) => s.give_back(product_id),
            StockControl::Remote(r) => {
                if let Err(e) = r.give_back(product_id, user_id).await {
                    tracing::error!(error = %e, product_id, "unit not given back: run `server reconcile` after the sale");
                }
            }
        }
    }

    /// Forgets a cached "sold out" here; stock owners find raised stock within a second.
    pub fn reset(&self, product_id: i64) {
        if let StockControl::Local(s) = self {
            s.reset(product_id);
        }
    }

    pub async fn release_all(&self) -> Result<(), sqlx::Error> {
        match self {
            StockControl::Local(s) => s.release_all().await,
            StockControl::Remote(_) => Ok(()),
        }
    }
}
