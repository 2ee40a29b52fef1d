//! Quantity control: take one unit or answer sold out, never oversell. The database holds each
//! product's `stock` and `leased`; an owner leases blocks with a compare-and-set (so several
//! owners together never exceed `stock`) and sells them from memory with atomics. A node of a
//! cluster does the same with sub-blocks its stock owners move to its own tenure (`remote.rs`):
//! no network call per unit. Leases and orders are counted against the seller's tenure, so a
//! crash can only strand the unsold rest of a block — underselling, which `server reconcile`
//! takes back once the tenure is dead.

mod control;
mod owner;
mod remote;
mod tenure;

pub use control::{StockControl, Unit};
pub use owner::Owner;
pub use remote::{
    LeaseRequest, Owners, Registration, TakeReply, UnitRequest, GIVE_BACK_PATH, LEASE_PATH,
    REGISTER_PATH,
};
pub use tenure::{name as tenure_name, Tenure};

use crate::repositories::db::in_time;
use crate::repositories::{leases, Db};
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
    fn give_back(&self, n: i64) {
        self.units.fetch_add(n, Ordering::AcqRel);
        self.sold_out_until.store(0, Ordering::Release);
    }
}

/// Where a seller's blocks come from.
#[derive(Clone)]
pub enum Source {
    /// Leased from the database (a stock owner, or `serve` on its own).
    Database,
    /// Moved to this tenure by the cluster's stock owners (a node).
    Owners(Owners),
}

#[derive(Clone)]
pub struct Stock {
    db: Db,
    block: i64,
    local: Arc<DashMap<i64, Arc<Local>>>,
    tenure: Arc<Tenure>,
    source: Source,
}

impl Stock {
    /// Begins this process's tenure as `name` (see [`tenure_name`]) and keeps it renewed.
    pub async fn start(
        db: Db,
        block: i64,
        name: String,
        source: Source,
    ) -> Result<Self, sqlx::Error> {
        let tenure = Tenure::begin(&db, name, crate::now_ms()).await?;
        let local: Arc<DashMap<i64, Arc<Local>>> = Arc::default();
        let units = local.clone();
        tenure.keep_renewing(db.clone(), move || {
            for l in units.iter() {
                l.units.store(0, Ordering::Release);
            }
        });
        Ok(Stock {
            db,
            block: block.max(1),
            local,
            tenure,
            source,
        })
    }

    /// The tenure this process's units are counted against now.
    pub fn tenure(&self) -> i64 {
        self.tenure.id()
    }

    fn local(&self, product_id: i64) -> Arc<Local> {
        self.local.entry(product_id).or_default().clone()
    }

    /// One unit: `false` when sold out.
    pub async fn take(&self, product_id: i64, now: i64) -> Result<bool, sqlx::Error> {
        Ok(self.take_up_to(product_id, 1, now).await? == 1)
    }

    /// Up to `want` units (at least one unless sold out), as many as memory holds after at most
    /// one refill: a stock owner hands them on as a node's sub-block.
    pub async fn take_up_to(
        &self,
        product_id: i64,
        want: i64,
        now: i64,
    ) -> Result<i64, sqlx::Error> {
        let local = self.local(product_id);
        loop {
            if !self.tenure.may_sell(now) {
                return Err(sqlx::Error::Protocol(
                    "this stock owner could not renew its tenure: it sells nothing until it does"
                        .into(),
                ));
            }
            let took = local
                .units
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                    (u > 0).then(|| u - u.min(want))
                });
            if let Ok(had) = took {
                return Ok(had.min(want));
            }
            if local.sold_out_until.load(Ordering::Acquire) > now {
                return Ok(0);
            }
            // One refill at a time; the others wait and then find the new units.
            let mut last = local.refill.lock().await;
            if local.units.load(Ordering::Acquire) > 0 {
                continue;
            }
            if local.sold_out_until.load(Ordering::Acquire) > now {
                return Ok(0);
            }
            let (last_size, last_at) = *last;
            let want = if now - last_at < FAST_LEASE_MS {
                (last_size * 2).min(self.block * MAX_GROWTH)
            } else {
                self.block
            };
            let granted = self.refill(product_id, &local, want, now).await?;
            *last = (want, now);
            if granted == 0 {
                return Ok(0);
            }
        }
    }

    /// Leases `want` more units into `local` on a task of its own: a caller that stops waiting
    /// (a timeout, a client gone) cannot leave a committed lease out of memory.
    async fn refill(
        &self,
        product_id: i64,
        local: &Arc<Local>,
        want: i64,
        now: i64,
    ) -> Result<i64, sqlx::Error> {
        let (db, owner, local) = (self.db.clone(), self.tenure.id(), local.clone());
        let source = self.source.clone();
        let lease = tokio::spawn(async move {
            let granted = match source {
                Source::Database => leases::lease(&db, owner, product_id, want, now).await?,
                Source::Owners(owners) => owners.lease(product_id, want, owner).await?,
            };
            if granted == 0 {
                let until = now + SOLD_OUT_RECHECK_MS;
                local.sold_out_until.store(until, Ordering::Release);
            } else {
                local.units.fetch_add(granted, Ordering::AcqRel);
            }
            Ok(granted)
        });
        let failed = |e: tokio::task::JoinError| sqlx::Error::Protocol(format!("lease: {e}"));
        in_time(async { lease.await.map_err(failed)? }).await
    }

    /// Sold out, as far as this owner knows: no unit left here, and the database had none to
    /// lease less than `SOLD_OUT_RECHECK_MS` ago.
    pub fn known_sold_out(&self, product_id: i64, now: i64) -> bool {
        self.local.get(&product_id).is_some_and(|l| {
            l.units.load(Ordering::Acquire) == 0 && l.sold_out_until.load(Ordering::Acquire) > now
        })
    }

    /// Returns `n` units taken under tenure `of` (a unit of a lost tenure is no longer this
    /// process's to sell).
    pub fn give_back(&self, product_id: i64, n: i64, of: i64) {
        if of == self.tenure.id() {
            self.local(product_id).give_back(n);
        }
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

    /// Graceful shutdown: hands the unsold leased units back to the database and ends the
    /// tenure.
    pub async fn release_all(&self) -> Result<(), sqlx::Error> {
        let owner = self.tenure.id();
        for (product_id, _) in self.held() {
            let local = self.local(product_id);
            let units = local.units.swap(0, Ordering::AcqRel);
            if units > 0 {
                leases::release(&self.db, owner, product_id, units).await?;
            }
        }
        self.tenure.end(&self.db).await
    }
}
