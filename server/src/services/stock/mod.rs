//! Quantity control: take one unit or answer sold out, never oversell. The database holds each
//! product's `stock` and `leased`; an owner leases blocks with a compare-and-set (so several
//! owners together never exceed `stock`) and sells them from memory with atomics. Leases and
//! orders are counted against the owner's tenure, so a crash can only strand the unsold rest of
//! a block — underselling, which `server reconcile` takes back once the tenure is dead.

mod owner;
mod remote;
mod tenure;

pub use owner::Owner;
pub use remote::{Granted, RemoteStock, TakeReply, UnitRequest, GIVE_BACK_PATH, TAKE_PATH};
pub use tenure::{name as tenure_name, Tenure};

use super::guard::{Held, Taken};
use crate::ids::{Millis, ProductId, UserId};
use crate::repositories::db::in_time;
use crate::repositories::{leases, Db};
use dashmap::DashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;
use uuid::Uuid;

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
    tenure: Arc<Tenure>,
}

impl Stock {
    /// Begins this process's tenure as `name` (see [`tenure_name`]) and keeps it renewed.
    pub async fn start(db: Db, block: i64, name: String) -> Result<Self, sqlx::Error> {
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
        })
    }

    /// The tenure this process's units are counted against now.
    pub fn tenure(&self) -> i64 {
        self.tenure.id()
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
        local: &Arc<Local>,
        now: i64,
    ) -> Result<Take, sqlx::Error> {
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
            let granted = self.refill(product_id, local, want, now).await?;
            *last = (want, now);
            if granted == 0 {
                return Ok(Take::SoldOut);
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
        let lease = tokio::spawn(async move {
            let granted = leases::lease(&db, owner, product_id, want, now).await?;
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

    /// Returns a unit taken for an order that could not be queued, under tenure `of` (a unit
    /// of a lost tenure is no longer this process's to sell).
    pub fn give_back(&self, product_id: i64, of: i64) {
        if of == self.tenure.id() {
            self.local(product_id).give_back();
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

/// Where this process gets its units: from its own leases, or from `stock` processes.
#[derive(Clone)]
pub enum StockControl {
    Local(Stock),
    Remote(RemoteStock),
}

/// One unit taken for one order; see [`Held`] for how it goes back.
pub enum Unit {
    /// From this process's leases, under the tenure `tenure`.
    Local {
        stock: Stock,
        product: ProductId,
        tenure: i64,
    },
    /// Given by one stock owner, which alone is asked to take it back.
    Remote {
        owners: RemoteStock,
        owner: usize,
        product: ProductId,
        user: UserId,
        order: Uuid,
        tenure: i64,
    },
    /// The unit of the shopper's earlier order, which may be in the broker already: the
    /// purchase goes out under that order's id, and the unit is never given back.
    Earlier { order: Uuid, tenure: i64 },
}

impl Unit {
    /// The tenure whose lease the unit came from: its order is counted against it.
    pub fn tenure(&self) -> i64 {
        match self {
            Unit::Local { tenure, .. } | Unit::Remote { tenure, .. } => *tenure,
            Unit::Earlier { tenure, .. } => *tenure,
        }
    }

    /// The earlier order this unit belongs to, if it is one's.
    pub fn earlier_order(&self) -> Option<Uuid> {
        match self {
            Unit::Earlier { order, .. } => Some(*order),
            _ => None,
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
            } => stock.give_back(product.0, tenure),
            // `Drop` cannot wait for the network: the give-back runs on its own task.
            Unit::Remote {
                owners,
                owner,
                product,
                user,
                order,
                ..
            } => owners.give_back(owner, product.0, user.0, order),
            // Its order may be stored yet (see `owner.rs`): at worst a unit unsold.
            Unit::Earlier { .. } => {}
        }
    }
}

impl StockControl {
    /// A unit for the user's order, or `None` when sold out.
    pub async fn take(
        &self,
        product: ProductId,
        user: UserId,
        order: Uuid,
        now: Millis,
    ) -> anyhow::Result<Option<Held<Unit>>> {
        let unit = match self {
            StockControl::Local(s) => {
                let tenure = s.tenure();
                match s.take(product.0, now.0).await? {
                    Take::Taken => Unit::Local {
                        stock: s.clone(),
                        product,
                        tenure,
                    },
                    Take::SoldOut => return Ok(None),
                }
            }
            StockControl::Remote(r) => match r.take(product.0, user.0, order).await? {
                Some(Granted {
                    tenure,
                    earlier: Some(order),
                    ..
                }) => Unit::Earlier { order, tenure },
                Some(Granted { owner, tenure, .. }) => Unit::Remote {
                    owners: r.clone(),
                    owner,
                    product,
                    user,
                    order,
                    tenure,
                },
                None => return Ok(None),
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
