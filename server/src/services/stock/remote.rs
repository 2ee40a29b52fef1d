//! Quantity control by `stock` processes: a node asks a stock owner for a unit over HTTP. Every
//! owner leases from the same database rows, so any of them can serve any product; a node
//! spreads its users over them and moves on to the next when one does not answer. A lost answer
//! can only strand a unit (undersell, which `reconcile` returns), never sell one twice.

use super::Take;
use crate::services::peers::{PeerError, Peers};
use serde::{Deserialize, Serialize};

pub const TAKE_PATH: &str = "/internal/v1/stock/take";
pub const GIVE_BACK_PATH: &str = "/internal/v1/stock/give_back";

#[derive(Debug, Serialize, Deserialize)]
pub struct UnitRequest {
    pub product_id: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TakeReply {
    pub taken: bool,
}

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

    pub async fn take(&self, product_id: i64, user_id: i64) -> anyhow::Result<Take> {
        let req = UnitRequest { product_id };
        let mut last = None;
        for owner in self.order(user_id) {
            match self
                .owners
                .post::<_, TakeReply>(owner, TAKE_PATH, &req)
                .await
            {
                Ok(r) if r.taken => return Ok(Take::Taken),
                Ok(_) => return Ok(Take::SoldOut),
                Err(e @ PeerError::Unreachable(..)) => {
                    tracing::warn!(error = %e, "stock owner unreachable; trying the next");
                    last = Some(e);
                }
                // Asking another owner now could take a second unit for this one order.
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.map_or_else(|| anyhow::anyhow!("no stock owner configured"), Into::into))
    }

    pub async fn give_back(&self, product_id: i64, user_id: i64) -> anyhow::Result<()> {
        let req = UnitRequest { product_id };
        let mut last = None;
        for owner in self.order(user_id) {
            match self
                .owners
                .post::<_, serde_json::Value>(owner, GIVE_BACK_PATH, &req)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| anyhow::anyhow!("no stock owner configured"), Into::into))
    }
}
